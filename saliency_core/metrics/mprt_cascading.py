"""Cascading model-parameter randomization (Adebayo et al. 2018): re-initialise the
network block by block from the logits down; the map should stop resembling the
trained model's (lower similarity is better)."""

from __future__ import annotations

from .base import Metric, register_metric
from .randomization_support import ADEBAYO, MPRT_STATISTICS, mprt_result


@register_metric
class MprtCascading(Metric):
    name = "mprt-cascading"
    aliases = ("mprt",)
    category = "randomization"
    chance_orderings = False  # a model-independent map is unchanged by any randomization
    direction = "lower"
    needs = frozenset({"model"})
    statistics = MPRT_STATISTICS
    image_axes = {"similarity": -1}
    reference = ADEBAYO + ", cascading randomization"
    summary = "similarity to the trained map after randomizing every layer, top down"
    label = "Spearman |map| (trained vs randomized)"
    default = True

    def compute(self, ctx, method):
        return mprt_result(ctx, method, "cascading")
