"""The EfficientNet-Lite0 architecture as a functional Keras model (untrained).

Architecture: EfficientNet-B0 without squeeze-excitation, ReLU6 activations, stem
fixed at 32 channels and head at 1280, BatchNorm epsilon 1e-3. The Keras model is
inference-only: the reference's dropout (0.2) before the classifier and its
drop-connect are training-time regularisers and are left out.
"""

from __future__ import annotations

from typing import cast

import numpy as np

__all__ = ["build_efficientnet_lite0"]

# Stages as (expand ratio, kernel, stride, output channels, repeats): EfficientNet-B0.
_STAGES = (
    (1, 3, 1, 16, 1),
    (6, 3, 2, 24, 2),
    (6, 5, 2, 40, 2),
    (6, 3, 2, 80, 3),
    (6, 5, 1, 112, 3),
    (6, 5, 2, 192, 4),
    (6, 3, 1, 320, 1),
)
_STEM, _HEAD, _BN_EPS = 32, 1280, 1e-3


def build_efficientnet_lite0(num_classes: int = 1000, input_size: int | tuple[int, int] = 224, dtype=None):
    """An untrained EfficientNet-Lite0 as a functional Keras model.

    Args:
        num_classes: Width of the final Dense layer.
        input_size: Height and width of the RGB input: one number (square) or (H, W).
        dtype: Keras dtype policy name for every layer ("float32", "float64", ...);
            None uses the global policy.
    Returns:
        ``keras.Model`` mapping (N, H, W, 3) inputs normalised as
        ``(x - 127) / 128`` to logits (N, num_classes); the last layer is the Dense
        layer "logits", with no softmax.
    """
    import keras
    from keras import layers

    def bn_relu(x, name, relu=True):
        x = layers.BatchNormalization(epsilon=_BN_EPS, momentum=0.99, name=f"{name}_bn", dtype=dtype)(x)
        return layers.ReLU(6.0, name=f"{name}_relu", dtype=dtype)(x) if relu else x

    input_dtype = keras.DTypePolicy(dtype).variable_dtype if dtype else None
    # np.ndim, not isinstance: a numpy integer is a size too
    height, width = cast(
        tuple[int, int], (input_size, input_size) if np.ndim(input_size) == 0 else input_size
    )
    inputs = keras.Input((int(height), int(width), 3), dtype=input_dtype, name="image")
    x = layers.Conv2D(_STEM, 3, strides=2, padding="same", use_bias=False, name="stem_conv", dtype=dtype)(
        inputs
    )
    x = bn_relu(x, "stem")
    channels, index = _STEM, 0
    for expand, kernel, stride, out, repeats in _STAGES:
        for r in range(repeats):
            name, block_in = f"block{index}", x
            s = stride if r == 0 else 1
            if expand != 1:
                x = layers.Conv2D(
                    channels * expand, 1, use_bias=False, name=f"{name}_expand_conv", dtype=dtype
                )(x)
                x = bn_relu(x, f"{name}_expand")
            x = layers.DepthwiseConv2D(
                kernel, strides=s, padding="same", use_bias=False, name=f"{name}_dwconv", dtype=dtype
            )(x)
            x = bn_relu(x, f"{name}_dw")
            x = layers.Conv2D(out, 1, use_bias=False, name=f"{name}_project_conv", dtype=dtype)(x)
            x = bn_relu(x, f"{name}_project", relu=False)
            if s == 1 and channels == out:
                x = layers.Add(name=f"{name}_add", dtype=dtype)([x, block_in])
            channels, index = out, index + 1
    x = layers.Conv2D(_HEAD, 1, use_bias=False, name="head_conv", dtype=dtype)(x)
    x = bn_relu(x, "head")
    x = layers.GlobalAveragePooling2D(name="avg_pool", dtype=dtype)(x)
    outputs = layers.Dense(num_classes, name="logits", dtype=dtype)(x)
    return keras.Model(inputs, outputs, name="efficientnet_lite0")
