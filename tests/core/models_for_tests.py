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
