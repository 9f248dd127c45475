"""The timing results table ``run`` and ``time`` print: one row per timing cell, the roof
fraction over the best roof the run saw."""

from __future__ import annotations


__all__ = ["print_timing_results", "timing_rows"]


def _fmt(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


TABLE_HEADERS = [
    "model",
    "variant",
    "precision",
    "device",
    "batch",
    "size",
    "status",
    "images/s",
    "median s",
    "IQR s",
    "compile s",
    "roof %",
    "sal/fwd",
    "chunk",
    "RSS MiB",
    "dev MiB",
    "retraces",
    "cpu/wall",
    "reason",
]


def timing_rows(store, run_id: str) -> list[list[str]]:
    """One row per timing cell of the run (``TABLE_HEADERS`` columns).

    "roof %" divides by the best roof seen over the run on the cell's device
    (:func:`~saliency_core.harness.roofs.best_roofs`), not by the roof known when the
    cell ran.
    """
    from ..harness.flops import roof_fraction
    from ..harness.roofs import best_roofs
    from ..harness.cell_spec import key_precision

    roofs = best_roofs(store, run_id)
    rows = []
    for cell in store.cells(run_id, kind="timing"):
        k, m = cell.key, cell.metrics
        base = [
            k.get("model"),
            k.get("variant"),
            key_precision(k),
            k.get("device"),
            str(k.get("batch_size")),
            str(k.get("image_size")),
            cell.status,
        ]
        if cell.status != "ok":
            reason = cell.reason or ""
            rows.append(base + ["-"] * 11 + [reason if len(reason) <= 70 else reason[:67] + "..."])
            continue
        roof = roof_fraction(m.get("flops_per_image"), m.get("images_per_s"), roofs.get(k.get("device")))
        chunk = m.get("chunk_size")
        rows.append(
            base
            + [
                _fmt(m.get("images_per_s"), ".2f"),
                _fmt(m.get("median_s"), ".4f"),
                _fmt(m.get("iqr_s"), ".4f"),
                _fmt(m.get("compile_s"), ".2f"),
                _fmt(None if roof is None else 100 * roof, ".1f"),
                _fmt(m.get("saliency_forward_ratio"), ".2f"),
                str(chunk) if chunk and chunk < int(k.get("batch_size", 0)) else "-",
                _fmt(m.get("peak_rss_mb"), ".0f"),
                _fmt(m.get("peak_device_mb"), ".0f"),
                str(m.get("retraces", "-")),
                _fmt(m.get("process_cpu_per_wall"), ".2f"),
                "",
            ]
        )
    return rows


def print_timing_results(args, store, run_id: str) -> None:
    """Print the run's timing table and a summary (roof, failures, wall time) to stdout."""
    from ..harness.text_table import print_table

    run = store.get_run(run_id)
    rows = timing_rows(store, run_id)
    print_table(TABLE_HEADERS, rows, title=f"timing: suite {run.suite}, run {run.id} ({run.status})")
    from ..harness.roofs import best_roofs

    from ..harness.precision_compare import compare_precisions, precision_table

    low = compare_precisions(store, run_id)
    if low:
        print()
        print_table(
            *precision_table(low),
            title="low precision against float32 (maps of the same images; mean, worst image in brackets)",
        )
    starts = run.config.get("roofs") or {}
    failed = sum(1 for r in rows if r[TABLE_HEADERS.index("status")] != "ok")
    lines = []
    for device, best in best_roofs(store, run_id).items():
        start = starts.get(device)
        at_start = f" (at the start: {start:.1f})" if start and start < best else ""
        lines.append(f"roof {device}: {best:.1f} GFLOP/s, best seen in the run{at_start}")
    if lines:
        lines.append(f"  measured as: {run.config.get('roof_method', 'fp32 matrix product')}")
        lines.append("roof % = FLOPs of the forward + input-gradient passes x images/s / roof")
    lines.append(
        "cpu/wall = CPU seconds this process used per second of timed calls (about the "
        "cores it kept busy; lower than in a quiet run = other work held cores)"
    )
    lines.append(f"{len(rows)} cells, {failed} failed; store {store.path}, run {run.id}")
    wall = getattr(args, "timing_wall_s", None)
    if wall is not None:
        lines.append(f"timing wall time {wall:.1f} s")
    print("\n".join(lines))
