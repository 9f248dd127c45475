"""Mixed precision in the gradient contract: bfloat16 / float16 maps against a float64
reference, shared variables, restored policies, and float16 loss scaling on a model
whose unscaled float16 gradients underflow."""

import keras
import numpy as np
import pytest

from saliency_core import Explainer, as_classifier, build_forward_fn, build_gradient_fn
from saliency_core.precision import (
    EPSILON,
    MAX_EXPONENT,
    OK,
    OVERFLOW,
    SCALE_STEP,
    UNDERFLOW,
    LossScaleWarning,
    low_precision,
    next_exponents,
    power_of_two,
)

from .models_for_tests import float64_twin, images, rounding_kappa, small_cnn
from .models_for_tests import relative_l2 as _rel

SIZE, N = 16, 6
#: Multiple of the measured ``kappa * eps`` that a mixed-precision result may be off by:
#: mixed precision rounds more stages than float32 does (the input, every weight and
#: every stored activation and gradient, not only the accumulations).
STAGES = 4


@pytest.fixture(scope="module")
def pair():
    """The small CNN in float32 and a float64 copy with the same weights."""
    m32 = small_cnn("float32", size=SIZE)
    return m32, float64_twin(small_cnn, m32, size=SIZE)


@pytest.mark.parametrize("precision", ["bfloat16", "float16"])
@pytest.mark.parametrize("variant", ["eager", "function"])
@pytest.mark.parametrize("score", ["logit", "probability"])
def test_low_precision_maps_are_within_the_rounding_bound_of_float64(pair, precision, variant, score):
    """First-order rounding model: a computation whose relative rounding errors are
    amplified by kappa is off by about kappa * eps. kappa is measured here from float32
    against float64 (the same weights and images). Mixed precision rounds more stages
    than float32 does (the input, every weight and every stored activation and
    gradient, not only the accumulations), hence 4 kappa eps as the bound. And the
    network must really have run in the low precision: its error is far above
    float32's (eps differs by 2^16 or 2^13)."""
    m32, m64 = pair
    x = images(N, size=SIZE)
    targets = np.arange(N) % 4
    ref = Explainer(m64, variant="eager", score=score).gradients(x.astype("float64"), targets)[0]
    g32 = Explainer(m32, variant=variant, score=score).gradients(x, targets)[0]
    kappa = rounding_kappa(g32, ref)
    low = Explainer(m32, variant=variant, score=score, precision=precision)
    g, logits, chosen = low.gradients(x, targets)
    err = _rel(g, ref)
    assert g.dtype == np.float32 and logits.dtype == np.float32
    assert np.array_equal(chosen, targets)
    assert err.max() < STAGES * kappa * EPSILON[precision], (err, kappa)
    assert err.min() > 100 * _rel(g32, ref).max()  # it did not run in float32


def test_forward_function_at_low_precision_returns_float32_logits_near_float64(pair):
    m32, m64 = pair
    x = images(N, size=SIZE)
    ref = m64(x.astype("float64")).numpy()
    f32 = build_forward_fn(as_classifier(m32), variant="function")(x).numpy()
    kappa = rounding_kappa(f32, ref)
    out = build_forward_fn(as_classifier(m32), variant="function", precision="bfloat16")(x)
    assert out.dtype.name == "float32"
    assert _rel(out.numpy(), ref).max() < STAGES * kappa * EPSILON["bfloat16"]


def test_policies_are_restored_after_a_call_and_after_an_error():
    model = small_cnn(size=SIZE)
    before = {layer.name: layer.dtype_policy.name for layer in model.layers}
    with low_precision(model, "bfloat16"):
        inside = {layer.dtype_policy.name for layer in model.layers[1:]}
    assert inside == {"mixed_bfloat16"}
    with pytest.raises(RuntimeError, match="boom"):
        with low_precision(model, "float16"):
            raise RuntimeError("boom")
    assert {layer.name: layer.dtype_policy.name for layer in model.layers} == before
    Explainer(model, variant="eager", precision="float16").gradients(images(2, size=SIZE))
    assert {layer.name: layer.dtype_policy.name for layer in model.layers} == before


def test_a_traced_low_precision_function_reads_weights_assigned_after_tracing():
    """The randomization tests assign weights in place and reuse the traced function."""
    model = small_cnn(size=SIZE, seed=0)
    other = small_cnn(size=SIZE, seed=5)
    x = images(3, size=SIZE)
    low = Explainer(model, variant="function", precision="bfloat16")
    before = low.gradients(x, [0, 1, 2])[0]
    model.set_weights(other.get_weights())
    after = low.gradients(x, [0, 1, 2])[0]
    twin = float64_twin(small_cnn, other, size=SIZE)
    ref = Explainer(twin, variant="eager").gradients(x.astype("float64"), [0, 1, 2])[0]
    kappa = rounding_kappa(Explainer(model, variant="eager").gradients(x, [0, 1, 2])[0], ref)
    assert low.fn.traces == 1
    assert (_rel(after, ref) < STAGES * kappa * EPSILON["bfloat16"]).all()
    assert (_rel(after, ref) < _rel(before, ref) / 10).all()  # not the old weights' maps


def test_softmax_model_low_precision_uses_the_bypassed_head():
    model = small_cnn(size=SIZE, softmax=True)
    twin = float64_twin(small_cnn, model, size=SIZE, softmax=True)
    x = images(2, size=SIZE)
    _, logits64, _ = Explainer(twin, variant="eager").gradients(x.astype("float64"))
    _, logits32, _ = Explainer(model, variant="eager").gradients(x)
    _, logits16, _ = Explainer(model, variant="eager", precision="float16").gradients(x)
    # logits (not probabilities, which sum to 1): the head was bypassed in all three
    assert not np.allclose(logits16.sum(axis=1), 1.0)
    kappa = rounding_kappa(logits32, logits64)
    assert _rel(logits16, logits64).max() < STAGES * kappa * EPSILON["float16"]


def test_unknown_precision_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="unknown precision 'float8'.*bfloat16"):
        build_gradient_fn(as_classifier(small_cnn(size=SIZE)), precision="float8")


# --- float16 loss scaling -----------------------------------------------------------


def attenuating_model(dtype="float32"):
    """Raw inputs up to 2^14 (float16 holds them) scaled by 2^-16 into [0, 0.25], a tanh
    layer, logits scaled by 2^-10 (about 1e-4, normal float16). The input gradient is
    about 2^-26 times the logit gradient: below float16's smallest subnormal (2^-24)."""
    inp = keras.Input((6, 6, 3), dtype=dtype)
    x = keras.layers.Rescaling(2.0**-16, dtype=dtype)(inp)
    x = keras.layers.Flatten(dtype=dtype)(x)
    x = keras.layers.Dense(
        8, activation="tanh", dtype=dtype, kernel_initializer=keras.initializers.GlorotUniform(seed=1)
    )(x)
    x = keras.layers.Dense(3, dtype=dtype, kernel_initializer=keras.initializers.GlorotUniform(seed=2))(x)
    return keras.Model(inp, keras.layers.Rescaling(2.0**-10, dtype=dtype)(x))


def _unscaled_float16_gradients(model, x, target):
    import tensorflow as tf

    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        with low_precision(model, "float16"):
            logits = tf.cast(model(xt), tf.float32)
        score = tf.reduce_sum(logits[:, target])
    return tape.gradient(score, xt).numpy()


@pytest.mark.parametrize("variant", ["eager", "function"])
def test_float16_loss_scaling_recovers_gradients_that_underflow_unscaled(variant):
    model = attenuating_model()
    twin = float64_twin(attenuating_model, model)
    x = np.random.default_rng(0).uniform(0, 2**14, (4, 6, 6, 3)).astype("float32")
    ref = Explainer(model, variant="eager").gradients(x, [0] * 4)[0]
    ref64 = Explainer(twin, variant="eager").gradients(x.astype("float64"), [0] * 4)[0]
    assert np.abs(ref).max() < 2.0**-24 and np.abs(ref).min() > 0  # float32 resolves them
    assert not np.any(_unscaled_float16_gradients(model, x, 0))  # float16 flushes them all
    low = Explainer(model, variant=variant, precision="float16")
    grads = low.gradients(x, [0] * 4)[0]
    assert low.fn.rescaled >= 4 and low.fn.unresolved == 0
    assert _rel(grads, ref64).max() < STAGES * rounding_kappa(ref, ref64) * EPSILON["float16"]


def test_float16_probability_score_of_a_confident_model_is_scaled_up_front():
    """Logits 40, -40, 20: the top class's probability is 1 - 2e-9, so d p / d logit is
    about 2e-9 and the input gradient about 1e-8, below float16's smallest subnormal
    (6e-8). The logit gradient is normalised to a power of two before the network, so
    no recomputation is needed."""

    def confident(dtype="float32"):
        inp = keras.Input((4,), dtype=dtype)
        kernel = keras.initializers.Constant([[10.0, -10.0, 5.0]] * 4)
        out = keras.layers.Dense(3, dtype=dtype, kernel_initializer=kernel, bias_initializer="zeros")(inp)
        return keras.Model(inp, out)

    model = confident()
    x = np.full((2, 4), 1.0, "float32")
    ref = Explainer(model, variant="eager", score="probability").gradients(x, [0, 0])[0]
    ref64 = Explainer(confident("float64"), variant="eager", score="probability").gradients(
        x.astype("float64"), [0, 0]
    )[0]
    assert 0 < np.abs(ref).max() < 2.0**-24
    low = Explainer(model, variant="eager", score="probability", precision="float16")
    grads = low.gradients(x, [0, 0])[0]
    assert low.fn.rescaled == 0
    assert _rel(grads, ref64).max() < STAGES * rounding_kappa(ref, ref64) * EPSILON["float16"]


def test_float16_forward_underflow_is_warned_about_not_hidden():
    """Inputs scaled by 2^-30 vanish in the float16 forward pass: no loss scale helps,
    and the call says so instead of returning zeros quietly."""
    inp = keras.Input((4,))
    x = keras.layers.Rescaling(2.0**-30)(inp)
    model = keras.Model(inp, keras.layers.Dense(2, kernel_initializer="ones")(x))
    low = Explainer(model, variant="eager", precision="float16")
    with pytest.warns(LossScaleWarning, match="out of float16's range"):
        grads = low.gradients(np.ones((2, 4), "float32"), [0, 0])[0]
    assert low.fn.unresolved == 2 and not grads.any()


def test_next_exponents_steps_then_bisects_and_stops_at_the_range():
    lo, hi = np.iinfo(np.int32).min, np.iinfo(np.int32).max
    e = np.array([0, 0, 0, 0], np.int32)
    status = np.array([UNDERFLOW, OVERFLOW, OK, UNDERFLOW])
    nxt, bracket, stuck = next_exponents(e, status, (np.full(4, lo), np.full(4, hi)))
    assert nxt.tolist() == [SCALE_STEP, -SCALE_STEP, 0, SCALE_STEP] and not stuck.any()
    # image 0 now overflows at 8: halfway between 0 (underflow) and 8 (overflow)
    nxt, bracket, stuck = next_exponents(nxt, np.array([OVERFLOW, OK, OK, UNDERFLOW]), bracket)
    assert nxt[0] == SCALE_STEP // 2 and nxt[3] == min(2 * SCALE_STEP, MAX_EXPONENT)
    assert bracket[0][0] == 0 and bracket[1][0] == SCALE_STEP
    # underflow at the largest exponent float16 can hold is final
    top = np.array([MAX_EXPONENT], np.int32)
    nxt, _, stuck = next_exponents(top, np.array([UNDERFLOW]), (np.array([lo]), np.array([hi])))
    assert nxt[0] == MAX_EXPONENT and stuck[0]
    # adjacent ends: nothing left to try
    _, _, stuck = next_exponents(
        np.array([3], np.int32), np.array([OVERFLOW]), (np.array([2]), np.array([hi]))
    )
    assert stuck[0]


def test_power_of_two_is_exact_and_unscaling_restores_every_bit():
    import tensorflow as tf

    k = np.arange(-126, 128, dtype=np.int32)
    assert np.array_equal(power_of_two(tf.constant(k)).numpy().astype(np.float64), 2.0**k)
    x = np.random.default_rng(1).normal(size=64).astype(np.float32)
    s = power_of_two(tf.constant(np.int32(13))).numpy()
    assert np.array_equal((x * s) / s, x)
