"""Video metrics: temporal stability and motion agreement."""

import numpy as np
import pytest

from saliency_core.checks.similarity import spearman_abs, ssim
from saliency_core.checks.temporal import STABILITY_MEASURES, motion_agreement, temporal_stability
from saliency_core.data import make_bundled_video
from saliency_core.methods.motion import motion_map

T, SIDE = 8, 64


@pytest.fixture(scope="module")
def clip():
    return make_bundled_video(frames=T, size=SIDE, seed=0)


@pytest.fixture(scope="module")
def motion(clip):
    return motion_map(clip.frames)


def test_identical_consecutive_maps_are_perfectly_stable():
    one = np.random.default_rng(0).standard_normal((SIDE, SIDE))
    out = temporal_stability(np.repeat(one[None], T, axis=0), np.zeros((T, SIDE, SIDE, 3)))
    assert set(out.maps) == set(STABILITY_MEASURES)
    for measure in STABILITY_MEASURES:
        assert out.maps[measure].shape == (T - 1,)
        np.testing.assert_array_equal(out.maps[measure], 1.0)
        np.testing.assert_array_equal(out.frames[measure], 1.0)  # a static input


def test_values_are_the_similarity_measures_of_consecutive_pairs(clip, motion):
    out = temporal_stability(motion, clip.frames)
    np.testing.assert_array_equal(out.maps["ssim"], ssim(motion[:-1], motion[1:]))
    np.testing.assert_array_equal(out.maps["spearman_abs"], spearman_abs(motion[:-1], motion[1:]))
    gray = clip.frames.mean(axis=-1)
    np.testing.assert_array_equal(out.frames["ssim"], ssim(gray[:-1], gray[1:]))
    assert (out.frames["ssim"] < 1).all()  # the object moves


def test_shuffled_maps_are_less_stable(motion):
    """The motion maps follow the object smoothly; in a shuffled order consecutive
    maps are those of distant frames."""
    order = np.r_[0:T:2, 1:T:2]  # 0 2 4 6 1 3 5 7: no pair of neighbours stays adjacent
    ordered, shuffled = temporal_stability(motion), temporal_stability(motion[order])
    for measure in STABILITY_MEASURES:
        assert shuffled.maps[measure].mean() < ordered.maps[measure].mean(), measure


def test_independent_random_maps_have_no_rank_stability():
    """Spearman of independent maps is 0 with standard deviation 1 / sqrt(n - 1)."""
    maps = np.random.default_rng(2).uniform(size=(T, SIDE, SIDE))
    rho = temporal_stability(maps, measures=("spearman_abs",)).maps["spearman_abs"]
    assert np.abs(rho).max() < 5 / np.sqrt(SIDE * SIDE - 1)


def test_motion_map_agrees_with_itself_and_lies_on_the_object(clip, motion):
    out = motion_agreement(motion, motion, clip.masks)
    np.testing.assert_array_equal(out.spearman, 1.0)
    np.testing.assert_array_equal(out.chance, clip.masks.mean(axis=(1, 2)))
    assert (out.mask_mass > 2 * out.chance).all()


def test_random_map_agrees_at_chance(clip, motion):
    """A map of i.i.d. uniform values: Spearman with the motion map is 0 with sd
    1 / sqrt(n - 1), and its mass fraction in a mask of area fraction p is p with sd
    cv * sqrt(p (1 - p) / n), cv^2 = 1/3 for a uniform variable (delta method)."""
    n = SIDE * SIDE
    noise = np.random.default_rng(3).uniform(size=(T, SIDE, SIDE))
    out = motion_agreement(noise, motion, clip.masks)
    assert np.abs(out.spearman).max() < 5 / np.sqrt(n - 1)
    sd = np.sqrt(out.chance * (1 - out.chance) / (3 * n))
    assert (np.abs(out.mask_mass - out.chance) < 5 * sd).all()
    assert motion_agreement(noise, motion).mask_mass is None  # no masks, no mass


def test_bad_input_is_named(motion):
    with pytest.raises(ValueError, match="at least 2 frames"):
        temporal_stability(motion[:1])
    with pytest.raises(ValueError, match="frames have shape"):
        temporal_stability(motion, np.zeros((T, 8, 8, 3)))
    with pytest.raises(ValueError, match="unknown similarity"):
        temporal_stability(motion, measures=("pearson",))
    with pytest.raises(ValueError, match="same shape"):
        motion_agreement(motion, motion[:-1])
    with pytest.raises(ValueError, match="same shape"):
        motion_agreement(motion, motion, np.ones((T, 8, 8), bool))
