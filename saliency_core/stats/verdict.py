"""Three-way verdict of a rule ``statistic op threshold`` from a confidence interval.

A point estimate alone cannot tell "the method beats the control" from "this set of
images happened to favour it". With an interval ``[low, high]`` (a closed set):

* ``"pass"``: every value in the interval satisfies ``value op threshold``;
* ``"fail"``: every value in the interval violates it;
* ``"inconclusive"``: the interval holds values on both sides, so the data do not
  decide at this confidence (more images may; see :func:`images_needed`).

Boundaries follow the operator: for ``"<"`` an interval whose upper end equals the
threshold does not pass (the end itself violates ``<``), for ``"<="`` it does.

A degenerate interval (one image, all values equal, e.g. all-zero maps giving
identical scores) is never a pass, nor a fail: a point says nothing about how the
statistic varies over images, and constant scores usually mean the metric measured
nothing. Its verdict is ``"inconclusive"`` with the reason stated. An interval with
a non-finite end is inconclusive too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, get_args

from .bootstrap import Interval

__all__ = ["OPS", "Decision", "Op", "Verdict", "decide", "verdict"]

Verdict = Literal["pass", "fail", "inconclusive"]
Op = Literal["<", "<=", ">", ">="]
OPS: tuple[Op, ...] = get_args(Op)


@dataclass(frozen=True)
class Decision:
    """A verdict and the reason for it, one sentence for reports.

    Attributes:
        verdict: ``"pass"``, ``"fail"`` or ``"inconclusive"``.
        reason: Why, naming the interval and the rule.
    """

    verdict: Verdict
    reason: str


def decide(interval: Interval, op: Op, threshold: float) -> Decision:
    """The :class:`Decision` for the rule ``statistic op threshold`` on ``interval``.

    Args:
        interval: Confidence interval of the statistic (its ``low``, ``high``,
            ``confidence`` and ``degenerate`` are read).
        op: ``"<"``, ``"<="``, ``">"`` or ``">="``.
        threshold: Finite number in the units of the interval.

    Raises:
        ValueError: An unknown ``op``, a non-finite ``threshold``, or ``low > high``.
    """
    if op not in OPS:
        raise ValueError(f"op must be one of {OPS}, got {op!r}")
    threshold = float(threshold)
    if not math.isfinite(threshold):
        raise ValueError(f"threshold must be a finite number, got {threshold}")
    low, high = float(interval.low), float(interval.high)
    rule = f"{op} {threshold:g}"
    if not (math.isfinite(low) and math.isfinite(high)):
        return Decision(
            "inconclusive", f"interval [{low:g}, {high:g}] has a non-finite end; cannot test {rule}"
        )
    if low > high:
        raise ValueError(f"interval low {low:g} is above high {high:g}")
    if interval.degenerate:
        why = f" ({interval.note})" if interval.note else ""
        return Decision(
            "inconclusive",
            f"degenerate interval at {low:g}{why}: a point gives "
            f"no evidence about the spread over images, so "
            f"{rule} is neither passed nor failed",
        )

    shown = f"{interval.confidence:.0%} interval [{low:g}, {high:g}]"
    holds_everywhere, fails_everywhere = {
        "<": (high < threshold, low >= threshold),
        "<=": (high <= threshold, low > threshold),
        ">": (low > threshold, high <= threshold),
        ">=": (low >= threshold, high < threshold),
    }[op]
    if holds_everywhere:
        return Decision("pass", f"the whole {shown} is {rule}")
    if fails_everywhere:
        return Decision("fail", f"no value in the {shown} is {rule}")
    return Decision(
        "inconclusive", f"the {shown} has values on both sides of {rule}; more images may decide it"
    )


def verdict(interval: Interval, op: Op, threshold: float) -> Verdict:
    """``"pass"``, ``"fail"`` or ``"inconclusive"``: :func:`decide` without the reason."""
    return decide(interval, op, threshold).verdict
