"""The SQLite results store: API round-trips, crash safety, concurrency, schema checks,
and the machine/commit metadata recorded with a run. No TensorFlow is imported."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
import types

import numpy as np
import pytest

from saliency_core.store import (
    SCHEMA_VERSION,
    DuplicateCellError,
    ResultStore,
    StoreError,
    UnknownRunError,
    canonical_json,
    commit_info,
    machine_info,
)
from saliency_core.store import machine as machine_mod

META = {"machine_info": {"cpu_model": "test cpu", "cpu_count": 2}, "commit_info": {"id": "abc"}}


def timing_key(model="resnet50", batch_size=8, variant="xla"):
    return {"model": model, "variant": variant, "batch_size": batch_size, "device": "cpu", "image_size": 224}


@pytest.fixture
def store(tmp_path):
    with ResultStore(tmp_path / "reports" / "results.sqlite") as s:
        yield s


# --- API round-trips ---------------------------------------------------------------------


def test_run_and_cells_round_trip(store):
    run_id = store.start_run(suite="quick", config={"models": ["resnet50"]}, seed=3, metadata=META)
    assert len(run_id) == 20 and run_id[8] == "-" and run_id[15] == "-"
    run = store.get_run(run_id)
    assert (run.suite, run.status, run.seed, run.finished) == ("quick", "running", 3, None)
    assert run.config == {"models": ["resnet50"]} and run.metadata == META

    key = timing_key(batch_size=np.int64(8))  # numpy scalars are stored as plain numbers
    maps = np.arange(12, dtype=np.float32).reshape(3, 4)
    cell_id = store.record_cell(
        run_id,
        kind="timing",
        key=key,
        status="ok",
        metrics={"times": [0.1, 0.2], "median_s": np.float64(0.15)},
        artifacts={"map": maps, "image": np.zeros((2, 2, 3), np.uint8)},
    )
    assert store.has_cell(run_id, kind="timing", key=timing_key(batch_size=8))
    assert not store.has_cell(run_id, kind="check", key=timing_key())
    assert not store.has_cell(run_id, kind="timing", key=timing_key(batch_size=16))
    [cell] = store.cells(run_id)
    assert cell.id == cell_id and cell.run_id == run_id and cell.kind == "timing"
    assert cell.key == timing_key() and cell.status == "ok" and cell.reason is None
    assert cell.metrics == {"times": [0.1, 0.2], "median_s": 0.15}
    assert store.artifact_names(cell_id) == ["image", "map"]
    np.testing.assert_array_equal(store.artifact(cell_id, "map"), maps)
    assert store.artifact(cell_id, "map").dtype == np.float32
    with pytest.raises(KeyError, match="curves"):
        store.artifact(cell_id, "curves")

    store.finish_run(run_id, status="complete")
    run = store.get_run(run_id)
    assert run.status == "complete" and run.finished is not None


def test_failed_cell_with_reason_round_trips(store):
    run_id = store.start_run(suite="quick", metadata=META)
    reason = "ResourceExhaustedError: OOM when allocating tensor with shape [64,2048,7,7]"
    store.record_cell(
        run_id,
        kind="timing",
        key=timing_key("vgg16"),
        status="failed",
        metrics={"peak_rss_mb": 9000.0},
        reason=reason,
    )
    [cell] = store.cells(run_id, kind="timing")
    assert (cell.status, cell.reason, cell.metrics) == ("failed", reason, {"peak_rss_mb": 9000.0})
    with pytest.raises(StoreError, match="reason"):
        store.record_cell(run_id, kind="timing", key=timing_key("x"), status="failed")
    with pytest.raises(StoreError, match="status"):
        store.record_cell(run_id, kind="timing", key=timing_key("x"), status="skipped")


def test_duplicate_cell_is_impossible(store):
    run_id = store.start_run(suite="quick", metadata=META)
    store.record_cell(run_id, kind="timing", key=timing_key(), metrics={})
    reordered = dict(reversed(list(timing_key().items())))  # same dict, other key order
    with pytest.raises(DuplicateCellError, match=run_id):
        store.record_cell(run_id, kind="timing", key=reordered, metrics={}, artifacts={"a": np.ones(3)})
    assert len(store.cells(run_id)) == 1
    assert store.artifact_names(store.cells(run_id)[0].id) == []  # rolled back with the cell
    # the same key is a different cell in another kind or another run
    store.record_cell(run_id, kind="check", key=timing_key(), metrics={})
    other = store.start_run(suite="quick", metadata=META)
    store.record_cell(other, kind="timing", key=timing_key(), metrics={})
    assert canonical_json(reordered) == canonical_json(timing_key())


def test_replace_failed_replaces_only_a_failed_cell_and_its_artifacts(store):
    run_id = store.start_run(suite="quick", metadata=META)
    store.record_cell(
        run_id,
        kind="timing",
        key=timing_key("vgg16"),
        status="failed",
        reason="weights unavailable",
        artifacts={"old": np.zeros(2)},
    )
    assert store.has_cell(run_id, "timing", timing_key("vgg16"))
    assert not store.has_cell(run_id, "timing", timing_key("vgg16"), status="ok")
    with pytest.raises(DuplicateCellError):  # not without asking
        store.record_cell(run_id, kind="timing", key=timing_key("vgg16"), metrics={})
    new_id = store.record_cell(
        run_id, kind="timing", key=timing_key("vgg16"), metrics={"images_per_s": 3.0}, replace_failed=True
    )
    [cell] = store.cells(run_id, kind="timing")
    assert (cell.id, cell.status, cell.metrics) == (new_id, "ok", {"images_per_s": 3.0})
    assert store.artifact_names(new_id) == []
    assert store.has_cell(run_id, "timing", timing_key("vgg16"), status="ok")
    with pytest.raises(DuplicateCellError):  # an ok cell is never replaced
        store.record_cell(run_id, kind="timing", key=timing_key("vgg16"), metrics={}, replace_failed=True)
    assert store.cells(run_id, kind="timing")[0].metrics == {"images_per_s": 3.0}
    with pytest.raises(StoreError, match="status"):
        store.has_cell(run_id, "timing", timing_key("vgg16"), status="done")


def test_run_references_latest_and_prefix(store):
    first = store.start_run(suite="a", metadata=META)
    second = store.start_run(suite="b", metadata=META)
    assert [r.id for r in store.list_runs()] == [first, second]
    assert store.get_run("latest").id == second
    assert store.resolve_run(second) == second
    common = os.path.commonprefix([first, second])  # at least the date, "2026..."
    assert store.resolve_run(second[: len(common) + 1]) == second
    with pytest.raises(UnknownRunError, match="ambiguous"):
        store.resolve_run(common)
    with pytest.raises(UnknownRunError, match="no run 'nope'"):
        store.get_run("nope")
    with pytest.raises(UnknownRunError):
        store.record_cell("nope", kind="timing", key={}, metrics={})
    with pytest.raises(StoreError, match="status"):
        store.finish_run(first, status="done")


def test_latest_on_empty_store_is_a_clear_error(store):
    with pytest.raises(UnknownRunError, match="no runs"):
        store.get_run("latest")


def test_resume_run_marks_running_and_records_machine(store):
    run_id = store.start_run(suite="quick", metadata=META)
    store.finish_run(run_id, status="interrupted")
    other = {"machine_info": {"cpu_model": "other cpu"}, "commit_info": {"id": "def"}}
    run = store.resume_run(run_id, metadata=other)
    assert run.status == "running" and run.finished is None
    assert run.metadata["machine_info"] == META["machine_info"]
    [resumed] = run.metadata["resumed"]
    assert resumed["machine_info"] == other["machine_info"] and "at" in resumed


# --- schema ------------------------------------------------------------------------------


def test_schema_version_recorded(tmp_path):
    path = tmp_path / "s.sqlite"
    with ResultStore(path) as s:
        assert s.schema_version == SCHEMA_VERSION
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    index_sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'cells_run_kind_key'").fetchone()[0]
    assert "UNIQUE" in index_sql and "run_id, kind, key_json" in index_sql
    conn.close()
    ResultStore(path).close()  # reopening an up-to-date store changes nothing
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT COUNT(*) FROM schema_version").fetchone()[0] == SCHEMA_VERSION
    conn.close()


def test_newer_schema_is_a_clear_error_naming_the_file(tmp_path):
    path = tmp_path / "future.sqlite"
    ResultStore(path).close()
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO schema_version VALUES (?, 'later')", (SCHEMA_VERSION + 1,))
    conn.commit()
    conn.close()
    with pytest.raises(
        StoreError,
        match=rf"{path.name}.*schema version {SCHEMA_VERSION + 1} "
        r"is newer",
    ) as info:
        ResultStore(path)
    assert str(path) in str(info.value)


def test_not_sqlite_is_a_clear_error_naming_the_file(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("these are not the results you are looking for\n" * 20)
    with pytest.raises(StoreError, match="not a usable SQLite results store") as info:
        ResultStore(path)
    assert str(path) in str(info.value)
    assert path.read_text().startswith("these are not")  # left untouched


def test_foreign_sqlite_database_is_refused_untouched(tmp_path):
    path = tmp_path / "other.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE customers (id INTEGER)")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="not a saliency-bench results store") as info:
        ResultStore(path)
    assert str(path) in str(info.value)
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal"
    conn.close()


def test_directory_is_a_clear_error(tmp_path):
    with pytest.raises(StoreError, match="directory"):
        ResultStore(tmp_path)


# --- crash safety and concurrency (real processes) -----------------------------------------

GRID = [
    timing_key(model, batch)
    for model in ("resnet50", "vgg16", "mobilenet_v2", "densenet121")
    for batch in (1, 2, 4, 8, 16)
]

CHILD = textwrap.dedent("""
    import json, sys, time
    import numpy as np
    from saliency_core.store import ResultStore
    path, grid_json, pause = sys.argv[1], sys.argv[2], float(sys.argv[3])
    store = ResultStore(path)
    run_id = store.start_run(suite="crash", config={}, seed=0,
                             metadata={"machine_info": {}, "commit_info": {}})
    print(run_id, flush=True)
    for i, key in enumerate(json.loads(grid_json)):
        store.record_cell(run_id, kind="timing", key=key, status="ok",
                          metrics={"times": [0.01 * (i + 1)] * 3, "index": i},
                          artifacts={"map": np.full((4, 4), i, np.float32)})
        time.sleep(pause)
    store.finish_run(run_id, status="complete")
""")


def _child_env():
    env = dict(os.environ)
    env.pop("PYTHONWARNINGS", None)
    return env


def _check_cell(store, cell):
    i = cell.metrics["index"]
    assert cell.key == GRID[i] and cell.status == "ok"
    assert cell.metrics["times"] == [pytest.approx(0.01 * (i + 1))] * 3
    np.testing.assert_array_equal(store.artifact(cell.id, "map"), np.full((4, 4), i, np.float32))


def test_sigkill_mid_run_keeps_finished_cells_and_resume_completes(tmp_path):
    path = tmp_path / "results.sqlite"
    ResultStore(path).close()
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path), json.dumps(GRID), "0.15"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_child_env(),
        cwd=tmp_path,
    )
    try:
        run_id = child.stdout.readline().strip()
        assert run_id, child.stderr.read()
        watcher = ResultStore(path)
        deadline = time.monotonic() + 60
        while len(watcher.cells(run_id)) < 3:
            assert child.poll() is None, f"child exited early: {child.stderr.read()}"
            assert time.monotonic() < deadline, "child recorded no cells in time"
            time.sleep(0.01)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
        seen = len(watcher.cells(run_id))
        watcher.close()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stdout.close()
        child.stderr.close()
    assert child.returncode == -signal.SIGKILL
    assert 3 <= seen < len(GRID), "the child must be killed mid-run for this test to mean anything"

    with ResultStore(path) as store:
        assert store.integrity_check() == "ok"
        survived = store.cells(run_id)
        assert len(survived) >= seen
        for cell in survived:  # every committed cell is intact
            _check_cell(store, cell)
        assert [c.metrics["index"] for c in survived] == list(range(len(survived)))
        assert store.get_run(run_id).status == "running"  # nobody marked it finished

        # --resume: skip what is there, record the rest
        store.resume_run(run_id, metadata={"machine_info": {}, "commit_info": {}})
        skipped = 0
        for i, key in enumerate(GRID):
            if store.has_cell(run_id, kind="timing", key=key):
                skipped += 1
                continue
            store.record_cell(
                run_id,
                kind="timing",
                key=key,
                status="ok",
                metrics={"times": [0.01 * (i + 1)] * 3, "index": i},
                artifacts={"map": np.full((4, 4), i, np.float32)},
            )
        store.finish_run(run_id, status="complete")

        assert skipped == len(survived)
        cells = store.cells(run_id)
        keys = [canonical_json(c.key) for c in cells]
        assert len(keys) == len(set(keys)) == len(GRID)  # no duplicate, no lost cell
        assert set(keys) == {canonical_json(k) for k in GRID}
        assert [c.id for c in cells[: len(survived)]] == [c.id for c in survived]
        for cell in cells:
            _check_cell(store, cell)
        assert store.get_run(run_id).status == "complete"


WRITER = textwrap.dedent("""
    import json, os, sys, time
    from saliency_core.store import DuplicateCellError, ResultStore
    path, run_id, name, n, go = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
    store = ResultStore(path, busy_timeout_s=60)
    print("ready", flush=True)
    while not os.path.exists(go):
        time.sleep(0.005)
    won = 0
    for i in range(n):
        store.record_cell(run_id, kind="timing", key={"writer": name, "i": i},
                          metrics={"times": [0.001] * 20, "writer": name})
        try:  # both writers race for the same contested keys
            store.record_cell(run_id, kind="timing", key={"writer": "contested", "i": i},
                              metrics={"writer": name})
            won += 1
        except DuplicateCellError:
            pass
        time.sleep(0.005)  # let the other writer in between transactions
    own = store.start_run(suite=name, metadata={"machine_info": {}, "commit_info": {}})
    store.finish_run(own, status="complete")
    print(won, flush=True)
""")


def test_two_processes_writing_at_once(tmp_path):
    path = tmp_path / "results.sqlite"
    n = 40
    with ResultStore(path) as store:
        run_id = store.start_run(suite="shared", metadata=META)
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), run_id, name, str(n), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_child_env(),
            cwd=tmp_path,
        )
        for name in ("a", "b")
    ]
    for proc in procs:  # both are imported and connected: start them together
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
    go.touch()
    won = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        won.append(int(out.strip()))
    assert sum(won) == n  # each contested key was recorded by exactly one writer

    with ResultStore(path) as store:
        assert store.integrity_check() == "ok"
        cells = store.cells(run_id)
        keys = [canonical_json(c.key) for c in cells]
        assert len(keys) == len(set(keys)) == 3 * n
        for name in ("a", "b"):
            assert sorted(c.key["i"] for c in cells if c.key["writer"] == name) == list(range(n))
        assert sorted(c.key["i"] for c in cells if c.key["writer"] == "contested") == list(range(n))
        # the writes really were concurrent: the two writers' cells interleave in the file
        ids = {name: [c.id for c in cells if c.key["writer"] == name] for name in ("a", "b")}
        assert min(ids["a"]) < max(ids["b"]) and min(ids["b"]) < max(ids["a"])
        assert sorted(r.suite for r in store.list_runs()) == ["a", "b", "shared"]
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()


# --- machine and commit metadata -----------------------------------------------------------


def test_machine_info_without_gpu_detection_imports_no_tensorflow(monkeypatch):
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_use_thunk_runtime=false")
    monkeypatch.delenv("TF_XLA_FLAGS", raising=False)
    had_tf = "tensorflow" in sys.modules
    info = machine_info(detect_gpus=False)
    assert ("tensorflow" in sys.modules) == had_tf
    # pytest-benchmark's machine_info fields (pytest_benchmark.plugin
    # pytest_benchmark_generate_machine_info) are all present
    for field in (
        "node",
        "processor",
        "machine",
        "python_compiler",
        "python_implementation",
        "python_implementation_version",
        "python_version",
        "python_build",
        "release",
        "system",
        "cpu",
    ):
        assert field in info
    assert info["cpu_count"] == os.cpu_count() and info["cpu"]["count"] == os.cpu_count()
    assert info["cpu_model"] and info["numpy"] == np.__version__
    assert info["tensorflow"] and info["keras"]  # versions from package metadata
    assert info["xla_flags"] == "--xla_cpu_use_thunk_runtime=false"
    assert info["tf_xla_flags"] is None
    assert info["gpus"] == [] and info["gpu_detection"] == "skipped"
    json.dumps(info)


def test_machine_info_gpus_from_tensorflow_and_nvidia_smi(monkeypatch):
    """A stand-in ``tensorflow`` module exercises the lazy GPU path without importing TF."""
    device = types.SimpleNamespace(name="/physical_device:GPU:0", device_type="GPU")
    experimental = types.SimpleNamespace(
        get_device_details=lambda d: {"device_name": "NVIDIA A100-SXM4-40GB", "compute_capability": (8, 0)}
    )
    config = types.SimpleNamespace(list_physical_devices=lambda kind: [device], experimental=experimental)
    fake_tf = types.ModuleType("tensorflow")
    fake_tf.config = config
    fake_tf.__version__ = "2.99.0"
    monkeypatch.setitem(sys.modules, "tensorflow", fake_tf)
    monkeypatch.setattr(
        machine_mod, "nvidia_smi_gpus", lambda: [{"name": "NVIDIA A100-SXM4-40GB", "driver": "550.54.15"}]
    )
    info = machine_info()
    assert info["gpus"] == [
        {
            "device": "/physical_device:GPU:0",
            "name": "NVIDIA A100-SXM4-40GB",
            "compute_capability": "8.0",
            "driver": "550.54.15",
        }
    ]
    assert info["gpu_driver"] == "550.54.15" and info["gpu_detection"] == "ok"
    assert info["tensorflow"] == "2.99.0"


def test_machine_info_never_fails_when_tensorflow_breaks(monkeypatch):
    broken = types.ModuleType("tensorflow")  # no .config: listing GPUs raises
    monkeypatch.setitem(sys.modules, "tensorflow", broken)
    monkeypatch.setattr(machine_mod, "nvidia_smi_gpus", lambda: [])
    info = machine_info()
    assert info["gpus"] == [] and "AttributeError" in info["gpu_detection"]


def test_nvidia_smi_parsing_and_absence(monkeypatch):
    text = "NVIDIA A100-SXM4-40GB, 550.54.15\nTesla T4, 535.104.05\n\n"
    assert machine_mod.nvidia_smi_gpus(text) == [
        {"name": "NVIDIA A100-SXM4-40GB", "driver": "550.54.15"},
        {"name": "Tesla T4", "driver": "535.104.05"},
    ]
    monkeypatch.setattr(machine_mod.shutil, "which", lambda name: None)
    assert machine_mod.nvidia_smi_gpus() == []


def test_cpu_model_from_cpuinfo(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(
        "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Gold 6230 CPU @ 2.10GHz\n"
    )
    assert machine_mod.cpu_model(cpuinfo) == "Intel(R) Xeon(R) Gold 6230 CPU @ 2.10GHz"
    assert machine_mod.cpu_model(tmp_path / "missing")  # falls back, never raises


def test_commit_info_outside_a_repository(tmp_path):
    info = commit_info(tmp_path)
    # pytest-benchmark's commit_info fields (pytest_benchmark.utils.get_commit_info)
    assert {"id", "time", "author_time", "dirty", "project", "branch"} <= set(info)
    assert info["id"] == "unversioned" and info["dirty"] is False and info.get("error")


def test_commit_info_in_a_repository(tmp_path):
    env = dict(
        os.environ,
        GIT_AUTHOR_NAME="t",
        GIT_AUTHOR_EMAIL="t@example.org",
        GIT_COMMITTER_NAME="t",
        GIT_COMMITTER_EMAIL="t@example.org",
    )
    repo = tmp_path / "proj"
    repo.mkdir()
    for args in (["init", "-q", "-b", "trunk"], ["commit", "-q", "--allow-empty", "-m", "x"]):
        subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)
    info = commit_info(repo)
    assert len(info["id"]) == 40 and info["branch"] == "trunk" and info["project"] == "proj"
    assert info["dirty"] is False and info["time"]
    (repo / "f.txt").write_text("x")
    subprocess.run(["git", "add", "f.txt"], cwd=repo, env=env, check=True)
    assert commit_info(repo)["dirty"] is True


def test_start_run_collects_metadata_itself(tmp_path, monkeypatch):
    monkeypatch.setattr(machine_mod, "machine_info", lambda: {"cpu_model": "collected"})
    monkeypatch.setattr(machine_mod, "commit_info", lambda: {"id": "c0ffee"})
    with ResultStore(tmp_path / "s.sqlite") as s:
        run = s.get_run(s.start_run(suite="quick", config={}, seed=0))
    assert run.metadata == {"machine_info": {"cpu_model": "collected"}, "commit_info": {"id": "c0ffee"}}


def test_importing_the_store_has_no_side_effects(tmp_path):
    code = (
        "import os, sys; import saliency_core.store, saliency_core.harness.baseline, "
        "saliency_core.harness.timing_diff, saliency_core.harness.precision_compare; "
        "print('tensorflow' in sys.modules, sorted(os.listdir('.')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
        env=_child_env(),
    ).stdout.strip()
    assert out == "False []"
