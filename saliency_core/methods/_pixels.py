"""Input checks and per-image scaling shared by the bottom-up (image-only) controls.

Images arrive in the classifier's input space: raw RGB in [0, 255] for registry
models, anything a user model takes otherwise (e.g. [-1, 1]). The bottom-up methods
therefore assume no range: each image is min-max scaled to [0, 1] on its own.
"""

from __future__ import annotations

import numpy as np

__all__ = ["check_images", "resize_linear", "unit_range"]


def check_images(images, method: str) -> np.ndarray:
    """``images`` as float64 (N, H, W, C) with C in (1, 3); ValueError naming ``method``."""
    x = np.asarray(images)
    if x.ndim != 4:
        raise ValueError(f"method {method!r}: images must be (N, H, W, C), got shape {x.shape}")
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
        raise ValueError(f"method {method!r}: images must be numeric, got dtype {x.dtype}")
    n, h, w, c = x.shape
    if n == 0 or h == 0 or w == 0:
        raise ValueError(f"method {method!r}: empty images, shape {x.shape}")
    if c not in (1, 3):
        raise ValueError(f"method {method!r}: needs 1 (grayscale) or 3 (RGB) channels, got {c}")
    x = x.astype(np.float64)
    bad = np.flatnonzero(~np.isfinite(x.reshape(n, -1)).all(axis=1))
    if bad.size:
        raise ValueError(
            f"method {method!r}: image(s) at index {bad.tolist()} contain NaN or infinite values"
        )
    return x


def unit_range(image: np.ndarray) -> np.ndarray:
    """One image min-max scaled to [0, 1] over all its pixels and channels (zeros if flat)."""
    lo, hi = image.min(), image.max()
    if hi <= lo:
        return np.zeros_like(image, dtype=np.float64)
    return (image - lo) / (hi - lo)


def _linear_weights(n_in: int, n_out: int):
    """Source indices and weights of a 1-D linear resize with pixel-centre alignment.

    Output pixel ``j`` samples source coordinate ``(j + 0.5) * n_in / n_out - 0.5``,
    clamped to the first and last pixel (the convention of OpenCV's and scikit-image's
    bilinear resize).
    """
    pos = (np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5
    pos = np.clip(pos, 0.0, n_in - 1)
    lo = np.floor(pos).astype(np.intp)
    hi = np.minimum(lo + 1, n_in - 1)
    return lo, hi, pos - lo


def resize_linear(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of a 2-D array to ``shape`` (no anti-aliasing; separable)."""
    r0, r1, fr = _linear_weights(image.shape[0], shape[0])
    c0, c1, fc = _linear_weights(image.shape[1], shape[1])
    rows = image[r0] * (1 - fr)[:, None] + image[r1] * fr[:, None]
    return rows[:, c0] * (1 - fc) + rows[:, c1] * fc
