"""eMPRT (Hedstroem et al., arXiv:2401.06465 / 2405.02383): the entropy of a map's
value histogram, and its relative rise from the trained to the fully randomized model."""

import numpy as np
import pytest
import scipy.stats

from saliency_core import Explainer
from saliency_core.checks import CheckSettings, run_checks
from saliency_core.checks.complexity import histogram_entropy, relative_rise

from .randomization_models import fully_randomized, images, patch_cnn

EPS = np.finfo(np.float64).eps


# --- the complexity measure: closed forms ---------------------------------------------


def test_a_constant_map_has_zero_entropy():
    assert histogram_entropy(np.full((2, 16, 16), 3.5)).tolist() == [0.0, 0.0]
    assert histogram_entropy(np.zeros((16, 16))).tolist() == [0.0]  # one (H, W) map


@pytest.mark.parametrize("bins", [1, 7, 100])
def test_values_filling_every_bin_equally_give_log_bins(bins):
    # Levels 0..B-1, 5 pixels each: level j falls in bin j of B equal bins over [0, B-1],
    # so every bin holds 1/B of the values and H = log B, the maximum.
    levels = np.repeat(np.arange(bins, dtype=np.float64), 5).reshape(1, bins, 5)
    [h] = histogram_entropy(levels, bins)
    # A sum of B terms p log p carries at most B rounding errors of about eps each.
    assert h == pytest.approx(np.log(bins), rel=0, abs=4 * bins * EPS * max(1.0, np.log(bins)))
    assert h <= np.log(bins) + 4 * bins * EPS * max(1.0, np.log(bins))


@pytest.mark.parametrize("pixels", [4, 256])
def test_a_one_hot_map_has_the_binary_entropy_of_one_pixel_in_p(pixels):
    # A histogram of values, not of the pixels' share: one value 1 (top bin) and P - 1
    # zeros (bottom bin), so H = -(1/P) log(1/P) - ((P-1)/P) log((P-1)/P), not 0.
    one_hot = np.zeros((1, pixels))
    one_hot[0, 1] = 1.0
    q = 1.0 / pixels
    expected = -q * np.log(q) - (1 - q) * np.log(1 - q)
    assert histogram_entropy(one_hot)[0] == pytest.approx(expected, rel=8 * EPS)


def test_matches_scipy_entropy_of_numpy_histogram_and_ignores_scale_and_shift():
    maps = np.random.default_rng(0).standard_normal((4, 16, 16)) ** 3  # heavy tails
    expected = [scipy.stats.entropy(np.histogram(m, bins=100)[0]) for m in maps]
    np.testing.assert_allclose(histogram_entropy(maps), expected, rtol=100 * EPS)
    # Bins follow each map's range: a power-of-two scale (exact in floating point)
    # gives the same histogram, so normalising a map cannot change its complexity.
    assert histogram_entropy(maps * 8.0).tolist() == histogram_entropy(maps).tolist()
    assert histogram_entropy(maps / 1024.0).tolist() == histogram_entropy(maps).tolist()


def test_bad_input_is_a_clear_error():
    with pytest.raises(ValueError, match=r"index \[1\]"):
        histogram_entropy(np.stack([np.zeros((4, 4)), np.full((4, 4), np.nan)]))
    for bins in (0, 2.5, True):
        with pytest.raises(ValueError, match="bins"):
            histogram_entropy(np.zeros((1, 4, 4)), bins)


def test_relative_rise():
    np.testing.assert_array_equal(relative_rise([2.0, 1.0, 0.0], [3.0, 1.0, 0.0]), [0.5, 0.0, 0.0])
    with pytest.raises(ValueError, match=r"image\(s\) \[1\] is constant"):
        relative_rise([1.0, 0.0], [1.0, 0.5])


# --- the metric ---------------------------------------------------------------------------


def _run(model, x, methods, seed=0, **settings):
    return run_checks(
        model,
        x,
        methods=methods,
        metrics=["emprt"],
        seed=seed,
        data_name="t",
        variant="function",
        batch_size=4,
        settings=CheckSettings(metric_settings={"emprt": settings} if settings else {}),
    )


@pytest.fixture(scope="module")
def model():
    return patch_cnn()


@pytest.fixture(scope="module")
def report(model):
    return _run(model, images(), ["gradient", "edge", "random"])


def test_controls_rise_exactly_zero_ratio_exactly_one(report):
    for control in ("edge", "random"):
        r = report.get(control, "emprt")
        assert r.ok, r.reason
        assert r.per_image == [0.0] * 3 and r.value == 0.0
        assert r.statistics["ratio"] == 1.0
        assert r.statistics["complexity_trained"] == r.statistics["complexity_randomized"] > 0


def test_gradient_complexity_rises_after_randomization_as_computed_independently(model, report):
    # Independent computation: the trained model's and a separately built, fully
    # randomized copy's gradient maps (of the trained model's top-1 class), their
    # value-histogram entropies (100 bins).
    x = images()
    base = Explainer(model, variant="function").explain(x, method="gradient", reduce="sum")
    other = Explainer(fully_randomized(model, seed=0), variant="function").explain(
        x, targets=base.targets, method="gradient", reduce="sum"
    )
    trained, randomized = histogram_entropy(base.maps, 100), histogram_entropy(other.maps, 100)
    r = report.get("gradient", "emprt")
    assert r.ok and r.direction == "higher"
    np.testing.assert_allclose(r.per_image, (randomized - trained) / trained, rtol=1e-12)
    np.testing.assert_allclose(r.statistics["ratio"], np.mean(randomized / trained), rtol=1e-12)
    # The trained map is zero outside the 6 x 6 pixels the patch's features see; the
    # randomized head uses every feature, so the gradient spreads: complexity rises.
    assert np.all(np.asarray(r.per_image) > 0) and r.statistics["ratio"] > 1


def test_same_seed_same_values_other_seed_other_weights(model):
    x = images()
    a, b = (_run(model, x, ["gradient"], seed=5).get("gradient", "emprt") for _ in range(2))
    assert a.per_image == b.per_image
    c = _run(model, x, ["gradient"], seed=6).get("gradient", "emprt")
    assert c.statistics["complexity_trained"] == a.statistics["complexity_trained"]
    assert c.statistics["complexity_randomized"] != a.statistics["complexity_randomized"]


def test_bins_setting_is_used_and_checked(model):
    x = images()
    r = _run(model, x, ["gradient"], bins="16").get("gradient", "emprt")  # strings convert
    assert r.ok and r.config["bins"] == 16
    trained = histogram_entropy(
        Explainer(model, variant="function").explain(x, method="gradient", reduce="sum").maps, 16
    )
    np.testing.assert_allclose(r.statistics["complexity_trained"], trained.mean(), rtol=1e-12)
    with pytest.raises(ValueError, match="metric 'emprt' has no setting 'nbins'"):
        _run(model, x, ["gradient"], nbins=16)
    with pytest.raises(ValueError, match="setting emprt.bins must be a int"):
        _run(model, x, ["gradient"], bins="many")


@pytest.mark.slow
def test_a_trained_cnn_s_gradient_gets_more_complex_when_randomized():
    # The synthetic-shapes CNN (trained once per session, cached): its gradient maps
    # concentrate on the class-defining object; after every layer is re-drawn the map
    # loses that structure and its value histogram spreads (Hedstroem et al.'s premise).
    # Measured here: rises 0.19-0.62 on these 8 images (mean ratio 1.36).
    from saliency_core.data import synthetic, synthetic_cnn

    model = synthetic_cnn.load_synthetic_cnn(seed=0)
    test = synthetic.make_synthetic(8, image_size=int(model.inputs[0].shape[1]), seed=1)
    report = run_checks(
        model,
        test.images,
        methods=["gradient", "edge"],
        metrics=["emprt"],
        seed=0,
        data_name="synthetic",
        variant="function",
        targets=test.labels,
    )
    gradient, edge = report.get("gradient", "emprt"), report.get("edge", "emprt")
    assert np.all(np.asarray(gradient.per_image) > 0) and gradient.statistics["ratio"] > 1
    assert edge.value == 0.0 and edge.statistics["ratio"] == 1.0
