"""The animated (map | frame | overlay) figure and its still summary."""

import io
import itertools

import numpy as np
import pytest
from PIL import Image

from saliency_core.data import make_bundled_video, read_video
from saliency_core.explain_video_figure import (
    video_figure_frames,
    video_summary_png,
    write_animation,
    write_video_figure,
)
from saliency_core.methods.motion import motion_map

T, DPI = 8, 40  # recipe_figure rows are 9 x 3 inches: 360 x 120 pixels at 40 dpi


@pytest.fixture(scope="module")
def clip():
    clip = make_bundled_video(frames=T, size=64, seed=0)
    return clip, motion_map(clip.frames)


@pytest.fixture(scope="module")
def images(clip):
    video, maps = clip
    return video_figure_frames(video.frames, maps, fps=video.fps, dpi=DPI)


def test_one_figure_row_per_frame_and_they_change(images):
    assert images.shape == (T, 3 * DPI, 9 * DPI, 3) and images.dtype == np.uint8
    assert all(not np.array_equal(a, b) for a, b in itertools.pairwise(images))


def test_gif_has_one_frame_per_video_frame_at_the_video_rate(clip, images, tmp_path):
    video, maps = clip
    path = write_video_figure(tmp_path / "motion.gif", video.frames, maps, fps=video.fps, dpi=DPI)
    with Image.open(path) as gif:
        assert gif.n_frames == T and gif.size == (9 * DPI, 3 * DPI)
        durations, shown = [], []
        for i in range(T):
            gif.seek(i)
            durations.append(gif.info["duration"])
            shown.append(np.asarray(gif.convert("RGB")).astype(int))
    assert durations == [10 * round(100 / video.fps)] * T  # GIF delays are in 1/100 s
    # a 256-colour palette: each shown frame is nearest to its own rendered frame
    diff = np.abs(np.stack(shown)[:, None] - images[None].astype(int)).mean(axis=(2, 3, 4))
    np.testing.assert_array_equal(diff.argmin(axis=1), np.arange(T))


def test_mp4_has_one_frame_per_video_frame(clip, images, tmp_path):
    video, _ = clip
    decoded = read_video(write_animation(tmp_path / "motion.mp4", images, fps=video.fps))
    assert decoded.frames.shape == images.shape
    assert decoded.source_fps == video.fps
    # lossy codec: each decoded frame is nearest to its own rendered frame
    diff = np.abs(decoded.frames[:, None].astype(int) - images[None].astype(int)).mean(axis=(2, 3, 4))
    np.testing.assert_array_equal(diff.argmin(axis=1), np.arange(T))


def test_summary_png_is_a_strip_of_evenly_spaced_frames(clip):
    video, maps = clip
    png = video_summary_png(video.frames, maps, count=3, fps=video.fps, dpi=DPI)
    with Image.open(io.BytesIO(png)) as image:
        assert image.format == "PNG" and image.size == (9 * DPI, 3 * 3 * DPI)  # three rows


def test_bad_input_is_named(clip, images, tmp_path):
    video, maps = clip
    with pytest.raises(ValueError, match="motion.avi"):
        write_video_figure(tmp_path / "motion.avi", video.frames, maps, fps=video.fps)
    with pytest.raises(ValueError, match="uint8"):
        write_animation(tmp_path / "motion.gif", images.astype(float), fps=video.fps)
    with pytest.raises(ValueError, match="maps"):
        video_figure_frames(video.frames, maps[:-1])
    with pytest.raises(ValueError, match="count"):
        video_summary_png(video.frames, maps, count=0)
