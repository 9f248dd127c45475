"""Scoring the perturbed images of deletion and insertion in low precision, checked.

The forward passes over perturbed images dominate what deletion and insertion cost
(one per image per curve point). With ``CheckSettings.score_precision`` set to
"bfloat16" or "float16", those passes run the network in that mixed precision while
the maps stay in the run's precision (float32 unless told) and the scores, curves and
areas stay float32.

Whether that may stand in for float32 scoring is measured in the same run, never
assumed. Every ``score_check_every``-th image, chosen by a hash of the run seed and the
image's bytes (so the choice does not depend on chunking, sharding or resuming), is
scored in float32 as well. At the end of the run, the paired change of the area
under the curve (low minus float32 over those images) gets a seeded bootstrap 95%
interval; the low-precision result is accepted when the largest change that interval
allows is within the half-width of the AUC's own 95% interval (over all images).
Otherwise, or with fewer than :data:`MIN_CHECKED` checked images, the result carries a
warning, so a gate cannot decide on it (INCONCLUSIVE) and says to rerun with float32
scoring. The judgement is stored in the result's ``config["score_check"]``.
"""

from __future__ import annotations

import numpy as np

from ..seeds import image_seeds
from ..stats.bootstrap import bootstrap_interval

__all__ = ["MIN_CHECKED", "checked_images", "judge_scoring"]

MIN_CHECKED = 2
"""Fewest images scored in both precisions for a judgement (a mean change needs two
to have a spread)."""


def checked_images(seed: int, images: np.ndarray, every: int) -> np.ndarray:
    """(N,) bool: which images are also scored in float32 (about one in ``every``).

    Chosen from the run seed and each image's bytes, not its position, so the same
    image is chosen in any chunk, shard or resumed run.
    """
    if every < 1:
        raise ValueError(f"score_check_every must be >= 1, got {every}")
    return (image_seeds(seed, images) % np.uint64(every)) == 0


def judge_scoring(
    per_image: np.ndarray,
    float32_auc: np.ndarray,
    value_interval: dict | None,
    *,
    precision: str,
    seed: int,
    confidence: float,
    resamples: int,
) -> tuple[dict, str | None]:
    """The judgement of one result scored in low ``precision``: a record and a warning
    (None when the low-precision scores may stand for float32's).

    Args:
        per_image: (N,) per-image areas scored in ``precision``.
        float32_auc: (N,) the same images' areas scored in float32; NaN where an image
            was not checked.
        value_interval: The stored interval of the result's value (``low``, ``high``),
            or None when it could not be computed.
        precision: The scoring precision, for the messages.
        seed, confidence, resamples: Of the bootstrap interval of the change.
    """
    per_image = _floats(per_image)
    reference = _floats(float32_auc)
    checked = np.isfinite(reference) & np.isfinite(per_image)
    change = per_image[checked] - reference[checked]
    record: dict = {
        "precision": precision,
        "checked_images": int(checked.sum()),
        "images": int(len(per_image)),
        "rule": (
            f"accepted when the {confidence:.0%} interval of the mean AUC change "
            "(low precision - float32, images scored in both) lies within the half-width "
            "of the AUC's own interval"
        ),
    }
    if len(change) < MIN_CHECKED:
        record.update(accepted=False)
        return record, (
            f"{precision} scoring unchecked: {len(change)} image(s) were also scored in float32 "
            f"(at least {MIN_CHECKED} needed; lower score_check_every or give more images), "
            "rerun with score precision float32"
        )
    iv = bootstrap_interval(change, confidence=confidence, n_resamples=resamples, seed=seed)
    largest = max(abs(iv.low), abs(iv.high))
    record.update(
        change=float(change.mean()),
        change_low=float(iv.low),
        change_high=float(iv.high),
        largest_change=float(largest),
        max_abs_change=float(np.abs(change).max()),
    )
    if value_interval is None:
        record.update(accepted=False)
        return record, f"{precision} scoring unchecked: the AUC has no interval to compare with"
    half_width = (float(value_interval["high"]) - float(value_interval["low"])) / 2
    accepted = bool(largest <= half_width)
    record.update(auc_half_width=half_width, accepted=accepted)
    if accepted:
        return record, None
    return record, (
        f"{precision} scoring moved the AUC by {change.mean():+.4f} "
        f"[{iv.low:+.4f}, {iv.high:+.4f}] over {len(change)} images, beyond the AUC's "
        f"interval half-width {half_width:.4f}: rerun with score precision float32"
    )


def _floats(values) -> np.ndarray:
    """Floats with NaN for None (a stored NaN reads back as null)."""
    return np.array([np.nan if v is None else float(v) for v in np.ravel(np.asarray(values, object))])
