"""The blocks a randomization test re-draws one at a time: a network's weighted layers
grouped by block name (keras.applications-style blocks, transformer encoder blocks),
ordered from the logits towards the input (``randomization_blocks``).
"""

from __future__ import annotations

import re


from ..models.classifier import Classifier

__all__ = ["randomization_blocks"]


# Names of keras.applications-style blocks: "conv5_block3_2_conv" -> "conv5_block3",
# "conv1_conv" -> "conv1", "block1a_dwconv" -> "block1a", "block_3_expand" -> "block_3";
# and of transformer encoder blocks (models.vit): "encoder_block_3_query" -> "encoder_block_3".
_BLOCK_PATTERN = re.compile(
    r"^(conv\d+_block\d+|stage\d+_block\d+|conv\d+|stage\d+|block_?\d+[a-z]?|encoder_block_\d+)_"
)


def keras_model(model):
    return model.model if isinstance(model, Classifier) else model


def leaf_layers(model) -> list:
    """Layers in forward (topological) order, nested models flattened."""
    import keras

    out = []
    for layer in model.layers:
        out.extend(leaf_layers(layer) if isinstance(layer, keras.Model) else [layer])
    return out


def _weighted(layer) -> bool:
    return bool(layer.trainable and layer.weights)


def _is_batchnorm(layer) -> bool:
    import keras

    return isinstance(layer, keras.layers.BatchNormalization)


def _producer(layer, weighted_names: set[str]):
    """Name of the weighted layer whose output feeds ``layer`` (through weightless
    single-input layers), or None."""
    try:
        node = layer._inbound_nodes[0]
        for _ in range(64):
            parents = node.parent_nodes
            if len(parents) != 1:
                return None
            op = parents[0].operation
            if op.name in weighted_names:
                return op.name
            node = parents[0]
    except (AttributeError, IndexError):
        return None
    return None


def named_blocks(model) -> list[tuple[str, list]]:
    """[(block name, layers in forward order)], the block nearest the output first."""
    layers = [layer for layer in leaf_layers(keras_model(model)) if _weighted(layer)]
    names = {layer.name for layer in layers}
    key_of: dict[str, str] = {}
    for layer in layers:
        match = _BLOCK_PATTERN.match(layer.name)
        if match:
            key_of[layer.name] = match.group(1)
        elif _is_batchnorm(layer) and (src := _producer(layer, names)) in key_of:
            key_of[layer.name] = key_of[src]
        else:
            key_of[layer.name] = layer.name
    blocks: dict[str, list] = {}
    for layer in layers:
        blocks.setdefault(key_of[layer.name], []).append(layer)
    return list(reversed(list(blocks.items())))


def randomization_blocks(model) -> list[list]:
    """Weighted trainable layers grouped into blocks, ordered from the output to the input.

    Layers named like ``keras.applications`` blocks are grouped by their prefix
    (ResNet50's ``conv5_block3_1_conv`` ... ``conv5_block3_3_bn`` form block
    ``conv5_block3``; ``conv1_conv`` + ``conv1_bn`` form ``conv1``), and so are a
    transformer's encoder blocks (ViT's ``encoder_block_3_ln_1``, ``_query``, ...,
    ``_mlp_dense_2``: both LayerNorms, the attention and the MLP form
    ``encoder_block_3``). Any other
    weighted layer is its own block, except that a BatchNormalization layer joins
    the block of the layer that produces its input (its convolution). A block's
    name (reported by :func:`mprt`) is the prefix, or its first layer's name.

    Args:
        model: A :class:`Classifier` or a Keras model.

    Returns:
        A list of blocks, the block nearest the output first; each block is a list
        of Keras layers in forward order.
    """
    return [layers for _, layers in named_blocks(model)]
