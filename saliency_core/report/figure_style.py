"""The look every report figure shares, and its PNG bytes.

Figures are drawn on a bare ``matplotlib.figure.Figure`` with the Agg canvas, so
no pyplot state or global backend is touched; the PNG carries no software or date
stamp, so the same run always gives the same bytes. Colour maps: sequential
(``magma``) for non-negative magnitudes, diverging (``RdBu_r``, centred on 0) for
signed maps. Text is drawn literally (no mathtext), whatever a name contains.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType


STYLE: dict[RcKeyType, Any] = {
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


VARIANT_COLOURS = {"eager": "#1f77b4", "function": "#ff7f0e", "xla": "#2ca02c"}


OTHER_COLOURS = ("#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f")


MARKERS = ("o", "s", "^", "D", "v", "P")


DEVICE_STYLES = ("-", "--", ":", "-.")


SEQUENTIAL, DIVERGING = "magma", "RdBu_r"


CHANCE_COLOUR = "0.45"  # the chance baseline (random ordering)


CONTROL_COLOURS = ("#8c6d31", "#7b4173", "#637939", "#843c39")  # other model-independent maps


PRECISION_COLOURS = {"bfloat16": "#d62728", "float16": "#9467bd"}


VARIANT_MARKERS = {"eager": "o", "function": "s", "xla": "^"}


CLIP_PERCENTILE = 99.0


MAX_TICKS = 30


MAX_STEP_PANELS = 24


def png_bytes(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


def new_figure(width: float, height: float) -> Figure:
    return Figure(figsize=(width, height), layout="constrained")


def shorten(text: str, n: int = 32) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def variant_colour(variant: str, others: dict) -> str:
    if variant in VARIANT_COLOURS:
        return VARIANT_COLOURS[variant]
    return others.setdefault(variant, OTHER_COLOURS[len(others) % len(OTHER_COLOURS)])


def grid_shape(n: int, max_cols: int) -> tuple[int, int]:
    cols = min(n, max_cols)
    return -(-n // cols), cols


def display_scale(values: np.ndarray) -> tuple[str, float, float]:
    """Colour map and limits: diverging and symmetric if any value is negative, else
    sequential from 0; the limit is the 99th percentile of the magnitude."""
    finite = np.nan_to_num(np.asarray(values, dtype=np.float64))
    top = float(np.percentile(np.abs(finite), CLIP_PERCENTILE)) or float(np.abs(finite).max())
    top = top or 1.0
    if (finite < 0).any():
        return DIVERGING, -top, top
    return SEQUENTIAL, 0.0, top


def as_rgb(image: np.ndarray) -> np.ndarray:
    """An input image as imshow expects it: uint8 as is, other values clipped to [0, 255]."""
    image = np.asarray(image)
    if image.dtype == np.uint8:
        return image
    return np.clip(np.nan_to_num(image.astype(np.float64)), 0, 255).astype(np.uint8)
