"""The Ray executor on a real local Ray cluster (2 CPUs, started here): a chunked check
gives the local executor's per-image values; a worker killed mid-run is replaced and
its chunk computed again, or, with no restarts left, its chunk fails with the reason
(and a resume computes it); a suite run on Ray records the same cells as in one
process, each cell in a worker process of its own, one CPU cell at a time, and a
killed cell worker is a failed cell that ``retry_failed`` times again."""

from __future__ import annotations

import json
import os
from functools import partial

import numpy as np
import pytest

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.slow  # a Ray cluster and 2 TensorFlow workers per test: > 60 s on 2 cores

from saliency_core.checks import run_checks  # noqa: E402
from saliency_core.checks.settings import CheckSettings, with_curve_steps  # noqa: E402
from saliency_core.data.check_data import load_check_model  # noqa: E402
from saliency_core.executors.local import LocalExecutor  # noqa: E402
from saliency_core.executors.ray import RayExecutor  # noqa: E402
from saliency_core.store import ResultStore  # noqa: E402
from tests.tiny import tiny_cnn  # noqa: E402

METHODS = ["gradient", "random"]
METRICS = ["deletion", "mprt"]
N_IMAGES, CHUNK = 12, 4
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Short curves and two chance orderings: the protocol is the same, the test is fast.
SETTINGS = with_curve_steps(CheckSettings(chance_orderings=2), (16, 16, 3), 16)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A local Ray cluster of 2 CPUs in a temporary folder, shut down at the end.

    Its workers import this checkout's ``saliency_core`` and ``tests`` (PYTHONPATH)."""
    folder = tmp_path_factory.mktemp("ray")
    env = {"PYTHONPATH": ROOT, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "2"}
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        _temp_dir=str(folder),
        object_store_memory=100 * 2**20,
        log_to_driver=False,
        runtime_env={"env_vars": env},
    )
    yield folder
    ray.shutdown()


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "tiny.keras"
    tiny_cnn().save(path)
    return str(path)


def images():
    return np.random.default_rng(0).uniform(0, 1, (N_IMAGES, 16, 16, 3)).astype(np.float32)


def check(model_file, executor, **kw):
    options = dict(
        methods=METHODS,
        metrics=METRICS,
        seed=0,
        data_name="d",
        variant="function",
        chunk_images=CHUNK,
        batch_size=4,
        executor=executor,
        settings=SETTINGS,
        worker_classifier=partial(load_check_model, model_file),
    )
    return run_checks(load_check_model(model_file), images(), **{**options, **kw})


def per_image(report):
    return {(r.method, r.metric): np.asarray(r.per_image) for r in report.results}


@pytest.fixture(scope="module")
def local_reference(model_file):
    """The local executor's values, and the rounding floor of this check measured the
    same way as in tests/checks/test_check_runner.py: the same run at batch size 1."""
    local = per_image(check(model_file, LocalExecutor()))
    other_batch = per_image(check(model_file, LocalExecutor(), batch_size=1))
    floor = {k: 10 * np.abs(other_batch[k] - local[k]).max() for k in local}
    return local, floor


def assert_same(values, reference):
    local, floor = reference
    assert values.keys() == local.keys()
    for key in local:
        bound = max(1e-6, floor[key])
        assert np.abs(values[key] - local[key]).max() <= bound, (key, values[key], local[key])


def test_a_check_on_two_ray_workers_gives_the_local_values(cluster, model_file, local_reference):
    with RayExecutor(workers=2) as executor:
        assert executor.num_cpus_per_worker == 1 and not executor.started
        report = check(model_file, executor)
    assert all(r.ok for r in report.results), [r.reason for r in report.results]
    assert_same(per_image(report), local_reference)


class DiesOnce:
    """A worker factory whose worker process exits, as if killed, the first time any
    worker is given chunk ``index`` (``always``: every time)."""

    def __init__(self, factory, marker: str, index: int, always: bool = False):
        self.factory, self.marker, self.index, self.always = factory, marker, index, always

    def __call__(self):
        worker = self.factory()

        def run(task):
            if task.index == self.index:
                try:
                    os.close(os.open(self.marker, os.O_CREAT | os.O_EXCL))
                    os._exit(1)
                except FileExistsError:
                    if self.always:
                        os._exit(1)
            return worker(task)

        return run


class KillingExecutor(RayExecutor):
    def __init__(self, marker, index, always=False, **options):
        super().__init__(**options)
        self.kill = (str(marker), index, always)

    def map(self, factory, tasks):
        return super().map(DiesOnce(factory, *self.kill), tasks)


def test_a_worker_killed_mid_run_is_restarted_and_its_chunk_computed_again(
    cluster, model_file, local_reference, tmp_path
):
    marker = tmp_path / "killed"
    with KillingExecutor(marker, 1, workers=2, max_restarts=1, max_task_retries=1) as executor:
        report = check(model_file, executor)
    assert marker.exists()  # a worker did die on chunk 1
    assert all(r.ok for r in report.results), [r.reason for r in report.results]
    assert_same(per_image(report), local_reference)


def test_a_worker_lost_for_good_fails_its_chunk_with_the_reason_and_resume_completes(
    cluster, model_file, local_reference, tmp_path
):
    marker = tmp_path / "killed"
    with ResultStore(tmp_path / "s.sqlite") as store:
        run = store.start_run("check", metadata={})
        with KillingExecutor(marker, 1, always=True, workers=2, max_restarts=0) as executor:
            report = check(model_file, executor, store=store, run_id=run)
        for r in report.results:
            assert not r.ok and r.reason.startswith("chunk 1: WorkerLostError: the Ray worker was lost"), (
                r.reason
            )
        chunks = {
            (c.key["method"], c.key["metric"], c.key["chunk"]): c
            for c in store.cells(run, kind="check-chunk")
        }
        assert {k: c.status for k, c in chunks.items()} == {
            (r.method, r.metric, i): "failed" if i == 1 else "ok"
            for r in report.results
            for i in range(N_IMAGES // CHUNK)
        }
        assert all(
            "ActorDiedError" in c.reason or "died" in c.reason
            for c in chunks.values()
            if c.status == "failed"
        )
        resumed = check(model_file, LocalExecutor(), store=store, run_id=run)
    assert all(r.ok for r in resumed.results), [r.reason for r in resumed.results]
    assert_same(per_image(resumed), local_reference)


def tiny_suite(model_file, name="tiny"):
    from saliency_core.harness.suites import Suite
    from saliency_core.harness.call_timing import TimingConfig

    return Suite(
        name=name,
        models=(model_file,),
        variants=("function",),
        batch_sizes=(1, 2),
        image_size=16,
        timing=TimingConfig(min_repeats=2, max_repeats=2, budget_s=0.0, warmup=0),
    )


def cells_of(store, run_id):
    return sorted(
        (c.kind, json.dumps(c.key, sort_keys=True), c.status) for c in store.cells(run_id) if c.kind != "roof"
    )


def dies(*args, **kwargs):
    """A cell task whose worker process dies before it records anything."""
    os._exit(1)


def test_a_suite_on_ray_records_the_cells_of_a_local_run_one_at_a_time_and_a_killed_cell_fails(
    cluster, model_file, tmp_path, monkeypatch
):
    from saliency_core.executors import ray_cells
    from saliency_core.harness.runner import run_suite

    with ResultStore(tmp_path / "s.sqlite") as store:
        local = run_suite(tiny_suite(model_file), store, progress=False, roof_gflops=1.0)
        with RayExecutor() as executor:
            with monkeypatch.context() as patch:
                patch.setattr(ray_cells, "time_cell_task", dies)
                killed = run_suite(
                    tiny_suite(model_file), store, progress=False, roof_gflops=1.0, executor=executor
                )
            for cell in store.cells(killed, kind="timing"):
                assert cell.status == "failed" and cell.reason.startswith(
                    "cell worker on Ray did not return the cell: WorkerCrashedError"
                ), cell.reason
            assert store.get_run(killed).config["executor"] == "ray"
            resumed = run_suite(
                None,
                store,
                resume=killed,
                retry_failed=True,
                progress=False,
                roof_gflops=1.0,
                executor=executor,
            )
        assert resumed == killed
        assert cells_of(store, killed) == cells_of(store, local)
        timed = store.cells(killed, kind="timing")
        assert [c.status for c in timed] == ["ok", "ok"]
        assert all(c.metrics["images_per_s"] > 0 and len(c.metrics["times"]) == 2 for c in timed)
    # each cell in a worker process of its own, one CPU cell at a time on the node
    workers = sorted((c.metrics["ray_worker"] for c in timed), key=lambda w: w["started"])
    assert len({w["pid"] for w in workers} | {os.getpid()}) == 3
    assert workers[0]["finished"] <= workers[1]["started"], workers
