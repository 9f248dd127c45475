"""Chunked checks: the same per-image values whatever the chunk size, resumable after a
kill with bit-identical results, and failures kept per chunk."""

import os
import signal
import subprocess
import sys
import textwrap

import numpy as np

from saliency_core.checks import run_checks
from saliency_core.store import ResultStore
from tests.tiny import tiny_cnn

METHODS = ["gradient", "smoothgrad", "random"]
METRICS = ["deletion", "road-morf", "random-logit", "mprt"]


def tiny_model():
    return tiny_cnn()


def images(n=10):
    return np.random.default_rng(0).uniform(0, 1, (n, 16, 16, 3)).astype(np.float32)


def per_image(report):
    return {(r.method, r.metric): np.asarray(r.per_image) for r in report.results}


def test_chunk_size_does_not_change_any_per_image_value():
    """Chunks change only which images share a compiled call, and so the float32 rounding
    of batched kernels. The floor of that is measured in the same run: the whole set at
    batch size 1 (a lone last chunk runs at batch 1). Every per-image value of a chunked
    run stays within 1e-6 of the whole run's, or (rank statistics, where rounding can
    reorder near-tied pixels) within ten times that floor."""
    from saliency_core.checks.settings import CheckSettings

    model, x = tiny_model(), images(7)  # chunks of 3, 3 and a lone 1
    settings = CheckSettings(method_options={"smoothgrad": {"samples": 4}})  # noise per image all the same
    kw = dict(methods=METHODS, metrics=METRICS, seed=0, data_name="d", variant="function", settings=settings)
    whole = run_checks(model, x, chunk_images=64, batch_size=4, **kw)
    other_batch = run_checks(model, x, chunk_images=64, batch_size=1, **kw)
    chunked = run_checks(model, x, chunk_images=3, batch_size=4, **kw)
    a, b, floor = per_image(whole), per_image(chunked), per_image(other_batch)
    assert all(r.ok for r in chunked.results), [r.reason for r in chunked.results if not r.ok]
    for key in a:
        bound = max(1e-6, 10 * np.abs(floor[key] - a[key]).max())
        assert np.abs(b[key] - a[key]).max() <= bound, (key, np.abs(b[key] - a[key]).max(), bound)
    for r in chunked.results:
        iv = r.intervals["value"]
        assert iv["low"] - 1e-12 <= r.value <= iv["high"] + 1e-12


def test_a_store_keeps_each_chunk_and_the_joined_result(tmp_path):
    model, x = tiny_model(), images(7)
    with ResultStore(tmp_path / "s.sqlite") as store:
        run = store.start_run("check", metadata={})
        report = run_checks(
            model,
            x,
            methods=["gradient", "random"],
            metrics=["deletion"],
            seed=0,
            data_name="d",
            store=store,
            run_id=run,
            variant="function",
            chunk_images=3,
            image_names=[f"im{i}" for i in range(7)],
        )
        chunks = store.cells(run, kind="check-chunk")
        assert sorted(c.key["chunk"] for c in chunks if c.key["method"] == "gradient") == [0, 1, 2]
        [final] = [c for c in store.cells(run, kind="check") if c.key["method"] == "gradient"]
        assert final.metrics["chunks"] == 3 and final.metrics["config"]["images"] == [
            f"im{i}" for i in range(7)
        ]
        assert store.artifact(final.id, "curves").shape[0] == 7
        random = report.get("random", "deletion")
        assert np.asarray(random.per_ordering).shape == (8, 7)  # the chance baseline's orderings
        np.testing.assert_allclose(np.mean(random.per_ordering, axis=0), random.per_image)


def test_the_final_join_reads_only_per_image_artifacts_of_later_chunks(tmp_path, monkeypatch):
    """Joining a pair's chunks reads the first chunk's example artifacts (mprt's step maps)
    and, from the later chunks, only what holds one slice per image (the similarities): a
    2,048-image run read every chunk's step maps at once before (peak RSS +275 MiB)."""
    chunk_of, read = {}, []
    record, artifact = ResultStore.record_cell, ResultStore.artifact

    def recording_cell(self, run_id, kind, key, **kw):
        cell_id = record(self, run_id, kind, key, **kw)
        if kind == "check-chunk":
            chunk_of[cell_id] = key["chunk"]
        return cell_id

    def recording_read(self, cell_id, name):
        read.append((chunk_of.get(cell_id, "final"), name))
        return artifact(self, cell_id, name)

    monkeypatch.setattr(ResultStore, "record_cell", recording_cell)
    monkeypatch.setattr(ResultStore, "artifact", recording_read)
    with ResultStore(tmp_path / "s.sqlite") as store:
        run = store.start_run("check", metadata={})
        run_checks(
            tiny_model(),
            images(7),
            methods=["gradient"],
            metrics=["mprt"],
            seed=0,
            data_name="d",
            variant="function",
            store=store,
            run_id=run,
            chunk_images=3,
        )
        assert sorted(read) == [(0, "similarity"), (0, "step_maps"), (1, "similarity"), (2, "similarity")]
        [final] = store.cells(run, kind="check")
        first = next(cell_id for cell_id, chunk in chunk_of.items() if chunk == 0)
        np.testing.assert_array_equal(
            store.artifact(final.id, "step_maps"), store.artifact(first, "step_maps")
        )
        assert store.artifact(final.id, "similarity").shape[-1] == 7


KILLED_RUN = textwrap.dedent("""
    import sys, numpy as np
    sys.path[:0] = [{tests!r}, {root!r}]
    from checks.test_check_runner import tiny_model, images
    from saliency_core.checks import run_checks
    from saliency_core.store import ResultStore
    store = ResultStore({path!r})
    run = {run!r}
    def progress(line):
        print(line, flush=True)
        if line.startswith("chunk 2") and {kill}:
            import os, signal
            os.kill(os.getpid(), signal.SIGKILL)
    run_checks(tiny_model(), images(), methods=["gradient", "random"], metrics=["deletion", "mprt"],
               seed=0, data_name="d", store=store, run_id=run, variant="function",
               chunk_images=3, progress=progress)
""")


def test_resume_after_sigkill_gives_bit_identical_per_image_values(tmp_path):
    tests = os.path.dirname(os.path.dirname(__file__))
    path = str(tmp_path / "s.sqlite")
    with ResultStore(path) as store:
        killed, clean = store.start_run("check"), store.start_run("check")

    def run(run_id, kill):
        script = KILLED_RUN.format(tests=tests, root=os.path.dirname(tests), path=path, run=run_id, kill=kill)
        return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)

    first = run(killed, True)
    assert first.returncode == -signal.SIGKILL, first.stderr[-2000:]
    with ResultStore(path) as store:
        kept = store.cells(killed, kind="check-chunk")
        assert kept and not store.cells(killed, kind="check")  # chunks kept, no final cell yet
    resumed = run(killed, False)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert run(clean, False).returncode == 0
    with ResultStore(path) as store:
        a = {
            (c.key["method"], c.key["metric"]): c.metrics["per_image"]
            for c in store.cells(killed, kind="check")
        }
        b = {
            (c.key["method"], c.key["metric"]): c.metrics["per_image"]
            for c in store.cells(clean, kind="check")
        }
        assert a == b and len(a) == 4
        # the resumed run did not recompute the chunks that the killed one had finished
        ids = {c.key["chunk"] for c in kept}
        assert ids and all(c.id in {k.id for k in store.cells(killed, kind="check-chunk")} for c in kept)


def test_a_failing_chunk_fails_its_metric_with_the_chunk_named(monkeypatch):
    from saliency_core.metrics import deletion

    model, x = tiny_model(), images(6)
    calls = {"n": 0}
    original = deletion.deletion_curve

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise MemoryError("simulated")
        return original(*args, **kwargs)

    monkeypatch.setattr(deletion, "deletion_curve", flaky)
    report = run_checks(
        model,
        x,
        methods=["gradient"],
        metrics=["deletion", "mprt"],
        seed=0,
        data_name="d",
        variant="function",
        chunk_images=3,
    )
    assert not report.get("gradient", "deletion").ok
    assert "MemoryError: simulated" in report.get("gradient", "deletion").reason
    assert report.get("gradient", "mprt").ok


def test_precision_reaches_every_compiled_function_of_a_chunked_run(monkeypatch):
    """run_checks(precision=...) travels in the CheckJob to each chunk's CheckContext:
    the maps, the scored perturbations, and the metrics that build their own Explainer
    (random-logit, mprt) all run at it, and the run's record says so."""
    from saliency_core import explainer, gradients

    seen = []

    def spy(build):
        def wrapped(*args, **kwargs):
            seen.append((build.__name__, kwargs.get("precision", "float32")))
            return build(*args, **kwargs)

        return wrapped

    monkeypatch.setattr(explainer, "build_gradient_fn", spy(gradients.build_gradient_fn))
    monkeypatch.setattr(gradients, "build_forward_fn", spy(gradients.build_forward_fn))
    report = run_checks(
        tiny_model(),
        images(5),
        methods=["gradient"],
        metrics=["deletion", "random-logit", "mprt"],
        seed=0,
        data_name="d",
        variant="function",
        chunk_images=3,
        precision="bfloat16",
    )
    assert all(r.ok for r in report.results), [r.reason for r in report.results if not r.ok]
    assert {name for name, _ in seen} == {"build_gradient_fn", "build_forward_fn"}
    assert {precision for _, precision in seen} == {"bfloat16"}
    assert report.settings["precision"] == "bfloat16"
    assert all(r.config["run"]["precision"] == "bfloat16" for r in report.results)


def test_each_finished_chunk_reports_its_counts():
    from saliency_core.checks.progress_line import ChunkLine

    lines = []
    run_checks(
        tiny_model(),
        images(7),
        methods=["gradient"],
        metrics=["deletion"],
        seed=0,
        data_name="d",
        variant="function",
        chunk_images=3,
        progress=lines.append,
    )
    chunks = [line for line in lines if isinstance(line, ChunkLine)]
    assert [(c.chunk, c.chunks, c.images, c.total) for c in chunks] == [
        (1, 3, 3, 7),
        (2, 3, 6, 7),
        (3, 3, 7, 7),
    ]
    assert all(c.rate > 0 for c in chunks)
    assert chunks[0].startswith("chunk 1/3: 3/7 images, ") and "ETA" in chunks[0]
    assert any(not isinstance(line, ChunkLine) and "gradient deletion" in line for line in lines)


def test_chunks_share_one_explainer_and_one_perturbation_function(monkeypatch):
    """Per-chunk work builds nothing that stays: the maps, random-logit and the curves
    of every chunk use the run's one Explainer and one compiled perturbation, and the
    randomization metrics the run's one clone of the model (with its own Explainer)."""
    from saliency_core import explainer as explainer_module
    from saliency_core.checks import curves

    built = []
    original = explainer_module.Explainer.__init__

    def counting(self, *args, **kwargs):
        built.append(1)
        original(self, *args, **kwargs)

    monkeypatch.setattr(explainer_module.Explainer, "__init__", counting)
    monkeypatch.setattr(curves, "_PERTURB_CACHE", {})
    report = run_checks(
        tiny_model(),
        images(9),
        methods=["gradient"],
        metrics=["deletion", "insertion", "random-logit", "mprt", "mprt-independent"],
        seed=0,
        data_name="d",
        variant="function",
        chunk_images=3,
    )
    assert all(r.ok for r in report.results) and len(report.results[0].per_image) == 9
    assert len(built) == 2  # three chunks, five metrics: the run's Explainer and the clone's
    assert [f.traces for f in curves._PERTURB_CACHE.values()] == [1]
