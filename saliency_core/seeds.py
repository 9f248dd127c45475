"""Stable seeds derived from names: the same in every process and on every machine.

Python's ``hash`` of a string is salted per process, so it cannot name a random
stream. These helpers hash text with BLAKE2b instead: a run seed plus the name of
what is drawn (a layer, a variable, an image) gives a 31-bit seed that any numpy or
Keras generator accepts, and different names give unrelated seeds.
"""

from __future__ import annotations

import hashlib

import numpy as np

__all__ = ["image_seed", "image_seeds", "stable_seed"]


def stable_seed(*parts) -> int:
    """A 31-bit seed from ``parts`` joined with "/" (each part as ``str``), by BLAKE2b.

    Example::

        stable_seed(0, "conv1_conv")      # 769435606 on every machine
    """
    text = "/".join(str(part) for part in parts)
    digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & 0x7FFFFFFF


def image_seed(run_seed: int, name: str) -> int:
    """The seed of one image's random draws (noise, baselines, ...) in one run.

    It depends only on ``run_seed`` and the image's stable name (for example its path
    relative to the folder), not on the image's position, the batch size or the
    resume point, so a resumed or re-chunked run draws the same values per image.
    Images live in their own namespace: ``image_seed(0, "x")`` is not the seed of a
    layer named "x" (:func:`saliency_core.models.init.layer_seed`).
    """
    return stable_seed(int(run_seed), "image", name)


def image_seeds(seed: int, images: np.ndarray) -> np.ndarray:
    """(N,) uint64 seeds, each from the run seed and one image's bytes (BLAKE2b).

    The same image gets the same seed whatever call, chunk, shard or position it is in,
    so sharded, chunked and resumed runs draw the same values per image. (Use
    :func:`image_seed` where an image is known by a stable name instead.)
    """
    images = np.ascontiguousarray(images)
    out = np.empty(len(images), np.uint64)
    for i, image in enumerate(images):
        h = hashlib.blake2b(digest_size=8)
        h.update(str(int(seed)).encode())
        h.update(str(image.dtype).encode())
        h.update(image.tobytes())
        out[i] = int.from_bytes(h.digest(), "little")
    return out
