"""Motion agreement: per video frame, how well a method's map agrees with where the
video moves; higher is better.

The motion reference is the registered method that declares ``motion_reference =
True`` (the optical-flow control), found through the method registry
(:func:`~saliency_core.methods.base.flagged_method`), never by name: the metric
states the role it needs, and a plug-in that brings another motion reference
replaces it by declaring the flag (two declaring it is an error, not a silent
pick). Its maps come from the same shared cache as every other method's.

Per frame: the Spearman rank correlation of ``|map|`` with the motion map (the
value; 1 for the motion reference itself, about 0 for an independent random map).
With the moving object's masks (the bundled video has them), also the fraction
of ``|map|`` mass inside the mask and its chance level, the mask's area fraction
(:func:`~saliency_core.checks.temporal.motion_agreement`); without masks those
statistics are NaN and the config says why.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..checks.temporal import motion_agreement
from ..methods.base import flagged_method
from .base import Metric, MetricResult, register_metric
from .temporal_support import series_artifacts, strip_artifacts

_ROLE = "motion_reference"


@dataclass(frozen=True)
class MotionAgreementSettings:
    """Settings of motion agreement.

    Attributes:
        strip_frames: Evenly spaced frames whose maps are stored for the report (0: none).
    """

    strip_frames: int = 4


@register_metric
class MotionAgreement(Metric):
    name = "motion-agreement"
    category = "temporal"
    direction = "higher"
    needs = frozenset({"maps", "sequence"})
    statistics = ("mask_mass", "chance", "mass_ratio", "mass_excess")
    reference = (
        "Farneback, SCIA 2003 (the optical-flow reference); relevance mass as in "
        "Arras, Osman & Samek, Information Fusion 81 (2022); per-frame protocol "
        "this project's"
    )
    summary = "per-frame Spearman |map| with the motion map; |map| mass in the moving object"
    label = "Spearman |map| vs motion"
    settings = MotionAgreementSettings

    def compute(self, ctx, method):
        s = ctx.settings_for(self)
        reference = flagged_method(_ROLE)
        maps = ctx.maps(method)
        out = motion_agreement(maps, ctx.maps(reference), ctx.masks)
        frames = np.arange(len(maps), dtype=np.float64)
        series = [("Spearman |map| vs motion", "Spearman |map| vs motion", False, out.spearman)]
        config = {
            "reduce": ctx.settings.curve_reduce,
            "motion_reference": reference,
            "value": f"mean over the {len(maps)} frames of Spearman |map| with the "
            f"{reference} map of the same frame",
        }
        if out.mask_mass is None:
            nan = float("nan")
            statistics = dict.fromkeys(self.statistics, nan)
            config["masks"] = "none given: mask statistics are NaN"
        else:
            assert out.chance is not None  # measured with mask_mass
            mass, chance = float(out.mask_mass.mean()), float(out.chance.mean())
            statistics = {
                "mask_mass": mass,
                "chance": chance,
                "mass_ratio": mass / chance if chance > 0 else float("nan"),
                "mass_excess": float((out.mask_mass - out.chance).mean()),
            }
            config["masks"] = (
                "mask_mass: fraction of |map| inside the moving object's mask, "
                "mean over frames; chance: the mask's area fraction; mass_ratio "
                "= mask_mass / chance"
            )
            series += [
                ("|map| mass in the object mask", "Mass in the moving object", False, out.mask_mass),
                ("chance (mask area fraction)", "Mass in the moving object", True, out.chance),
            ]
        artifacts, extra = series_artifacts(frames, series)
        artifacts.update(strip_artifacts(ctx, maps, s.strip_frames))
        extra["motion_reference"] = reference
        return MetricResult(
            per_image=out.spearman, statistics=statistics, config=config, artifacts=artifacts, extra=extra
        )
