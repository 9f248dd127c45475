"""``saliency-bench runs | export | compare`` through the real entry point."""

from __future__ import annotations

import csv
import io
import json

import pytest

from saliency_core.cli.main import main
from saliency_core.store import ResultStore

MACHINE = {"cpu_model": "AMD EPYC", "cpu_count": 2, "tensorflow": "2.21.0", "keras": "3.15.1"}


def key(model, batch=8):
    return {"model": model, "variant": "xla", "batch_size": batch, "device": "cpu", "image_size": 224}


@pytest.fixture
def store_path(tmp_path):
    """A store with two runs: B is 20 % slower than A on resnet50 with tight spread."""
    path = tmp_path / "reports" / "results.sqlite"
    with ResultStore(path) as store:
        a = store.start_run(suite="quick", metadata={"machine_info": MACHINE, "commit_info": {}})
        store.record_cell(
            a,
            "timing",
            key("resnet50"),
            metrics={
                "times": [0.099, 0.1, 0.1, 0.1, 0.101],
                "images_per_s": 80.0,
                "compile_s": 4.0,
                "peak_rss_mb": 1000.0,
                "peak_device_mb": None,
            },
        )
        store.record_cell(
            a,
            "timing",
            key("vgg16"),
            metrics={
                "times": [0.2] * 5,
                "images_per_s": 40.0,
                "compile_s": 6.0,
                "peak_rss_mb": 2000.0,
                "peak_device_mb": None,
            },
        )
        store.record_cell(a, "timing", key("densenet121"), status="failed", reason="OOM")
        store.finish_run(a, "complete")
        b = store.start_run(
            suite="quick",
            metadata={"machine_info": {**MACHINE, "cpu_model": "Intel Xeon"}, "commit_info": {}},
        )
        store.record_cell(
            b,
            "timing",
            key("resnet50"),
            metrics={
                "times": [0.119, 0.12, 0.12, 0.12, 0.121],
                "images_per_s": 66.7,
                "compile_s": 4.0,
                "peak_rss_mb": 1000.0,
                "peak_device_mb": None,
            },
        )
        store.finish_run(b, "interrupted")
    return path


def run_ids(path):
    with ResultStore(path) as store:
        return [r.id for r in store.list_runs()]


def test_runs_lists_both(store_path, capsys):
    assert main(["runs", "--store", str(store_path)]) == 0
    out = capsys.readouterr().out
    a, b = run_ids(store_path)
    assert a in out and b in out and "interrupted" in out and "complete" in out


def test_export_json_to_file(store_path, tmp_path, capsys):
    a, _ = run_ids(store_path)
    out = tmp_path / "out" / "a.json"
    assert main(["export", a, "--format", "json", "--out", str(out), "--store", str(store_path)]) == 0
    doc = json.loads(out.read_text())
    assert {"machine_info", "commit_info", "benchmarks", "datetime", "version"} <= set(doc)
    assert len(doc["benchmarks"]) == 2 and doc["failed"][0]["reason"] == "OOM"
    assert str(out) in capsys.readouterr().err


def test_export_csv_latest_to_stdout(store_path, capsys):
    assert main(["export", "latest", "--format", "csv", "--store", str(store_path)]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == 1 and rows[0]["key.model"] == "resnet50"
    assert rows[0]["run_id"] == run_ids(store_path)[1]


def test_compare_baseline_prints_ratios(store_path, capsys):
    a, _ = run_ids(store_path)
    assert main(["compare", a, "--store", str(store_path)]) == 0
    out = capsys.readouterr().out
    assert "ratios to resnet50" in out and "0.50x" in out and "1.50x" in out
    assert "failed: OOM" in out


@pytest.mark.parametrize("fresh", [False, True])
def test_compare_baseline_warns_about_rss_shared_by_in_process_cells(tmp_path, capsys, fresh):
    path = tmp_path / "s.sqlite"
    with ResultStore(path) as store:
        run = store.start_run(
            suite="quick",
            config={"fresh_process": fresh},
            metadata={"machine_info": MACHINE, "commit_info": {}},
        )
        for model, rss in (("resnet50", 2400.0), ("vgg16", 3800.0)):
            store.record_cell(
                run,
                "timing",
                key(model),
                metrics={
                    "times": [0.1] * 3,
                    "images_per_s": 10.0,
                    "compile_s": 1.0,
                    "peak_rss_mb": rss,
                    "peak_device_mb": None,
                },
            )
    assert main(["compare", "latest", "--store", str(path)]) == 0
    assert ("Peak RSS was measured in one process" in capsys.readouterr().err) is not fresh


def test_compare_two_runs_flags_regression_and_machine_difference(store_path, capsys):
    a, b = run_ids(store_path)
    assert main(["compare", a, b, "--store", str(store_path)]) == 1
    captured = capsys.readouterr()
    assert "regression" in captured.out and "+20.0%" in captured.out
    assert "warning:" in captured.err and "cpu model ('AMD EPYC' vs 'Intel Xeon')" in captured.err
    assert "1 regression(s): resnet50-xla-cpu-b8-224" in captured.err
    assert main(["compare", a, b, "--threshold", "0.5", "--store", str(store_path)]) == 0


@pytest.mark.parametrize(
    "argv, message",
    [
        (["export", "nope"], "no run 'nope'"),
        (["compare", "latest", "nope"], "no run 'nope'"),
        (["compare", "latest", "latest", "--baseline", "vgg16"], "either RUN_B or --baseline"),
        (["compare", "latest", "--threshold", "-1"], "--threshold must be >= 0"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(store_path, capsys, argv, message):
    assert main(argv + ["--store", str(store_path)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and err.startswith("saliency-bench: error:")


def test_missing_store_and_not_a_store(tmp_path, capsys):
    missing = tmp_path / "none.sqlite"
    assert main(["runs", "--store", str(missing)]) == 2
    err = capsys.readouterr().err
    assert f"no results store at {missing}" in err and err.count("\n") == 1
    assert not missing.exists()  # reading never creates a store
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"\x00garbage" * 200)
    assert main(["export", "latest", "--store", str(junk)]) == 2
    err = capsys.readouterr().err
    assert str(junk) in err and "not a usable SQLite results store" in err


def test_empty_store(tmp_path, capsys):
    path = tmp_path / "empty.sqlite"
    ResultStore(path).close()
    assert main(["runs", "--store", str(path)]) == 0
    assert "no runs" in capsys.readouterr().out
    assert main(["compare", "latest", "--store", str(path)]) == 2
    assert "no runs" in capsys.readouterr().err
