"""The report's check tables: sanity-check values beside the chance baseline, variant
agreement with eager, and the gate's verdicts.

Each takes the :mod:`.report_data` dataclasses and returns a :class:`~.table_cells.Table`
(or a few lines of text), so the HTML and the Markdown report show the same numbers.
"""

from __future__ import annotations


from .report_data import AgreementCell, ReportData, ScalarCheck
from .table_cells import DASH, Table, fmt_or_dash, make_table

__all__ = ["agreement_table", "AGREEMENT_NOTE", "checks_table", "gate_lines", "gate_table"]


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
                fmt_or_dash(c.value, ".3f") if c.ok else "failed",
                ci,
                better,
                fmt_or_dash(rand, ".3f"),
                fmt_or_dash(margin, "+.3f"),
            )
        )
    return make_table(
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
            fmt_or_dash(a.rel_l2, ".1e"),
            DASH if a.flips is None or a.kink_units is None else f"{a.flips} of {a.kink_units:,}",
            fmt_or_dash(a.pinned_rel_l2, ".1e"),
            fmt_or_dash(a.floor_pinned_rel_l2, ".1e"),
            fmt_or_dash(a.pinning_moved, ".1e"),
            _verdict(a),
        )
        for a in agreements
    ]
    return make_table(
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
            value = fmt_or_dash(r.value, "+.4f") if isinstance(r.value, (int, float)) else str(r.value)
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
    return make_table(
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
