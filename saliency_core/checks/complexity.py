"""Explanation complexity as eMPRT measures it: the entropy of a histogram of map values.

Hedstroem, Weber, Lapuschkin & Hoehne ("Sanity Checks Revisited", arXiv:2401.06465;
"A Fresh Look at Sanity Checks for Saliency Maps", xAI 2024, arXiv:2405.02383) score
a map's complexity as the discrete Shannon entropy of the histogram of its values,
in equal-width bins (100 in their experiments) spanning the map's own range:

    H(e) = -sum_b p_b log p_b,    p_b = (values of e in bin b) / (values of e)

The histogram is of the attribution *values*, not of the pixels' share of the total
attribution (Bhatt et al.'s complexity), so:

* a constant map has every value in one bin: H = 0;
* a map whose values fill the ``B`` bins equally has H = log B, the maximum;
* a one-hot map over ``P`` pixels (one 1, the rest 0) has the binary entropy
  H = -(1/P) log(1/P) - ((P-1)/P) log((P-1)/P), not 0;
* the bins follow each map's own minimum and maximum, so H is unchanged by
  multiplying a map by a positive number (the papers' normalisation) or adding a
  constant; the sign of the values is kept (no absolute value is taken).

Natural logarithm, as ``scipy.stats.entropy``. Pure numpy.
"""

from __future__ import annotations

import numpy as np

__all__ = ["histogram_entropy", "relative_rise"]


def histogram_entropy(maps, bins: int = 100) -> np.ndarray:
    """Discrete entropy (nats) of each map's value histogram, ``bins`` equal-width bins
    from the map's minimum to its maximum.

    Args:
        maps: (N, ...) maps, one per row (any shape per map), or one map of 2 dimensions
            (H, W).
        bins: Number of bins (>= 1).

    Returns:
        (N,) float64 entropies in [0, log(bins)].
    """
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 1:
        raise ValueError(f"bins must be a positive integer, got {bins!r}")
    maps = np.asarray(maps, dtype=np.float64)
    if maps.ndim == 2:
        maps = maps[None]
    if maps.ndim < 2 or maps.shape[0] == 0 or maps[0].size == 0:
        raise ValueError(f"expected maps of shape (N, H, W), got {maps.shape}")
    flat = maps.reshape(len(maps), -1)
    bad = np.flatnonzero(~np.isfinite(flat).all(axis=1))
    if bad.size:
        raise ValueError(f"map(s) at index {bad.tolist()} contain NaN or infinite values")
    out = np.empty(len(flat))
    for i, row in enumerate(flat):
        counts, _ = np.histogram(row, bins=int(bins))
        p = counts[counts > 0] / row.size
        out[i] = float(-(p * np.log(p)).sum()) if p.size > 1 else 0.0
    return out


def relative_rise(before, after) -> np.ndarray:
    """eMPRT's relative rise in complexity, ``(after - before) / before``, per image.

    Two zero complexities (a constant map before and after) are no rise: 0. A zero
    complexity before and a positive one after has no finite relative rise: ValueError
    naming the images.
    """
    before = np.asarray(before, dtype=np.float64)
    after = np.asarray(after, dtype=np.float64)
    if before.shape != after.shape:
        raise ValueError(f"complexities differ in shape: {before.shape} and {after.shape}")
    zero = before == 0
    undefined = np.flatnonzero(zero & (after != 0))
    if undefined.size:
        raise ValueError(
            f"the map of image(s) {undefined.tolist()} is constant (zero entropy) for "
            "the trained model but not after randomization: the relative rise in "
            "complexity is undefined"
        )
    return np.where(zero, 0.0, (after - before) / np.where(zero, 1.0, before))
