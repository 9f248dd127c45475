"""variant_agreement: kink flips are found and pinned, real differences are not hidden.

The reference is a two-layer ReLU network whose input gradient has a closed form,
``W1 @ (mask * W2[:, t])``, and a layer that computes differently when traced (the
``function`` variant) than eagerly, so a flip or a real difference can be planted.
"""

import keras
import numpy as np
import pytest

from saliency_core.agreement import KinkAnalysisError, variant_agreement

X = np.array([[1.0, 2.0]], np.float32)
W1 = np.array([[1.0, 0.5, -1.0], [-0.5, 0.25, 0.0]], np.float32)  # z = x @ W1 + B1
B1 = np.array([0.0, 0.0, 0.0], np.float32)  # z = [0, 1, -1] at X
W2 = np.array([[2.0, -1.0], [1.0, 3.0], [-4.0, 1.0]], np.float32)


class ModeDependent(keras.layers.Layer):
    """``z * scale + shift``, with one (scale, shift) when run eagerly and another when traced."""

    def __init__(self, eager=((1, 1, 1), (0, 0, 0)), traced=((1, 1, 1), (0, 0, 0)), **kwargs):
        super().__init__(**kwargs)
        self.eager, self.traced = eager, traced

    def call(self, z):
        import tensorflow as tf

        scale, shift = self.eager if tf.executing_eagerly() else self.traced
        return z * tf.constant(scale, z.dtype) + tf.constant(shift, z.dtype)  # broadcast per sample

    def get_config(self):
        return {**super().get_config(), "eager": self.eager, "traced": self.traced}


def _net(**mode):
    inputs = keras.Input((2,))
    z = keras.layers.Dense(3, name="hidden")(inputs)
    z = ModeDependent(**mode, name="mode")(z)
    h = keras.layers.ReLU(name="relu")(z)
    out = keras.layers.Dense(2, name="head")(h)
    model = keras.Model(inputs, out)
    model.get_layer("hidden").set_weights([W1, B1])
    model.get_layer("head").set_weights([W2, np.zeros(2, np.float32)])
    return model


def _closed_form(mask, target):
    return W1 @ (np.asarray(mask, np.float32) * W2[:, target])


def _rel(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(b)


def test_a_planted_flip_is_found_and_pinning_removes_it():
    # Unit 0 sits exactly on the kink; eagerly it lands just below, traced just above.
    model = _net(eager=((1, 1, 1), (-1e-6, 0, 0)), traced=((1, 1, 1), (1e-6, 0, 0)))
    result = variant_agreement(model, X, "function", targets=[1])
    eager_grad, traced_grad = _closed_form([0, 1, 0], 1), _closed_form([1, 1, 0], 1)
    assert result.rel_l2 == pytest.approx(_rel(traced_grad, eager_grad), rel=1e-5)
    assert result.rel_l2 > 0.5
    assert result.kink_layers == 1 and result.kink_units == 3
    [flip] = result.flips
    assert (flip.layer, flip.image, flip.unit, flip.kink) == ("relu", 0, (0,), 0.0)
    assert flip.z_reference == pytest.approx(-1e-6) and flip.z_variant == pytest.approx(1e-6)
    assert flip.scale == pytest.approx((1e-6 + 1 + 1) / 3)
    assert result.max_flip_margin == pytest.approx(1.5e-6, rel=1e-3)
    # Only unit 0 is within kink_tol; pinned below, both variants give eager's mask.
    assert result.pinned_units == 1
    assert result.pinned_rel_l2 < 1e-7
    assert result.pinning_moved < 1e-7
    assert "1 of 3" in result.describe()


def test_a_real_difference_is_not_explained_away():
    # Traced, unit 1 is scaled by 1.1: a different function, far from any kink.
    model = _net(traced=((1, 1.1, 1), (0, 0, 0)))
    result = variant_agreement(model, X, "function", targets=[1])
    expected = _rel(_closed_form([0, 1.1, 0], 1), _closed_form([0, 1, 0], 1))
    assert result.flips == []
    assert result.pinned_units == 1  # unit 0, z = 0 exactly, in both
    assert result.rel_l2 == pytest.approx(expected, rel=1e-5)
    assert result.pinned_rel_l2 == pytest.approx(expected, rel=1e-5)


def test_agreeing_variants_agree_on_a_batch_with_padding():
    model = _net()
    x = np.random.default_rng(0).normal(size=(5, 2)).astype(np.float32)
    result = variant_agreement(model, x, "xla", batch_size=2)  # chunks 2, 2, 1 (padded)
    assert result.rel_l2_per_image.shape == (5,) and result.pinned_rel_l2_per_image.shape == (5,)
    assert result.kink_units == 15
    assert result.rel_l2 < 1e-6 and result.pinned_rel_l2 < 1e-6
    assert result.top1_mismatch == 0


def test_a_planted_max_pooling_flip_is_found_and_pinned():
    # Window (0, 0) holds 1 at (0, 0) and (0, 1): eagerly (0, 0) wins by 1e-6, traced (0, 1).
    x = np.full((1, 4, 4, 1), -1.0, np.float32)
    x[0, :2, :2, 0] = [[1.0, 1.0], [0.0, 0.0]]
    x[0, :2, 2:, 0] = [[3.0, 2.0], [2.0, 2.0]]
    eager_shift, traced_shift = np.zeros((4, 4, 1)), np.zeros((4, 4, 1))
    eager_shift[0, 0, 0] = traced_shift[0, 1, 0] = 1e-6
    inputs = keras.Input((4, 4, 1))
    z = ModeDependent(eager=(1.0, eager_shift.tolist()), traced=(1.0, traced_shift.tolist()), name="mode")(
        inputs
    )
    out = keras.layers.Dense(1, name="head")(
        keras.layers.Flatten()(keras.layers.MaxPooling2D(2, name="pool")(z))
    )
    model = keras.Model(inputs, out)
    w = np.array([[2.0], [3.0], [5.0], [7.0]], np.float32)
    model.get_layer("head").set_weights([w, np.zeros(1, np.float32)])
    result = variant_agreement(model, x, "function", targets=[0])
    [flip] = result.flips
    assert (flip.layer, flip.image, flip.unit) == ("pool", 0, (0, 0, 0))
    assert flip.z_reference == pytest.approx(1e-6, rel=0.2)
    assert flip.z_variant == pytest.approx(-1e-6, rel=0.2)
    # The gradient puts each window's weight on its largest element; only window (0, 0)'s
    # weight moves, from pixel (0, 0) to (0, 1).
    assert result.rel_l2 == pytest.approx(
        np.sqrt(2 * 2.0**2) / np.linalg.norm([2.0, 3.0, 5.0, 7.0]), rel=1e-4
    )
    # Pinned: window (0, 0) and the two windows of four equal -1s, not window (0, 1) (3 vs 2).
    assert result.pinned_units == 3
    assert result.pinned_rel_l2 < 1e-7
    assert result.kink_units == 4


def test_a_fused_relu_is_analysed_like_a_separate_one():
    def net(fused):
        inputs = keras.Input((2,))
        z = keras.layers.Dense(3, activation="relu" if fused else None, name="hidden")(inputs)
        h = z if fused else keras.layers.ReLU(name="relu")(z)
        model = keras.Model(inputs, keras.layers.Dense(2, name="head")(h))
        model.get_layer("hidden").set_weights([W1, B1])
        model.get_layer("head").set_weights([W2, np.zeros(2, np.float32)])
        return model

    moved = X + np.array([[1e-6, 0.0]], np.float32)  # unit 0 from 0 to +1e-6: one flip
    fused, separate = (
        variant_agreement(net(f), moved, "eager", reference_images=X, targets=[1]) for f in (True, False)
    )
    assert fused.kink_layers == separate.kink_layers == 1 and fused.kink_units == 3
    assert [f.unit for f in fused.flips] == [f.unit for f in separate.flips] == [(0,)]
    assert fused.flips[0].layer == "hidden_relu"
    assert fused.rel_l2 == pytest.approx(separate.rel_l2) and fused.rel_l2 > 0.5
    assert fused.pinned_rel_l2 == separate.pinned_rel_l2 == 0.0


def test_kinks_inside_a_nested_model_are_refused_with_the_layer_named():
    inner = keras.Sequential([keras.Input((3,)), keras.layers.ReLU()], name="block")
    inputs = keras.Input((2,))
    out = keras.layers.Dense(2)(inner(keras.layers.Dense(3)(inputs)))
    with pytest.raises(KinkAnalysisError, match="block \\(a nested model\\)"):
        variant_agreement(keras.Model(inputs, out), X)


def test_only_compiled_variants_are_compared_with_eager():
    with pytest.raises(ValueError, match="'function' or 'xla'"):
        variant_agreement(_net(), X, "eager")
    with pytest.raises(ValueError, match="kink_tol"):
        variant_agreement(_net(), X, "xla", kink_tol=0)


def _net64():
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float64")
    try:
        model = _net()
    finally:
        keras.config.set_dtype_policy(previous)
    return model


def test_a_float64_reference_of_the_same_network():
    x = np.random.default_rng(1).normal(size=(4, 2)).astype(np.float32)
    model64 = _net64()
    result = variant_agreement(_net(), x, "xla", reference=model64)
    assert result.reference == f"eager ({model64.name})"
    assert result.rel_l2 < 1e-6 and result.pinned_rel_l2 < 1e-6
    eager32 = variant_agreement(_net(), x, "eager", reference=model64)
    assert eager32.variant == "eager" and eager32.pinned_rel_l2 < 1e-6


def test_reference_images_across_a_kink():
    # Moving x[0] by +1e-6 moves unit 0 (z = x @ W1[:, 0] = 0 at X) to +1e-6: one flip.
    moved = X + np.array([[1e-6, 0.0]], np.float32)
    result = variant_agreement(_net(), moved, "eager", reference_images=X, targets=[1])
    [flip] = result.flips
    assert flip.unit == (0,) and flip.z_reference == 0.0 and flip.z_variant == pytest.approx(1e-6, rel=0.1)
    assert result.rel_l2 == pytest.approx(
        _rel(_closed_form([1, 1, 0], 1), _closed_form([0, 1, 0], 1)), rel=1e-5
    )
    assert result.pinned_rel_l2 == 0.0  # piecewise linear: same pattern, same gradient
    with pytest.raises(ValueError, match="reference_images has 2 images; images has 1"):
        variant_agreement(_net(), X, "eager", reference_images=np.concatenate([X, X]))


def test_a_reference_with_other_kink_layers_is_refused():
    inputs = keras.Input((2,))
    other = keras.Model(
        inputs, keras.layers.Dense(2)(keras.layers.ReLU(max_value=6.0)(keras.layers.Dense(3)(inputs)))
    )
    with pytest.raises(KinkAnalysisError, match="different kink layers"):
        variant_agreement(_net(), X, "xla", reference=other)


def test_a_vgg_like_network_with_fused_relus_and_max_pooling():
    # The split copy rebuilds the pooling layer, so its input is read from the copy's graph.
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv")(inputs)
    x = keras.layers.MaxPooling2D(2, name="pool")(x)
    model = keras.Model(inputs, keras.layers.Dense(3, name="head")(keras.layers.Flatten()(x)))
    x = np.random.default_rng(3).normal(size=(2, 8, 8, 3)).astype(np.float32)
    result = variant_agreement(model, x, "xla")
    assert result.kink_layers == 2 and result.kink_units == 2 * (8 * 8 * 4 + 4 * 4 * 4)
    assert result.rel_l2 < 1e-5 and result.pinned_rel_l2 < 1e-5


def test_a_network_without_kinks_is_compared_as_computed():
    from .models_for_tests import images, small_cnn

    result = variant_agreement(small_cnn(), images(3), "xla", batch_size=2)
    assert result.kink_layers == 0 and result.kink_units == 0 and result.flips == []
    assert result.pinned_rel_l2 == result.rel_l2 < 1e-5 and result.pinned_units == 0
    assert result.activations == ("tanh",)
    assert "no ReLU or max-pool kinks (tanh): compared as computed" in result.describe()
