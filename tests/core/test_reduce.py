"""Channel reductions and normalisation against hand-computed references."""

import numpy as np
import pytest

from saliency_core import normalize_maps, reduce_channels


def _fixed():
    rng = np.random.default_rng(7)
    return rng.normal(size=(2, 5, 4, 3))


def recipe_normalize_image(img):
    """The TF2 recipe's normalize_image, written out: sum the three channels, then
    (x - min) / (max - min). Reference for reduce="sum" + normalize."""
    summed = img[:, :, 0] + img[:, :, 1] + img[:, :, 2]
    return (summed - summed.min()) / (summed.max() - summed.min())


def test_sum_with_minmax_normalisation_equals_recipe_normalize_image():
    a = _fixed()
    ours = normalize_maps(reduce_channels(a, "sum"))
    for i in range(len(a)):
        np.testing.assert_allclose(ours[i], recipe_normalize_image(a[i]), rtol=1e-12)


@pytest.mark.parametrize(
    "name, reference",
    [
        ("max_abs", lambda a: np.abs(a).max(-1)),
        ("sum_abs", lambda a: np.abs(a).sum(-1)),
        ("l2", lambda a: np.sqrt((a**2).sum(-1))),
    ],
)
def test_reductions_match_definitions(name, reference):
    a = _fixed()
    np.testing.assert_allclose(reduce_channels(a, name), reference(a))


def test_max_abs_picks_the_largest_magnitude_channel():
    a = np.zeros((1, 1, 1, 3))
    a[0, 0, 0] = [0.5, -2.0, 1.0]
    assert reduce_channels(a, "max_abs")[0, 0, 0] == 2.0
    assert reduce_channels(a, "sum")[0, 0, 0] == -0.5


def test_none_keeps_channels():
    a = _fixed()
    assert reduce_channels(a, "none").shape == a.shape


def test_constant_map_normalises_to_zeros_not_nan():
    maps = np.stack([np.full((4, 4), 3.0), np.arange(16.0).reshape(4, 4)])
    out = normalize_maps(maps)
    assert not np.isnan(out).any()
    np.testing.assert_array_equal(out[0], 0.0)
    assert out[1].min() == 0.0 and out[1].max() == 1.0


def test_unknown_reduction_and_wrong_rank_are_errors():
    with pytest.raises(ValueError, match="unknown reduce 'mean'"):
        reduce_channels(_fixed(), "mean")
    with pytest.raises(ValueError, match=r"\(N, H, W, C\)"):
        reduce_channels(np.zeros((4, 4, 3)), "sum")
