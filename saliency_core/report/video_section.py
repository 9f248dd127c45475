"""The report's view of temporal (video) check cells: per-frame series and frame strips.

A temporal metric stores its per-frame values as the artifacts ``series`` (K, F) and
``series_x`` (F,), described by ``series_info`` in the cell's metrics, and a few
frames with the method's maps as ``strip_frames``, ``strip_maps`` and
``strip_index`` (see :mod:`saliency_core.metrics.temporal_support`). This module reads
exactly those; it computes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

__all__ = ["VIDEO_NOTE", "VideoSeries", "VideoStrip", "read_video_cell"]

log = logging.getLogger(__name__)

VIDEO_NOTE = (
    "Checks on consecutive video frames: each method's map over a few frames, and "
    "each temporal metric frame by frame, as stored by the run."
)

SERIES_ARTIFACTS = ("series", "series_x")
STRIP_ARTIFACTS = ("strip_frames", "strip_maps", "strip_index")


@dataclass(frozen=True)
class VideoSeries:
    """One temporal check's per-frame values.

    Attributes:
        model, data, method, metric: The cell key.
        value: The stored summary value; ``direction``: which way is better.
        x: (F,) frame positions (a consecutive pair ``t, t + 1`` at ``t + 0.5``).
        values: (K, F) the K series.
        labels, panels, reference: Per series: legend label, plot panel, and whether
            it does not depend on the method (drawn once per panel).
        control, chance: The method is a control / the chance baseline.
    """

    model: str
    data: str
    method: str
    metric: str
    value: float | None
    direction: str
    x: np.ndarray
    values: np.ndarray
    labels: list[str]
    panels: list[str]
    reference: list[bool]
    control: bool = False
    chance: bool = False


@dataclass(frozen=True)
class VideoStrip:
    """A few frames of a video with one method's maps: ``frames`` (k, H, W, 3) uint8,
    ``maps`` (k, H, W) and the frames' ``index`` (k,) in the sampled sequence."""

    model: str
    data: str
    method: str
    index: np.ndarray
    frames: np.ndarray
    maps: np.ndarray


def _series(store, cell, fields: dict, metrics: dict, kinds: dict) -> VideoSeries | None:
    values = np.atleast_2d(np.asarray(store.artifact(cell.id, "series"), np.float64))
    x = np.asarray(store.artifact(cell.id, "series_x"), np.float64).reshape(-1)
    info = metrics.get("series_info") or []
    if values.shape != (len(info), x.size):
        log.warning(
            "check cell %s: series %s do not match %d labels and %d positions; not plotted",
            cell.id,
            values.shape,
            len(info),
            x.size,
        )
        return None
    value = metrics.get("value")
    return VideoSeries(
        **fields,
        value=None if value is None else float(value),
        direction=str(metrics.get("direction", "")),
        x=x,
        values=values,
        labels=[str(i.get("label", "")) for i in info],
        panels=[str(i.get("panel", "")) for i in info],
        reference=[bool(i.get("reference")) for i in info],
        **kinds,
    )


def _strip(store, cell, fields: dict) -> VideoStrip | None:
    frames = np.asarray(store.artifact(cell.id, "strip_frames"))
    maps = np.asarray(store.artifact(cell.id, "strip_maps"), np.float64)
    index = np.asarray(store.artifact(cell.id, "strip_index")).reshape(-1)
    if frames.ndim != 4 or maps.shape != frames.shape[:3] or index.size != len(frames):
        log.warning(
            "check cell %s: strip frames %s, maps %s and index %s do not match; not shown",
            cell.id,
            frames.shape,
            maps.shape,
            index.shape,
        )
        return None
    return VideoStrip(
        **{k: fields[k] for k in ("model", "data", "method")}, index=index, frames=frames, maps=maps
    )


def read_video_cell(
    store, cell, names: set[str], fields: dict, metrics: dict, kinds: dict
) -> tuple[VideoSeries | None, VideoStrip | None]:
    """The series and strip an ``ok`` check cell stored (None for what it lacks).

    Args:
        store: The ``ResultStore``; ``cell``: the check cell.
        names: The cell's artifact names.
        fields: ``model, data, method, metric`` of the cell key.
        metrics: The cell's metrics dict.
        kinds: ``control`` and ``chance`` flags of its method.
    """
    series = _series(store, cell, fields, metrics, kinds) if set(SERIES_ARTIFACTS) <= names else None
    strip = _strip(store, cell, fields) if set(STRIP_ARTIFACTS) <= names else None
    return series, strip
