"""Relevance mass accuracy (Arras, Osman & Samek 2022): the fraction of absolute
relevance on the object; higher is better. Needs ground-truth object masks."""

from __future__ import annotations

import numpy as np

from ..checks.localisation import relevance_mass
from .base import Metric, MetricResult, register_metric


@register_metric
class RelevanceMass(Metric):
    name = "relevance-mass"
    category = "localisation"
    direction = "higher"
    needs = frozenset({"maps", "masks"})
    statistics = ("mean",)
    reference = (
        "Arras, Osman & Samek, CLEVR-XAI, Information Fusion 81 (2022) "
        "(arXiv:2003.07258), relevance mass accuracy (absolute relevance here)"
    )
    summary = "fraction of |map| mass inside the object mask"
    label = "relevance mass"

    def compute(self, ctx, method):
        values = np.asarray(
            relevance_mass(np.abs(ctx.maps(method)), ctx.require_masks(self.name)), np.float64
        )
        return MetricResult(
            per_image=values,
            per_image_statistics={"mean": values},
            config={
                "reduce": ctx.settings.curve_reduce,
                "map": "absolute value of the reduced map",
                "value": "mean over images",
            },
        )
