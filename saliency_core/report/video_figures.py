"""The report's video figures: a strip of frames with each method's map over them, and
the temporal metrics' per-frame values against time. Drawn from stored arrays only
(:mod:`saliency_core.report.video_section`), in the style of :mod:`saliency_core.report.figures`.
"""

from __future__ import annotations

from collections import defaultdict

import matplotlib
import numpy as np

from .figure_style import (
    CHANCE_COLOUR,
    CLIP_PERCENTILE,
    CONTROL_COLOURS,
    DIVERGING,
    OTHER_COLOURS,
    SEQUENTIAL,
    STYLE,
    VARIANT_COLOURS,
    as_rgb,
    new_figure,
    png_bytes,
    shorten,
)
from .report_data import ReportData
from .video_section import VideoSeries, VideoStrip

__all__ = ["video_figures", "video_series_figure", "video_strip_figure"]

_REFERENCE_STYLE = {"color": "0.15", "linestyle": ":", "linewidth": 1.4}


def _row_scale(maps: np.ndarray) -> tuple[str, float, float]:
    """One colour scale for a method's row: its 99th-percentile magnitude, diverging
    when any value is negative."""
    finite = np.nan_to_num(maps)
    top = float(np.percentile(np.abs(finite), CLIP_PERCENTILE)) or float(np.abs(finite).max()) or 1.0
    return (DIVERGING, -top, top) if (finite < 0).any() else (SEQUENTIAL, 0.0, top)


def video_strip_figure(strips: list[VideoStrip]) -> bytes:
    """One row per method: its map at half opacity over each stored frame, one colour
    scale per row (so a map that flickers in size shows it)."""
    cols = max(len(s.index) for s in strips)
    with matplotlib.rc_context(STYLE):
        fig = new_figure(1.9 * cols + 1.2, 2.0 * len(strips) + 0.3)
        axes = fig.subplots(len(strips), cols, squeeze=False)
        for row, strip in zip(axes, strips):
            cmap, lo, hi = _row_scale(strip.maps)
            im = None
            for ax, frame, m, t in zip(row, strip.frames, strip.maps, strip.index):
                image = as_rgb(frame)
                h, w = image.shape[:2]
                ax.imshow(image)
                im = ax.imshow(
                    m, cmap=cmap, vmin=lo, vmax=hi, alpha=0.5, extent=(-0.5, w - 0.5, h - 0.5, -0.5)
                )
                ax.set_title(f"frame {int(t)}", fontsize=8)
            for ax in row:
                ax.set_xticks([])
                ax.set_yticks([])
            for ax in row[len(strip.index) :]:
                ax.set_visible(False)
            row[0].set_ylabel(shorten(strip.method, 18))
            assert im is not None  # a strip stores at least one frame
            fig.colorbar(im, ax=row.tolist(), shrink=0.8, label="Saliency (row p99)")
        return png_bytes(fig)


def _panels(series: list[VideoSeries]) -> list[tuple[str, str]]:
    """(metric, panel) pairs in first-seen order."""
    seen: dict[tuple[str, str], None] = {}
    for s in series:
        for panel in s.panels:
            seen.setdefault((s.metric, panel))
    return list(seen)


def video_series_figure(series: list[VideoSeries]) -> bytes:
    """One panel per (temporal metric, quantity): each method's per-frame values (the
    chance baseline grey, other controls dashed), and the method-independent
    reference (the frames' own similarity, the mask's area fraction) dotted black."""
    panels = _panels(series)
    methods = sorted(
        {s.method for s in series}, key=lambda m: next((s.control, m) for s in series if s.method == m)
    )
    palette = iter(OTHER_COLOURS[:1] + tuple(VARIANT_COLOURS.values()) + OTHER_COLOURS[1:] * 3)
    controls = iter(CONTROL_COLOURS * 4)
    colour = {}
    for m in methods:
        first = next(s for s in series if s.method == m)
        colour[m] = CHANCE_COLOUR if first.chance else next(controls) if first.control else next(palette)
    with matplotlib.rc_context(STYLE):
        cols = min(len(panels), 2)
        rows = -(-len(panels) // cols)
        fig = new_figure(4.4 * cols + 0.4, 2.9 * rows)
        axes = fig.subplots(rows, cols, squeeze=False).ravel()
        for ax in axes[len(panels) :]:
            ax.set_visible(False)
        for ax, (metric, panel) in zip(axes, panels):
            drawn, pairs = set(), False
            for s in sorted((s for s in series if s.metric == metric), key=lambda s: methods.index(s.method)):
                pairs = pairs or bool(np.any(s.x != np.round(s.x)))
                for values, label, where, ref in zip(s.values, s.labels, s.panels, s.reference):
                    if where != panel:
                        continue
                    if ref:
                        if label not in drawn:
                            ax.plot(s.x, values, label=shorten(label, 30), **_REFERENCE_STYLE)
                            drawn.add(label)
                        continue
                    ax.plot(
                        s.x,
                        values,
                        "--" if s.control else "-",
                        marker=".",
                        color=colour[s.method],
                        label=shorten(s.method, 20) + (" (control)" if s.control else ""),
                    )
            ax.set_title(f"{metric}: {shorten(panel, 34)}")
            ax.set_xlabel("Frame (a pair t, t+1 at t + 0.5)" if pairs else "Frame")
            ax.set_ylabel(shorten(panel, 30))
            ax.grid(True, alpha=0.3)
            ax.legend(fontsize=7, loc="best")
        return png_bytes(fig)


def video_figures(data: ReportData) -> list[tuple[str, str, str, bytes]]:
    """(name, title, caption, png) of the video section's figures, per model and data set."""
    out = []
    strips: dict[tuple, list[VideoStrip]] = defaultdict(list)
    for s in data.strips:
        strips[(s.model, s.data)].append(s)
    series: dict[tuple, list[VideoSeries]] = defaultdict(list)
    for v in data.video:
        series[(v.model, v.data)].append(v)
    for model, dataset in sorted(set(strips) | set(series)):
        if strips.get((model, dataset)):
            group = sorted(strips[(model, dataset)], key=lambda s: s.method)
            out.append(
                (
                    f"video-strip-{model}-{dataset}",
                    f"Video frames: {model} on {dataset}",
                    "Evenly spaced frames (first and last included) with each method's map "
                    "over them, one colour scale per row.",
                    video_strip_figure(group),
                )
            )
        if series.get((model, dataset)):
            out.append(
                (
                    f"video-series-{model}-{dataset}",
                    f"Per-frame values: {model} on {dataset}",
                    "Each temporal metric's values frame by frame; the dotted line is what "
                    "does not depend on the method (how similar the frames themselves are, "
                    "or the object's area fraction, the chance level of its mass).",
                    video_series_figure(series[(model, dataset)]),
                )
            )
    return out
