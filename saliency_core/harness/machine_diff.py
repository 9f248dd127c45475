"""What differs between two runs' machines or software (``machine_differences``): the
fields that make their timings not comparable one to one, and the warning category
(``MachineMismatchWarning``) that ``compare_runs`` raises with them.
"""

from __future__ import annotations

from typing import Any

from ..store.db import ResultStore

__all__ = ["MachineMismatchWarning", "machine_differences"]


class MachineMismatchWarning(UserWarning):
    """Two runs (or the parts of a resumed run) were measured on different machines/software."""


#: Metadata fields whose difference makes two runs' timings not comparable one to one:
#: (label, path in machine_info).
_MACHINE_FIELDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("cpu model", ("cpu_model",)),
    ("cpu count", ("cpu_count",)),
    ("usable cpus", ("cpu_usable",)),
    ("system", ("system",)),
    ("architecture", ("machine",)),
    ("python", ("python_version",)),
    ("tensorflow", ("tensorflow",)),
    ("keras", ("keras",)),
    ("numpy", ("numpy",)),
    ("gpus", ("gpus",)),
    ("gpu driver", ("gpu_driver",)),
    ("XLA_FLAGS", ("xla_flags",)),
    ("TF_XLA_FLAGS", ("tf_xla_flags",)),
    ("TF_ENABLE_ONEDNN_OPTS", ("onednn_opts",)),
    ("oneDNN on", ("onednn_enabled",)),
    ("intra-op threads", ("tf_threads", "intra_op")),
    ("inter-op threads", ("tf_threads", "inter_op")),
)


#: Fields recorded only since the precision work: a run made before has no entry, which
#: says nothing about its machine, so they are compared only when both runs have them.
_NEWER_FIELDS = {
    ("onednn_opts",),
    ("onednn_enabled",),
    ("tf_threads", "intra_op"),
    ("tf_threads", "inter_op"),
}


def _field(info: dict, path: tuple[str, ...]) -> Any:
    value: Any = info
    for part in path:
        value = value.get(part) if isinstance(value, dict) else None
    if path == ("gpus",) and isinstance(value, list):
        return [g.get("name") for g in value if isinstance(g, dict)]
    return value


def _has(info: dict, path: tuple[str, ...]) -> bool:
    for part in path:
        if not isinstance(info, dict) or part not in info:
            return False
        info = info[part]
    return True


def _differences(a: dict, b: dict) -> list[str]:
    out = []
    for label, path in _MACHINE_FIELDS:
        if path in _NEWER_FIELDS and not (_has(a, path) and _has(b, path)):
            continue
        va, vb = _field(a, path), _field(b, path)
        if va != vb:
            out.append(f"{label} ({va!r} vs {vb!r})")
    return out


def machine_differences(store: ResultStore, run_a: str, run_b: str) -> list[str]:
    """Human-readable warnings for metadata that differs between two runs.

    Each message names the differing fields with both values, e.g.
    ``"runs A and B ran on different machines/software: cpu model ('X' vs 'Y')"``.
    A run resumed on another machine than it started on gets its own message.
    Empty when nothing differs.
    """
    ra, rb = store.get_run(run_a), store.get_run(run_b)
    messages = []
    for run in (ra, rb):
        if not run.metadata.get("machine_info"):
            messages.append(f"run {run.id} has no machine metadata; cannot tell if machines match")
        for resumed in run.metadata.get("resumed", []):
            diff = _differences(run.metadata.get("machine_info", {}), resumed.get("machine_info", {}))
            if diff:
                messages.append(
                    f"run {run.id} was resumed at {resumed.get('at')} on a "
                    f"different machine/software: {'; '.join(diff)}"
                )
    diff = _differences(ra.metadata.get("machine_info", {}), rb.metadata.get("machine_info", {}))
    if diff and ra.metadata.get("machine_info") and rb.metadata.get("machine_info"):
        messages.append(f"runs {ra.id} and {rb.id} ran on different machines/software: {'; '.join(diff)}")
    return messages
