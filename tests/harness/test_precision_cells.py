"""The precision axis of timing cells: the key (``precision`` only for low precisions,
so keys stored before the axis existed still match), suites, fidelity recorded with
each low-precision cell, and the readers (compare, report) on old and new cells."""

from __future__ import annotations

import pytest

from saliency_core.harness import cell_spec, runner
from saliency_core.harness.precision_compare import compare_precisions
from saliency_core.harness.timing_diff import compare_runs
from saliency_core.harness.suites import Suite, parse_suite
from saliency_core.harness.suite_schema import SuiteError
from saliency_core.harness.call_timing import TimingConfig
from saliency_core.store import ResultStore

from .test_runner import tiny_loader

FAST = TimingConfig(min_repeats=2, max_repeats=2, budget_s=0.0, warmup=0)
OLD_KEY = {"model": "tiny", "variant": "function", "batch_size": 2, "device": "cpu", "image_size": 16}


@pytest.fixture
def store(tmp_path):
    with ResultStore(tmp_path / "results.sqlite") as s:
        yield s


def test_cell_key_has_precision_only_below_float32():
    assert cell_spec.CellSpec("tiny", "function", 2, "cpu").key(16) == OLD_KEY
    low = cell_spec.CellSpec("tiny", "function", 2, "cpu", precision="bfloat16").key(16)
    assert low == {**OLD_KEY, "precision": "bfloat16"}
    assert cell_spec.key_precision(OLD_KEY) == "float32" and cell_spec.key_precision(low) == "bfloat16"


def test_suite_precisions_parse_default_and_round_trip():
    base = {"name": "s", "models": ["resnet50"], "variants": ["xla"], "batch_sizes": [8]}
    assert parse_suite(base).precisions == ("float32",)
    suite = parse_suite({**base, "precisions": ["bfloat16", "float32", "bfloat16"]})
    assert suite.precisions == ("float32", "bfloat16")  # float32 first, no repeats
    assert [c.precision for c in cell_spec.expand_cells(suite)] == ["float32", "bfloat16"]
    stored = suite.to_dict()
    assert Suite.from_dict(stored).precisions == ("float32", "bfloat16")
    del stored["precisions"]  # a run config written before the precision axis
    assert Suite.from_dict(stored).precisions == ("float32",)
    with pytest.raises(SuiteError, match=r"precisions\[0\].*'float8'.*bfloat16"):
        parse_suite({**base, "precisions": ["float8"]}, source="my.toml")


def test_low_precision_cells_record_fidelity_and_float32_cells_keep_old_keys(store):
    grid = Suite(
        name="prec",
        models=("tiny",),
        variants=("function",),
        batch_sizes=(2,),
        precisions=("float32", "bfloat16"),
        image_size=16,
        timing=FAST,
    )
    run_id = runner.run_suite(grid, store, progress=False, loader=tiny_loader, roof_gflops=1.0)
    cells = {cell_spec.key_precision(c.key): c for c in store.cells(run_id, kind="timing")}
    assert set(cells) == {"float32", "bfloat16"}
    f32, low = cells["float32"], cells["bfloat16"]
    assert f32.key == OLD_KEY and "fidelity" not in f32.metrics
    assert f32.metrics["precision"] == "float32"
    fid = low.metrics["fidelity"]
    assert low.status == "ok" and low.key["precision"] == "bfloat16"
    assert fid["images"] == 2 and len(fid["per_image"]["rel_l2"]) == 2
    assert -1 <= fid["spearman_abs"] <= 1 and fid["rel_l2"] > 0  # computed, not float32
    assert fid["reference"]["precision"] == "float32"
    [row] = compare_precisions(store, run_id)
    assert row.precision == "bfloat16" and row.float32_images_per_s == f32.metrics["images_per_s"]
    assert row.speedup == pytest.approx(low.metrics["images_per_s"] / f32.metrics["images_per_s"])


def _record(store, key, median):
    run_id = store.start_run("old", config={}, metadata={"machine_info": {"cpu_model": "x"}})
    store.record_cell(
        run_id,
        "timing",
        key,
        status="ok",
        metrics={"times": [median] * 3, "median_s": median, "iqr_s": 0.0, "images_per_s": 2 / median},
    )
    store.finish_run(run_id)
    return run_id


def test_a_run_stored_before_the_precision_axis_compares_with_a_new_float32_run(store):
    old = _record(store, OLD_KEY, 0.5)  # written by the old code: no precision entry
    new = _record(store, cell_spec.CellSpec("tiny", "function", 2, "cpu").key(16), 0.5)
    [row] = compare_runs(store, old, new)
    assert row.verdict == "unchanged" and row.change == 0.0


def test_report_reads_old_cells_as_float32_and_shows_a_precision_section(store, tmp_path):
    from saliency_core.report import render_report
    from saliency_core.report.run_reader import load_report_data
    from saliency_core.report.precision_section import precision_rows

    run_id = store.start_run("mixed", config={}, metadata={})
    base = {"times": [0.5] * 3, "median_s": 0.5, "iqr_s": 0.0, "images_per_s": 4.0}
    store.record_cell(run_id, "timing", OLD_KEY, status="ok", metrics=base)
    fidelity = {
        "spearman_abs": 0.95,
        "spearman_abs_min": 0.9,
        "rel_l2": 0.2,
        "rel_l2_max": 0.3,
        "top_overlap": 0.8,
        "top_overlap_min": 0.7,
        "top1_agreement": 1.0,
        "images": 2,
        "per_image": {"rel_l2": [0.1, 0.3]},
    }
    store.record_cell(
        run_id,
        "timing",
        {**OLD_KEY, "precision": "bfloat16"},
        status="ok",
        metrics={**base, "images_per_s": 6.0, "fidelity": fidelity},
    )
    store.finish_run(run_id)
    data = load_report_data(store, run_id)
    assert [t.precision for t in data.timings] == ["float32", "bfloat16"]
    [row] = precision_rows(data.timings)
    assert row.speedup == pytest.approx(1.5) and row.measure("rel_l2_max") == 0.3
    paths = render_report(store, run_id, tmp_path / "report")
    md = paths["md"].read_text()
    assert "## Precision: speed against fidelity" in md and "1.50×" in md
    assert "0.950 (0.900)" in md
    figures = (tmp_path / "report" / "figures").iterdir()
    assert any(p.name.endswith("-precision.png") for p in figures)


def test_report_without_low_precision_has_no_precision_section(store, tmp_path):
    from saliency_core.report import render_report

    run_id = _record(store, OLD_KEY, 0.5)
    md = render_report(store, run_id, tmp_path / "r", formats=("md",))["md"].read_text()
    assert "Precision: speed against fidelity" not in md
    figures = (tmp_path / "r" / "figures").iterdir()
    assert not any(p.name.endswith("-precision.png") for p in figures)


def test_export_groups_low_precision_benchmarks_apart(store):
    from saliency_core.store import export_json

    run_id = store.start_run("mixed", config={}, metadata={})
    base = {"times": [0.5] * 3, "median_s": 0.5, "images_per_s": 4.0}
    store.record_cell(run_id, "timing", OLD_KEY, status="ok", metrics=base)
    store.record_cell(run_id, "timing", {**OLD_KEY, "precision": "float16"}, status="ok", metrics=base)
    groups = [b["group"] for b in export_json(store, run_id)["benchmarks"]]
    assert groups == ["cpu/function/b2", "cpu/function/b2/float16"]
