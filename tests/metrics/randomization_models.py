"""Small models for the randomization metrics' tests (16 x 16 inputs)."""

from __future__ import annotations

import keras
import numpy as np

SIZE = 16
PATCH = (slice(6, 10), slice(5, 9))
"""Rows and columns of the patch that holds a :func:`patch_cnn`'s class evidence."""


def patch_cnn() -> keras.Model:
    """A CNN whose "trained" evidence sits in one 4 x 4 patch, as training concentrates it.

    ``conv`` (3 x 3, ReLU, positive biases so most units are active) then ``logits``
    (dense) whose weights are zero except on the conv features inside :data:`PATCH`.
    So the gradient is zero outside the patch grown by the 3 x 3 kernel (36 of 256
    pixels). Randomizing re-draws both layers from their Keras initializers (Glorot
    uniform kernels, zero biases): the dense weights cover every feature, and the
    gradient spreads over the image.
    """
    layers = keras.layers
    inputs = keras.Input((SIZE, SIZE, 3))
    x = layers.Conv2D(4, 3, padding="same", activation="relu", name="conv")(inputs)
    x = layers.Flatten(name="flat")(x)
    model = keras.Model(inputs, layers.Dense(3, name="logits")(x))
    rng = np.random.default_rng(0)
    model.get_layer("conv").set_weights(
        [rng.normal(0, 0.5, (3, 3, 3, 4)).astype("float32"), np.full(4, 0.2, "float32")]
    )
    dense = np.zeros((SIZE, SIZE, 4, 3), "float32")
    dense[PATCH] = rng.normal(0, 1, dense[PATCH].shape)
    model.get_layer("logits").set_weights([dense.reshape(-1, 3), np.zeros(3, "float32")])
    return model


def images(n: int = 3, seed: int = 0) -> np.ndarray:
    """(n, 16, 16, 3) float32 uniform in [0, 1)."""
    return np.random.default_rng(seed).uniform(0, 1, (n, SIZE, SIZE, 3)).astype("float32")


def fully_randomized(model: keras.Model, seed: int) -> keras.Model:
    """A copy of ``model`` with every weighted layer re-drawn as the randomization tests
    draw it (each variable from its layer's own initializer, seeded per variable)."""
    from saliency_core.models.init import random_weights

    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    for layer in clone.layers:
        if layer.weights:
            values, missing = random_weights(layer, seed)
            assert not missing
            for v in layer.weights:
                v.assign(values[v.name])
    return clone
