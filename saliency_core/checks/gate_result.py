"""What the gate decides: a policy rule's verdict for one method (:class:`RuleResult`),
the policy's (:class:`GateResult`, the worst of its rules) and the exit codes.

Verdicts: pass, fail, inconclusive, error (how each is reached:
:mod:`saliency_core.checks.gate`); exit codes 0 pass, 1 fail, 3 inconclusive, 2 error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from .policy import Rule

__all__ = ["EXIT_CODES", "GateResult", "RuleResult", "RuleVerdict"]

RuleVerdict = Literal["pass", "fail", "inconclusive", "error"]
EXIT_CODES: dict[str, int] = {"pass": 0, "fail": 1, "error": 2, "inconclusive": 3}


@dataclass(frozen=True)
class RuleResult:
    """A rule as decided for one method.

    Attributes:
        rule: The rule.
        method: The method it was decided for.
        verdict: "pass", "fail", "inconclusive" or "error".
        value: The measured mean (the mean difference to the control for
            ``compare_to`` rules); None when not measured.
        interval: ``{low, high, confidence, method, n_resamples, n}`` of ``value``, or None.
        method_value: The method's statistic.
        control_value: The control's statistic (``compare_to`` rules), else None.
        control_spread: The control's spread over its random orderings
            (``{k, mean, std, low, high}``), or None.
        reason: Why this verdict (for an error: what could not be measured).
        images_needed: For an inconclusive rule, about how many images would decide it.
    """

    rule: Rule
    method: str
    verdict: RuleVerdict
    value: float | None
    interval: dict | None
    method_value: float | None
    control_value: float | None
    control_spread: dict | None
    reason: str
    images_needed: int | None = None

    @property
    def passed(self) -> bool:
        return self.verdict == "pass"

    @property
    def error(self) -> str | None:
        return self.reason if self.verdict == "error" else None

    def as_dict(self) -> dict:
        """The rule as stored in a ``gate`` cell and written by ``gate --json``."""
        r = self.rule
        return {
            "rule": r.name,
            "method": self.method,
            "metric": r.metric,
            "statistic": r.statistic,
            "compare_to": r.compare_to,
            "op": r.op,
            "threshold": r.threshold,
            "verdict": self.verdict,
            "passed": self.passed,
            "value": self.value,
            "interval": self.interval,
            "method_value": self.method_value,
            "control_value": self.control_value,
            "control_spread": self.control_spread,
            "reason": self.reason,
            "images_needed": self.images_needed,
            "why": r.why,
            "error": self.error,
        }


@dataclass(frozen=True)
class GateResult:
    """The verdict of a policy for one method.

    Attributes:
        policy: Policy name.
        method: The method gated.
        verdict: The worst rule verdict (error > fail > inconclusive > pass).
        rules: One :class:`RuleResult` per rule, in policy order.
        model, data: Where the results came from.
    """

    policy: str
    method: str
    verdict: RuleVerdict
    rules: list[RuleResult] = field(default_factory=list)
    model: str | None = None
    data: str | None = None

    @property
    def passed(self) -> bool:
        return self.verdict == "pass"

    @property
    def failed(self) -> list[RuleResult]:
        return [r for r in self.rules if r.verdict == "fail"]

    @property
    def inconclusive(self) -> list[RuleResult]:
        return [r for r in self.rules if r.verdict == "inconclusive"]

    @property
    def errors(self) -> list[RuleResult]:
        return [r for r in self.rules if r.verdict == "error"]

    @property
    def exit_code(self) -> int:
        """0 pass, 1 fail, 3 inconclusive, 2 some rule could not be measured."""
        return EXIT_CODES[self.verdict]

    def as_dict(self) -> dict:
        """``{verdict, passed, method, rules: [...]}``: the metrics of a ``gate`` cell."""
        return {
            "verdict": self.verdict,
            "passed": self.passed,
            "method": self.method,
            "exit_code": self.exit_code,
            "rules": [r.as_dict() for r in self.rules],
        }
