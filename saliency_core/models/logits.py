"""Reach the pre-softmax logits of a trained Keras model without retraining.

Gradients of a softmax output saturate: when one class dominates, its probability
barely moves with the input. Simonyan et al. (2014) take the gradient of the
unnormalised class score, so the core always works from logits and applies the
softmax itself when ``score="probability"`` is asked for.
"""

from __future__ import annotations

__all__ = ["logit_model", "SoftmaxHeadError"]


class SoftmaxHeadError(ValueError):
    """The model's output looks like probabilities but its logits cannot be reached."""


def _is_softmax(fn) -> bool:
    name = getattr(fn, "__name__", "") or type(fn).__name__
    return name.lower() == "softmax"


def logit_model(model):
    """Return ``(logits_model, source)``.

    ``source`` is "logits" when the model already outputs logits (returned as is),
    or "stripped-softmax" when a final softmax was bypassed. The new model shares
    the original's variables, so assigning weights to one changes the other.

    Handled heads: a final ``Softmax`` layer or ``Activation("softmax")``, and a
    final ``Dense``/``Conv`` layer whose ``activation`` is softmax.
    """
    import keras

    if len(model.outputs) != 1:
        raise ValueError(
            f"model {model.name!r} has {len(model.outputs)} outputs; "
            "saliency needs a single classification output"
        )
    last = model.layers[-1]
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    if isinstance(last, keras.layers.Softmax) or (
        isinstance(last, keras.layers.Activation) and _is_softmax(last.activation)
    ):
        return keras.Model(inputs, last.input, name=f"{model.name}_logits"), "stripped-softmax"
    activation = getattr(last, "activation", None)
    if activation is not None and _is_softmax(activation):
        if not isinstance(last, keras.layers.Dense):
            raise SoftmaxHeadError(
                f"model {model.name!r} ends in {type(last).__name__} with a softmax activation; "
                "only Dense, Softmax and Activation('softmax') heads can be bypassed. "
                "Save the model without the final softmax, or pass score='probability'."
            )
        hidden = last.input

        class _LinearHead(keras.layers.Layer):
            """The final Dense layer's affine map, reusing its own variables."""

            def __init__(self, dense, **kwargs):
                super().__init__(**kwargs)
                self.dense = dense

            def call(self, x):
                y = keras.ops.matmul(x, self.dense.kernel)
                return y + self.dense.bias if self.dense.use_bias else y

        logits = _LinearHead(last, name=f"{last.name}_logits")(hidden)
        return keras.Model(inputs, logits, name=f"{model.name}_logits"), "stripped-softmax"
    return model, "logits"
