"""The values an image stream hands out and takes in: a :class:`Batch` of images for
the caller; for sources, an :class:`Item` (a position and how to read it), its
:class:`Loaded` result, or :class:`SkipImage` when it cannot be read."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Batch", "Item", "Loaded", "SkipImage"]


class SkipImage(Exception):
    """Raised by an item's loader when the item cannot be read and the stream goes on.

    Attributes:
        path: The file (or name) skipped.
        reason: Why, in words.
    """

    def __init__(self, path: str, reason: str):
        super().__init__(path, reason)
        self.path = str(path)
        self.reason = reason


@dataclass(frozen=True)
class Loaded:
    """One image as read by a source, with its optional object mask and label."""

    image: np.ndarray
    mask: np.ndarray | None = None
    label: Any = None


@dataclass(frozen=True)
class Item:
    """One position of a stream: its index, stable name and how to read it.

    ``load`` runs on a worker thread; it returns a :class:`Loaded`, raises
    :class:`SkipImage` to skip the item, or raises anything else to stop the stream.
    """

    index: int
    name: str
    load: Callable[[], Loaded]


@dataclass
class Batch:
    """Consecutive images of a stream, aligned by index.

    Attributes:
        images: As read (a list of arrays, uint8 RGB (H, W, 3) for files and photos),
            or what ``prepare`` returned for that list, typically (M, H, W, C).
        names: Stable name of each image (relative path, list-file entry, photo name,
            ``item-<index>`` or ``synthetic-<index>``).
        indices: Position of each image in the stream (skipped positions are absent).
        masks: (M, H, W) bool object masks in the source's pixel grid, or None.
        labels: Label of each image (None entries where unknown), or None when no
            image of the batch has one.
        skipped: (path or name, reason) of the items skipped while this batch was
            built: those after the previous batch's last image and before this
            batch's last image, and, for the last batch, all that follow it.
        next_start: The position after every item this batch accounts for (its images
            and ``skipped``): pass it as ``start`` to resume after this batch.
    """

    images: list[np.ndarray] | np.ndarray
    names: list[str]
    indices: list[int]
    masks: np.ndarray | None = None
    labels: list | None = None
    skipped: list[tuple[str, str]] = field(default_factory=list)
    next_start: int = 0

    def __len__(self) -> int:
        return len(self.names)
