"""How many images an inconclusive rule would need: a normal-approximation estimate.

With ``n`` images, the half-width of a two-sided interval of a mean is about
``z * sd / sqrt(n)`` (``z`` the standard normal quantile at ``(1 + confidence) / 2``,
``sd`` the per-image standard deviation). The interval stops straddling the threshold
once its half-width is at most the distance ``|mean - threshold|``, which gives

    n = ceil((z * sd / |mean - threshold|) ** 2)

This is the textbook sample-size formula for estimating a mean to a given margin
(e.g. Cochran, *Sampling Techniques*, 3rd ed., 1977, ch. 4). It is an ESTIMATE: it
assumes the observed mean and standard deviation stay the same on more images, and
it uses the normal approximation rather than the bootstrap. Treat it as an order of
magnitude ("about 200 images, not 20"), not a guarantee.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

from .inputs import check_confidence, per_image_values

__all__ = ["SampleSizeEstimate", "images_needed"]


@dataclass(frozen=True)
class SampleSizeEstimate:
    """Images needed for an interval to clear a threshold, with what it is based on.

    Attributes:
        images: Estimated total number of images (at least 2), or None when no
            number of images would do (see ``reason``).
        n_observed: Images the estimate is based on.
        mean: Observed mean of the per-image values (their units).
        sd: Observed sample standard deviation, ddof=1 (same units).
        threshold: The rule's threshold (same units).
        distance: ``|mean - threshold|``.
        z: Standard normal quantile at ``(1 + confidence) / 2``.
        confidence: Nominal two-sided coverage of the interval.
        reason: Why ``images`` is None; "" otherwise.
    """

    images: int | None
    n_observed: int
    mean: float
    sd: float
    threshold: float
    distance: float
    z: float
    confidence: float
    reason: str = ""


def images_needed(values, threshold: float, *, confidence: float = 0.95) -> SampleSizeEstimate:
    """Estimate the images needed for the interval of the mean to exclude ``threshold``.

    Args:
        values: One finite number per image (scores, or paired differences method
            minus control), shape (n,), n >= 2.
        threshold: The rule's threshold, in the units of ``values``.
        confidence: Nominal two-sided coverage in (0, 1).

    Returns:
        A :class:`SampleSizeEstimate`; ``images`` is ``ceil((z * sd / distance) ** 2)``,
        raised to 2 (one image gives a degenerate interval). ``images`` is None when
        the mean equals the threshold (no effect: no number of images separates
        them), when the values do not vary (a constant sample gives a degenerate
        interval), or with one image (no standard deviation).

    Raises:
        ValueError: Non-finite values or threshold, or a bad confidence.

    Example:
        >>> images_needed([0.1, 0.3, 0.2, 0.4], 0.0).images
        2
    """
    values = per_image_values(values)
    confidence = check_confidence(confidence)
    threshold = float(threshold)
    if not math.isfinite(threshold):
        raise ValueError(f"threshold must be a finite number, got {threshold}")
    z = NormalDist().inv_cdf((1.0 + confidence) / 2.0)
    n = values.size
    mean = float(values.mean())
    sd = float(values.std(ddof=1)) if n > 1 else math.nan
    distance = abs(mean - threshold)
    known = {
        "n_observed": n,
        "mean": mean,
        "sd": sd,
        "threshold": threshold,
        "distance": distance,
        "z": z,
        "confidence": confidence,
    }
    if n < 2:
        return SampleSizeEstimate(
            images=None, reason="one image: no standard deviation to estimate from", **known
        )
    if sd == 0.0:
        return SampleSizeEstimate(
            images=None,
            reason=f"all {n} values are equal (sd = 0): the interval is degenerate and never decides a rule",
            **known,
        )
    if distance == 0.0:
        return SampleSizeEstimate(
            images=None,
            reason=f"the mean equals the threshold "
            f"{threshold:g} (zero effect): no number of images "
            "separates them",
            **known,
        )
    images = max(2, math.ceil((z * sd / distance) ** 2))
    return SampleSizeEstimate(images=images, **known)
