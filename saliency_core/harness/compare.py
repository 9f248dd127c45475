"""Compare timing cells: backbones against a baseline backbone, and one run against another.

``compare_baseline`` gives each backbone's images/s, compile time and peak memory
as ratios to the baseline backbone's cell on the same device, variant, precision and
batch size (a missing or failed baseline gives ``None`` ratios and a note saying why).
A key without ``precision`` (every run before the precision axis) is float32.

``compare_precisions`` puts each low-precision cell beside the float32 cell of the
same model, device, variant, batch and image size: the speed ratio and the fidelity
its writer stored.

``compare_runs`` compares the median time per call of every timing cell two runs
share. A change is a *regression* (or *improvement*) only when the relative change
of the median exceeds ``threshold`` **and** the two runs' interquartile ranges of
per-call times do not overlap; a large change inside the spread is reported as
``"within spread"``. When the runs' machines or software differ it warns
(``MachineMismatchWarning``) naming the fields, see ``machine_differences``.

The plain formatter (``format_table``) is what tests read; ``print_table`` uses
``rich`` on a terminal when it is installed.
"""

from __future__ import annotations

import sys
import warnings
from dataclasses import dataclass
from typing import IO, Any, Sequence

from ..store.db import ResultStore
from ..store.records import Cell, Run, canonical_json
from ..store.export import cell_name, timing_stats

__all__ = [
    "BaselineRow",
    "RunDiffRow",
    "PrecisionRow",
    "MachineMismatchWarning",
    "compare_baseline",
    "compare_runs",
    "compare_precisions",
    "precision_table",
    "machine_differences",
    "baseline_table",
    "runs_table",
    "diff_table",
    "format_table",
    "print_table",
    "SHARED_RSS_NOTE",
    "shared_process_rss",
]


#: Printed (and shown in reports) when several backbones' peak RSS comes from one process.
SHARED_RSS_NOTE = (
    "Peak RSS was measured in one process that still held the earlier cells' "
    "models and compiled functions, so RSS grows with the order the cells ran "
    "in and its ratios across backbones are not a memory comparison. To compare "
    "memory, run the suite with --fresh-process (or fresh_process = true)."
)


def shared_process_rss(run_config: dict, rss_models: set[str]) -> bool:
    """Whether :data:`SHARED_RSS_NOTE` applies: RSS peaks of two or more backbones
    measured in a run whose cells shared one process."""
    return len(rss_models) >= 2 and not run_config.get("fresh_process")


class MachineMismatchWarning(UserWarning):
    """Two runs (or the parts of a resumed run) were measured on different machines/software."""


@dataclass(frozen=True)
class BaselineRow:
    """One backbone's timing cell next to the baseline's on the same device/variant/batch.

    Attributes:
        model, device, variant, batch_size, image_size: The cell's key.
        status: The cell's status (``"ok"`` or ``"failed"``).
        images_per_s: Throughput, images per second (None if failed).
        compile_s: First-call (trace + compile) time in seconds.
        peak_mb: Peak memory in MiB: device memory when recorded, else process RSS.
        peak_kind: ``"device"`` or ``"rss"``: which memory ``peak_mb`` is.
        images_per_s_ratio: ``images_per_s / baseline images_per_s`` (> 1 is faster).
        compile_ratio: ``compile_s / baseline compile_s`` (< 1 compiles faster).
        peak_ratio: ``peak_mb / baseline peak_mb`` on the same kind of memory.
        note: Why ratios are n/a (failed cell, missing or failed baseline), else None.
        precision: The cell's precision (float32 for keys without one).
    """

    model: str
    device: str
    variant: str
    batch_size: int
    image_size: Any
    status: str
    images_per_s: float | None
    compile_s: float | None
    peak_mb: float | None
    peak_kind: str | None
    images_per_s_ratio: float | None
    compile_ratio: float | None
    peak_ratio: float | None
    note: str | None
    precision: str = "float32"


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


def _ratio(value: Any, base: Any) -> float | None:
    if value is None or base is None or not base:
        return None
    return float(value) / float(base)


def _peak(metrics: dict, kind: str | None = None) -> tuple[float | None, str | None]:
    device = metrics.get("peak_device_mb")
    if kind in (None, "device") and device is not None:
        return float(device), "device"
    rss = metrics.get("peak_rss_mb")
    return (float(rss), "rss") if rss is not None else (None, None)


def compare_baseline(store: ResultStore, run_id: str, baseline: str = "resnet50") -> list[BaselineRow]:
    """Each timing cell of a run as ratios to ``baseline``'s cell with the same
    device, variant and batch size.

    Args:
        store: The results store.
        run_id: A run id, ``"latest"`` or a unique prefix.
        baseline: The backbone name the others are compared to (case-insensitive).

    Returns:
        One row per timing cell, grouped by (device, variant, batch size) with the
        baseline's row first; ratios are None with a ``note`` when they cannot be
        computed.
    """
    cells = store.cells(run_id, kind="timing")
    groups: dict[tuple, list[Cell]] = {}
    for cell in cells:
        k = cell.key
        groups.setdefault(
            (
                str(k.get("device")),
                str(k.get("variant")),
                k.get("batch_size"),
                str(k.get("precision", "float32")),
            ),
            [],
        ).append(cell)
    rows = []
    for (device, variant, batch, precision), group in sorted(
        groups.items(), key=lambda g: canonical_json(g[0])
    ):
        base = next((c for c in group if str(c.key.get("model", "")).lower() == baseline.lower()), None)
        where = f"{device}/{variant}/b{batch}" + ("" if precision == "float32" else f"/{precision}")
        if base is None:
            base_note = f"n/a: no {baseline} cell for {where}"
        elif base.status != "ok":
            base_note = f"n/a: {baseline} failed for {where}: {base.reason}"
        else:
            base_note = None
        group = sorted(group, key=lambda c: c is not base)  # stable: baseline first
        for cell in group:
            m = cell.metrics if cell.status == "ok" else {}
            peak, peak_kind = _peak(m)
            ratios: tuple = (None, None, None)
            note = base_note
            if cell.status != "ok":
                note = f"failed: {cell.reason}"
            elif base_note is None:
                assert base is not None  # no note: the baseline cell is there and ok
                bm = base.metrics
                base_peak, base_kind = _peak(bm)
                if peak_kind != base_kind:  # compare like with like: fall back to RSS
                    peak, peak_kind = _peak(m, "rss")
                    base_peak, _ = _peak(bm, "rss")
                ratios = (
                    _ratio(m.get("images_per_s"), bm.get("images_per_s")),
                    _ratio(m.get("compile_s"), bm.get("compile_s")),
                    _ratio(peak, base_peak),
                )
            rows.append(
                BaselineRow(
                    model=str(cell.key.get("model")),
                    device=device,
                    variant=variant,
                    batch_size=batch,
                    image_size=cell.key.get("image_size"),
                    status=cell.status,
                    images_per_s=m.get("images_per_s"),
                    compile_s=m.get("compile_s"),
                    peak_mb=peak,
                    peak_kind=peak_kind,
                    images_per_s_ratio=ratios[0],
                    compile_ratio=ratios[1],
                    peak_ratio=ratios[2],
                    note=note,
                    precision=precision,
                )
            )
    return rows


# --- run against run ---------------------------------------------------------------------

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


# --- precision against float32 ----------------------------------------------------------


@dataclass(frozen=True)
class PrecisionRow:
    """A low-precision timing cell beside its float32 partner.

    Attributes:
        name: The cell's short id.
        precision: "bfloat16" or "float16".
        images_per_s, float32_images_per_s: Throughput of the cell and of the float32
            cell with the same model, device, variant, batch and image size (None if
            missing or failed).
        speedup: ``images_per_s / float32_images_per_s``.
        fidelity: The stored summary (``saliency_core.fidelity.Fidelity.summary``), or {}.
    """

    name: str
    precision: str
    images_per_s: float | None
    float32_images_per_s: float | None
    speedup: float | None
    fidelity: dict


def compare_precisions(store: ResultStore, run_id: str) -> list[PrecisionRow]:
    """Every ok low-precision timing cell of a run with its float32 partner, in run order."""
    cells = [c for c in store.cells(run_id, kind="timing") if c.status == "ok"]

    def where(key: dict) -> str:
        return canonical_json({k: v for k, v in key.items() if k != "precision"})

    base = {where(c.key): c for c in cells if c.key.get("precision", "float32") == "float32"}
    rows = []
    for cell in cells:
        precision = str(cell.key.get("precision", "float32"))
        if precision == "float32":
            continue
        partner = base.get(where(cell.key))
        rate = cell.metrics.get("images_per_s")
        ref = partner.metrics.get("images_per_s") if partner else None
        rows.append(
            PrecisionRow(
                name=cell_name(cell.key),
                precision=precision,
                images_per_s=rate,
                float32_images_per_s=ref,
                speedup=_ratio(rate, ref) if rate is not None else None,
                fidelity={k: v for k, v in (cell.metrics.get("fidelity") or {}).items() if k != "per_image"},
            )
        )
    return rows


def precision_table(rows: Sequence[PrecisionRow]) -> tuple[list[str], list[list[str]]]:
    """Headers and string cells for ``compare_precisions`` rows (means over images, the
    worst image in brackets)."""
    headers = [
        "cell",
        "img/s",
        "float32 img/s",
        "speed vs float32",
        "spearman |map|",
        "rel L2",
        "top-10% overlap",
        "top-1 agree",
    ]

    def pair(row, mean, worst, fmt):
        f = row.fidelity
        return "n/a" if f.get(mean) is None else f"{f[mean]:{fmt}} ({_num(f.get(worst), fmt)})"

    body = [
        [
            r.name,
            _num(r.images_per_s, ".2f"),
            _num(r.float32_images_per_s, ".2f"),
            _num(r.speedup, ".2f", "x"),
            pair(r, "spearman_abs", "spearman_abs_min", ".3f"),
            pair(r, "rel_l2", "rel_l2_max", ".2e"),
            pair(r, "top_overlap", "top_overlap_min", ".2f"),
            _num(r.fidelity.get("top1_agreement"), ".2f"),
        ]
        for r in rows
    ]
    return headers, body


# --- tables ------------------------------------------------------------------------------


def _num(value: float | None, fmt: str, suffix: str = "") -> str:
    return "n/a" if value is None else format(value, fmt) + suffix


def baseline_table(
    rows: Sequence[BaselineRow], baseline: str = "resnet50"
) -> tuple[list[str], list[list[str]]]:
    """Headers and string cells for ``compare_baseline`` rows."""
    headers = [
        "device",
        "variant",
        "batch",
        "model",
        "img/s",
        f"img/s vs {baseline}",
        "compile s",
        f"compile vs {baseline}",
        "peak MiB",
        f"peak vs {baseline}",
        "note",
    ]
    low = any(r.precision != "float32" for r in rows)
    if low:
        headers.insert(2, "precision")
    body = [
        [
            r.device,
            r.variant,
            *([r.precision] if low else []),
            str(r.batch_size),
            r.model,
            _num(r.images_per_s, ".1f"),
            _num(r.images_per_s_ratio, ".2f", "x"),
            _num(r.compile_s, ".2f"),
            _num(r.compile_ratio, ".2f", "x"),
            _num(r.peak_mb, ".0f", f" ({r.peak_kind})" if r.peak_kind else ""),
            _num(r.peak_ratio, ".2f", "x"),
            r.note or "",
        ]
        for r in rows
    ]
    return headers, body


def _ms(seconds: float | None) -> str:
    return _num(None if seconds is None else seconds * 1e3, ".2f")


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
            _num(r.change, "+.1%"),
            r.verdict + (f" ({r.reason})" if r.reason else ""),
        ]
        for r in rows
    ]
    return headers, body


def runs_table(store: ResultStore, runs: Sequence[Run]) -> tuple[list[str], list[list[str]]]:
    """Headers and string cells listing runs with their cell counts and commit."""
    headers = ["run", "suite", "status", "started", "finished", "cells ok", "cells failed", "commit"]
    body = []
    for run in runs:
        cells = store.cells(run.id)
        ok = sum(c.status == "ok" for c in cells)
        commit = run.metadata.get("commit_info", {})
        cid = str(commit.get("id") or "")
        body.append(
            [
                run.id,
                run.suite,
                run.status,
                run.started[:19].replace("T", " "),
                (run.finished or "")[:19].replace("T", " "),
                str(ok),
                str(len(cells) - ok),
                (cid[:10] if len(cid) == 40 else cid) + ("+dirty" if commit.get("dirty") else ""),
            ]
        )
    return headers, body


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain-text table: columns left-aligned and padded, a dashed rule under the header."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(str(c))) for w, c in zip(widths, row)]
    lines = [
        "  ".join(str(c).ljust(w) for c, w in zip(line, widths)).rstrip()
        for line in [list(headers), ["-" * w for w in widths], *rows]
    ]
    return "\n".join(lines)


def print_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    title: str | None = None,
    file: IO[str] | None = None,
) -> None:
    """Print a table: with ``rich`` when installed and ``file`` is a terminal, else plain."""
    file = file or sys.stdout
    if file.isatty():
        try:
            from rich.console import Console
            from rich.table import Table
        except ImportError:
            pass
        else:
            table = Table(title=title)
            for h in headers:
                table.add_column(h)
            for row in rows:
                table.add_row(*map(str, row))
            Console(file=file).print(table)
            return
    if title:
        print(title, file=file)
    print(format_table(headers, rows), file=file)
