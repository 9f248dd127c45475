"""The synthetic ground-truth set as a stream: image ``i`` is generated when its batch
is read, from a seed of its own, so it is the same whatever the set size, the batch
size or the resume point.

:func:`~saliency_core.data.synthetic.make_synthetic` cannot be streamed this way: it
draws every image from one sequential generator (image ``i`` depends on all images
before it) and shuffles the labels of the whole set (the label of image ``i``
depends on ``n``). This stream draws the same kind of scenes (same renderer, same
distributions) but not the same images as ``make_synthetic`` with the same seed.

Example::

    stream = synthetic_stream(100_000, seed=1)
    for batch in stream.batches(64, prepare=np.stack):
        batch.images.shape, batch.masks.shape, batch.labels[:3]   # (64, 64, 64, 3) ...
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial

import numpy as np

from ..seeds import image_seed
from .stream import ImageStream, Item, Loaded
from .synthetic import SHAPES, check_synthetic_options, render_scene

__all__ = ["synthetic_label", "synthetic_stream"]


def synthetic_stream(
    n: int, *, image_size: int = 64, seed: int, num_classes: int = 4, objects: bool = True
) -> ImageStream:
    """Stream ``n`` synthetic images (see :mod:`saliency_core.data.synthetic`).

    Image ``i`` is named ``"synthetic-<i>"`` and rendered from the generator
    ``np.random.default_rng(image_seed(seed, name))``; its label is
    :func:`synthetic_label`. Images are float32 RGB in [0, 1] as in ``make_synthetic``
    (not uint8); masks are (H, W) bool, True on the object's pixels; labels are class
    ids into ``stream.class_names``.

    Args:
        n: Number of images.
        image_size: Height and width in pixels.
        seed: Run seed of every image's generator.
        num_classes: Use the first ``num_classes`` of :data:`~saliency_core.data.SHAPES`.
        objects: If False, the same scenes without their objects (masks unchanged).

    Raises:
        ValueError: ``n`` below 1, or an image size or class count out of range.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be an integer >= 1, got {n!r}")
    check_synthetic_options(image_size=image_size, num_classes=num_classes)
    return _SyntheticStream(int(n), image_size, int(seed), num_classes, objects)


def synthetic_label(index: int, *, seed: int, num_classes: int) -> int:
    """Class of synthetic image ``index``: each block of ``num_classes`` consecutive
    images holds every class once, in an order drawn from the block's own seed.

    So the first ``n`` images are balanced (class counts differ by at most one) for
    every ``n``, and no label depends on ``n``.
    """
    block = index // num_classes
    rng = np.random.default_rng(image_seed(seed, f"synthetic-labels-{block}"))
    return int(rng.permutation(num_classes)[index % num_classes])


class _SyntheticStream(ImageStream):
    def __init__(self, n: int, image_size: int, seed: int, num_classes: int, objects: bool):
        super().__init__(
            f"synthetic(seed={seed}, image_size={image_size}, num_classes={num_classes}, objects={objects})",
            n,
        )
        self.image_size, self.seed, self.objects = image_size, seed, objects
        self.class_names = SHAPES[:num_classes]

    def items(self, start: int) -> Iterator[Item]:
        for index in range(start, len(self)):
            name = f"synthetic-{index}"
            yield Item(index, name, partial(self._render, index, name))

    def _render(self, index: int, name: str) -> Loaded:
        label = synthetic_label(index, seed=self.seed, num_classes=len(self.class_names))
        rng = np.random.default_rng(image_seed(self.seed, name))
        image, mask = render_scene(rng, self.image_size, SHAPES[label], self.objects)
        return Loaded(image, mask=mask, label=label)
