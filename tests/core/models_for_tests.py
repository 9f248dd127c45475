"""Small Keras models with known structure, for core tests."""

import keras
import numpy as np


def small_cnn(dtype="float32", seed=0, classes=4, size=8, channels=3, softmax=False):
    """A smooth (tanh) CNN so central finite differences are accurate."""
    init = lambda i: keras.initializers.GlorotUniform(seed=seed + i)  # noqa: E731
    inputs = keras.Input((size, size, channels), dtype=dtype)
    x = keras.layers.Conv2D(
        5,
        3,
        padding="same",
        activation="tanh",
        dtype=dtype,
        kernel_initializer=init(1),
        bias_initializer="ones",
    )(inputs)
    x = keras.layers.Conv2D(4, 3, strides=2, activation="tanh", dtype=dtype, kernel_initializer=init(2))(x)
    x = keras.layers.Flatten(dtype=dtype)(x)
    x = keras.layers.Dense(
        classes,
        dtype=dtype,
        kernel_initializer=init(3),
        activation="softmax" if softmax else None,
        name="head",
    )(x)
    return keras.Model(inputs, x, name="small_cnn")


def images(n=3, size=8, channels=3, dtype="float32", seed=0):
    return np.random.default_rng(seed).normal(size=(n, size, size, channels)).astype(dtype)


def relative_l2(a, b):
    """Per-image relative L2 of ``a`` against ``b`` (in float64)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    axes = tuple(range(1, a.ndim))
    return np.sqrt(((a - b) ** 2).sum(axes) / (b**2).sum(axes))


def float64_twin(build, model, **kwargs):
    """``build("float64", **kwargs)`` carrying ``model``'s weights (cast exactly): the
    reference that rounding errors are measured against."""
    twin = build("float64", **kwargs)
    twin.set_weights([np.asarray(w, np.float64) for w in model.get_weights()])
    return twin


def rounding_kappa(float32_values, float64_values) -> float:
    """The measured noise floor of a float32 computation, in units of float32's epsilon:
    its largest per-image relative L2 from the float64 computation of the same network
    on the same inputs (at least 1). A first-order rounding model puts the same
    computation at another precision within a small multiple of ``kappa * eps``; this
    measures ``kappa`` on whatever kernels this machine runs (oneDNN on or off)."""
    from saliency_core.precision import EPSILON

    return max(float(relative_l2(float32_values, float64_values).max()) / EPSILON["float32"], 1.0)
