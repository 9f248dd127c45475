"""Gradient methods: closed-form checks on a linear model and completeness of IG."""

import keras
import numpy as np
import pytest

from saliency_core import Explainer
from saliency_core.methods.edge import edge_map
from saliency_core.methods.random_map import random_map

from .models_for_tests import images, small_cnn


def linear_model(w, b=0.5):
    """logit_0 = sum(w * x) + b; logit_1 = 0. Gradient of class 0 is exactly w."""
    inputs = keras.Input(w.shape, dtype="float64")
    flat = keras.layers.Flatten(dtype="float64")(inputs)
    dense = keras.layers.Dense(2, dtype="float64")
    out = dense(flat)
    dense.set_weights([np.stack([w.ravel(), np.zeros(w.size)], axis=1), np.array([b, 0.0])])
    return keras.Model(inputs, out)


@pytest.fixture
def linear():
    w = np.random.default_rng(1).normal(size=(4, 4, 3))
    return w, Explainer(linear_model(w), variant="eager", batch_size=8)


def test_gradient_of_linear_model_is_its_weights(linear):
    w, ex = linear
    x = np.random.default_rng(2).normal(size=(3, 4, 4, 3))
    out = ex.explain(x, targets=[0, 0, 0], reduce="none")
    np.testing.assert_allclose(out.maps, np.broadcast_to(w, x.shape), rtol=1e-12)


def test_gradient_x_input_of_linear_model_is_w_times_x(linear):
    w, ex = linear
    x = np.random.default_rng(2).normal(size=(3, 4, 4, 3))
    out = ex.explain(x, targets=[0, 0, 0], method="gradient_x_input", reduce="none")
    np.testing.assert_allclose(out.maps, w * x, rtol=1e-12)


def test_smoothgrad_of_linear_model_equals_gradient_and_is_seeded():
    model = small_cnn("float64")
    ex = Explainer(model, variant="function", batch_size=16)
    x = images(2, dtype="float64")
    no_noise = ex.explain(x, method="smoothgrad", reduce="none", options={"noise_level": 0.0, "samples": 3})
    np.testing.assert_allclose(no_noise.maps, ex.explain(x, reduce="none").maps, rtol=1e-10)
    a = ex.explain(x, method="smoothgrad", options={"samples": 4}, seed=3).maps
    b = ex.explain(x, method="smoothgrad", options={"samples": 4}, seed=3).maps
    c = ex.explain(x, method="smoothgrad", options={"samples": 4}, seed=4).maps
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    assert ex.fn.traces == 1  # every method reuses the one compiled function


def test_integrated_gradients_completeness():
    """Sundararajan et al. (2017): attributions sum to f(x) - f(baseline)."""
    model = small_cnn("float64")
    ex = Explainer(model, variant="function", batch_size=64)
    x = images(2, dtype="float64")
    result = ex.explain(
        x, method="integrated_gradients", reduce="none", options={"steps": 256, "baseline": 0.0}
    )
    logits_x = np.asarray(model(x))
    logits_0 = np.asarray(model(np.zeros_like(x)))
    for i, t in enumerate(result.targets):
        expected = logits_x[i, t] - logits_0[i, t]
        assert result.maps[i].sum() == pytest.approx(expected, rel=1e-3, abs=1e-6)


def test_controls_are_model_independent_and_seeded():
    x = images(3)
    model_a, model_b = small_cnn(seed=0), small_cnn(seed=10)
    for method in ("random", "edge"):
        a = Explainer(model_a, variant="eager").explain(x, method=method).maps
        b = Explainer(model_b, variant="eager").explain(x, method=method).maps
        np.testing.assert_array_equal(a, b)
    # The random control depends on the seed and the image itself, never on its position
    # in a call (so chunked and sharded runs draw the same map for the same image).
    np.testing.assert_array_equal(random_map(x, seed=5)[2], random_map(x[::-1], seed=5)[0])
    np.testing.assert_array_equal(random_map(x[1:2], seed=5)[0], random_map(x, seed=5)[1])
    assert not np.array_equal(random_map(x, seed=5), random_map(x, seed=6))
    assert not np.array_equal(random_map(x, seed=5)[0], random_map(x, seed=5)[1])


def test_edge_map_peaks_on_a_step_edge():
    img = np.zeros((1, 9, 9, 3))
    img[:, :, 5:] = 1.0
    e = edge_map(img)[0]
    assert set(np.argmax(e, axis=1)) <= {4, 5}
    assert e[:, 0].max() == 0.0 and e[:, -1].max() == 0.0


def test_edge_map_of_an_image_does_not_depend_on_its_batch_neighbours():
    # A flat image has no edges, whatever images are filtered beside it (the Sobel
    # smoothing must not run along the batch axis).
    flat = np.full((9, 9, 3), 0.5)
    step = np.zeros((9, 9, 3))
    step[:, 5:] = 1.0
    batch = edge_map(np.stack([step, flat, step]))
    assert np.all(batch[1] == 0.0)
    np.testing.assert_array_equal(batch[0], edge_map(step[None])[0])


def test_smoothgrad_noise_is_per_image_not_per_call_or_chunk():
    """An image gets the same noise alone, beside other images, and at any batch size."""
    model = small_cnn("float64")
    x = images(3, dtype="float64")
    opts = {"samples": 5}
    together = (
        Explainer(model, variant="function", batch_size=4)
        .explain(x, method="smoothgrad", options=opts, seed=7, reduce="none")
        .maps
    )
    for batch_size in (1, 3, 16):
        ex = Explainer(model, variant="function", batch_size=batch_size)
        alone = ex.explain(x[2:3], method="smoothgrad", options=opts, seed=7, reduce="none").maps
        np.testing.assert_allclose(alone[0], together[2], rtol=1e-12, atol=1e-15)


def test_smoothgrad_and_ig_call_the_gradient_with_at_most_batch_size_images():
    """Memory is bounded by the batch size, not by images x samples (or steps)."""
    from saliency_core.methods.base import MethodContext, get_method

    x = images(3, dtype="float64")
    sizes = []

    def grad(inputs, targets):
        sizes.append(len(inputs))
        assert len(targets) == len(inputs)
        return np.ones_like(inputs)

    for name, opts, count in (
        ("smoothgrad", {"samples": 50}, 50),
        ("integrated_gradients", {"steps": 40}, 41),
    ):
        sizes.clear()
        unit = get_method(name)
        from saliency_core.methods.base import resolve_options

        ctx = MethodContext(
            images=x, targets=np.zeros(3, np.int32), grad=grad, clean=None, seed=0, batch_size=7
        )
        out = unit.attribute(ctx, resolve_options(unit, opts))
        assert out.shape == x.shape and np.isfinite(out).all()
        assert max(sizes) <= 7 and sum(sizes) == 3 * count
