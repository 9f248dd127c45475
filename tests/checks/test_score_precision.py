"""Low-precision scoring of deletion's and insertion's perturbed images: which images
are checked in float32 (by content, not position), the judgement against the AUC's
interval, and a real check on a tiny CNN scored in bfloat16 (its float32 reference
equals a float32 run's areas; chunking changes nothing; an unchecked run cannot be
gated)."""

from __future__ import annotations

import numpy as np
import pytest

from saliency_core.checks import run_checks
from saliency_core.checks.gate import evaluate_policy
from saliency_core.checks.policy import parse_policy
from saliency_core.checks.score_precision import MIN_CHECKED, checked_images, judge_scoring
from saliency_core.checks.settings import CheckSettings, with_curve_steps
from tests.tiny import tiny_cnn


def test_the_checked_images_follow_their_content_not_their_position():
    images = np.random.default_rng(0).uniform(0, 255, (400, 4, 4, 3)).astype(np.float32)
    chosen = checked_images(7, images, 4)
    order = np.random.default_rng(1).permutation(len(images))
    assert np.array_equal(checked_images(7, images[order], 4), chosen[order])
    assert 60 <= chosen.sum() <= 140  # about one in 4 (binomial: 100 +- 8.7)
    assert checked_images(7, images, 1).all()
    assert not np.array_equal(checked_images(8, images, 4), chosen)  # another run seed, another draw
    with pytest.raises(ValueError, match="score_check_every must be >= 1"):
        checked_images(7, images, 0)


def judge(per_image, reference, half_width):
    interval = {"low": 0.5 - half_width, "high": 0.5 + half_width}
    return judge_scoring(
        per_image, reference, interval, precision="bfloat16", seed=0, confidence=0.95, resamples=2000
    )


def test_a_change_within_the_interval_is_accepted_and_one_beyond_it_is_not():
    rng = np.random.default_rng(0)
    reference = rng.uniform(0.2, 0.8, 32)
    reference[::3] = np.nan  # not checked (a stored NaN reads back as None)
    stored = [None if np.isnan(v) else v for v in reference]
    small = reference + rng.normal(0.0, 1e-3, 32)
    small[np.isnan(small)] = 0.5
    record, warning = judge(small, stored, half_width=0.05)
    checked = ~np.isnan(reference)
    assert warning is None and record["accepted"] and record["checked_images"] == checked.sum()
    assert record["change"] == pytest.approx(np.mean(small[checked] - reference[checked]), abs=1e-12)
    assert record["change_low"] <= record["change"] <= record["change_high"]
    assert record["largest_change"] <= 0.05

    shifted = small + 0.08  # every checked image's area moved by 0.08 > the half-width
    record, warning = judge(shifted, stored, half_width=0.05)
    assert not record["accepted"]
    assert record["change"] == pytest.approx(0.08 + np.mean(small[checked] - reference[checked]))
    assert "bfloat16 scoring moved the AUC by +0.08" in warning
    assert "rerun with score precision float32" in warning


def test_too_few_checked_images_or_no_interval_leave_the_scoring_unchecked():
    reference = np.full(10, np.nan)
    reference[3] = 0.4
    record, warning = judge(np.full(10, 0.4), reference, half_width=1.0)
    assert not record["accepted"] and record["checked_images"] == 1 < MIN_CHECKED
    assert "bfloat16 scoring unchecked: 1 image(s)" in warning
    record, warning = judge_scoring(
        np.full(4, 0.4), np.full(4, 0.41), None, precision="float16", seed=0, confidence=0.95, resamples=2000
    )
    assert not record["accepted"] and "no interval" in warning


# --- a real check ---------------------------------------------------------------------
N_IMAGES = 12


@pytest.fixture(scope="module")
def tiny():
    return tiny_cnn(filters=6)


def images():
    return np.random.default_rng(0).uniform(0, 1, (N_IMAGES, 16, 16, 3)).astype(np.float32)


def check(model, *, chunk_images=N_IMAGES, batch_size=4, **settings):
    base = with_curve_steps(CheckSettings(**{"chance_orderings": 1, **settings}), (16, 16, 3), 16)
    return run_checks(
        model,
        images(),
        methods=["gradient", "random"],
        metrics=["deletion", "insertion"],
        seed=0,
        data_name="d",
        variant="function",
        batch_size=batch_size,
        chunk_images=chunk_images,
        settings=base,
    )


def values(report):
    return {(r.method, r.metric): np.asarray(r.per_image, np.float64) for r in report.results}


@pytest.fixture(scope="module")
def float32_runs(tiny):
    """A float32-scored check, and its rounding floor: 10x its largest per-image
    difference from the same check at batch size 1 (another chunking of the same sums)."""
    scored = values(check(tiny))
    other = values(check(tiny, batch_size=1))
    floor = max(1e-6, 10 * max(np.abs(scored[k] - other[k]).max() for k in scored))
    return scored, floor


def test_bfloat16_scoring_is_checked_against_float32_scoring_of_the_same_images(tiny, float32_runs):
    float32, floor = float32_runs
    report = check(tiny, score_precision="bfloat16", score_check_every=1)
    low = values(report)
    for r in report.results:
        judged = r.config["score_check"]
        assert r.config["score_precision"] == "bfloat16"
        assert judged["checked_images"] == N_IMAGES and judged["precision"] == "bfloat16"
        change = low[(r.method, r.metric)] - float32[(r.method, r.metric)]
        # the float32 reference scored inside the run is the float32 run's area
        assert abs(judged["change"] - change.mean()) <= floor, (r.method, r.metric)
        assert judged["max_abs_change"] == pytest.approx(np.abs(change).max(), abs=floor)
        assert judged["accepted"] == (judged["largest_change"] <= judged["auc_half_width"])
        assert judged["accepted"] == (not any("scoring" in w for w in r.warnings))
    # bfloat16 did score the perturbed images (float32 scoring would be within the floor)
    assert max(np.abs(low[k] - float32[k]).max() for k in low) > floor


def test_bfloat16_scoring_does_not_depend_on_the_chunking(tiny, float32_runs):
    _, floor = float32_runs
    whole = check(tiny, score_precision="bfloat16", score_check_every=2)
    chunked = check(tiny, score_precision="bfloat16", score_check_every=2, chunk_images=5)
    for a, b in zip(whole.results, chunked.results):
        assert np.abs(np.asarray(a.per_image) - np.asarray(b.per_image)).max() <= floor
        assert a.config["score_check"]["checked_images"] == b.config["score_check"]["checked_images"]
        assert a.config["score_check"]["change"] == pytest.approx(
            b.config["score_check"]["change"], abs=floor
        )


def test_an_unchecked_low_precision_scoring_cannot_pass_a_gate(tiny):
    report = check(tiny, score_precision="bfloat16", score_check_every=2**62)  # checks no image
    deletion = report.get("gradient", "deletion")
    assert deletion.config["score_check"]["checked_images"] == 0
    assert any("bfloat16 scoring unchecked: 0 image(s)" in w for w in deletion.warnings)
    policy = parse_policy(
        {
            "name": "t",
            "rules": [
                {"metric": "deletion", "op": "<", "threshold": 10.0, "why": "any area passes"},
            ],
        }
    )
    gate = evaluate_policy(policy, report.results, method="gradient")
    assert gate.rules[0].verdict == "inconclusive" and "scoring unchecked" in gate.rules[0].reason


def test_the_chance_baseline_is_judged_against_its_float32_orderings_averaged(tiny, float32_runs):
    """The random control's value is the mean over its orderings; its float32 reference
    must be averaged over the same orderings (not the first one's alone)."""
    _, floor = float32_runs
    float32 = values(check(tiny, chance_orderings=3))
    report = check(tiny, chance_orderings=3, score_precision="bfloat16", score_check_every=1)
    for r in report.results:
        change = np.asarray(r.per_image) - float32[(r.method, r.metric)]
        assert abs(r.config["score_check"]["change"] - change.mean()) <= floor, (r.method, r.metric)
