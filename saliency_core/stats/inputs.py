"""Checks on the per-image numbers the statistics are computed from.

Every function in :mod:`saliency_core.stats` takes one number per image (a deletion
AUC, a rank correlation, ...). A NaN or an infinity there means a metric failed on
that image; silently dropping it would bias the interval, so it is an error that
names the images.
"""

from __future__ import annotations

import numpy as np

__all__ = ["check_confidence", "per_image_values"]

_SHOWN_INDICES = 10


def per_image_values(values, *, name: str = "values", ndim: int = 1) -> np.ndarray:
    """``values`` as a finite float64 array of ``ndim`` dimensions with at least one image.

    Args:
        values: Array-like, one number per image (``ndim=1``) or a (K, n) stack.
        name: The argument's name, used in error messages.
        ndim: Required number of dimensions.

    Raises:
        ValueError: Wrong shape, no images, or non-finite entries (the message gives
            how many and the first indices).
    """
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != ndim:
        raise ValueError(f"{name} must be a {ndim}-D array of per-image values, got shape {array.shape}")
    if array.shape[-1] == 0:
        raise ValueError(f"{name} is empty: at least one image is needed")
    bad = np.argwhere(~np.isfinite(array))
    if bad.size:
        shown = ", ".join(f"{name}[{', '.join(str(int(i)) for i in row)}]" for row in bad[:_SHOWN_INDICES])
        more = f" and {len(bad) - _SHOWN_INDICES} more" if len(bad) > _SHOWN_INDICES else ""
        raise ValueError(
            f"{name} has {len(bad)} non-finite value(s) (NaN or inf) at "
            f"{shown}{more}; fix or drop those images before computing an interval"
        )
    return array


def check_confidence(confidence: float) -> float:
    """``confidence`` as a float strictly between 0 and 1, else ValueError naming it."""
    confidence = float(confidence)
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be strictly between 0 and 1 (e.g. 0.95), got {confidence}")
    return confidence
