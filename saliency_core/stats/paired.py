"""Paired bootstrap interval of a per-image difference (method minus control).

When a method and a control are scored on the same images, most of the variation
between images is shared (a hard image is hard for both). Resampling the per-image
differences ``a_i - b_i`` keeps each image's two scores together, so that shared part
cancels and the interval of the difference is much narrower than one that resamples
the two lists independently.

A random control (e.g. a random deletion ordering) can be run K times, each with
its own seed. Pass its scores as a (K, n) array: each image's control value is the
mean over the K orderings, and :class:`ControlSpread` reports how much the control's
statistic moves from one ordering to the next.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .bootstrap import MIN_RESAMPLES, CiMethod, Interval, Statistic, bootstrap_interval
from .inputs import per_image_values

__all__ = ["ControlSpread", "PairedInterval", "paired_difference_interval"]


@dataclass(frozen=True)
class ControlSpread:
    """Spread of a random control's statistic over K orderings (seeds).

    Attributes:
        k: Number of orderings.
        mean: Mean over orderings of each ordering's statistic over images.
        std: Sample standard deviation (ddof=1) of those K statistics.
        low: Smallest of the K statistics.
        high: Largest of the K statistics.
    """

    k: int
    mean: float
    std: float
    low: float
    high: float


@dataclass(frozen=True)
class PairedInterval(Interval):
    """An :class:`Interval` of ``statistic(a - b)`` over images, from paired resampling.

    Attributes:
        control_spread: Spread of the control over its K orderings when ``b`` was
            given as (K, n); None for a single control.
    """

    control_spread: ControlSpread | None = None


def paired_difference_interval(
    a,
    b,
    *,
    confidence: float = 0.95,
    n_resamples: int = MIN_RESAMPLES,
    method: CiMethod = "bca",
    seed: int,
    statistic: Statistic = np.mean,
) -> PairedInterval:
    """Bootstrap interval of ``statistic(a - b)`` with images resampled in pairs.

    Args:
        a: Method scores, one finite number per image, shape (n,).
        b: Control scores on the same images in the same order: shape (n,), or
            (K, n) for K orderings of a random control (K >= 2), each from its own
            seed; the per-image control value is then the mean over the K rows.
        confidence: Nominal two-sided coverage in (0, 1).
        n_resamples: Bootstrap resamples, at least :data:`MIN_RESAMPLES`.
        method: ``"bca"`` or ``"percentile"``, as in :func:`bootstrap_interval`.
        seed: Seed for ``np.random.default_rng``.
        statistic: Reduction called as ``statistic(x, axis=-1)``; it is applied to the
            per-image differences (for the mean, the difference of the means).

    Returns:
        A :class:`PairedInterval` in the units of ``a`` and ``b``. Resampling the
        differences with one index array is the same as resampling ``a`` and ``b``
        with the same image indices. The ordering-to-ordering noise of the control
        is part of each image's difference, so the interval already includes it;
        ``control_spread`` shows its size separately.

    Raises:
        ValueError: Shapes that do not pair up, non-finite values (naming ``a`` or
            ``b`` and the indices), and the errors of :func:`bootstrap_interval`.
    """
    a = per_image_values(a, name="a")
    b_array = np.asarray(b, dtype=np.float64)
    spread = None
    if b_array.ndim == 2:
        b_array = per_image_values(b_array, name="b", ndim=2)
        if b_array.shape[0] < 2:
            raise ValueError(
                f"b has shape {b_array.shape}: give one control as a 1-D array "
                "or K >= 2 orderings as a (K, n) array"
            )
        per_ordering = np.asarray(statistic(b_array, axis=-1), dtype=np.float64)
        spread = ControlSpread(
            k=b_array.shape[0],
            mean=float(per_ordering.mean()),
            std=float(per_ordering.std(ddof=1)),
            low=float(per_ordering.min()),
            high=float(per_ordering.max()),
        )
        b_array = b_array.mean(axis=0)
    else:
        b_array = per_image_values(b_array, name="b")
    if b_array.shape != a.shape:
        raise ValueError(
            f"a and b must score the same images: a has {a.size} images, "
            f"b has {b_array.size} (b may be (n,) or (K, n))"
        )
    interval = bootstrap_interval(
        a - b_array,
        confidence=confidence,
        n_resamples=n_resamples,
        method=method,
        seed=seed,
        statistic=statistic,
    )
    return PairedInterval(**asdict(interval), control_spread=spread)
