"""The report's timing tables: the fastest variant per backbone, every timing cell, the
backbones against the baseline, and the caveat on peak RSS measured in one process.

Each takes the :mod:`.report_data` dataclasses and returns a :class:`~.table_cells.Table`
(or a line of text); choosing what to compare is done here once, so the HTML and the
Markdown report show the same numbers.
"""

from __future__ import annotations

from collections import defaultdict
from typing import cast

from .report_data import ReportData, TimingCell, variant_order
from .table_cells import DASH, Table, fmt_or_dash, make_table

__all__ = ["backbone_table", "fastest_table", "shared_process_memory_note", "timing_table"]


def _ok(timings: list[TimingCell]) -> list[TimingCell]:
    """Ok float32 cells (low precisions have their own table, beside their fidelity)."""
    return [t for t in timings if t.ok and t.images_per_s is not None and t.precision == "float32"]


def _by_backbone(timings: list[TimingCell]) -> dict[tuple[str, str], list[TimingCell]]:
    groups: dict[tuple[str, str], list[TimingCell]] = defaultdict(list)
    for t in _ok(timings):
        groups[(t.model, t.device)].append(t)
    return dict(sorted(groups.items()))


def _best(cells: list[TimingCell]) -> TimingCell:
    # first of equals, in model order; the cells come from _ok, so images_per_s is set
    return max(cells, key=lambda t: cast(float, t.images_per_s))


def fastest_table(timings: list[TimingCell]) -> Table:
    """Per backbone and device, the variant and batch size with the most images/s in
    float32, and its speed-up over the eager variant at the same batch size."""
    rows = []
    for (model, device), cells in _by_backbone(timings).items():
        best = _best(cells)
        eager = next((t for t in cells if t.variant == "eager" and t.batch_size == best.batch_size), None)
        rows.append(
            (
                model,
                device,
                best.variant,
                best.batch_size,
                fmt_or_dash(best.images_per_s, ".1f"),
                _ratio(best.images_per_s, eager and eager.images_per_s),
            )
        )
    return make_table(
        [
            ("Backbone", False),
            ("Device", False),
            ("Fastest variant", False),
            ("Batch", True),
            ("Images/s", True),
            ("vs eager, same batch", True),
        ],
        rows,
    )


def timing_table(timings: list[TimingCell]) -> Table:
    """Every timing cell: median and interquartile range of one call in milliseconds,
    throughput in images/s, the fraction of the machine's roof (FLOP rate of the
    forward + input-gradient passes over the best matmul roof of the run on that
    device, where both are known),
    one-off compile and first-call seconds, peak memory in MiB; a Precision column when
    the run has low-precision cells."""
    low = any(t.precision != "float32" for t in timings)  # a Precision column only then
    rows = []
    for t in timings:
        status = "ok" if t.ok else f"failed: {t.reason or 'no reason recorded'}"
        rows.append(
            (
                t.model,
                t.device,
                t.variant,
                *([t.precision] if low else []),
                t.batch_size,
                fmt_or_dash(t.median_s, ".2f", 1e3),
                fmt_or_dash(t.iqr_s, ".2f", 1e3),
                fmt_or_dash(t.images_per_s, ".1f"),
                fmt_or_dash(t.roof_fraction, ".1f", 100.0),
                fmt_or_dash(t.compile_s, ".2f"),
                fmt_or_dash(t.first_call_s, ".2f"),
                fmt_or_dash(t.peak_rss_mb, ".0f"),
                fmt_or_dash(t.peak_device_mb, ".0f"),
                DASH if t.retraces is None else t.retraces,
                status,
            )
        )
    return make_table(
        [
            ("Backbone", False),
            ("Device", False),
            ("Variant", False),
            *([("Precision", False)] if low else []),
            ("Batch", True),
            ("Median ms", True),
            ("IQR ms", True),
            ("Images/s", True),
            ("Roof %", True),
            ("Compile s", True),
            ("First call s", True),
            ("Peak RSS MiB", True),
            ("Peak device MiB", True),
            ("Retraces", True),
            ("Status", False),
        ],
        rows,
    )


def _peak(t: TimingCell) -> float | None:
    return t.peak_device_mb if t.peak_device_mb is not None else t.peak_rss_mb


def _ratio(value, base) -> str:
    return DASH if value is None or not base else f"{value / base:.2f}×"


def backbone_table(timings: list[TimingCell], baseline: str) -> Table:
    """Each backbone and variant at its largest batch size that ran (float32), against the
    ``baseline`` backbone's cell on the same device, variant and batch size (as
    ``saliency-bench compare``): throughput ratio (above 1 is faster), compile time
    ratio and peak memory ratio (below 1 is less; device memory when measured, else
    RSS, in MiB) and GFLOPs per image where measured."""
    ok = _ok(timings)
    cells = {(t.model, t.device, t.variant, t.batch_size): t for t in ok}
    rows = []
    for model, device, variant in sorted(
        {(t.model, t.device, t.variant) for t in ok}, key=lambda k: (k[0], k[1], variant_order(k[2]))
    ):
        t = max(
            (c for c in ok if (c.model, c.device, c.variant) == (model, device, variant)),
            key=lambda c: c.batch_size,
        )
        base = cells.get((baseline, device, variant, t.batch_size))
        same_kind = base is not None and (base.peak_device_mb is None) == (t.peak_device_mb is None)
        b_peak = _peak(base) if base is not None and same_kind else None
        rows.append(
            (
                model,
                device,
                variant,
                t.batch_size,
                fmt_or_dash(t.images_per_s, ".1f"),
                _ratio(t.images_per_s, base and base.images_per_s),
                fmt_or_dash(t.compile_s, ".2f"),
                _ratio(t.compile_s, base and base.compile_s),
                fmt_or_dash(_peak(t), ".0f"),
                _ratio(_peak(t), b_peak),
                fmt_or_dash(t.flops_per_image, ".2f", 1e-9),
            )
        )
    return make_table(
        [
            ("Backbone", False),
            ("Device", False),
            ("Variant", False),
            ("Batch", True),
            ("Images/s", True),
            (f"× {baseline}", True),
            ("Compile s", True),
            (f"× {baseline}", True),
            ("Peak MiB", True),
            (f"× {baseline}", True),
            ("GFLOPs/image", True),
        ],
        rows,
    )


def shared_process_memory_note(data: ReportData) -> str | None:
    """The caveat for peak RSS of several backbones measured in one process (a run
    without ``fresh_process``), else None. Device memory is reset per cell and unaffected."""
    from ..harness.baseline import SHARED_RSS_NOTE, shared_process_rss

    rss_models = {
        t.model for t in _ok(data.timings) if t.peak_device_mb is None and t.peak_rss_mb is not None
    }
    return SHARED_RSS_NOTE if shared_process_rss(data.run.config, rss_models) else None
