"""Compare low precisions against float32 within one run.

``compare_precisions`` puts each low-precision cell beside the float32 cell of the
same model, device, variant, batch and image size: the speed ratio and the fidelity
its writer stored. ``precision_table`` turns its rows into table cells.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from ..store.db import ResultStore
from ..store.export import cell_name
from ..store.records import canonical_json
from .baseline import ratio
from .text_table import num

__all__ = ["PrecisionRow", "compare_precisions", "precision_table"]


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
                speedup=ratio(rate, ref) if rate is not None else None,
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
        return "n/a" if f.get(mean) is None else f"{f[mean]:{fmt}} ({num(f.get(worst), fmt)})"

    body = [
        [
            r.name,
            num(r.images_per_s, ".2f"),
            num(r.float32_images_per_s, ".2f"),
            num(r.speedup, ".2f", "x"),
            pair(r, "spearman_abs", "spearman_abs_min", ".3f"),
            pair(r, "rel_l2", "rel_l2_max", ".2e"),
            pair(r, "top_overlap", "top_overlap_min", ".2f"),
            num(r.fidelity.get("top1_agreement"), ".2f"),
        ]
        for r in rows
    ]
    return headers, body
