"""Compare backbones against a baseline backbone within one run.

``compare_baseline`` gives each backbone's images/s, compile time and peak memory
as ratios to the baseline backbone's cell on the same device, variant, precision and
batch size (a missing or failed baseline gives ``None`` ratios and a note saying why).
A key without ``precision`` (every run before the precision axis) is float32.
``baseline_table`` turns its rows into table cells.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from ..store.db import ResultStore
from ..store.records import Cell, canonical_json
from .text_table import num

__all__ = ["BaselineRow", "compare_baseline", "baseline_table", "SHARED_RSS_NOTE", "shared_process_rss"]


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


def ratio(value: Any, base: Any) -> float | None:
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
                    ratio(m.get("images_per_s"), bm.get("images_per_s")),
                    ratio(m.get("compile_s"), bm.get("compile_s")),
                    ratio(peak, base_peak),
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
            num(r.images_per_s, ".1f"),
            num(r.images_per_s_ratio, ".2f", "x"),
            num(r.compile_s, ".2f"),
            num(r.compile_ratio, ".2f", "x"),
            num(r.peak_mb, ".0f", f" ({r.peak_kind})" if r.peak_kind else ""),
            num(r.peak_ratio, ".2f", "x"),
            r.note or "",
        ]
        for r in rows
    ]
    return headers, body
