"""Vision Transformer (ViT) classifiers built from Keras 3 layers, and ViT-B/16.

Architecture of Dosovitskiy et al. 2021, "An Image is Worth 16x16 Words"
(ICLR 2021, Sec. 3.1, Table 1): the image is cut into non-overlapping P x P
patches, each linearly projected to the hidden size (a stride-P convolution); a
learned class token is prepended and learned position embeddings are added; then
L pre-LayerNorm encoder blocks, each

    x = x + Attention(LayerNorm(x))       (multi-head self-attention, H heads)
    x = x + MLP(LayerNorm(x))             (Dense(mlp_dim) -> GELU -> Dense(hidden))

and a final LayerNorm; the class token's output goes through a Dense head to the
logits. LayerNorm epsilon 1e-6 as in the authors' code. ViT-B/16 is P = 16, hidden
768, L = 12, H = 12, MLP 3072: 86,567,656 parameters with a 1000-class head.

Layer names identify each encoder block (``encoder_block_3_query``,
``encoder_block_3_mlp_dense_1``, ...), so :func:`~saliency_core.checks.randomization.randomization_blocks`
re-initialises one block (its two LayerNorms, attention and MLP) per step; the
other weighted layers are ``patch_embedding``, ``class_token``,
``position_embedding``, ``encoder_norm`` and ``head``.

Choices where the paper leaves room, stated once:

* GELU is the exact (erf) form, Keras's ``"gelu"`` (Hendrycks & Gimpel 2016, the
  paper's citation). The authors' JAX code uses the tanh approximation; the two
  differ by less than 5e-4 per unit.
* Initializers (used for ``weights="random"`` and by the randomization test) are
  of the kinds the authors' code uses: LeCun-normal patch projection, Glorot-uniform
  attention and MLP kernels, zero biases except the MLP's (normal, stddev 1e-6),
  position embeddings normal(0.02), a zero class token. The head is
  Glorot-uniform, not the authors' zero fine-tuning head, under which every
  input gradient of a randomly initialised model would be zero.
* Inference only: no dropout.

There are no ImageNet ViT weights that install offline (``keras.applications`` has
no ViT, and keras-hub presets download at run time): :func:`vit_b16` with
``weights="imagenet"`` raises :class:`~saliency_core.models.weights.WeightsUnavailableError`.
The model takes inputs scaled to [-1, 1], ``x / 127.5 - 1`` (the authors'
``(x - 127.5) / 127.5``), the registry's ``"tf"`` preprocessing family.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import keras

from .weights import WeightsUnavailableError

__all__ = [
    "NO_IMAGENET_MESSAGE",
    "VIT_B16",
    "ClassToken",
    "ClassTokenOutput",
    "MultiHeadSelfAttention",
    "PositionEmbedding",
    "ViTConfig",
    "build_vit",
    "custom_objects",
    "vit_b16",
]

NO_IMAGENET_MESSAGE = (
    "vit-b16: no ImageNet ViT weights install offline (keras.applications has no ViT and keras-hub "
    "presets download at run time); pass --weights PATH to a Keras weights file of this architecture "
    "(e.g. model.save_weights of saliency_core.models.vit.vit_b16 after loading your weights into it), "
    "or --weights random for timing only"
)


@dataclass(frozen=True)
class ViTConfig:
    """Shape of a Vision Transformer.

    Attributes:
        image_size: (height, width) of the input; both multiples of ``patch_size``.
        patch_size: Side of the square patches (and stride of the patch projection).
        hidden_size: Width of every token (D).
        num_layers: Encoder blocks (L).
        num_heads: Attention heads per block; divides ``hidden_size``.
        mlp_dim: Hidden width of each block's MLP.
        num_classes: Width of the logit head.
        layer_norm_epsilon: Epsilon of every LayerNorm.
        channels: Input channels.
    """

    image_size: tuple[int, int] = (224, 224)
    patch_size: int = 16
    hidden_size: int = 768
    num_layers: int = 12
    num_heads: int = 12
    mlp_dim: int = 3072
    num_classes: int = 1000
    layer_norm_epsilon: float = 1e-6
    channels: int = 3

    def __post_init__(self):
        size: int | tuple[int, ...] = self.image_size  # an int or any sequence is accepted
        size = (size, size) if isinstance(size, int) else tuple(int(s) for s in size)
        object.__setattr__(self, "image_size", size)
        if len(size) != 2 or any(s <= 0 or s % self.patch_size for s in size):
            raise ValueError(
                f"ViT image size {size} must be two positive multiples of the patch size {self.patch_size}"
            )
        if self.hidden_size % self.num_heads:
            raise ValueError(f"ViT hidden size {self.hidden_size} is not divisible by {self.num_heads} heads")

    @property
    def num_patches(self) -> int:
        return (self.image_size[0] // self.patch_size) * (self.image_size[1] // self.patch_size)

    @property
    def num_tokens(self) -> int:
        """Patches plus the class token."""
        return self.num_patches + 1


VIT_B16 = ViTConfig()


def _glorot():
    return keras.initializers.GlorotUniform()


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


def _encoder_block(x, config: ViTConfig, index: int, dtype):
    L = keras.layers
    name = f"encoder_block_{index}"
    eps, d = config.layer_norm_epsilon, config.hidden_size
    y = L.LayerNormalization(epsilon=eps, name=f"{name}_ln_1", dtype=dtype)(x)
    q, k, v = (
        L.Dense(d, kernel_initializer=_glorot(), name=f"{name}_{part}", dtype=dtype)(y)
        for part in ("query", "key", "value")
    )
    y = MultiHeadSelfAttention(config.num_heads, name=f"{name}_attention", dtype=dtype)([q, k, v])
    y = L.Dense(d, kernel_initializer=_glorot(), name=f"{name}_attention_output", dtype=dtype)(y)
    x = L.Add(name=f"{name}_add_1", dtype=dtype)([x, y])
    y = L.LayerNormalization(epsilon=eps, name=f"{name}_ln_2", dtype=dtype)(x)
    mlp_bias = keras.initializers.RandomNormal(stddev=1e-6)
    y = L.Dense(
        config.mlp_dim,
        kernel_initializer=_glorot(),
        bias_initializer=mlp_bias,
        name=f"{name}_mlp_dense_1",
        dtype=dtype,
    )(y)
    y = L.Activation("gelu", name=f"{name}_mlp_gelu", dtype=dtype)(y)
    y = L.Dense(
        d, kernel_initializer=_glorot(), bias_initializer=mlp_bias, name=f"{name}_mlp_dense_2", dtype=dtype
    )(y)
    return L.Add(name=f"{name}_add_2", dtype=dtype)([x, y])


def build_vit(config: ViTConfig = VIT_B16, *, dtype=None, name: str = "vit"):
    """An untrained Vision Transformer as a functional Keras model.

    Args:
        config: Its shape (``VIT_B16`` by default; a small one for tests).
        dtype: Keras dtype policy name for every layer ("float32", "float64", ...);
            None uses the global policy.
        name: Model name.
    Returns:
        ``keras.Model`` mapping (N, H, W, channels) inputs scaled to [-1, 1] to logits
        (N, num_classes); the last layer is the Dense layer "head", with no softmax.
        Weights are drawn by Keras's unseeded initializers; the registry re-draws them
        seeded (``weights="random"``) or loads a file.
    """
    L = keras.layers
    input_dtype = keras.DTypePolicy(dtype).variable_dtype if dtype else None
    inputs = keras.Input((*config.image_size, config.channels), dtype=input_dtype, name="image")
    x = L.Conv2D(
        config.hidden_size,
        config.patch_size,
        strides=config.patch_size,
        padding="valid",
        kernel_initializer="lecun_normal",
        name="patch_embedding",
        dtype=dtype,
    )(inputs)
    x = L.Reshape((config.num_patches, config.hidden_size), name="patch_tokens", dtype=dtype)(x)
    x = ClassToken(name="class_token", dtype=dtype)(x)
    x = PositionEmbedding(name="position_embedding", dtype=dtype)(x)
    for index in range(config.num_layers):
        x = _encoder_block(x, config, index, dtype)
    x = L.LayerNormalization(epsilon=config.layer_norm_epsilon, name="encoder_norm", dtype=dtype)(x)
    x = ClassTokenOutput(name="class_token_output", dtype=dtype)(x)
    outputs = L.Dense(config.num_classes, kernel_initializer=_glorot(), name="head", dtype=dtype)(x)
    return keras.Model(inputs, outputs, name=name)


def vit_b16(
    *,
    weights: str | None = None,
    input_shape=(224, 224, 3),
    include_top: bool = True,
    classifier_activation=None,
):
    """ViT-B/16, called like a ``keras.applications`` constructor (the registry's entry).

    The registry builds it with ``weights=None`` and then draws seeded random weights
    or loads a weights file (``load_model("vit-b16", weights=...)``).

    Args:
        weights: None (untrained) or "imagenet", which raises
            :class:`WeightsUnavailableError` (no offline ImageNet ViT weights).
        input_shape: (H, W, 3), H and W multiples of 16; the position embeddings
            (and so a weights file) depend on it.
        include_top: Must be True (the head is part of the classifier).
        classifier_activation: Must be None: the model outputs logits.
    """
    if weights == "imagenet":
        raise WeightsUnavailableError(NO_IMAGENET_MESSAGE)
    if weights is not None:
        raise ValueError(
            f"vit_b16 weights must be None or 'imagenet', got {weights!r}; load a "
            "weights file with load_model('vit-b16', weights=PATH)"
        )
    if not include_top or classifier_activation is not None:
        raise ValueError(
            "vit_b16 builds the logit classifier only (include_top=True, classifier_activation=None)"
        )
    *size, channels = input_shape
    return build_vit(ViTConfig(image_size=tuple(size), channels=int(channels)), name="vit_b16")
