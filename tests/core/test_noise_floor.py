"""float64_copy rebuilds a network in float64; measure_noise_floor is float32's rounding
against an independent float64 computation (numpy, closed-form gradient)."""

import keras
import numpy as np
import pytest

from saliency_core import Explainer, as_classifier, measure_noise_floor
from saliency_core.noise_floor import NoiseFloorError, float64_copy

from .models_for_tests import images, small_cnn

# Two float64 computations of the same network in the same order differ by float64
# rounding at most: 1000 float64 ulps is still 1e-9 of a float32 ulp's worth of room.
F64_RTOL = 1000 * np.finfo(np.float64).eps


def _pool_net(dtype="float32"):
    inputs = keras.Input((8, 8, 3), dtype=dtype)
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", dtype=dtype, name="conv")(inputs)
    x = keras.layers.BatchNormalization(dtype=dtype, name="bn")(x)
    x = keras.layers.MaxPooling2D(2, dtype=dtype, name="pool")(x)
    x = keras.layers.Flatten(dtype=dtype)(x)
    return keras.Model(inputs, keras.layers.Dense(3, activation="softmax", dtype=dtype, name="head")(x))


def test_float64_copy_computes_the_network_in_float64():
    model, reference = _pool_net(), _pool_net("float64")  # reference: built in float64 directly
    rng = np.random.default_rng(0)
    weights = [w + rng.normal(size=w.shape).astype(np.float32) * 0.1 for w in model.get_weights()]
    weights[3] = np.abs(weights[3]) + 0.5  # BatchNormalization's moving variance stays positive
    model.set_weights(weights)
    reference.set_weights([w.astype(np.float64) for w in weights])
    clf = as_classifier(model)
    assert clf.logits_source == "stripped-softmax"  # a head that cannot be rebuilt from its config
    copy = float64_copy(clf)
    assert copy.name == f"{clf.name}-float64" and copy.dtype == "float64"
    assert all(w.dtype == "float64" for w in copy.model.weights)
    x = images(4, size=8).astype(np.float64)
    features = keras.Model(reference.input, reference.get_layer("head").input)(x).numpy()
    expected = features @ weights[-2].astype(np.float64) + weights[-1]
    got = copy.model(x).numpy()
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, expected, rtol=F64_RTOL, atol=F64_RTOL * np.abs(expected).max())
    # float32 differs from it by float32 rounding, far more than F64_RTOL
    assert (
        np.abs(clf.model(x.astype(np.float32)).numpy() - expected).max()
        > 100 * F64_RTOL * np.abs(expected).max()
    )


class _Calls(keras.layers.Layer):
    """Takes a function in its constructor: Keras cannot rebuild it from a config."""

    def __init__(self, fn, **kwargs):
        super().__init__(**kwargs)
        self.fn = fn

    def call(self, x):
        return self.fn(x)


def test_a_layer_that_cannot_be_rebuilt_is_named():
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(2)(_Calls(lambda x: 2 * x, name="twice")(inputs)))
    with pytest.raises(NoiseFloorError, match="layer 'twice' \\(_Calls\\)"):
        float64_copy(model)


def test_the_floor_is_float32_against_an_independent_float64_computation():
    """A two-layer ReLU network: float64 logits by numpy and the input gradient in
    closed form, W1 @ (mask * W2[:, t]), from the same float32 weights."""
    rng = np.random.default_rng(4)
    w1, b1 = rng.normal(size=(64, 256)).astype(np.float32), rng.normal(size=256).astype(np.float32)
    w2 = rng.normal(size=(256, 10)).astype(np.float32)
    inputs = keras.Input((64,))
    z = keras.layers.Dense(256, name="hidden")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(10, use_bias=False)(keras.layers.ReLU(name="relu")(z)))
    model.set_weights([w1, b1, w2])
    x = rng.normal(size=(6, 64)).astype(np.float32)
    z64 = x.astype(np.float64) @ w1 + b1
    logits = np.maximum(z64, 0) @ w2
    targets = np.argmax(logits, -1)
    w1_64, w2_64 = w1.astype(np.float64), w2.astype(np.float64)
    grads = np.stack([w1_64 @ ((z64[i] > 0) * w2_64[:, t]) for i, t in enumerate(targets)])
    # float32 as the floor runs it: chunks of 4, the last one padded with its first image
    g32, l32, _ = Explainer(model, variant="eager", batch_size=4).gradients(x, targets)
    probe = keras.Model(model.input, model.get_layer("relu").input)
    z32 = np.concatenate([probe(x[:4]).numpy(), probe(x[[4, 5, 4, 4]]).numpy()[:2]])
    floor = measure_noise_floor(model, x, targets=targets, batch_size=4)
    rel = lambda a, b: np.linalg.norm(a - b) / np.linalg.norm(b)  # noqa: E731
    # The floor's float64 side stands in for numpy's to float64 rounding, ~1e-8 of the floor itself.
    assert floor.logits_rel_l2 == pytest.approx(rel(l32, logits), rel=1e-6)
    assert floor.pinned_rel_l2 == pytest.approx(rel(g32, grads), rel=1e-6)  # no unit lies near a kink here
    assert floor.rel_l2 == pytest.approx(floor.pinned_rel_l2, rel=1e-6) and floor.flips == 0
    assert floor.near_kink_shift == 0.0  # no unit lies within kink_tol of zero
    # Biases that put units 0-9 of image 0 at zero to float32's precision: how far did
    # rounding move those (and only those)?
    b1[:10] = -(x[0].astype(np.float64) @ w1[:, :10].astype(np.float64))
    model.set_weights([w1, b1, w2])
    z64 = x.astype(np.float64) @ w1 + b1
    z32 = np.concatenate([probe(x[:4]).numpy(), probe(x[[4, 5, 4, 4]]).numpy()[:2]])
    scale = np.mean(np.abs(z64), axis=1, keepdims=True)
    near = (np.abs(z64) <= 1e-4 * scale) | (np.abs(z32) <= 1e-4 * scale)
    assert near[0, :10].all() and near.sum() < 20
    floor = measure_noise_floor(model, x, targets=targets, batch_size=4, kink_tol=1e-4)
    assert floor.near_kink_shift == pytest.approx(
        np.max(np.abs(z32 - z64)[near] / np.broadcast_to(scale, near.shape)[near]), rel=1e-6
    )
    assert 0 < floor.near_kink_shift < np.max(np.abs(z32 - z64) / scale)  # the near units, not all
    assert floor.pinning_moved == 0.0  # float64 pinned to its own sides is float64 itself
    assert 0 < floor.pinned_rel_l2 < 1e3 * floor.eps  # float32 is not exact here, and it is float32
    assert (floor.images, floor.batch_size, floor.dtype) == (6, 4, "float32")
    assert floor.as_metrics()["method"] == floor.method and "float64" in floor.method


def test_a_float64_model_measures_no_floor_but_its_own_epsilon():
    floor = measure_noise_floor(small_cnn("float64"), images(2, dtype="float64"))
    assert floor.dtype == "float64" and floor.eps == np.finfo(np.float64).eps
    assert floor.logits_rel_l2 == floor.pinned_rel_l2 == 0.0
