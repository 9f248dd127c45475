"""What the curve metrics (deletion, insertion, ROAD) share: the curve's record as a result."""

from __future__ import annotations

import numpy as np

from ..jsonable import jsonable
from .base import MetricResult

__all__ = ["curve_result", "CURVE_STATISTICS"]

CURVE_STATISTICS = ("auc",)


def curve_result(result, *, reduce: str) -> MetricResult:
    """A :class:`~saliency_core.checks.curves.CurveResult` as a metric result: the area
    under the mean curve, per-image areas, and the curves for the report."""
    value = float(result.mean_curve_auc)
    return MetricResult(
        per_image=result.auc,
        value=value,
        statistics={"auc": value},
        config=dict(result.config, reduce=reduce, value="area under the mean curve"),
        extra={"targets": result.targets.tolist(), "counters": jsonable(result.counters)},
        artifacts={
            "fractions": np.asarray(result.fractions, np.float64),
            "curves": np.asarray(result.curves, np.float64),
        },
    )
