"""Deletion (Petsiuk et al. 2018, RISE): remove the top-ranked pixels first; the class
probability should fall fast (lower area under the curve is better)."""

from __future__ import annotations

import dataclasses

from ..checks.curves import deletion_curve
from .base import Metric, register_metric
from .curve_support import CURVE_STATISTICS, scored_curve

RISE = (
    "Petsiuk, Das & Saenko, RISE, BMVC 2018 (arXiv:1806.07421), deletion/insertion "
    "metrics; step, substrates and AUC from github.com/eclique/RISE evaluation.py"
)


@register_metric
class Deletion(Metric):
    name = "deletion"
    category = "faithfulness"
    direction = "lower"
    statistics = CURVE_STATISTICS
    image_axes = {"curves": 0}
    reference = RISE
    summary = "class probability as the top-ranked pixels are removed (AUC)"
    label = "deletion AUC"
    axis = "Fraction of pixels removed (most salient first)"
    default = True

    def compute(self, ctx, method):
        config = dataclasses.replace(ctx.settings.deletion, chunk_size=ctx.batch_size)
        return scored_curve(ctx, method, deletion_curve, config, clean_index=0)
