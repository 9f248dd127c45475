"""Device names, checks and scopes: the one place that turns "cpu" / "gpu:1" into TensorFlow's.

User-facing names are "cpu", "gpu" and "gpu:N"; TensorFlow's are "/CPU:0", "/GPU:N".
Nothing here configures devices at import; :func:`configure_gpus` is called by the
command-line entry point (and by executors' workers) before any tensor is made.
"""

from __future__ import annotations

import contextlib
from typing import ContextManager

__all__ = [
    "DeviceUnavailableError",
    "normalize_device",
    "resolve_device",
    "check_device",
    "device_scope",
    "runs_on_cpu",
    "is_cpu",
    "configure_gpus",
    "configure_threads",
    "THREAD_ENV",
]

#: The environment variables TensorFlow reads for its CPU thread pools (intra-op,
#: inter-op); :func:`configure_threads` sets them so processes started later agree.
THREAD_ENV = ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")


class DeviceUnavailableError(RuntimeError):
    """The requested device is not visible to TensorFlow (the message says what it sees)."""


def normalize_device(device: str) -> str:
    """ "cpu" -> "cpu", "gpu" / "GPU:0" -> "gpu:0", "gpu:1" -> "gpu:1"; ValueError otherwise."""
    kind, sep, index = str(device).strip().lower().lstrip("/").partition(":")
    if kind not in ("cpu", "gpu") or (sep and not index.isdigit()):
        raise ValueError(f"unknown device {device!r}; use cpu, gpu or gpu:N")
    if kind == "cpu":
        return "cpu" if not index or index == "0" else f"cpu:{index}"
    return f"gpu:{index or 0}"


def resolve_device(device: str | None) -> str | None:
    """ "cpu" -> "/CPU:0", "gpu" -> "/GPU:0", "gpu:1" -> "/GPU:1"; None keeps TF's placement."""
    if device is None:
        return None
    kind, _, index = normalize_device(device).partition(":")
    return f"/{kind.upper()}:{index or 0}"


def check_device(device: str | None) -> None:
    """Raise :class:`DeviceUnavailableError` unless TensorFlow sees ``device`` (any form)."""
    if device is None:
        return
    import tensorflow as tf

    resolved = resolve_device(device)
    assert resolved is not None  # device is not None
    kind, _, index = resolved.lstrip("/").partition(":")
    available = tf.config.list_logical_devices(kind)
    if int(index or 0) >= len(available):
        raise DeviceUnavailableError(
            f"device {device} is not available (TensorFlow sees {len(available)} {kind} device(s))"
        )


def device_scope(device: str | None) -> ContextManager:
    """``tf.device`` for ``device`` (any form), or a null context for None."""
    if device is None:
        return contextlib.nullcontext()
    import tensorflow as tf

    return tf.device(resolve_device(device))


def is_cpu(device: str | None) -> bool:
    """True for None (the CPU fallback of measuring helpers) or a CPU name."""
    return device is None or str(device).lower().lstrip("/").startswith("cpu")


def runs_on_cpu(device: str | None) -> bool:
    """True when work placed on ``device`` runs on a CPU: asked for, or no GPU visible."""
    if device is not None:
        return is_cpu(device)
    import tensorflow as tf

    return not tf.config.list_physical_devices("GPU")


def configure_threads(intra_op: int | None = None, inter_op: int | None = None) -> dict:
    """Size TensorFlow's CPU thread pools; an entry point calls it before any op runs.

    A count given here is also written to :data:`THREAD_ENV` (so a fresh-process cell
    worker started later gets it); a count not given is taken from that variable when
    set. Each known count is applied with ``tf.config.threading`` (0 = TensorFlow's
    default). Returns ``{"intra_op", "inter_op"}`` as applied (None: left alone).

    Raises:
        ValueError: A negative count or a non-integer variable (named).
    """
    import os

    applied = {}
    for name, value, env in (("intra_op", intra_op, THREAD_ENV[0]), ("inter_op", inter_op, THREAD_ENV[1])):
        if value is None and os.environ.get(env):
            try:
                value = int(os.environ[env])
            except ValueError:
                raise ValueError(f"{env}={os.environ[env]!r} is not an integer") from None
        if value is not None and value < 0:
            raise ValueError(f"{name} threads must be >= 0, got {value}")
        if value is not None:
            os.environ[env] = str(value)
        applied[name] = value
    if any(v is not None for v in applied.values()):
        import tensorflow as tf

        if applied["intra_op"] is not None:
            tf.config.threading.set_intra_op_parallelism_threads(applied["intra_op"])
        if applied["inter_op"] is not None:
            tf.config.threading.set_inter_op_parallelism_threads(applied["inter_op"])
    return applied


def configure_gpus(memory_growth: bool = True) -> list[str]:
    """Turn on memory growth for every visible GPU (before any tensor is made).

    Returns the GPUs' names. Safe to call twice; a GPU already initialised keeps its
    setting (TensorFlow refuses changes then), which is logged, not raised.
    """
    import logging

    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:
        try:
            tf.config.experimental.set_memory_growth(gpu, memory_growth)
        except RuntimeError as exc:
            logging.getLogger(__name__).debug("memory growth of %s unchanged: %s", gpu.name, exc)
    return [g.name for g in gpus]
