"""The random-logit test (Sixt et al. 2020): :func:`random_logit` compares the map for
the top-1 class with the map for a seeded random other class; similar maps mean the
method does not explain the class (it exposes class-insensitive methods).
"""

from __future__ import annotations


import numpy as np

from ..explainer import Explainer
from ..seeds import image_seeds
from .randomization_result import RandomLogitResult
from .similarity import SIMILARITIES, Reference, check_measures

__all__ = ["random_logit"]


def random_logit(
    classifier,
    images,
    *,
    seed: int,
    method,
    variant="xla",
    batch_size=16,
    measures=tuple(SIMILARITIES),
    reduce="sum",
    score="logit",
    options=None,
    device=None,
    precision="float32",
    explainer: Explainer | None = None,
) -> RandomLogitResult:
    """Similarity of the top-1 class's map and a random other class's map, per image.

    The other class is drawn uniformly from the ``K - 1`` classes that are not the
    image's top-1, from a generator seeded by the run seed and the image's content (so an
    image gets the same class in any chunk or shard). Arguments as in :func:`mprt`;
    ``explainer``: an existing :class:`Explainer` of ``classifier`` to reuse its compiled
    functions (a check passes its own, so its chunks do not build one each), in which
    case ``variant``, ``batch_size``, ``score``, ``device`` and ``precision`` are its own.
    """
    measures = check_measures(measures)
    if explainer is None:
        explainer = Explainer(
            classifier,
            variant=variant,
            score=score,
            batch_size=batch_size,
            device=device,
            precision=precision,
        )
    k = explainer.classifier.num_classes
    if k < 2:
        raise ValueError("the random-logit test needs at least two classes")
    top = explainer.explain(images, method=method, reduce=reduce, options=options, seed=seed)
    draw = np.array(
        [np.random.default_rng(int(s)).integers(0, k - 1) for s in image_seeds(seed, np.asarray(images))],
        np.int64,
    )
    others = (draw + (draw >= top.targets)).astype(np.int32)  # skip the top-1 class
    other = explainer.explain(
        images, targets=others, method=method, reduce=reduce, options=options, seed=seed
    )
    return RandomLogitResult(
        method=method,
        seed=int(seed),
        measures=measures,
        similarity=Reference(top.maps, measures).compare(other.maps),
        targets=top.targets,
        others=others,
        maps=np.stack([top.maps, other.maps]).astype(np.float32),
    )
