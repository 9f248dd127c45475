"""The report's figures, in report order (``build_figures``): each a
:class:`ReportFigure` with its section, title, caption and PNG bytes. The figures
themselves are drawn by :mod:`.timing_figures`, :mod:`.check_figures` and
:mod:`.video_figures`, in the style of :mod:`.figure_style`.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING


from .check_figures import curves_figure, randomization_figure, saliency_figure, step_maps_figure
from .precision_section import precision_rows
from .report_data import CurveCheck, MapExample, ReportData
from .timing_figures import compile_memory_figure, precision_figure, throughput_figure

if TYPE_CHECKING:
    pass

__all__ = ["ReportFigure", "build_figures"]


@dataclass(frozen=True)
class ReportFigure:
    """One rendered figure: the report ``section`` it belongs to, a file-safe unique
    ``name``, a one-line ``title``, a ``caption`` saying how to read it, and ``png``."""

    section: str
    name: str
    title: str
    caption: str
    png: bytes


def _slug(*parts: str) -> str:
    text = "-".join(re.sub(r"[^a-z0-9]+", "-", p.lower()).strip("-") for p in parts)
    return text[:60].strip("-") or "figure"


def build_figures(data: ReportData, *, max_images: int = 4) -> list[ReportFigure]:
    """Every figure the run's cells support, in report order; a kind of cell the run
    lacks gives no figure. ``max_images`` caps the example rows per model and method."""
    out: list[ReportFigure] = []

    def add(section, name, title, caption, png):
        out.append(ReportFigure(section, f"{len(out) + 1:02d}-{name}", title, caption, png))

    full = [t for t in data.timings if t.precision == "float32"]
    if any(t.ok and t.images_per_s is not None for t in full):
        add(
            "throughput",
            "throughput",
            "Throughput against batch size",
            "Images per second (median call) for each variant and device, float32; higher is faster.",
            throughput_figure(full),
        )
        add(
            "compile-memory",
            "compile-memory",
            "Compile time and peak memory per backbone",
            "Largest compile time and peak memory over the batch sizes of each variant (float32).",
            compile_memory_figure(full),
        )
    if any(r.speedup is not None for r in precision_rows(data.timings)):
        add(
            "precision",
            "precision",
            "Speed against fidelity of low precisions",
            "Each point a low-precision timing cell: its images/s over float32's on the same "
            "model, device, variant and batch, against how close its maps are to float32's "
            "on the same images.",
            precision_figure(data.timings),
        )
    groups: dict[tuple, list[MapExample]] = defaultdict(list)
    for ex in data.maps:
        groups[(ex.model, ex.method)].append(ex)
    for (model, method), examples in groups.items():
        shown = examples[:max_images]
        add(
            "maps",
            _slug("maps", model, method),
            f"Saliency maps: {model}, {method}",
            f"{len(shown)} of {len(examples)} images; variant {shown[0].variant}, score "
            f"{shown[0].score}, reduce {shown[0].reduce}.",
            saliency_figure(shown),
        )
    curve_groups: dict[tuple, list[CurveCheck]] = defaultdict(list)
    for curve in data.curves:
        curve_groups[(curve.model, curve.data)].append(curve)
    for (model, dataset), curves in sorted(curve_groups.items()):
        add(
            "curves",
            _slug("curves", model, dataset),
            f"Perturbation curves: {model} on {dataset}",
            "Mean over images with the interquartile band; the random map is the control a method must beat.",
            curves_figure(curves),
        )
    for c in data.randomization:
        add(
            "randomization",
            _slug("randomization", c.model, c.method, c.metric),
            f"Randomisation: {c.model}, {c.method}, {c.metric} on {c.data}",
            "A map that depends on the model loses similarity as layers are randomised.",
            randomization_figure(c),
        )
        if c.step_maps is not None:
            add(
                "randomization",
                _slug("step-maps", c.model, c.method, c.metric),
                f"Maps at each randomisation step: {c.model}, {c.method}, {c.metric}",
                "Left: the trained model; then one more layer randomised per panel.",
                step_maps_figure(c),
            )
    from .video_figures import video_figures  # drawn in figure_style's style, as the others

    for name, title, caption, png in video_figures(data):
        add("video", _slug(name), title, caption, png)
    return out
