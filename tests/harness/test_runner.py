"""run_suite over a tiny grid: failures (missing weights, out of memory) are recorded
as failed cells with their reason while the other cells run; Ctrl-C leaves an
interrupted run whose finished cells a resume skips."""

from __future__ import annotations

import keras
import pytest
import tensorflow as tf

from saliency_core import as_classifier
from saliency_core.harness import model_cells, runner
from saliency_core.harness.suites import Suite
from saliency_core.harness.call_timing import TimingConfig
from saliency_core.models.weights import WeightsUnavailableError
from saliency_core.store import ResultStore

FAST = TimingConfig(min_repeats=2, max_repeats=2, budget_s=0.0, warmup=0)


def tiny_loader(model, *, weights, image_size):
    """A model factory: "no-weights" behaves like a backbone whose weights are missing."""
    if model == "no-weights":
        raise WeightsUnavailableError(
            "ImageNet weights for no-weights are not in the Keras "
            "cache and could not be downloaded (no network?)"
        )
    inputs = keras.Input((image_size, image_size, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return as_classifier(keras.Model(inputs, keras.layers.Dense(5)(x)), name=model, preprocessing="tf")


def suite(**changes):
    base = dict(
        name="tiny-grid",
        models=("tiny", "no-weights"),
        variants=("eager", "function"),
        batch_sizes=(1, 4),
        image_size=16,
        timing=FAST,
    )
    return Suite(**{**base, **changes})


@pytest.fixture
def store(tmp_path):
    with ResultStore(tmp_path / "results.sqlite") as s:
        yield s


def by_key(cells):
    return {(c.key["model"], c.key["variant"], c.key["batch_size"]): c for c in cells}


def test_failures_are_recorded_and_the_run_goes_on(store, monkeypatch):
    real = model_cells.time_cell

    def oom_at_function_batch_4(classifier, **kw):
        if kw["variant"] == "function" and kw["batch_size"] == 4:
            raise tf.errors.ResourceExhaustedError(
                None, None, "OOM when allocating tensor with shape[4,16,16,3]"
            )
        return real(classifier, **kw)

    monkeypatch.setattr(model_cells, "time_cell", oom_at_function_batch_4)
    run_id = runner.run_suite(suite(), store, progress=False, loader=tiny_loader, roof_gflops=100.0)
    run = store.get_run(run_id)
    assert run.status == "complete" and run.config["roof_gflops"] == 100.0
    cells = by_key(store.cells(run_id, kind="timing"))
    assert len(cells) == 8
    for variant in ("eager", "function"):
        for batch in (1, 4):
            cell = cells[("no-weights", variant, batch)]
            assert cell.status == "failed" and cell.reason.startswith("weights unavailable: ")
            assert cell.key["image_size"] == 16 and cell.key["device"] == "cpu"
    oom = cells[("tiny", "function", 4)]
    assert oom.status == "failed" and oom.reason.startswith("out of memory")
    assert oom.metrics["oom"] is True
    for k in [("tiny", "eager", 1), ("tiny", "eager", 4), ("tiny", "function", 1)]:
        assert cells[k].status == "ok" and cells[k].reason is None
        m = cells[k].metrics
        assert len(m["times"]) == 2 and m["images_per_s"] > 0 and m["roof_gflops"] == 100.0
        assert m["flops_per_image"] > 0 and m["roof_fraction"] > 0
    flops = store.cells(run_id, kind="flops")
    assert [c.key for c in flops] == [{"model": "tiny", "image_size": 16}]
    [roof] = store.cells(run_id, kind="roof")
    assert roof.key == {"device": "cpu", "session": 0} and roof.metrics["gflops"] == 100.0


def test_interrupt_keeps_finished_cells_and_resume_skips_them(store, monkeypatch):
    real = model_cells.time_cell
    calls = []

    def interrupt_third(classifier, **kw):
        calls.append((kw["variant"], kw["batch_size"]))
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(classifier, **kw)

    monkeypatch.setattr(model_cells, "time_cell", interrupt_third)
    grid = suite(models=("tiny",))
    with pytest.raises(KeyboardInterrupt):
        runner.run_suite(grid, store, progress=False, loader=tiny_loader, roof_gflops=100.0)
    run = store.get_run("latest")
    assert run.status == "interrupted"
    assert len(store.cells(run.id, kind="timing")) == 2

    calls.clear()
    monkeypatch.setattr(
        model_cells,
        "time_cell",
        lambda c, **kw: calls.append((kw["variant"], kw["batch_size"])) or real(c, **kw),
    )
    assert (
        runner.run_suite(None, store, resume=run.id, progress=False, loader=tiny_loader, roof_gflops=100.0)
        == run.id
    )
    assert calls == [("function", 1), ("function", 4)]  # only the unfinished cells
    assert store.get_run(run.id).status == "complete"
    keys = [tuple(sorted(c.key.items())) for c in store.cells(run.id, kind="timing")]
    assert len(keys) == 4 == len(set(keys))


def test_chunk_size_is_measured_once_and_used_for_large_batches(store):
    from saliency_core.harness.chunking import ChunkChoice, ChunkPlanner

    searched = []

    def fake_search(classifier, *, variant, device, candidates, config, seed):
        searched.append(variant)
        return ChunkChoice(best=2, images_per_s={2: 10.0, 4: 5.0})

    grid = suite(models=("tiny",), variants=("function",), batch_sizes=(1, 2, 4, 6))
    run_id = runner.run_suite(
        grid,
        store,
        progress=False,
        loader=tiny_loader,
        roof_gflops=1.0,
        planner=ChunkPlanner((2, 4), search=fake_search),
    )
    assert searched == ["function"]
    chunks = {c.key["batch_size"]: c.metrics["chunk_size"] for c in store.cells(run_id, "timing")}
    assert chunks == {1: 1, 2: 2, 4: 2, 6: 2}
    [cell] = store.cells(run_id, kind="chunk")
    assert cell.metrics == {"best": 2, "images_per_s": {"2": 10.0, "4": 5.0}}


@pytest.mark.slow
def test_fresh_process_cell_writes_into_the_store(store):
    grid = Suite(
        name="fresh",
        models=("mobilenetv2",),
        variants=("eager",),
        batch_sizes=(1,),
        image_size=32,
        timing=FAST,
    )
    run_id = runner.run_suite(grid, store, progress=False, fresh_process=True, roof_gflops=1.0)
    [cell] = store.cells(run_id, kind="timing")
    assert cell.status == "ok", cell.reason
    assert cell.key == {
        "model": "mobilenetv2",
        "variant": "eager",
        "batch_size": 1,
        "device": "cpu",
        "image_size": 32,
    }
    assert store.get_run(run_id).config["fresh_process"] is True


def test_real_chunk_search_ranks_the_candidates():
    from saliency_core.harness.chunking import find_best_chunk

    choice = find_best_chunk(
        tiny_loader("tiny", weights="random", image_size=16),
        variant="eager",
        device="cpu",
        candidates=(2, 1),
        config=FAST,
    )
    assert set(choice.images_per_s) == {1, 2}
    assert choice.best == max(choice.images_per_s, key=choice.images_per_s.get)
    assert choice.chunk_for(choice.best) is None and choice.chunk_for(8) == choice.best


def test_resume_refuses_a_run_that_is_not_a_timing_run_or_of_another_suite(store):
    other = store.start_run("checks", config={"policy": "default"}, metadata={})
    with pytest.raises(ValueError, match="not a timing run"):
        runner.run_suite(None, store, resume=other, progress=False, roof_gflops=1.0)
    timed = runner.run_suite(
        suite(models=("tiny",), variants=("eager",), batch_sizes=(1,)),
        store,
        progress=False,
        loader=tiny_loader,
        roof_gflops=1.0,
    )
    with pytest.raises(ValueError, match="is of suite 'tiny-grid', not 'other'"):
        runner.run_suite(
            suite(name="other"), store, resume=timed, progress=False, loader=tiny_loader, roof_gflops=1.0
        )


def test_a_missing_gpu_fails_its_cells_and_the_cpu_cells_run(store, monkeypatch):
    from saliency_core.harness import flops

    if tf.config.list_logical_devices("GPU"):
        pytest.skip("a GPU is present")
    real = flops.measure_roof
    monkeypatch.setattr(flops, "measure_roof", lambda **kw: real(n=256, **kw))  # small, fast
    grid = suite(models=("tiny",), variants=("eager",), batch_sizes=(1,), devices=("cpu", "gpu:0"))
    run_id = runner.run_suite(grid, store, progress=False, loader=tiny_loader)
    cells = {c.key["device"]: c for c in store.cells(run_id, kind="timing")}
    assert cells["cpu"].status == "ok" and cells["cpu"].metrics["roof_gflops"] > 0
    assert cells["gpu:0"].status == "failed" and "not available" in cells["gpu:0"].reason
    config = store.get_run(run_id).config
    assert config["roofs"]["gpu:0"] is None and config["roofs"]["cpu"] > 0


def test_resume_with_retry_failed_times_failed_cells_again_and_replaces_them(store):
    fixed = {"weights": False}

    def loader(model, *, weights, image_size):
        if model == "no-weights" and fixed["weights"]:
            model = "fixed"  # the user has now supplied the weights
        return tiny_loader(model, weights=weights, image_size=image_size)

    grid = suite(variants=("eager",), batch_sizes=(1,))
    run_id = runner.run_suite(grid, store, progress=False, loader=loader, roof_gflops=1.0)
    before = by_key(store.cells(run_id, kind="timing"))
    assert before[("no-weights", "eager", 1)].status == "failed"
    ok_id = before[("tiny", "eager", 1)].id

    fixed["weights"] = True
    runner.run_suite(None, store, resume=run_id, progress=False, loader=loader, roof_gflops=1.0)
    assert by_key(store.cells(run_id, "timing"))[("no-weights", "eager", 1)].status == "failed"

    runner.run_suite(
        None, store, resume=run_id, progress=False, loader=loader, roof_gflops=1.0, retry_failed=True
    )
    after = store.cells(run_id, kind="timing")
    assert len(after) == 2  # replaced, not duplicated
    cells = by_key(after)
    assert cells[("no-weights", "eager", 1)].status == "ok"
    assert cells[("tiny", "eager", 1)].id == ok_id  # an ok cell is not timed again


def test_retry_failed_needs_a_run_to_resume(store):
    with pytest.raises(ValueError, match="retry_failed needs a run to resume"):
        runner.run_suite(
            suite(), store, progress=False, loader=tiny_loader, roof_gflops=1.0, retry_failed=True
        )
