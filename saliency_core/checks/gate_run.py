"""Gate one method: compute what a policy's rules read, evaluate them, record the verdict.

Used by ``saliency-bench gate`` and by a suite's ``[checks]`` step alike.
"""

from __future__ import annotations

from typing import Callable

from .gate import GateResult, Policy, evaluate_policy
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
    result = evaluate_policy(policy, report, method=method)
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


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def gate_lines(result: GateResult, policy: Policy, *, model: str, data: str) -> list[str]:
    """The verdict as printed lines: one per rule with its measurement and reason."""
    lines = [f"gate: policy {policy.name} ({policy.source}) on {model} / {data}, method {result.method}"]
    for r in result.rules:
        rule = r.rule
        verdict = "PASS" if r.passed else ("ERROR" if r.error else "FAIL")
        if rule.compare_to:
            measured = (
                f"{rule.metric}.{rule.statistic} - {rule.compare_to} = {_fmt(r.value)} "
                f"({result.method} {_fmt(r.method_value)}, {rule.compare_to} "
                f"{_fmt(r.control_value)})"
            )
        else:
            measured = f"{rule.metric}.{rule.statistic} = {_fmt(r.value)}"
        lines.append(f"  {verdict:<5} {rule.name}: {measured}, needs {rule.op} {rule.threshold:g}")
        if r.error:
            lines.append(f"        error: {r.error}")
        lines.append(f"        why: {rule.why}")
    if result.passed:
        lines.append(f"verdict: PASS ({len(result.rules)} of {len(result.rules)} rules hold)")
    else:
        bad = [r.rule.name for r in result.rules if not r.passed]
        lines.append(f"verdict: FAIL ({len(bad)} of {len(result.rules)} rules do not hold: {', '.join(bad)})")
    return lines
