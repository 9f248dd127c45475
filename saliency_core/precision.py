"""Mixed precision for the gradient contract: the network in bfloat16 or float16.

``precision="bfloat16"`` or ``"float16"`` means *mixed* precision: every layer of the
network computes in the low precision, reading the model's own float32 variables
through Keras' autocasting (``keras.DTypePolicy("mixed_bfloat16")`` /
``"mixed_float16"``); the logits are cast to float32 as they leave the network, and
the class score, the softmax, the channel reductions and the curve scores are
float32. The raw input stays float32 (its preprocessing too); the first layer
casts it to the compute dtype, and the input gradient comes back through that cast
as float32.

How the network is switched (:func:`low_precision`): while a gradient or forward
function's body runs (once, at trace time, for ``function``/``xla``; on every call
for ``eager``), each layer's dtype policy is set to the mixed policy and restored
afterwards. The variables are the model's own, not a copy, so a change to the
weights (the randomization tests assign them in place) is seen by the
low-precision function too. A copy made with ``keras.models.clone_model`` under a
mixed policy and ``set_weights`` also works in Keras 3.15 (ResNet50, Lite0 and
ViT-B/16 clone), but it holds its own variables (a stale copy once weights change,
twice the weight memory) and cannot clone custom layers without a ``get_config``
(the logit head that bypasses a softmax shares the Dense layer's variables). Do not
call a float32 and a low-precision function of one model from two threads while one
of them traces.

float16 has 5 exponent bits: values below 2^-24 flush to zero and above 65504
overflow. bfloat16 keeps float32's exponent range (8 bits) with 8 significant bits,
so it needs no scaling. For float16 the backward pass is loss-scaled
(Micikevicius et al. 2018, "Mixed Precision Training"), see
:func:`power_of_two`, :func:`scale_status` and ``gradients.build_gradient_fn``.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Iterator

__all__ = [
    "LOW_PRECISIONS",
    "MIXED_POLICIES",
    "EPSILON",
    "SCALE_STEP",
    "MAX_RESCALES",
    "MAX_EXPONENT",
    "MIN_EXPONENT",
    "FLOAT16_TINY",
    "LossScaleWarning",
    "next_exponents",
    "low_precision",
    "power_of_two",
    "scale_status",
    "OK",
    "UNDERFLOW",
    "OVERFLOW",
]

#: Precisions other than float32, and the Keras policy each runs the network under.
MIXED_POLICIES = {"bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}
LOW_PRECISIONS = tuple(MIXED_POLICIES)

#: Machine epsilon (spacing of numbers at 1) of each precision: 2^-(significand bits - 1).
EPSILON = {"float32": 2.0**-23, "bfloat16": 2.0**-7, "float16": 2.0**-10, "float64": 2.0**-52}

#: Power-of-two exponent step of a float16 rescale: x 2^8 after an underflow, / 2^8
#: after an overflow.
SCALE_STEP = 8
#: Most rescaled recomputations of one chunk before giving up with a warning.
MAX_RESCALES = 6
#: Range of the loss-scale exponent ``k``: the largest entry of the scaled logit
#: gradient is 2^k at most, and float16 holds 2^15 (its largest number is 65504) down to
#: 2^-24 (its smallest subnormal).
MAX_EXPONENT, MIN_EXPONENT = 15, -24

#: ``scale_status`` codes, per image.
OK, UNDERFLOW, OVERFLOW = 0, 1, 2

_LOCK = threading.RLock()


class LossScaleWarning(RuntimeWarning):
    """float16 gradients of some images still underflowed or overflowed after rescaling."""


def _layers(model) -> list:
    import keras

    if hasattr(model, "_flatten_layers"):  # every tracked sub-layer, custom layers' too
        layers = list(model._flatten_layers(include_self=False, recursive=True))
    else:
        layers = list(getattr(model, "layers", []))
    return [layer for layer in layers if not isinstance(layer, keras.layers.InputLayer)]


@contextmanager
def low_precision(model, precision: str) -> Iterator[None]:
    """Run ``model``'s layers in mixed ``precision`` inside the block ("float32": no change).

    Every layer (sub-layers of custom layers and nested models included; input layers
    excluded) gets the Keras mixed policy; the original policies are restored on exit,
    also after an error.

    Raises:
        ValueError: An unknown precision, or a layer with a per-path policy map
            (``DTypePolicyMap``, used by quantized models), which this does not change.
    """
    if precision == "float32":
        yield
        return
    if precision not in MIXED_POLICIES:
        raise ValueError(
            f"unknown precision {precision!r}; choose one of float32, {', '.join(LOW_PRECISIONS)}"
        )
    import keras

    policy = keras.DTypePolicy(MIXED_POLICIES[precision])
    layers = _layers(model)
    mapped = [layer.name for layer in layers if type(layer.dtype_policy).__name__ == "DTypePolicyMap"]
    if mapped:
        raise ValueError(
            f"model {getattr(model, 'name', '?')!r}: layer(s) {', '.join(mapped[:3])} "
            f"have a per-path dtype policy map (a quantized model?); they cannot run "
            f"in {precision}"
        )
    with _LOCK:
        saved = [(layer, layer.dtype_policy) for layer in layers]
        try:
            for layer in layers:
                layer.dtype_policy = policy
            yield
        finally:
            for layer, original in saved:
                layer.dtype_policy = original


def power_of_two(exponent):
    """``2.0 ** exponent`` as float32 tensors, exactly: the bits of the float are built
    from the integer exponent (clipped to the normal range [-126, 127]), so scaling by
    it and dividing it out again changes no significand bit."""
    import tensorflow as tf

    e = tf.clip_by_value(tf.cast(exponent, tf.int32), -126, 127)
    return tf.bitcast(tf.bitwise.left_shift(e + 127, 23), tf.float32)


#: float16's smallest normal number: below it a value keeps fewer significant bits.
FLOAT16_TINY = 2.0**-14


def scale_status(grads, upstream):
    """Per image, from the loss-scaled gradient at the network's input (``grads``, (N,
    ...), the float16 backward pass's result cast to float32) and the gradient at the
    logits (``upstream``, (N, K)):

    * :data:`OVERFLOW` if any entry of ``grads`` is not finite;
    * :data:`UNDERFLOW` if the largest ``|entry|`` is below float16's smallest normal
      number 2^-14 (an all-zero gradient included) while ``upstream`` is not all zero:
      the backward pass flushed the gradient to zero or into subnormals, which keep
      fewer significant bits;
    * :data:`OK` otherwise.

    Partial underflow (the small entries of an otherwise normal gradient flushed) is
    not detected; the fidelity measures against float32 see it. A gradient that is
    truly zero while the logits' is not (every unit on the input's path dead) reads as
    underflow: it is recomputed and then warned about.
    """
    import tensorflow as tf

    axes = list(range(1, len(grads.shape)))
    finite = tf.reduce_all(tf.math.is_finite(grads), axis=axes)
    peak = tf.reduce_max(tf.abs(tf.where(tf.math.is_finite(grads), grads, 0.0)), axis=axes)
    live = tf.reduce_any(tf.not_equal(upstream, 0.0), axis=1)
    tiny = (tf.cast(peak, tf.float32) < FLOAT16_TINY) & live
    return tf.where(~finite, OVERFLOW, tf.where(tiny, UNDERFLOW, OK))


def next_exponents(exponents, status, bracket):
    """The next loss-scale exponents after a float16 call with per-image ``status``.

    Per image, ``bracket = (low, high)`` holds the largest exponent seen to underflow
    and the smallest seen to overflow (``int32`` min / max when none yet). An image
    that underflowed moves up by :data:`SCALE_STEP`, one that overflowed down by it,
    until both ends are known; then it moves halfway between them. Exponents stay in
    [:data:`MIN_EXPONENT`, :data:`MAX_EXPONENT`]. Images that were fine keep their
    exponent.

    Returns:
        ``(exponents, bracket, stuck)``: the new exponents, the updated bracket, and
        per image whether no untried exponent is left: the two ends are adjacent, or
        the image underflowed at the largest exponent (the float16 forward pass itself
        flushed the values, which no loss scale mends) or overflowed at the smallest.
    """
    import numpy as np

    exponents = np.asarray(exponents, dtype=np.int64)
    low, high = (np.asarray(b, dtype=np.int64).copy() for b in bracket)
    under, over = status == UNDERFLOW, status == OVERFLOW
    low[under] = np.maximum(low[under], exponents[under])
    high[over] = np.minimum(high[over], exponents[over])
    lo_known, hi_known = low > np.iinfo(np.int32).min, high < np.iinfo(np.int32).max
    nxt = exponents.copy()
    both = (under | over) & lo_known & hi_known
    nxt[both] = (low[both] + high[both]) // 2
    nxt[under & ~both] += SCALE_STEP
    nxt[over & ~both] -= SCALE_STEP
    nxt = np.clip(nxt, MIN_EXPONENT, MAX_EXPONENT)
    stuck = (
        (both & (high - low <= 1))
        | (under & (exponents >= MAX_EXPONENT))
        | (over & (exponents <= MIN_EXPONENT))
    )
    return nxt.astype(np.int32), (low.astype(np.int32), high.astype(np.int32)), stuck
