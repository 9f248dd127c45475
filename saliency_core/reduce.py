"""Reduce per-channel attributions (N, H, W, C) to one map per image (N, H, W).

``max_abs`` is Simonyan et al.'s choice (the largest absolute gradient over colour
channels); ``sum`` is what the TF2 saliency recipe's ``normalize_image`` computes
before its min-max scaling.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

__all__ = ["REDUCTIONS", "Reduction", "reduce_channels", "normalize_maps"]

Reduction = Literal["max_abs", "sum_abs", "sum", "l2", "none"]


def _l2(a):
    return np.sqrt(np.sum(np.square(a), axis=-1))


REDUCTIONS = {
    "max_abs": lambda a: np.max(np.abs(a), axis=-1),
    "sum_abs": lambda a: np.sum(np.abs(a), axis=-1),
    "sum": lambda a: np.sum(a, axis=-1),
    "l2": _l2,
    "none": lambda a: a,
}


def reduce_channels(attributions: np.ndarray, reduce: Reduction = "max_abs") -> np.ndarray:
    """(N, H, W, C) -> (N, H, W); ``reduce="none"`` returns the input unchanged."""
    try:
        fn = REDUCTIONS[reduce]
    except KeyError:
        raise ValueError(f"unknown reduce {reduce!r}; choose one of {', '.join(REDUCTIONS)}") from None
    attributions = np.asarray(attributions)
    if attributions.ndim != 4:
        raise ValueError(f"expected attributions of shape (N, H, W, C), got {attributions.shape}")
    return fn(attributions)


def normalize_maps(maps: np.ndarray) -> np.ndarray:
    """Min-max scale each map to [0, 1] independently.

    A constant map (max == min) becomes all zeros rather than NaN.
    """
    maps = np.asarray(maps, dtype=np.float64)
    axes = tuple(range(1, maps.ndim))
    lo = maps.min(axis=axes, keepdims=True)
    span = maps.max(axis=axes, keepdims=True) - lo
    safe = np.where(span > 0, span, 1.0)
    return np.where(span > 0, (maps - lo) / safe, 0.0)
