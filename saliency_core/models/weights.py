"""Where a backbone's weights come from: ImageNet (Keras cache), a file, or random.

Keras downloads ImageNet weights on first use and caches them under
``~/.keras/models/``. Offline, that download fails; this module turns the failure
into :class:`WeightsUnavailableError`, whose message says how to supply them.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["WeightsUnavailableError", "WeightsSpec", "parse_weights", "keras_cache_dir",
           "IMAGENET_WEIGHTS", "RANDOM_WEIGHTS"]


class WeightsUnavailableError(RuntimeError):
    """Pretrained weights could not be found locally or downloaded."""


def keras_cache_dir() -> Path:
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "models"


IMAGENET_WEIGHTS = "imagenet"
RANDOM_WEIGHTS = "random"
"""``weights=RANDOM_WEIGHTS``: seeded random backbone weights (enough for timing)."""


class WeightsSpec(str):
    """"imagenet", "random", or a path to a weights file (.h5 / .weights.h5 / .keras)."""

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
            "or the path of an existing weights file")
    return WeightsSpec(str(path))


def offline_message(backbone: str, filename_hint: str | None) -> str:
    hint = f" (Keras looks for {filename_hint})" if filename_hint else ""
    return (f"ImageNet weights for {backbone} are not in the Keras cache {keras_cache_dir()}{hint} "
            "and could not be downloaded (no network?). Copy the weights file there, or pass "
            "--weights PATH to a weights file, or --weights random for timing only.")
