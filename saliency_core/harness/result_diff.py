"""Run B's results against run A's: check values, maps and gate verdicts.

:func:`saliency_core.harness.timing_diff.compare_runs` compares what two runs *timed*; this
module compares what they *computed*, cell by cell with the same key: each check's
summary value and its per-image values, each stored map, each gate's verdict. It is how
a refactor or an upgrade shows that it left the numbers alone (or which ones it moved),
and it decides nothing: the rows say how far apart the two are, the reader judges.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..store.db import ResultStore
from ..store.records import canonical_json

__all__ = ["ResultDiffRow", "compare_results", "result_diff_table"]

_KINDS = ("check", "maps", "gate")


@dataclass(frozen=True)
class ResultDiffRow:
    """One result cell of run A beside the cell of run B with the same key.

    Attributes:
        kind: "check", "maps" or "gate".
        name: The key, as ``field=value`` pairs.
        a, b: What each run stored, as text ("-" when the run has no such cell).
        max_abs_diff: Largest absolute difference of the per-image values (check) or of
            the map's values relative to run A's largest |value| (maps); None when not
            comparable (a gate, a missing or failed cell).
        same: True when the two are identical (equal values, bit for bit; the same
            verdict), False when not, None when one is missing or failed.
    """

    kind: str
    name: str
    a: str
    b: str
    max_abs_diff: float | None
    same: bool | None


def _name(key: dict) -> str:
    return " ".join(f"{k}={key[k]}" for k in sorted(key))


def _verdict(metrics: dict) -> str:
    """A gate cell's verdict; cells stored before the three-way gate have only ``passed``."""
    if metrics.get("verdict"):
        return str(metrics["verdict"])
    return "pass" if metrics.get("passed") else "fail"


def _check_row(store: ResultStore, a, b) -> tuple[str, str, float | None, bool]:
    va, vb = a.metrics.get("value"), b.metrics.get("value")
    pa = np.asarray(a.metrics.get("per_image") or [], dtype=float)
    pb = np.asarray(b.metrics.get("per_image") or [], dtype=float)
    diff = float(np.max(np.abs(pa - pb))) if pa.shape == pb.shape and pa.size else None
    same = va == vb and pa.shape == pb.shape and bool(np.array_equal(pa, pb))
    return _num(va), _num(vb), diff, same


def _maps_row(store: ResultStore, a, b) -> tuple[str, str, float | None, bool]:
    try:
        ma, mb = store.artifact(a.id, "map"), store.artifact(b.id, "map")
    except KeyError:
        return "-", "-", None, False
    if ma.shape != mb.shape:
        return f"shape {ma.shape}", f"shape {mb.shape}", None, False
    scale = float(np.max(np.abs(ma))) or 1.0
    diff = float(np.max(np.abs(ma.astype(np.float64) - mb))) / scale
    ta, tb = a.metrics.get("target"), b.metrics.get("target")
    return f"class {ta}", f"class {tb}", diff, bool(ta == tb and np.array_equal(ma, mb))


def _num(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, (int, float)) else str(value)


def compare_results(store: ResultStore, run_a: str, run_b: str) -> list[ResultDiffRow]:
    """Every check, maps and gate cell of run A or run B, beside its partner.

    Args:
        store: The results store holding both runs.
        run_a, run_b: Run ids (or ``"latest"`` / unique prefixes); A is the reference.

    Returns:
        Rows in the order check, maps, gate; within a kind, run A's order then B's extras.
    """
    run_a, run_b = store.get_run(run_a).id, store.get_run(run_b).id
    rows = []
    for kind in _KINDS:
        cells_a = {canonical_json(c.key): c for c in store.cells(run_a, kind=kind)}
        cells_b = {canonical_json(c.key): c for c in store.cells(run_b, kind=kind)}
        for k in list(cells_a) + [k for k in cells_b if k not in cells_a]:
            a, b = cells_a.get(k), cells_b.get(k)
            either = a or b
            assert either is not None  # k is a key of run A or run B
            name = _name(either.key)
            if a is None or b is None or a.status != "ok" or b.status != "ok":
                rows.append(ResultDiffRow(kind, name, _status(a), _status(b), None, None))
            elif kind == "gate":
                va, vb = _verdict(a.metrics), _verdict(b.metrics)
                rows.append(ResultDiffRow(kind, name, va, vb, None, va == vb))
            else:
                compare = _check_row if kind == "check" else _maps_row
                rows.append(ResultDiffRow(kind, name, *compare(store, a, b)))
    return rows


def _status(cell) -> str:
    if cell is None:
        return "-"
    return "ok" if cell.status == "ok" else f"failed: {cell.reason}"


def result_diff_table(rows: list[ResultDiffRow]) -> tuple[list[str], list[list[str]]]:
    """Headers and rows for :func:`~saliency_core.harness.text_table.print_table`."""
    body = [
        [
            r.kind,
            r.name,
            r.a,
            r.b,
            "-" if r.max_abs_diff is None else f"{r.max_abs_diff:.2e}",
            {True: "identical", False: "differs", None: "-"}[r.same],
        ]
        for r in rows
    ]
    return ["kind", "cell", "A", "B", "max |diff|", "same"], body
