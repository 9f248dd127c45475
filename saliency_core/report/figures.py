"""The report's figures: one function per figure, each returning PNG bytes.

Figures are drawn on a bare ``matplotlib.figure.Figure`` with the Agg canvas, so
no pyplot state or global backend is touched; the PNG carries no software or date
stamp, so the same run always gives the same bytes. Colour maps: sequential
(``magma``) for non-negative magnitudes, diverging (``RdBu_r``, centred on 0) for
signed maps. Text is drawn literally (no mathtext), whatever a name contains.
"""

from __future__ import annotations

import io
import re
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import matplotlib
import matplotlib.ticker
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .report_data import CurveCheck, MapExample, RandomizationCheck, ReportData, TimingCell, variant_order
from .precision import precision_rows

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType

__all__ = [
    "ReportFigure",
    "build_figures",
    "compile_memory_figure",
    "curves_figure",
    "randomization_figure",
    "saliency_figure",
    "step_maps_figure",
    "throughput_figure",
    "precision_figure",
]

_STYLE: dict[RcKeyType, Any] = {
    "text.parse_math": False,
    "text.usetex": False,
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "axes.grid": False,
    "figure.dpi": 100,
    "savefig.dpi": 100,
    "image.interpolation": "nearest",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "svg.hashsalt": "saliency-bench",
}
_VARIANT_COLOURS = {"eager": "#1f77b4", "function": "#ff7f0e", "xla": "#2ca02c"}
_OTHER_COLOURS = ("#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f")
_MARKERS = ("o", "s", "^", "D", "v", "P")
_DEVICE_STYLES = ("-", "--", ":", "-.")
_SEQUENTIAL, _DIVERGING = "magma", "RdBu_r"
_CHANCE_COLOUR = "0.45"  # the chance baseline (random ordering)
_CONTROL_COLOURS = ("#8c6d31", "#7b4173", "#637939", "#843c39")  # other model-independent maps
_PRECISION_COLOURS = {"bfloat16": "#d62728", "float16": "#9467bd"}
_VARIANT_MARKERS = {"eager": "o", "function": "s", "xla": "^"}
_CLIP_PERCENTILE = 99.0
_MAX_TICKS = 30
_MAX_STEP_PANELS = 24


@dataclass(frozen=True)
class ReportFigure:
    """One rendered figure: the report ``section`` it belongs to, a file-safe unique
    ``name``, a one-line ``title``, a ``caption`` saying how to read it, and ``png``."""

    section: str
    name: str
    title: str
    caption: str
    png: bytes


def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


def _new_figure(width: float, height: float) -> Figure:
    return Figure(figsize=(width, height), layout="constrained")


def _short(text: str, n: int = 32) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _colour(variant: str, others: dict) -> str:
    if variant in _VARIANT_COLOURS:
        return _VARIANT_COLOURS[variant]
    return others.setdefault(variant, _OTHER_COLOURS[len(others) % len(_OTHER_COLOURS)])


def _grid(n: int, max_cols: int) -> tuple[int, int]:
    cols = min(n, max_cols)
    return -(-n // cols), cols


def throughput_figure(timings: list[TimingCell]) -> bytes:
    """Images/s against batch size, one panel per backbone, one line per variant
    (colour) and device (line style); failed cells are left out."""
    ok = [t for t in timings if t.ok and t.images_per_s is not None]
    models = sorted({t.model for t in ok})
    devices = sorted({t.device for t in ok})
    with matplotlib.rc_context(_STYLE):
        rows, cols = _grid(len(models), 3)
        fig = _new_figure(3.4 * cols + 1.6, 2.8 * rows)
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
                        _DEVICE_STYLES[d % len(_DEVICE_STYLES)],
                        marker=_MARKERS[variant_order(variant)[1] % len(_MARKERS)],
                        color=_colour(variant, others),
                        label=f"{variant} ({device})",
                    )
            sizes = sorted({t.batch_size for t in cells})
            ax.set_xscale("log", base=2)
            ax.set_xticks(sizes, [str(s) for s in sizes])
            ax.minorticks_off()
            ax.set_ylim(bottom=0)
            ax.set_title(_short(model))
            ax.set_xlabel("Batch size (images per call)")
            ax.set_ylabel("Throughput (images/s)")
            ax.grid(True, alpha=0.3)
        for ax in axes[len(models) :]:
            ax.set_visible(False)
        handles = {h.get_label(): h for ax in axes for h in ax.get_lines()}
        fig.legend(list(handles.values()), list(handles), loc="outside right upper", title="Variant (device)")
        return _png(fig)


def _bars(ax, groups: list[str], variants: list[str], value, ylabel: str, others: dict) -> None:
    width = 0.8 / max(len(variants), 1)
    x = np.arange(len(groups))
    for i, variant in enumerate(variants):
        heights = [value(g, variant) for g in groups]
        ax.bar(
            x + (i - (len(variants) - 1) / 2) * width,
            [np.nan if h is None else h for h in heights],
            width,
            color=_colour(variant, others),
            label=variant,
        )
    ax.set_xticks(x, [_short(g, 24) for g in groups], rotation=20, ha="right")
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
    with matplotlib.rc_context(_STYLE):
        panel = min(max(3.3, 0.3 * len(groups) * max(len(variants), 1)), 10.0)
        stacked = panel > 4.5  # many bars: one panel under the other
        rows, cols = (len(panels), 1) if stacked else (1, len(panels))
        fig = _new_figure(panel * cols + 1.2, (3.0 if stacked else 3.2) * rows)
        axes = fig.subplots(rows, cols, squeeze=False).ravel()
        others: dict = {}
        for ax, (attr, ylabel) in zip(axes, panels):
            _bars(ax, groups, variants, peak(attr), ylabel, others)
            ax.set_xlabel("Backbone")
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside right upper", title="Variant")
        return _png(fig)


def _scale(values: np.ndarray) -> tuple[str, float, float]:
    """Colour map and limits: diverging and symmetric if any value is negative, else
    sequential from 0; the limit is the 99th percentile of the magnitude."""
    finite = np.nan_to_num(np.asarray(values, dtype=np.float64))
    top = float(np.percentile(np.abs(finite), _CLIP_PERCENTILE)) or float(np.abs(finite).max())
    top = top or 1.0
    if (finite < 0).any():
        return _DIVERGING, -top, top
    return _SEQUENTIAL, 0.0, top


def _as_rgb(image: np.ndarray) -> np.ndarray:
    """An input image as imshow expects it: uint8 as is, other values clipped to [0, 255]."""
    image = np.asarray(image)
    if image.dtype == np.uint8:
        return image
    return np.clip(np.nan_to_num(image.astype(np.float64)), 0, 255).astype(np.uint8)


def saliency_figure(examples: list[MapExample]) -> bytes:
    """Saliency maps of one model and method in the TF2 recipe's layout: per image a
    row of map, input and overlay (the map at half opacity over the input)."""
    with matplotlib.rc_context(_STYLE):
        fig = _new_figure(8.0, 2.5 * len(examples))
        axes = fig.subplots(len(examples), 3, squeeze=False)
        for row, ex in zip(axes, examples):
            cmap, lo, hi = _scale(ex.map)
            image = _as_rgb(ex.image)
            im = row[0].imshow(ex.map, cmap=cmap, vmin=lo, vmax=hi)
            fig.colorbar(im, ax=row[0], shrink=0.85, label="Saliency (raw, clipped at p99)")
            row[1].imshow(image)
            row[2].imshow(image)
            h, w = image.shape[:2]
            row[2].imshow(
                ex.map, cmap=cmap, vmin=lo, vmax=hi, alpha=0.5, extent=(-0.5, w - 0.5, h - 0.5, -0.5)
            )
            prob = "" if ex.probability is None else f", p = {ex.probability:.2f}"
            row[0].set_title("Map")
            row[1].set_title(f"{_short(ex.image_name, 28)}\n{_short(ex.class_name, 24)}{prob}")
            row[2].set_title("Overlay")
            for ax in row:
                ax.set_xticks([])
                ax.set_yticks([])
        return _png(fig)


def curves_figure(curves: list[CurveCheck]) -> bytes:
    """Deletion, insertion (and other perturbation) curves of one model and data set:
    one panel per metric, the mean score over images per method with its interquartile
    band, the stored AUC in the legend and the random control as a grey dashed line
    (the edge-detector control, when stored, dashed in brown)."""
    metrics = sorted({c.metric for c in curves})
    with matplotlib.rc_context(_STYLE):
        rows, cols = _grid(len(metrics), 2)
        fig = _new_figure(3.9 * cols, 3.2 * rows)
        axes = fig.subplots(rows, cols, squeeze=False).ravel()
        for ax in axes[len(metrics) :]:
            ax.set_visible(False)
        for ax, metric in zip(axes, metrics):
            group = sorted((c for c in curves if c.metric == metric), key=lambda c: (c.control, c.method))
            colours = iter(_OTHER_COLOURS[:1] + tuple(_VARIANT_COLOURS.values()) + _OTHER_COLOURS[1:])
            control_colours = iter(_CONTROL_COLOURS * 4)
            for c in group:
                control = c.control
                colour = _CHANCE_COLOUR if c.chance else next(control_colours) if control else next(colours)
                auc = "" if c.value is None else f", AUC {c.value:.3f}"
                label = f"{_short(c.method, 22)}{' (control)' if control else ''}{auc}"
                ax.plot(
                    c.fractions, c.curves.mean(axis=0), "--" if control else "-", color=colour, label=label
                )
                q1, q3 = np.percentile(c.curves, [25, 75], axis=0)
                ax.fill_between(c.fractions, q1, q3, color=colour, alpha=0.15, linewidth=0)
            better = {"lower": "lower AUC is better", "higher": "higher AUC is better"}.get(
                group[0].direction, ""
            )
            ax.set_title(f"{metric}" + (f" ({better})" if better else ""))
            ax.set_xlabel(group[0].axis)
            ax.set_ylabel("Target-class score (mean, IQR band)")
            ax.set_xlim(0, 1)
            ax.grid(True, alpha=0.3)
            ax.legend(loc="upper right" if group[0].direction == "lower" else "lower right")
        return _png(fig)


def randomization_figure(check: RandomizationCheck) -> bytes:
    """Similarity between the original map and the map after randomising each layer
    in turn (one line per similarity measure), as in Adebayo et al. (2018), Fig. 2."""
    steps = check.similarity.shape[0]
    layers = check.layers if len(check.layers) == steps else [str(i + 1) for i in range(steps)]
    measures = (
        check.measures
        if len(check.measures) == check.similarity.shape[1]
        else [f"measure {i + 1}" for i in range(check.similarity.shape[1])]
    )
    how = {"independent": "independently", "bottom-up": "cascading from the input"}.get(
        check.mode, "cascading from the output"
    )
    with matplotlib.rc_context(_STYLE):
        fig = _new_figure(min(max(5.0, 0.35 * steps + 2.5), 12.0), 3.6)
        ax = fig.subplots()
        for i, measure in enumerate(measures):
            ax.plot(
                np.arange(steps),
                check.similarity[:, i],
                marker=_MARKERS[i % len(_MARKERS)],
                label=_short(measure, 24),
            )
        ax.axhline(0.0, color="0.6", linewidth=0.8)
        every = -(-steps // _MAX_TICKS)
        ticks = np.arange(0, steps, every)
        ax.set_xticks(ticks, [_short(layers[i], 18) for i in ticks], rotation=60, ha="right")
        ax.set_xlabel(f"Randomised layer ({how})")
        ax.set_ylabel("Similarity to the original map")
        ax.set_title(f"{_short(check.method, 28)}: {check.metric}")
        ax.grid(True, alpha=0.3)
        ax.legend(title="Similarity measure", loc="upper right")
        return _png(fig)


def step_maps_figure(check: RandomizationCheck) -> bytes:
    """One image's map for the original model and after each randomisation step (at
    most 24 evenly spaced steps, first and last included), each panel scaled by its own
    99th-percentile magnitude: the structure, not the size, is what should change."""
    maps = np.asarray(check.step_maps, dtype=np.float64)
    names = ["original"] + list(check.layers)
    names += [f"step {i}" for i in range(len(names), maps.shape[0])]
    shown = np.unique(
        np.linspace(0, maps.shape[0] - 1, min(maps.shape[0], _MAX_STEP_PANELS)).round().astype(int)
    )
    signed = bool((maps < 0).any())
    with matplotlib.rc_context(_STYLE):
        rows, cols = _grid(len(shown), 8)
        fig = _new_figure(1.45 * cols + 1.0, 1.7 * rows + 0.3)
        axes = fig.subplots(rows, cols, squeeze=False).ravel()
        im = None
        for ax, i in zip(axes, shown):
            m = np.nan_to_num(maps[i])
            top = float(np.percentile(np.abs(m), _CLIP_PERCENTILE)) or float(np.abs(m).max()) or 1.0
            im = ax.imshow(
                m / top, cmap=_DIVERGING if signed else _SEQUENTIAL, vmin=-1.0 if signed else 0.0, vmax=1.0
            )
            ax.set_title(_short(names[i], 14), fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
        for ax in axes[len(shown) :]:
            ax.set_visible(False)
        assert im is not None  # at least one step is shown
        fig.colorbar(im, ax=axes.tolist(), shrink=0.8, label="Saliency / own p99")
        return _png(fig)


def precision_figure(timings: list[TimingCell]) -> bytes:
    """Speed against fidelity: one point per low-precision cell with a float32 partner,
    x the speed-up over float32 (log scale; right of 1 is faster), y the mean Spearman
    of |map| (left panel; 1 = same ranking) and the mean relative L2 (right panel, log;
    lower is closer). Colour: precision; marker: variant; labels: model and batch."""
    rows = [r for r in precision_rows(timings) if r.speedup is not None]
    with matplotlib.rc_context(_STYLE):
        fig = _new_figure(9.0, 3.6)
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
                colour = _PRECISION_COLOURS.get(r.cell.precision, "0.3")
                ax.scatter(
                    [r.speedup],
                    [value],
                    color=colour,
                    marker=_VARIANT_MARKERS.get(r.cell.variant, "D"),
                    s=36,
                    label=None if key in seen else f"{r.cell.precision}, {r.cell.variant}",
                )
                seen.add(key)
                ax.annotate(
                    _short(f"{r.cell.model} b{r.cell.batch_size}", 22),
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
        return _png(fig)


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
    from .video_figures import video_figures  # it draws in this module's style

    for name, title, caption, png in video_figures(data):
        add("video", _slug(name), title, caption, png)
    return out
