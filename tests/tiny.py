"""The tiny random CNN many tests use: 16 x 16 RGB -> one ReLU convolution, global
average pooling -> 3 logits, seeded initializers (the same weights in every process)."""

from __future__ import annotations


def tiny_cnn(filters: int = 4):
    import keras

    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(
        filters, 3, padding="same", activation="relu", kernel_initializer=keras.initializers.HeNormal(seed=1)
    )(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(3, kernel_initializer=keras.initializers.GlorotUniform(seed=3))(x)
    return keras.Model(inputs, outputs)
