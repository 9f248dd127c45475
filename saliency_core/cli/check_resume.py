"""The stored side of a ``check`` or ``gate`` run: its run config (with the options a
resumed run takes back), continuing ``--resume RUN``, and the message that says how to
resume when a run stops on an error.
"""

from __future__ import annotations

import contextlib
import sys

from .errors import CliError


def run_config(args, classifier, data, settings, **extra) -> dict:
    return {
        "command": extra.pop("command"),
        "model": classifier.name,
        "weights": classifier.weights,
        "data": data.name,
        "images": data.names,
        "seed": args.seed,
        "variant": args.variant,
        "precision": args.precision,
        "variant_choice": getattr(args, "variant_choice", None),
        "batch_size": args.batch_size,
        "curve_steps": args.curve_steps,
        "data_seed": args.data_seed,
        "method_options": settings.method_options,
        "metric_settings": settings.metric_settings,
        "chunk_images": args.chunk_images,
        **_video_config(args, data),
        "argv": {k: v for k, v in vars(args).items() if k in _RESUMABLE},
        **extra,
    }


def _video_config(args, data) -> dict:
    if not data.sequence:
        return {}
    times = None if data.timestamps is None else [float(t) for t in data.timestamps]
    return {
        "sequence": True,
        "fps": args.fps,
        "max_frames": args.max_frames,
        "frame_rate": data.fps,
        "timestamps": times,
    }


# The options a resumed run takes from the run it continues (so its numbers are the same).
_RESUMABLE = (
    "model",
    "weights",
    "preprocessing",
    "unsafe",
    "data",
    "images",
    "data_seed",
    "seed",
    "variant",
    "precision",
    "score_precision",
    "score_check_every",
    "batch_size",
    "curve_steps",
    "method_option",
    "chunk_images",
    "methods",
    "metrics",
    "policy",
    "method",
    "device",
    "fps",
    "max_frames",
    "metric_setting",
)


@contextlib.contextmanager
def kept_on_error(run_id: str, command: str):
    """A folder that vanished, a full disk or a lost worker mid-run: one line saying that
    the finished chunks are kept and how to resume (exit 2)."""
    import sqlite3

    from ..store import StoreError

    try:
        yield
    except (OSError, sqlite3.OperationalError, StoreError) as exc:
        raise CliError(
            f"{type(exc).__name__}: {exc}; the finished chunks of run {run_id} are "
            f"kept: 'saliency-bench {command} --resume {run_id}' continues it"
        ) from None


def resumed(args, store, command: str):
    """``(run_id, args)`` continuing ``--resume RUN`` with its stored options, or
    ``(None, args)``; CliError when the run is unknown or was another command."""
    if not args.resume:
        return None, args
    from ..store import StoreError

    try:
        run = store.get_run(args.resume)
    except (StoreError, KeyError) as exc:
        raise CliError(f"--resume: {exc}") from None
    stored = (run.config or {}).get("argv")
    if (run.config or {}).get("command") != command or stored is None:
        raise CliError(
            f"--resume {args.resume}: run {run.id} is not a '{command}' run of this version (start a new run)"
        )
    for key, value in stored.items():
        setattr(args, key, value)
    store.resume_run(run.id)
    print(f"resuming run {run.id}: finished chunks are kept", file=sys.stderr)
    return run.id, args
