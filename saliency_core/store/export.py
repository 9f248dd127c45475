"""Export a run: pytest-benchmark-compatible JSON, or CSV with one row per cell.

The JSON follows pytest-benchmark's ``--benchmark-json`` layout (top-level
``machine_info``, ``commit_info``, ``benchmarks``, ``datetime``, ``version``; each
benchmark has ``group``, ``name``, ``fullname``, ``params``, ``param``,
``extra_info``, ``options`` and ``stats``) so tools that read its files read ours.
Each ``ok`` timing cell with per-call times becomes one benchmark whose ``stats``
are computed from ``metrics["times"]`` (seconds per call) exactly as
pytest-benchmark computes them. Failed cells are not benchmarks (pytest-benchmark
drops errored ones too); they are listed under the extra top-level key ``failed``.
"""

from __future__ import annotations

import csv
import json
import statistics
from bisect import bisect_left, bisect_right
from pathlib import Path
from typing import IO, Any, Sequence

from ..jsonable import jsonable
from .db import ResultStore
from .records import Cell
from .schema import SCHEMA_VERSION

__all__ = ["export_json", "export_csv", "timing_stats", "cell_name"]


def _quartiles(data: Sequence[float]) -> tuple[float, float]:
    """Q1 and Q3 as pytest-benchmark computes them (Wikipedia's methods 2 and 3)."""
    n = len(data)
    if n == 1:
        return data[0], data[0]
    if n % 2:  # method 3
        k, r = n // 4, n % 4
        if r == 1:
            return (0.25 * data[k - 1] + 0.75 * data[k], 0.75 * data[3 * k] + 0.25 * data[3 * k + 1])
        return (0.75 * data[k] + 0.25 * data[k + 1], 0.25 * data[3 * k + 1] + 0.75 * data[3 * k + 2])
    return statistics.median(data[: n // 2]), statistics.median(data[n // 2 :])  # method 2


def timing_stats(times: Sequence[float], *, iterations: int = 1) -> dict:
    """pytest-benchmark's ``stats`` dict for per-call durations ``times`` (seconds).

    ``ops`` is calls per second (``rounds / total``); ``outliers`` is
    ``"<stddev outliers>;<iqr outliers>"``; ``ld15iqr``/``hd15iqr`` are the lowest and
    highest data within 1.5 IQR of the quartiles; ``data`` holds the times.
    """
    data = [float(t) for t in times]
    if not data:
        raise ValueError("timing_stats needs at least one time")
    s = sorted(data)
    n = len(s)
    total = sum(s)
    mean = statistics.mean(s)
    stddev = statistics.stdev(s) if n > 1 else 0.0
    q1, q3 = _quartiles(s)
    iqr = q3 - q1
    lo_fence, hi_fence = q1 - 1.5 * iqr, q3 + 1.5 * iqr
    stddev_outliers = sum(1 for t in s if t < mean - stddev or t > mean + stddev)
    iqr_outliers = sum(1 for t in s if t < lo_fence or t > hi_fence)
    return {
        "min": s[0],
        "max": s[-1],
        "mean": mean,
        "stddev": stddev,
        "rounds": n,
        "median": statistics.median(s),
        "iqr": iqr,
        "q1": q1,
        "q3": q3,
        "iqr_outliers": iqr_outliers,
        "stddev_outliers": stddev_outliers,
        "outliers": f"{stddev_outliers};{iqr_outliers}",
        "ld15iqr": s[0] if n == 1 else s[bisect_left(s, lo_fence)],
        "hd15iqr": s[0] if n == 1 else s[bisect_right(s, hi_fence) - 1],
        "ops": n / total if total else 0,
        "total": total,
        "data": data,
        "iterations": int(iterations),
    }


def cell_name(key: dict) -> str:
    """A timing cell's short id, e.g. ``resnet50-xla-cpu-b8-224``."""
    parts = [
        str(key.get("model", "?")),
        str(key.get("variant", "?")),
        str(key.get("device", "?")),
        f"b{key.get('batch_size', '?')}",
    ]
    if key.get("image_size") is not None:
        size = key["image_size"]
        parts.append("x".join(map(str, size)) if isinstance(size, (list, tuple)) else str(size))
    extra = sorted(set(key) - {"model", "variant", "device", "batch_size", "image_size"})
    parts += [f"{k}={key[k]}" for k in extra]
    return "-".join(parts)


def _benchmark(cell: Cell, suite: str, run_id: str) -> dict:
    key = cell.key
    param = cell_name(key)
    name = f"timing[{param}]"
    extra = {k: v for k, v in cell.metrics.items() if k != "times"}
    extra.update(run_id=run_id, cell_id=cell.id)
    return {
        "group": "{}/{}/b{}".format(
            key.get("device", "?"), key.get("variant", "?"), key.get("batch_size", "?")
        )
        + (f"/{key['precision']}" if key.get("precision") else ""),
        "name": name,
        "fullname": f"{suite}::{name}",
        "params": dict(key),
        "param": param,
        "extra_info": jsonable(extra, finite=True),
        "options": {"timer": "wall-clock", "min_rounds": len(cell.metrics["times"])},
        "stats": timing_stats(cell.metrics["times"]),
    }


def export_json(store: ResultStore, run_id: str) -> dict:
    """The run as a pytest-benchmark JSON document (a dict ready for ``json.dump``).

    Besides pytest-benchmark's keys it carries ``saliency_bench`` (run id, suite,
    status, seed, config, schema version) and ``failed`` (timing cells that failed or
    recorded no times, with their reason).
    """
    run = store.get_run(run_id)
    benchmarks, failed = [], []
    for cell in store.cells(run.id, kind="timing"):
        times = cell.metrics.get("times") or []
        if cell.status == "ok" and times:
            benchmarks.append(_benchmark(cell, run.suite, run.id))
        else:
            failed.append(
                {
                    "name": f"timing[{cell_name(cell.key)}]",
                    "params": dict(cell.key),
                    "status": cell.status,
                    "reason": cell.reason or "no per-call times recorded",
                }
            )
    from .. import __version__

    return {
        "machine_info": run.metadata.get("machine_info", {}),
        "commit_info": run.metadata.get("commit_info", {}),
        "benchmarks": benchmarks,
        "datetime": run.started,
        "version": __version__,
        "saliency_bench": {
            "run_id": run.id,
            "suite": run.suite,
            "status": run.status,
            "started": run.started,
            "finished": run.finished,
            "seed": run.seed,
            "config": run.config,
            "schema_version": SCHEMA_VERSION,
        },
        "failed": failed,
    }


def _flatten(prefix: str, value: Any, out: dict) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flatten(f"{prefix}.{k}", v, out)
    elif isinstance(value, (list, tuple)):
        out[prefix] = json.dumps(value)
    else:
        out[prefix] = value


_FIXED_COLUMNS = ["run_id", "cell_id", "kind", "status", "reason", "created"]


def export_csv(store: ResultStore, run_id: str, file: str | Path | IO[str]) -> int:
    """Write the run's cells to ``file`` as CSV, one row per cell; return the row count.

    Columns: ``run_id, cell_id, kind, status, reason, created``, then ``key.<name>``
    and ``metrics.<name>`` (nested dicts flattened with dots, lists as JSON text),
    in order of first appearance. A cell without a column leaves it empty.
    """
    run = store.get_run(run_id)
    rows, columns = [], {c: None for c in _FIXED_COLUMNS}
    for cell in store.cells(run.id):
        row = {
            "run_id": run.id,
            "cell_id": cell.id,
            "kind": cell.kind,
            "status": cell.status,
            "reason": cell.reason or "",
            "created": cell.created,
        }
        flat: dict = {}
        _flatten("key", cell.key, flat)
        _flatten("metrics", cell.metrics, flat)
        row.update(flat)
        columns.update(dict.fromkeys(flat))
        rows.append(row)
    if isinstance(file, (str, Path)):
        with open(file, "w", newline="", encoding="utf-8") as fh:
            _write_csv(fh, list(columns), rows)
    else:
        _write_csv(file, list(columns), rows)
    return len(rows)


def _write_csv(fh: IO[str], columns: list[str], rows: list[dict]) -> None:
    writer = csv.DictWriter(fh, fieldnames=columns, restval="", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
