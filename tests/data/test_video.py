"""Video files: PyAV round trip, rate sampling, chunked reading and clear errors.

The test video has 30 frames at 30 fps; frame ``i`` is a uniform grey of level
``16 + 7 * i``, so each decoded frame is identified by its mean whatever the codec's
small colour-conversion error (levels are 7 apart; a frame is read as the nearest).
"""

import sys

import numpy as np
import pytest

from saliency_core.data.video import VideoDecodeError, iter_video, read_video, write_video

N, FPS, SIDE = 30, 30.0, 32


def frame_ids(frames: np.ndarray) -> np.ndarray:
    """Index of each uniform-grey test frame, from its mean level."""
    return np.round((frames.reshape(len(frames), -1).mean(axis=1) - 16) / 7).astype(int)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    levels = 16 + 7 * np.arange(N)
    frames = np.broadcast_to(levels[:, None, None, None], (N, SIDE, SIDE, 3)).astype(np.uint8)
    path = tmp_path_factory.mktemp("video") / "grey.mp4"
    write_video(path, frames, FPS, crf=0)
    return path


def test_round_trip_keeps_every_frame_its_size_and_timestamps(clip):
    video = read_video(clip)
    assert video.frames.shape == (N, SIDE, SIDE, 3) and video.frames.dtype == np.uint8
    np.testing.assert_array_equal(frame_ids(video.frames), np.arange(N))
    # each decoded frame is uniform: the codec kept the content, not just the mean
    assert np.ptp(video.frames.reshape(N, -1).astype(int), axis=1).max() <= 2
    ticks = video.timestamps * FPS  # in frame periods; 1% of a period is far above time-base rounding
    np.testing.assert_allclose(ticks, np.arange(N), atol=0.01)
    assert video.source_fps == FPS and video.fps is None and video.path == str(clip)


def first_at_or_after(fps: float) -> list[int]:
    """Reference sampling: frame ceil(k * 30 / fps) for each instant k / fps in the clip."""
    out, k = [], 0
    while True:
        i = int(np.ceil(k * FPS / fps - 1e-9))
        if i >= N:
            return out
        out.append(i)
        k += 1


@pytest.mark.parametrize("fps", [10.0, 7.0, 12.5])
def test_fps_sampling_takes_the_first_frame_at_or_after_each_instant(clip, fps):
    video = read_video(clip, fps=fps)
    expected = first_at_or_after(fps)
    np.testing.assert_array_equal(frame_ids(video.frames), expected)
    np.testing.assert_allclose(video.timestamps * FPS, expected, atol=0.01)
    assert video.fps == fps


def test_fps_above_the_source_rate_keeps_every_frame_once(clip):
    np.testing.assert_array_equal(frame_ids(read_video(clip, fps=100.0).frames), np.arange(N))


def test_max_frames_stops_early(clip):
    np.testing.assert_array_equal(frame_ids(read_video(clip, max_frames=4).frames), [0, 1, 2, 3])
    np.testing.assert_array_equal(frame_ids(read_video(clip, fps=10.0, max_frames=4).frames), [0, 3, 6, 9])


def test_iter_video_yields_bounded_chunks_that_make_up_the_video(clip):
    chunks = list(iter_video(clip, chunk_size=8))
    assert [len(c.frames) for c in chunks] == [8, 8, 8, 6]
    assert [c.start for c in chunks] == [0, 8, 16, 24]
    whole = read_video(clip)
    np.testing.assert_array_equal(np.concatenate([c.frames for c in chunks]), whole.frames)
    np.testing.assert_array_equal(np.concatenate([c.timestamps for c in chunks]), whole.timestamps)
    first = next(iter(iter_video(clip, fps=10.0, chunk_size=3)))  # stopping early is fine
    np.testing.assert_array_equal(frame_ids(first.frames), [0, 3, 6])


def test_missing_file_is_named_at_the_call(tmp_path):
    missing = tmp_path / "nope.mp4"
    with pytest.raises(FileNotFoundError, match="nope.mp4"):
        iter_video(missing)  # no iteration needed
    with pytest.raises(FileNotFoundError, match="nope.mp4"):
        read_video(missing)


def test_undecodable_file_is_named(tmp_path):
    bad = tmp_path / "garbage.mp4"
    bad.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(VideoDecodeError, match="garbage.mp4"):
        read_video(bad)


@pytest.mark.parametrize(
    "kwargs, option",
    [
        ({"fps": 0}, "fps"),
        ({"fps": float("nan")}, "fps"),
        ({"max_frames": 0}, "max_frames"),
        ({"chunk_size": 0}, "chunk_size"),
    ],
)
def test_bad_sampling_options_are_named(clip, kwargs, option):
    with pytest.raises(ValueError, match=option):
        iter_video(clip, **kwargs)


def test_write_rejects_odd_sizes_and_non_uint8(tmp_path):
    with pytest.raises(ValueError, match="even"):
        write_video(tmp_path / "odd.mp4", np.zeros((2, 31, 32, 3), np.uint8), 10.0)
    with pytest.raises(ValueError, match="uint8"):
        write_video(tmp_path / "float.mp4", np.zeros((2, 32, 32, 3)), 10.0)


def test_missing_pyav_gives_install_hint(clip, monkeypatch):
    monkeypatch.setitem(sys.modules, "av", None)  # import av -> ImportError
    with pytest.raises(ImportError, match=r"saliency-bench\[video\]"):
        read_video(clip)
