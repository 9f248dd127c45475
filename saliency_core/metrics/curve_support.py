"""What the curve metrics (deletion, insertion, ROAD) share: the curve's record as a result."""

from __future__ import annotations

import numpy as np

from ..jsonable import jsonable
from .base import MetricResult

__all__ = ["curve_result", "scored_curve", "CURVE_STATISTICS"]

CURVE_STATISTICS = ("auc",)


CLEAN_SCORE_FLOOR = 1e-3
"""An image whose explained class already scores below this on the clean image cannot
show a faithful ranking: no pixel order can lower its score further."""


def curve_result(result, *, reduce: str, clean_index: int) -> MetricResult:
    """A :class:`~saliency_core.checks.curve_scoring.CurveResult` as a metric result: the area
    under the mean curve, per-image areas, and the curves for the report.

    ``clean_index`` is the curve point at the clean image (0 for deletion, -1 for
    insertion); when more than half of the images score the explained class below
    :data:`CLEAN_SCORE_FLOOR` there, the result carries a warning.
    """
    value = float(result.mean_curve_auc)
    clean = np.asarray(result.curves, np.float64)[:, clean_index]
    low = int((clean < CLEAN_SCORE_FLOOR).sum())
    warnings = (
        [f"the explained class scores below {CLEAN_SCORE_FLOOR:g} on {low} of {len(clean)} clean images"]
        if result.config.get("score") == "probability" and low * 2 > len(clean)
        else []
    )
    return MetricResult(
        per_image=result.auc,
        value=value,
        per_image_statistics={"auc": result.auc},
        warnings=warnings,
        config=dict(result.config, reduce=reduce, value="area under the mean curve"),
        extra={"targets": result.targets.tolist(), "counters": jsonable(result.counters)},
        artifacts={
            "fractions": np.asarray(result.fractions, np.float64),
            "curves": np.asarray(result.curves, np.float64),
        },
    )


def scored_curve(ctx, method: str, curve, config, *, clean_index: int) -> MetricResult:
    """``curve`` (deletion_curve or insertion_curve) of ``method``'s maps, its perturbed
    images scored in the run's scoring precision, as a metric result.

    With a low scoring precision other than the maps' own, the images that
    :func:`~saliency_core.checks.score_precision.checked_images` picks are scored in
    float32 too: their areas go to ``extra["score_check"]["float32_auc"]`` (NaN for the
    others), which the end of the run judges.
    """
    explained = ctx.explain(method)
    run = dict(forward=ctx.scoring_forward(), config=config, targets=explained.targets)
    result = curve(ctx.classifier, ctx.images, explained.maps, **run)
    out = curve_result(result, reduce=ctx.settings.curve_reduce, clean_index=clean_index)
    if ctx.score_precision in ("float32", ctx.precision):  # nothing to check it against
        return out
    from ..checks.score_precision import checked_images

    out.config["score_precision"] = ctx.score_precision
    reference = np.full(len(ctx.images), np.nan)
    chosen = checked_images(ctx.seed, ctx.images, ctx.settings.score_check_every)
    if chosen.any():
        index = np.flatnonzero(chosen)
        float32 = curve(
            ctx.classifier,
            ctx.images[index],
            explained.maps[index],
            forward=ctx.scoring_forward("float32"),
            config=config,
            targets=np.asarray(result.targets)[index],
        )
        reference[index] = float32.auc
    out.extra["score_check"] = {"float32_auc": reference}
    return out
