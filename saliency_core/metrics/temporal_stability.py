"""Temporal stability: how similar a method's maps of consecutive video frames are,
next to how similar the frames themselves are; higher is better.

Per consecutive pair ``(t, t + 1)`` of the T frames, the Spearman rank correlation
of ``|map_t|`` and ``|map_t+1|`` (:func:`~saliency_core.checks.temporal.temporal_stability`).
The same measure between the frames themselves (their channel means) is the
reference of how much the input changed: a map less stable than its input flickers.

Why Spearman of ``|map|`` and not SSIM as the main measure: gradient maps are
heavy-tailed, and SSIM (on per-map min-max normalised maps) is not invariant to
that. Measured in this project on 20 pairs of 224 x 224 maps: two *independent*
log-normal maps score SSIM 0.08 / 0.33 / 0.88 / 0.98 for log-standard deviations
0.5 / 1 / 2 / 3 (their near-zero regions match), while Spearman stays within 0.002
of 0; and one pixel raised to 10x the maximum drops the SSIM of a map with an
otherwise identical copy to 0.18, where Spearman stays 1. On EfficientNet-Lite0's
gradient maps of the bundled video (log-standard deviation of ``|map|`` 1.0-1.1 per
frame), each map against a pixel-shuffled copy of the next (the same values, no
structure) scores SSIM 0.17 and Spearman 0.000. A rank measure reads the
ordering of the pixels, the thing a saliency map is used for, whatever the tail.
It is also the main measure of the randomization tests here (Adebayo et al. 2018).
SSIM is kept as a statistic; the setting ``measure`` makes it the value.

Caveat: a constant map is perfectly stable (two constant rankings agree); the
chance baseline (an independent random map per frame) scores about 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..checks.temporal import STABILITY_MEASURES, temporal_stability
from .base import Metric, MetricResult, register_metric
from .randomization_support import ADEBAYO
from .temporal_support import series_artifacts, strip_artifacts

_LABELS = {"spearman_abs": "Spearman |map|", "ssim": "SSIM"}


@dataclass(frozen=True)
class StabilitySettings:
    """Settings of temporal stability.

    Attributes:
        measure: The measure the value reads ("spearman_abs" or "ssim").
        strip_frames: Evenly spaced frames whose maps are stored for the report (0: none).
    """

    measure: str = "spearman_abs"
    strip_frames: int = 4


@register_metric
class TemporalStability(Metric):
    name = "temporal-stability"
    category = "temporal"
    direction = "higher"
    needs = frozenset({"maps", "sequence"})
    statistics = ("frames", "ratio", "difference") + tuple(
        f"{p}_{m}" for p in ("maps", "frames") for m in STABILITY_MEASURES
    )
    reference = (
        ADEBAYO + " (the similarity measures); the pairing of each map comparison "
        "with the same comparison of the frames is this project's protocol"
    )
    summary = "similarity of consecutive frames' maps, next to that of the frames"
    label = "Spearman |map|, frames t and t+1"
    settings = StabilitySettings

    def compute(self, ctx, method):
        s = ctx.settings_for(self)
        if s.measure not in STABILITY_MEASURES:
            raise ValueError(
                f"temporal-stability: measure must be one of "
                f"{', '.join(STABILITY_MEASURES)}, got {s.measure!r}"
            )
        maps = ctx.maps(method)
        out = temporal_stability(maps, ctx.images, measures=STABILITY_MEASURES)
        assert out.frames is not None  # the frames were given
        per_pair, reference = out.maps[s.measure], out.frames[s.measure]
        value, frames = float(per_pair.mean()), float(reference.mean())
        statistics = {
            "frames": frames,
            "difference": value - frames,
            "ratio": value / frames if frames > 0 else float("nan"),
        }
        for m in STABILITY_MEASURES:
            statistics[f"maps_{m}"] = float(out.maps[m].mean())
            statistics[f"frames_{m}"] = float(out.frames[m].mean())
        pairs = len(per_pair)
        x = np.arange(pairs) + 0.5
        series = []
        for m in STABILITY_MEASURES:
            series += [
                (f"maps ({_LABELS[m]})", _LABELS[m], False, out.maps[m]),
                (f"frames ({_LABELS[m]})", _LABELS[m], True, out.frames[m]),
            ]
        artifacts, extra = series_artifacts(x, series)
        artifacts.update(strip_artifacts(ctx, maps, s.strip_frames))
        config = {
            "reduce": ctx.settings.curve_reduce,
            "measure": s.measure,
            "measures": list(STABILITY_MEASURES),
            "pairs": pairs,
            "value": f"mean over the {pairs} consecutive frame pairs of {s.measure} "
            "between the maps of frames t and t+1",
            "frames": "the same measure between frames t and t+1 (channel means of the "
            "inputs); ratio = value / frames, difference = value - frames",
            "strip_frames": int(s.strip_frames),
        }
        return MetricResult(
            per_image=per_pair,
            value=value,
            statistics=statistics,
            config=config,
            artifacts=artifacts,
            extra=extra,
        )
