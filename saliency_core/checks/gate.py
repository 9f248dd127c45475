"""Decide a policy's rules for one method, each with its confidence interval.

A rule reads a statistic that is a mean over images (or, with ``compare_to``, the
method's minus the control's on the same images). Its verdict comes from a seeded
bootstrap interval of that mean (BCa, :mod:`saliency_core.stats`):

* **pass**: the whole interval lies on the required side of the threshold;
* **fail**: the whole interval lies on the wrong side;
* **inconclusive**: the interval straddles the threshold, or the numbers cannot
  decide it (constant maps, a clean score already about 0, one image); the number of
  images that would likely decide it is estimated from the observed effect and spread;
* **error**: the rule could not be measured (the metric failed or is missing).

With ``compare_to``, the interval is of the paired per-image difference (same images);
a control measured over several random orderings enters as their per-image mean, and
the orderings' spread is reported. The gate's verdict is the worst of its rules
(error > fail > inconclusive > pass); exit codes 0 pass, 1 fail, 3 inconclusive, 2 error.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Iterable, Mapping, cast

import numpy as np

from ..stats.bootstrap import Interval, bootstrap_interval
from ..stats.paired import paired_difference_interval
from ..stats.sample_size import images_needed
from ..stats.verdict import Op, decide
from .gate_result import GateResult, RuleResult, RuleVerdict
from .policy import OPS, Policy, Rule
from .results import CheckReport, CheckResult

__all__ = ["evaluate_policy"]

_SEVERITY: tuple[RuleVerdict, ...] = ("pass", "inconclusive", "fail", "error")


def _index(check_results) -> dict[tuple[str, str], CheckResult]:
    if isinstance(check_results, CheckReport):
        items = check_results.results
    elif isinstance(check_results, Mapping):
        items = list(check_results.values())
    else:
        items = list(check_results)
    out = {}
    for item in items:
        if not isinstance(item, CheckResult):
            if getattr(item, "kind", "check") != "check":
                continue
            item = CheckResult.from_cell(item)  # a store Cell
        out[(item.method, item.metric)] = item
    return out


def result_precision(result: CheckResult) -> str:
    """The precision a check result was computed in (results from before the precision
    axis were float32), naming a scoring precision that differed from it."""
    run = (result.config or {}).get("run") or {}
    maps = str(run.get("precision") or "float32")
    scores = (result.config or {}).get("score_precision")
    return maps if not scores or scores == maps else f"{maps} (perturbed images scored in {scores})"


def _lookup(
    results, method: str, rule: Rule, precision: str | None = None
) -> tuple[CheckResult | None, str | None]:
    result = results.get((method, rule.metric))
    if result is None:
        return None, f"no {rule.metric} result for {method}"
    if not result.ok:
        return None, f"{rule.metric} failed for {method}: {result.reason}"
    if precision is not None and result_precision(result) != precision:
        return None, (
            f"{rule.metric} of {method} was computed in {result_precision(result)}; "
            f"the policy requires {precision}"
        )
    try:
        value = result.statistic(rule.statistic)
    except KeyError as exc:
        return None, str(exc.args[0])
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        return None, f"{rule.metric}.{rule.statistic} of {method} is {value!r}, not a finite number"
    return result, None


def _decide_rule(
    rule: Rule,
    method: str,
    results,
    *,
    seed: int,
    confidence: float,
    resamples: int,
    precision: str | None = None,
) -> RuleResult:
    result, error = _lookup(results, method, rule, precision)
    control = None
    if error is None and rule.compare_to:
        control, error = _lookup(results, rule.compare_to, rule, precision)
    common: dict[str, Any] = dict(rule=rule, method=method)
    if error is not None:
        return RuleResult(
            **common,
            verdict="error",
            value=None,
            interval=None,
            method_value=None,
            control_value=None,
            control_spread=None,
            reason=error,
        )
    assert result is not None  # _lookup returns a result exactly when it returns no error
    # _lookup checked that both statistics are finite numbers
    method_value = float(cast(float, result.statistic(rule.statistic)))
    control_value = float(cast(float, control.statistic(rule.statistic))) if control is not None else None
    per_image = result.per_image_of(rule.statistic)
    warnings = list(result.warnings) + (list(control.warnings) if control is not None else [])
    value = method_value - control_value if control_value is not None else method_value
    base: dict[str, Any] = dict(**common, method_value=method_value, control_value=control_value)
    if per_image is None:
        return RuleResult(
            **base,
            verdict="inconclusive",
            value=value,
            interval=None,
            control_spread=None,
            reason=f"{rule.metric}.{rule.statistic} has no per-image values, so no "
            "interval (a result stored by an older version?)",
        )
    a = np.asarray(per_image, np.float64)
    spread = None
    iv: Interval | None
    if control is not None:
        b = np.asarray(
            control.orderings_of(rule.statistic) or control.per_image_of(rule.statistic), np.float64
        )
        if b.shape[-1] != a.shape[0]:
            return RuleResult(
                **base,
                verdict="error",
                value=value,
                interval=None,
                control_spread=None,
                reason=f"{method} and {rule.compare_to} were measured on "
                f"{a.shape[0]} and {b.shape[-1]} images",
            )
        if not (np.isfinite(a).all() and np.isfinite(b).all()):
            warnings.append("some per-image values are not finite")
            iv = None
        else:
            iv = paired_difference_interval(a, b, confidence=confidence, n_resamples=resamples, seed=seed)
            spread = dataclasses.asdict(iv.control_spread) if iv.control_spread else None
        diffs = a - (b.mean(axis=0) if b.ndim == 2 else b)
    else:
        iv = (
            bootstrap_interval(a, confidence=confidence, n_resamples=resamples, seed=seed)
            if np.isfinite(a).all()
            else None
        )
        if iv is None:
            warnings.append("some per-image values are not finite")
        diffs = a
    interval = (
        None
        if iv is None
        else {k: getattr(iv, k) for k in ("low", "high", "confidence", "method", "n_resamples", "n")}
    )
    if warnings or iv is None:
        return RuleResult(
            **base,
            verdict="inconclusive",
            value=value,
            interval=interval,
            control_spread=spread,
            reason="the numbers cannot decide it: " + "; ".join(warnings),
        )
    if iv.degenerate and iv.n >= 2:  # every image gives the same number: no uncertainty left
        holds = bool(OPS[rule.op](iv.estimate, rule.threshold))
        return RuleResult(
            **base,
            verdict="pass" if holds else "fail",
            value=float(iv.estimate),
            interval=interval,
            control_spread=spread,
            reason=f"all {iv.n} images give {iv.estimate:g} (no spread over images), "
            f"which is {'' if holds else 'not '}{rule.op} {rule.threshold:g}",
        )
    decision = decide(iv, cast(Op, rule.op), rule.threshold)  # parse_policy checked op
    needed = None
    if decision.verdict == "inconclusive":
        estimate = images_needed(diffs, rule.threshold, confidence=confidence)
        needed = estimate.images
    return RuleResult(
        **base,
        verdict=decision.verdict,
        value=float(iv.estimate),
        interval=interval,
        control_spread=spread,
        reason=decision.reason,
        images_needed=needed,
    )


def evaluate_policy(
    policy: Policy,
    check_results: CheckReport | Iterable,
    *,
    method: str | None = None,
    seed: int = 0,
    confidence: float = 0.95,
    resamples: int = 2000,
) -> GateResult:
    """Decide every rule of ``policy`` for one method.

    Args:
        policy: The policy.
        check_results: A :class:`CheckReport`, or :class:`CheckResult` objects or
            stored ``check`` cells (for several methods: the gated one and the controls).
        method: The method to gate; None means the only method in ``check_results``
            other than the rules' controls (or a control itself if it is alone).
        seed: Seed of the bootstrap resampling.
        confidence: Level of the intervals.
        resamples: Bootstrap resamples (at least 2,000).

    Raises:
        ValueError: ``method`` is None and the results hold several candidate methods.
    """
    results = _index(check_results)
    if method is None:
        methods = list(dict.fromkeys(m for m, _ in results))
        candidates = [m for m in methods if m not in policy.controls] or methods
        if len(candidates) != 1:
            raise ValueError(
                f"check results hold {len(candidates)} methods "
                f"({', '.join(candidates) or 'none'}); say which one to gate"
            )
        method = candidates[0]
    rules = [
        _decide_rule(
            rule,
            method,
            results,
            seed=seed,
            confidence=confidence,
            resamples=resamples,
            precision=policy.precision,
        )
        for rule in policy.rules
    ]
    verdict: RuleVerdict = max((r.verdict for r in rules), key=_SEVERITY.index, default="pass")
    first = next(iter(results.values()), None)
    return GateResult(
        policy=policy.name,
        method=method,
        verdict=verdict,
        rules=rules,
        model=first.model if first else None,
        data=first.data if first else None,
    )
