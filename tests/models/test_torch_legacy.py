"""The legacy torch reader on files this test writes itself (no torch needed).

``write_legacy`` emits the layout of ``torch.serialization._legacy_save`` with
hand-written pickle opcodes (torch's globals cannot be pickled without torch):
magic, protocol, sys-info, the state dict whose tensors are
``_rebuild_tensor_v2(persistent storage id, offset, size, stride, False,
OrderedDict())`` calls, the storage key list, then each storage as an int64
element count and raw little-endian data. The opcode sequence mirrors what
torch 2.13 writes with ``_use_new_zipfile_serialization=False``.
"""

from __future__ import annotations

import pickle
import struct
from dataclasses import dataclass

import numpy as np
import pytest

from saliency_core.models.torch_legacy import MAGIC_NUMBER, load_legacy_state_dict


# --- a minimal protocol-2 pickle emitter -------------------------------------------------
@dataclass(frozen=True)
class G:
    """A global reference ``module.name`` (GLOBAL opcode)."""

    module: str
    name: str


@dataclass(frozen=True)
class Call:
    """``fn(*args)`` (REDUCE opcode)."""

    fn: object
    args: tuple


@dataclass(frozen=True)
class PersId:
    """A persistent id (BINPERSID opcode)."""

    pid: tuple


def _emit(obj) -> bytes:
    if obj is None:
        return b"N"
    if obj is True or obj is False:
        return b"\x88" if obj else b"\x89"
    if isinstance(obj, int):
        return b"J" + struct.pack("<i", obj)
    if isinstance(obj, str):
        raw = obj.encode()
        return b"X" + struct.pack("<I", len(raw)) + raw
    if isinstance(obj, tuple):
        return b"(" + b"".join(_emit(o) for o in obj) + b"t"
    if isinstance(obj, G):
        return b"c" + f"{obj.module}\n{obj.name}\n".encode()
    if isinstance(obj, Call):
        return _emit(obj.fn) + _emit(tuple(obj.args)) + b"R"
    if isinstance(obj, PersId):
        return _emit(obj.pid) + b"Q"
    if isinstance(obj, dict):  # an OrderedDict, as torch state dicts are
        items = b"".join(_emit(k) + _emit(v) for k, v in obj.items())
        return _emit(Call(G("collections", "OrderedDict"), ())) + b"(" + items + b"u"
    raise TypeError(type(obj))


def dumps2(obj) -> bytes:
    return b"\x80\x02" + _emit(obj) + b"."


_TYPES = {
    np.dtype("<f4"): "FloatStorage",
    np.dtype("<i8"): "LongStorage",
    np.dtype("<f8"): "DoubleStorage",
    np.dtype("<f2"): "HalfStorage",
}


def tensor(key, data, offset, size, stride, view=None):
    """A tensor over storage ``key`` holding ``data``; ``view`` = (view_key, offset, numel)."""
    pid = ("storage", G("torch", _TYPES[data.dtype]), key, "cpu", int(data.size), view)
    rebuild = G("torch._utils", "_rebuild_tensor_v2")
    return Call(
        rebuild,
        (PersId(pid), offset, tuple(size), tuple(stride), False, Call(G("collections", "OrderedDict"), ())),
    )


def write_legacy(
    path,
    state: dict,
    storages: dict[str, np.ndarray],
    *,
    magic=MAGIC_NUMBER,
    protocol=1001,
    little_endian=True,
) -> bytes:
    sys_info = {
        "protocol_version": protocol,
        "little_endian": little_endian,
        "type_sizes": {"short": 2, "int": 4, "long": 4},
    }
    keys = sorted(storages)
    parts = [
        pickle.dumps(magic, protocol=2),
        pickle.dumps(protocol, protocol=2),
        pickle.dumps(sys_info, protocol=2),
        dumps2(state),
        pickle.dumps(keys, protocol=2),
    ]
    for key in keys:
        parts += [
            struct.pack("<q", storages[key].size),
            storages[key].astype(storages[key].dtype.newbyteorder("<")).tobytes(),
        ]
    data = b"".join(parts)
    path.write_bytes(data)
    return data


# --- fixtures -------------------------------------------------------------------------
BASE = np.arange(24, dtype="<f4") * 0.5 - 3.0  # one storage shared by several tensors
LONGS = np.array([7, -2, 2**40], dtype="<i8")
DOUBLES = np.array([np.pi, -1e300, 0.0, 1e-310], dtype="<f8")


def _state():
    return {
        "full": tensor("s0", BASE, 0, (4, 6), (6, 1)),
        "transposed": tensor("s0", BASE, 0, (6, 4), (1, 6)),  # non-contiguous
        "slice": tensor("s0", BASE, 8, (3, 3), (6, 1)),  # offset + row stride
        "every_other": tensor("s0", BASE, 1, (4, 3), (6, 2)),  # offset + column stride
        "counter": tensor("s1", LONGS, 2, (), ()),  # 0-d, offset
        "longs": tensor("s1", LONGS, 0, (3,), (1,)),
        # Old torch saved storage views: a view of s2 starting at element 1, 3 long.
        "view": tensor("s2", DOUBLES, 1, (2,), (1,), view=("s2v", 1, 3)),
    }


_EXPECTED = {
    "full": BASE.reshape(4, 6),
    "transposed": BASE.reshape(4, 6).T,
    "slice": BASE.reshape(4, 6)[1:4, 2:5],
    "every_other": BASE.reshape(4, 6)[:, 1::2],
    "counter": np.array(2**40, dtype=np.int64),
    "longs": LONGS,
    "view": DOUBLES[2:4],
}


@pytest.fixture
def legacy_file(tmp_path):
    path = tmp_path / "tiny.pth"
    data = write_legacy(path, _state(), {"s0": BASE, "s1": LONGS, "s2": DOUBLES})
    return path, data


# --- round trip -----------------------------------------------------------------------
def test_round_trip_exact_values_shapes_dtypes(legacy_file):
    sd = load_legacy_state_dict(legacy_file[0])
    assert list(sd) == list(_EXPECTED)
    for name, want in _EXPECTED.items():
        got = sd[name]
        assert got.shape == want.shape and got.dtype == want.dtype.newbyteorder("="), name
        np.testing.assert_array_equal(got, want, err_msg=name)


def test_arrays_are_independent_contiguous_copies(legacy_file):
    sd = load_legacy_state_dict(legacy_file[0])
    assert all(a.flags.c_contiguous and a.flags.writeable for a in sd.values())
    assert not np.shares_memory(sd["full"], sd["transposed"])
    sd["full"][:] = 0
    np.testing.assert_array_equal(sd["transposed"], BASE.reshape(4, 6).T)


def test_accepts_path_as_str(legacy_file):
    assert set(load_legacy_state_dict(str(legacy_file[0]))) == set(_EXPECTED)


# --- refusal --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "module,name",
    [("os", "system"), ("posix", "system"), ("builtins", "eval"), ("torch._utils", "_rebuild_parameter")],
)
def test_forbidden_global_is_refused_and_nothing_runs(tmp_path, module, name):
    marker = tmp_path / "ran"
    state = {"w": tensor("s0", BASE, 0, (24,), (1,)), "evil": Call(G(module, name), (f"touch {marker}",))}
    path = tmp_path / "evil.pth"
    write_legacy(path, state, {"s0": BASE})
    with pytest.raises(pickle.UnpicklingError, match=rf"{module}\.{name}") as info:
        load_legacy_state_dict(path)
    assert str(path) in str(info.value)
    assert not marker.exists()


def test_wrong_magic_names_the_file(tmp_path):
    path = tmp_path / "magic.pth"
    write_legacy(path, _state(), {"s0": BASE, "s1": LONGS, "s2": DOUBLES}, magic=12345)
    with pytest.raises(ValueError, match="magic") as info:
        load_legacy_state_dict(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    "kwargs,match", [({"protocol": 1000}, "protocol"), ({"little_endian": False}, "little-endian")]
)
def test_wrong_protocol_or_byte_order(tmp_path, kwargs, match):
    path = tmp_path / "header.pth"
    write_legacy(path, _state(), {"s0": BASE, "s1": LONGS, "s2": DOUBLES}, **kwargs)
    with pytest.raises(ValueError, match=match):
        load_legacy_state_dict(path)


@pytest.mark.parametrize("fraction", [0.0, 0.05, 0.3, 0.6, 0.9, 0.999])
def test_truncated_file_names_the_file(legacy_file, tmp_path, fraction):
    _, data = legacy_file
    path = tmp_path / "cut.pth"
    path.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(ValueError) as info:
        load_legacy_state_dict(path)
    assert str(path) in str(info.value)


def test_zip_format_file_is_refused(tmp_path):
    import zipfile

    path = tmp_path / "new.pth"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", b"\x80\x02}.")
    with pytest.raises(ValueError, match="zip-format") as info:
        load_legacy_state_dict(path)
    assert str(path) in str(info.value)


def test_tensor_reaching_past_its_storage_is_refused(tmp_path):
    path = tmp_path / "oob.pth"
    write_legacy(path, {"w": tensor("s0", BASE, 20, (2, 3), (6, 1))}, {"s0": BASE})
    with pytest.raises(ValueError, match="reaches element"):
        load_legacy_state_dict(path)


def test_storage_count_mismatch_is_refused(tmp_path, legacy_file):
    _, data = legacy_file
    # Patch the element count of the first storage (24 floats) to 23.
    count = struct.pack("<q", 24)
    at = data.index(count + BASE.tobytes())
    path = tmp_path / "count.pth"
    path.write_bytes(data[:at] + struct.pack("<q", 23) + data[at + 8 :])
    with pytest.raises(ValueError, match="23 elements"):
        load_legacy_state_dict(path)
