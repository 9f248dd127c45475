"""sMPRT (Hedstroem et al., arXiv:2401.06465 / 2405.02383): maps averaged over noisy
copies of the input, trained vs fully randomized model."""

import numpy as np
import pytest

from saliency_core import Explainer
from saliency_core.checks import CheckSettings, run_checks
from saliency_core.checks.denoise import denoised_maps, noise_seeds
from saliency_core.checks.similarity import SIMILARITIES, Reference, spearman_abs
from saliency_core.data.synthetic_cnn import small_cnn
from saliency_core.methods import METHODS, Method, register_method

from .randomization_models import SIZE, fully_randomized, images, patch_cnn

EPS32 = float(np.finfo(np.float32).eps)


class Identity(Method):
    """The input itself as the attribution: its denoised map is the mean noisy input."""

    name = "smprt-test-identity"
    kind = "control"

    def attribute(self, ctx, opts):
        return ctx.images


@pytest.fixture(scope="module", autouse=True)
def identity_method():
    register_method(Identity)
    yield
    METHODS.remove(Identity.name)


@pytest.fixture(scope="module")
def model():
    return patch_cnn()


def _run(model, x, methods, seed=0, **settings):
    return run_checks(
        model,
        x,
        methods=methods,
        metrics=["smprt"],
        seed=seed,
        data_name="t",
        variant="function",
        batch_size=4,
        settings=CheckSettings(metric_settings={"smprt": {"samples": 8, **settings}}),
    )


# --- the denoising step -------------------------------------------------------------------


def test_noise_is_the_documented_gaussian_per_image_stream(model):
    # Map of copy j of image i = sum over channels of x_i + sigma_i * z_ij, where z_ij is
    # the j-th (float32) standard normal draw of image i's generator and
    # sigma_i = 0.1 * (max x_i - min x_i).
    x = images(3) * np.array([1.0, 2.0, 0.5], "float32")[:, None, None, None]  # unequal ranges
    samples, level = 5, 0.1
    out = denoised_maps(
        Explainer(model, variant="function", batch_size=4),
        x,
        seed=3,
        method=Identity.name,
        samples=samples,
        noise_level=level,
    )
    for i, s in enumerate(noise_seeds(3, x)):
        z = np.random.default_rng(int(s)).standard_normal((samples, *x.shape[1:]), np.float32)
        sigma = level * (x[i].max() - x[i].min())
        noisy = x[i][None].astype(np.float64) + sigma * z
        expected = noisy.sum(axis=-1).mean(axis=0)
        # The pipeline rounds x + sigma z and the channel sum to float32.
        bound = 4 * EPS32 * np.abs(noisy).sum(axis=-1).max()
        np.testing.assert_allclose(out.maps[i], expected, rtol=0, atol=bound)
    assert out.options["samples"] == samples and out.options["noise_level"] == level


def test_maps_do_not_depend_on_the_chunk_size(model):
    x = images(3)
    for method in ("edge", Identity.name):
        a, b = (
            denoised_maps(
                Explainer(model, variant="function", batch_size=bs),
                x,
                seed=0,
                method=method,
                samples=7,
                noise_level=0.2,
            ).maps
            for bs in (3, 8)
        )
        np.testing.assert_array_equal(a, b)


def test_a_linear_model_s_denoised_gradient_is_its_gradient():
    # The gradient of a linear model does not depend on the input: averaging it over
    # noisy copies returns it (up to the rounding of a mean of N equal numbers).
    import keras

    inputs = keras.Input((SIZE, SIZE, 3))
    linear = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.Flatten()(inputs)))
    explainer = Explainer(linear, variant="function", batch_size=4)
    x = images(2)
    plain = explainer.explain(x, method="gradient", reduce="sum").maps.astype(np.float64)
    smooth = denoised_maps(explainer, x, seed=0, method="gradient", samples=9, noise_level=0.5)
    np.testing.assert_allclose(smooth.maps, plain, rtol=9 * np.finfo(np.float64).eps)
    np.testing.assert_array_equal(smooth.targets, explainer.explain(x).targets)


def test_averaging_reduces_the_noise_term():
    # Two independent noise draws (seeds) of the same model's maps agree more after
    # averaging N = 32 copies than for one noisy copy each: the mean's noise shrinks
    # like 1/sqrt(N) while the signal stays.
    cnn, x = small_cnn(4, image_size=SIZE, seed=0, filters=(4, 8)), images(4)
    explainer = Explainer(cnn, variant="function", batch_size=8)

    def agreement(samples):
        a, b = (
            denoised_maps(explainer, x, seed=s, method="gradient", samples=samples, noise_level=0.1).maps
            for s in (0, 1)
        )
        return spearman_abs(a, b)

    one, many = agreement(1), agreement(32)
    assert np.all(many > one), (one, many)


def test_bad_settings_are_clear_errors(model):
    explainer = Explainer(model, variant="function")
    with pytest.raises(ValueError, match="samples"):
        denoised_maps(explainer, images(1), seed=0, method="gradient", samples=0, noise_level=0.1)
    with pytest.raises(ValueError, match="noise_level"):
        denoised_maps(explainer, images(1), seed=0, method="gradient", samples=2, noise_level=-1)
    with pytest.raises(ValueError, match="metric 'smprt' has no setting 'n'"):
        _run(model, images(1), ["gradient"], n=3)


# --- the metric ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def report(model):
    return _run(model, images(), ["gradient", "edge", "random"])


def test_controls_score_exactly_one(report):
    for control in ("edge", "random"):
        r = report.get(control, "smprt")
        assert r.ok, r.reason
        assert r.per_image == [1.0] * 3 and r.value == 1.0
        assert r.statistics == {m: 1.0 for m in SIMILARITIES}


def test_value_compares_denoised_maps_of_trained_and_fully_randomized_model(model, report):
    # Independent computation: denoised maps of the trained model and of a separately
    # built, fully randomized copy (same noise, the trained model's classes).
    x = images()
    trained = denoised_maps(
        Explainer(model, variant="function", batch_size=4),
        x,
        seed=0,
        method="gradient",
        samples=8,
        noise_level=0.1,
    )
    randomized = denoised_maps(
        Explainer(fully_randomized(model, 0), variant="function", batch_size=4),
        x,
        seed=0,
        method="gradient",
        samples=8,
        noise_level=0.1,
        targets=trained.targets,
    )
    expected = Reference(trained.maps, tuple(SIMILARITIES)).compare(randomized.maps)
    r = report.get("gradient", "smprt")
    assert r.ok and r.direction == "lower"
    np.testing.assert_allclose(r.per_image, expected[0], rtol=1e-12)  # spearman_abs
    for i, m in enumerate(SIMILARITIES):
        np.testing.assert_allclose(r.statistics[m], expected[i].mean(), rtol=1e-12)
    assert r.value < 0.5  # the gradient moves when the evidence is destroyed
    assert r.config["samples"] == 8 and r.config["noise_level"] == 0.1


def test_layerwise_walks_bottom_up_and_ends_at_the_same_value(model, report):
    r = _run(model, images(), ["gradient"], layerwise=True).get("gradient", "smprt")
    assert r.ok and r.config["order"] == "bottom_up" and r.config["steps"] == 2
    assert r.per_image == report.get("gradient", "smprt").per_image


def test_same_seed_same_values_other_seed_other_values(model):
    x = images()
    a, b = (_run(model, x, ["gradient"], seed=5).get("gradient", "smprt") for _ in range(2))
    assert a.per_image == b.per_image
    c = _run(model, x, ["gradient"], seed=6).get("gradient", "smprt")
    assert c.per_image != a.per_image
