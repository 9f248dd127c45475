"""One JSON encoder for everything the project writes (store cells, --json files, exports)."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["jsonable", "json_default", "dumps"]


def jsonable(value: Any, *, finite: bool = False) -> Any:
    """``value`` with numpy arrays/scalars, tuples and dataclasses turned into JSON types.

    With ``finite=True``, NaN and infinities become None (strict JSON).
    """
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v, finite=finite) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v, finite=finite) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist(), finite=finite)
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, (set, frozenset)):
        return sorted(jsonable(v, finite=finite) for v in value)
    if isinstance(value, Path):
        return str(value)
    if finite and isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def json_default(obj: Any) -> Any:
    """``default=`` hook of :func:`json.dumps` for numpy values, sets and paths."""
    if isinstance(obj, (np.generic, np.ndarray, set, frozenset, Path)):
        return jsonable(obj)
    raise TypeError(f"value of type {type(obj).__name__} is not JSON serialisable: {obj!r}")


def dumps(value: Any, **kwargs: Any) -> str:
    """Strict JSON text of ``value`` (non-finite numbers as null)."""
    return json.dumps(jsonable(value, finite=True), allow_nan=False, **kwargs)
