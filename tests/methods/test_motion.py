"""The motion control: optical-flow magnitude, checked on known motion and the bundled video."""

import sys

import numpy as np
import pytest
from scipy import ndimage

from saliency_core.data import make_bundled_video
from saliency_core.methods import get_method, resolve_options
from saliency_core.methods.motion import MotionOptions, motion_map

RAW = MotionOptions(sigma=0.0, noise_floor=1e6)
"""No smoothing, and a floor above any peak: maps * 1e6 are flow magnitudes in px/frame."""


@pytest.fixture(scope="module")
def clip():
    return make_bundled_video(frames=8, size=224, seed=0)


def translated_texture(shift: float, frames: int = 3, side: int = 64) -> np.ndarray:
    """A smooth random texture moving ``shift`` pixels per frame to the right."""
    texture = ndimage.gaussian_filter(np.random.default_rng(0).uniform(0, 255, (160, 160)), 2.0)
    moved = [ndimage.shift(texture, (0, shift * t), order=3, mode="reflect") for t in range(frames)]
    return np.stack([m[40 : 40 + side, 40 : 40 + side] for m in moved])


@pytest.mark.parametrize("shift", [1.0, 2.5])
def test_magnitude_is_the_translation_in_pixels_per_frame(shift):
    """Closed form: a rigid translation by ``shift`` px has flow magnitude ``shift``
    everywhere (the median over the frame; Farneback is exact only up to its
    polynomial model, so 5 % of the shift)."""
    flow = motion_map(translated_texture(shift), RAW) * RAW.noise_floor
    assert flow.shape == (3, 64, 64)
    np.testing.assert_allclose(np.median(flow, axis=(1, 2)), shift, rtol=0.05)


def test_frame_t_uses_the_pair_t_minus_1_t_and_frame_0_the_pair_0_1(clip):
    maps = motion_map(clip.frames)
    np.testing.assert_array_equal(maps[0], maps[1])  # both from the pair (0, 1)
    pair = motion_map(clip.frames[2:4])  # only frames 2 and 3
    np.testing.assert_array_equal(maps[3], pair[1])
    assert not np.array_equal(maps[3], maps[4])


def test_motion_is_on_the_moving_object(clip):
    """Far more of the map's mass lies on the object than the mask's area fraction
    (what a map spread uniformly, or placed at random, would get)."""
    maps = motion_map(clip.frames)
    assert maps.shape == (8, 224, 224) and maps.min() >= 0
    np.testing.assert_array_equal(maps.max(axis=(1, 2)), 1.0)  # moving frames peak at 1
    mass = (maps * clip.masks).sum(axis=(1, 2)) / maps.sum(axis=(1, 2))
    chance = clip.masks.mean(axis=(1, 2))
    assert (mass > 3 * chance).all(), (mass, chance)


def test_static_video_has_no_motion(clip):
    static = np.repeat(clip.frames[:1], 8, axis=0)
    maps = motion_map(static)
    assert maps.max() < 1e-3  # the moving clip peaks at 1 in every frame


def test_a_frame_below_the_noise_floor_is_scaled_by_the_floor_not_its_peak(clip):
    """Pixel noise on a static frame moves nothing: its flow is divided by the floor,
    so two floors above its peak give maps in the ratio of the floors."""
    rng = np.random.default_rng(1)
    static = np.repeat(clip.frames[:1].astype(float), 4, axis=0)
    noisy = np.clip(static + rng.normal(0, 3, static.shape), 0, 255)
    raw = motion_map(noisy, RAW) * RAW.noise_floor
    floor = 2 * raw.max()
    at_floor = motion_map(noisy, MotionOptions(noise_floor=floor))
    at_twice = motion_map(noisy, MotionOptions(noise_floor=2 * floor))
    np.testing.assert_allclose(at_floor, 2 * at_twice, rtol=1e-12)
    assert at_floor.max() < 1


def test_registered_as_a_sequence_control():
    method = get_method("motion")
    assert method.kind == "control" and method.needs_sequence and method.model_independent
    assert resolve_options(method, {"winsize": "9"}) == MotionOptions(winsize=9)
    with pytest.raises(ValueError, match="pyr_scale"):
        motion_map(np.zeros((2, 16, 16)), MotionOptions(pyr_scale=1.5))
    with pytest.raises(ValueError, match="poly_n"):
        motion_map(np.zeros((2, 16, 16)), MotionOptions(poly_n=4))


def test_needs_two_frames():
    with pytest.raises(ValueError, match="at least 2"):
        motion_map(np.zeros((1, 16, 16, 3)))


def test_explainer_refuses_still_images_and_runs_on_frames():
    import keras

    from saliency_core import Explainer

    clip = make_bundled_video(frames=4, size=32, seed=0)
    model = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Flatten(), keras.layers.Dense(2)])
    explainer = Explainer(model, variant="eager", batch_size=4)
    with pytest.raises(ValueError, match="consecutive video frames"):
        explainer.explain(clip.frames, method="motion")
    out = explainer.explain(clip.frames, method="motion", sequence=True)
    np.testing.assert_allclose(out.maps, motion_map(clip.frames.astype(np.float32)), rtol=1e-12)
    assert out.method == "motion" and out.options["winsize"] == 15


def test_missing_opencv_gives_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "cv2", None)
    with pytest.raises(ImportError, match=r"saliency-bench\[video\]"):
        motion_map(np.zeros((2, 16, 16)))


def test_the_intensity_scale_of_the_frames_does_not_matter(clip):
    """Frames in [0, 1] or standardised (a classifier's inputs) move as much as the same
    frames in [0, 255]; OpenCV's Farneback alone would give them almost no flow."""
    frames = clip.frames[:4].astype(np.float64)
    reference = motion_map(frames, RAW) * RAW.noise_floor
    for scale, shift in ((1 / 255.0, 0.0), ((1 / 58.0), -2.0)):
        moved = motion_map(frames * scale + shift, RAW) * RAW.noise_floor
        np.testing.assert_allclose(moved.max(axis=(1, 2)), reference.max(axis=(1, 2)), rtol=0.01)


def test_a_static_video_is_exactly_zero_below_the_static_floor(clip):
    """OpenCV's residue on identical frames (under 1e-5 px) is far below the 0.01 px
    floor, so static pixels tie at exactly 0 instead of ranking by texture."""
    static = np.repeat(clip.frames[:1], 3, axis=0)
    np.testing.assert_array_equal(motion_map(static), 0.0)
    residue = motion_map(static, MotionOptions(static_floor=0.0, noise_floor=1.0))
    assert 0 < residue.max() < MotionOptions().static_floor / 100
