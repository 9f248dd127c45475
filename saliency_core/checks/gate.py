"""Gate a saliency method on check results with a policy of rules.

A policy is a TOML file with a ``name``, an optional ``description`` and a list of
``[[rules]]``. Each rule reads one number from one metric's check result and compares
it with a threshold::

    [[rules]]
    name = "deletion-beats-random"   # optional; default "<metric>.<statistic>"
    metric = "deletion"              # a metric name (CLI or registry name)
    statistic = "value"              # "value" (default) or one of the metric's declared statistics
    compare_to = "random"            # optional: a control method; the rule reads the difference
    op = "<"                         # "<", "<=", ">", ">="
    threshold = 0.0
    why = "Petsiuk et al. 2018: a useful map must beat a random ordering."

A rule holds when ``measured op threshold``, where ``measured`` is the method's
statistic, or with ``compare_to = CONTROL`` the method's statistic minus the control's
control's on the same model, data and metric. A rule that cannot be measured (the
metric failed or is missing, the statistic does not exist, the number is not finite)
does not hold and is reported as an error, not as a failure.

The packaged ``default`` policy (``saliency_core/policies/default.toml``) gives its
reasoning in its comments.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping


from ..toml_files import read_toml
from ..metrics.base import METRICS
from .results import CheckReport, CheckResult

__all__ = [
    "OPS",
    "PolicyError",
    "Rule",
    "Policy",
    "RuleResult",
    "GateResult",
    "policies_dir",
    "list_policies",
    "load_policy",
    "parse_policy",
    "evaluate_policy",
]

OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
_POLICY_KEYS = ("name", "description", "rules")
_RULE_KEYS = ("name", "metric", "statistic", "op", "threshold", "compare_to", "why")
_REQUIRED_RULE_KEYS = ("metric", "op", "threshold", "why")


class PolicyError(ValueError):
    """A policy is missing, not TOML, or has a bad key or value (named in the message)."""


@dataclass(frozen=True)
class Rule:
    """One rule: ``measured op threshold`` must hold.

    Attributes:
        name: Short name shown in tables ("mprt-changes-map").
        metric: Registry metric name ("mprt-cascading").
        statistic: "value" or one of the metric's declared ``statistics``.
        op: "<", "<=", ">" or ">=".
        threshold: The number compared against.
        why: The reasoning behind the rule, one sentence.
        compare_to: None, or a registered control method: measure the method minus it.
    """

    name: str
    metric: str
    statistic: str
    op: str
    threshold: float
    why: str
    compare_to: str | None = None

    def describe(self) -> str:
        """ "deletion.value - random < 0.0"."""
        left = f"{self.metric}.{self.statistic}" + (f" - {self.compare_to}" if self.compare_to else "")
        return f"{left} {self.op} {self.threshold:g}"


@dataclass(frozen=True)
class Policy:
    """A named list of rules.

    Attributes:
        name: Policy name (the ``policy`` of the gate cell key).
        rules: The rules, in file order.
        description: Free text.
        source: Where it was read from (a path, or "inline").
    """

    name: str
    rules: tuple[Rule, ...]
    description: str = ""
    source: str = "inline"

    @property
    def metrics(self) -> list[str]:
        """Registry names of the metrics the rules read, in rule order."""
        return list(dict.fromkeys(r.metric for r in self.rules))

    @property
    def control_metrics(self) -> list[str]:
        """Metrics that a control must also be measured on."""
        return list(dict.fromkeys(r.metric for r in self.rules if r.compare_to))

    @property
    def controls(self) -> list[str]:
        """The control methods the rules compare against."""
        return list(dict.fromkeys(r.compare_to for r in self.rules if r.compare_to))


def policies_dir() -> Path:
    """The directory of the policies packaged with the library."""
    return Path(__file__).resolve().parent.parent / "policies"


def list_policies() -> list[str]:
    """Names of the packaged policies."""
    return sorted(p.stem for p in policies_dir().glob("*.toml"))


def load_policy(name_or_path: str | Path) -> Policy:
    """Read a policy: a packaged name ("default") or a TOML file.

    Raises:
        PolicyError: no such file or packaged policy, invalid TOML, or a bad key or
            value; the message names the file and the key.
    """
    data, path = read_toml(name_or_path, policies_dir(), "policy", PolicyError)
    return parse_policy(data, source=str(path), default_name=path.stem)


def parse_policy(data: Mapping, *, source: str = "inline", default_name: str = "policy") -> Policy:
    """Build a :class:`Policy` from parsed TOML; every error names ``source`` and the key."""

    def fail(where: str, message: str):
        raise PolicyError(f"{source}: {where}: {message}")

    if not isinstance(data, Mapping):
        fail("policy", "must be a table")
    extra = [k for k in data if k not in _POLICY_KEYS]
    if extra:
        fail(f"key {extra[0]!r}", f"unknown key (expected {', '.join(_POLICY_KEYS)})")
    name = data.get("name", default_name)
    if not isinstance(name, str) or not name.strip():
        fail("key 'name'", "must be a non-empty string")
    description = data.get("description", "")
    if not isinstance(description, str):
        fail("key 'description'", "must be a string")
    raw_rules = data.get("rules")
    if not isinstance(raw_rules, list) or not raw_rules:
        fail("key 'rules'", "must be a non-empty array of tables ([[rules]])")
    rules, names = [], set()
    for i, raw in enumerate(raw_rules, start=1):
        where = f"rules[{i}]"
        if not isinstance(raw, Mapping):
            fail(where, "must be a table")
        extra = [k for k in raw if k not in _RULE_KEYS]
        if extra:
            fail(f"{where}: key {extra[0]!r}", f"unknown key (expected {', '.join(_RULE_KEYS)})")
        missing = [k for k in _REQUIRED_RULE_KEYS if k not in raw]
        if missing:
            fail(f"{where}: key {missing[0]!r}", "missing")
        try:
            metric = METRICS.canonical(raw["metric"]) if isinstance(raw["metric"], str) else None
        except ValueError as exc:
            fail(f"{where}: key 'metric'", str(exc))
        if metric is None:
            fail(f"{where}: key 'metric'", "must be a string")
        statistic = raw.get("statistic", "value")
        allowed = ("value", *METRICS.get(metric).statistics)
        if statistic not in allowed:
            fail(
                f"{where}: key 'statistic'",
                f"{statistic!r} is not a statistic of {metric} (choose from {', '.join(allowed)})",
            )
        op = raw["op"]
        if op not in OPS:
            fail(f"{where}: key 'op'", f"{op!r} is not one of {', '.join(OPS)}")
        threshold = raw["threshold"]
        if (
            isinstance(threshold, bool)
            or not isinstance(threshold, (int, float))
            or not math.isfinite(threshold)
        ):
            fail(f"{where}: key 'threshold'", f"must be a finite number, got {threshold!r}")
        compare_to = raw.get("compare_to")
        if compare_to is not None:
            from ..methods.base import method_names

            controls = method_names("control")
            if compare_to not in controls:
                fail(
                    f"{where}: key 'compare_to'",
                    f"{compare_to!r} is not a control method (choose from {', '.join(controls)})",
                )
        why = raw["why"]
        if not isinstance(why, str) or not why.strip():
            fail(f"{where}: key 'why'", "must be a non-empty string")
        rule_name = raw.get("name", f"{metric}.{statistic}" + (f"-vs-{compare_to}" if compare_to else ""))
        if not isinstance(rule_name, str) or not rule_name.strip():
            fail(f"{where}: key 'name'", "must be a non-empty string")
        if rule_name in names:
            fail(f"{where}: key 'name'", f"duplicate rule name {rule_name!r}")
        names.add(rule_name)
        rules.append(
            Rule(
                name=rule_name,
                metric=metric,
                statistic=statistic,
                op=op,
                threshold=float(threshold),
                why=" ".join(why.split()),
                compare_to=compare_to,
            )
        )
    return Policy(
        name=name.strip(), rules=tuple(rules), description=" ".join(description.split()), source=source
    )


@dataclass(frozen=True)
class RuleResult:
    """A rule as evaluated for one method.

    Attributes:
        rule: The rule.
        method: The method it was evaluated for.
        value: The measured number compared with the threshold (the difference to the
            control for ``compare_to`` rules); None when it could not be measured.
        method_value: The method's statistic.
        control_value: The control's statistic (``compare_to`` rules), else None.
        passed: Whether ``value op threshold`` holds (False when not measured).
        error: Why the rule could not be measured, else None.
    """

    rule: Rule
    method: str
    value: float | None
    method_value: float | None
    control_value: float | None
    passed: bool
    error: str | None = None

    def as_dict(self) -> dict:
        """The rule as stored in a ``gate`` cell (ARCHITECTURE.md field names first)."""
        r = self.rule
        return {
            "rule": r.name,
            "method": self.method,
            "metric": r.metric,
            "value": self.value,
            "op": r.op,
            "threshold": r.threshold,
            "passed": self.passed,
            "why": r.why,
            "statistic": r.statistic,
            "compare_to": r.compare_to,
            "method_value": self.method_value,
            "control_value": self.control_value,
            "error": self.error,
        }


@dataclass(frozen=True)
class GateResult:
    """The verdict of a policy for one method.

    Attributes:
        policy: Policy name.
        method: The method gated.
        passed: True when every rule holds.
        rules: One :class:`RuleResult` per rule, in policy order.
        model, data: Where the results came from (from the check results).
    """

    policy: str
    method: str
    passed: bool
    rules: list[RuleResult] = field(default_factory=list)
    model: str | None = None
    data: str | None = None

    @property
    def failed(self) -> list[RuleResult]:
        """Rules that were measured and do not hold."""
        return [r for r in self.rules if not r.passed and r.error is None]

    @property
    def errors(self) -> list[RuleResult]:
        """Rules that could not be measured."""
        return [r for r in self.rules if r.error is not None]

    @property
    def exit_code(self) -> int:
        """0 every rule holds, 2 some rule could not be measured, else 1."""
        return 0 if self.passed else (2 if self.errors else 1)

    def as_dict(self) -> dict:
        """``{passed, method, rules: [...]}``: the metrics of a ``gate`` cell."""
        return {"passed": self.passed, "method": self.method, "rules": [r.as_dict() for r in self.rules]}


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


def _measure(results, method, rule) -> tuple[float | None, str | None]:
    result = results.get((method, rule.metric))
    if result is None:
        return None, f"no {rule.metric} result for {method}"
    if not result.ok:
        return None, f"{rule.metric} failed for {method}: {result.reason}"
    try:
        value = result.statistic(rule.statistic)
    except KeyError as exc:
        return None, str(exc.args[0])
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None, f"{rule.metric}.{rule.statistic} of {method} is not a number: {value!r}"
    if not math.isfinite(value):
        return None, f"{rule.metric}.{rule.statistic} of {method} is {value}"
    return value, None


def evaluate_policy(
    policy: Policy, check_results: CheckReport | Iterable, *, method: str | None = None
) -> GateResult:
    """Evaluate every rule of ``policy`` for one method.

    Args:
        policy: The policy.
        check_results: A :class:`CheckReport`, or :class:`CheckResult` objects or
            stored ``check`` cells (for several methods: the gated one and the control).
        method: The method to gate; None means the only method in ``check_results``
            other than the rules' controls (or a control itself if it is alone).

    Returns:
        A :class:`GateResult`; ``passed`` only if every rule was measured and holds.

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
    out = []
    for rule in policy.rules:
        value, error = _measure(results, method, rule)
        method_value, control_value = value, None
        if error is None and rule.compare_to:
            control_value, error = _measure(results, rule.compare_to, rule)
            value = None if error else value - control_value
        if error is not None:
            value = None
        passed = error is None and bool(OPS[rule.op](value, rule.threshold))
        out.append(
            RuleResult(
                rule=rule,
                method=method,
                value=value,
                method_value=method_value,
                control_value=control_value,
                passed=passed,
                error=error,
            )
        )
    first = next(iter(results.values()), None)
    return GateResult(
        policy=policy.name,
        method=method,
        passed=all(r.passed for r in out),
        rules=out,
        model=first.model if first else None,
        data=first.data if first else None,
    )
