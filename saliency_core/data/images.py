"""Read photos from disk as uint8 RGB arrays, the form every image enters the core in.

:func:`load_image` decodes one file with Pillow; :func:`load_folder` reads a folder
(flat, or one subfolder per class) into an :class:`ImageSet`, skipping files that
cannot be decoded with an :class:`ImageSkippedWarning` for each. Resizing is not done
here: ``Classifier.prepare()`` does it for the model at hand.

Example::

    images = load_folder("photos/")          # photos/cat/1.jpg, photos/dog/2.png, ...
    images.labels[:2], images.images[0].shape  # (['cat', 'cat'], (300, 451, 3))
"""

from __future__ import annotations

import errno
import os
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "ImageDecodeError",
    "ImageSkippedWarning",
    "ImageSet",
    "folder_root",
    "list_image_files",
    "load_folder",
    "load_image",
    "unreadable_reason",
]

_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")
_ALPHA_MODES = ("RGBA", "RGBa", "LA", "La", "PA")


class ImageDecodeError(ValueError):
    """A file exists but is not a decodable image (corrupt, truncated, not an image).

    Attributes:
        path: The file, as given.
        reason: What went wrong, in words (the decoder's message).
    """

    def __init__(self, path, reason: str):
        super().__init__(str(path), reason)
        self.path = str(path)
        self.reason = reason

    def __str__(self) -> str:
        return f"cannot decode image {self.path}: {self.reason}"


class ImageSkippedWarning(UserWarning):
    """A file in a folder was skipped because it could not be decoded."""


@dataclass
class ImageSet:
    """Images with their names, files and labels, aligned by index.

    Attributes:
        images: uint8 RGB arrays, each (H, W, 3); sizes may differ.
        names: Unique short name of each image (path relative to the folder, or a
            dataset's own name such as "chelsea").
        paths: File each image was read from, or None when it came from an API.
        labels: Class of each image (its class subfolder), or None when unlabelled.
        skipped: (file or name, reason) for everything that could not be loaded.
        source: Where the set came from: a folder path or a dataset name.
    """

    images: list[np.ndarray]
    names: list[str]
    paths: list[str | None]
    labels: list[str | None]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    source: str = ""

    def __post_init__(self):
        n = len(self.images)
        if not len(self.names) == len(self.paths) == len(self.labels) == n:
            raise ValueError(
                f"ImageSet fields differ in length: {n} images, {len(self.names)} names, "
                f"{len(self.paths)} paths, {len(self.labels)} labels"
            )

    def __len__(self) -> int:
        return len(self.images)

    @property
    def classes(self) -> list[str]:
        """Sorted distinct labels (empty for an unlabelled set)."""
        return sorted({label for label in self.labels if label is not None})


def load_image(path) -> np.ndarray:
    """Decode one image file into a uint8 RGB array of shape (H, W, 3).

    Anything Pillow opens is accepted (JPEG, PNG, BMP, GIF, TIFF, WebP, ...); for
    multi-frame files the first frame is used. The EXIF orientation is applied, so
    the array is the upright photo. Colour modes are converted as follows:

    - grayscale (L, 1) and palette (P): replicated / looked up to RGB;
    - with transparency (RGBA, LA, PA, or a palette/colour-key transparency):
      composited over a white background, per channel
      ``round((c * a + 255 * (255 - a)) / 255)`` with alpha ``a`` in [0, 255];
    - 16-bit (I;16 and its byte orders) and 32-bit integer (I): scaled by the
      16-bit range, ``round(v * 255 / 65535)`` after clipping to [0, 65535];
    - float (F): taken to be in [0, 255], clipped and rounded;
    - CMYK, YCbCr, LAB, HSV: Pillow's conversion to RGB (no ICC colour management).

    Raises:
        FileNotFoundError, IsADirectoryError, PermissionError: the file cannot be read.
        ImageDecodeError: the file is read but is not a decodable image.
    """
    from PIL import Image, ImageOps

    path = os.fspath(path)
    with open(path, "rb") as fh:  # OS errors (missing file, ...) propagate as they are
        try:
            with Image.open(fh) as img:
                img.load()
                try:
                    img = ImageOps.exif_transpose(img)
                except Exception:  # a malformed EXIF block: keep the stored orientation
                    pass
                return _to_rgb_uint8(img)
        except Exception as exc:  # Pillow's decoders raise many types on bad data
            raise ImageDecodeError(path, f"{type(exc).__name__}: {exc}") from exc


def _to_rgb_uint8(img) -> np.ndarray:
    """Convert a decoded PIL image to a contiguous uint8 (H, W, 3) RGB array."""
    mode = img.mode
    if mode in _SIXTEEN_BIT_MODES or mode == "F":
        values = np.asarray(img, dtype=np.float64)
        if mode == "F":
            gray = np.clip(values, 0, 255)
        else:
            gray = np.clip(values, 0, 65535) * (255.0 / 65535.0)
        gray = np.rint(gray).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(gray[..., None], 3, axis=-1))
    if mode in _ALPHA_MODES or "transparency" in img.info:
        rgba = np.asarray(img.convert("RGBA"), dtype=np.uint32)
        rgb, alpha = rgba[..., :3], rgba[..., 3:]
        # Integer arithmetic, rounding halves up: exact and easy to check by hand.
        out = (rgb * alpha + 255 * (255 - alpha) + 127) // 255
        return np.ascontiguousarray(out.astype(np.uint8))
    return np.ascontiguousarray(np.asarray(img.convert("RGB"), dtype=np.uint8))


def load_folder(path, *, recursive: bool = True, extensions: Iterable[str] | None = None) -> ImageSet:
    """Read every image in a folder into an :class:`ImageSet`.

    Layouts: files directly in ``path`` get label None; files in a subfolder get the
    name of the top-level subfolder as label (``path/cat/x.jpg`` -> "cat"), so a folder
    of class subfolders is a labelled set and a flat folder an unlabelled one. Order is
    deterministic: sorted by relative path, hence grouped by label in sorted order.

    Args:
        path: The folder.
        recursive: Descend into subfolders; if False only files directly in ``path``
            are read.
        extensions: Only files with these suffixes (case-insensitive, with or without
            the dot) are considered; others are ignored silently. None tries every file,
            so a stray ``notes.txt`` is reported as skipped.

    Hidden files and folders (names starting with ".") are ignored. A file that cannot
    be decoded (see :func:`load_image`) is skipped with an :class:`ImageSkippedWarning`
    naming it and the reason, and listed in ``ImageSet.skipped``.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        NotADirectoryError: ``path`` is not a folder.
        ValueError: the folder holds no candidate file, or none could be decoded.
    """
    root = folder_root(path)
    files = list_image_files(root, recursive=recursive, extensions=extensions)

    paths: list[str | None]  # as ImageSet.paths
    images, names, paths, labels, skipped = [], [], [], [], []
    for rel in files:
        full = os.path.join(root, *rel)
        try:
            image = load_image(full)
        except ImageDecodeError as exc:
            reason = exc.reason
        except OSError as exc:  # unreadable file: permissions, vanished, ...
            reason = f"{type(exc).__name__}: {exc}"
        else:
            images.append(image)
            names.append("/".join(rel))
            paths.append(full)
            labels.append(rel[0] if len(rel) > 1 else None)
            continue
        skipped.append((full, reason))
        warnings.warn(f"skipped {full}: {reason}", ImageSkippedWarning, stacklevel=2)

    if not images:
        raise ValueError(
            f"none of the {len(files)} files in {root} could be decoded "
            f"(first: {skipped[0][0]}: {skipped[0][1]})"
        )
    return ImageSet(images, names, paths, labels, skipped, source=root)


def folder_root(path) -> str:
    """The absolute path of an existing folder.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        NotADirectoryError: ``path`` is not a folder.
    """
    root = os.path.abspath(os.fspath(path))
    if not os.path.exists(root):
        raise FileNotFoundError(f"image folder not found: {root}")
    if not os.path.isdir(root):
        raise NotADirectoryError(f"not a folder: {root}")
    return root


def list_image_files(
    root: str, *, recursive: bool = True, extensions: Iterable[str] | None = None, broken_links: bool = False
) -> list[tuple[str, ...]]:
    """Relative paths (as tuples of parts) of the candidate files under ``root``, sorted.

    Candidates are selected as :func:`load_folder` describes. With ``broken_links``,
    symbolic links that resolve to no file (dangling links, link loops) are listed
    too, so that the caller can report them; otherwise they are left out silently.

    Raises:
        ValueError: no candidate file, naming ``root`` (and a hint when it has
            subfolders but ``recursive`` is False, or ``extensions`` left all out).
    """
    suffixes = (
        None if extensions is None else {(e if e.startswith(".") else "." + e).lower() for e in extensions}
    )
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [] if not recursive else sorted(d for d in dirnames if not d.startswith("."))
        rel_dir = os.path.relpath(dirpath, root)
        parts = () if rel_dir == "." else tuple(rel_dir.split(os.sep))
        for name in filenames:
            if name.startswith("."):
                continue
            if suffixes is not None and os.path.splitext(name)[1].lower() not in suffixes:
                continue
            full = os.path.join(dirpath, name)
            if os.path.isfile(full) or (broken_links and os.path.islink(full) and not os.path.exists(full)):
                found.append(parts + (name,))
    if not found:
        raise ValueError(f"no image files in {root}" + _empty_hint(root, recursive, suffixes))
    return sorted(found)


def unreadable_reason(path, exc: OSError, missing: str = "no such file") -> str:
    """Why ``path`` could not be opened, in words: a dangling symbolic link or a link
    loop (named as such), ``missing`` when nothing is there, else the OS error."""
    path = os.fspath(path)
    if os.path.islink(path):
        try:
            os.stat(path)
        except OSError as stat_exc:
            if stat_exc.errno == errno.ELOOP:
                return "symbolic link loop"
            if stat_exc.errno == errno.ENOENT:
                return f"dangling symbolic link (to {os.readlink(path)})"
    elif not os.path.lexists(path):
        return missing
    return f"{type(exc).__name__}: {exc}"


def _empty_hint(root: str, recursive: bool, suffixes: set[str] | None) -> str:
    if not recursive and any(e.is_dir() and not e.name.startswith(".") for e in os.scandir(root)):
        return " (it has subfolders: pass recursive=True)"
    if suffixes is not None:
        return f" with extensions {', '.join(sorted(suffixes))}"
    return ""
