"""Bound the C heap of long runs: glibc's malloc arenas for TensorFlow and numpy work.

A check alternates two compiled models (the trained one and the randomization clone)
with numpy work on worker threads. With glibc's defaults, busy threads get malloc arenas
of their own (up to eight per core); memory freed in one arena is not reused by the
others, fragments, and stays in the process. Measured on EfficientNet-Lite0 with
deletion, insertion, mprt and random-logit in 16-image chunks, one process
(``bench/results/scale/``): resident memory grew by about 20-45 MiB per chunk with the
defaults and stopped growing with two arenas, at the same speed.

:func:`tune_allocator` caps the arenas of the running process with ``mallopt`` and sets
``MALLOC_ARENA_MAX``, which glibc reads at start-up, so that worker processes started
later (fresh-process cells, Ray workers on this host) get it too. A value already set is
respected. The command line calls it at start; a Python program that checks large image
sets can call it first thing. Elsewhere than glibc (macOS, musl, Windows) it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

__all__ = ["ARENA_MAX", "ENV", "tune_allocator"]

ARENA_MAX = 2
"""malloc arenas the process's threads share."""

ENV = "MALLOC_ARENA_MAX"
"""The environment variable glibc reads at start-up (and that is recorded with runs)."""

_M_ARENA_MAX = -8  # mallopt option (malloc.h)


def _glibc():
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.gnu_get_libc_version  # noqa: B018 (only glibc has it)
        return libc
    except (OSError, AttributeError):
        return None


def tune_allocator(arena_max: int = ARENA_MAX) -> dict:
    """Cap malloc arenas in this process and its future children.

    ``MALLOC_ARENA_MAX``, when already set to a number, wins (it is the user's). Returns
    ``{"allocator": "glibc" | None, "arena_max": int | None}``: the value in effect
    (None where not applied).

    Raises:
        ValueError: ``arena_max`` < 1.
    """
    if arena_max < 1:
        raise ValueError(f"arena_max must be >= 1, got {arena_max}")
    libc = _glibc()
    if libc is None:
        return {"allocator": None, "arena_max": None}
    if os.environ.get(ENV, "").strip().isdigit():
        arena_max = int(os.environ[ENV])  # glibc applied it at start-up too
    else:
        os.environ[ENV] = str(arena_max)
    applied = arena_max if libc.mallopt(_M_ARENA_MAX, arena_max) == 1 else None
    return {"allocator": "glibc", "arena_max": applied}
