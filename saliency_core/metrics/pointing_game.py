"""Pointing game (Zhang et al. 2016): does the absolute map peak on the object?
Fraction of hits; higher is better. Needs ground-truth object masks."""

from __future__ import annotations

import numpy as np

from ..checks.localisation import pointing_game
from .base import Metric, MetricResult, register_metric


@register_metric
class PointingGame(Metric):
    name = "pointing-game"
    category = "localisation"
    direction = "higher"
    needs = frozenset({"maps", "masks"})
    statistics = ("mean",)
    reference = (
        "Zhang et al., Top-down Neural Attention by Excitation Backprop, ECCV 2016 "
        "(arXiv:1608.00507), without the 15-pixel tolerance"
    )
    summary = "fraction of images whose |map| peaks on the object"
    label = "hit rate"

    def compute(self, ctx, method):
        values = pointing_game(np.abs(ctx.maps(method)), ctx.require_masks(self.name))
        values = np.asarray(values, np.float64)
        return MetricResult(
            per_image=values,
            per_image_statistics={"mean": values},
            config={
                "reduce": ctx.settings.curve_reduce,
                "map": "absolute value of the reduced map",
                "value": "mean over images (hit rate)",
            },
        )
