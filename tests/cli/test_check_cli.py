"""``saliency-bench check`` and ``gate`` end to end on a tiny random CNN (16 x 16 input),
in-process: tables, store cells per the ARCHITECTURE.md conventions, the controls'
exact similarity of 1, the default policy failing both controls, and the exit codes."""

from __future__ import annotations

import json
import re

import keras

import numpy as np
import pytest
from PIL import Image

from saliency_core.cli.main import main
from saliency_core.store import ResultStore


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """A random CNN: 16 x 16 RGB -> 3 logits, three weighted layers (seeded initializers)."""
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(
        4,
        3,
        padding="same",
        activation="relu",
        name="conv1",
        kernel_initializer=keras.initializers.HeNormal(seed=1),
    )(inputs)
    x = keras.layers.Conv2D(
        4,
        3,
        padding="same",
        activation="relu",
        name="conv2",
        kernel_initializer=keras.initializers.HeNormal(seed=2),
    )(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(
        3, name="logits", kernel_initializer=keras.initializers.GlorotUniform(seed=3)
    )(x)
    path = tmp_path_factory.mktemp("model") / "tiny.keras"
    keras.Model(inputs, outputs).save(path)
    return path


@pytest.fixture(scope="module")
def synthetic_run(tiny_model, tmp_path_factory):
    """One ``check`` on 4 synthetic images with the default metrics (localisation included)."""
    tmp = tmp_path_factory.mktemp("check")
    store, out = tmp / "results.sqlite", tmp / "check.json"
    argv = [
        "check",
        "--model",
        str(tiny_model),
        "--data",
        "synthetic",
        "--images",
        "4",
        "--methods",
        "gradient,edge,random",
        "--store",
        str(store),
        "--json",
        str(out),
    ]
    return argv, store, out


def test_check_prints_a_table_per_method_and_records_cells(synthetic_run, capsys):
    argv, store_path, out = synthetic_run
    assert main(argv) == 0
    printed = capsys.readouterr().out
    for method in ("gradient", "edge", "random"):
        assert f"\n{method}\n" in printed
    for metric in (
        "deletion",
        "insertion",
        "mprt-cascading",
        "random-logit",
        "pointing-game",
        "relevance-mass",
    ):
        assert printed.count(metric) == 3
    with ResultStore(store_path) as store:
        [run] = store.list_runs()
        assert run.suite == "check" and run.status == "complete" and run.seed == 0
        cells = store.cells(run.id, kind="check")
        assert len(cells) == 3 * 6 and all(c.status == "ok" for c in cells)
        by = {(c.key["method"], c.key["metric"]): c for c in cells}
        for cell in cells:
            assert set(cell.key) == {"model", "data", "method", "metric"}
            assert cell.key["model"] == "tiny.keras" and cell.key["data"] == "synthetic"
            m = cell.metrics
            assert m["direction"] in ("lower", "higher") and len(m["per_image"]) == 4
            assert isinstance(m["value"], float) and m["config"]["run"]["seed"] == 0
        deletion = by[("gradient", "deletion")]
        fractions = store.artifact(deletion.id, "fractions")
        curves = store.artifact(deletion.id, "curves")
        assert fractions[0] == 0 and fractions[-1] == 1 and curves.shape == (4, fractions.size)
        assert deletion.metrics["value"] == pytest.approx(np.trapezoid(curves.mean(0), fractions))
        mprt = by[("gradient", "mprt-cascading")]
        assert mprt.metrics["layers"] == ["logits", "conv2", "conv1"]
        # (steps, measures, images): the report averages over images
        assert store.artifact(mprt.id, "similarity").shape == (3, len(mprt.metrics["measures"]), 4)
        assert store.artifact(mprt.id, "step_maps").shape == (4, 16, 16)
        # Done-when: the controls are exactly 1 at every step, every measure, every image.
        for control in ("edge", "random"):
            cell = by[(control, "mprt-cascading")]
            assert np.all(store.artifact(cell.id, "similarity") == 1.0)
            assert cell.metrics["value"] == 1.0
            assert all(v == 1.0 for v in cell.metrics["statistics"].values())
            logit = by[(control, "random-logit")]
            assert np.all(store.artifact(logit.id, "logit_similarity") == 1.0)
            assert logit.metrics["per_image"] == [1.0] * 4
        assert mprt.metrics["value"] < 1.0  # the gradient does move
    doc = json.loads(out.read_text())
    assert doc["run_id"] == run.id and len(doc["results"]) == 18


def test_gate_default_policy_fails_both_controls(tiny_model, tmp_path, capsys):
    store_path = tmp_path / "results.sqlite"
    for control in ("edge", "random"):
        code = main(
            [
                "gate",
                "--model",
                str(tiny_model),
                "--data",
                "synthetic",
                "--images",
                "4",
                "--method",
                control,
                "--store",
                str(store_path),
            ]
        )
        printed = capsys.readouterr().out
        assert code == 1, printed
        assert f"method {control}" in printed
        # every image gives similarity exactly 1: a certain failure, not an uncertain one
        assert re.search(
            r"FAIL +mprt-map-changes: mprt-cascading.last_step_spearman_abs = "
            r"\+1\.0000 \[95% CI \+1\.0000, \+1\.0000; 4 images\]",
            printed,
        )
        assert re.search(r"FAIL +class-sensitive: random-logit.ssim = \+1\.0000", printed)
        assert printed.count("why: ") == 4 and "verdict: FAIL" in printed
    with ResultStore(store_path) as store:
        runs = store.list_runs()
        assert [r.suite for r in runs] == ["gate", "gate"]
        for run in runs:
            [gate] = store.cells(run.id, kind="gate")
            assert gate.key == {"model": "tiny.keras", "data": "synthetic", "policy": "default"}
            assert gate.metrics["passed"] is False and len(gate.metrics["rules"]) == 4
        # the gate measured the random control for the relative rules
        metrics = {(c.key["method"], c.key["metric"]) for c in store.cells(runs[0].id, kind="check")}
        assert ("random", "deletion") in metrics and ("random", "insertion") in metrics


def test_check_on_an_image_folder(tiny_model, tmp_path, capsys):
    folder = tmp_path / "imgs"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in ("a.png", "b.png"):
        Image.fromarray(rng.integers(0, 255, (20, 24, 3), dtype=np.uint8)).save(folder / name)
    store_path = tmp_path / "s.sqlite"
    assert (
        main(
            [
                "check",
                "--model",
                str(tiny_model),
                "--preprocessing",
                "tf",
                "--data",
                str(folder),
                "--methods",
                "gradient",
                "--metrics",
                "deletion,insertion",
                "--curve-steps",
                "16",
                "--store",
                str(store_path),
            ]
        )
        == 0
    )
    with ResultStore(store_path) as store:
        cells = store.cells("latest", kind="check")
    assert [c.key["metric"] for c in cells] == ["deletion", "insertion"]
    assert cells[0].key["data"] == str(folder) and cells[0].metrics["config"]["images"] == ["a.png", "b.png"]
    assert cells[0].metrics["config"]["points"] == 17  # 16 steps of 16 px on 16 x 16, + 1


def test_check_runs_smprt_and_emprt_from_the_registry(tiny_model, tmp_path, capsys):
    store_path = tmp_path / "s.sqlite"
    assert (
        main(
            [
                "check",
                "--model",
                str(tiny_model),
                "--data",
                "synthetic",
                "--images",
                "3",
                "--methods",
                "gradient,edge",
                "--metrics",
                "smprt,emprt",
                "--metric-setting",
                "smprt.samples=4",
                "--store",
                str(store_path),
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert printed.count("\nsmprt ") == 2 and printed.count("\nemprt ") == 2
    with ResultStore(store_path) as store:
        [run] = store.list_runs()
        assert run.config["metric_settings"] == {"smprt": {"samples": "4"}}
        by = {(c.key["method"], c.key["metric"]): c for c in store.cells(run.id, kind="check")}
        assert all(c.status == "ok" for c in by.values()) and len(by) == 4
        smprt = by[("gradient", "smprt")]
        assert smprt.metrics["config"]["samples"] == 4 and smprt.metrics["layers"] == ["all layers"]
        assert store.artifact(smprt.id, "similarity").shape == (1, len(smprt.metrics["measures"]))
        assert store.artifact(smprt.id, "step_maps").shape == (2, 16, 16)
        emprt = by[("gradient", "emprt")]
        assert emprt.metrics["direction"] == "higher" and emprt.metrics["config"]["bins"] == 100
        assert store.artifact(emprt.id, "complexity").shape == (2, 3)
        # The edge control is exactly model-independent on both.
        assert by[("edge", "smprt")].metrics["per_image"] == [1.0] * 3
        assert by[("edge", "emprt")].metrics["per_image"] == [0.0] * 3
        assert by[("edge", "emprt")].metrics["statistics"]["ratio"] == 1.0


def test_run_checks_resumes_and_turns_a_failing_metric_into_a_failed_cell(tiny_model, tmp_path, monkeypatch):
    from saliency_core.checks import run_checks
    from saliency_core.metrics import random_logit as random_logit_metric
    from saliency_core.data.synthetic import make_synthetic
    from saliency_core.models.user import load_user_model

    clf = load_user_model(tiny_model)
    images = make_synthetic(3, image_size=16, seed=1).images

    def broken(*args, **kwargs):
        raise MemoryError("out of memory (simulated)")

    monkeypatch.setattr(random_logit_metric, "random_logit", broken)
    with ResultStore(tmp_path / "s.sqlite") as store:
        run = store.start_run("check", metadata={})
        kwargs = dict(
            methods=["gradient"],
            metrics=["deletion", "random-logit", "mprt"],
            seed=0,
            data_name="synthetic",
            store=store,
            run_id=run,
            variant="function",
        )
        first = run_checks(clf, images, **kwargs)
        assert [r.status for r in first.results] == ["ok", "failed", "ok"]
        assert first.results[1].reason == "MemoryError: out of memory (simulated)"
        failed = [c for c in store.cells(run, kind="check") if c.status == "failed"]
        assert len(failed) == 1 and "simulated" in failed[0].reason
        assert [c.key["chunk"] for c in store.cells(run, kind="check-chunk") if c.status == "failed"] == [0]
        again = run_checks(clf, images, **kwargs)  # ok cells read back, the failed one retried
        assert [r.resumed for r in again.results] == [True, False, True]
        assert len(store.cells(run, kind="check")) == 3
        assert again.get("gradient", "deletion").value == first.get("gradient", "deletion").value


def test_a_metric_that_cannot_be_computed_exits_2_after_the_table(tiny_model, tmp_path, capsys, monkeypatch):
    from saliency_core.metrics import randomization_support

    monkeypatch.setattr(randomization_support, "mprt", lambda *a, **k: 1 / 0)
    code = main(
        [
            "check",
            "--model",
            str(tiny_model),
            "--data",
            "synthetic",
            "--images",
            "2",
            "--methods",
            "edge",
            "--metrics",
            "mprt,pointing-game",
            "--store",
            str(tmp_path / "s.sqlite"),
        ]
    )
    captured = capsys.readouterr()
    assert code == 2
    assert "FAILED: ZeroDivisionError" in captured.out and "pointing-game" in captured.out
    assert "1 check(s) could not be computed: edge mprt-cascading" in captured.err


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--metrics", "deletion,delition"], "unknown metric 'delition'"),
        (["--methods", "gradient,lime"], "unknown method 'lime'"),
        (["--images", "0"], "--images must be >= 1"),
        (["--score-check-every", "0"], "--score-check-every must be >= 1"),
        (["--metric-setting", "smprt.nope=1"], "metric 'smprt' has no setting 'nope'"),
        (["--metric-setting", "emprt.bins=many"], "setting emprt.bins must be a int, got 'many'"),
        (["--metric-setting", "smprt=1"], "expected METRIC.SETTING=VALUE"),
        (["--metrics", "data-randomization"], "use --model synthetic-cnn --data synthetic (got --model tiny"),
    ],
)
def test_bad_options_exit_2(tiny_model, tmp_path, capsys, extra, message):
    argv = [
        "check",
        "--model",
        str(tiny_model),
        "--data",
        "synthetic",
        "--store",
        str(tmp_path / "s.sqlite"),
    ] + extra
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_missing_model_and_unreadable_data_exit_2(tiny_model, tmp_path, capsys):
    store = ["--store", str(tmp_path / "s.sqlite")]
    for command in ("check", "gate"):
        assert main([command, "--model", str(tmp_path / "missing.keras"), "--data", "synthetic"] + store) == 2
        assert "missing.keras" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    for data in (str(tmp_path / "nowhere"), str(empty)):
        assert (
            main(["check", "--model", str(tiny_model), "--preprocessing", "tf", "--data", data] + store) == 2
        )
        assert "saliency-bench: error:" in capsys.readouterr().err
    # photos need a model that can resize them; localisation needs masks
    assert main(["check", "--model", str(tiny_model), "--data", "photos"] + store) == 2
    assert "--preprocessing" in capsys.readouterr().err
    folder = tmp_path / "one"
    folder.mkdir()
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(folder / "a.png")
    assert (
        main(
            [
                "check",
                "--model",
                str(tiny_model),
                "--preprocessing",
                "tf",
                "--data",
                str(folder),
                "--metrics",
                "pointing-game",
            ]
            + store
        )
        == 2
    )
    assert "masks" in capsys.readouterr().err


def test_malformed_policy_exits_2_naming_the_file_and_key(tiny_model, tmp_path, capsys):
    policy = tmp_path / "strict.toml"
    policy.write_text('[[rules]]\nmetric = "deletion"\nop = "<"\nthresold = 0.1\nwhy = "w"\n')
    code = main(
        [
            "gate",
            "--model",
            str(tiny_model),
            "--data",
            "synthetic",
            "--policy",
            str(policy),
            "--store",
            str(tmp_path / "s.sqlite"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and str(policy) in err and "'thresold'" in err
    assert not (tmp_path / "s.sqlite").exists()  # rejected before any work


@pytest.mark.slow
def test_check_data_randomization_on_the_synthetic_cnn(tmp_path, capsys, monkeypatch):
    # The networks are trained on a small set here (the command line uses 6000 images);
    # the synthetic CNN itself is the session's cached one. TRAIN_SIZE is read in two
    # places: data.synthetic's (the data-randomization networks, read when the command
    # runs) and data.synthetic_cnn's own binding (load_synthetic_cnn, if not yet cached).
    from saliency_core.cli import check_setup
    from saliency_core.data import synthetic, synthetic_cnn

    monkeypatch.setattr(synthetic, "TRAIN_SIZE", 300)
    monkeypatch.setattr(synthetic_cnn, "TRAIN_SIZE", 300)
    monkeypatch.setattr(check_setup, "DATA_RANDOMIZATION_EPOCHS", 1)
    store = tmp_path / "s.sqlite"
    argv = [
        "check",
        "--model",
        "synthetic-cnn",
        "--data",
        "synthetic",
        "--images",
        "4",
        "--methods",
        "gradient,edge",
        "--metrics",
        "data-randomization",
        "--store",
        str(store),
    ]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "make_synthetic(300, seed=0)" in captured.err
    lines = [ln for ln in captured.out.splitlines() if ln.startswith("data-randomization: two")]
    assert len(lines) == 2 and "NOT below it, the maps do not depend" in lines[1]  # edge control
    with ResultStore(store) as s:
        run = s.list_runs()[-1]
        cells = {c.key["method"]: c for c in s.cells(run.id, kind="check")}
    assert set(cells) == {"gradient", "edge"}
    for cell in cells.values():
        m = cell.metrics
        assert m["config"]["training"]["epochs"] == 1 and len(m["per_image"]) == 4
        assert m["statistics"]["margin"] == pytest.approx(
            m["statistics"]["true_spearman_abs"] - m["value"], abs=1e-12
        )
    assert cells["edge"].metrics["value"] == 1.0 and cells["edge"].metrics["passed"] is False


def test_check_streams_a_folder_and_resumes_a_run_with_its_own_settings(
    tiny_model, tmp_path, capsys, monkeypatch
):
    """A folder is read chunk by chunk; a failure mid-run keeps the finished chunks and says how
    to resume; --resume takes the run's own options (the precision and the variant that
    ``auto`` chose included) and computes only what is missing."""
    folder = tmp_path / "imgs"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(5):
        Image.fromarray(rng.integers(0, 255, (20, 24, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    store_path = tmp_path / "s.sqlite"
    from saliency_core.checks import chunk_worker

    original = chunk_worker.ChunkWorker.__call__
    calls = {"n": 0}

    def dies_on_second_chunk(self, task):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("disk full (simulated)")
        return original(self, task)

    monkeypatch.setattr(chunk_worker.ChunkWorker, "__call__", dies_on_second_chunk)
    argv = [
        "check",
        "--model",
        str(tiny_model),
        "--preprocessing",
        "tf",
        "--data",
        str(folder),
        "--methods",
        "gradient",
        "--metrics",
        "deletion",
        "--chunk-images",
        "2",
        "--precision",
        "bfloat16",
        "--store",
        str(store_path),
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "disk full (simulated)" in err and "--resume" in err
    with ResultStore(store_path) as store:
        [run] = store.list_runs()
        assert run.status == "failed"
        chosen = run.config["variant"]
        assert chosen in ("function", "xla") and run.config["variant_choice"]["variant"] == chosen
        assert [c.key["chunk"] for c in store.cells(run.id, kind="check-chunk")] == [0]
    monkeypatch.setattr(chunk_worker.ChunkWorker, "__call__", original)
    assert main(["check", "--resume", run.id, "--store", str(store_path)]) == 0
    with ResultStore(store_path) as store:
        assert store.get_run(run.id).status == "complete"
        chunks = sorted(c.key["chunk"] for c in store.cells(run.id, kind="check-chunk"))
        [final] = store.cells(run.id, kind="check")
    assert chunks == [0, 1, 2] and final.metrics["config"]["images"] == [f"{i}.png" for i in range(5)]
    assert len(final.metrics["per_image"]) == 5
    assert final.metrics["config"]["run"]["precision"] == "bfloat16"
    assert final.metrics["config"]["run"]["variant"] == chosen


def test_check_scores_perturbed_images_in_bfloat16_and_shows_the_check(tiny_model, tmp_path, capsys):
    out = tmp_path / "check.json"
    argv = ["check", "--model", str(tiny_model), "--data", "synthetic", "--images", "4"]
    argv += ["--methods", "gradient", "--metrics", "deletion", "--variant", "function"]
    argv += ["--score-precision", "bfloat16", "--score-check-every", "1"]
    argv += ["--store", str(tmp_path / "s.sqlite"), "--json", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    [result] = json.loads(out.read_text())["results"]
    judged = result["config"]["score_check"]
    assert judged["checked_images"] == 4 and judged["precision"] == "bfloat16"
    assert result["config"]["run"]["score_precision"] == "bfloat16"
    if judged["accepted"]:
        assert f"bfloat16 scores: AUC change {judged['change']:+.4f}" in printed
    else:
        assert "rerun with score precision float32" in " ".join(result["warnings"])
