"""Users' own models: ``.keras``, legacy ``.h5`` and SavedModel directories.

Files are opened in Keras safe mode: a ``Lambda`` layer holds pickled Python code,
and loading it would run that code. Such a model is refused unless the user says
``unsafe=True`` (``--unsafe`` on the command line).

A model file carries its own weights. ``weights`` can replace them: "random" draws
seeded random weights from each layer's own initializers (:func:`.init.reinitialize`,
the same draw as the backbones' random weights: the architecture, untrained), and a
path loads a Keras weights file (``.weights.h5``) into the model. "imagenet" is
refused: it names the registry models' pretrained weights, which a file does not
have. A SavedModel directory is a traced graph with no layers to re-initialise or
load into, so it takes its own weights only.
"""

from __future__ import annotations

from pathlib import Path

from .classifier import Classifier, as_classifier

__all__ = ["load_user_model", "UnsafeModelError"]


class UnsafeModelError(ValueError):
    """The model file contains code (a Lambda layer) and ``unsafe`` was not set."""


def _load(path: Path, unsafe: bool):
    import keras

    if path.is_dir():
        if not (path / "saved_model.pb").exists():
            raise ValueError(f"{str(path)!r} is a directory but not a SavedModel (no saved_model.pb)")
        layer = keras.layers.TFSMLayer(str(path), call_endpoint="serving_default")
        spec = _savedmodel_input_shape(path)
        inputs = keras.Input(spec[1:])
        out = layer(inputs)
        if isinstance(out, dict):
            if len(out) != 1:
                raise ValueError(f"SavedModel {str(path)!r} has {len(out)} outputs; need one")
            out = next(iter(out.values()))
        return keras.Model(inputs, out, name=path.name)
    from .vit_layers import custom_objects  # a saved ViT's layers

    return keras.models.load_model(
        str(path), compile=False, safe_mode=not unsafe, custom_objects=custom_objects()
    )


def _savedmodel_input_shape(path: Path):
    import tensorflow as tf

    loaded = tf.saved_model.load(str(path))
    sig = loaded.signatures["serving_default"]
    specs = list(sig.structured_input_signature[1].values())
    if len(specs) != 1:
        raise ValueError(f"SavedModel {str(path)!r} has {len(specs)} inputs; need one image input")
    return tuple(specs[0].shape)


def _check_weights(path: Path, weights: str):
    """The parsed ``weights`` if they can replace this file's, else a clear error."""
    from .weights import parse_weights

    spec = parse_weights(weights)
    if spec.kind == "imagenet":
        raise ValueError(
            f"--weights imagenet applies to registry models; model file {str(path)!r} "
            "carries its own weights (omit --weights, or pass random or a weights file)"
        )
    if path.is_dir():
        raise ValueError(
            f"--weights {weights} cannot be applied to the SavedModel {str(path)!r} "
            "(a traced graph has no layers to load into); omit --weights"
        )
    return spec


def _replace_weights(model, path: Path, spec, seed: int) -> str:
    """Apply ``spec`` ("random" or a weights file) to a loaded model; returns the label."""
    from .weights import load_weights_file

    if spec.kind == "random":
        from .init import RANDOM_WEIGHTS_STREAM, reinitialize

        kept = reinitialize(model, seed, stream=RANDOM_WEIGHTS_STREAM)
        if kept:
            shown = ", ".join(kept[:5]) + (f" and {len(kept) - 5} more" if len(kept) > 5 else "")
            raise ValueError(
                f"--weights random: model file {str(path)!r} has variables with no "
                f"initializer to draw from ({shown}); they would keep the file's values"
            )
        return "random"
    load_weights_file(model, str(spec), f"model file {str(path)!r}")
    return str(spec)


def load_user_model(
    path, *, preprocessing: str | None = None, unsafe: bool = False, weights: str | None = None, seed: int = 0
) -> Classifier:
    """Open a user's model file and wrap it as a :class:`Classifier`.

    A final softmax is bypassed to reach the logits (weights shared, nothing retrained);
    ``classifier.logits_source`` records that. ``weights`` None keeps the file's
    weights; "random" or a weights-file path replaces them (see the module doc);
    ``seed`` seeds "random".
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"model file {str(path)!r} does not exist")
    spec = None if weights is None else _check_weights(path, weights)
    try:
        model = _load(path, unsafe)
    except ValueError as exc:
        if "lambda" in str(exc).lower() or "safe_mode" in str(exc):
            raise UnsafeModelError(
                f"model file {str(path)!r} contains a Lambda layer (Python code); it was not loaded. "
                "If you trust the file, pass --unsafe (unsafe=True)."
            ) from None
        raise ValueError(f"could not load model file {str(path)!r}: {exc}") from None
    except OSError as exc:
        raise ValueError(f"could not read model file {str(path)!r}: {exc}") from None
    label = str(path) if spec is None else _replace_weights(model, path, spec, seed)
    clf = as_classifier(model, name=path.name, preprocessing=preprocessing)
    clf.weights = label
    return clf
