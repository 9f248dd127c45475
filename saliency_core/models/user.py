"""Users' own models: ``.keras``, legacy ``.h5`` and SavedModel directories.

Files are opened in Keras safe mode: a ``Lambda`` layer holds pickled Python code,
and loading it would run that code. Such a model is refused unless the user says
``unsafe=True`` (``--unsafe`` on the command line).
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
    from .vit import custom_objects  # a saved ViT's layers

    return keras.models.load_model(str(path), compile=False, safe_mode=not unsafe,
                                   custom_objects=custom_objects())


def _savedmodel_input_shape(path: Path):
    import tensorflow as tf

    loaded = tf.saved_model.load(str(path))
    sig = loaded.signatures["serving_default"]
    specs = list(sig.structured_input_signature[1].values())
    if len(specs) != 1:
        raise ValueError(f"SavedModel {str(path)!r} has {len(specs)} inputs; need one image input")
    return tuple(specs[0].shape)


def load_user_model(path, *, preprocessing: str | None = None, unsafe: bool = False) -> Classifier:
    """Open a user's model file and wrap it as a :class:`Classifier`.

    A final softmax is bypassed to reach the logits (weights shared, nothing retrained);
    ``classifier.logits_source`` records that.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"model file {str(path)!r} does not exist")
    try:
        model = _load(path, unsafe)
    except ValueError as exc:
        if "lambda" in str(exc).lower() or "safe_mode" in str(exc):
            raise UnsafeModelError(
                f"model file {str(path)!r} contains a Lambda layer (Python code); it was not loaded. "
                "If you trust the file, pass --unsafe (unsafe=True).") from None
        raise ValueError(f"could not load model file {str(path)!r}: {exc}") from None
    except OSError as exc:
        raise ValueError(f"could not read model file {str(path)!r}: {exc}") from None
    clf = as_classifier(model, name=path.name, preprocessing=preprocessing)
    clf.weights = str(path)
    return clf
