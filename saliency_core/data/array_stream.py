"""A stream over images already in memory or produced on the fly: a numpy array, a
sequence or any iterable of (H, W, C) arrays, or a ``tf.data.Dataset``.

Elements may be an image, an ``(image, label, ...)`` tuple, or a dict with keys
``"image"`` and optionally ``"label"`` (the ``tensorflow_datasets`` form).
TensorFlow is never imported here: a dataset is recognised only when TensorFlow is
already loaded (it must be, for the dataset to exist).

Example::

    stream = array_stream(tf.data.Dataset.from_tensor_slices((images, labels)))
    for batch in stream.batches(8, prepare=np.stack):
        batch.images.shape, batch.labels     # (8, H, W, C), [3, 1, ...]
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Iterator, Sequence

import numpy as np

from .stream import ImageStream, Item, Loaded

__all__ = ["array_stream"]


def array_stream(images, *, names: Sequence[str] | None = None, name: str = "array") -> ImageStream:
    """Stream images from an array, a sequence, an iterable or a ``tf.data.Dataset``.

    Args:
        images: A numpy array (N, H, W, C); a sequence (list, tuple) of (H, W, C)
            arrays; a ``tf.data.Dataset`` of images, ``(image, label)`` pairs or
            ``{"image", "label"}`` dicts; or any other iterable of those (a generator).
        names: Unique name of each image, in order; None names image ``i``
            ``"item-<i>"``. When there are fewer names than images, reading past the
            last name raises ValueError.
        name: The stream's name, for the store.

    ``size`` is N for arrays and sequences, the cardinality of a dataset when
    TensorFlow knows it, and None (unknown) for other iterables. With ``start``,
    arrays and sequences are indexed from ``start`` and datasets use ``skip``; a
    generator still produces the first ``start`` elements, which are dropped unread.
    A one-shot iterator (such as a generator) can be read by one ``batches`` call
    only; a second call raises ValueError.

    Raises:
        TypeError: ``images`` is not iterable.
        ValueError: an array that is not 4-D, duplicate names, or more names than
            images; while reading, an element that is not an (H, W, C) image.
    """
    if names is not None:
        names = [str(n) for n in names]
        if len(set(names)) != len(names):
            duplicate = next(n for n in names if names.count(n) > 1)
            raise ValueError(f"names of stream {name!r} are not unique: {duplicate!r} repeats")
    dataset = _as_dataset(images)
    if dataset is not None:
        return _ArrayStream(name, _dataset_size(dataset), names, _dataset_reader(dataset))
    if isinstance(images, np.ndarray):
        if images.ndim != 4:
            raise ValueError(f"stream {name!r}: expected an (N, H, W, C) array, got shape {images.shape}")
        return _ArrayStream(name, len(images), names, _sequence_reader(images))
    if isinstance(images, Sequence) and not isinstance(images, (str, bytes)):
        return _ArrayStream(name, len(images), names, _sequence_reader(images))
    try:
        iter(images)
    except TypeError:
        raise TypeError(
            f"stream {name!r}: expected an array, a sequence, an iterable or a "
            f"tf.data.Dataset of images, got {type(images).__name__}"
        ) from None
    return _ArrayStream(name, None, names, _iterable_reader(images, name))


class _ArrayStream(ImageStream):
    def __init__(self, name, size, names, reader):
        if names is not None and size is not None and len(names) != size:
            raise ValueError(f"stream {name!r} has {size} images but {len(names)} names")
        super().__init__(name, size)
        self._names = names
        self._reader = reader

    def items(self, start: int) -> Iterator[Item]:
        for index, element in enumerate(self._reader(start), start=start):
            yield Item(index, self._name(index), _Element(element, index, self.name))

    def _name(self, index: int) -> str:
        if self._names is None:
            return f"item-{index}"
        if index >= len(self._names):
            raise ValueError(f"stream {self.name!r} has more images than its {len(self._names)} names")
        return self._names[index]


class _Element:
    """Loader of one element: splits image and label, checks the image's shape."""

    def __init__(self, element, index: int, stream: str):
        self.element, self.index, self.stream = element, index, stream

    def __call__(self) -> Loaded:
        element, label = self.element, None
        if isinstance(element, dict):
            if "image" not in element:
                raise ValueError(
                    f"item {self.index} of stream {self.stream!r} is a dict without "
                    f"an 'image' key (keys: {', '.join(map(str, element))})"
                )
            element, label = element["image"], element.get("label")
        elif isinstance(element, tuple):
            element, label = element[0], (element[1] if len(element) > 1 else None)
        image = np.asarray(element)
        if image.ndim != 3:
            raise ValueError(
                f"item {self.index} of stream {self.stream!r} is not an (H, W, C) image: shape {image.shape}"
            )
        if isinstance(label, np.ndarray) and label.ndim == 0:
            label = label.item()
        return Loaded(image, label=label)


def _sequence_reader(sequence):
    def read(start: int):
        return (sequence[i] for i in range(start, len(sequence)))

    return read


def _iterable_reader(iterable, name: str):
    one_shot = iter(iterable) is iterable
    used: list[bool] = []

    def read(start: int):
        if one_shot:
            if used:
                raise ValueError(
                    f"stream {name!r} reads a one-shot iterator that was already "
                    f"read; pass a list, an array or a re-iterable to read it again"
                )
            used.append(True)
        return itertools.islice(iter(iterable), start, None)

    return read


def _as_dataset(images):
    """``images`` if it is a ``tf.data.Dataset`` (only possible once TF is loaded), else None."""
    tf = sys.modules.get("tensorflow")
    data = getattr(tf, "data", None) if tf is not None else None
    if data is not None and isinstance(images, data.Dataset):
        return images
    return None


def _dataset_size(dataset) -> int | None:
    cardinality = int(dataset.cardinality())
    return cardinality if cardinality >= 0 else None  # -1 infinite, -2 unknown


def _dataset_reader(dataset):
    def read(start: int):
        return (dataset.skip(start) if start else dataset).as_numpy_iterator()

    return read
