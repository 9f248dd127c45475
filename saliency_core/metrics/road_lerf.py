"""ROAD, least relevant first (Rong et al. 2022): the score should stay high (higher is better)."""

from __future__ import annotations

from .base import Metric, register_metric
from .curve_support import CURVE_STATISTICS
from .road_morf import ROAD, road_metric_result


@register_metric
class RoadLerf(Metric):
    name = "road-lerf"
    category = "faithfulness"
    direction = "higher"
    statistics = CURVE_STATISTICS
    image_axes = {"curves": 0}
    reference = ROAD + ", LeRF order"
    summary = "ROAD: least relevant pixels imputed first (AUC)"
    label = "ROAD LeRF AUC"
    axis = "Fraction of pixels imputed (least salient first)"

    def compute(self, ctx, method):
        return road_metric_result(ctx, method, "least-relevant-first")
