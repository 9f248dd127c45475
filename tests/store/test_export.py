"""Run export: pytest-benchmark JSON layout and statistics, and the per-cell CSV."""

from __future__ import annotations

import csv
import io
import json
import math
import statistics
import subprocess
import sys

import pytest

from saliency_core.store import ResultStore, export_csv, export_json, timing_stats

# Field names of pytest-benchmark's JSON output (``pytest --benchmark-json``), as written by
# pytest_benchmark.plugin.pytest_benchmark_generate_json (top level),
# pytest_benchmark.stats.Metadata.as_dict (each benchmark) and Stats.fields plus
# "data"/"iterations" (each benchmark's "stats"), pytest-benchmark 4.x/5.x.
PYTEST_BENCHMARK_TOP = {"machine_info", "commit_info", "benchmarks", "datetime", "version"}
PYTEST_BENCHMARK_BENCH = {"group", "name", "fullname", "params", "param", "extra_info", "options", "stats"}
PYTEST_BENCHMARK_STATS = {
    "min",
    "max",
    "mean",
    "stddev",
    "rounds",
    "median",
    "iqr",
    "q1",
    "q3",
    "iqr_outliers",
    "stddev_outliers",
    "outliers",
    "ld15iqr",
    "hd15iqr",
    "ops",
    "total",
    "data",
    "iterations",
}

# Hand-computed for times [0.5, 0.1, 0.4, 0.2, 0.3, 1.0] s (six rounds, sorted
# 0.1 0.2 0.3 | 0.4 0.5 1.0). pytest-benchmark's quartiles for an even count are the
# medians of the lower and upper halves (Wikipedia "Quartile", method 2).
TIMES = [0.5, 0.1, 0.4, 0.2, 0.3, 1.0]
EXPECTED = {
    "min": 0.1,
    "max": 1.0,
    "rounds": 6,
    "total": 2.5,
    "mean": 2.5 / 6,  # 0.41667
    "median": (0.3 + 0.4) / 2,  # 0.35
    "q1": 0.2,
    "q3": 0.5,
    "iqr": 0.3,  # median(0.1, 0.2, 0.3), median(0.4, 0.5, 1.0)
    "ops": 6 / 2.5,  # rounds / total = 2.4 calls per second
    "ld15iqr": 0.1,  # lowest datum >= q1 - 1.5 iqr = -0.25
    "hd15iqr": 0.5,  # highest datum <= q3 + 1.5 iqr = 0.95 (1.0 is out)
    "iqr_outliers": 1,  # 1.0
    # sample stddev: sqrt(sum((t - mean)^2) / 5) = sqrt(0.508333 / 5) = 0.318852
    "stddev": math.sqrt(0.5083333333333333 / 5),
    "stddev_outliers": 1,  # outside mean +- stddev = [0.0978, 0.7355]: 1.0
    "outliers": "1;1",
}

META = {
    "machine_info": {"node": "box", "cpu_model": "test cpu", "cpu": {"count": 2}},
    "commit_info": {"id": "f" * 40, "dirty": False, "branch": "main"},
}


def key(model, batch=8):
    return {"model": model, "variant": "xla", "batch_size": batch, "device": "cpu", "image_size": 224}


def metrics(times, **extra):
    s = sorted(times)
    return {
        "times": list(times),
        "median_s": statistics.median(s),
        "iqr_s": 0.0,
        "min_s": s[0],
        "images_per_s": 8 / statistics.median(s),
        "compile_s": 3.0,
        "first_call_s": 3.5,
        "peak_rss_mb": 1200.0,
        "peak_device_mb": None,
        "retraces": 0,
        "flops_per_image": None,
        "roof_fraction": None,
        **extra,
    }


@pytest.fixture
def store_and_run(tmp_path):
    with ResultStore(tmp_path / "results.sqlite") as store:
        run_id = store.start_run(suite="quick", config={"rounds": 6}, seed=0, metadata=META)
        store.record_cell(
            run_id, kind="timing", key=key("resnet50"), metrics=metrics(TIMES, roof_fraction=float("nan"))
        )
        store.record_cell(
            run_id,
            kind="timing",
            key=key("vgg16"),
            status="failed",
            reason="OOM: ResourceExhaustedError",
            metrics={"peak_rss_mb": 9e3},
        )
        store.record_cell(
            run_id,
            kind="check",
            key={"model": "resnet50", "data": "photos", "method": "vanilla", "metric": "deletion"},
            metrics={"value": 0.12, "direction": "lower", "per_image": [0.1, 0.14], "config": {"steps": 20}},
        )
        store.finish_run(run_id, status="complete")
        yield store, run_id


def test_stats_match_hand_computed_values():
    stats = timing_stats(TIMES)
    for name, value in EXPECTED.items():
        expected = value if isinstance(value, str) else pytest.approx(value, rel=1e-12)
        assert stats[name] == expected, name
    assert stats["data"] == TIMES and stats["iterations"] == 1


def test_stats_odd_count_and_single_round():
    # five rounds 1..5: Wikipedia method 3 (n = 4k + 1, k = 1):
    # q1 = 0.25 x1 + 0.75 x2 = 1.75, q3 = 0.75 x4 + 0.25 x5 = 4.25
    s = timing_stats([5.0, 1.0, 4.0, 2.0, 3.0])
    assert (s["median"], s["q1"], s["q3"], s["iqr"]) == (3.0, 1.75, 4.25, 2.5)
    assert s["ops"] == pytest.approx(5 / 15)
    one = timing_stats([0.25])
    assert (one["median"], one["iqr"], one["stddev"], one["ops"], one["ld15iqr"], one["hd15iqr"]) == (
        0.25,
        0.0,
        0.0,
        4.0,
        0.25,
        0.25,
    )
    with pytest.raises(ValueError):
        timing_stats([])


@pytest.mark.parametrize(
    "times", [TIMES, [5.0, 1.0, 4.0, 2.0, 3.0], [0.3, 0.1, 0.2, 9.0, 0.15, 0.11, 0.12], [0.25]]
)
def test_stats_agree_with_pytest_benchmark(times):
    pb_stats = pytest.importorskip("pytest_benchmark.stats")
    reference = pb_stats.Stats()
    for t in times:
        reference.update(t)
    ours = timing_stats(times)
    for field in pb_stats.Stats.fields:
        expected = getattr(reference, field)
        if field == "hd15iqr" and expected != ours[field]:
            # releases before the fix returned the first datum *above* the fence; ours is
            # the highest datum within it, as the field is documented
            fence = ours["q3"] + 1.5 * ours["iqr"]
            assert ours[field] <= fence < expected
            continue
        assert ours[field] == (expected if isinstance(expected, str) else pytest.approx(expected))


def test_json_export_has_pytest_benchmark_layout(store_and_run):
    store, run_id = store_and_run
    doc = export_json(store, run_id)
    assert PYTEST_BENCHMARK_TOP <= set(doc)
    assert doc["machine_info"] == META["machine_info"]
    assert doc["commit_info"] == META["commit_info"]
    [bench] = doc["benchmarks"]  # the failed cell and the check cell are not benchmarks
    assert set(bench) == PYTEST_BENCHMARK_BENCH
    assert set(bench["stats"]) == PYTEST_BENCHMARK_STATS
    pb_stats = sys.modules.get("pytest_benchmark.stats")
    if pb_stats is not None:  # the installed pytest-benchmark agrees with the list above
        assert set(pb_stats.Stats.fields) | {"data", "iterations"} == PYTEST_BENCHMARK_STATS
    assert bench["params"] == key("resnet50")
    assert bench["name"] == "timing[resnet50-xla-cpu-b8-224]"
    assert bench["fullname"] == "quick::timing[resnet50-xla-cpu-b8-224]"
    assert bench["stats"]["median"] == pytest.approx(0.35)
    assert bench["stats"]["iqr"] == pytest.approx(0.3)
    assert bench["stats"]["ops"] == pytest.approx(2.4)
    assert bench["extra_info"]["images_per_s"] == pytest.approx(8 / 0.35)
    assert "times" not in bench["extra_info"]
    assert bench["extra_info"]["roof_fraction"] is None  # NaN is not JSON
    assert doc["failed"] == [
        {
            "name": "timing[vgg16-xla-cpu-b8-224]",
            "params": key("vgg16"),
            "status": "failed",
            "reason": "OOM: ResourceExhaustedError",
        }
    ]
    assert doc["saliency_bench"]["run_id"] == run_id
    assert doc["saliency_bench"]["status"] == "complete"
    json.loads(json.dumps(doc, allow_nan=False))  # strict JSON


def test_pytest_benchmark_compare_reads_the_export(store_and_run, tmp_path):
    """pytest-benchmark's own command-line tool loads and tabulates the exported file."""
    pytest.importorskip("pytest_benchmark")
    store, run_id = store_and_run
    path = tmp_path / "0001_export.json"
    path.write_text(json.dumps(export_json(store, run_id)))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest_benchmark",
            "compare",
            str(path),
            "--columns=min,median,iqr,ops,rounds",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "timing[resnet50-xla-cpu-b8-224]" in result.stdout
    assert "350.0000" in result.stdout  # median 0.35 s shown in ms


def test_csv_export_one_row_per_cell(store_and_run, tmp_path):
    store, run_id = store_and_run
    buf = io.StringIO()
    assert export_csv(store, run_id, buf) == 3
    rows = list(csv.DictReader(io.StringIO(buf.getvalue())))
    assert [r["kind"] for r in rows] == ["timing", "timing", "check"]
    ok, failed, check = rows
    assert list(rows[0])[:6] == ["run_id", "cell_id", "kind", "status", "reason", "created"]
    assert ok["run_id"] == run_id and ok["key.model"] == "resnet50" and ok["key.batch_size"] == "8"
    assert json.loads(ok["metrics.times"]) == TIMES
    assert float(ok["metrics.compile_s"]) == 3.0 and ok["metrics.peak_device_mb"] == ""
    assert (failed["status"], failed["reason"]) == ("failed", "OOM: ResourceExhaustedError")
    assert failed["metrics.compile_s"] == ""
    assert check["key.metric"] == "deletion" and check["metrics.config.steps"] == "20"
    out = tmp_path / "run.csv"
    export_csv(store, run_id, out)
    assert out.read_text() == buf.getvalue()
