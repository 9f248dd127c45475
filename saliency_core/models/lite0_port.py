"""Port a torch EfficientNet-Lite state dict onto the Keras EfficientNet-Lite0
(:func:`~saliency_core.models.lite0_network.build_efficientnet_lite0`).

The state dict is that of the ``efficientnet-lite-pytorch`` implementation (read
without torch by :mod:`.torch_legacy`): each Keras layer is matched to its torch
module by name and each array transposed to Keras's layout; a file that does not
fit the architecture is refused before anything is assigned.
"""

from __future__ import annotations

import re

import numpy as np

__all__ = ["port_state_dict"]

# Keras layer name -> torch module name in the state dict.
_FIXED = {
    "stem_conv": "_conv_stem",
    "stem_bn": "_bn0",
    "head_conv": "_conv_head",
    "head_bn": "_bn1",
    "logits": "_fc",
}
_BLOCK_PARTS = {
    "expand_conv": "_expand_conv",
    "expand_bn": "_bn0",
    "dwconv": "_depthwise_conv",
    "dw_bn": "_bn1",
    "project_conv": "_project_conv",
    "project_bn": "_bn2",
}
# Buffers with no Keras counterpart (BatchNorm's update counter).
_IGNORED_SUFFIXES = (".num_batches_tracked",)


def _torch_name(layer_name: str) -> str | None:
    if layer_name in _FIXED:
        return _FIXED[layer_name]
    m = re.fullmatch(r"block(\d+)_(\w+)", layer_name)
    if m and m.group(2) in _BLOCK_PARTS:
        return f"_blocks.{m.group(1)}.{_BLOCK_PARTS[m.group(2)]}"
    return None


def _torch_weights(layer, prefix: str) -> tuple[list[str], list]:
    """State-dict keys a Keras layer needs, and how each becomes a Keras array."""
    kind = type(layer).__name__
    if kind == "DepthwiseConv2D":  # (out, 1, kh, kw) -> (kh, kw, in, 1)
        return [f"{prefix}.weight"], [lambda w: w.transpose(2, 3, 0, 1)]
    if kind == "Conv2D":  # (out, in, kh, kw) -> (kh, kw, in, out)
        keys, fns = [f"{prefix}.weight"], [lambda w: w.transpose(2, 3, 1, 0)]
        if layer.use_bias:
            keys, fns = keys + [f"{prefix}.bias"], fns + [lambda b: b]
        return keys, fns
    if kind == "BatchNormalization":  # gamma, beta, moving mean, moving variance
        suffixes = ("weight", "bias", "running_mean", "running_var")
        return [f"{prefix}.{s}" for s in suffixes], [lambda v: v] * 4
    if kind == "Dense":  # (out, in) -> (in, out)
        return [f"{prefix}.weight", f"{prefix}.bias"], [lambda w: w.T, lambda b: b]
    raise ValueError(f"no torch mapping for Keras layer {layer.name!r} of type {kind}")


def port_state_dict(model, state_dict: dict[str, np.ndarray]):
    """Assign a torch EfficientNet-Lite state dict to a model from
    :func:`build_efficientnet_lite0`, in place; returns the model.

    Every Keras weight must receive a tensor of the right shape and every
    state-dict entry (other than BatchNorm's ``num_batches_tracked``) must be
    used; otherwise nothing is assigned and a ``ValueError`` lists the mismatches.
    That check is what tells the Keras architecture matches the file.
    """
    used: set[str] = set()
    assignments, problems = [], []
    for layer in model.layers:
        if not layer.weights:
            continue
        prefix = _torch_name(layer.name)
        if prefix is None:
            problems.append(f"Keras layer {layer.name!r} has no torch counterpart (unassigned)")
            continue
        try:
            keys, fns = _torch_weights(layer, prefix)
        except ValueError as err:
            problems.append(str(err))
            continue
        values = []
        for key, fn, weight in zip(keys, fns, layer.weights):
            if key not in state_dict:
                problems.append(f"{layer.name}/{weight.name} unassigned: no {key!r} in the state dict")
                continue
            value = fn(np.asarray(state_dict[key]))
            if tuple(value.shape) != tuple(weight.shape):
                problems.append(
                    f"{key} {state_dict[key].shape} -> {value.shape} does not fit "
                    f"{layer.name}/{weight.name} {tuple(weight.shape)}"
                )
            values.append(value)
            used.add(key)
        if len(keys) != len(layer.weights):
            problems.append(f"{layer.name}: {len(layer.weights)} Keras weights, {len(keys)} mapped")
        assignments.append((layer, values))
    unused = [k for k in state_dict if k not in used and not k.endswith(_IGNORED_SUFFIXES)]
    problems += [f"state-dict entry {k!r} {np.shape(state_dict[k])} is unused" for k in unused]
    if problems:
        shown = "\n  ".join(problems[:20]) + (
            f"\n  ... {len(problems) - 20} more" if len(problems) > 20 else ""
        )
        raise ValueError(f"state dict does not fit model {model.name!r}:\n  {shown}")
    for layer, values in assignments:
        layer.set_weights([v.astype(w.dtype) for v, w in zip(values, layer.weights)])
    return model
