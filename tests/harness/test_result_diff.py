"""Run B's results against run A's: identical cells, moved values, changed verdicts, missing cells."""

import numpy as np

from saliency_core.harness.result_diff import compare_results, result_diff_table
from saliency_core.store import ResultStore


def _record(store, run, deletion_per_image, map_values, verdict, extra_metric=False):
    key = {"model": "m", "data": "d", "method": "gradient", "metric": "deletion"}
    store.record_cell(
        run,
        "check",
        key,
        metrics={"value": float(np.mean(deletion_per_image)), "per_image": deletion_per_image},
    )
    if extra_metric:
        store.record_cell(
            run, "check", {**key, "metric": "insertion"}, metrics={"value": 0.5, "per_image": [0.5]}
        )
    store.record_cell(
        run,
        "maps",
        {"model": "m", "method": "gradient", "image": "cat"},
        metrics={"target": 3},
        artifacts={"map": np.asarray(map_values, dtype=np.float32)},
    )
    store.record_cell(run, "gate", {"model": "m", "data": "d", "policy": "default"}, metrics=verdict)


def test_identical_moved_missing_and_old_style_gate_cells(tmp_path):
    with ResultStore(tmp_path / "s.sqlite") as store:
        a, b, c = store.start_run("x"), store.start_run("x"), store.start_run("x")
        _record(store, a, [0.1, 0.3], [[0.0, 2.0]], {"passed": False})  # a gate from before three outcomes
        _record(store, b, [0.1, 0.3], [[0.0, 2.0]], {"verdict": "fail", "passed": False})
        _record(store, c, [0.1, 0.35], [[0.0, 2.5]], {"verdict": "inconclusive"}, extra_metric=True)

        same = {r.kind: r for r in compare_results(store, a, b)}
        assert all(r.same for r in same.values()) and same["check"].max_abs_diff == 0.0
        assert (same["gate"].a, same["gate"].b) == ("fail", "fail")

        moved = compare_results(store, a, c)
        by = {(r.kind, dict(p.split("=") for p in r.name.split()).get("metric")): r for r in moved}
        check = by[("check", "deletion")]
        assert check.same is False and abs(check.max_abs_diff - 0.05) < 1e-12
        assert (check.a, check.b) == ("0.2", "0.225")
        maps = next(r for r in moved if r.kind == "maps")
        assert maps.same is False and abs(maps.max_abs_diff - 0.25) < 1e-7  # 0.5 of run A's largest |value| 2
        assert by[("check", "insertion")].a == "-" and by[("check", "insertion")].same is None
        gate = next(r for r in moved if r.kind == "gate")
        assert (gate.a, gate.b, gate.same) == ("fail", "inconclusive", False)
        headers, body = result_diff_table(moved)
        assert headers[-1] == "same" and [row[-1] for row in body].count("differs") == 3
