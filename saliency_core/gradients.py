"""The gradient contract: one function (images, targets) -> (gradients, logits, targets).

Everything above this module (saliency methods, timing, sanity checks) sees only
:class:`GradientFunction`. Three builders give the same numbers:

* ``eager``: a ``tf.GradientTape`` run op by op, as in the TF2 recipe.
* ``function``: the same Python body traced once by ``tf.function`` with a
  batch-polymorphic input signature (no retracing across batch sizes).
* ``xla``: the same, with ``jit_compile=True``. XLA compiles once per concrete
  input shape; the callers pad batches to a fixed chunk size so it compiles once.

Targets: a class id per image, or ``-1`` for "the top-1 class", found in the same
forward pass as the gradient (no second model call).

Precision: ``float32`` (the default), or mixed ``bfloat16`` / ``float16``: the network
computes in the low precision (:mod:`saliency_core.precision`), its logits are cast to
float32, and the class score, softmax and returned gradients are float32. The
low-precision maps are an approximation of the float32 maps, not the same numbers:
the timing harness records how far they are (:mod:`saliency_core.fidelity`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Literal, get_args

__all__ = [
    "VARIANTS",
    "SCORES",
    "PRECISIONS",
    "Variant",
    "Score",
    "Precision",
    "GradientFunction",
    "build_gradient_fn",
    "build_forward_fn",
]

Variant = Literal["eager", "function", "xla"]
Score = Literal["logit", "probability"]
Precision = Literal["float32", "bfloat16", "float16"]
VARIANTS: tuple[Variant, ...] = get_args(Variant)
SCORES: tuple[Score, ...] = get_args(Score)
PRECISIONS: tuple[Precision, ...] = get_args(Precision)


def _check(name, value, allowed):
    if value not in allowed:
        raise ValueError(f"unknown {name} {value!r}; choose one of {', '.join(allowed)}")


@dataclass
class GradientFunction:
    """A compiled (or eager) gradient or forward function and its trace counter.

    Call it with ``images`` (N, H, W, C) in the classifier's input space and
    ``targets`` (N,) int32 (``-1`` = top-1). Returns tensors
    ``(gradients (N, H, W, C), logits (N, K), targets (N,))`` for a gradient
    function, ``logits (N, K)`` for a forward function. Gradients have the input's
    dtype (float32 for every registry model) and logits are float32 at a low
    ``precision`` (the model's own dtype at float32).

    ``traces`` counts how often the Python body was traced (always 0 for eager):
    a correct ``function``/``xla`` build traces once. ``rescaled`` counts images
    whose float16 gradients were computed again at another loss scale (see
    :func:`build_gradient_fn`); ``unresolved`` those still flushed or overflowed
    after :data:`~saliency_core.precision.MAX_RESCALES` tries.
    """

    variant: str
    score: str
    fn: Callable = field(repr=False)
    input_shape: tuple[int, ...]
    dtype: str
    traces: int = 0
    precision: str = "float32"
    rescaled: int = 0
    unresolved: int = 0
    loss_scaled: bool = False

    def __call__(self, *args):
        if not self.loss_scaled:
            return self.fn(*args)
        return self._scaled_call(*args)

    def _scaled_call(self, images, targets):
        """float16: compute; recompute the images whose gradients underflowed or
        overflowed at another loss-scale exponent (see :func:`build_gradient_fn`)."""
        import warnings

        import numpy as np
        import tensorflow as tf

        from .precision import MAX_RESCALES, LossScaleWarning, next_exponents

        exponents = np.zeros(int(images.shape[0]), np.int32)
        bracket = (
            np.full_like(exponents, np.iinfo(np.int32).min),
            np.full_like(exponents, np.iinfo(np.int32).max),
        )
        for attempt in range(MAX_RESCALES + 1):
            grads, logits, chosen, status = self.fn(images, targets, tf.constant(exponents))
            status = status.numpy()
            bad = status != 0
            if not bad.any():
                break
            nxt, bracket, stuck = next_exponents(exponents, status, bracket)
            if attempt == MAX_RESCALES or stuck[bad].all():
                self.unresolved += int(bad.sum())
                under = int((status == 1).sum())
                warnings.warn(
                    f"float16 gradients of {int(bad.sum())} image(s) stay out of float16's "
                    f"range at every loss scale tried ({under} underflow, "
                    f"{int(bad.sum()) - under} overflow; last scale exponents "
                    f"{exponents[bad].tolist()}): the float16 forward pass itself may have "
                    f"flushed or overflowed the activations; use bfloat16 or float32",
                    LossScaleWarning,
                    stacklevel=3,
                )
                break
            self.rescaled += int(bad.sum())
            exponents = nxt
        return grads, logits, chosen


def _compile(body, signature, variant):
    import tensorflow as tf

    if variant == "eager":
        return body
    return tf.function(body, input_signature=signature, jit_compile=(variant == "xla"), reduce_retracing=True)


def _network_logits(classifier, images, precision):
    """The classifier's logits with the network in ``precision``, as float32 (as the
    model's own dtype at float32)."""
    import tensorflow as tf

    from .precision import low_precision

    with low_precision(classifier.model, precision):
        logits = classifier.logits(images)
    return logits if precision == "float32" else tf.cast(logits, tf.float32)


def build_gradient_fn(classifier, *, variant="xla", score="logit", precision="float32") -> GradientFunction:
    """Build the gradient of the target class score with respect to the input.

    Args:
        classifier: A :class:`~saliency_core.models.classifier.Classifier`.
        variant: "eager", "function" or "xla".
        score: "logit" (pre-softmax class score, Simonyan et al. 2014) or
            "probability" (softmax of the logits, as in the TF2 recipe).
        precision: "float32", or "bfloat16" / "float16": the network computes in
            that precision (mixed, see :mod:`saliency_core.precision`); the class
            score, the softmax and the returned gradients are float32.

    float16 loss scaling: the gradient of the class score at the (float32) logits is
    computed first; each image's is multiplied by a power of two, ``2^(k - e)`` with
    ``e`` the exponent that brings its largest entry into (0.5, 1] (for the logit
    score that entry is 1, so ``e = 0``) and ``k`` an extra exponent, 0 at first: the
    gradient of the class score scaled by ``2^(k - e)``. It is backpropagated through
    the float16 network; the gradient at the network's input, back in float32, goes
    through the float32 preprocessing and is divided by the same power of two
    (exactly). At the network's input an image has *underflowed* when its largest
    ``|entry|`` is below float16's smallest normal number, 2^-14 (all zero included),
    while its logit gradient is not zero, and *overflowed* when an entry is not finite
    (:func:`~saliency_core.precision.scale_status`). Those images are computed again
    with ``k`` raised (underflow) or lowered (overflow) by
    :data:`~saliency_core.precision.SCALE_STEP`, or halfway between the last
    exponents that underflowed and overflowed once both are known
    (:func:`~saliency_core.precision.next_exponents`), at most
    :data:`~saliency_core.precision.MAX_RESCALES` times, after which a
    :class:`~saliency_core.precision.LossScaleWarning` names them. The check reads the
    status on the host, so a float16 call waits for the device. bfloat16 has
    float32's exponent range and is not scaled.
    """
    import tensorflow as tf

    _check("variant", variant, VARIANTS)
    _check("score", score, SCORES)
    _check("precision", precision, PRECISIONS)
    shape, dtype = classifier.input_shape, classifier.dtype
    out = GradientFunction(
        variant,
        score,
        None,  # type: ignore[arg-type]  # fn set below
        shape,
        dtype,
        precision=precision,
        loss_scaled=precision == "float16",
    )

    def head(logits, targets):
        top1 = tf.argmax(logits, axis=-1, output_type=tf.int32)
        chosen = tf.where(targets < 0, top1, targets)
        values = tf.nn.softmax(logits, axis=-1) if score == "probability" else logits
        return tf.gather(values, chosen, axis=1, batch_dims=1), chosen

    def body(images, targets):
        if variant != "eager":
            out.traces += 1  # Python side effect: runs at trace time only
        with tf.GradientTape() as tape:
            tape.watch(images)
            logits = _network_logits(classifier, images, precision)
            class_score, chosen = head(logits, targets)
        # Each image's score depends only on its own input (inference mode), so the
        # gradient of the sum is the per-image gradient.
        grads = tape.gradient(class_score, images)
        return grads, logits, chosen

    def scaled_body(images, targets, exponents):
        from .precision import low_precision, power_of_two, scale_status

        if variant != "eager":
            out.traces += 1
        with tf.GradientTape() as outer:  # the float32 preprocessing
            outer.watch(images)
            x = classifier.network_input(images)
        with tf.GradientTape() as tape:  # the float16 network
            tape.watch(x)
            with low_precision(classifier.model, precision):
                logits = tf.cast(classifier.model(x, training=False), tf.float32)
        with tf.GradientTape() as score_tape:  # the float32 score of the logits
            score_tape.watch(logits)
            class_score, chosen = head(logits, targets)
        upstream = score_tape.gradient(class_score, logits)
        peak = tf.reduce_max(tf.abs(upstream), axis=1)
        e = tf.where(peak > 0, tf.math.ceil(tf.math.log(tf.maximum(peak, 1e-37)) / tf.math.log(2.0)), 0.0)
        scale = power_of_two(exponents - tf.cast(e, tf.int32))
        at_network = tape.gradient(logits, x, output_gradients=upstream * scale[:, None])
        status = scale_status(at_network, upstream)
        grads = outer.gradient(x, images, output_gradients=at_network)
        grads = grads / tf.cast(tf.reshape(scale, [-1] + [1] * len(shape)), grads.dtype)
        return grads, logits, chosen, status

    images_spec = tf.TensorSpec((None, *shape), dtype)
    targets_spec = tf.TensorSpec((None,), tf.int32)
    if out.loss_scaled:
        out.fn = _compile(scaled_body, [images_spec, targets_spec, targets_spec], variant)
    else:
        out.fn = _compile(body, [images_spec, targets_spec], variant)
    return out


def build_forward_fn(classifier, *, variant="xla", precision="float32") -> GradientFunction:
    """Build the forward pass (raw images -> logits) in the same three variants.

    Used to time the forward pass beside saliency and to score perturbed images.
    ``precision`` as in :func:`build_gradient_fn`: the logits are returned in float32.
    """
    import tensorflow as tf

    _check("variant", variant, VARIANTS)
    _check("precision", precision, PRECISIONS)
    shape, dtype = classifier.input_shape, classifier.dtype
    out = GradientFunction(variant, "logit", None, shape, dtype, precision=precision)  # type: ignore[arg-type]  # fn set below

    def body(images):
        if variant != "eager":
            out.traces += 1
        return _network_logits(classifier, images, precision)

    out.fn = _compile(body, [tf.TensorSpec((None, *shape), dtype)], variant)
    return out
