"""The explanation figure: for each image, its saliency map, the input, and an overlay.

This is the layout of the TF2 saliency recipe (map | input | overlay), one row per
image. Magnitude maps use a sequential colour map; signed maps (``reduce="sum"``,
``"none"``) a diverging one centred on zero.
"""

from __future__ import annotations

import io

import numpy as np

__all__ = ["recipe_figure", "figure_png", "display_scale"]

CLIP_PERCENTILE = 99.0


def _signed(m: np.ndarray) -> bool:
    return bool(m.min() < 0 < m.max())


def display_scale(m: np.ndarray, percentile: float = CLIP_PERCENTILE) -> np.ndarray:
    """|m| scaled to [0, 1] by its ``percentile``-th value (brighter, robust to a few
    extreme pixels); a zero map stays zero."""
    a = np.abs(np.asarray(m, dtype=np.float64))
    top = np.percentile(a, percentile)
    if top <= 0:
        top = a.max()
    return np.clip(a / top, 0.0, 1.0) if top > 0 else np.zeros_like(a)


def recipe_figure(images, maps, titles=None, *, map_label="saliency"):
    """Build a matplotlib Figure with one (map, input, overlay) row per image.

    Args:
        images: (N, H, W, 3) RGB, uint8 or floats in [0, 255].
        maps: (N, H, W) saliency maps (any scale). Magnitudes are drawn divided by
            their 99th percentile and clipped to [0, 1]; a map with both signs is
            drawn symmetric around zero, clipped at the 99th percentile of |map|.
        titles: Optional row titles (e.g. file name and predicted class).
    """
    from matplotlib.figure import Figure

    images = np.asarray(images)
    maps = np.asarray(maps, dtype=np.float64)
    n = len(images)
    fig = Figure(figsize=(9, 3 * n), layout="constrained")
    axes = fig.subplots(n, 3, squeeze=False)
    for i in range(n):
        rgb = np.clip(images[i], 0, 255).astype(np.uint8)
        m = maps[i]
        if _signed(m):
            lim = np.percentile(np.abs(m), CLIP_PERCENTILE) or np.abs(m).max()
            shown, cmap, vmin, vmax = np.clip(m, -lim, lim) / lim, "RdBu_r", -1.0, 1.0
            label = f"signed {map_label} / p99"
        else:
            shown, cmap, vmin, vmax = display_scale(m), "viridis", 0.0, 1.0
            label = f"|{map_label}| / p99"
        im = axes[i, 0].imshow(shown, cmap=cmap, vmin=vmin, vmax=vmax)
        fig.colorbar(im, ax=axes[i, 0], shrink=0.8, label=label)
        axes[i, 1].imshow(rgb)
        axes[i, 2].imshow(rgb)
        axes[i, 2].imshow(display_scale(m), cmap="inferno", alpha=0.55)
        for ax, name in zip(axes[i], ("saliency map", "input", "overlay")):
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(name if not titles else f"{titles[i]}\n{name}", fontsize=9)
    return fig


def figure_png(fig, *, dpi: int = 100) -> bytes:
    """PNG bytes of a Figure, with no timestamp or version metadata (reproducible)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    return buf.getvalue()
