"""Gate policies: named lists of rules, read from TOML.

A policy is a TOML file with a ``name``, an optional ``description`` and a list of
``[[rules]]``. Each rule reads one statistic of one metric's check result (the mean over
images) and compares it with a threshold::

    [[rules]]
    name = "deletion-beats-random"   # optional; default "<metric>.<statistic>"
    metric = "deletion"              # a registered metric name or alias
    statistic = "value"              # "value" (default) or one of the metric's declared statistics
    compare_to = "random"            # optional: a control method; the rule reads the difference
    op = "<"                         # "<", "<=", ">", ">="
    threshold = 0.0
    why = "Petsiuk et al. 2018: a useful map must beat a random ordering."

A policy may also require the precision its evidence was computed in: with
``precision = "float32"`` a rule whose check result (or control) was computed in mixed
bfloat16/float16 is not decided (an error naming both), so a deployment gate cannot be
met by low-precision maps or scores.

How a rule is decided, with its confidence interval, is in :mod:`saliency_core.checks.gate`.
The packaged ``default`` policy (``saliency_core/policies/default.toml``) gives its
reasoning in its comments.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, NoReturn

from ..metrics.base import METRICS
from ..toml_files import read_toml

__all__ = [
    "OPS",
    "PolicyError",
    "Rule",
    "Policy",
    "policies_dir",
    "list_policies",
    "load_policy",
    "parse_policy",
]

OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
_POLICY_KEYS = ("name", "description", "rules", "precision")
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
        precision: None (any), or the precision every result the rules read must have
            been computed in ("float32" for a gate that low precision cannot meet).
    """

    name: str
    rules: tuple[Rule, ...]
    description: str = ""
    source: str = "inline"
    precision: str | None = None

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

    def fail(where: str, message: str) -> NoReturn:
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
    precision = data.get("precision")
    if precision is not None:
        from ..gradients import PRECISIONS

        if precision not in PRECISIONS:
            fail("key 'precision'", f"{precision!r} is not one of {', '.join(PRECISIONS)}")
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
        name=name.strip(),
        rules=tuple(rules),
        description=" ".join(description.split()),
        source=source,
        precision=precision,
    )
