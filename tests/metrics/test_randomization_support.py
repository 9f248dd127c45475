"""The randomization metrics explain the classes they are given, as the curves do, and
warn (so a gate cannot pass) when a compared map is constant."""

import dataclasses

import numpy as np
import pytest

from saliency_core.checks import run_checks
from saliency_core.store import ResultStore

from ..checks.test_check_runner import images, tiny_model


@pytest.mark.parametrize("metric", ["mprt-cascading", "mprt-independent", "smprt"])
def test_randomization_metrics_explain_the_given_targets(metric, tmp_path):
    model, x = tiny_model(), images(4)
    top1 = np.argmax(np.asarray(model(x)), axis=-1)
    other = (top1 + 1) % 3  # never the top-1 class
    with ResultStore(tmp_path / "s.sqlite") as store:
        run = store.start_run("check")
        report = run_checks(
            model,
            x,
            methods=["gradient"],
            metrics=[metric],
            seed=0,
            data_name="d",
            variant="function",
            targets=other,
            store=store,
            run_id=run,
        )
        assert report.results[0].ok, report.results[0].reason
        (cell,) = store.cells(run, kind="check")
    assert cell.metrics["targets"] == other.tolist()


def _zero_head_model(other_columns_zero: bool):
    """16 x 16 CNN whose dense head is drawn from a zeros initializer: randomizing it
    resets the head to 0, so the randomized model's maps are exactly constant (zero
    gradients, as a float16 network whose activations underflow gives). With
    ``other_columns_zero`` only class 0 has weights (and a bias that makes it the top-1),
    so every other class's map is constant in the trained model too."""
    import keras

    layers = keras.layers
    inputs = keras.Input((16, 16, 3))
    x = layers.Conv2D(4, 3, padding="same", activation="relu", name="conv")(inputs)
    x = layers.Flatten()(x)
    model = keras.Model(inputs, layers.Dense(3, kernel_initializer="zeros", name="head")(x))
    rng = np.random.default_rng(0)
    model.get_layer("conv").set_weights(
        [rng.normal(0, 0.5, (3, 3, 3, 4)).astype("float32"), np.full(4, 0.2, "float32")]
    )
    kernel = rng.normal(0, 0.1, (16 * 16 * 4, 3)).astype("float32")
    bias = np.zeros(3, "float32")
    if other_columns_zero:
        kernel[:, 1:] = 0.0
        bias[0] = 100.0
    model.get_layer("head").set_weights([kernel, bias])
    return model


def _checks(model, metric, tmp_path):
    from saliency_core.checks import load_policy
    from saliency_core.checks.gate import evaluate_policy

    with ResultStore(tmp_path / "s.sqlite") as store:
        run = store.start_run("check")
        report = run_checks(
            model,
            images(4),
            methods=["gradient"],
            metrics=[metric],
            seed=0,
            data_name="d",
            variant="function",
            store=store,
            run_id=run,
        )
    (result,) = report.results
    assert result.ok, result.reason
    rules = [r for r in load_policy("default").rules if r.metric == metric]
    if not rules:  # sMPRT and eMPRT are not in the default policy
        return result, None
    policy = dataclasses.replace(load_policy("default"), rules=tuple(rules))
    return result, evaluate_policy(policy, report, method="gradient")


@pytest.mark.parametrize("metric", ["mprt-cascading", "smprt", "emprt"])
def test_constant_maps_of_the_randomized_model_never_pass_a_gate(metric, tmp_path):
    # Without the warning, Spearman against a constant map is 0 on every image and
    # the rule "< 0.5" would pass with no spread: the check cannot fail that way.
    result, gate = _checks(_zero_head_model(False), metric, tmp_path)
    assert any("randomized model are constant" in w and "4 of 4 images" in w for w in result.warnings)
    if metric == "mprt-cascading":
        assert result.value == 0.0
        (rule,) = gate.rules
        assert rule.verdict == "inconclusive" and "constant" in rule.reason


def test_constant_maps_of_the_other_class_never_pass_random_logit(tmp_path):
    result, gate = _checks(_zero_head_model(True), "random-logit", tmp_path)
    assert result.warnings == [w for w in result.warnings if "the other class are constant" in w]
    assert len(result.warnings) == 1 and "4 of 4 images" in result.warnings[0]
    (rule,) = gate.rules
    assert rule.verdict == "inconclusive"


def test_maps_that_vary_carry_no_constant_map_warning(tmp_path):
    result, _ = _checks(tiny_model(), "mprt-cascading", tmp_path)
    assert result.warnings == []
