"""What the temporal (video) metrics share: how they store per-frame series and a frame
strip for the report.

A temporal metric stores, besides its per-pair or per-frame ``per_image`` values:

* artifact ``series`` (K, F) float64: K named series over F frame positions, and
  artifact ``series_x`` (F,) float64: each value's position on the frame axis (a
  consecutive pair ``(t, t + 1)`` sits at ``t + 0.5``);
* ``series_info`` (in the cell's metrics): one ``{"label", "panel", "reference"}``
  per series: its legend label, the plot panel it belongs in, and whether it is a
  reference that does not depend on the method (the frames' own similarity, a
  mask's area fraction), drawn once per panel;
* artifacts ``strip_frames`` (k, H, W, 3) uint8, ``strip_maps`` (k, H, W) float32
  and ``strip_index`` (k,) int64: k evenly spaced frames (first and last included)
  and the method's maps of them.

The report's video section reads exactly these (``saliency_core.report.video_section``), so
it never recomputes a map.
"""

from __future__ import annotations

import numpy as np

__all__ = ["display_frames", "series_artifacts", "strip_artifacts", "strip_indices"]


def strip_indices(count: int, frames: int) -> np.ndarray:
    """``min(count, frames)`` evenly spaced frame indices, first and last included."""
    if int(count) != count or count < 0:
        raise ValueError(f"strip_frames must be an integer >= 0, got {count!r}")
    if count == 0:
        return np.zeros(0, np.int64)
    return np.unique(np.round(np.linspace(0, frames - 1, min(int(count), frames)))).astype(np.int64)


def display_frames(images, raw_input: bool) -> np.ndarray:
    """Frames as uint8 RGB for a figure: a raw-input classifier's frames (RGB in
    [0, 255]) rounded and clipped; inputs taken as given min-max scaled over all the
    frames shown (one scale, so brightness changes between frames stay visible)."""
    x = np.asarray(images, np.float64)
    if x.ndim == 3:
        x = x[..., None]
    if x.shape[-1] == 1:
        x = np.repeat(x, 3, axis=-1)
    if not raw_input:
        lo, hi = float(x.min()), float(x.max())
        x = (x - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(x)
    return np.clip(np.rint(x[..., :3]), 0, 255).astype(np.uint8)


def strip_artifacts(ctx, maps, count: int) -> dict[str, np.ndarray]:
    """``strip_*`` artifacts: ``count`` evenly spaced frames of ``ctx.images`` and
    their ``maps`` (none when ``count`` is 0)."""
    index = strip_indices(count, len(maps))
    if not index.size:
        return {}
    raw = bool(getattr(ctx.classifier, "raw_input", False))
    return {
        "strip_frames": display_frames(ctx.images[index], raw),
        "strip_maps": np.asarray(maps, np.float32)[index],
        "strip_index": index,
    }


def series_artifacts(x, series: list[tuple[str, str, bool, np.ndarray]]):
    """(artifacts, extra) for named series over the frame positions ``x``.

    Args:
        x: (F,) frame positions of the values.
        series: ``(label, panel, reference, values (F,))`` per series.
    """
    x = np.asarray(x, np.float64)
    values = np.stack([np.asarray(v, np.float64).reshape(-1) for *_, v in series])
    if values.shape[1] != x.size:
        raise ValueError(f"series have {values.shape[1]} values, the frame axis {x.size}")
    info = [{"label": label, "panel": panel, "reference": bool(ref)} for label, panel, ref, _ in series]
    return {"series": values, "series_x": x}, {"series_info": info}
