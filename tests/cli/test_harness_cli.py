"""``saliency-bench time`` and ``run`` in-process on a tiny registry model (random weights,
32x32 inputs): the JSON file, the store rows, the table, and the error exits."""

from __future__ import annotations

import json

import pytest

from saliency_core.cli.main import main
from saliency_core.store import ResultStore


@pytest.fixture(autouse=True)
def fast_roof(monkeypatch):
    """The roof (a few seconds of 2048² matmuls per run) is tested in test_flops."""
    from saliency_core.harness import flops

    monkeypatch.setattr(flops, "measure_roof", lambda *args, **kwargs: 100.0)


def test_time_writes_json_store_rows_and_a_table(tmp_path, capsys):
    store_path, out = tmp_path / "results.sqlite", tmp_path / "out" / "timing.json"
    code = main(
        [
            "time",
            "--models",
            "mobilenetv2",
            "--image-size",
            "32",
            "--variants",
            "eager,function",
            "--batch-sizes",
            "1",
            "2",
            "--repeats",
            "2",
            "--budget",
            "0",
            "--max-repeats",
            "2",
            "--json",
            str(out),
            "--store",
            str(store_path),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "images/s" in printed and "roof %" in printed and "mobilenetv2" in printed
    assert "4 cells, 0 failed" in printed
    doc = json.loads(out.read_text())
    assert len(doc["benchmarks"]) == 4 and doc["failed"] == []
    assert doc["saliency_bench"]["suite"] == "time"
    with ResultStore(store_path) as store:
        [run] = store.list_runs()
        assert run.status == "complete" and run.config["roof_gflops"] == 100.0
        cells = store.cells(run.id, kind="timing")
    assert {(c.key["variant"], c.key["batch_size"]) for c in cells} == {
        ("eager", 1),
        ("eager", 2),
        ("function", 1),
        ("function", 2),
    }
    for cell in cells:
        assert cell.status == "ok"
        assert cell.key["model"] == "mobilenetv2" and cell.key["image_size"] == 32
        assert cell.metrics["flops_per_image"] > 0 and len(cell.metrics["times"]) == 2


def test_missing_weights_cell_is_a_failed_row_not_an_error(tmp_path, capsys):
    """ImageNet weights are not in the (empty, per-session) Keras cache and there is no
    network, so the cell fails with its reason and the command still succeeds."""
    store_path = tmp_path / "results.sqlite"
    code = main(
        [
            "time",
            "--models",
            "mobilenetv2",
            "--weights",
            "imagenet",
            "--variants",
            "eager",
            "--batch-sizes",
            "1",
            "--repeats",
            "1",
            "--budget",
            "0",
            "--store",
            str(store_path),
        ]
    )
    assert code == 0
    assert "1 cells, 1 failed" in capsys.readouterr().out
    with ResultStore(store_path) as store:
        [cell] = store.cells("latest", kind="timing")
    assert cell.status == "failed" and "weights" in cell.reason


@pytest.mark.parametrize(
    "argv, message",
    [
        (["time", "--models", "resnet5O"], "models[0]"),
        (["time", "--models", "mobilenetv2", "--variants", "jit"], "variants[0]"),
        (["time", "--models", "mobilenetv2", "--batch-sizes", "x"], "--batch-sizes"),
        (["run", "nonesuch"], "no suite 'nonesuch'"),
    ],
)
def test_bad_arguments_exit_2(tmp_path, capsys, argv, message):
    assert main(argv + ["--store", str(tmp_path / "s.sqlite")]) == 2
    assert message in capsys.readouterr().err


def test_run_a_suite_file_prints_the_table(tmp_path, capsys):
    suite = tmp_path / "mini.toml"
    suite.write_text(
        'name = "mini"\nmodels = ["mobilenetv2"]\nvariants = ["eager"]\n'
        "batch_sizes = [1]\nimage_size = 32\n"
        "[timing]\nmin_repeats = 1\nmax_repeats = 1\nbudget_s = 0\nwarmup = 0\n"
    )
    store_path = tmp_path / "results.sqlite"
    assert main(["run", str(suite), "--store", str(store_path)]) == 0
    printed = capsys.readouterr().out
    assert "timing: suite mini" in printed and "1 cells, 0 failed" in printed
    # resuming a complete run re-times nothing and keeps one cell
    assert main(["run", "--resume", "latest", "--store", str(store_path)]) == 0
    with ResultStore(store_path) as store:
        assert len(store.cells("latest", kind="timing")) == 1


def test_table_divides_by_the_best_roof_seen_in_the_run(tmp_path):
    """A cell timed while the start-of-run roof measurement was slowed by other work
    (roof 50) is shown against the best roof the run saw (100), not above 100 %."""
    from saliency_core.cli.timing_results import TABLE_HEADERS, timing_rows
    from saliency_core.harness.roofs import best_roofs

    with ResultStore(tmp_path / "s.sqlite") as store:
        run = store.start_run("t", config={"roofs": {"cpu": 50.0}}, metadata={})
        key = {"model": "m", "variant": "xla", "batch_size": 8, "device": "cpu", "image_size": 224}
        store.record_cell(
            run,
            "timing",
            key,
            metrics={
                "times": [1.0],
                "median_s": 1.0,
                "iqr_s": 0.0,
                "images_per_s": 8.0,
                "flops_per_image": 7.5e9,
                "roof_gflops": 50.0,
                "roof_fraction": 1.2,
            },
        )
        store.record_cell(
            run, "roof", {"device": "cpu", "session": 0}, metrics={"gflops": 100.0, "initial_gflops": 50.0}
        )
        assert best_roofs(store, run) == {"cpu": 100.0}
        [row] = timing_rows(store, run)
    assert row[TABLE_HEADERS.index("roof %")] == "60.0"  # 7.5 GFLOP x 8 /s / 100 GFLOP/s


def test_run_with_checks_records_maps_checks_gate_and_writes_the_report(tmp_path, capsys):
    """A suite with a [checks] table: after timing, run stores example maps, the checks
    and the gate verdict in the same run, and renders the report from the store."""
    import keras

    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model_path = tmp_path / "tiny.keras"
    keras.Model(inputs, keras.layers.Dense(4, name="logits")(x)).save(model_path)
    suite = tmp_path / "mini.toml"
    suite.write_text(
        f'name = "mini"\nmodels = ["{model_path}"]\nvariants = ["function"]\nbatch_sizes = [2]\n'
        "[timing]\nmin_repeats = 1\nmax_repeats = 1\nbudget_s = 0\nwarmup = 0\n"
        f'[checks]\nmodel = "{model_path}"\ndata = "synthetic"\nimages = 4\n'
        'methods = ["gradient"]\nmetrics = ["deletion", "insertion"]\n'
        'map_methods = ["gradient", "edge"]\ncurve_steps = 8\nbatch_size = 4\n'
    )
    store_path = tmp_path / "results.sqlite"
    code = main(["run", str(suite), "--store", str(store_path)])
    printed = capsys.readouterr().out
    assert "verdict:" in printed and "report:" in printed
    with ResultStore(store_path) as store:
        maps = store.cells("latest", kind="maps")
        assert len(maps) == 2 * 4
        assert store.artifact(maps[0].id, "map").shape == (16, 16)
        checks = {(c.key["method"], c.key["metric"]) for c in store.cells("latest", kind="check")}
        # the suite's metrics, plus what the default policy needs, for the method and the control
        assert {
            ("gradient", "deletion"),
            ("random", "deletion"),
            ("gradient", "mprt-cascading"),
            ("gradient", "random-logit"),
        } <= checks
        gate = store.cells("latest", kind="gate")
        assert len(gate) == 1 and isinstance(gate[0].metrics["passed"], bool)
        # run exits with its gate's verdict (0 pass, 1 fail, 3 inconclusive), report written
        assert code == gate[0].metrics["exit_code"] and code in (0, 1, 3)
        run_id = store.get_run("latest").id
    html = (tmp_path / run_id / "report.html").read_text()
    assert "tiny.keras" in html and "<img" in html
    # an unknown key in [checks] is an error naming it (exit 2) before anything is timed
    bad = tmp_path / "bad.toml"
    bad.write_text(suite.read_text() + 'colour = "red"\n')
    assert main(["run", str(bad), "--store", str(tmp_path / "other.sqlite")]) == 2
    assert "'checks.colour'" in capsys.readouterr().err
    with ResultStore(tmp_path / "other.sqlite") as store:
        assert store.list_runs() == []


def test_run_with_agreement_records_each_variant_against_eager_and_reports_it(tmp_path, capsys):
    """A suite with an [agreement] table: after timing, each model's variants are compared
    with eager on the bundled photos; a model that cannot take them is a failed cell."""
    import keras

    inputs = keras.Input((16, 16, 3))
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3, activation="relu")(inputs))
    model_path = tmp_path / "tiny.keras"
    keras.Model(inputs, keras.layers.Dense(4)(x)).save(model_path)
    suite = tmp_path / "mini.toml"
    suite.write_text(
        f'name = "mini"\nmodels = ["mobilenetv2", "{model_path}"]\nvariants = ["eager"]\n'
        'batch_sizes = [1]\nimage_size = 32\ndevices = ["cpu", "gpu:7"]\n'
        "[timing]\nmin_repeats = 1\nmax_repeats = 1\nbudget_s = 0\nwarmup = 0\n"
        '[agreement]\nimages = 2\nvariants = ["function", "xla"]\n'
    )
    store_path = tmp_path / "results.sqlite"
    assert main(["run", str(suite), "--store", str(store_path)]) == 0
    assert "agreement: mobilenetv2 xla vs eager on cpu" in capsys.readouterr().err
    with ResultStore(store_path) as store:
        cells = {
            (c.key["model"], c.key["variant"]): c
            for c in store.cells("latest", kind="agreement")
            if c.key["device"] == "cpu"
        }
        on_gpu7 = [
            c
            for c in store.cells("latest", kind="agreement")
            if c.key["device"] == "gpu:7" and c.key["model"] == "mobilenetv2"
        ]
        run_id = store.get_run("latest").id
    # a device TensorFlow does not see is a failed cell, not a silent fall-back to the CPU
    assert len(on_gpu7) == 2 and all(c.status == "failed" and "not available" in c.reason for c in on_gpu7)
    assert set(cells) == {(m, v) for m in ("mobilenetv2", str(model_path)) for v in ("function", "xla")}
    for variant in ("function", "xla"):
        m = cells[("mobilenetv2", variant)].metrics
        assert m["kink_layers"] == 35 and m["kink_units"] > 0 and m["images"] == ["chelsea", "coffee"]
        assert m["agrees"] is True and m["reasons"] == [], m["reasons"]
        assert "float64" in m["noise_floor"]["method"] and m["noise_floor"]["pinned_rel_l2"] > 0
        assert m["pinned_rel_l2"] <= m["factor"] * m["noise_floor"]["pinned_rel_l2"] + 2**-23
        assert m["pinning_moved"] <= m["factor"] * m["noise_floor"]["pinned_rel_l2"] + 2**-23
        failed = cells[(str(model_path), variant)]
        assert failed.status == "failed" and "takes its inputs as given" in failed.reason
    # one floor per model and device, measured once for both variants
    assert (
        cells[("mobilenetv2", "function")].metrics["noise_floor"]
        == cells[("mobilenetv2", "xla")].metrics["noise_floor"]
    )
    report = (tmp_path / run_id / "report.md").read_text()
    assert "## Variants against eager" in report and "| mobilenetv2 | xla | cpu | 2 |" in report
    assert "Float32 floor (pinned)" in report and "| yes |" in report
    html = (tmp_path / run_id / "report.html").read_text()
    assert '<section id="agreement"><h2>Variants against eager</h2>' in html


def test_an_agreement_table_with_eager_or_a_bad_key_is_refused(tmp_path, capsys):
    for table, key in (
        ('variants = ["eager"]', "agreement.variants[0]"),
        ("images = 0", "agreement.images"),
        ("colour = 1", "agreement.colour"),
    ):
        suite = tmp_path / "bad.toml"
        suite.write_text(
            'name = "bad"\nmodels = ["mobilenetv2"]\nvariants = ["eager"]\nbatch_sizes = [1]\n'
            f"[agreement]\n{table}\n"
        )
        assert main(["run", str(suite), "--store", str(tmp_path / "s.sqlite")]) == 2
        assert f"'{key}'" in capsys.readouterr().err
