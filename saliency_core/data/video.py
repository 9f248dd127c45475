"""Video files: decode, sample and write frames with PyAV.

Frames come out as uint8 RGB ``(T, H, W, 3)`` with their timestamps in seconds from
the first decoded frame. :func:`iter_video` yields them in chunks of at most
``chunk_size`` frames, so a long video is read with bounded memory;
:func:`read_video` collects every chunk.

Why PyAV (``av``) rather than OpenCV's ``VideoCapture``: PyAV exposes each frame's
presentation timestamp exactly (``pts`` times the stream's ``time_base``), which rate
sampling needs, where ``VideoCapture`` reports positions and frame rates through
backend-dependent properties that container metadata can get wrong; it raises a
typed error on a missing or undecodable file, where ``VideoCapture`` only returns
``isOpened() == False`` or an empty ``read()``; it converts to RGB in the decoder
(OpenCV gives BGR); and it encodes too, so one dependency both writes the bundled
MP4 and reads any file. Its wheels ship their own FFmpeg libraries, so nothing has
to be installed on the system. OpenCV is still used, for optical flow only
(:mod:`saliency_core.methods.motion`).

PyAV is an optional dependency (``pip install 'saliency-bench[video]'``), imported
only when a function here is called.

Example::

    video = read_video("clip.mp4", fps=5, max_frames=32)
    video.frames.shape       # (32, H, W, 3) uint8
    for chunk in iter_video("long.mp4", chunk_size=16):
        ...                  # chunk.frames: at most 16 frames
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

__all__ = [
    "TIME_TOLERANCE",
    "FrameChunk",
    "VideoDecodeError",
    "VideoFrames",
    "iter_video",
    "read_video",
    "sampled_indices",
    "write_video",
]

TIME_TOLERANCE = 1e-4
"""Seconds by which a frame may precede its sampling instant and still be taken (absorbs
the rounding of timestamps to the stream's time base; far below any frame interval)."""


class VideoDecodeError(ValueError):
    """A video file could not be opened or decoded (the message names the file)."""


@dataclass
class FrameChunk:
    """Consecutive sampled frames of one video.

    Attributes:
        frames: (n, H, W, 3) uint8 RGB.
        timestamps: (n,) float64 seconds from the video's first decoded frame.
        start: Index of ``frames[0]`` among all sampled frames of the video.
        source_fps: The stream's average frame rate as the container declares it
            (None when it declares none).
    """

    frames: np.ndarray
    timestamps: np.ndarray
    start: int
    source_fps: float | None = None


@dataclass
class VideoFrames:
    """The sampled frames of one video file.

    Attributes:
        frames: (T, H, W, 3) uint8 RGB.
        timestamps: (T,) float64 seconds from the first decoded frame.
        fps: The sampling rate asked for, or None when every frame was kept.
        source_fps: As in :class:`FrameChunk`.
        path: The file read.
    """

    frames: np.ndarray
    timestamps: np.ndarray
    fps: float | None
    source_fps: float | None
    path: str


def _import_av():
    try:
        import av
    except ImportError as exc:
        raise ImportError(
            "video input and output need PyAV (package 'av'); install it with "
            "pip install 'saliency-bench[video]'"
        ) from exc
    return av


def _check_sampling(fps, max_frames, chunk_size) -> None:
    if fps is not None and not (np.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be a positive number or None, got {fps!r}")
    if max_frames is not None and (int(max_frames) != max_frames or max_frames < 1):
        raise ValueError(f"max_frames must be an integer >= 1 or None, got {max_frames!r}")
    if int(chunk_size) != chunk_size or chunk_size < 1:
        raise ValueError(f"chunk_size must be an integer >= 1, got {chunk_size!r}")


def iter_video(
    path, *, fps: float | None = None, max_frames: int | None = None, chunk_size: int = 32
) -> Iterator[FrameChunk]:
    """Decode ``path`` lazily, yielding chunks of sampled frames.

    Args:
        path: A video file FFmpeg can read (MP4, MKV, WebM, AVI, GIF, ...); its first
            video stream is read.
        fps: Target sampling rate in frames per second, or None to keep every frame.
            Sample ``k`` is the first frame at or after ``k / fps`` seconds (within
            :data:`TIME_TOLERANCE`); a frame is never repeated, so asking for more
            than the source rate keeps every frame.
        max_frames: Stop after this many sampled frames (None: read to the end).
        chunk_size: Frames per yielded chunk (the last may be shorter); memory held
            is one chunk plus the decoder's own buffers.

    Raises:
        ValueError: a bad ``fps``, ``max_frames`` or ``chunk_size`` (at the call).
        FileNotFoundError: no file at ``path`` (at the call).
        VideoDecodeError (during iteration): the file is not a readable video, has
            no video stream, decodes to no frame, or changes frame size.
    """
    _check_sampling(fps, max_frames, chunk_size)
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"video file not found: {path}")
    av = _import_av()
    return _decode(av, path, fps, max_frames, int(chunk_size))


def _decode(av, path, fps, max_frames, chunk_size) -> Iterator[FrameChunk]:
    """The generator behind :func:`iter_video` (which checks its arguments eagerly)."""
    try:
        container = av.open(path, mode="r")
    except av.error.FFmpegError as exc:
        raise VideoDecodeError(f"cannot open video file {path}: {exc}") from exc
    with container:
        if not container.streams.video:
            raise VideoDecodeError(f"{path} has no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        yield from _sampled_chunks(av, container, stream, path, fps, max_frames, chunk_size)


def _sampled_chunks(av, container, stream, path, fps, max_frames, chunk_size) -> Iterator[FrameChunk]:
    frames, times, taken, decoded = [], [], 0, 0
    first_time, next_time, shape = None, 0.0, None
    rate = float(stream.average_rate) if stream.average_rate else None
    try:
        for frame in container.decode(stream):
            if frame.pts is not None and frame.time is not None:
                t = float(frame.time)
            elif rate:
                t = decoded / rate  # no timestamp: assume the declared constant rate
            else:
                raise VideoDecodeError(
                    f"{path}: frame {decoded} has no timestamp and the stream declares no frame rate"
                )
            decoded += 1
            first_time = t if first_time is None else first_time
            t -= first_time
            if fps is not None and t + TIME_TOLERANCE < next_time:
                continue
            if fps is not None:  # the next sampling instant strictly after this frame
                next_time = (np.floor((t + TIME_TOLERANCE) * fps) + 1) / fps
            image = frame.to_ndarray(format="rgb24")
            if shape is None:
                shape = image.shape
            elif image.shape != shape:
                raise VideoDecodeError(
                    f"{path}: frame size changes from {shape[:2]} to "
                    f"{image.shape[:2]} at decoded frame {decoded - 1}"
                )
            frames.append(image)
            times.append(t)
            taken += 1
            if len(frames) == chunk_size:
                yield FrameChunk(np.stack(frames), np.asarray(times), taken - len(frames), rate)
                frames, times = [], []
            if max_frames is not None and taken >= max_frames:
                break
    except av.error.FFmpegError as exc:
        raise VideoDecodeError(f"cannot decode video file {path}: {exc}") from exc
    if frames:
        yield FrameChunk(np.stack(frames), np.asarray(times), taken - len(frames), rate)
    if taken == 0:
        raise VideoDecodeError(f"no frame could be decoded from {path}")


def sampled_indices(timestamps, *, fps: float | None = None, max_frames: int | None = None) -> np.ndarray:
    """Indices of the frames :func:`iter_video` keeps from frames at ``timestamps``
    (seconds, increasing, the first at 0): the same sampling rule, for frames already
    in memory (the bundled clip)."""
    _check_sampling(fps, max_frames, 1)
    out, next_time = [], 0.0
    for i, t in enumerate(np.asarray(timestamps, np.float64)):
        if fps is not None:
            if t + TIME_TOLERANCE < next_time:
                continue
            next_time = (np.floor((t + TIME_TOLERANCE) * fps) + 1) / fps
        out.append(i)
        if max_frames is not None and len(out) >= max_frames:
            break
    return np.asarray(out, np.int64)


def read_video(path, *, fps: float | None = None, max_frames: int | None = None) -> VideoFrames:
    """All sampled frames of ``path`` in memory (see :func:`iter_video` for the
    arguments and errors)."""
    chunks = list(iter_video(path, fps=fps, max_frames=max_frames))
    return VideoFrames(
        np.concatenate([c.frames for c in chunks]),
        np.concatenate([c.timestamps for c in chunks]),
        None if fps is None else float(fps),
        chunks[0].source_fps,
        os.fspath(path),
    )


def write_video(path, frames, fps: float, *, codec: str = "libx264", crf: int = 18) -> str:
    """Encode uint8 RGB frames ``(T, H, W, 3)`` to a video file (MP4 for ``.mp4``).

    Args:
        path: Output file; its suffix picks the container.
        frames: (T, H, W, 3) uint8 RGB; H and W must be even (4:2:0 chroma).
        fps: Frame rate (stored as a fraction, e.g. 29.97 -> 30000/1001).
        codec: FFmpeg encoder name ("libx264" in PyAV's wheels; "mpeg4" also works).
        crf: x264 constant rate factor (0 lossless, 18 visually lossless, 23 x264's
            own default); used by libx264 only.

    Returns the path written.
    """
    av = _import_av()
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or len(frames) == 0:
        raise ValueError(
            f"frames must be a non-empty uint8 array (T, H, W, 3), got {frames.dtype} {frames.shape}"
        )
    height, width = frames.shape[1:3]
    if height % 2 or width % 2:
        raise ValueError(f"frame height and width must be even for 4:2:0 video, got {height} x {width}")
    if not (np.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be a positive number, got {fps!r}")
    path = os.fspath(path)
    with av.open(path, mode="w") as container:
        stream = container.add_stream(codec, rate=Fraction(fps).limit_denominator(1001))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        if codec == "libx264":
            stream.options = {"crf": str(int(crf))}
        for image in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():  # flush the encoder
            container.mux(packet)
    return path
