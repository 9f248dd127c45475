"""Cascading model-parameter randomization (Adebayo et al. 2018): re-initialise the
network block by block from the logits down; the map should stop resembling the
trained model's (lower similarity is better).

The value (and the gate's rule) is the similarity at the last step, the fully
randomized model. With ``layerwise=False`` only that step is computed: 2 maps per image
instead of one per block plus one. Every variable's random values depend on the run
seed and its own name only, so the last step's weights, maps and similarities are the
same either way; the ``mean_*`` statistics then average that one step.
"""

from __future__ import annotations

from dataclasses import dataclass

from .base import Metric, register_metric
from .randomization_support import ADEBAYO, MPRT_STATISTICS, mprt_result


@dataclass(frozen=True)
class MprtCascadingSettings:
    """Attributes:
    layerwise: Explain the model after every block's randomization (the curve the
        report plots); False explains only the trained and the fully randomized model
        (the value, at a fraction of the cost: 2 maps per image instead of blocks + 1).
    """

    layerwise: bool = True


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
    settings = MprtCascadingSettings

    def compute(self, ctx, method):
        layerwise = ctx.settings_for(self).layerwise
        return mprt_result(ctx, method, "cascading", final_only=not layerwise)
