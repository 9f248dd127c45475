"""Insertion (Petsiuk et al. 2018, RISE): put the top-ranked pixels back into a blurred
image first; the class probability should rise fast (higher AUC is better)."""

from __future__ import annotations

import dataclasses

from ..checks.curves import insertion_curve
from .base import Metric, register_metric
from .curve_support import CURVE_STATISTICS, scored_curve
from .deletion import RISE


@register_metric
class Insertion(Metric):
    name = "insertion"
    category = "faithfulness"
    direction = "higher"
    statistics = CURVE_STATISTICS
    image_axes = {"curves": 0}
    reference = RISE
    summary = "class probability as the top-ranked pixels are inserted into a blur (AUC)"
    label = "insertion AUC"
    axis = "Fraction of pixels inserted (most salient first)"
    default = True

    def compute(self, ctx, method):
        config = dataclasses.replace(ctx.settings.insertion, chunk_size=ctx.batch_size)
        return scored_curve(ctx, method, insertion_curve, config, clean_index=-1)
