"""Similarity measures of the randomization tests (Adebayo et al. 2018)."""

import numpy as np
import pytest
from skimage.metrics import structural_similarity

from saliency_core.checks.similarity import (
    constant_maps,
    SIMILARITIES,
    Reference,
    hog_spearman,
    spearman,
    spearman_abs,
    ssim,
)


@pytest.fixture
def maps():
    rng = np.random.default_rng(0)
    return rng.standard_normal((3, 24, 24)), rng.standard_normal((3, 24, 24))


@pytest.mark.parametrize("name", list(SIMILARITIES))
def test_identical_maps_score_exactly_one(maps, name):
    a, _ = maps
    out = SIMILARITIES[name](a, a.copy())
    assert out.shape == (3,) and out.dtype == np.float64
    assert np.all(out == 1.0)


@pytest.mark.parametrize("name", list(SIMILARITIES))
def test_constant_maps_are_defined(maps, name):
    a, _ = maps
    zeros, twos = np.zeros_like(a), np.full_like(a, 2.0)
    assert np.all(SIMILARITIES[name](zeros, zeros) == 1.0)
    assert np.all(np.isfinite(SIMILARITIES[name](zeros, a)))
    if name != "ssim":  # ranks: both constant -> 1, one constant -> 0
        assert np.all(SIMILARITIES[name](zeros, twos) == 1.0)
        assert np.all(SIMILARITIES[name](zeros, a) == 0.0)


def test_negation_spearman_minus_one_abs_one(maps):
    a, _ = maps
    np.testing.assert_allclose(spearman(a, -a), -1.0, atol=1e-12)
    np.testing.assert_allclose(spearman_abs(a, -a), 1.0, atol=1e-12)


def test_spearman_invariant_to_monotone_transforms(maps):
    a, b = maps
    ref = spearman(a, b)
    np.testing.assert_allclose(spearman(np.exp(a), 3 * b**3 + 1), ref, atol=1e-12)
    # |.| of a positive monotone transform of a positive map: abs Spearman unchanged too
    np.testing.assert_allclose(spearman_abs(np.exp(a), np.exp(b)), spearman(a, b), atol=1e-12)


def test_spearman_matches_scipy(maps):
    from scipy.stats import spearmanr

    a, b = maps
    expected = [spearmanr(x.ravel(), y.ravel()).statistic for x, y in zip(a, b)]
    np.testing.assert_allclose(spearman(a, b), expected, atol=1e-12)
    expected_abs = [spearmanr(np.abs(x).ravel(), np.abs(y).ravel()).statistic for x, y in zip(a, b)]
    np.testing.assert_allclose(spearman_abs(a, b), expected_abs, atol=1e-12)


def test_ssim_matches_skimage_on_min_max_normalised_maps(maps):
    a, b = maps
    b = 0.7 * a + 0.3 * b  # partly similar, so SSIM is far from 0 and 1
    scale = lambda m: (m - m.min()) / (m.max() - m.min())  # noqa: E731
    expected = [structural_similarity(scale(x), scale(y), data_range=1.0) for x, y in zip(a, b)]
    np.testing.assert_allclose(ssim(a, b), expected, rtol=1e-12)
    assert 0.2 < ssim(a, b).min() < 0.99
    # Per-map scaling: SSIM ignores each map's scale and offset
    np.testing.assert_allclose(ssim(1000 * a + 5, b), expected, rtol=1e-9)


def test_hog_spearman_compares_structure(maps):
    a, b = maps
    same_structure = hog_spearman(a, 10 * a + 1)  # HOG after min-max scaling: identical
    np.testing.assert_allclose(same_structure, 1.0, atol=1e-12)
    assert np.all(hog_spearman(a, b) < 0.6)
    assert hog_spearman(np.zeros((1, 8, 8)), np.zeros((1, 8, 8)))[0] == 1.0  # small maps work


def test_hog_spearman_matches_scipy_on_skimage_hog_features(maps):
    # Independent reference: skimage's HOG of the min-max scaled maps (8 px cells,
    # 2 x 2 blocks, L2-Hys), ranked by scipy.
    from scipy.stats import spearmanr
    from skimage.feature import hog

    a, b = maps
    b = 0.6 * a + 0.4 * b
    scale = lambda m: (m - m.min()) / (m.max() - m.min())  # noqa: E731
    feats = lambda m: hog(  # noqa: E731
        scale(m),
        orientations=9,
        pixels_per_cell=(8, 8),
        cells_per_block=(2, 2),
        block_norm="L2-Hys",
        feature_vector=True,
    )
    expected = [spearmanr(feats(x), feats(y)).statistic for x, y in zip(a, b)]
    np.testing.assert_allclose(hog_spearman(a, b), expected, rtol=1e-12)


def test_shape_mismatch_and_nan_rejected(maps):
    a, b = maps
    with pytest.raises(ValueError, match="same shape"):
        spearman(a, b[:2])
    bad = a.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        ssim(bad, b)


def test_single_map_pairs_accepted(maps):
    a, b = maps
    assert spearman(a[0], b[0]).shape == (1,)


def test_reference_compare_equals_the_pairwise_functions():
    # The prepared reference must give the very numbers of the pure functions: the
    # trained maps, a changed set, a set with one map identical, and constant maps.
    rng = np.random.default_rng(5)
    ref = rng.normal(size=(4, 24, 24))
    other = rng.normal(size=(4, 24, 24)) + 0.5 * ref
    other[1] = ref[1]
    other[2] = -ref[2]  # same |map|: spearman_abs is 1, spearman is -1
    ref[3] = 0.0
    other[3] = 0.0
    reference = Reference(ref)
    got = reference.compare(other)
    assert got.shape == (len(SIMILARITIES), 4)
    for row, fn in zip(got, SIMILARITIES.values()):
        np.testing.assert_array_equal(row, fn(ref, other))
    assert got[0, 2] == 1.0 and got[1, 2] == -1.0 and (got[:, 1] == 1.0).all()
    assert Reference(ref, ("ssim",)).compare(other).shape == (1, 4)
    with pytest.raises(ValueError, match="unknown similarity measure"):
        Reference(ref, ("pearson",))


def test_constant_maps_flags_maps_with_one_value_everywhere():
    rng = np.random.default_rng(0)
    maps = rng.normal(size=(4, 5, 6))
    maps[1] = 0.0
    maps[2] = -3.5
    maps[3] = 0.25
    maps[3, 2, 2] = np.nextafter(0.25, np.inf)  # varies by one ulp: not constant
    assert constant_maps(maps).tolist() == [False, True, True, False]
    assert constant_maps(np.zeros((2, 1, 1))).tolist() == [True, True]  # one pixel ranks nothing
