"""Seeded re-initialisation of a layer's variables with the layer's own initializers.

Used for ``weights="random"`` backbones (so random-weight runs are reproducible)
and by the model-parameter randomization test. Every variable gets its own seed,
derived from a run seed, a stream name, the layer name and the variable name: no two
layers receive the same values, and nothing touches a global random state.

The stream keeps the two uses apart. A backbone built with ``weights="random"`` and
seed 0 draws from stream ``"weights=random"``; the randomization test with run seed 0
draws from its own stream, so "randomizing" such a model gives new values, not the
ones it already holds.
"""

from __future__ import annotations

import numpy as np

from ..seeds import stable_seed

__all__ = ["RANDOM_WEIGHTS_STREAM", "layer_seed", "random_weights", "reinitialize"]

# Stream of ``weights="random"`` backbones (see the module docstring).
RANDOM_WEIGHTS_STREAM = "weights=random"

# Variable name -> layer attributes that hold its initializer (first found wins).
_INITIALIZER_ATTRS = {
    "kernel": ("kernel_initializer", "depthwise_initializer"),
    "depthwise_kernel": ("depthwise_initializer",),
    "pointwise_kernel": ("pointwise_initializer",),
    "recurrent_kernel": ("recurrent_initializer",),
    "embeddings": ("embeddings_initializer",),
}


def layer_seed(run_seed: int, layer_name: str, variable: str | None = None) -> int:
    """A stable 31-bit seed for one layer (or one of its variables) of one run.

    Derived with BLAKE2b from ``run_seed``, the layer name and the variable name, so
    it is the same in every process and on every machine (unlike Python's salted
    ``hash``), and distinct layers get unrelated seeds.
    """
    return stable_seed(int(run_seed), layer_name, *(() if variable is None else (variable,)))


def _initializer(layer, variable):
    name = variable.name.split("/")[-1].split(":")[0]
    for attr in _INITIALIZER_ATTRS.get(name, (f"{name}_initializer",)):
        init = getattr(layer, attr, None)
        if init is not None and callable(init):
            return init
    return None


def _seeded(initializer, seed: int):
    """The same initializer (class and config) with ``seed``; constant initializers as is."""
    config = initializer.get_config()
    if "seed" not in config:
        return initializer
    return initializer.__class__.from_config({**config, "seed": seed})


def random_weights(layer, run_seed: int, stream: str = "") -> tuple[dict[str, np.ndarray], list[str]]:
    """Fresh values for every variable of ``layer``, from its own seeded initializers.

    ``stream`` names the purpose of the draw: the same run seed in two streams gives
    unrelated values (the empty stream is the randomization test's).

    Returns:
        ``(values, skipped)``: variable name -> array of the variable's shape and
        dtype, and the paths of variables whose initializer could not be found.
    """
    values, skipped = {}, []
    for variable in layer.weights:
        init = _initializer(layer, variable)
        if init is None:
            skipped.append(getattr(variable, "path", variable.name))
            continue
        name = f"{stream}/{layer.name}" if stream else layer.name
        seed = layer_seed(run_seed, name, variable.name)
        values[variable.name] = np.asarray(_seeded(init, seed)(tuple(variable.shape), dtype=variable.dtype))
    return values, skipped


def reinitialize(model, seed: int, stream: str = "") -> list[str]:
    """Assign seeded fresh values to every variable of every layer of ``model``.

    ``stream`` as in :func:`random_weights`.

    Returns the paths of variables left as they were (no initializer found).
    """
    skipped = []
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if not layer.weights or layer._layers:  # leaf layers only
            continue
        values, missing = random_weights(layer, seed, stream)
        for variable in layer.weights:
            if variable.name in values:
                variable.assign(values[variable.name])
        skipped += missing
    return skipped
