"""Synthetic images with known ground truth, for localisation sanity checks.

Each image shows one object whose *shape* alone decides the class (square, disc,
triangle, cross) over a cluttered background: smooth colour noise, thin lines and
soft blobs whose colours come from the same distribution as the object's. The
object's pixels are returned as a mask, so a saliency map can be scored against
where the evidence really is (Adebayo et al., 2018, "Sanity checks for saliency
maps"). A small CNN trained on these images
(:func:`~saliency_core.data.synthetic_cnn.train_synthetic_cnn`) gives a model whose
correct explanation is known. See ``datasets/synthetic.md``.

Everything is deterministic given ``seed``: only ``np.random.default_rng(seed)``
generators are used, never global random state.

Example::

    train = make_synthetic(6000, seed=0)
    test = make_synthetic(500, seed=1)
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

__all__ = [
    "SHAPES",
    "TRAIN_SIZE",
    "SyntheticSet",
    "check_synthetic_options",
    "make_synthetic",
    "permuted_labels",
    "render_scene",
]

SHAPES: tuple[str, ...] = ("square", "disc", "triangle", "cross")
"""Class names: class ``k`` is an object of shape ``SHAPES[k]``."""

# Scene parameters, as fractions of the image side unless stated. Changing the generator
# changes the reference model: bump ``_CACHE_VERSION`` in synthetic_cnn.py.
_OBJECT_SCALE = (0.28, 0.42)  # sqrt(object area): same distribution for every class
_CROSS_THICKNESS = 1 / 3  # arm thickness / arm length
_MIN_CONTRAST = 0.6  # RGB distance of object colour to the clutter under it
_NOISE_STD = 0.02  # per-pixel sensor noise, in [0, 1] units
_DISTRACTORS = (2, 5)  # number of lines + blobs, inclusive range
_ROTATION = np.pi / 12  # objects turn by a uniform angle in [-this, this], radians

TRAIN_SIZE = 6000
"""Training images of the cached reference model
(:func:`~saliency_core.data.synthetic_cnn.load_synthetic_cnn`: seed ``seed``; test set ``seed + 1``)."""


@dataclass
class SyntheticSet:
    """Images, labels and object masks, aligned by index.

    Attributes:
        images: float32 (N, H, W, 3), RGB in [0, 1].
        labels: int64 (N,), class ids; ``class_names[label]`` is the object's shape.
        masks: bool (N, H, W), True exactly on the pixels the object covers.
        class_names: Shape of each class id.
        seed: The seed the set was generated from.
    """

    images: np.ndarray
    labels: np.ndarray
    masks: np.ndarray
    class_names: tuple[str, ...]
    seed: int

    def __len__(self) -> int:
        return len(self.labels)


def make_synthetic(
    n: int, *, image_size: int = 64, seed: int, num_classes: int = 4, objects: bool = True
) -> SyntheticSet:
    """Generate ``n`` cluttered images, each with one class-defining object.

    Classes are balanced (counts differ by at most one) and shuffled. The object's
    area, position, rotation and colour are drawn from the same distributions for
    every class, so only its shape tells the class apart; it is turned by at most 15
    degrees, so "triangle" points up and "square" is not a diamond. It is drawn over
    the clutter (never occluded) with hard edges, then mild pixel noise covers the
    whole image.

    Args:
        n: Number of images.
        image_size: Height and width in pixels.
        seed: Seed of the ``np.random.default_rng`` generator; same seed, same set.
        num_classes: Use the first ``num_classes`` of :data:`SHAPES` (2 to 4).
        objects: If False, render the very same scenes without their objects (the
            masks still say where each object would be): a control for checks.
    """
    check_synthetic_options(image_size=image_size, num_classes=num_classes)
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % num_classes).astype(np.int64)
    images = np.empty((n, image_size, image_size, 3), np.float32)
    masks = np.empty((n, image_size, image_size), bool)
    for i, label in enumerate(labels):
        images[i], masks[i] = render_scene(rng, image_size, SHAPES[label], objects)
    return SyntheticSet(images, labels, masks, SHAPES[:num_classes], seed)


def check_synthetic_options(*, image_size: int, num_classes: int) -> None:
    """Raise ValueError, naming the option, for an image size or class count out of range."""
    if not 2 <= num_classes <= len(SHAPES):
        raise ValueError(f"num_classes must be between 2 and {len(SHAPES)}, got {num_classes}")
    if image_size < 16:
        raise ValueError(f"image_size must be at least 16 pixels, got {image_size}")


def permuted_labels(labels, seed: int) -> np.ndarray:
    """A random permutation of ``labels`` (a new array), for the data-randomization
    test: a model trained on permuted labels has nothing real to explain."""
    return np.random.default_rng(seed).permutation(np.asarray(labels))


# --- rendering -----------------------------------------------------------------------


def render_scene(rng: np.random.Generator, size: int, shape: str, draw_object: bool):
    """One scene: returns (image float32 (size, size, 3) in [0, 1], object mask).

    The random draws do not depend on ``draw_object``, so both renders of a seed
    show the same scene.
    """
    yy, xx = _grid(size)
    image = _smooth_noise(rng, size)
    for _ in range(rng.integers(_DISTRACTORS[0], _DISTRACTORS[1] + 1)):
        kind = rng.integers(2)
        colour = rng.uniform(0, 1, 3)
        if kind == 0:  # a thin straight line, 1-2 px wide
            alpha = _line(rng, size, yy, xx)
        else:  # a soft Gaussian blob: no hard edge, so never a disc
            alpha = _blob(rng, size, yy, xx)
        image += alpha[..., None] * (colour - image)

    mask = _object_mask(rng, size, shape, yy, xx)
    under = image[mask].mean(axis=0)
    colour = rng.uniform(0, 1, 3)
    for _ in range(20):  # resample until the object stands out from what it covers
        if np.linalg.norm(colour - under) >= _MIN_CONTRAST:
            break
        colour = rng.uniform(0, 1, 3)
    if draw_object:
        image[mask] = colour
    image += rng.normal(0, _NOISE_STD, image.shape)
    return np.clip(image, 0, 1).astype(np.float32), mask


@lru_cache(maxsize=8)
def _grid(size: int):
    """Pixel-centre coordinates (row, column), each (size, size), read-only."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) + 0.5
    yy.flags.writeable = xx.flags.writeable = False
    return yy, xx


@lru_cache(maxsize=32)
def _upsampler(cells: int, size: int) -> np.ndarray:
    """(size, cells) linear-interpolation matrix from a coarse grid to pixels."""
    pos = (np.arange(size) + 0.5) / size * (cells - 1)
    low = np.minimum(pos.astype(int), cells - 2)
    frac = pos - low
    matrix = np.zeros((size, cells))
    matrix[np.arange(size), low] = 1 - frac
    matrix[np.arange(size), low + 1] = frac
    return matrix


def _smooth_noise(rng, size: int) -> np.ndarray:
    """Coarse random colour field plus a finer, weaker one, bilinearly upsampled."""
    image = np.zeros((size, size, 3))
    for cells, weight in ((int(rng.integers(3, 6)), 1.0), (int(rng.integers(6, 12)), 0.35)):
        coarse = rng.uniform(0, 1, (cells, cells, 3))
        up = _upsampler(cells, size)
        rows = np.tensordot(up, coarse, axes=(1, 0))  # (size, cells, 3)
        image += weight * np.tensordot(rows, up, axes=(1, 1)).transpose(0, 2, 1)
    return image / 1.35


def _line(rng, size, yy, xx) -> np.ndarray:
    """Opacity (size, size) of a random straight segment, 1-2 px wide."""
    y0, x0 = rng.uniform(0, size, 2)
    angle = rng.uniform(0, np.pi)
    length = rng.uniform(0.2, 0.6) * size
    half_width = rng.uniform(0.5, 1.0)
    dy, dx = np.sin(angle), np.cos(angle)
    along = (yy - y0) * dy + (xx - x0) * dx
    across = np.abs(-(yy - y0) * dx + (xx - x0) * dy)
    return ((np.abs(along) <= length / 2) & (across <= half_width)).astype(np.float64)


def _blob(rng, size, yy, xx) -> np.ndarray:
    """Opacity (size, size) of a soft anisotropic Gaussian blob, peak 0.6 to 1."""
    y0, x0 = rng.uniform(0, size, 2)
    sy, sx = rng.uniform(0.04, 0.12, 2) * size
    peak = rng.uniform(0.6, 1.0)
    return peak * np.exp(-0.5 * (((yy - y0) / sy) ** 2 + ((xx - x0) / sx) ** 2))


def _object_mask(rng, size: int, shape: str, yy, xx) -> np.ndarray:
    """Pixels (size, size) covered by a randomly placed, sized and rotated ``shape``.

    The object's area is the same random variable for every shape; the centre is kept
    far enough from the border that the largest shape (the triangle) fits entirely.
    """
    side = rng.uniform(*_OBJECT_SCALE) * size  # sqrt(area), pixels
    margin = 0.8774 * side + 1  # circumradius of the equilateral triangle of that area
    cy, cx = rng.uniform(margin, size - margin, 2)
    angle = rng.uniform(-_ROTATION, _ROTATION)
    c, s = np.cos(angle), np.sin(angle)
    u = c * (xx - cx) + s * (yy - cy)
    v = -s * (xx - cx) + c * (yy - cy)
    if shape == "square":
        half = side / 2
        return (np.abs(u) <= half) & (np.abs(v) <= half)
    if shape == "disc":
        return u**2 + v**2 <= side**2 / np.pi
    if shape == "triangle":
        inradius = side / 3**0.75  # edge 2 * side / 3**0.25, inradius edge / (2 * sqrt(3))
        normals = [
            (np.cos(a), np.sin(a)) for a in (np.pi / 2, np.pi / 2 + 2 * np.pi / 3, np.pi / 2 + 4 * np.pi / 3)
        ]
        return np.logical_and.reduce([nu * u + nv * v <= inradius for nu, nv in normals])
    if shape == "cross":
        arm = side * (1 / (2 * _CROSS_THICKNESS - _CROSS_THICKNESS**2)) ** 0.5
        half, thick = arm / 2, arm * _CROSS_THICKNESS / 2
        return ((np.abs(u) <= half) & (np.abs(v) <= thick)) | ((np.abs(v) <= half) & (np.abs(u) <= thick))
    raise ValueError(f"unknown shape {shape!r}")
