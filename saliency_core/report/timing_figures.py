"""The timing figures of the report, each returning PNG bytes: throughput against batch
size, compile time and peak memory per backbone, and speed against fidelity of the low
precisions."""

from __future__ import annotations

from typing import TYPE_CHECKING

import matplotlib
import matplotlib.ticker
import numpy as np

from .figure_style import (
    DEVICE_STYLES,
    MARKERS,
    PRECISION_COLOURS,
    STYLE,
    VARIANT_MARKERS,
    grid_shape,
    new_figure,
    png_bytes,
    shorten,
    variant_colour,
)
from .precision_section import precision_rows
from .report_data import TimingCell, variant_order

if TYPE_CHECKING:
    pass

__all__ = ["compile_memory_figure", "throughput_figure", "precision_figure"]


def throughput_figure(timings: list[TimingCell]) -> bytes:
    """Images/s against batch size, one panel per backbone, one line per variant
    (colour) and device (line style); failed cells are left out."""
    ok = [t for t in timings if t.ok and t.images_per_s is not None]
    models = sorted({t.model for t in ok})
    devices = sorted({t.device for t in ok})
    with matplotlib.rc_context(STYLE):
        rows, cols = grid_shape(len(models), 3)
        fig = new_figure(3.4 * cols + 1.6, 2.8 * rows)
        axes = fig.subplots(rows, cols, squeeze=False).ravel()
        others: dict = {}
        for ax, model in zip(axes, models):
            cells = [t for t in ok if t.model == model]
            for variant in sorted({t.variant for t in cells}, key=variant_order):
                for d, device in enumerate(devices):
                    line = sorted(
                        (t.batch_size, t.images_per_s)
                        for t in cells
                        if t.variant == variant and t.device == device
                    )
                    if not line:
                        continue
                    x, y = zip(*line)
                    ax.plot(
                        x,
                        y,
                        DEVICE_STYLES[d % len(DEVICE_STYLES)],
                        marker=MARKERS[variant_order(variant)[1] % len(MARKERS)],
                        color=variant_colour(variant, others),
                        label=f"{variant} ({device})",
                    )
            sizes = sorted({t.batch_size for t in cells})
            ax.set_xscale("log", base=2)
            ax.set_xticks(sizes, [str(s) for s in sizes])
            ax.minorticks_off()
            ax.set_ylim(bottom=0)
            ax.set_title(shorten(model))
            ax.set_xlabel("Batch size (images per call)")
            ax.set_ylabel("Throughput (images/s)")
            ax.grid(True, alpha=0.3)
        for ax in axes[len(models) :]:
            ax.set_visible(False)
        handles = {h.get_label(): h for ax in axes for h in ax.get_lines()}
        fig.legend(list(handles.values()), list(handles), loc="outside right upper", title="Variant (device)")
        return png_bytes(fig)


def _bars(ax, groups: list[str], variants: list[str], value, ylabel: str, others: dict) -> None:
    width = 0.8 / max(len(variants), 1)
    x = np.arange(len(groups))
    for i, variant in enumerate(variants):
        heights = [value(g, variant) for g in groups]
        ax.bar(
            x + (i - (len(variants) - 1) / 2) * width,
            [np.nan if h is None else h for h in heights],
            width,
            color=variant_colour(variant, others),
            label=variant,
        )
    ax.set_xticks(x, [shorten(g, 24) for g in groups], rotation=20, ha="right")
    ax.set_ylabel(ylabel)
    ax.grid(True, axis="y", alpha=0.3)


def compile_memory_figure(timings: list[TimingCell]) -> bytes:
    """Per backbone (and device): compile seconds (the largest over batch sizes) and
    peak resident memory in MiB (the largest over batch sizes), one bar per variant;
    a third panel shows peak device memory when it was measured."""
    ok = [t for t in timings if t.ok]
    label = (lambda t: f"{t.model} ({t.device})") if len({t.device for t in ok}) > 1 else (lambda t: t.model)
    groups = sorted({label(t) for t in ok})
    variants = sorted({t.variant for t in ok}, key=variant_order)

    def peak(attr):
        def value(group, variant):
            vals = [
                getattr(t, attr)
                for t in ok
                if label(t) == group and t.variant == variant and getattr(t, attr) is not None
            ]
            return max(vals) if vals else None

        return value

    panels = [("compile_s", "Compile time (s)"), ("peak_rss_mb", "Peak RSS (MiB)")]
    if any(t.peak_device_mb is not None for t in ok):
        panels.append(("peak_device_mb", "Peak device memory (MiB)"))
    with matplotlib.rc_context(STYLE):
        panel = min(max(3.3, 0.3 * len(groups) * max(len(variants), 1)), 10.0)
        stacked = panel > 4.5  # many bars: one panel under the other
        rows, cols = (len(panels), 1) if stacked else (1, len(panels))
        fig = new_figure(panel * cols + 1.2, (3.0 if stacked else 3.2) * rows)
        axes = fig.subplots(rows, cols, squeeze=False).ravel()
        others: dict = {}
        for ax, (attr, ylabel) in zip(axes, panels):
            _bars(ax, groups, variants, peak(attr), ylabel, others)
            ax.set_xlabel("Backbone")
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside right upper", title="Variant")
        return png_bytes(fig)


def precision_figure(timings: list[TimingCell]) -> bytes:
    """Speed against fidelity: one point per low-precision cell with a float32 partner,
    x the speed-up over float32 (log scale; right of 1 is faster), y the mean Spearman
    of |map| (left panel; 1 = same ranking) and the mean relative L2 (right panel, log;
    lower is closer). Colour: precision; marker: variant; labels: model and batch."""
    rows = [r for r in precision_rows(timings) if r.speedup is not None]
    with matplotlib.rc_context(STYLE):
        fig = new_figure(9.0, 3.6)
        left, right = fig.subplots(1, 2)
        for ax, name, label in (
            (left, "spearman_abs", "Spearman of |map| vs float32 (mean)"),
            (right, "rel_l2", "Relative L2 vs float32 (mean)"),
        ):
            seen = set()
            for r in rows:
                value = r.measure(name)
                if value is None or (name == "rel_l2" and value <= 0):
                    continue
                key = (r.cell.precision, r.cell.variant)
                colour = PRECISION_COLOURS.get(r.cell.precision, "0.3")
                ax.scatter(
                    [r.speedup],
                    [value],
                    color=colour,
                    marker=VARIANT_MARKERS.get(r.cell.variant, "D"),
                    s=36,
                    label=None if key in seen else f"{r.cell.precision}, {r.cell.variant}",
                )
                seen.add(key)
                ax.annotate(
                    shorten(f"{r.cell.model} b{r.cell.batch_size}", 22),
                    (r.speedup, value),
                    textcoords="offset points",
                    xytext=(4, 3),
                    fontsize=7,
                )
            ax.axvline(1.0, color="0.6", linewidth=0.8, linestyle="--")
            ax.set_xscale("log")
            ax.set_xlabel("Speed vs float32 (images/s ratio; > 1 is faster)")
            ax.set_ylabel(label)
            ax.grid(True, alpha=0.3)
            if name == "rel_l2" and ax.has_data():
                ax.set_yscale("log")
        speeds = [r.speedup for r in rows if r.speedup is not None]
        if speeds:
            lo, hi = min(min(speeds), 1.0), max(max(speeds), 1.0)
            for ax in (left, right):
                ax.set_xlim(lo / 1.5, hi * 1.5)
        # plain tick labels (mathtext is off in this style): 0.05, 0.1, 0.2, 0.5, 1, 2 ...
        plain = matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}")
        axes_log = [(left.xaxis, True), (right.xaxis, True), (right.yaxis, right.has_data())]
        for axis, is_log in axes_log:
            if is_log:
                axis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
                axis.set_major_formatter(plain)
                axis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        handles, labels = left.get_legend_handles_labels()
        if handles:
            fig.legend(handles, labels, loc="outside right upper", title="Precision, variant")
        left.set_ylim(top=1.02)
        return png_bytes(fig)
