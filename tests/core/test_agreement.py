"""variant_agreement: kink flips are found and pinned, real differences are not hidden,
and the verdict follows the measured noise floor.

The reference is a two-layer ReLU network whose input gradient has a closed form,
``W1 @ (mask * W2[:, t])``, and a layer that computes differently when traced (the
``function`` variant) than eagerly, so a flip or a real difference can be planted.
At ``X`` float32 computes it exactly (its weights are sums of powers of two), so its
noise floor is 0 and anything planted is more than rounding.
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
    # A flip 1.5e-6 from the kink where float32 rounds nothing: not rounding.
    assert result.noise_floor.near_kink_shift < 1e-12 and not result.agrees
    assert [r.split(":")[0] for r in result.reasons] == ["logits", "flips"]


def test_a_real_difference_at_a_unit_near_a_kink_is_not_pinned_away():
    # Unit 0 sits 1e-6 above its kink in both (well within kink_tol, so it is pinned);
    # traced, its slope is 1.1: the same forward value at X, another gradient.
    model = _net(eager=((1, 1, 1), (1e-6, 0, 0)), traced=((1.1, 1, 1), (1e-6, 0, 0)))
    result = variant_agreement(model, X, "function", targets=[1])
    expected = _rel(_closed_form([1.1, 1, 0], 1), _closed_form([1, 1, 0], 1))
    assert result.flips == [] and result.pinned_units == 1
    assert result.logits_rel_l2 == 0.0  # the forward pass cannot tell them apart
    assert result.rel_l2 == pytest.approx(expected, rel=1e-5)
    assert result.pinned_rel_l2 == pytest.approx(expected, rel=1e-5)  # pinned on eager's side: kept
    assert not result.agrees
    assert [r.split(":")[0] for r in result.reasons] == ["pinned gradients"]


def test_a_real_difference_is_not_explained_away():
    # Traced, unit 1 is scaled by 1.1: a different function, far from any kink.
    model = _net(traced=((1, 1.1, 1), (0, 0, 0)))
    result = variant_agreement(model, X, "function", targets=[1])
    expected = _rel(_closed_form([0, 1.1, 0], 1), _closed_form([0, 1, 0], 1))
    assert result.flips == []
    assert result.pinned_units == 1  # unit 0, z = 0 exactly, in both
    assert result.rel_l2 == pytest.approx(expected, rel=1e-5)
    assert result.pinned_rel_l2 == pytest.approx(expected, rel=1e-5)
    assert not result.agrees
    assert [r.split(":")[0] for r in result.reasons] == ["logits", "pinned gradients"]
    assert "FAIL  pinned gradients" in result.describe()


def test_agreeing_variants_agree_on_a_batch_with_padding():
    model = _net()
    x = np.random.default_rng(0).normal(size=(5, 2)).astype(np.float32)
    result = variant_agreement(model, x, "xla", batch_size=2)  # chunks 2, 2, 1 (padded)
    assert result.rel_l2_per_image.shape == (5,) and result.pinned_rel_l2_per_image.shape == (5,)
    assert result.kink_units == 15
    assert result.top1_mismatch == 0
    assert result.agrees, result.describe()
    assert result.noise_floor.images == 5 and result.noise_floor.batch_size == 2


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
    with pytest.raises(ValueError, match="factor must be >= 2"):
        variant_agreement(_net(), X, "xla", factor=1.5)


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
    assert result.agrees, result.describe()
    eager32 = variant_agreement(_net(), x, "eager", reference=model64, noise_floor=result.noise_floor)
    with pytest.raises(ValueError, match="another batch_size 4 \\(comparison: 2\\)"):
        variant_agreement(_net(), x, "xla", batch_size=2, noise_floor=result.noise_floor)
    with pytest.raises(ValueError, match="another images 4 \\(comparison: 3\\)"):
        variant_agreement(_net(), x[:3], "xla", noise_floor=result.noise_floor)
    assert eager32.variant == "eager" and eager32.agrees
    # eager float32 against a float64 build is what the floor measures, on its own float64 copy
    assert eager32.pinned_rel_l2 == pytest.approx(result.noise_floor.pinned_rel_l2, rel=1e-6, abs=1e-15)


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
    assert result.agrees, result.describe()
    assert result.noise_floor.pinned_rel_l2 > 0  # float32 rounds here: the floor is measured, not 0


def test_a_network_without_kinks_is_compared_as_computed():
    from .models_for_tests import images, small_cnn

    result = variant_agreement(small_cnn(), images(3), "xla", batch_size=2)
    assert result.kink_layers == 0 and result.kink_units == 0 and result.flips == []
    assert result.pinned_rel_l2 == result.rel_l2 < 1e-5 and result.pinned_units == 0
    assert result.activations == ("tanh",)
    assert "no ReLU or max-pool kinks (tanh): compared as computed" in result.describe()
    assert result.agrees, result.describe()


def _judged(floor, **measured):
    """An Agreement of the given numbers against a floor of the given numbers."""
    from saliency_core.agreement import Agreement, NoiseFloor

    floor = NoiseFloor(
        **{
            **dict(
                method="test",
                dtype="float32",
                images=1,
                batch_size=1,
                device=None,
                score="logit",
                kink_tol=1e-4,
                logits_rel_l2=0.0,
                logits_max_rel=0.0,
                rel_l2=0.0,
                pinned_rel_l2=0.0,
                near_kink_shift=0.0,
                flips=0,
                max_flip_margin=0.0,
                pinning_moved=0.0,
                seconds=0.0,
            ),
            **floor,
        }
    )
    fields = dict(
        variant="xla",
        reference="eager",
        rel_l2=0.0,
        rel_l2_per_image=np.zeros(1),
        logits_rel_l2=0.0,
        logits_max_rel=0.0,
        targets=np.zeros(1, int),
        top1_mismatch=0,
        top1_gaps=[],
        kink_layers=1,
        kink_units=10,
        flips=[],
        near_kink_shift=0.0,
        kink_tol=1e-4,
        pinned_units=0,
        pinned_rel_l2=0.0,
        pinned_rel_l2_per_image=np.zeros(1),
        pinning_moved=0.0,
        activations=(),
    )
    return Agreement(**{**fields, **measured}, noise_floor=floor)


def test_the_criterion_follows_the_measured_floor():
    from saliency_core.agreement import FLOOR_FACTOR, Flip

    u = float(np.finfo(np.float32).eps)
    floor = dict(logits_rel_l2=1e-6, logits_max_rel=2e-6, pinned_rel_l2=1e-6, near_kink_shift=1e-6)
    k = FLOOR_FACTOR
    flip = lambda margin: Flip("relu", 0, (0,), -margin, margin / 2, 0.0, 1.0)  # noqa: E731
    fine = dict(
        logits_rel_l2=0.9 * k * 1e-6,
        pinned_rel_l2=0.9 * k * 1e-6,
        pinning_moved=0.0,
        flips=[flip(0.9 * k * 1e-6)],
        top1_mismatch=1,
        top1_gaps=[0.9 * k * 2e-6],
    )
    assert _judged(floor, **fine).agrees
    for name, worse in [
        ("logits", dict(logits_rel_l2=1.1 * k * 1e-6 + u)),
        ("pinned gradients", dict(pinned_rel_l2=1.1 * k * 1e-6 + u)),
        ("pinning", dict(pinning_moved=1.1 * k * 1e-6 + u)),
        ("flips", dict(flips=[flip(1e-6), flip(1.1 * k * 1e-6 + u)])),
        ("top-1", dict(top1_gaps=[1.1 * k * 2e-6 + u])),
    ]:
        judged = _judged(floor, **{**fine, **worse})
        assert [r.split(":")[0] for r in judged.reasons] == [name] and not judged.agrees
        # the same numbers against a floor twice as high: rounding again
        assert _judged({key: 2 * v for key, v in floor.items()}, **{**fine, **worse}).agrees
    # a floor of exactly 0 (float32 computes the network exactly) still allows one epsilon
    assert _judged({}, pinned_rel_l2=u).agrees and not _judged({}, pinned_rel_l2=1.5 * u).agrees
