"""The video figure: the explanation figure of :mod:`saliency_core.explain_figure`, animated.

Each frame of the animation is one row of :func:`~saliency_core.explain_figure.recipe_figure`
(map | frame | overlay) for one video frame, titled with its index and time, so the
colour mapping is that figure's: each map is drawn scaled by its own 99th
percentile. :func:`write_video_figure` writes the animation as a GIF (Pillow) or an
MP4 (PyAV, the optional ``video`` extra) through :func:`write_animation`;
:func:`video_summary_png` draws a still strip of a few evenly spaced frames for
reports.

Example::

    clip = make_bundled_video()
    maps = motion_map(clip.frames)
    write_video_figure("motion.gif", clip.frames, maps, fps=clip.fps)
    png = video_summary_png(clip.frames, maps, count=4, fps=clip.fps)
"""

from __future__ import annotations

import os

import numpy as np

from .explain_figure import figure_png, recipe_figure

__all__ = ["video_figure_frames", "video_summary_png", "write_animation", "write_video_figure"]


def _check(frames, maps) -> tuple[np.ndarray, np.ndarray]:
    frames, maps = np.asarray(frames), np.asarray(maps, dtype=np.float64)
    if frames.ndim != 4 or frames.shape[-1] != 3 or maps.shape != frames.shape[:3]:
        raise ValueError(
            f"expected frames (T, H, W, 3) and maps (T, H, W); got {frames.shape} and {maps.shape}"
        )
    if len(frames) == 0:
        raise ValueError("no frames given")
    return frames, maps


def _title(t: int, fps: float | None) -> str:
    return f"frame {t}" + (f" ({t / fps:.2f} s)" if fps else "")


def video_figure_frames(
    frames, maps, *, fps: float | None = None, map_label: str = "saliency", dpi: int = 72
) -> np.ndarray:
    """(T, h, w, 3) uint8 images: one (map | frame | overlay) figure row per frame.

    Args:
        frames: (T, H, W, 3) RGB, uint8 or floats in [0, 255].
        maps: (T, H, W) saliency maps of those frames.
        fps: Frame rate, for the time in each title (None: index only).
        map_label: What the maps are, for the colour bar.
        dpi: Resolution of the rendering (the figure is 9 x 3 inches).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    frames, maps = _check(frames, maps)
    out = []
    for t in range(len(frames)):
        fig = recipe_figure(frames[t : t + 1], maps[t : t + 1], [_title(t, fps)], map_label=map_label)
        fig.set_dpi(dpi)
        canvas = FigureCanvasAgg(fig)
        canvas.draw()
        out.append(np.asarray(canvas.buffer_rgba())[..., :3].copy())
    return np.stack(out)


def write_video_figure(path, frames, maps, *, fps: float, map_label: str = "saliency", dpi: int = 72) -> str:
    """Render the animated figure (:func:`video_figure_frames`) and write it to
    ``path`` (see :func:`write_animation`). Returns the path written."""
    _check_output(path, fps)
    images = video_figure_frames(frames, maps, fps=fps, map_label=map_label, dpi=dpi)
    return write_animation(path, images, fps=fps)


def _check_output(path, fps) -> str:
    path = os.fspath(path)
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in (".gif", ".mp4"):
        raise ValueError(f"{path}: an animation is written as .gif or .mp4, not {suffix or 'no suffix'!r}")
    if not (np.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be a positive number, got {fps!r}")
    return suffix


def write_animation(path, images, *, fps: float) -> str:
    """Write (T, h, w, 3) uint8 images as an animation: ``.gif`` (Pillow, looping) or
    ``.mp4`` (PyAV, H.264; odd sizes lose their last row or column).

    GIF stores each frame's delay in hundredths of a second, so the delay is
    ``1 / fps`` rounded to 10 ms (12 fps plays at 12.5 fps). Returns the path written.
    """
    suffix = _check_output(path, fps)
    path = os.fspath(path)
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8 or len(images) == 0:
        raise ValueError(
            f"images must be a non-empty uint8 array (T, h, w, 3), got {images.dtype} {images.shape}"
        )
    if suffix == ".mp4":
        from .data.video import write_video

        h, w = images.shape[1:3]
        return write_video(path, np.ascontiguousarray(images[:, : h - h % 2, : w - w % 2]), fps)
    from PIL import Image

    first, *rest = [Image.fromarray(image) for image in images]
    first.save(
        path, format="GIF", save_all=True, append_images=rest, duration=10 * round(100.0 / fps), loop=0
    )
    return path


def video_summary_png(
    frames, maps, *, count: int = 4, fps: float | None = None, map_label: str = "saliency", dpi: int = 100
) -> bytes:
    """PNG bytes of a still summary: ``count`` evenly spaced frames (first and last
    included), one (map | frame | overlay) row each."""
    frames, maps = _check(frames, maps)
    if int(count) != count or count < 1:
        raise ValueError(f"count must be an integer >= 1, got {count!r}")
    picks = np.unique(np.round(np.linspace(0, len(frames) - 1, min(int(count), len(frames)))).astype(int))
    fig = recipe_figure(frames[picks], maps[picks], [_title(int(t), fps) for t in picks], map_label=map_label)
    return figure_png(fig, dpi=dpi)
