"""The "photos" dataset: real photographs that ship inside installed packages.

Seven photos load offline, with no download: six from scikit-image's bundled
sample data and one from matplotlib's. Sources and licences are in
``datasets/photos.md``.

Example::

    photos = load_photos(names=["chelsea", "coffee"])
    photos.images[0].shape  # (300, 451, 3), uint8 RGB
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from functools import partial

import numpy as np

from .images import ImageSet, ImageSkippedWarning, load_image
from .stream import ImageStream, Item, Loaded, SkipImage

__all__ = ["PHOTO_NAMES", "load_photos", "photos_stream"]


def _skimage(function: str, filename: str) -> Callable[[], tuple[np.ndarray, str | None]]:
    """Loader for ``skimage.data.<function>()``; also reports the bundled file if present."""

    def load():
        import skimage.data

        image = getattr(skimage.data, function)()
        if function == "stereo_motorcycle":
            image = image[0]  # (left, right, disparity): the left view
        path = os.path.join(os.path.dirname(skimage.data.__file__), filename)
        return image, (path if os.path.isfile(path) else None)

    return load


def _matplotlib(filename: str) -> Callable[[], tuple[np.ndarray, str | None]]:
    """Loader for a file in matplotlib's ``sample_data`` folder."""

    def load():
        import matplotlib

        path = os.path.join(matplotlib.get_data_path(), "sample_data", filename)
        return load_image(path), path

    return load


_LOADERS: dict[str, Callable[[], tuple[np.ndarray, str | None]]] = {
    "chelsea": _skimage("chelsea", "chelsea.png"),
    "coffee": _skimage("coffee", "coffee.png"),
    "rocket": _skimage("rocket", "rocket.jpg"),
    "astronaut": _skimage("astronaut", "astronaut.png"),
    "stereo_motorcycle": _skimage("stereo_motorcycle", "motorcycle_left.png"),
    "camera": _skimage("camera", "camera.png"),
    "grace_hopper": _matplotlib("grace_hopper.jpg"),
}

PHOTO_NAMES: tuple[str, ...] = tuple(_LOADERS)
"""Names of the photos in the dataset, in its canonical order."""


def load_photos(names: Sequence[str] | None = None) -> ImageSet:
    """Load the bundled photos as an unlabelled :class:`ImageSet` (source "photos").

    Args:
        names: Photos to load, in this order; None loads all of :data:`PHOTO_NAMES`.

    Each image is uint8 RGB (H, W, 3); the grayscale ``camera`` is replicated to three
    channels. A photo that fails to load (for example one that would need ``pooch``
    to download) is skipped with an :class:`ImageSkippedWarning` and listed in
    ``skipped``.

    Raises:
        ValueError: an unknown name (the message lists the valid ones), or no photo
            could be loaded.
    """
    names = _checked(names)
    images, loaded, paths, skipped = [], [], [], []
    for name in names:
        try:
            image, path = _load(name)
        except Exception as exc:  # a missing optional dependency, a damaged file, ...
            reason = f"{type(exc).__name__}: {exc}"
            skipped.append((name, reason))
            warnings.warn(f"skipped photo {name!r}: {reason}", ImageSkippedWarning, stacklevel=2)
            continue
        images.append(image)
        loaded.append(name)
        paths.append(path)

    if not images:
        raise ValueError(
            f"none of the photos {', '.join(names)} could be loaded (first: {skipped[0][0]}: {skipped[0][1]})"
        )
    return ImageSet(images, loaded, paths, [None] * len(images), skipped, source="photos")


def photos_stream(names: Sequence[str] | None = None) -> ImageStream:
    """The bundled photos as an :class:`~saliency_core.data.stream.ImageStream` named
    "photos": each photo is loaded when its batch is read, named as in
    :data:`PHOTO_NAMES`. A photo that fails to load is skipped with a warning, as in
    :func:`load_photos`.

    Raises:
        ValueError: an unknown name (the message lists the valid ones).
    """
    return _PhotoStream(_checked(names))


class _PhotoStream(ImageStream):
    def __init__(self, names: list[str]):
        super().__init__("photos", len(names))
        self._names = names

    def items(self, start: int) -> Iterator[Item]:
        for index in range(start, len(self._names)):
            yield Item(index, self._names[index], partial(_stream_load, self._names[index]))


def _stream_load(name: str) -> Loaded:
    try:
        return Loaded(_load(name)[0])
    except Exception as exc:  # as in load_photos
        raise SkipImage(f"photo {name!r}", f"{type(exc).__name__}: {exc}") from None


def _checked(names: Sequence[str] | None) -> list[str]:
    names = list(PHOTO_NAMES if names is None else names)
    unknown = [n for n in names if n not in _LOADERS]
    if unknown:
        raise ValueError(
            f"unknown photo name(s) {', '.join(map(repr, unknown))}; valid names: {', '.join(PHOTO_NAMES)}"
        )
    return names


def _load(name: str) -> tuple[np.ndarray, str | None]:
    image, path = _LOADERS[name]()
    return _as_rgb_uint8(image), path


def _as_rgb_uint8(image) -> np.ndarray:
    """A uint8 (H, W) or (H, W, 3) array as a contiguous (H, W, 3) RGB array."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ValueError(f"expected uint8 pixels, got {image.dtype}")
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"expected a grayscale or RGB image, got shape {image.shape}")
    return np.ascontiguousarray(image)
