"""ROAD, most relevant first (Rong et al. 2022): deletion with noisy linear imputation."""

from __future__ import annotations

from ..checks.road import road_curve
from .base import Metric, register_metric
from .curve_support import CURVE_STATISTICS, curve_result

ROAD = (
    "Rong et al., A Consistent and Efficient Evaluation Strategy for Attribution Methods, "
    "ICML 2022 (arXiv:2202.00449); imputer settings from github.com/tleemann/road_evaluation"
)


def road_metric_result(ctx, method, order):
    s = ctx.settings
    explained = ctx.explain(method)
    result = road_curve(
        ctx.classifier,
        ctx.images,
        explained.maps,
        order=order,
        fractions=s.road_fractions,
        seed=ctx.seed,
        noise=s.road_noise,
        chunk_size=ctx.batch_size,
        forward=ctx.forward(),
        targets=explained.targets,
    )
    return curve_result(result, reduce=s.curve_reduce, clean_index=0)


@register_metric
class RoadMorf(Metric):
    name = "road-morf"
    category = "faithfulness"
    direction = "lower"
    statistics = CURVE_STATISTICS
    image_axes = {"curves": 0}
    reference = ROAD + ", MoRF order"
    summary = "ROAD: most relevant pixels imputed first (AUC)"
    label = "ROAD MoRF AUC"
    axis = "Fraction of pixels imputed (most salient first)"

    def compute(self, ctx, method):
        return road_metric_result(ctx, method, "most-relevant-first")
