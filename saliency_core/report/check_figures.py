"""The sanity-check figures of the report, each returning PNG bytes: example saliency
maps, perturbation curves, randomization similarity and the maps at each randomization
step."""

from __future__ import annotations

from typing import TYPE_CHECKING

import matplotlib
import matplotlib.ticker
import numpy as np

from .figure_style import (
    CHANCE_COLOUR,
    CLIP_PERCENTILE,
    CONTROL_COLOURS,
    DIVERGING,
    MARKERS,
    MAX_STEP_PANELS,
    MAX_TICKS,
    OTHER_COLOURS,
    SEQUENTIAL,
    STYLE,
    VARIANT_COLOURS,
    as_rgb,
    display_scale,
    grid_shape,
    new_figure,
    png_bytes,
    shorten,
)
from .report_data import CurveCheck, MapExample, RandomizationCheck

if TYPE_CHECKING:
    pass

__all__ = ["curves_figure", "randomization_figure", "saliency_figure", "step_maps_figure"]


def saliency_figure(examples: list[MapExample]) -> bytes:
    """Saliency maps of one model and method in the TF2 recipe's layout: per image a
    row of map, input and overlay (the map at half opacity over the input)."""
    with matplotlib.rc_context(STYLE):
        fig = new_figure(8.0, 2.5 * len(examples))
        axes = fig.subplots(len(examples), 3, squeeze=False)
        for row, ex in zip(axes, examples):
            cmap, lo, hi = display_scale(ex.map)
            image = as_rgb(ex.image)
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
            row[1].set_title(f"{shorten(ex.image_name, 28)}\n{shorten(ex.class_name, 24)}{prob}")
            row[2].set_title("Overlay")
            for ax in row:
                ax.set_xticks([])
                ax.set_yticks([])
        return png_bytes(fig)


def curves_figure(curves: list[CurveCheck]) -> bytes:
    """Deletion, insertion (and other perturbation) curves of one model and data set:
    one panel per metric, the mean score over images per method with its interquartile
    band, the stored AUC in the legend and the random control as a grey dashed line
    (the edge-detector control, when stored, dashed in brown)."""
    metrics = sorted({c.metric for c in curves})
    with matplotlib.rc_context(STYLE):
        rows, cols = grid_shape(len(metrics), 2)
        fig = new_figure(3.9 * cols, 3.2 * rows)
        axes = fig.subplots(rows, cols, squeeze=False).ravel()
        for ax in axes[len(metrics) :]:
            ax.set_visible(False)
        for ax, metric in zip(axes, metrics):
            group = sorted((c for c in curves if c.metric == metric), key=lambda c: (c.control, c.method))
            colours = iter(OTHER_COLOURS[:1] + tuple(VARIANT_COLOURS.values()) + OTHER_COLOURS[1:])
            control_colours = iter(CONTROL_COLOURS * 4)
            for c in group:
                control = c.control
                colour = CHANCE_COLOUR if c.chance else next(control_colours) if control else next(colours)
                auc = "" if c.value is None else f", AUC {c.value:.3f}"
                label = f"{shorten(c.method, 22)}{' (control)' if control else ''}{auc}"
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
        return png_bytes(fig)


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
    with matplotlib.rc_context(STYLE):
        fig = new_figure(min(max(5.0, 0.35 * steps + 2.5), 12.0), 3.6)
        ax = fig.subplots()
        for i, measure in enumerate(measures):
            ax.plot(
                np.arange(steps),
                check.similarity[:, i],
                marker=MARKERS[i % len(MARKERS)],
                label=shorten(measure, 24),
            )
        ax.axhline(0.0, color="0.6", linewidth=0.8)
        every = -(-steps // MAX_TICKS)
        ticks = np.arange(0, steps, every)
        ax.set_xticks(ticks, [shorten(layers[i], 18) for i in ticks], rotation=60, ha="right")
        ax.set_xlabel(f"Randomised layer ({how})")
        ax.set_ylabel("Similarity to the original map")
        ax.set_title(f"{shorten(check.method, 28)}: {check.metric}")
        ax.grid(True, alpha=0.3)
        ax.legend(title="Similarity measure", loc="upper right")
        return png_bytes(fig)


def step_maps_figure(check: RandomizationCheck) -> bytes:
    """One image's map for the original model and after each randomisation step (at
    most 24 evenly spaced steps, first and last included), each panel scaled by its own
    99th-percentile magnitude: the structure, not the size, is what should change."""
    maps = np.asarray(check.step_maps, dtype=np.float64)
    names = ["original"] + list(check.layers)
    names += [f"step {i}" for i in range(len(names), maps.shape[0])]
    shown = np.unique(
        np.linspace(0, maps.shape[0] - 1, min(maps.shape[0], MAX_STEP_PANELS)).round().astype(int)
    )
    signed = bool((maps < 0).any())
    with matplotlib.rc_context(STYLE):
        rows, cols = grid_shape(len(shown), 8)
        fig = new_figure(1.45 * cols + 1.0, 1.7 * rows + 0.3)
        axes = fig.subplots(rows, cols, squeeze=False).ravel()
        im = None
        for ax, i in zip(axes, shown):
            m = np.nan_to_num(maps[i])
            top = float(np.percentile(np.abs(m), CLIP_PERCENTILE)) or float(np.abs(m).max()) or 1.0
            im = ax.imshow(
                m / top, cmap=DIVERGING if signed else SEQUENTIAL, vmin=-1.0 if signed else 0.0, vmax=1.0
            )
            ax.set_title(shorten(names[i], 14), fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
        for ax in axes[len(shown) :]:
            ax.set_visible(False)
        assert im is not None  # at least one step is shown
        fig.colorbar(im, ax=axes.tolist(), shrink=0.8, label="Saliency / own p99")
        return png_bytes(fig)
