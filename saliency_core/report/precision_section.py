"""The report's precision section: speed against fidelity for low-precision cells.

Shown when a run has timing cells at a low precision (bfloat16, float16). Each such
cell is paired with the float32 cell of the same model, device, variant, batch size
and image size; its speed is the ratio of the two cells' images/s, its fidelity the
measures its writer stored (``saliency_core.fidelity``: Spearman of |map|, relative
L2, top-10 % overlap, top-1 agreement against float32 maps of the same images).
Nothing is recomputed.
"""

from __future__ import annotations

from dataclasses import dataclass

from .report_data import TimingCell, precision_order, variant_order
from .table_cells import DASH, Table

__all__ = ["PrecisionRow", "PRECISION_NOTE", "precision_rows", "precision_table", "has_low_precision"]

PRECISION_NOTE = (
    "Mixed precision: the network computes in bfloat16 or float16, the class score, "
    "softmax and maps in float32. Speed is the cell's images/s over the float32 cell's "
    "(same model, device, variant, batch); a device without fast kernels for a precision "
    "runs it slowly, and the table shows that. Fidelity compares the cell's maps with "
    "float32 maps of the same images (both explaining the float32 top-1 class): Spearman "
    "rank correlation of |map| (1 = same ranking), relative L2 (0 = same values), the "
    "share of float32's top 10 % pixels also in the low-precision top 10 %, and the share "
    "of images whose top-1 class is unchanged. Mean over images, worst image in brackets."
)


@dataclass(frozen=True)
class PrecisionRow:
    """A low-precision cell beside its float32 partner (None when that is missing)."""

    cell: TimingCell
    float32: TimingCell | None

    @property
    def speedup(self) -> float | None:
        base = self.float32
        if base is None or not base.images_per_s or self.cell.images_per_s is None:
            return None
        return self.cell.images_per_s / base.images_per_s

    def measure(self, name: str) -> float | None:
        return (self.cell.fidelity or {}).get(name)


def has_low_precision(timings: list[TimingCell]) -> bool:
    """Whether any timing cell ran at a precision other than float32."""
    return any(t.precision != "float32" for t in timings)


def _where(t: TimingCell) -> tuple:
    size = tuple(t.image_size) if isinstance(t.image_size, list) else t.image_size
    return (t.model, t.device, t.variant, t.batch_size, size)


def precision_rows(timings: list[TimingCell]) -> list[PrecisionRow]:
    """Every ok low-precision cell with its ok float32 partner, in report order."""
    base = {_where(t): t for t in timings if t.ok and t.precision == "float32"}
    rows = [PrecisionRow(t, base.get(_where(t))) for t in timings if t.ok and t.precision != "float32"]
    return sorted(
        rows,
        key=lambda r: (
            r.cell.model,
            r.cell.device,
            variant_order(r.cell.variant),
            precision_order(r.cell.precision),
            r.cell.batch_size,
        ),
    )


def _fmt(value, spec: str) -> str:
    return DASH if value is None else format(value, spec)


def _pair(mean, worst, spec: str) -> str:
    return DASH if mean is None else f"{mean:{spec}} ({_fmt(worst, spec)})"


def precision_table(timings: list[TimingCell]) -> Table:
    """One row per low-precision cell: speed against float32 and the four fidelity
    measures (mean over images, worst image in brackets)."""
    rows = []
    for r in precision_rows(timings):
        t = r.cell
        rows.append(
            (
                t.model,
                t.device,
                t.variant,
                t.batch_size,
                t.precision,
                _fmt(t.images_per_s, ".2f"),
                _fmt(r.float32.images_per_s if r.float32 else None, ".2f"),
                DASH if r.speedup is None else f"{r.speedup:.2f}×",
                _pair(r.measure("spearman_abs"), r.measure("spearman_abs_min"), ".3f"),
                _pair(r.measure("rel_l2"), r.measure("rel_l2_max"), ".2e"),
                _pair(r.measure("top_overlap"), r.measure("top_overlap_min"), ".2f"),
                _fmt(r.measure("top1_agreement"), ".2f"),
            )
        )
    spec = [
        ("Backbone", False),
        ("Device", False),
        ("Variant", False),
        ("Batch", True),
        ("Precision", False),
        ("Images/s", True),
        ("float32 images/s", True),
        ("Speed vs float32", True),
        ("Spearman |map|", True),
        ("Relative L2", True),
        ("Top-10 % overlap", True),
        ("Top-1 agreement", True),
    ]
    return Table(
        columns=tuple(c for c, _ in spec),
        rows=[tuple(map(str, row)) for row in rows],
        numeric=tuple(n for _, n in spec),
    )
