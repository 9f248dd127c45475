"""The bundled video: deterministic, and its masks are exactly where the object is."""

import numpy as np
import pytest

from saliency_core.data import BUNDLED_FPS, bundled_video_path, make_bundled_video, read_video


@pytest.fixture(scope="module")
def clip():
    return make_bundled_video(frames=8, size=64, seed=0)


def test_shapes_and_types(clip):
    assert clip.frames.shape == (8, 64, 64, 3) and clip.frames.dtype == np.uint8
    assert clip.masks.shape == (8, 64, 64) and clip.masks.dtype == bool
    assert clip.fps == BUNDLED_FPS
    np.testing.assert_allclose(clip.timestamps, np.arange(8) / BUNDLED_FPS)
    assert clip.masks.any(axis=(1, 2)).all()


def test_same_arguments_same_bytes_other_seed_other_video(clip):
    again = make_bundled_video(frames=8, size=64, seed=0)
    assert again.frames.tobytes() == clip.frames.tobytes()
    assert again.masks.tobytes() == clip.masks.tobytes()
    other = make_bundled_video(frames=8, size=64, seed=1)
    assert not np.array_equal(other.masks, clip.masks)


def test_the_object_moves(clip):
    rows, cols = np.nonzero(clip.masks[0])
    first = np.array([rows.mean(), cols.mean()])
    rows, cols = np.nonzero(clip.masks[-1])
    last = np.array([rows.mean(), cols.mean()])
    assert np.linalg.norm(last - first) > 0.3 * 64  # the path is 0.44 * size long


def test_pixels_outside_the_mask_are_the_static_background_and_inside_the_object(clip):
    """Every pixel outside the mask equals the background (read from a frame where it is
    uncovered); the pixels that differ from it are inside the mask and cover it."""
    frames, masks = clip.frames.astype(int), clip.masks
    uncovered = ~masks
    first_free = np.argmax(uncovered, axis=0)  # a frame where each pixel shows the background
    known = uncovered.any(axis=0)
    background = np.take_along_axis(frames, first_free[None, ..., None], axis=0)[0]
    for t in range(len(frames)):
        differs = (frames[t] != background).any(axis=-1) & known
        assert not (differs & ~masks[t]).any(), f"frame {t}: a change outside the mask"
        inside = masks[t] & known
        # a pasted pixel equals the background in all three channels only by coincidence
        assert differs.sum() >= 0.95 * inside.sum(), f"frame {t}"


def ellipse_perimeter(area: float, ratio: float) -> float:
    """Ramanujan's approximation for an ellipse of this area and axis ratio b / a."""
    a = np.sqrt(area / (np.pi * ratio))
    b = ratio * a
    return np.pi * (3 * (a + b) - np.sqrt((3 * a + b) * (a + 3 * b)))


def test_mask_area_grows_by_the_zoom_squared():
    """The object's scale grows 1.4-fold from the first to the last frame, so its area
    grows 1.96-fold. A pixel count differs from the ellipse's area by at most the
    pixels its boundary crosses (taken as the perimeter, 140 / 165 axis ratio)."""
    clip = make_bundled_video(frames=2, size=224, seed=3)
    counts = clip.masks.sum(axis=(1, 2)).astype(float)
    slack = [ellipse_perimeter(c, 140 / 165) for c in counts]
    low = (counts[1] - slack[1]) / (counts[0] + slack[0])
    high = (counts[1] + slack[1]) / (counts[0] - slack[0])
    assert low <= 1.4**2 <= high
    assert high - low < 0.5  # the bound is informative, not vacuous


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="frames"):
        make_bundled_video(frames=1)
    with pytest.raises(ValueError, match="size"):
        make_bundled_video(size=8)


def test_mp4_in_the_cache_decodes_to_the_clip(tmp_path):
    path = bundled_video_path(tmp_path, frames=8, size=64, seed=0)
    assert path.parent == tmp_path and path.suffix == ".mp4"
    stamp = path.stat().st_mtime_ns
    assert bundled_video_path(tmp_path, frames=8, size=64, seed=0) == path
    assert path.stat().st_mtime_ns == stamp  # reused, not rewritten
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary left
    clip = make_bundled_video(frames=8, size=64, seed=0)
    video = read_video(path)
    assert video.frames.shape == clip.frames.shape and video.source_fps == clip.fps
    # lossy codec: each decoded frame is nearest to its own original frame
    diff = np.abs(video.frames[:, None].astype(int) - clip.frames[None].astype(int)).mean(axis=(2, 3, 4))
    np.testing.assert_array_equal(diff.argmin(axis=1), np.arange(8))
