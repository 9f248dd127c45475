"""Where a backbone's weights come from: ImageNet (Keras cache), a file, or random.

Keras downloads ImageNet weights on first use and caches them under
``~/.keras/models/``. Offline, that download fails; this module turns the failure
into :class:`WeightsUnavailableError`, whose message says how to supply them.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = [
    "WeightsUnavailableError",
    "WeightsSpec",
    "parse_weights",
    "keras_cache_dir",
    "IMAGENET_WEIGHTS",
    "RANDOM_WEIGHTS",
    "load_weights_file",
    "one_line",
]


class WeightsUnavailableError(RuntimeError):
    """Pretrained weights could not be found locally or downloaded."""


def keras_cache_dir() -> Path:
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "models"


IMAGENET_WEIGHTS = "imagenet"
RANDOM_WEIGHTS = "random"
"""``weights=RANDOM_WEIGHTS``: seeded random backbone weights (enough for timing)."""


class WeightsSpec(str):
    """ "imagenet", "random", or a path to a weights file (.h5 / .weights.h5 / .keras)."""

    @property
    def kind(self) -> str:
        return self if self in ("imagenet", "random") else "file"


def parse_weights(weights: str) -> WeightsSpec:
    if weights in ("imagenet", "random"):
        return WeightsSpec(weights)
    path = Path(weights).expanduser()
    if not path.is_file():
        raise WeightsUnavailableError(
            f"weights file {str(path)!r} does not exist; pass --weights imagenet, random, "
            "or the path of an existing weights file"
        )
    return WeightsSpec(str(path))


def offline_message(backbone: str, filename_hint: str | None) -> str:
    hint = f" (Keras looks for {filename_hint})" if filename_hint else ""
    return (
        f"ImageNet weights for {backbone} are not in the Keras cache {keras_cache_dir()}{hint} "
        "and could not be downloaded (no network?). Copy the weights file there, or pass "
        "--weights PATH to a weights file, or --weights random for timing only."
    )


def one_line(exc: BaseException | str, limit: int = 400) -> str:
    """An exception's message on one line (whitespace collapsed), cut at ``limit`` characters."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


# Keras warns, and leaves layers at their initial values, when a weights file lacks them.
_PARTIAL_LOAD = ("retain their freshly-initialized weights",)


def load_weights_file(model, path: str, target: str) -> None:
    """``model.load_weights(path)``; a failure, or Keras' warning that some layers were
    left unloaded, becomes a one-line :class:`WeightsUnavailableError` naming the file
    and ``target`` (the model, for the message). Other warnings pass through."""
    import warnings

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model.load_weights(path)
    except Exception as exc:  # Keras raises ValueError, OSError, KeyError, ... for a foreign file
        raise WeightsUnavailableError(
            f"could not load weights file {path!r} into {target}: {one_line(exc)}"
        ) from None
    partial = [w for w in caught if any(p in str(w.message) for p in _PARTIAL_LOAD)]
    if partial:
        raise WeightsUnavailableError(
            f"weights file {path!r} does not cover every layer of {target}: {one_line(partial[0].message)}"
        )
    for w in caught:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
