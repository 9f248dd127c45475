"""Three-way verdicts: the full truth table of operator x interval position, the closed
and open boundaries, and degenerate intervals that must never pass."""

from __future__ import annotations

from typing import get_args

import numpy as np
import pytest

from saliency_core.stats import (
    OPS,
    Decision,
    Interval,
    Verdict,
    bootstrap_interval,
    decide,
    paired_difference_interval,
    verdict,
)


def interval(low, high, *, degenerate=False, note=""):
    return Interval(
        estimate=(low + high) / 2,
        low=low,
        high=high,
        confidence=0.95,
        method="bca",
        n_resamples=2000,
        n=30,
        seed=0,
        degenerate=degenerate,
        note=note,
    )


# Intervals relative to the threshold 0: wholly below, straddling, wholly above, and the
# three that touch it (upper end at 0, lower end at 0, a zero-width interval at 0).
POSITIONS = {
    "below": (-2.0, -1.0),
    "straddle": (-1.0, 1.0),
    "above": (1.0, 2.0),
    "ends_at": (-1.0, 0.0),
    "starts_at": (0.0, 1.0),
    "point_at": (0.0, 0.0),
}
P, F, INC = "pass", "fail", "inconclusive"
TRUTH = {  # op -> verdict per position, in POSITIONS order
    "<": (P, INC, F, INC, F, F),
    "<=": (P, INC, F, P, INC, P),
    ">": (F, INC, P, F, INC, F),
    ">=": (F, INC, P, INC, P, P),
}


@pytest.mark.parametrize("op", list(TRUTH))
def test_truth_table_for_every_operator_and_interval_position(op):
    for (position, (low, high)), expected in zip(POSITIONS.items(), TRUTH[op]):
        decision = decide(interval(low, high), op, 0.0)
        assert decision.verdict == expected, (op, position, decision)
        assert verdict(interval(low, high), op, 0.0) == expected
        assert f"{op} 0" in decision.reason


def test_truth_table_follows_a_shifted_threshold():
    # The same table with the threshold and the intervals moved by 0.25.
    for op, row in TRUTH.items():
        for (low, high), expected in zip(POSITIONS.values(), row):
            assert verdict(interval(low + 0.25, high + 0.25), op, 0.25) == expected


def test_vocabularies_are_literal_types():
    assert OPS == ("<", "<=", ">", ">=")
    assert set(get_args(Verdict)) == {P, F, INC}


@pytest.mark.parametrize("values", [np.zeros(10), np.full(10, -0.3), np.array([0.7])])
def test_degenerate_intervals_are_inconclusive_for_every_rule(values):
    iv = bootstrap_interval(values, seed=0)
    assert iv.degenerate
    for op in OPS:
        for threshold in (-1.0, float(values[0]), 1.0):  # would otherwise pass on one side
            decision = decide(iv, op, threshold)
            assert decision.verdict == INC, (op, threshold)
            assert "degenerate" in decision.reason and iv.note in decision.reason


def test_a_method_identical_to_its_control_never_passes():
    scores = np.random.default_rng(0).random(15)
    iv = paired_difference_interval(scores, scores, seed=0)
    assert verdict(iv, "<=", 0.0) == INC and verdict(iv, ">=", 0.0) == INC


def test_non_finite_interval_ends_are_inconclusive():
    for low, high in ((np.nan, 1.0), (-np.inf, -1.0), (1.0, np.inf)):
        decision = decide(interval(low, high), ">", 0.0)
        assert decision == Decision(INC, decision.reason) and "non-finite" in decision.reason


def test_bad_rules_are_errors_naming_the_option():
    with pytest.raises(ValueError, match="op must be one of"):
        decide(interval(0.0, 1.0), "==", 0.0)
    with pytest.raises(ValueError, match="threshold must be a finite number"):
        decide(interval(0.0, 1.0), "<", float("nan"))
    with pytest.raises(ValueError, match="low 2 is above high 1"):
        decide(interval(2.0, 1.0), "<", 0.0)
