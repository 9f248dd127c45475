"""Read a legacy-format (pre-1.6, not zip) PyTorch state dict with ``pickle`` and numpy.

No torch is needed, and no code from the file runs: the unpickler allows only the
globals a state dict of tensors needs (``torch._utils._rebuild_tensor_v2``, the
``torch.*Storage`` type names and ``collections.OrderedDict``) and refuses every
other with :class:`pickle.UnpicklingError`.

The legacy layout (``torch.serialization._legacy_save``) is a sequence of pickles
and raw data:

1. the magic number ``0x1950A86A20F9469CFC6C``;
2. the protocol version ``1001``;
3. a sys-info dict (``little_endian``, ``type_sizes``, ...);
4. the object itself; tensors are ``_rebuild_tensor_v2(storage, offset, size,
   stride, ...)`` calls whose storages are persistent ids
   ``('storage', StorageType, key, location, numel[, view])``;
5. the list of storage keys;
6. for each key in that order: an int64 little-endian element count, then the raw
   little-endian data.

Tensors are rebuilt only after the storages are read (step 6 follows step 4), so
the unpickler returns placeholders that :func:`load_legacy_state_dict` resolves.

Example::

    >>> sd = load_legacy_state_dict("model.pth")        # doctest: +SKIP
    >>> sd["conv.weight"].shape                         # doctest: +SKIP
    (32, 3, 3, 3)
"""

from __future__ import annotations

import collections
import os
import pickle
from dataclasses import dataclass

import numpy as np

__all__ = ["load_legacy_state_dict", "MAGIC_NUMBER", "PROTOCOL_VERSION", "STORAGE_DTYPES"]

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
PROTOCOL_VERSION = 1001

# torch storage type name -> little-endian numpy dtype of its elements.
# BFloat16 has no numpy dtype: it is read as uint16 and widened to float32.
STORAGE_DTYPES: dict[str, str] = {
    "DoubleStorage": "<f8",
    "FloatStorage": "<f4",
    "HalfStorage": "<f2",
    "BFloat16Storage": "<u2",
    "LongStorage": "<i8",
    "IntStorage": "<i4",
    "ShortStorage": "<i2",
    "CharStorage": "i1",
    "ByteStorage": "u1",
    "BoolStorage": "?",
    "ComplexFloatStorage": "<c8",
    "ComplexDoubleStorage": "<c16",
}


@dataclass(frozen=True, slots=True)
class _StorageType:
    """Stands in for ``torch.<name>`` (a storage class) while unpickling."""

    name: str

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(STORAGE_DTYPES[self.name])


class _Storage:
    """A root storage: its element type and count; ``data`` is filled in later."""

    __slots__ = ("stype", "numel", "data")

    def __init__(self, stype: _StorageType, numel: int):
        self.stype, self.numel, self.data = stype, numel, None


@dataclass(frozen=True, slots=True)
class _StorageView:
    """A slice of a root storage (old torch saved storage views separately)."""

    root: _Storage
    offset: int
    numel: int


@dataclass(frozen=True, slots=True)
class _TensorRef:
    """A tensor waiting for its storage data."""

    storage: _StorageView
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]


class _ForbiddenGlobal(pickle.UnpicklingError):
    """A pickle asked for a global outside the allow-list."""


def _rebuild_tensor_v2(
    storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None, metadata=None
):
    """Safe stand-in for ``torch._utils._rebuild_tensor_v2``: checks and records."""
    if isinstance(storage, _Storage):
        storage = _StorageView(storage, 0, storage.numel)
    if not isinstance(storage, _StorageView):
        raise ValueError(f"tensor storage is {type(storage).__name__}, not a torch storage")
    size, stride = tuple(int(s) for s in size), tuple(int(s) for s in stride)
    ref = _TensorRef(storage, int(storage_offset), size, stride)
    _check_geometry(ref, storage.numel)
    return ref


def _check_geometry(ref: _TensorRef, numel: int) -> None:
    """Every element the tensor addresses lies inside its (view of the) storage."""
    offset, size, stride = ref.offset, ref.size, ref.stride
    if len(size) != len(stride) or offset < 0 or any(s < 0 for s in size + stride):
        raise ValueError(f"invalid tensor geometry: offset {offset}, size {size}, stride {stride}")
    if 0 not in size:
        last = offset + sum((n - 1) * s for n, s in zip(size, stride))
        if last >= numel:
            raise ValueError(
                f"tensor (offset {offset}, size {size}, stride {stride}) reaches "
                f"element {last} of a storage of {numel}"
            )


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that resolves only the globals a torch state dict needs."""

    def __init__(self, file, path, storages=None):
        super().__init__(file)
        self._path = path
        self._storages = storages

    def find_class(self, module, name):
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_tensor_v2
        if module == "torch" and name in STORAGE_DTYPES:
            return _StorageType(name)
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        raise _ForbiddenGlobal(
            f"{self._path}: refusing global {module}.{name}; only "
            "torch._utils._rebuild_tensor_v2, torch.*Storage and collections.OrderedDict "
            "are allowed"
        )

    def persistent_load(self, pid):
        if self._storages is None:
            raise pickle.UnpicklingError("unexpected persistent id in a header pickle")
        if not isinstance(pid, tuple) or len(pid) not in (5, 6) or pid[0] != "storage":
            raise ValueError(f"unsupported persistent id {str(pid)[:80]}")
        stype, key, _location, numel = pid[1:5]
        view = pid[5] if len(pid) == 6 else None
        if not isinstance(stype, _StorageType) or not isinstance(numel, int) or numel < 0:
            raise ValueError(f"malformed storage id {str(pid)[:80]}")
        root = self._storages.setdefault(key, _Storage(stype, numel))
        if root.stype != stype or root.numel != numel:
            raise ValueError(f"storage {key!r} is referenced with two types or sizes")
        if view is None:
            return _StorageView(root, 0, numel)
        _view_key, offset, view_numel = view
        if offset < 0 or view_numel < 0 or offset + view_numel > numel:
            raise ValueError(f"storage view {view!r} lies outside storage {key!r}")
        return _StorageView(root, int(offset), int(view_numel))


def _check_format(f, path) -> None:
    head = f.read(512)
    f.seek(0)
    if head.startswith(b"PK\x03\x04"):
        raise ValueError(
            f"{path} is a zip-format torch file (torch >= 1.6); "
            "only the legacy format can be read without torch"
        )
    if len(head) >= 262 and head[257:262] == b"ustar":
        raise ValueError(f"{path} is a tar-format torch file (torch < 0.4); not supported")


def _read_storage_data(f, storage: _Storage, remaining: int, key, path) -> np.ndarray:
    count = f.read(8)
    if len(count) != 8:
        raise ValueError(f"{path} is truncated: storage {key!r} has no element count")
    numel = int.from_bytes(count, "little", signed=True)
    if numel != storage.numel:
        raise ValueError(
            f"{path}: storage {key!r} holds {numel} elements, its tensors expect {storage.numel}"
        )
    dtype = storage.stype.dtype
    nbytes = numel * dtype.itemsize
    if nbytes > remaining - 8:
        raise ValueError(
            f"{path} is truncated: storage {key!r} needs {nbytes} bytes, {max(remaining - 8, 0)} remain"
        )
    return np.frombuffer(f.read(nbytes), dtype=dtype)


def _materialise(ref: _TensorRef) -> np.ndarray:
    """An independent, C-contiguous native-endian copy of the tensor's elements."""
    data, view = ref.storage.root.data, ref.storage
    # Checked again against the data actually read: bounds decide what memory
    # as_strided may touch, so they must not rest on values from the pickle alone.
    if not isinstance(data, np.ndarray) or view.offset < 0 or view.offset + view.numel > data.size:
        raise ValueError("tensor storage view lies outside the data read")
    base = data[view.offset : view.offset + view.numel]
    _check_geometry(ref, base.size)
    if 0 in ref.size:
        arr = np.empty(ref.size, dtype=data.dtype)
    else:
        item = data.dtype.itemsize
        arr = np.lib.stride_tricks.as_strided(
            base[ref.offset :], shape=ref.size, strides=[s * item for s in ref.stride], writeable=False
        )
    if ref.storage.root.stype.name == "BFloat16Storage":
        return (arr.astype(np.uint32) << 16).view(np.float32)
    return np.array(arr, dtype=arr.dtype.newbyteorder("="), order="C", copy=True)


def load_legacy_state_dict(path) -> dict[str, np.ndarray]:
    """Read a legacy torch ``.pth`` state dict into ``{name: numpy array}``.

    Args:
        path: File written by ``torch.save(..., _use_new_zipfile_serialization=False)``
            or by torch < 1.6.
    Returns:
        Ordered dict of parameter/buffer name to an independent numpy array with the
        tensor's shape and dtype (values laid out according to the saved strides).
    Raises:
        pickle.UnpicklingError: The file references a global outside the allow-list;
            nothing from it was called.
        ValueError: Not a legacy torch file (zip format, wrong magic number or
            protocol, big-endian), truncated or otherwise corrupt.
    """
    path = os.fspath(path)
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        _check_format(f, path)
        try:
            magic = _RestrictedUnpickler(f, path).load()
            if magic != MAGIC_NUMBER:
                raise ValueError(f"{path}: wrong magic number; not a legacy torch file")
            protocol = _RestrictedUnpickler(f, path).load()
            if protocol != PROTOCOL_VERSION:
                raise ValueError(f"{path}: torch protocol version {protocol!r}, expected {PROTOCOL_VERSION}")
            sys_info = _RestrictedUnpickler(f, path).load()
            if not isinstance(sys_info, dict) or sys_info.get("little_endian") is not True:
                raise ValueError(f"{path}: not saved on a little-endian machine (sys info {sys_info!r})")
            storages: dict = {}
            obj = _RestrictedUnpickler(f, path, storages).load()
            keys = _RestrictedUnpickler(f, path).load()
            if not isinstance(keys, list) or set(keys) != set(storages) or len(keys) != len(set(keys)):
                raise ValueError(f"{path}: storage key list does not match the storages used")
            for key in keys:
                storages[key].data = _read_storage_data(f, storages[key], size - f.tell(), key, path)
        except (_ForbiddenGlobal, ValueError) as err:
            if isinstance(err, ValueError) and str(path) not in str(err):
                raise ValueError(f"{path}: {err}") from err
            raise
        except Exception as err:  # EOFError, UnpicklingError, TypeError, ... on bad bytes
            raise ValueError(
                f"{path} is not a readable legacy torch file "
                f"(truncated or corrupt): {type(err).__name__}: {err}"
            ) from err
    if not isinstance(obj, dict):
        raise ValueError(f"{path} holds a {type(obj).__name__}, not a state dict")
    out: dict[str, np.ndarray] = collections.OrderedDict()
    for name, value in obj.items():
        if not isinstance(name, str) or not isinstance(value, _TensorRef):
            raise ValueError(f"{path}: entry {name!r} is not a tensor")
        out[name] = _materialise(value)
    return out
