"""The kinks of a piecewise-linear network, and a copy of it with chosen units pinned.

A ReLU network with max pooling is piecewise linear: its input gradient is constant
within a region and jumps where a ReLU's pre-activation crosses a kink (0, a
threshold, a ReLU6's 6) or where the largest value of a max-pooling window changes.
Two computations of the same network (two execution variants, or two inputs an ulp
apart) can land on different sides of such a kink when a unit lies within rounding
of it. This module finds those units and builds a copy of the network in which
chosen units take a fixed side: ReLU units a fixed linear piece, pooling windows a
fixed element. Used by :mod:`saliency_core.agreement`.

The units of each kink layer kind, and the pinned layers, are in
:mod:`saliency_core.kink_units`.
"""

from __future__ import annotations

from typing import Any

from .kink_units import MaxPoolKinks, PatternHolder, ReluKinks

__all__ = [
    "KinkAnalysisError",
    "kink_inputs_fn",
    "kink_layers",
    "pinned_copy",
    "smooth_activations",
    "split_fused_relus",
]

# Keras activation functions with kinks, and their pieces (keras.activations defaults).
_ACTIVATION_KINKS = {"relu": dict(), "relu6": dict(max_value=6.0), "leaky_relu": dict(negative_slope=0.2)}


class KinkAnalysisError(ValueError):
    """The model's kinks cannot be inspected (inside other layers, or not a functional model)."""


def _kinks_of(layer):
    import keras

    if isinstance(layer, keras.layers.ReLU):
        mv = None if layer.max_value is None else float(layer.max_value)
        return ReluKinks(float(layer.threshold), mv, float(layer.negative_slope))
    if isinstance(layer, keras.layers.LeakyReLU):
        return ReluKinks(negative_slope=float(layer.negative_slope))
    if isinstance(layer, keras.layers.Activation):
        pieces = _ACTIVATION_KINKS.get(getattr(layer.activation, "__name__", ""))
        return None if pieces is None else ReluKinks(**pieces)
    if isinstance(layer, keras.layers.MaxPooling2D):
        if layer.data_format != "channels_last":
            raise KinkAnalysisError(
                f"max pooling layer {layer.name!r} is channels_first; "
                "the kink analysis reads channels_last only"
            )
        return MaxPoolKinks(tuple(layer.pool_size), tuple(layer.strides), layer.padding)
    return None


def kink_layers(model) -> list[tuple[Any, ReluKinks | MaxPoolKinks]]:
    """The model's kink layers, in order, with their kind.

    Raises:
        KinkAnalysisError: a ReLU is fused into another layer, a nested model holds
            kinks, or the model is not functional.
    """
    import keras

    if not hasattr(model, "layers") or not getattr(model, "inputs", None):
        raise KinkAnalysisError(
            f"model {getattr(model, 'name', model)!r} is not a functional Keras "
            "model; the kink analysis reads its layers' inputs"
        )
    found, hidden = [], []
    for layer in model.layers:
        kinks = _kinks_of(layer)
        if kinks is not None:
            found.append((layer, kinks))
        elif isinstance(layer, keras.Model):
            if any(_kinks_of(inner) is not None for inner in layer._flatten_layers(include_self=False)):
                hidden.append(f"{layer.name} (a nested model)")
        elif _fused_relu(layer):
            hidden.append(
                f"{layer.name} ({type(layer).__name__} with activation={layer.activation.__name__})"
            )
        elif isinstance(
            layer, (keras.layers.MaxPooling1D, keras.layers.MaxPooling3D, keras.layers.GlobalMaxPooling2D)
        ):
            hidden.append(f"{layer.name} ({type(layer).__name__})")
    if hidden:
        raise KinkAnalysisError(
            f"model {model.name!r} has kinks the analysis cannot read: {', '.join(hidden[:3])}"
            + (f" and {len(hidden) - 3} more" if len(hidden) > 3 else "")
            + "; it needs each ReLU as its own layer (ReLU or Activation; split_fused_relus() "
            "makes one) and max pooling as MaxPooling2D"
        )
    return found


def smooth_activations(model) -> tuple[str, ...]:
    """Names of the activation functions ``model``'s layers apply that have no kink
    ("gelu", "swish", "tanh", ...; "linear" and the ReLU family left out), sorted."""
    names = set()
    for layer in model._flatten_layers(include_self=False, recursive=True):
        name = getattr(getattr(layer, "activation", None), "__name__", "")
        if name and name != "linear" and name not in _ACTIVATION_KINKS:
            names.add(name)
    return tuple(sorted(names))


def _fused_relu(layer) -> str | None:
    """The name of a kinked activation a layer applies inside itself (Conv2D(activation=
    "relu"), Dense(...)), or None."""
    import keras

    if isinstance(layer, (keras.layers.Activation, keras.layers.ReLU, keras.layers.LeakyReLU)):
        return None
    name = getattr(getattr(layer, "activation", None), "__name__", "")
    return name if name in _ACTIVATION_KINKS else None


def split_fused_relus(model):
    """``model`` with every ReLU applied inside another layer moved to a layer of its own.

    A functional copy: each such layer is rebuilt without its activation (with its
    weights copied) and followed by ``Activation(name)`` named ``"{layer}_{name}"``;
    the other kink layers are rebuilt too (they hold no weights), and every other
    layer is the model's own, shared. The
    copy computes the same function. Returns ``model`` itself when nothing is fused.
    """
    import keras

    fused = {layer.name: _fused_relu(layer) for layer in getattr(model, "layers", [])}
    fused = {name: act for name, act in fused.items() if act}
    if not fused:
        return model
    if not getattr(model, "inputs", None):
        raise KinkAnalysisError(
            f"model {model.name!r} is not a functional Keras model; its fused ReLUs cannot be split"
        )

    def clone(layer):
        if layer.name in fused:
            return layer.__class__.from_config({**layer.get_config(), "activation": "linear"})
        if _kinks_of(layer) is not None:  # fresh (weightless), so .input is this copy's tensor
            return layer.__class__.from_config(layer.get_config())
        return layer  # shared with the model, weights and all

    def call(layer, *args, **kwargs):
        out = layer(*args, **kwargs)
        act = fused.get(layer.name)
        if act is None:
            return out
        return keras.layers.Activation(act, name=f"{layer.name}_{act}", dtype=layer.dtype_policy)(out)

    copy = keras.models.clone_model(model, clone_function=clone, call_function=call)
    for name in fused:
        copy.get_layer(name).set_weights(model.get_layer(name).get_weights())
    return copy


def kink_inputs_fn(model, layers, variant: str = "eager", *, normalize=None):
    """``fn(images) -> [input of each kink layer...]`` (tensors).

    Compiled like ``variant`` ("eager", "function" or "xla"); ``normalize`` (for
    example a classifier's value preprocessing) runs first, inside the compiled body.
    """
    import keras
    import tensorflow as tf

    if not layers:  # a network without kinks (swish, GELU)
        return lambda x: []
    probe = keras.Model(model.inputs, [layer.input for layer, _ in layers])

    def body(x):
        out = probe(normalize(x) if normalize is not None else x, training=False)
        return list(out) if isinstance(out, (list, tuple)) else [out]  # one layer: one tensor

    if variant == "eager":
        return body
    return tf.function(body, jit_compile=(variant == "xla"))


def pinned_copy(model, layers):
    """A copy of ``model`` whose kink layers follow patterns; its other layers are the
    model's own (shared, so the copy holds no second set of weights).

    Returns ``(copy, {layer name: PatternHolder})``. Assign a pattern to every holder
    before calling the copy.
    """
    import keras

    kinds = {layer.name: kinks for layer, kinks in layers}
    holders = {name: PatternHolder() for name in kinds}

    def clone(layer):  # the other layers are shared with the model, weights and all
        if layer.name in kinds:
            return kinds[layer.name].pinned(holders[layer.name], layer.name, layer.dtype_policy)
        return layer

    return keras.models.clone_model(model, clone_function=clone), holders
