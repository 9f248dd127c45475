"""Independent model-parameter randomization (Adebayo et al. 2018): re-initialise one
block at a time (the others trained); lower similarity is better."""

from __future__ import annotations

from .base import Metric, register_metric
from .randomization_support import ADEBAYO, MPRT_STATISTICS, mprt_result


@register_metric
class MprtIndependent(Metric):
    name = "mprt-independent"
    category = "randomization"
    chance_orderings = False  # a model-independent map is unchanged by any randomization
    direction = "lower"
    needs = frozenset({"model"})
    statistics = MPRT_STATISTICS
    image_axes = {"similarity": -1}
    reference = ADEBAYO + ", independent randomization"
    summary = "similarity to the trained map, one block randomized at a time (mean)"
    label = "Spearman |map| (trained vs randomized)"

    def compute(self, ctx, method):
        return mprt_result(ctx, method, "independent")
