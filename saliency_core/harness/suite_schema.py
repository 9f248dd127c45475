"""The keys a suite file may hold and the checks of their types and values: every error
is a :class:`SuiteError` naming the file and the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any


__all__ = ["SuiteError"]


class SuiteError(ValueError):
    """A suite file is missing, not TOML, or has a bad key or value (named in the message)."""


TOP_KEYS = {
    "name": str,
    "description": str,
    "models": list,
    "variants": list,
    "precisions": list,
    "batch_sizes": list,
    "devices": list,
    "image_size": int,
    "weights": str,
    "seed": int,
    "fresh_process": bool,
    "timing": dict,
    "chunking": dict,
    "checks": dict,
    "agreement": dict,
}


REQUIRED_KEYS = ("models", "variants", "batch_sizes")


TIMING_KEYS = {"min_repeats": int, "max_repeats": int, "budget_s": (int, float), "warmup": int}


CHUNKING_KEYS = {"candidates": list}


def _type_name(t) -> str:
    names = {
        str: "a string",
        int: "an integer",
        list: "an array",
        bool: "true or false",
        dict: "a table",
        float: "a number",
    }
    return " or ".join(names[x] for x in t) if isinstance(t, tuple) else names[t]


def _is(value: Any, t) -> bool:
    types = t if isinstance(t, tuple) else (t,)
    if isinstance(value, bool) and bool not in types:
        return False  # TOML true is not an integer here
    return isinstance(value, types)


def key_error(source: str, key: str, message: str) -> SuiteError:
    return SuiteError(f"{source}: key {key!r}: {message}")


def check_table(data: dict, schema: dict, source: str, prefix: str = "") -> None:
    for key, value in data.items():
        name = prefix + key
        if key not in schema:
            raise SuiteError(
                f"{source}: unknown key {name!r} (allowed: {', '.join(prefix + k for k in schema)})"
            )
        if not _is(value, schema[key]):
            raise key_error(
                source, name, f"must be {_type_name(schema[key])}, got {type(value).__name__} {value!r}"
            )


def list_of(data: dict, key: str, t, source: str, *, positive=False, allowed=None, prefix: str = "") -> tuple:
    values = data[key]
    name = prefix + key
    if not values:
        raise key_error(source, name, "must not be empty")
    for i, v in enumerate(values):
        if not _is(v, t):
            raise key_error(source, f"{name}[{i}]", f"must be {_type_name(t)}, got {v!r}")
        if positive and v < 1:
            raise key_error(source, f"{name}[{i}]", f"must be >= 1, got {v!r}")
        if allowed is not None and v not in allowed:
            raise key_error(source, f"{name}[{i}]", f"unknown value {v!r}; choose from {', '.join(allowed)}")
    return tuple(values)


def check_model(name: str, source: str, index: int) -> None:
    from ..models.registry import BACKBONES, LITE0

    if name.lower() in BACKBONES or name.lower() == LITE0 or Path(name).expanduser().exists():
        return
    raise key_error(
        source,
        f"models[{index}]",
        f"unknown model {name!r}: not a registry name ({', '.join([LITE0, *BACKBONES])}) and no such file",
    )
