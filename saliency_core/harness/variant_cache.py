"""The on-disk cache of ``variant="auto"`` measurements: its file
(``$SALIENCY_BENCH_CACHE/auto-variant.json``, default ``~/.cache/saliency-bench``), its
key (model, input shape, parameter count, device, precision, batch size, TensorFlow
version, host) and reading and writing it."""

from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import asdict
from pathlib import Path


__all__ = ["CACHE_NAME", "cache_path", "choice_key"]


CACHE_NAME = "auto-variant.json"


_CACHE_VERSION = 1


def cache_path() -> Path:
    """``$SALIENCY_BENCH_CACHE/auto-variant.json``, or ``~/.cache/saliency-bench/...``."""
    root = os.environ.get("SALIENCY_BENCH_CACHE") or Path.home() / ".cache" / "saliency-bench"
    return Path(root) / CACHE_NAME


def device_kind(device: str | None) -> str:
    from ..devices import runs_on_cpu

    return "cpu" if runs_on_cpu(device) else "gpu"


def _device_name(device: str | None) -> str:
    from ..devices import normalize_device

    if device is not None:
        return normalize_device(device)
    return "cpu" if device_kind(None) == "cpu" else "gpu:0"  # TensorFlow's placement


def choice_key(
    classifier,
    *,
    device: str | None,
    precision: str,
    batch_size: int,
    tf_version: str | None = None,
    host: str | None = None,
) -> str:
    """The cache key: model name, input shape and parameter count (two files with one
    name differ in these), device, precision, batch size, TensorFlow version and host."""
    if tf_version is None:
        import tensorflow as tf

        tf_version = tf.__version__
    params = int(classifier.model.count_params())
    shape = "x".join(map(str, classifier.input_shape))
    return "|".join(
        [
            classifier.name,
            shape,
            f"{params}p",
            _device_name(device),
            precision,
            f"b{batch_size}",
            f"tf{tf_version}",
            host or platform.node(),
        ]
    )


def read_cache(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("version") != _CACHE_VERSION:
        return {}
    return data.get("entries", {}) if isinstance(data.get("entries"), dict) else {}


def write_cache(path: Path, key: str, measurements: dict) -> str | None:
    """Add one entry (re-reading the file first); an error text, or None when written."""
    try:
        entries = read_cache(path)
        entries[key] = {
            "measured": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "measurements": {k: asdict(v) for k, v in measurements.items()},
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(
            json.dumps({"version": _CACHE_VERSION, "entries": entries}, indent=1, sort_keys=True),
            encoding="utf-8",
        )
        os.replace(tmp, path)
    except OSError as exc:
        return f"{type(exc).__name__}: {exc}"
    return None
