"""The Keras layers a Vision Transformer needs besides the built-in ones: the class token,
the position embedding, multi-head self-attention of projected queries, keys and values,
and the class token's output; :func:`custom_objects` lists them for loading a saved ViT.
The architecture is in :mod:`saliency_core.models.vit`.
"""

from __future__ import annotations

import math

import keras

__all__ = ["ClassToken", "ClassTokenOutput", "MultiHeadSelfAttention", "PositionEmbedding", "custom_objects"]


class ClassToken(keras.layers.Layer):
    """Prepends one learned token (the class token) to a (N, T, D) sequence."""

    def __init__(self, token_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        self.token_initializer = keras.initializers.get(token_initializer)

    def build(self, input_shape):
        self.token = self.add_weight(
            name="token", shape=(1, 1, int(input_shape[-1])), initializer=self.token_initializer
        )

    def call(self, x):
        token = keras.ops.broadcast_to(
            keras.ops.cast(self.token, x.dtype), (keras.ops.shape(x)[0], 1, x.shape[-1])
        )
        return keras.ops.concatenate([token, x], axis=1)

    def compute_output_shape(self, input_shape):
        n, t, d = input_shape
        return (n, None if t is None else t + 1, d)

    def get_config(self):
        return {
            **super().get_config(),
            "token_initializer": keras.initializers.serialize(self.token_initializer),
        }


class PositionEmbedding(keras.layers.Layer):
    """Adds a learned (T, D) embedding to a (N, T, D) sequence."""

    def __init__(self, embeddings_initializer=None, **kwargs):
        super().__init__(**kwargs)
        self.embeddings_initializer = keras.initializers.get(
            embeddings_initializer or keras.initializers.RandomNormal(stddev=0.02)
        )

    def build(self, input_shape):
        self.embeddings = self.add_weight(
            name="embeddings", shape=(1, *map(int, input_shape[1:])), initializer=self.embeddings_initializer
        )

    def call(self, x):
        return x + keras.ops.cast(self.embeddings, x.dtype)

    def get_config(self):
        return {
            **super().get_config(),
            "embeddings_initializer": keras.initializers.serialize(self.embeddings_initializer),
        }


class MultiHeadSelfAttention(keras.layers.Layer):
    """Scaled dot-product attention of projected queries, keys and values (no weights).

    Takes ``[q, k, v]``, each (N, T, D); splits D into ``num_heads`` heads of
    D / num_heads, computes ``softmax(q k^T / sqrt(D / num_heads)) v`` per head
    with two batched matrix products, and joins the heads back to (N, T, D).
    """

    def __init__(self, num_heads: int, **kwargs):
        super().__init__(**kwargs)
        self.num_heads = int(num_heads)

    def call(self, inputs):
        ops = keras.ops
        q, k, v = inputs
        t, d = q.shape[1], q.shape[2]
        head = d // self.num_heads

        def split(x):  # (N, T, D) -> (N, heads, T, head)
            return ops.transpose(ops.reshape(x, (-1, t, self.num_heads, head)), (0, 2, 1, 3))

        q = split(q) * ops.cast(1.0 / math.sqrt(head), q.dtype)
        scores = ops.matmul(q, ops.transpose(split(k), (0, 1, 3, 2)))  # (N, heads, T, T)
        out = ops.matmul(ops.softmax(scores, axis=-1), split(v))
        return ops.reshape(ops.transpose(out, (0, 2, 1, 3)), (-1, t, d))

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "num_heads": self.num_heads}


class ClassTokenOutput(keras.layers.Layer):
    """The first token of a (N, T, D) sequence, as (N, D)."""

    def call(self, x):
        return x[:, 0]

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2])


def custom_objects() -> dict:
    """The custom layers, by class name (for ``keras.models.load_model`` of a saved ViT)."""
    return {
        cls.__name__: cls for cls in (ClassToken, PositionEmbedding, MultiHeadSelfAttention, ClassTokenOutput)
    }
