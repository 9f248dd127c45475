"""Gate one method: compute what a policy's rules read, evaluate them, record the verdict.

Used by ``saliency-bench gate`` and by a suite's ``[checks]`` step alike.
"""

from __future__ import annotations

from typing import Callable

from .gate import evaluate_policy
from .gate_result import GateResult
from .policy import Policy
from .results import CheckReport
from .check_runner import run_checks

__all__ = ["run_gate", "gate_lines"]


def run_gate(
    policy: Policy,
    classifier,
    data,
    *,
    method: str,
    seed: int,
    store=None,
    run_id: str | None = None,
    progress: Callable[[str], None] | None = None,
    **check_options,
) -> tuple[GateResult, CheckReport]:
    """The metrics the rules read for ``method`` (and for each control on the metrics
    compared with it), the verdict, and a ``gate`` cell when recording.

    Args:
        policy: The policy.
        classifier: The classifier.
        data: A :class:`~saliency_core.data.check_data.CheckData`.
        method: The method gated.
        seed: Run seed.
        store, run_id: Where cells go (cells already there are read back).
        progress: Called with one line per finished metric.
        **check_options: Passed to :func:`run_checks` (variant, batch_size, device,
            settings, networks, precision).
    """
    common = dict(
        seed=seed,
        data_name=data.name,
        store=store,
        run_id=run_id,
        masks=data.masks,
        image_names=data.names,
        progress=progress,
        **check_options,
    )
    report = run_checks(classifier, data.images, methods=[method], metrics=policy.metrics, **common)
    for control in policy.controls:
        metrics = [r.metric for r in policy.rules if r.compare_to == control]
        if control != method and metrics:
            report.results.extend(
                run_checks(classifier, data.images, methods=[control], metrics=metrics, **common).results
            )
    settings = check_options.get("settings")
    result = evaluate_policy(
        policy,
        report,
        method=method,
        seed=seed,
        confidence=getattr(settings, "confidence", 0.95),
        resamples=getattr(settings, "resamples", 2000),
    )
    if store is not None:
        key = {"model": report.model, "data": data.name, "policy": policy.name}
        if store.get_cell(run_id, "gate", key) is None:
            reason = "; ".join(f"{r.rule.name}: {r.error}" for r in result.errors) or None
            store.record_cell(
                run_id,
                "gate",
                key,
                status="failed" if result.errors else "ok",
                reason=reason,
                metrics={**result.as_dict(), "policy_source": policy.source},
            )
    return result, report


def _fmt(value, spec: str = "+.4f") -> str:
    return "n/a" if value is None else format(value, spec)


def _measured(r) -> str:
    rule = r.rule
    left = f"{rule.metric}.{rule.statistic}" + (f" - {rule.compare_to}" if rule.compare_to else "")
    text = f"{left} = {_fmt(r.value)}"
    if r.interval:
        text += (
            f" [{r.interval['confidence']:.0%} CI {_fmt(r.interval['low'])}, "
            f"{_fmt(r.interval['high'])}; {r.interval['n']} images]"
        )
    if rule.compare_to and r.method_value is not None:
        text += (
            f" ({r.method} {_fmt(r.method_value, '.4f')}, {rule.compare_to} {_fmt(r.control_value, '.4f')}"
        )
        spread = r.control_spread
        if spread:
            text += f" over {spread['k']} orderings, {spread['low']:.4f}..{spread['high']:.4f}"
        text += ")"
    return text


def gate_lines(result: GateResult, policy: Policy, *, model: str, data: str) -> list[str]:
    """The verdict as printed lines: one per rule with its interval and reason."""
    lines = [f"gate: policy {policy.name} ({policy.source}) on {model} / {data}, method {result.method}"]
    for r in result.rules:
        rule = r.rule
        lines.append(
            f"  {r.verdict.upper():<12} {rule.name}: {_measured(r)}, needs {rule.op} {rule.threshold:g}"
        )
        if r.verdict != "pass":
            lines.append(f"        {r.reason}")
        if r.images_needed is not None:
            lines.append(
                f"        about {r.images_needed} images would likely decide it "
                f"(if the effect and its spread stay as measured)"
            )
        lines.append(f"        why: {rule.why}")
    counts = {v: sum(r.verdict == v for r in result.rules) for v in ("pass", "fail", "inconclusive", "error")}
    summary = ", ".join(f"{n} {v}" for v, n in counts.items() if n)
    lines.append(f"verdict: {result.verdict.upper()} ({summary}; exit {result.exit_code})")
    return lines
