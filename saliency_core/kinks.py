"""The kinks of a piecewise-linear network, and a copy of it with chosen units pinned.

A ReLU network with max pooling is piecewise linear: its input gradient is constant
within a region and jumps where a ReLU's pre-activation crosses a kink (0, a
threshold, a ReLU6's 6) or where the largest value of a max-pooling window changes.
Two computations of the same network (two execution variants, or two inputs an ulp
apart) can land on different sides of such a kink when a unit lies within rounding
of it. This module finds those units and builds a copy of the network in which
chosen units take a fixed side: ReLU units a fixed linear piece, pooling windows a
fixed element. Used by :mod:`saliency_core.agreement`.

Each kink layer kind reads the layer's input ``z`` (a batch) and offers:

* ``units(z)``: how many kink units the batch has;
* ``flips(za, zb)``: units on different sides, as ``(index, da, db, kink)`` with
  ``da``/``db`` the quantity that decides the side in each computation;
* ``pin(za, zb, tol)``: an int8 pattern fixing every unit within ``tol`` of a kink
  in either computation (``-1`` leaves a unit free);
* ``pinned(holder, name)``: a Keras layer that follows ``holder.value``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "KinkAnalysisError",
    "MaxPoolKinks",
    "PatternHolder",
    "ReluKinks",
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


@dataclass(frozen=True)
class ReluKinks:
    """A piecewise-linear ReLU: slope ``negative_slope`` below ``threshold``, identity
    up to ``max_value``, constant above it."""

    threshold: float = 0.0
    max_value: float | None = None
    negative_slope: float = 0.0

    def region(self, z: np.ndarray) -> np.ndarray:
        """0 below the threshold, 1 on the identity piece, 2 at or above max_value."""
        r = (z > self.threshold).astype(np.int8)
        if self.max_value is not None:
            r += (z >= self.max_value).astype(np.int8)
        return r

    def kink(self, a: int, b: int) -> float:
        return self.max_value if max(a, b) == 2 and self.max_value is not None else self.threshold

    def units(self, z: np.ndarray) -> int:
        return int(z.size)

    def flips(self, za: np.ndarray, zb: np.ndarray):
        ra, rb = self.region(za), self.region(zb)
        for idx in map(tuple, np.argwhere(ra != rb)):
            yield idx, float(za[idx]), float(zb[idx]), self.kink(ra[idx], rb[idx])

    def pin(self, za: np.ndarray, zb: np.ndarray, tol: np.ndarray) -> np.ndarray:
        """Every unit within ``tol`` of a kink (in ``za`` or ``zb``) pinned to the piece
        just below that kink; -1 for the others."""
        pattern = np.full(za.shape, -1, np.int8)
        near = lambda k: (np.abs(za - k) <= tol) | (np.abs(zb - k) <= tol)  # noqa: E731
        pattern[near(self.threshold)] = 0
        if self.max_value is not None:
            pattern[near(self.max_value)] = 1
        return pattern

    def pinned(self, holder: PatternHolder, name: str):
        import keras
        import tensorflow as tf

        kinks = self

        class PinnedRelu(keras.layers.Layer):
            def call(self, z):
                k = kinks
                below = k.negative_slope * (z - k.threshold)
                own = tf.where(z > k.threshold, z, below)
                if k.max_value is not None:
                    own = tf.where(z >= k.max_value, tf.fill(tf.shape(z), tf.cast(k.max_value, z.dtype)), own)
                if holder.value is None:  # building the copy: no pattern yet
                    return own
                p = holder.value  # pin() writes 0 (below the threshold) or 1 (the identity piece)
                return tf.where(p == 0, below, tf.where(p == 1, z, own))

        return PinnedRelu(name=name)


@dataclass(frozen=True)
class MaxPoolKinks:
    """A 2-D max pooling (channels last): each output is the largest value of its window,
    and its gradient goes to that element. A unit is a window of one channel."""

    pool_size: tuple[int, int]
    strides: tuple[int, int]
    padding: str  # "valid" or "same"

    def _pads(self, h: int, w: int) -> list[tuple[int, int]]:
        if self.padding == "valid":
            return [(0, 0), (0, 0)]
        pads = []
        for size, k, s in zip((h, w), self.pool_size, self.strides):
            out = -(-size // s)
            total = max((out - 1) * s + k - size, 0)
            pads.append((total // 2, total - total // 2))
        return pads

    def windows(self, z: np.ndarray) -> np.ndarray:
        """(N, Ho, Wo, C, kh * kw): every window's values, row-major within the window."""
        (pt, pb), (pl, pr) = self._pads(z.shape[1], z.shape[2])
        if pt or pb or pl or pr:
            z = np.pad(z, [(0, 0), (pt, pb), (pl, pr), (0, 0)], constant_values=-np.inf)
        kh, kw = self.pool_size
        view = np.lib.stride_tricks.sliding_window_view(z, (kh, kw), axis=(1, 2))
        view = view[:, :: self.strides[0], :: self.strides[1]]
        return view.reshape(*view.shape[:4], kh * kw)

    def units(self, z: np.ndarray) -> int:
        (pt, pb), (pl, pr) = self._pads(z.shape[1], z.shape[2])
        out = [
            (size + p0 + p1 - k) // s + 1
            for size, p0, p1, k, s in zip(z.shape[1:3], (pt, pl), (pb, pr), self.pool_size, self.strides)
        ]
        return int(z.shape[0] * out[0] * out[1] * z.shape[3])

    def flips(self, za: np.ndarray, zb: np.ndarray):
        wa, wb = self.windows(za), self.windows(zb)
        ia, ib = np.argmax(wa, axis=-1), np.argmax(wb, axis=-1)
        for idx in map(tuple, np.argwhere(ia != ib)):
            a, b = ia[idx], ib[idx]
            # The side is decided by value[a] - value[b]: >= 0 in a, <= 0 in b.
            yield idx, float(wa[idx][a] - wa[idx][b]), float(wb[idx][a] - wb[idx][b]), 0.0

    def pin(self, za: np.ndarray, zb: np.ndarray, tol: np.ndarray) -> np.ndarray:
        """Every window whose two largest values lie within ``tol`` (in ``za`` or ``zb``)
        pinned to ``za``'s largest element; -1 for the others."""
        wa, wb = self.windows(za), self.windows(zb)
        top2 = lambda w: -np.diff(np.sort(w, axis=-1)[..., -2:], axis=-1)[..., 0]  # noqa: E731
        tol = np.reshape(tol, tol.shape[:1] + (1,) * 3)
        near = (np.abs(top2(wa)) <= tol) | (np.abs(top2(wb)) <= tol)
        return np.where(near, np.argmax(wa, axis=-1), -1).astype(np.int8)

    def pinned(self, holder: PatternHolder, name: str):
        import keras
        import tensorflow as tf

        kinks = self

        class PinnedMaxPool(keras.layers.Layer):
            def call(self, z):
                (kh, kw), (sh, sw) = kinks.pool_size, kinks.strides
                own = tf.nn.max_pool2d(z, (kh, kw), (sh, sw), kinks.padding.upper())
                if holder.value is None:  # building the copy: no pattern yet
                    return own
                pads = kinks._pads(z.shape[1], z.shape[2])
                padded = tf.pad(z, [(0, 0), *pads, (0, 0)], constant_values=z.dtype.min)
                patches = tf.image.extract_patches(
                    padded, [1, kh, kw, 1], [1, sh, sw, 1], [1, 1, 1, 1], "VALID"
                )
                shape = tf.concat([tf.shape(patches)[:3], [kh * kw, tf.shape(z)[3]]], 0)
                patches = tf.reshape(patches, shape)  # (N, Ho, Wo, kh*kw, C)
                p = tf.cast(holder.value, tf.int32)
                chosen = tf.reduce_sum(patches * tf.one_hot(p, kh * kw, axis=3, dtype=z.dtype), axis=3)
                return tf.where(p >= 0, chosen, own)

        return PinnedMaxPool(name=name)


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
        return out if act is None else keras.layers.Activation(act, name=f"{layer.name}_{act}")(out)

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


class PatternHolder:
    """The pattern a pinned layer follows; a plain holder, so Keras does not track
    the variable as a weight of the model. A variable, so a compiled function traces
    and compiles once for every pattern of one shape."""

    def __init__(self):
        self.value = None

    def assign(self, pattern: np.ndarray) -> None:
        import tensorflow as tf

        if self.value is None or tuple(self.value.shape) != pattern.shape:
            self.value = tf.Variable(pattern, trainable=False)
        else:
            self.value.assign(pattern)


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
            return kinds[layer.name].pinned(holders[layer.name], layer.name)
        return layer

    return keras.models.clone_model(model, clone_function=clone), holders
