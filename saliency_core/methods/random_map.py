"""The random control: a seeded uniform random map that ignores the model.

It is also the chance baseline: a random ordering of the pixels, which deletion and
insertion maps must beat (``compare_to = "random"`` policy rules).
"""

from __future__ import annotations

import numpy as np

from ..seeds import image_seeds
from .base import Method, MethodContext, NoOptions, register_method


def random_map(images: np.ndarray, *, seed: int = 0) -> np.ndarray:
    """Uniform random map in [0, 1), (N, H, W); each image's from its own generator,
    seeded by the run seed and the image's content (so the same image gets the same map
    in any chunk or shard, and different images different maps)."""
    images = np.asarray(images)
    h, w = images.shape[1:3]
    return np.stack([np.random.default_rng(int(s)).random((h, w)) for s in image_seeds(seed, images)])


@register_method
class RandomMap(Method):
    name = "random"
    kind = "control"
    summary = "uniform random map (control and chance baseline)"
    reference = "Adebayo et al., NeurIPS 2018 (arXiv:1810.03292): model-independent controls"
    default_check = True
    chance_baseline = True

    def attribute(self, ctx: MethodContext, opts: NoOptions):
        return random_map(ctx.images, seed=ctx.seed)
