"""The report's tables, as plain text cells both renderers lay out (and escape).

Each function takes the :mod:`.report_data` dataclasses and returns a :class:`Table`
(or a few lines of text); choosing what to compare is done here once, so the HTML
and the Markdown report show the same numbers.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from typing import cast

from .report_data import AgreementCell, ReportData, RunInfo, ScalarCheck, TimingCell, variant_order

__all__ = [
    "Table",
    "agreement_table",
    "AGREEMENT_NOTE",
    "backbone_table",
    "checks_table",
    "failure_table",
    "fastest_table",
    "gate_lines",
    "gate_table",
    "KEY_FACTS",
    "key_facts",
    "protocol_table",
    "reproducibility_table",
    "shared_process_memory_note",
    "timing_table",
]

DASH = "—"


@dataclass(frozen=True)
class Table:
    """Header ``columns`` and ``rows`` of already formatted text; ``numeric[i]`` marks
    columns to right-align."""

    columns: tuple[str, ...]
    rows: list[tuple[str, ...]]
    numeric: tuple[bool, ...]


def _fmt(value, spec: str, scale: float = 1.0) -> str:
    return DASH if value is None else format(value * scale, spec)


def _table(spec: list[tuple[str, bool]], rows: list[tuple]) -> Table:
    return Table(
        columns=tuple(c for c, _ in spec),
        rows=[tuple(map(str, r)) for r in rows],
        numeric=tuple(n for _, n in spec),
    )


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
                _fmt(best.images_per_s, ".1f"),
                _ratio(best.images_per_s, eager and eager.images_per_s),
            )
        )
    return _table(
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
                _fmt(t.median_s, ".2f", 1e3),
                _fmt(t.iqr_s, ".2f", 1e3),
                _fmt(t.images_per_s, ".1f"),
                _fmt(t.roof_fraction, ".1f", 100.0),
                _fmt(t.compile_s, ".2f"),
                _fmt(t.first_call_s, ".2f"),
                _fmt(t.peak_rss_mb, ".0f"),
                _fmt(t.peak_device_mb, ".0f"),
                DASH if t.retraces is None else t.retraces,
                status,
            )
        )
    return _table(
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
                _fmt(t.images_per_s, ".1f"),
                _ratio(t.images_per_s, base and base.images_per_s),
                _fmt(t.compile_s, ".2f"),
                _ratio(t.compile_s, base and base.compile_s),
                _fmt(_peak(t), ".0f"),
                _ratio(_peak(t), b_peak),
                _fmt(t.flops_per_image, ".2f", 1e-9),
            )
        )
    return _table(
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


def failure_table(data: ReportData) -> Table:
    """Failed cells of any kind with the reason their writer recorded."""
    return _table(
        [("Kind", False), ("Cell", False), ("Reason", False)],
        [(f.kind, f.key, f.reason) for f in data.failures],
    )


def _random_control(checks: list[ScalarCheck]) -> dict[tuple, float | None]:
    return {(c.model, c.data, c.metric): c.value for c in checks if c.chance and c.ok}


def checks_table(data: ReportData) -> Table:
    """Every check's aggregate value beside the random control's on the same model, data
    and metric; the margin is signed so that positive means better than random."""
    control = _random_control(data.checks)
    rows = []
    for c in sorted(data.checks, key=lambda c: (c.model, c.data, c.metric, c.method)):
        rand = control.get((c.model, c.data, c.metric))
        margin = None
        if c.ok and c.value is not None and rand is not None and not c.chance:
            margin = (c.value - rand) * (-1.0 if c.direction == "lower" else 1.0)
        better = {"higher": "higher", "lower": "lower"}.get(c.direction, DASH)
        ci = f"[{c.low:.3f}, {c.high:.3f}]" if c.ok and c.low is not None and c.high is not None else DASH
        rows.append(
            (
                c.model,
                c.data,
                c.metric,
                c.method,
                _fmt(c.value, ".3f") if c.ok else "failed",
                ci,
                better,
                _fmt(rand, ".3f"),
                _fmt(margin, "+.3f"),
            )
        )
    return _table(
        [
            ("Model", False),
            ("Data", False),
            ("Metric", False),
            ("Method", False),
            ("Value", True),
            ("95% CI", False),
            ("Better", False),
            ("Random control", True),
            ("Margin over random", True),
        ],
        rows,
    )


AGREEMENT_NOTE = (
    "Relative L2 of the input gradients against eager's, on the first bundled photos. "
    "XLA reorders float32 sums; where a ReLU unit or a max-pooling window lies within "
    "rounding of its kink, the two can take different sides and the gradient jumps. "
    "'Pinned' compares them again with every unit near a kink held on eager's side in both "
    "(saliency-bench agree). 'Float32 floor' is float32's own rounding on the same images, "
    "measured in the same run: eager float32 against float64 of the same weights, pinned alike. "
    "'Pinning moved eager' is how far pinning moved eager's own gradients (rounding, or 0). "
    "A variant agrees when its logits, its flipped units, its top-1 classes and its pinned "
    "gradients stay within a few times that floor (saliency_core.agreement)."
)


def _verdict(a: AgreementCell) -> str:
    if a.agrees is None:
        return DASH
    return "yes" if a.agrees else "NO: " + "; ".join(a.reasons)


def agreement_table(agreements: list[AgreementCell]) -> Table:
    """Each model's variants against eager: as computed, units flipped, pinned, against
    float32's measured floor, and the verdict."""
    rows = [
        (
            a.model,
            a.variant,
            a.device,
            DASH if a.images is None else str(a.images),
            _fmt(a.rel_l2, ".1e"),
            DASH if a.flips is None or a.kink_units is None else f"{a.flips} of {a.kink_units:,}",
            _fmt(a.pinned_rel_l2, ".1e"),
            _fmt(a.floor_pinned_rel_l2, ".1e"),
            _fmt(a.pinning_moved, ".1e"),
            _verdict(a),
        )
        for a in agreements
    ]
    return _table(
        [
            ("Model", False),
            ("Variant", False),
            ("Device", False),
            ("Images", True),
            ("As computed", True),
            ("Units flipped at a kink", True),
            ("Pinned", True),
            ("Float32 floor (pinned)", True),
            ("Pinning moved eager", True),
            ("Agrees", False),
        ],
        rows,
    )


def gate_lines(data: ReportData) -> list[tuple[str, str]]:
    """Per gate: its verdict (pass, fail, inconclusive, error), and a line naming it and
    the rules that did not pass, each with its verdict."""
    lines = []
    for g in data.gates:
        other = [r for r in g.rules if not r.passed]
        why = "; ".join(f"{r.rule} {r.verdict}" + (f" ({r.why})" if r.why else "") for r in other)
        lines.append((g.verdict, f"policy {g.policy} on {g.model} / {g.data}" + (f" — {why}" if why else "")))
    return lines


def gate_table(data: ReportData) -> Table:
    """Every rule of every gate: the measured value, the comparison and the outcome."""
    rows = []
    for g in data.gates:
        for r in g.rules:
            value = _fmt(r.value, "+.4f") if isinstance(r.value, (int, float)) else str(r.value)
            ci = f"[{r.low:+.4f}, {r.high:+.4f}]" if r.low is not None and r.high is not None else DASH
            verdict = r.verdict.upper() if r.verdict != "pass" else "pass"
            if r.images_needed:
                verdict += f" (about {r.images_needed} images would decide it)"
            rows.append(
                (
                    g.policy,
                    g.model,
                    g.data,
                    r.rule,
                    r.method,
                    r.metric,
                    value,
                    ci,
                    f"{r.op} {r.threshold}",
                    verdict,
                    r.why,
                )
            )
    return _table(
        [
            ("Policy", False),
            ("Model", False),
            ("Data", False),
            ("Rule", False),
            ("Method", False),
            ("Metric", False),
            ("Value", True),
            ("95% CI", False),
            ("Needs", False),
            ("Verdict", False),
            ("Why", False),
        ],
        rows,
    )


def _flatten(value, prefix: str = "") -> list[tuple[str, str]]:
    if isinstance(value, dict) and value:
        out = []
        for k in sorted(value, key=str):
            out += _flatten(value[k], f"{prefix}.{k}" if prefix else str(k))
        return out
    if value is None or value == [] or value == {}:
        return [(prefix, DASH)]
    if isinstance(value, (list, tuple)) and all(not isinstance(v, (dict, list)) for v in value):
        return [(prefix, ", ".join(map(str, value)))]
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return [(prefix, text)]


def reproducibility_table(run: RunInfo) -> Table:
    """The run's identity, configuration (suite file, flags, presets, ...) and the
    machine and commit metadata the store recorded, one flattened key per row."""
    rows = [
        ("run", "id", str(run.id)),
        ("run", "suite", run.suite),
        ("run", "seed", str(run.seed)),
        ("run", "status", run.status),
        ("run", "started", str(run.started)),
        ("run", "finished", str(run.finished)),
    ]
    rows += [("config", k, v) for k, v in _flatten(run.config)]
    for section in sorted(run.metadata, key=str):
        rows += [(str(section), k, v) for k, v in _flatten(run.metadata[section])]
    return _table([("Source", False), ("Key", False), ("Value", False)], rows)


def protocol_table(data: ReportData) -> Table:
    """The protocol settings each check metric ran with (the first stored config of it)."""
    rows = [(metric, k, v) for metric in sorted(data.protocols) for k, v in _flatten(data.protocols[metric])]
    return _table([("Metric", False), ("Setting", False), ("Value", False)], rows)


#: Metadata rows a pull request reader needs to tell runs apart (store.machine's names).
KEY_FACTS = (
    ("commit_info", "id"),
    ("commit_info", "dirty"),
    ("commit_info", "branch"),
    ("machine_info", "saliency_bench"),
    ("machine_info", "tensorflow"),
    ("machine_info", "keras"),
    ("machine_info", "numpy"),
    ("machine_info", "python_version"),
    ("machine_info", "cpu_model"),
    ("machine_info", "cpu_usable"),
    ("machine_info", "gpus"),
    ("machine_info", "gpu_driver"),
    ("machine_info", "xla_flags"),
    ("machine_info", "tf_xla_flags"),
    ("machine_info", "onednn_opts"),
    ("machine_info", "onednn_enabled"),
    ("machine_info", "tf_threads.intra_op"),
    ("machine_info", "tf_threads.inter_op"),
)


def key_facts(run: RunInfo, max_config_rows: int = 12) -> Table:
    """A short reproducibility table for pull requests: run id, suite and seed, the
    commit, library versions, devices and XLA flags, and the run's short config rows."""
    full = reproducibility_table(run)
    by_key = {(r[0], r[1]): r for r in full.rows}
    rows = [by_key[("run", k)] for k in ("id", "suite", "seed")]
    rows += [by_key[k] for k in KEY_FACTS if k in by_key]
    rows += [r for r in full.rows if r[0] == "config" and len(r[2]) <= 120][:max_config_rows]
    return Table(columns=full.columns, rows=rows, numeric=full.numeric)
