"""Streams of image files: a folder (:func:`folder_stream`) or a list file
(:func:`list_file_stream`). Paths are listed once when the stream is made; each file
is decoded with :func:`~saliency_core.data.images.load_image` only when its batch is
read, so memory does not grow with the number of files.

Example::

    stream = list_file_stream("val.txt")     # one path per line, '#' comments
    for batch in stream.batches(32):
        ...
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from functools import partial

from .images import ImageDecodeError, folder_root, list_image_files, load_image, unreadable_reason
from .stream import ImageStream, Item, Loaded, SkipImage

__all__ = ["folder_stream", "list_file_stream"]


class _FolderStream(ImageStream):
    def __init__(self, root: str, files: list[tuple[str, ...]]):
        super().__init__(root, len(files))
        self.root = root
        self._files = files

    def items(self, start: int) -> Iterator[Item]:
        for index in range(start, len(self._files)):
            rel = self._files[index]
            yield Item(index, "/".join(rel), partial(_read_folder_file, self.root, rel))


def folder_stream(path, *, recursive: bool = True, suffixes: Iterable[str] | None = None) -> ImageStream:
    """Stream the images of a folder, in sorted order of their relative paths.

    Files are selected as :func:`~saliency_core.data.images.load_folder` selects
    them (hidden files and folders ignored; ``suffixes`` like its ``extensions``) and
    read the same way; an image in a subfolder has the top-level subfolder's name as
    label. The stream's ``name`` is the folder's absolute path, its ``size`` the
    number of candidate files, and each image's name its path relative to the folder
    ("cat/1.jpg").

    Unlike ``load_folder``, symbolic links that lead nowhere (dangling, or a loop) are
    candidates too, so they are skipped with a warning naming them rather than
    silently. A file that vanished after the listing is skipped with a warning; if
    the folder itself vanishes, reading raises FileNotFoundError naming it.

    Raises:
        FileNotFoundError, NotADirectoryError: ``path`` is not an existing folder.
        ValueError: the folder has no candidate file (naming it).
    """
    root = folder_root(path)
    files = list_image_files(root, recursive=recursive, extensions=suffixes, broken_links=True)
    return _FolderStream(root, files)


def _read_folder_file(root: str, rel: tuple[str, ...]) -> Loaded:
    full = os.path.join(root, *rel)
    try:
        image = load_image(full)
    except ImageDecodeError as exc:
        raise SkipImage(full, exc.reason) from None
    except OSError as exc:
        if not os.path.isdir(root):
            raise FileNotFoundError(
                f"image folder {root} vanished while it was read (at {'/'.join(rel)})"
            ) from exc
        raise SkipImage(
            full,
            unreadable_reason(full, exc, missing="no such file (it vanished after the folder was listed)"),
        ) from None
    return Loaded(image, label=rel[0] if len(rel) > 1 else None)


class _ListFileStream(ImageStream):
    def __init__(self, list_path: str, entries: list[tuple[int, str, str]]):
        super().__init__(list_path, len(entries))
        self.list_path = list_path
        self._entries = entries

    def items(self, start: int) -> Iterator[Item]:
        for index in range(start, len(self._entries)):
            line, entry, full = self._entries[index]
            yield Item(index, entry, partial(_read_listed_file, full, line, self.list_path))


def list_file_stream(path) -> ImageStream:
    """Stream the image files named in a text file, one path per line, in file order.

    Relative paths are taken relative to the list file's folder; blank lines and
    lines whose first non-blank character is ``#`` are ignored; surrounding blanks
    are stripped. Each image is named by its entry as written ("val/0001.jpg").
    The stream's ``name`` is the list file's absolute path, its ``size`` the number
    of entries. A listed file that is missing or cannot be decoded is skipped with a
    warning naming it and the line it is listed on.

    Raises:
        FileNotFoundError: the list file does not exist.
        ValueError: it lists no file, or lists one entry twice (naming both lines).
    """
    list_path = os.path.abspath(os.fspath(path))
    if not os.path.isfile(list_path):
        raise FileNotFoundError(f"image list file not found: {list_path}")
    folder = os.path.dirname(list_path)
    seen: dict[str, int]  # entry -> line
    entries, seen = [], {}
    with open(list_path, encoding="utf-8") as fh:
        for line, text in enumerate(fh, start=1):
            entry = text.strip()
            if not entry or entry.startswith("#"):
                continue
            if entry in seen:
                raise ValueError(
                    f"{list_path}: {entry!r} is listed twice (lines {seen[entry]} "
                    f"and {line}); image names must be unique"
                )
            seen[entry] = line
            entries.append((line, entry, os.path.join(folder, entry)))
    if not entries:
        raise ValueError(f"image list file {list_path} lists no file")
    return _ListFileStream(list_path, entries)


def _read_listed_file(full: str, line: int, list_path: str) -> Loaded:
    where = f"listed on line {line} of {list_path}"
    try:
        return Loaded(load_image(full))
    except ImageDecodeError as exc:
        raise SkipImage(full, f"{exc.reason} ({where})") from None
    except OSError as exc:
        raise SkipImage(full, f"{unreadable_reason(full, exc)} ({where})") from None
