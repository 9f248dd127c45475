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
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Literal, get_args

__all__ = [
    "VARIANTS",
    "SCORES",
    "Variant",
    "Score",
    "GradientFunction",
    "build_gradient_fn",
    "build_forward_fn",
]

Variant = Literal["eager", "function", "xla"]
Score = Literal["logit", "probability"]
VARIANTS: tuple[Variant, ...] = get_args(Variant)
SCORES: tuple[Score, ...] = get_args(Score)


def _check(name, value, allowed):
    if value not in allowed:
        raise ValueError(f"unknown {name} {value!r}; choose one of {', '.join(allowed)}")


@dataclass
class GradientFunction:
    """A compiled (or eager) gradient or forward function and its trace counter.

    Call it with ``images`` (N, H, W, C) in the classifier's input space and
    ``targets`` (N,) int32 (``-1`` = top-1). Returns tensors
    ``(gradients (N, H, W, C), logits (N, K), targets (N,))`` for a gradient
    function, ``logits (N, K)`` for a forward function.

    ``traces`` counts how often the Python body was traced (always 0 for eager):
    a correct ``function``/``xla`` build traces once.
    """

    variant: str
    score: str
    fn: Callable = field(repr=False)
    input_shape: tuple[int, ...]
    dtype: str
    traces: int = 0

    def __call__(self, *args):
        return self.fn(*args)


def _compile(body, signature, variant):
    import tensorflow as tf

    if variant == "eager":
        return body
    return tf.function(body, input_signature=signature, jit_compile=(variant == "xla"), reduce_retracing=True)


def build_gradient_fn(classifier, *, variant="xla", score="logit") -> GradientFunction:
    """Build the gradient of the target class score with respect to the input.

    Args:
        classifier: A :class:`~saliency_core.models.classifier.Classifier`.
        variant: "eager", "function" or "xla".
        score: "logit" (pre-softmax class score, Simonyan et al. 2014) or
            "probability" (softmax of the logits, as in the TF2 recipe).
    """
    import tensorflow as tf

    _check("variant", variant, VARIANTS)
    _check("score", score, SCORES)
    shape, dtype = classifier.input_shape, classifier.dtype
    out = GradientFunction(variant, score, None, shape, dtype)  # type: ignore[arg-type]  # fn set below

    def body(images, targets):
        if variant != "eager":
            out.traces += 1  # Python side effect: runs at trace time only
        with tf.GradientTape() as tape:
            tape.watch(images)
            logits = classifier.logits(images)
            top1 = tf.argmax(logits, axis=-1, output_type=tf.int32)
            chosen = tf.where(targets < 0, top1, targets)
            values = tf.nn.softmax(logits, axis=-1) if score == "probability" else logits
            class_score = tf.gather(values, chosen, axis=1, batch_dims=1)
        # Each image's score depends only on its own input (inference mode), so the
        # gradient of the sum is the per-image gradient.
        grads = tape.gradient(class_score, images)
        return grads, logits, chosen

    signature = [tf.TensorSpec((None, *shape), dtype), tf.TensorSpec((None,), tf.int32)]
    out.fn = _compile(body, signature, variant)
    return out


def build_forward_fn(classifier, *, variant="xla") -> GradientFunction:
    """Build the forward pass (raw images -> logits) in the same three variants.

    Used to time the forward pass beside saliency and to score perturbed images.
    """
    import tensorflow as tf

    _check("variant", variant, VARIANTS)
    shape, dtype = classifier.input_shape, classifier.dtype
    out = GradientFunction(variant, "logit", None, shape, dtype)  # type: ignore[arg-type]  # fn set below

    def body(images):
        if variant != "eager":
            out.traces += 1
        return classifier.logits(images)

    out.fn = _compile(body, [tf.TensorSpec((None, *shape), dtype)], variant)
    return out
