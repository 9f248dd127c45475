"""Comparisons on a synthetic store with known numbers: ratios to a baseline backbone,
run-against-run regressions only outside the spread, machine-difference warnings."""

from __future__ import annotations

import io
import warnings

import pytest

from saliency_core.harness.machine_diff import MachineMismatchWarning, machine_differences
from saliency_core.harness.baseline import baseline_table, compare_baseline
from saliency_core.harness.timing_diff import compare_runs, diff_table
from saliency_core.harness.text_table import format_table, print_table, runs_table
from saliency_core.store import ResultStore

MACHINE = {
    "cpu_model": "AMD EPYC 7B13",
    "cpu_count": 2,
    "cpu_usable": 2,
    "system": "Linux",
    "machine": "x86_64",
    "python_version": "3.11.7",
    "tensorflow": "2.21.0",
    "keras": "3.15.1",
    "numpy": "2.4.6",
    "gpus": [],
    "gpu_driver": None,
    "xla_flags": None,
    "tf_xla_flags": None,
    "node": "box-1",
}


def meta(**changes):
    return {"machine_info": {**MACHINE, **changes}, "commit_info": {"id": "a" * 40}}


def key(model, variant="xla", batch=8, device="cpu", size=224):
    return {"model": model, "variant": variant, "batch_size": batch, "device": device, "image_size": size}


def timing(images_per_s, compile_s, rss, device_mb=None, times=None):
    return {
        "times": times or [8 / images_per_s] * 5,
        "images_per_s": images_per_s,
        "compile_s": compile_s,
        "peak_rss_mb": rss,
        "peak_device_mb": device_mb,
    }


@pytest.fixture
def store(tmp_path):
    with ResultStore(tmp_path / "results.sqlite") as s:
        yield s


def test_ratios_to_baseline_on_same_device_variant_and_batch(store):
    run = store.start_run(suite="s", metadata=meta())
    rec = store.record_cell
    # cpu/xla/b8: resnet50 100 img/s, 10 s compile, 1000 MiB; vgg16 50, 20, 1500
    rec(run, "timing", key("vgg16"), metrics=timing(50.0, 20.0, 1500.0))
    rec(run, "timing", key("resnet50"), metrics=timing(100.0, 10.0, 1000.0))
    rec(run, "timing", key("inception_v3", size=299), metrics=timing(125.0, 5.0, 800.0))
    # gpu/xla/b8: device memory on both sides is compared, not RSS
    rec(run, "timing", key("resnet50", device="gpu:0"), metrics=timing(1000.0, 8.0, 3000.0, 2048.0))
    rec(run, "timing", key("vgg16", device="gpu:0"), metrics=timing(400.0, 12.0, 2000.0, 4096.0))
    # cpu/eager/b8: the baseline failed; cpu/xla/b32: no baseline at all
    rec(run, "timing", key("resnet50", "eager"), status="failed", reason="weights missing")
    rec(run, "timing", key("vgg16", "eager"), metrics=timing(40.0, 0.5, 900.0))
    rec(run, "timing", key("vgg16", batch=32), metrics=timing(60.0, 21.0, 2500.0))
    rec(run, "timing", key("densenet121"), status="failed", reason="OOM")

    rows = {(r.model, r.device, r.variant, r.batch_size): r for r in compare_baseline(store, run)}
    assert len(rows) == 9
    base = rows["resnet50", "cpu", "xla", 8]
    assert (base.images_per_s_ratio, base.compile_ratio, base.peak_ratio) == (1.0, 1.0, 1.0)
    vgg = rows["vgg16", "cpu", "xla", 8]
    assert (vgg.images_per_s_ratio, vgg.compile_ratio, vgg.peak_ratio) == (0.5, 2.0, 1.5)
    assert vgg.peak_kind == "rss" and vgg.note is None
    inc = rows["inception_v3", "cpu", "xla", 8]  # other input size, same device/variant/batch
    assert (inc.images_per_s_ratio, inc.compile_ratio, inc.peak_ratio) == (1.25, 0.5, 0.8)
    gpu = rows["vgg16", "gpu:0", "xla", 8]
    assert (gpu.images_per_s_ratio, gpu.compile_ratio, gpu.peak_ratio) == (0.4, 1.5, 2.0)
    assert gpu.peak_kind == "device" and gpu.peak_mb == 4096.0

    eager = rows["vgg16", "cpu", "eager", 8]
    assert eager.images_per_s_ratio is None and eager.compile_ratio is None
    assert eager.note == "n/a: resnet50 failed for cpu/eager/b8: weights missing"
    big = rows["vgg16", "cpu", "xla", 32]
    assert big.images_per_s_ratio is None and big.note == "n/a: no resnet50 cell for cpu/xla/b32"
    dense = rows["densenet121", "cpu", "xla", 8]
    assert dense.status == "failed" and dense.note == "failed: OOM"

    headers, body = baseline_table(list(rows.values()))
    text = format_table(headers, body)
    assert "img/s vs resnet50" in text and "0.50x" in text and "2.00x" in text
    assert "n/a: no resnet50 cell for cpu/xla/b32" in text
    # grouped, baseline first in its group
    ordered = compare_baseline(store, run)
    xla8 = [r.model for r in ordered if (r.device, r.variant, r.batch_size) == ("cpu", "xla", 8)]
    assert xla8[0] == "resnet50"


def test_other_baseline_name_is_case_insensitive(store):
    run = store.start_run(suite="s", metadata=meta())
    store.record_cell(run, "timing", key("resnet50"), metrics=timing(100.0, 10.0, 1000.0))
    store.record_cell(run, "timing", key("vgg16"), metrics=timing(50.0, 20.0, 1500.0))
    rows = {r.model: r for r in compare_baseline(store, run, baseline="VGG16")}
    assert rows["resnet50"].images_per_s_ratio == 2.0


def _spread_times(median, half_width):
    """Five per-call times around ``median``. pytest-benchmark's quartiles for five rounds
    (Wikipedia method 3) are Q1 = 0.25 x1 + 0.75 x2 = median - 0.625 half_width, and
    Q3 = median + 0.625 half_width."""
    return [
        median - half_width,
        median - half_width / 2,
        median,
        median + half_width / 2,
        median + half_width,
    ]


def test_regression_flagged_only_outside_spread(store):
    run_a = store.start_run(suite="s", metadata=meta())
    run_b = store.start_run(suite="s", metadata=meta())
    cases = {
        # model: (A median, A width, B median, B width) in seconds per call
        "tight_slower": (0.100, 0.004, 0.120, 0.004),  # +20 %, IQRs apart -> regression
        "noisy_slower": (0.100, 0.040, 0.120, 0.040),  # +20 %, IQRs overlap -> within spread
        "small_change": (0.100, 0.001, 0.105, 0.001),  # +5 %, IQRs apart -> unchanged
        "tight_faster": (0.100, 0.004, 0.080, 0.004),  # -20 %, IQRs apart -> improvement
    }
    for model, (ma, wa, mb, wb) in cases.items():
        store.record_cell(run_a, "timing", key(model), metrics={"times": _spread_times(ma, wa)})
        store.record_cell(run_b, "timing", key(model), metrics={"times": _spread_times(mb, wb)})
    store.record_cell(run_a, "timing", key("breaks"), metrics={"times": [0.1] * 5})
    store.record_cell(run_b, "timing", key("breaks"), status="failed", reason="OOM")
    store.record_cell(run_a, "timing", key("dropped"), metrics={"times": [0.1] * 5})
    store.record_cell(run_b, "timing", key("added"), metrics={"times": [0.1] * 5})

    with warnings.catch_warnings():
        warnings.simplefilter("error", MachineMismatchWarning)  # same machine: no warning
        rows = {r.key["model"]: r for r in compare_runs(store, run_a, run_b, threshold=0.10)}
    assert rows["tight_slower"].verdict == "regression"
    assert rows["tight_slower"].change == pytest.approx(0.20)
    assert rows["tight_slower"].median_a == pytest.approx(0.100)
    assert rows["tight_slower"].spread_a == pytest.approx((0.0975, 0.1025))
    assert rows["noisy_slower"].verdict == "within spread"
    assert rows["small_change"].verdict == "unchanged"
    assert rows["tight_faster"].verdict == "improvement"
    assert rows["breaks"].verdict == "failed in B" and rows["breaks"].reason == "B: OOM"
    assert rows["dropped"].verdict == "only in A" and rows["added"].verdict == "only in B"
    assert list(rows)[-1] == "added"

    # a looser threshold turns the regression into "unchanged"
    loose = {r.key["model"]: r for r in compare_runs(store, run_a, run_b, threshold=0.25)}
    assert loose["tight_slower"].verdict == "unchanged"

    text = format_table(*diff_table(list(rows.values())))
    assert "+20.0%" in text and "regression" in text and "failed in B (B: OOM)" in text


def test_median_and_iqr_metrics_used_when_times_absent(store):
    run_a = store.start_run(suite="s", metadata=meta())
    run_b = store.start_run(suite="s", metadata=meta())
    store.record_cell(run_a, "timing", key("m"), metrics={"median_s": 0.1, "iqr_s": 0.002})
    store.record_cell(run_b, "timing", key("m"), metrics={"median_s": 0.2, "iqr_s": 0.002})
    [row] = compare_runs(store, run_a, run_b)
    assert row.verdict == "regression" and row.spread_b == pytest.approx((0.199, 0.201))


def test_machine_difference_warning_names_fields(store):
    run_a = store.start_run(suite="s", metadata=meta())
    run_b = store.start_run(
        suite="s", metadata=meta(cpu_model="Intel Xeon Gold 6230", tensorflow="2.20.0", node="box-2")
    )
    store.record_cell(run_a, "timing", key("m"), metrics={"times": [0.1] * 3})
    store.record_cell(run_b, "timing", key("m"), metrics={"times": [0.1] * 3})
    [message] = machine_differences(store, run_a, run_b)
    assert "cpu model ('AMD EPYC 7B13' vs 'Intel Xeon Gold 6230')" in message
    assert "tensorflow ('2.21.0' vs '2.20.0')" in message
    assert "node" not in message  # a host name alone does not make timings incomparable
    with pytest.warns(MachineMismatchWarning, match="cpu model"):
        compare_runs(store, run_a, run_b)


def test_resumed_on_other_machine_and_missing_metadata_warn(store):
    run_a = store.start_run(suite="s", metadata=meta())
    store.resume_run(run_a, metadata=meta(gpus=[{"name": "Tesla T4"}], gpu_driver="535.1"))
    run_b = store.start_run(suite="s", metadata={})
    messages = machine_differences(store, run_a, run_b)
    assert any("resumed" in m and "gpus ([] vs ['Tesla T4'])" in m for m in messages)
    assert any(f"run {run_b} has no machine metadata" in m for m in messages)


def test_plain_and_rich_table_printing(store):
    run = store.start_run(suite="quick", metadata=meta())
    store.record_cell(run, "timing", key("m"), metrics={"times": [0.1]})
    store.record_cell(run, "timing", key("n"), status="failed", reason="OOM")
    headers, body = runs_table(store, store.list_runs())
    assert body[0][:3] == [run, "quick", "running"] and body[0][5:7] == ["1", "1"]
    assert body[0][7] == "a" * 10
    out = io.StringIO()  # not a terminal: the plain formatter
    print_table(headers, body, title="runs", file=out)
    lines = out.getvalue().splitlines()
    assert lines[0] == "runs" and lines[1].split() == headers[:5] + [
        "cells",
        "ok",
        "cells",
        "failed",
        "commit",
    ]
    assert set(lines[2]) <= {"-", " "}


def test_format_table_alignment():
    text = format_table(["a", "long header"], [["xyz", "1"], ["w", "22"]])
    assert text.splitlines() == ["a    long header", "---  -----------", "xyz  1", "w    22"]
