"""Image streams: read an image set of any size in batches, in bounded memory.

An :class:`ImageStream` lists what it will read (cheaply: paths, indices) and reads
the images only batch by batch. The sources are built by :func:`folder_stream`,
:func:`list_file_stream`, :func:`array_stream`, :func:`synthetic_stream` and
:func:`photos_stream`; all share :meth:`ImageStream.batches`.

The next batch is read on a background thread while the caller works on the
current one (see :mod:`saliency_core.data.prefetch`): memory is a few batches,
whatever the number of images, and closing the iterator early stops every thread.

Example::

    stream = folder_stream("photos/")
    for batch in stream.batches(16, prepare=classifier.prepare):
        maps = explain(batch.images)            # (M, H, W, 3), M <= 16
        store(batch.names, maps)                # names are stable: resume with start=
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from .batch import Batch, Item, Loaded, SkipImage
from .prefetch import read_batches

__all__ = ["Batch", "ImageStream", "Item", "Loaded", "SkipImage"]


class ImageStream:
    """An image source read lazily in batches. Subclasses implement :meth:`items`.

    Attributes:
        name: What the stream reads, for the store: a folder or list-file path,
            "photos", a synthetic set's parameters, or the name given to an array.
        size: Number of positions (candidate files, array items) when known, else None
            (a generator, a ``tf.data`` dataset of unknown cardinality). ``len()`` of a
            stream of unknown size raises TypeError. Positions include items that will
            turn out unreadable, so a stream may yield fewer images than ``size``.
    """

    def __init__(self, name: str, size: int | None):
        self.name = name
        self.size = size

    def __len__(self) -> int:
        if self.size is None:
            raise TypeError(
                f"image stream {self.name!r} has no known length (it reads an "
                f"iterable); use .size, which is None here"
            )
        return self.size

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, size={self.size})"

    def items(self, start: int) -> Iterator[Item]:
        """The items at positions ``start``, ``start + 1``, ..., without reading them."""
        raise NotImplementedError

    def batches(
        self,
        size: int,
        *,
        prepare: Callable[[list[np.ndarray]], np.ndarray] | None = None,
        start: int = 0,
        prefetch: int = 1,
        workers: int = 2,
    ) -> Iterator[Batch]:
        """Read the stream in batches of ``size`` images, in stream order.

        Every batch but the last holds exactly ``size`` images (a fixed shape for
        compiled models): unreadable items are skipped with an
        :class:`~saliency_core.data.ImageSkippedWarning` naming each, and listed in
        ``Batch.skipped``. A run stopped after some batch resumes with
        ``start=batch.next_start``.

        Args:
            size: Images per batch.
            prepare: Applied to each batch's list of images on the reading thread
                (e.g. ``classifier.prepare`` or ``np.stack``); its result becomes
                ``Batch.images``.
            start: First position to read: positions before it are not read at all
                (not even listed files are opened), so a run resumes exactly.
            prefetch: Batches queued ahead of the one being consumed.
            workers: Decoding threads; 0 reads on the prefetch thread itself.

        Raises:
            ValueError: a bad option (named), or, while iterating, no item from
                ``start`` on could be read (naming the source and the first failure).
            Any error of a source (e.g. a folder that vanished) or of ``prepare``, at
            the batch where it happened; batches yielded before are unaffected.
        """
        for option, value, least in (
            ("size", size, 1),
            ("start", start, 0),
            ("prefetch", prefetch, 1),
            ("workers", workers, 0),
        ):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
                raise ValueError(f"{option} must be an integer >= {least}, got {value!r}")
        start = int(start)
        return read_batches(
            lambda: self.items(start),
            source=self.name,
            size=int(size),
            prepare=prepare,
            start=start,
            prefetch=int(prefetch),
            workers=int(workers),
        )
