"""Gate policies: parsing with errors that name the file and the key, and rule evaluation
on hand-made check results (no model, no TensorFlow)."""

from __future__ import annotations

import pytest

from saliency_core.checks.gate import PolicyError, evaluate_policy, list_policies, load_policy, parse_policy
from saliency_core.checks.results import CheckReport, CheckResult


def result(method, metric, value, *, direction="lower", statistics=None, status="ok", reason=None):
    return CheckResult(
        model="m",
        data="d",
        method=method,
        metric=metric,
        status=status,
        value=value,
        direction=direction,
        statistics=statistics or {},
        reason=reason,
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
    assert (by_name["deletion-beats-random"].op, by_name["deletion-beats-random"].compare_to) == (
        "<",
        "random",
    )
    assert (by_name["insertion-beats-random"].op, by_name["insertion-beats-random"].compare_to) == (
        ">",
        "random",
    )


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
        result("gradient", "deletion", 0.10),
        result("random", "deletion", 0.15),
    ]
    gate = evaluate_policy(two_rule_policy(), results, method="gradient")
    assert gate.passed and gate.exit_code == 0 and not gate.failed and not gate.errors
    assert [r.passed for r in gate.rules] == [True, True]
    deletion = gate.rules[1]
    assert deletion.method_value == 0.10 and deletion.control_value == 0.15
    assert deletion.value == pytest.approx(-0.05)


def test_each_rule_fails_on_its_own_and_compare_to_uses_the_difference():
    results = [
        result("gradient", "mprt-cascading", 0.7, statistics={"last_step_spearman_abs": 0.7}),
        result("gradient", "deletion", 0.12),
        result("random", "deletion", 0.09),
    ]
    gate = evaluate_policy(two_rule_policy(), results, method="gradient")
    assert not gate.passed and gate.exit_code == 1
    assert [r.rule.name for r in gate.failed] == ["mprt", "del"]
    assert gate.rules[1].value == pytest.approx(0.03)  # 0.12 - 0.09, not 0.12 < 0
    results[0] = result("gradient", "mprt-cascading", 0.2, statistics={"last_step_spearman_abs": 0.2})
    gate = evaluate_policy(two_rule_policy(), results, method="gradient")
    assert [r.passed for r in gate.rules] == [True, False]


def test_boundary_is_strict_so_the_random_control_fails_against_itself():
    results = [
        result("random", "mprt-cascading", 1.0, statistics={"last_step_spearman_abs": 1.0}),
        result("random", "deletion", 0.09),
    ]
    gate = evaluate_policy(two_rule_policy(), results)  # the only method: the control itself
    assert gate.method == "random" and not gate.passed and gate.exit_code == 1
    assert gate.rules[1].value == 0.0 and not gate.rules[1].passed


def test_unmeasurable_rules_are_errors_not_passes():
    results = [
        result("gradient", "mprt-cascading", None, status="failed", reason="OOM"),
        result("gradient", "deletion", 0.1),
    ]  # no random control
    gate = evaluate_policy(two_rule_policy(), results, method="gradient")
    assert not gate.passed and gate.exit_code == 2 and not gate.failed
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
        result("gradient", "deletion", 0.10),
        result("random", "deletion", 0.15),
    ]
    report = CheckReport(model="m", data="d", seed=0, results=results)
    assert evaluate_policy(two_rule_policy(), report, method="gradient").passed
    with ResultStore(tmp_path / "s.sqlite") as store:
        run = store.start_run("check", metadata={})
        for r in results:
            store.record_cell(
                run,
                "check",
                r.key,
                metrics={"value": r.value, "direction": r.direction, "statistics": r.statistics},
            )
        gate = evaluate_policy(two_rule_policy(), store.cells(run), method="gradient")
    assert gate.passed and gate.rules[1].control_value == 0.15
    with pytest.raises(ValueError, match="say which one"):
        evaluate_policy(two_rule_policy(), results + [result("edge", "deletion", 0.1)])


def test_gate_cell_metrics_follow_the_convention():
    results = [
        result("gradient", "mprt-cascading", 0.1, statistics={"last_step_spearman_abs": 0.1}),
        result("gradient", "deletion", 0.2),
        result("random", "deletion", 0.15),
    ]
    doc = evaluate_policy(two_rule_policy(), results, method="gradient").as_dict()
    assert doc["passed"] is False
    for r in doc["rules"]:
        assert {"rule", "method", "metric", "value", "op", "threshold", "passed", "why"} <= set(r)
    assert doc["rules"][1]["passed"] is False and doc["rules"][1]["why"] == "because"
