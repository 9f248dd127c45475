"""Gate policies: parsing with errors that name the file and the key, and three-way rule
verdicts with intervals on hand-made check results (no model, no TensorFlow)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from saliency_core.checks.gate import evaluate_policy
from saliency_core.checks.policy import PolicyError, list_policies, load_policy, parse_policy
from saliency_core.checks.results import CheckReport, CheckResult


N = 24


def per_image(mean, spread=0.01, seed=0, n=N):
    """``n`` per-image values with the given mean (exactly) and spread."""
    noise = np.random.default_rng(seed).normal(size=n)
    return list(mean + spread * (noise - noise.mean()) / noise.std())


def result(
    method,
    metric,
    value,
    *,
    direction="lower",
    statistics=None,
    status="ok",
    reason=None,
    spread=0.01,
    seed=0,
    warnings=(),
    orderings=None,
):
    """A check result whose per-image values (and per-image statistics) have the given means."""
    stats = statistics or {}
    values = per_image(value, spread, seed) if value is not None and status == "ok" else []
    return CheckResult(
        model="m",
        data="d",
        method=method,
        metric=metric,
        status=status,
        value=value,
        direction=direction,
        statistics=dict(stats),
        reason=reason,
        per_image=values,
        warnings=list(warnings),
        per_ordering=orderings,
        per_image_statistics={k: per_image(v, spread, seed + 1) for k, v in stats.items() if v == v},
    )


def rule(**fields):
    return {"metric": "deletion", "op": "<", "threshold": 0.0, "why": "because", **fields}


# --- parsing ------------------------------------------------------------------------------


def test_default_policy_is_packaged_and_reads_the_four_default_metrics():
    assert "default" in list_policies()
    policy = load_policy("default")
    assert policy.name == "default"
    assert policy.metrics == ["mprt-cascading", "random-logit", "deletion", "insertion"]
    assert policy.control_metrics == ["deletion", "insertion"]
    assert all(r.why and len(r.why) > 40 for r in policy.rules)  # reasoning, not a label
    by_name = {r.name: r for r in policy.rules}
    assert by_name["mprt-map-changes"].statistic == "last_step_spearman_abs"
    deletion, insertion = by_name["deletion-beats-random"], by_name["insertion-beats-random"]
    assert (deletion.op, deletion.compare_to) == ("<", "random")
    assert (insertion.op, insertion.compare_to) == (">", "random")


def test_cli_metric_names_are_normalised_and_rules_get_default_names():
    policy = parse_policy(
        {"rules": [rule(metric="mprt", statistic="last_step_ssim"), rule(compare_to="random")]}
    )
    assert [r.metric for r in policy.rules] == ["mprt-cascading", "deletion"]
    assert [r.name for r in policy.rules] == ["mprt-cascading.last_step_ssim", "deletion.value-vs-random"]
    assert policy.rules[1].describe() == "deletion.value - random < 0"


@pytest.mark.parametrize(
    "data, message",
    [
        ({"rules": [rule()], "nmae": "x"}, "key 'nmae': unknown key"),
        ({"rules": []}, "key 'rules'"),
        ({"rules": [rule(thresold=1.0)]}, "rules[1]: key 'thresold': unknown key"),
        ({"rules": [{"metric": "deletion", "op": "<", "why": "w"}]}, "rules[1]: key 'threshold': missing"),
        ({"rules": [rule(), rule(metric="delition")]}, "rules[2]: key 'metric': unknown metric 'delition'"),
        ({"rules": [rule(op="=<")]}, "rules[1]: key 'op': '=<' is not one of"),
        ({"rules": [rule(threshold="0.5")]}, "rules[1]: key 'threshold': must be a finite number"),
        ({"rules": [rule(threshold=True)]}, "key 'threshold'"),
        (
            {"rules": [rule(statistic="last_step_spearman_abs")]},
            "key 'statistic': 'last_step_spearman_abs' is not a statistic of deletion",
        ),
        ({"rules": [rule(compare_to="gradient")]}, "key 'compare_to': 'gradient' is not a control method"),
        ({"rules": [rule(why=" ")]}, "key 'why': must be a non-empty string"),
        ({"rules": [rule(), rule()]}, "rules[2]: key 'name': duplicate rule name"),
    ],
)
def test_malformed_policy_names_the_source_and_the_key(data, message):
    with pytest.raises(PolicyError) as info:
        parse_policy(data, source="p.toml")
    assert str(info.value).startswith("p.toml: ") and message in str(info.value)


def test_policy_files_invalid_toml_and_missing(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[[rules]\nmetric = 1\n")
    with pytest.raises(PolicyError, match=f"{bad}: not valid TOML"):
        load_policy(bad)
    with pytest.raises(PolicyError, match="no policy 'nonesuch'.*default"):
        load_policy("nonesuch")
    good = tmp_path / "mine.toml"
    good.write_text('[[rules]]\nmetric = "insertion"\nop = ">="\nthreshold = 0.5\nwhy = "w"\n')
    policy = load_policy(good)
    assert policy.name == "mine" and policy.source == str(good)


# --- evaluation ---------------------------------------------------------------------------


def two_rule_policy():
    return parse_policy(
        {
            "name": "p",
            "rules": [
                rule(
                    name="mprt",
                    metric="mprt-cascading",
                    statistic="last_step_spearman_abs",
                    op="<",
                    threshold=0.5,
                ),
                rule(name="del", metric="deletion", compare_to="random", op="<", threshold=0.0),
            ],
        }
    )


def test_a_method_that_meets_every_rule_passes():
    results = [
        result("gradient", "mprt-cascading", 0.1, statistics={"last_step_spearman_abs": 0.1}),
        result("gradient", "deletion", 0.10, seed=3),
        result("random", "deletion", 0.15, seed=4),
    ]
    gate = evaluate_policy(two_rule_policy(), results, method="gradient")
    assert gate.verdict == "pass" and gate.passed and gate.exit_code == 0
    assert [r.verdict for r in gate.rules] == ["pass", "pass"]
    deletion = gate.rules[1]
    assert deletion.method_value == pytest.approx(0.10) and deletion.control_value == pytest.approx(0.15)
    assert deletion.value == pytest.approx(-0.05)
    assert deletion.interval["low"] < -0.05 < deletion.interval["high"] < 0.0
    assert deletion.interval["n"] == N and deletion.interval["n_resamples"] >= 2000


def test_each_rule_fails_when_its_whole_interval_is_on_the_wrong_side():
    results = [
        result("gradient", "mprt-cascading", 0.7, statistics={"last_step_spearman_abs": 0.7}),
        result("gradient", "deletion", 0.12, seed=3),
        result("random", "deletion", 0.09, seed=4),
    ]
    gate = evaluate_policy(two_rule_policy(), results, method="gradient")
    assert gate.verdict == "fail" and gate.exit_code == 1
    assert [r.rule.name for r in gate.failed] == ["mprt", "del"]
    assert gate.rules[1].value == pytest.approx(0.03)  # 0.12 - 0.09, not 0.12 < 0
    assert gate.rules[1].interval["low"] > 0


def test_an_interval_across_the_threshold_is_inconclusive_with_the_images_needed():
    """Method and control differ by 0.005 with per-image spread 0.05: undecided at 24 images;
    the estimate of the images needed is (z * sd / effect)^2, larger than 24."""
    results = [
        result("gradient", "mprt-cascading", 0.1, statistics={"last_step_spearman_abs": 0.1}),
        result("gradient", "deletion", 0.145, spread=0.05, seed=3),
        result("random", "deletion", 0.150, spread=0.05, seed=4),
    ]
    gate = evaluate_policy(two_rule_policy(), results, method="gradient")
    rule = gate.rules[1]
    assert rule.verdict == "inconclusive" and gate.verdict == "inconclusive" and gate.exit_code == 3
    assert rule.interval["low"] < 0 < rule.interval["high"]
    diffs = np.subtract(results[1].per_image, results[2].per_image)
    expected = (1.959964 * diffs.std(ddof=1) / abs(diffs.mean())) ** 2
    assert rule.images_needed == int(np.ceil(expected)) and rule.images_needed > N


def test_the_control_is_averaged_over_its_orderings_and_their_spread_reported():
    orderings = [per_image(0.15 + 0.004 * k, 0.01, seed=10 + k) for k in range(8)]
    control = result("random", "deletion", float(np.mean(orderings)), orderings=orderings)
    control.per_image = list(np.mean(orderings, axis=0))
    results = [
        result("gradient", "mprt-cascading", 0.1, statistics={"last_step_spearman_abs": 0.1}),
        result("gradient", "deletion", 0.10, seed=3),
        control,
    ]
    rule = evaluate_policy(two_rule_policy(), results, method="gradient").rules[1]
    means = np.mean(orderings, axis=1)
    assert rule.control_spread["k"] == 8
    assert rule.control_spread["low"] == pytest.approx(means.min())
    assert rule.control_spread["high"] == pytest.approx(means.max())
    assert rule.value == pytest.approx(0.10 - np.mean(orderings))


def test_equal_values_on_every_image_are_decided_on_that_value():
    """The random control against itself: a difference of exactly 0 on every image fails
    '< 0' with no uncertainty (a collapsed interval from many images is not a guess)."""
    results = [
        result("random", "mprt-cascading", 1.0, statistics={"last_step_spearman_abs": 1.0}, spread=0.0),
        result("random", "deletion", 0.09),
    ]
    gate = evaluate_policy(two_rule_policy(), results)  # the only method: the control itself
    assert gate.method == "random" and gate.verdict == "fail" and gate.exit_code == 1
    assert [r.verdict for r in gate.rules] == ["fail", "fail"]
    assert gate.rules[1].value == 0.0 and "no spread" in gate.rules[1].reason


@pytest.mark.parametrize(
    "warning",
    [
        "3 of 24 maps are constant (they rank no pixel)",
        "the explained class scores below 0.001 on 20 of 24 clean images",
    ],
)
def test_degenerate_inputs_never_pass(warning):
    results = [
        result(
            "gradient", "mprt-cascading", 0.1, statistics={"last_step_spearman_abs": 0.1}, warnings=[warning]
        ),
        result("gradient", "deletion", 0.10, seed=3, warnings=[warning]),
        result("random", "deletion", 0.15, seed=4),
    ]
    gate = evaluate_policy(two_rule_policy(), results, method="gradient")
    assert [r.verdict for r in gate.rules] == ["inconclusive", "inconclusive"]
    assert all(warning in r.reason for r in gate.rules) and gate.exit_code == 3


def test_non_finite_or_single_image_values_are_not_decided():
    nonfinite = result("gradient", "deletion", 0.10, seed=3)
    nonfinite.per_image[2] = float("nan")
    results = [
        result("gradient", "mprt-cascading", 0.1, statistics={"last_step_spearman_abs": 0.1}),
        nonfinite,
        result("random", "deletion", 0.15, seed=4),
    ]
    rule = evaluate_policy(two_rule_policy(), results, method="gradient").rules[1]
    assert rule.verdict == "inconclusive" and "not finite" in rule.reason
    one = [
        result("gradient", "mprt-cascading", 0.1, statistics={"last_step_spearman_abs": 0.1}),
        result("gradient", "deletion", 0.10),
        result("random", "deletion", 0.15),
    ]
    for r in one:
        r.per_image = r.per_image[:1]
        r.per_image_statistics = {k: v[:1] for k, v in r.per_image_statistics.items()}
    assert {r.verdict for r in evaluate_policy(two_rule_policy(), one, method="gradient").rules} == {
        "inconclusive"
    }


def test_unmeasurable_rules_are_errors_not_passes():
    results = [
        result("gradient", "mprt-cascading", None, status="failed", reason="OOM"),
        result("gradient", "deletion", 0.1),
    ]  # no random control
    gate = evaluate_policy(two_rule_policy(), results, method="gradient")
    assert gate.verdict == "error" and gate.exit_code == 2 and not gate.failed
    assert "failed for gradient: OOM" in gate.rules[0].error
    assert "no deletion result for random" in gate.rules[1].error
    nan = [
        result("gradient", "mprt-cascading", 0.1, statistics={"last_step_spearman_abs": float("nan")}),
        result("gradient", "deletion", 0.1),
        result("random", "deletion", 0.2),
    ]
    gate = evaluate_policy(two_rule_policy(), nan, method="gradient")
    assert gate.exit_code == 2 and "nan" in gate.rules[0].error


def test_evaluate_reads_reports_and_stored_cells(tmp_path):
    from saliency_core.store import ResultStore

    results = [
        result("gradient", "mprt-cascading", 0.1, statistics={"last_step_spearman_abs": 0.1}),
        result("gradient", "deletion", 0.10, seed=3),
        result("random", "deletion", 0.15, seed=4),
    ]
    report = CheckReport(model="m", data="d", seed=0, results=results)
    assert evaluate_policy(two_rule_policy(), report, method="gradient").passed
    with ResultStore(tmp_path / "s.sqlite") as store:
        run = store.start_run("check", metadata={})
        for r in results:
            store.record_cell(run, "check", r.key, metrics=r.stored())
        gate = evaluate_policy(two_rule_policy(), store.cells(run), method="gradient")
    assert gate.passed and gate.rules[1].control_value == pytest.approx(0.15)
    with pytest.raises(ValueError, match="say which one"):
        evaluate_policy(two_rule_policy(), results + [result("edge", "deletion", 0.1)])


def test_gate_cell_metrics_follow_the_convention():
    results = [
        result("gradient", "mprt-cascading", 0.1, statistics={"last_step_spearman_abs": 0.1}),
        result("gradient", "deletion", 0.2, seed=3),
        result("random", "deletion", 0.15, seed=4),
    ]
    doc = evaluate_policy(two_rule_policy(), results, method="gradient").as_dict()
    assert doc["passed"] is False and doc["verdict"] == "fail" and doc["exit_code"] == 1
    for r in doc["rules"]:
        assert {
            "rule",
            "method",
            "metric",
            "statistic",
            "value",
            "interval",
            "op",
            "threshold",
            "verdict",
            "passed",
            "images_needed",
            "reason",
            "why",
        } <= set(r)
    assert doc["rules"][1]["verdict"] == "fail" and doc["rules"][1]["why"] == "because"


def test_a_policy_can_require_the_precision_of_its_evidence():
    def computed_in(precision, *args, **kwargs):
        r = result(*args, **kwargs)
        return dataclasses.replace(r, config={"run": {"precision": precision}})

    strict = dataclasses.replace(two_rule_policy(), precision="float32")
    low = [
        computed_in(
            "bfloat16", "gradient", "mprt-cascading", 0.1, statistics={"last_step_spearman_abs": 0.1}
        ),
        computed_in("float32", "gradient", "deletion", 0.10, seed=3),
        computed_in("bfloat16", "random", "deletion", 0.15, seed=4),
    ]
    gate = evaluate_policy(strict, low, method="gradient")
    assert [r.verdict for r in gate.rules] == ["error", "error"] and gate.exit_code == 2
    assert (
        "mprt-cascading of gradient was computed in bfloat16; the policy requires float32"
        in gate.rules[0].reason
    )
    assert "deletion of random was computed in bfloat16" in gate.rules[1].reason  # the control counts too
    # the same evidence without the requirement is decided; float32 evidence meets it
    assert evaluate_policy(two_rule_policy(), low, method="gradient").verdict == "pass"
    f32 = [dataclasses.replace(r, config={"run": {"precision": "float32"}}) for r in low]
    assert evaluate_policy(strict, f32, method="gradient").verdict == "pass"
    # results stored before the precision axis carry no precision: they were float32
    assert evaluate_policy(strict, [dataclasses.replace(r, config={}) for r in low], method="gradient").passed


def test_a_policy_precision_must_be_a_known_one():
    with pytest.raises(PolicyError, match=r"inline: key 'precision': 'float8' is not one of float32"):
        parse_policy({"precision": "float8", "rules": [rule()]})


def test_a_float32_policy_refuses_evidence_whose_perturbed_images_were_scored_low():
    def scored(score_precision, *args, **kwargs):
        r = result(*args, **kwargs)
        config = {"run": {"precision": "float32"}, "score_precision": score_precision}
        return dataclasses.replace(r, config=config)

    evidence = [
        scored(None, "gradient", "mprt-cascading", 0.1, statistics={"last_step_spearman_abs": 0.1}),
        scored("bfloat16", "gradient", "deletion", 0.10, seed=3),
        scored("bfloat16", "random", "deletion", 0.15, seed=4),
    ]
    strict = dataclasses.replace(two_rule_policy(), precision="float32")
    gate = evaluate_policy(strict, evidence, method="gradient")
    assert [r.verdict for r in gate.rules] == ["pass", "error"]
    assert (
        "deletion of gradient was computed in float32 (perturbed images scored in bfloat16); "
        "the policy requires float32" in gate.rules[1].reason
    )
    assert evaluate_policy(two_rule_policy(), evidence, method="gradient").verdict == "pass"
