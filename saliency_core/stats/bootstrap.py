"""Bootstrap confidence intervals over images.

The unit of resampling is the image: ``values`` holds one number per image (for
example each image's deletion AUC), and a bootstrap resample draws ``n`` images with
replacement. The interval therefore says how much the statistic would move if the
benchmark were run on another set of images from the same source.

Two methods (Efron & Tibshirani, *An Introduction to the Bootstrap*, 1993):

* ``"bca"`` (the default): bias-corrected and accelerated percentile interval, ch. 14.3.
  The bias correction ``z0`` is the normal quantile of the fraction of bootstrap
  statistics below the estimate (ties count one half, which equals the book's
  definition when there are no ties); the acceleration ``a`` comes from the jackknife
  of the statistic. BCa is second-order accurate and transformation-respecting (ch. 14):
  it corrects the percentile interval for bias and skewness of the bootstrap
  distribution, which per-image scores bounded in [0, 1] often have.
* ``"percentile"``: the ``(1 - confidence) / 2`` and ``(1 + confidence) / 2`` quantiles
  of the bootstrap statistics, ch. 13.

Quantiles of the bootstrap statistics are taken with linear interpolation
(``np.quantile``'s default).

Randomness comes only from ``np.random.default_rng(seed)``; the same seed gives the
same interval on any machine.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist
from collections.abc import Callable
from typing import Literal

import numpy as np

from .inputs import check_confidence, per_image_values

__all__ = ["CI_METHODS", "MIN_RESAMPLES", "CiMethod", "Interval", "Statistic", "bootstrap_interval"]

CiMethod = Literal["bca", "percentile"]
CI_METHODS: tuple[CiMethod, ...] = ("bca", "percentile")
MIN_RESAMPLES = 2000
"""Fewest resamples accepted. Interval ends are tail quantiles of the bootstrap
distribution and need far more resamples than a standard error; Efron & Tibshirani
(1993) advise at least about 1,000 for percentile-based intervals."""

Statistic = Callable[..., np.ndarray]
"""A reduction called as ``statistic(x, axis=-1)`` that reduces the last axis, e.g.
``np.mean`` or ``np.median``."""

_BLOCK_ELEMENTS = 1 << 22  # about 32 MiB of int64 indices per block of resamples


@dataclass(frozen=True)
class Interval:
    """A two-sided bootstrap confidence interval for a per-image statistic.

    Attributes:
        estimate: The statistic on all images, in the units of the values.
        low: Lower end of the interval (same units).
        high: Upper end of the interval (same units).
        confidence: Nominal coverage, e.g. 0.95.
        method: The method that produced ``low`` and ``high``. It is ``"percentile"``
            when BCa was asked for but is undefined on these data (see ``note``).
        n_resamples: Bootstrap resamples drawn; 0 when nothing was resampled
            (a degenerate input).
        n: Number of images.
        seed: Seed of ``np.random.default_rng`` used for the resamples.
        degenerate: True when the interval collapsed to a point (one image, all
            values equal, or all bootstrap statistics equal). A gate must not pass
            on it: it says nothing about the spread over images.
        note: Why the interval is degenerate or why the method changed; "" otherwise.
    """

    estimate: float
    low: float
    high: float
    confidence: float
    method: CiMethod
    n_resamples: int
    n: int
    seed: int
    degenerate: bool = False
    note: str = ""

    @property
    def width(self) -> float:
        """``high - low``, in the units of the values."""
        return self.high - self.low


def bootstrap_interval(
    values,
    *,
    confidence: float = 0.95,
    n_resamples: int = MIN_RESAMPLES,
    method: CiMethod = "bca",
    seed: int,
    statistic: Statistic = np.mean,
) -> Interval:
    """Bootstrap confidence interval of ``statistic`` over images.

    Args:
        values: One finite number per image, shape (n,).
        confidence: Nominal two-sided coverage in (0, 1).
        n_resamples: Bootstrap resamples B, at least :data:`MIN_RESAMPLES`.
        method: ``"bca"`` (Efron & Tibshirani 1993, ch. 14) or ``"percentile"`` (ch. 13).
        seed: Seed for ``np.random.default_rng``; required, so runs are reproducible.
        statistic: Reduction called as ``statistic(x, axis=-1)``; it must be
            vectorised over the leading axes (``np.mean``, ``np.median``, ...).

    Returns:
        The :class:`Interval`, in the units of ``values``. With one image, all values
        equal, or all bootstrap statistics equal, it is the point
        ``low == high == estimate`` with ``degenerate=True`` and the cause in ``note``.

    Raises:
        ValueError: Non-finite values (the message names how many and which
            images), no values, too few resamples, a bad confidence or method.

    Example:
        >>> iv = bootstrap_interval([0.1, 0.4, 0.3, 0.2], seed=0)
        >>> iv.low <= iv.estimate <= iv.high
        True
    """
    values = per_image_values(values)
    confidence = check_confidence(confidence)
    if method not in CI_METHODS:
        raise ValueError(f"method must be one of {CI_METHODS}, got {method!r}")
    n_resamples = int(n_resamples)
    if n_resamples < MIN_RESAMPLES:
        raise ValueError(
            f"n_resamples must be at least {MIN_RESAMPLES} for interval ends "
            f"(tail quantiles need many resamples), got {n_resamples}"
        )
    n = values.size
    estimate = _scalar(statistic(values, axis=-1), "the statistic on all values")
    common = {"estimate": estimate, "confidence": confidence, "n": n, "seed": int(seed)}
    if n == 1 or np.all(values == values[0]):
        why = "one image" if n == 1 else f"all {n} values equal {values[0]:g}"
        return Interval(
            low=estimate,
            high=estimate,
            method=method,
            n_resamples=0,
            degenerate=True,
            note=f"{why}: no spread over images to resample",
            **common,
        )

    replicates = _replicates(values, statistic, n_resamples, np.random.default_rng(seed))
    common["n_resamples"] = n_resamples
    if np.all(replicates == replicates[0]):
        return Interval(
            low=estimate,
            high=estimate,
            method=method,
            degenerate=True,
            note="all bootstrap statistics are equal: no spread to form an interval",
            **common,
        )

    alpha = (1.0 - confidence) / 2.0
    levels, note = (alpha, 1.0 - alpha), ""
    if method == "bca":
        bca_levels = _bca_levels(values, statistic, estimate, replicates, alpha)
        if isinstance(bca_levels, str):
            method, note = "percentile", f"BCa undefined ({bca_levels}); percentile interval used"
        else:
            levels = bca_levels
    low, high = np.quantile(replicates, levels)
    return Interval(low=float(low), high=float(high), method=method, note=note, **common)


def _scalar(value, what: str) -> float:
    array = np.asarray(value, dtype=np.float64)
    if array.shape != () or not np.isfinite(array):
        raise ValueError(
            f"{what} must be one finite number, got {value!r}; the statistic "
            "must reduce the last axis (called as statistic(x, axis=-1))"
        )
    return float(array)


def _replicates(
    values: np.ndarray, statistic: Statistic, n_resamples: int, rng: np.random.Generator
) -> np.ndarray:
    """``statistic`` on B resamples of the images, drawn as (block, n) index arrays."""
    n = values.size
    rows = max(1, _BLOCK_ELEMENTS // n)
    out = np.empty(n_resamples)
    for start in range(0, n_resamples, rows):
        stop = min(start + rows, n_resamples)
        indices = rng.integers(0, n, size=(stop - start, n))
        out[start:stop] = statistic(values[indices], axis=-1)
    if not np.all(np.isfinite(out)):
        raise ValueError("the statistic returned non-finite values on bootstrap resamples")
    return out


def _jackknife(values: np.ndarray, statistic: Statistic) -> np.ndarray:
    """``statistic`` with each image left out in turn, (n,); built in (block, n-1) arrays."""
    n = values.size
    keep = np.arange(n - 1)
    rows = max(1, _BLOCK_ELEMENTS // n)
    out = np.empty(n)
    for start in range(0, n, rows):
        left_out = np.arange(start, min(start + rows, n))[:, None]
        indices = keep[None, :] + (keep[None, :] >= left_out)  # row i skips image i
        out[start : start + len(left_out)] = statistic(values[indices], axis=-1)
    return out


def _bca_levels(
    values: np.ndarray, statistic: Statistic, estimate: float, replicates: np.ndarray, alpha: float
) -> tuple[float, float] | str:
    """BCa quantile levels (alpha1, alpha2) of Efron & Tibshirani (1993, ch. 14.3),
    or the reason they are undefined."""
    below = (
        np.count_nonzero(replicates < estimate) + 0.5 * np.count_nonzero(replicates == estimate)
    ) / replicates.size
    if not 0.0 < below < 1.0:
        return f"the estimate lies outside all {replicates.size} bootstrap statistics"
    normal = NormalDist()
    z0 = normal.inv_cdf(below)  # bias correction

    jack = _jackknife(values, statistic)
    spread = jack.mean() - jack
    squares = float(np.sum(spread**2))
    accel = float(np.sum(spread**3)) / (6.0 * squares**1.5) if squares > 0 else 0.0

    levels = []
    for z_alpha in (normal.inv_cdf(alpha), normal.inv_cdf(1.0 - alpha)):
        denominator = 1.0 - accel * (z0 + z_alpha)
        if denominator <= 0:
            return f"acceleration {accel:.3g} too large for this confidence"
        levels.append(normal.cdf(z0 + (z0 + z_alpha) / denominator))
    return levels[0], levels[1]
