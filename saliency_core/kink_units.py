"""The kink units of one layer kind (a ReLU, a max pooling): which side of its kink each
unit lies on, which units flip between two computations, and a pinned layer that keeps
chosen units on a fixed side. Used by :mod:`saliency_core.kinks` and
:mod:`saliency_core.comparison`.

Each kink layer kind reads the layer's input ``z`` (a batch) and offers:

* ``units(z)``: how many kink units the batch has;
* ``flips(za, zb)``: units on different sides, as ``(index, da, db, kink)`` with
  ``da``/``db`` the quantity that decides the side in each computation;
* ``pin(za, zb, tol)``: an int8 pattern fixing every unit within ``tol`` of a kink
  in either computation (``-1`` leaves a unit free);
* ``shifts(za, zb, pattern)``: for each pinned unit, how far the quantity that decides
  its side moved between the two computations (0 for free units);
* ``pinned(holder, name, dtype)``: a Keras layer that follows ``holder.value``
  (computing in the original layer's dtype policy: a float64 network stays float64).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["MaxPoolKinks", "PatternHolder", "ReluKinks"]


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
        ``za`` lies on (its :meth:`region`: 0, 1 or 2); -1 for the others.

        Pinning to the reference's own piece, rather than to a fixed one, keeps the
        reference's gradient as it was, and keeps a real difference in the slope of a
        near-kink unit visible in the pinned comparison.
        """
        near = (np.abs(za - self.threshold) <= tol) | (np.abs(zb - self.threshold) <= tol)
        if self.max_value is not None:
            near |= (np.abs(za - self.max_value) <= tol) | (np.abs(zb - self.max_value) <= tol)
        return np.where(near, self.region(za), -1).astype(np.int8)

    def shifts(self, za: np.ndarray, zb: np.ndarray, pattern: np.ndarray) -> np.ndarray:
        """``|za - zb|`` of each pinned unit; 0 for the others."""
        return np.where(pattern >= 0, np.abs(za.astype(np.float64) - zb), 0.0)

    def pinned(self, holder: PatternHolder, name: str, dtype=None):
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
                p = holder.value  # pin() writes the region: 0 below, 1 identity, 2 above max_value
                pinned = tf.where(p == 0, below, tf.where(p == 1, z, own))
                if k.max_value is not None:
                    pinned = tf.where(p == 2, tf.fill(tf.shape(z), tf.cast(k.max_value, z.dtype)), pinned)
                return pinned

        return PinnedRelu(name=name, dtype=dtype)


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

    def shifts(self, za: np.ndarray, zb: np.ndarray, pattern: np.ndarray) -> np.ndarray:
        """For each pinned window, how far its largest element's lead over the runner-up
        (both as ranked in ``za``) moved: ``|(a1 - a2) - (b1 - b2)|``; 0 for the others."""
        wa, wb = self.windows(za).astype(np.float64), self.windows(zb)
        order = np.argsort(-wa, axis=-1, kind="stable")[..., :2]
        lead = lambda w: np.diff(np.take_along_axis(w, order, axis=-1), axis=-1)[..., 0]  # noqa: E731
        with np.errstate(invalid="ignore"):  # windows padded with -inf: never pinned
            return np.where(pattern >= 0, np.abs(lead(wa) - lead(wb)), 0.0)

    def pinned(self, holder: PatternHolder, name: str, dtype=None):
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

        return PinnedMaxPool(name=name, dtype=dtype)


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
