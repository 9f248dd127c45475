"""The bundled video: a real photo moving and zooming over another, with exact masks.

Built at run time from two bundled photos (:mod:`saliency_core.data.photos`), so it
installs offline and needs no video file: the head of scikit-image's ``chelsea``
cat, cut out with an ellipse, travels in a straight line across a static square
crop of ``rocket`` while it grows. Only the object moves, so the per-frame object
mask is the ground truth of where motion is (for motion saliency and for the
motion-agreement metric).

Each frame is composed in closed form: output pixel ``p`` shows the object where its
source point ``(p - centre_t) / zoom_t + object_centre`` lies inside the ellipse
(that test *is* the mask, evaluated at the pixel centre), sampled from the photo by
bilinear interpolation, and the background elsewhere. No random step is left to a
global generator: ``seed`` picks the direction of travel and the zoom range, so
the same arguments give the same bytes.

Example::

    clip = make_bundled_video(frames=24, size=224)
    clip.frames.shape, clip.masks.shape   # (24, 224, 224, 3) uint8, (24, 224, 224) bool
    path = bundled_video_path()           # the same clip as an MP4 in the cache folder
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .photos import load_photos

__all__ = ["BUNDLED_FPS", "VideoClip", "bundled_video_path", "make_bundled_video"]

BUNDLED_FPS = 12.0
"""Frame rate of the bundled clip (24 frames = 2 s)."""

_OBJECT, _BACKGROUND = "chelsea", "rocket"
# The cat's head in chelsea (300 x 451): ellipse centre (row, col) and semi-axes, pixels.
_ELLIPSE_CENTRE = (150.0, 235.0)
_ELLIPSE_AXES = (140.0, 165.0)
_VERSION = 1  # part of the cache file name: bump when the rendering changes


@dataclass
class VideoClip:
    """A short video held in memory, with the moving object's mask per frame.

    Attributes:
        frames: (T, H, W, 3) uint8 RGB.
        masks: (T, H, W) bool, True where the moving object is.
        fps: Frames per second.
        name: Short identifier (includes the arguments that built it).
    """

    frames: np.ndarray
    masks: np.ndarray
    fps: float
    name: str

    @property
    def timestamps(self) -> np.ndarray:
        """(T,) seconds of each frame from the first."""
        return np.arange(len(self.frames)) / self.fps


def _square_background(photo: np.ndarray, size: int) -> np.ndarray:
    """Centre square crop of ``photo`` resized to ``size`` x ``size`` uint8."""
    from skimage.transform import resize

    h, w = photo.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    crop = photo[top : top + side, left : left + side]
    out = resize(crop, (size, size), order=1, anti_aliasing=True, preserve_range=True)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _trajectory(frames: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(T, 2) object centres (row, col) and (T,) zoom factors, in output pixels.

    The centre moves along a line through the frame centre, 0.44 * size long, in a
    seed-chosen direction; the ellipse's larger semi-axis grows linearly from
    ``r0`` to ``1.4 * r0`` with ``r0`` in [0.15, 0.18] * size, so the object always
    stays inside the frame (0.22 + 0.252 < 0.5).
    """
    rng = np.random.default_rng(seed)
    angle = rng.uniform(0.0, 2.0 * np.pi)
    r0 = rng.uniform(0.15, 0.18) * size
    s = np.linspace(0.0, 1.0, frames) if frames > 1 else np.zeros(1)
    direction = np.array([np.sin(angle), np.cos(angle)])
    centres = (size - 1) / 2.0 + (s[:, None] - 0.5) * 0.44 * size * direction
    radii = r0 * (1.0 + 0.4 * s)
    return centres, radii / max(_ELLIPSE_AXES)


def make_bundled_video(frames: int = 24, size: int = 224, seed: int = 0) -> VideoClip:
    """The bundled clip: the ``chelsea`` cat's head moving and zooming over ``rocket``.

    Args:
        frames: Number of frames T (>= 2).
        size: Side of the square frames in pixels (>= 16).
        seed: Picks the direction of travel and the starting zoom.

    Returns:
        A :class:`VideoClip` at :data:`BUNDLED_FPS`; ``masks[t]`` is exactly the set of
        pixels whose value comes from the object in ``frames[t]``.
    """
    from scipy.ndimage import map_coordinates

    if int(frames) != frames or frames < 2:
        raise ValueError(f"frames must be an integer >= 2, got {frames!r}")
    if int(size) != size or size < 16:
        raise ValueError(f"size must be an integer >= 16, got {size!r}")
    frames, size = int(frames), int(size)
    photos = load_photos([_OBJECT, _BACKGROUND])
    if photos.names != [_OBJECT, _BACKGROUND]:
        raise RuntimeError(
            f"the bundled video needs the photos {_OBJECT!r} and {_BACKGROUND!r}; "
            f"could not load: {photos.skipped}"
        )
    obj = photos.images[0].astype(np.float64)
    background = _square_background(photos.images[1], size)
    centres, zooms = _trajectory(frames, size, seed)

    rows, cols = np.mgrid[0:size, 0:size].astype(np.float64)
    out = np.empty((frames, size, size, 3), np.uint8)
    masks = np.empty((frames, size, size), bool)
    (cr, cc), (ar, ac) = _ELLIPSE_CENTRE, _ELLIPSE_AXES
    for t in range(frames):
        src_r = (rows - centres[t, 0]) / zooms[t] + cr
        src_c = (cols - centres[t, 1]) / zooms[t] + cc
        inside = ((src_r - cr) / ar) ** 2 + ((src_c - cc) / ac) ** 2 <= 1.0
        coords = np.stack([src_r[inside], src_c[inside]])
        frame = background.copy()
        for ch in range(3):
            values = map_coordinates(obj[..., ch], coords, order=1, mode="nearest")
            frame[..., ch][inside] = np.clip(np.rint(values), 0, 255).astype(np.uint8)
        out[t], masks[t] = frame, inside
    name = f"bundled-{_OBJECT}-over-{_BACKGROUND}-t{frames}-s{size}-seed{seed}"
    return VideoClip(out, masks, BUNDLED_FPS, name)


def _cache_dir(cache_dir) -> Path:
    if cache_dir is not None:
        return Path(cache_dir)
    env = os.environ.get("SALIENCY_BENCH_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "saliency-bench"


def bundled_video_path(cache_dir=None, *, frames: int = 24, size: int = 224, seed: int = 0) -> Path:
    """The bundled clip written as an MP4 (H.264) in the cache folder, for CLI demos.

    Args:
        cache_dir: Folder; None means ``$SALIENCY_BENCH_CACHE``, else
            ``~/.cache/saliency-bench``.
        frames, size, seed: As for :func:`make_bundled_video`.

    The file is written once (through a temporary file and ``os.replace``, so a
    concurrent or interrupted run never leaves a partial file) and reused after.
    The MP4 is lossy: its decoded frames are close to, not equal to, the clip's.
    """
    from .video import write_video

    folder = _cache_dir(cache_dir)
    path = folder / f"bundled-video-v{_VERSION}-t{frames}-s{size}-seed{seed}.mp4"
    if path.is_file():
        return path
    clip = make_bundled_video(frames, size, seed)
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.stem + ".", suffix=".tmp.mp4", dir=folder)
    os.close(fd)
    try:
        write_video(tmp, clip.frames, clip.fps)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path
