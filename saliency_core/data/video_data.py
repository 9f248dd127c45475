"""Video as check data: a video file or the bundled video, as consecutive frames
prepared for one classifier (used by :func:`~saliency_core.data.check_data.load_check_data`).

A file is decoded in chunks (:func:`~saliency_core.data.video.iter_video`) and each
chunk is prepared for the classifier before the next is read, so memory holds the
prepared frames, not the decoded ones. The bundled video is rendered at the
classifier's input size (its longer side, then centre-cropped for a non-square
input), so its object masks stay exact: no mask is ever resampled.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["BUNDLED_VIDEO", "VIDEO_SUFFIXES", "is_video_spec", "load_video_data"]

BUNDLED_VIDEO = "video"
"""The data name of the bundled video (:func:`~saliency_core.data.bundled_video.make_bundled_video`)."""

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".gif")
"""File suffixes read as video (case-insensitive)."""

_BUNDLED_FRAMES = 24  # make_bundled_video's 2 s at 12 fps, before sampling
_BUNDLED_SEED = 0  # the clip bundled_video_path writes by default


def is_video_spec(spec) -> bool:
    """True for the bundled video's name or a path with a video suffix (not a folder)."""
    path = Path(str(spec))
    return str(spec) == BUNDLED_VIDEO or (path.suffix.lower() in VIDEO_SUFFIXES and not path.is_dir())


def load_video_data(spec: str, classifier, *, fps: float | None, max_frames: int | None):
    """Sampled frames of ``spec`` (a video file or ``"video"``) prepared for ``classifier``.

    Args:
        spec: A file with one of :data:`VIDEO_SUFFIXES`, or :data:`BUNDLED_VIDEO`.
        classifier: The :class:`~saliency_core.models.classifier.Classifier`.
        fps: Sampling rate (None: every frame), as in :func:`~saliency_core.data.video.iter_video`.
        max_frames: Keep at most this many sampled frames (None: all).

    Returns:
        A :class:`~saliency_core.data.check_data.CheckData` with ``sequence=True``, the
        frame rate of the sampled frames and their timestamps; the bundled video has
        masks.

    Raises:
        FileNotFoundError: no such file. ValueError: bad sampling options, a model that
            cannot take video frames, or a file that does not decode (the message
            names it). ImportError: PyAV is not installed.
    """
    if spec == BUNDLED_VIDEO:
        return _bundled(classifier, fps, max_frames)
    return _file(spec, classifier, fps, max_frames)


def _check_rgb_model(classifier, spec: str) -> None:
    if classifier.input_shape[-1] != 3:
        raise ValueError(
            f"--data {spec!r} gives RGB frames; model {classifier.name!r} takes {classifier.input_shape}"
        )


def _bundled(classifier, fps, max_frames):
    from .bundled_video import make_bundled_video
    from .check_data import CheckData
    from .video import sampled_indices

    _check_rgb_model(classifier, BUNDLED_VIDEO)
    height, width = classifier.input_shape[:2]
    side = max(height, width)
    clip = make_bundled_video(_BUNDLED_FRAMES, side, _BUNDLED_SEED)
    keep = sampled_indices(clip.timestamps, fps=fps, max_frames=max_frames)
    top, left = (side - height) // 2, (side - width) // 2
    crop = (keep, slice(top, top + height), slice(left, left + width))
    frames, masks = clip.frames[crop], clip.masks[crop]
    # RGB in [0, 255] for a raw-input classifier, [0, 1] for one taking inputs as
    # given (as the synthetic set).
    pixels = frames.astype(np.float64) / (1.0 if classifier.raw_input else 255.0)
    times = clip.timestamps[keep]
    names = [f"{BUNDLED_VIDEO}-{i:04d}-{t:.3f}s" for i, t in zip(keep, times)]
    rate = clip.fps if fps is None else min(float(fps), clip.fps)  # no frame is repeated
    return CheckData(
        BUNDLED_VIDEO,
        pixels.astype(classifier.dtype),
        names,
        masks,
        [],
        sequence=True,
        fps=rate,
        timestamps=times,
    )


def _file(spec, classifier, fps, max_frames):
    from .check_data import CheckData
    from .video import iter_video

    path = Path(spec)
    if not path.is_file():
        raise FileNotFoundError(f"--data {spec!r}: video file not found")
    if not classifier.raw_input:
        raise ValueError(
            f"model {classifier.name!r} takes its inputs as given, so video frames "
            "cannot be resized for it; pass --preprocessing FAMILY, or use --data "
            f"{BUNDLED_VIDEO}"
        )
    _check_rgb_model(classifier, spec)
    prepared, times, source = [], [], None
    for chunk in iter_video(path, fps=fps, max_frames=max_frames):
        try:
            prepared.append(classifier.prepare(chunk.frames))
        except (ValueError, TypeError) as exc:
            raise ValueError(f"cannot prepare the frames of {spec!r} for {classifier.name}: {exc}") from None
        times.append(chunk.timestamps)
        source = chunk.source_fps
    timestamps = np.concatenate(times)
    names = [f"{path.stem}-{k:04d}-{t:.3f}s" for k, t in enumerate(timestamps)]
    rate = source if fps is None else min(float(fps), source or float(fps))
    return CheckData(
        spec, np.concatenate(prepared), names, None, [], sequence=True, fps=rate, timestamps=timestamps
    )
