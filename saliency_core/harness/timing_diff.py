"""Compare one run's timing cells against another's.

``compare_runs`` compares the median time per call of every timing cell two runs
share. A change is a *regression* (or *improvement*) only when the relative change
of the median exceeds ``threshold`` **and** the two runs' interquartile ranges of
per-call times do not overlap; a large change inside the spread is reported as
``"within spread"``. When the runs' machines or software differ it warns
(``MachineMismatchWarning``) naming the fields, see ``machine_differences``.
``diff_table`` turns its rows into table cells (times in milliseconds).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Sequence

from ..store.db import ResultStore
from ..store.export import cell_name, timing_stats
from ..store.records import canonical_json
from .machine_diff import MachineMismatchWarning, machine_differences
from .text_table import num

__all__ = ["RunDiffRow", "compare_runs", "diff_table"]


@dataclass(frozen=True)
class RunDiffRow:
    """One timing cell in two runs.

    Attributes:
        name: The cell's short id (``model-variant-device-bN-size``).
        key: The cell's key.
        median_a, median_b: Median seconds per call in run A and run B.
        spread_a, spread_b: (Q1, Q3) of the seconds per call in each run.
        change: Relative change of the median, ``(median_b - median_a) / median_a``
            (> 0 is slower).
        verdict: ``"regression"``, ``"improvement"``, ``"within spread"`` (change above
            threshold but IQRs overlap), ``"unchanged"``, ``"only in A"``, ``"only in
            B"``, ``"failed in A"``, ``"failed in B"`` or ``"failed in both"``.
        reason: The failure reason(s) for failed verdicts, else None.
    """

    name: str
    key: dict
    median_a: float | None
    median_b: float | None
    spread_a: tuple[float, float] | None
    spread_b: tuple[float, float] | None
    change: float | None
    verdict: str
    reason: str | None


def _median_and_spread(metrics: dict) -> tuple[float | None, tuple[float, float] | None]:
    times = metrics.get("times") or []
    if times:
        s = timing_stats(times)
        return s["median"], (s["q1"], s["q3"])
    median = metrics.get("median_s")
    if median is None:
        return None, None
    half = float(metrics.get("iqr_s") or 0.0) / 2
    return float(median), (float(median) - half, float(median) + half)


def compare_runs(store: ResultStore, run_a: str, run_b: str, threshold: float = 0.10) -> list[RunDiffRow]:
    """Compare the timing cells of run B against run A (A is the reference).

    Args:
        store: The results store.
        run_a, run_b: Run ids (or ``"latest"`` / unique prefixes).
        threshold: Smallest relative change of the median time per call that counts,
            as a fraction (0.1 means 10 %).

    Returns:
        One row per timing key found in either run, in run A's order then B's extras.
        Issues a ``MachineMismatchWarning`` per message of ``machine_differences``.
    """
    for message in machine_differences(store, run_a, run_b):
        warnings.warn(message, MachineMismatchWarning, stacklevel=2)
    cells_a = {canonical_json(c.key): c for c in store.cells(run_a, kind="timing")}
    cells_b = {canonical_json(c.key): c for c in store.cells(run_b, kind="timing")}
    rows = []
    for k in list(cells_a) + [k for k in cells_b if k not in cells_a]:
        a, b = cells_a.get(k), cells_b.get(k)
        either = a or b
        assert either is not None  # k is a key of run A or run B
        key = either.key
        med_a, spread_a = _median_and_spread(a.metrics) if a and a.status == "ok" else (None, None)
        med_b, spread_b = _median_and_spread(b.metrics) if b and b.status == "ok" else (None, None)
        change, reason = None, None
        if a is None or b is None:
            verdict = "only in B" if a is None else "only in A"
        elif a.status != "ok" or b.status != "ok":
            verdict = (
                "failed in both"
                if a.status != "ok" and b.status != "ok"
                else "failed in A"
                if a.status != "ok"
                else "failed in B"
            )
            reason = "; ".join(f"{tag}: {c.reason}" for tag, c in (("A", a), ("B", b)) if c.status != "ok")
        elif med_a is None or med_b is None or not med_a:
            verdict, reason = "unchanged", "no timing data to compare"
        else:
            change = (med_b - med_a) / med_a
            assert spread_a is not None and spread_b is not None  # found with the medians
            if abs(change) <= threshold:
                verdict = "unchanged"
            elif change > 0 and spread_b[0] > spread_a[1]:
                verdict = "regression"
            elif change < 0 and spread_b[1] < spread_a[0]:
                verdict = "improvement"
            else:
                verdict = "within spread"
        rows.append(
            RunDiffRow(
                name=cell_name(key),
                key=key,
                median_a=med_a,
                median_b=med_b,
                spread_a=spread_a,
                spread_b=spread_b,
                change=change,
                verdict=verdict,
                reason=reason,
            )
        )
    return rows


def _ms(seconds: float | None) -> str:
    return num(None if seconds is None else seconds * 1e3, ".2f")


def _ms_range(spread: tuple[float, float] | None) -> str:
    return "n/a" if spread is None else f"{spread[0] * 1e3:.2f}-{spread[1] * 1e3:.2f}"


def diff_table(rows: Sequence[RunDiffRow]) -> tuple[list[str], list[list[str]]]:
    """Headers and string cells for ``compare_runs`` rows (times in milliseconds)."""
    headers = ["cell", "A median ms", "A IQR ms", "B median ms", "B IQR ms", "change", "verdict"]
    body = [
        [
            r.name,
            _ms(r.median_a),
            _ms_range(r.spread_a),
            _ms(r.median_b),
            _ms_range(r.spread_b),
            num(r.change, "+.1%"),
            r.verdict + (f" ({r.reason})" if r.reason else ""),
        ]
        for r in rows
    ]
    return headers, body
