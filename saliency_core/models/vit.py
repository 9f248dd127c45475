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

The layers Keras does not have (class token, position embedding, self-attention, the
class token's output) are in :mod:`saliency_core.models.vit_layers`.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras

from .vit_layers import ClassToken, ClassTokenOutput, MultiHeadSelfAttention, PositionEmbedding
from .weights import WeightsUnavailableError

__all__ = ["NO_IMAGENET_MESSAGE", "VIT_B16", "ViTConfig", "build_vit", "vit_b16"]


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
