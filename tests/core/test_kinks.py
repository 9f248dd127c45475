"""Kink kinds: ReLU regions and pins, max-pooling windows against TensorFlow's own
max pooling, and the pinned copy of a network."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from saliency_core.kink_units import MaxPoolKinks, ReluKinks
from saliency_core.kinks import KinkAnalysisError, kink_layers, pinned_copy, split_fused_relus


def test_regions_and_pins_of_a_relu6():
    kinks = ReluKinks(max_value=6.0)
    z = np.array([-1.0, 0.0, 1e-7, 3.0, 6.0 - 1e-6, 6.0, 7.0])
    assert kinks.region(z).tolist() == [0, 0, 1, 1, 1, 2, 2]
    # Units near a kink keep za's piece: 0 below, 1 the identity, 2 at or above max_value.
    assert kinks.pin(z, z, np.full_like(z, 1e-5)).tolist() == [-1, 0, 1, -1, 1, 2, -1]
    near_in_zb_only = np.array([1e-6, 0.0, 1e-7, 3.0, 6.0 - 1e-6, 6.0, 6.0 + 1e-6])
    assert kinks.pin(z, near_in_zb_only, np.full_like(z, 1e-5)).tolist() == [0, 0, 1, -1, 1, 2, 2]
    assert kinks.kink(1, 2) == 6.0 and kinks.kink(0, 1) == 0.0
    assert ReluKinks(negative_slope=0.3).region(np.array([-2.0, 2.0])).tolist() == [0, 1]
    flips = list(kinks.flips(np.array([[-1e-7, 5.0]]), np.array([[1e-7, 6.0]])))
    assert flips == [((0, 0), -1e-7, 1e-7, 0.0), ((0, 1), 5.0, 6.0, 6.0)]


@pytest.mark.parametrize(
    "size, pool, strides, padding",
    [
        (6, (3, 3), (2, 2), "valid"),
        (5, (2, 2), (2, 2), "same"),
        (7, (3, 2), (2, 3), "same"),
    ],
)
def test_max_pooling_windows_match_tensorflow(size, pool, strides, padding):
    z = np.random.default_rng(0).normal(size=(2, size, size + 1, 3)).astype(np.float32)
    kinks = MaxPoolKinks(pool, strides, padding)
    reference = tf.nn.max_pool2d(z, pool, strides, padding.upper()).numpy()
    windows = kinks.windows(z)
    assert windows.shape[:4] == reference.shape
    np.testing.assert_array_equal(windows.max(axis=-1), reference)
    assert kinks.units(z) == reference.size


def test_max_pooling_pins_near_ties_to_the_first_computation_s_argmax():
    kinks = MaxPoolKinks((2, 2), (2, 2), "valid")
    za = np.array([[1.0, 1.0 + 1e-7], [0.0, 0.5]])[None, :, :, None]
    zb = np.array([[1.0 + 1e-7, 1.0], [0.0, 0.5]])[None, :, :, None]
    assert kinks.pin(za, zb, np.array([1e-5])).tolist() == [[[[1]]]]
    assert kinks.pin(za, zb, np.array([1e-8])).tolist() == [[[[-1]]]]
    [(idx, da, db, kink)] = kinks.flips(za, zb)
    assert idx == (0, 0, 0, 0) and da == pytest.approx(1e-7) and db == pytest.approx(-1e-7) and kink == 0.0
    # za's leader (1 + 1e-7) leads its runner-up by 1e-7; in zb the same pair by -1e-7
    assert kinks.shifts(za, zb, np.array([[[[1]]]])).ravel() == pytest.approx([2e-7], rel=1e-6)
    assert kinks.shifts(za, zb, np.array([[[[-1]]]])).tolist() == [[[[0.0]]]]
    relu = ReluKinks()
    assert relu.shifts(
        np.array([1e-7, 3.0]), np.array([-1e-7, 3.5]), np.array([0, -1])
    ).tolist() == pytest.approx([2e-7, 0.0])


def test_a_relu6_unit_pinned_above_its_max_value_is_constant():
    inputs = keras.Input((2,))
    model = keras.Model(inputs, keras.layers.ReLU(max_value=6.0, name="relu6")(inputs))
    copy, holders = pinned_copy(model, kink_layers(model))
    x = tf.constant([[5.9, 6.1]])
    for pattern, value, slope in [
        ([2, 2], [6.0, 6.0], [0.0, 0.0]),
        ([1, 1], [5.9, 6.1], [1.0, 1.0]),
        ([-1, -1], [5.9, 6.0], [1.0, 0.0]),
    ]:
        holders["relu6"].assign(np.array([pattern], np.int8))
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = copy(x)
            total = tf.reduce_sum(y)
        assert y.numpy().ravel().tolist() == pytest.approx(value)
        grad = tape.gradient(total, x, unconnected_gradients=tf.UnconnectedGradients.ZERO)
        assert grad.numpy().ravel().tolist() == slope


def _pool_net(padding):
    inputs = keras.Input((5, 5, 2))
    x = keras.layers.ReLU(name="relu")(keras.layers.Conv2D(2, 3, padding="same", name="conv")(inputs))
    x = keras.layers.MaxPooling2D(2, padding=padding, name="pool")(x)
    return keras.Model(inputs, keras.layers.Dense(3)(keras.layers.Flatten()(x)))


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_a_pinned_copy_with_free_patterns_is_the_network(padding):
    model = _pool_net(padding)
    layers = kink_layers(model)
    assert [layer.name for layer, _ in layers] == ["relu", "pool"]
    copy, holders = pinned_copy(model, layers)
    x = np.random.default_rng(1).normal(size=(3, 5, 5, 2)).astype(np.float32)
    relu_in = keras.Model(model.input, model.get_layer("relu").input)(x).numpy()
    pool_out = model.get_layer("pool").compute_output_shape((3, 5, 5, 2))
    holders["relu"].assign(np.full(relu_in.shape, -1, np.int8))
    holders["pool"].assign(np.full(pool_out, -1, np.int8))
    np.testing.assert_allclose(copy(x).numpy(), model(x).numpy(), rtol=1e-6)
    # Pinning every ReLU unit to its zero piece leaves only the Dense bias.
    holders["relu"].assign(np.zeros(relu_in.shape, np.int8))
    bias = model.layers[-1].bias.numpy()
    np.testing.assert_allclose(copy(x).numpy(), np.broadcast_to(bias, (3, 3)), atol=1e-6)


def test_pinned_max_pooling_routes_the_gradient_to_the_pinned_element():
    inputs = keras.Input((2, 2, 1))
    model = keras.Model(inputs, keras.layers.Flatten()(keras.layers.MaxPooling2D(2, name="pool")(inputs)))
    copy, holders = pinned_copy(model, kink_layers(model))
    x = tf.constant(np.array([[1.0, 4.0], [3.0, 2.0]], np.float32)[None, :, :, None])
    for pinned, expected in [(-1, 1), (2, 2)]:  # free: the max (index 1); pinned to index 2 (value 3)
        holders["pool"].assign(np.full((1, 1, 1, 1), pinned, np.int8))
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = copy(x)
        grad = tape.gradient(y, x).numpy().ravel()
        assert grad.tolist() == [1.0 if i == expected else 0.0 for i in range(4)]
        assert y.numpy().ravel()[0] == [1.0, 4.0, 3.0, 2.0][expected]


def test_split_fused_relus_moves_each_activation_to_its_own_layer_and_keeps_the_function():
    inputs = keras.Input((6, 6, 2))
    x = keras.layers.Conv2D(3, 3, activation="relu", name="conv")(inputs)
    x = keras.layers.Dense(4, activation="leaky_relu", name="dense")(keras.layers.Flatten()(x))
    model = keras.Model(inputs, keras.layers.Dense(2, activation="relu6", name="head")(x))
    with pytest.raises(KinkAnalysisError, match="conv \\(Conv2D with activation=relu\\)"):
        kink_layers(model)
    split = split_fused_relus(model)
    kinds = {layer.name: kinks for layer, kinks in kink_layers(split)}
    assert kinds == {
        "conv_relu": ReluKinks(),
        "dense_leaky_relu": ReluKinks(negative_slope=0.2),
        "head_relu6": ReluKinks(max_value=6.0),
    }
    assert split.get_layer("conv").activation.__name__ == "linear"
    x = np.random.default_rng(2).normal(size=(4, 6, 6, 2)).astype(np.float32) * 3
    np.testing.assert_allclose(split(x).numpy(), model(x).numpy(), rtol=1e-6, atol=1e-6)
    assert model.get_layer("conv").activation.__name__ == "relu"  # the original is untouched
    plain = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(inputs)))
    assert split_fused_relus(plain) is plain


def test_split_and_pinned_copies_of_a_float64_network_compute_in_float64():
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float64")
    try:
        inputs = keras.Input((6, 6, 2))
        x = keras.layers.Conv2D(3, 3, activation="relu", name="conv")(inputs)
        x = keras.layers.MaxPooling2D(2, name="pool")(keras.layers.ReLU(max_value=6.0, name="relu6")(x))
        model = keras.Model(inputs, keras.layers.Dense(2, name="head")(keras.layers.Flatten()(x)))
    finally:
        keras.config.set_dtype_policy(previous)
    split = split_fused_relus(model)
    copy, _ = pinned_copy(split, kink_layers(split))
    for net in (split, copy):
        assert {str(layer.compute_dtype) for layer in net.layers[1:]} == {"float64"}
