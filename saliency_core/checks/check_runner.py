"""Run registered metrics for several methods, chunk by chunk, and record the results.

:func:`run_checks` computes every requested metric (``saliency_core.metrics``) for
every requested method (``saliency_core.methods``) on one model and one image set
(an array or a stream of any size). Images go through in chunks: each chunk's results
are written to the store as ``check-chunk`` cells as soon as the chunk finishes, and
when every chunk is in, one ``check`` cell per (model, data, method, metric) holds the
joined per-image values, the summaries and their confidence intervals (see
``docs/ARCHITECTURE.md``, "Cell conventions"). A metric that raises becomes a failed
cell with its reason; the others go on. A resumed run (same store and run id) reads
back every finished chunk and computes only the rest, with the same per-image
seeds, so it gives the same numbers as an uninterrupted run. Chunks are computed by
an executor (:mod:`saliency_core.executors`): in this process, or on a Ray cluster.

Each metric's ``value``, ``per_image`` and ``statistics`` are defined in its own module.

Example::

    from saliency_core.checks import run_checks
    report = run_checks(clf, x, methods=["gradient", "random"], metrics=["deletion"],
                        seed=0, data_name="photos", variant="function")
    report.get("gradient", "deletion").value
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Callable, Iterable, Sequence

import numpy as np

from ..gradients import Precision
from ..jsonable import jsonable
from ..methods.base import METHODS
from ..metrics.base import METRICS, default_metrics
from .chunk_book import ChunkBook
from .chunk_worker import CheckJob, ChunkTask, ChunkWorker
from .progress_line import ChunkLine
from .results import CheckReport
from .settings import CheckSettings

__all__ = ["run_checks", "selected_metrics", "chance_baseline", "check_needs"]

log = logging.getLogger(__name__)


def chance_baseline() -> str:
    """The registered method that is the chance baseline (a random ordering)."""
    found = [m.name for m in METHODS if m.chance_baseline]
    if len(found) != 1:
        raise RuntimeError(f"exactly one method must be the chance baseline, found {found}")
    return found[0]


def selected_metrics(specs: Iterable[str] | None, *, has_masks: bool, sequence: bool = False) -> list[str]:
    """Registry names for ``specs``; None gives the default metrics (plus the
    localisation ones when the data has masks, the temporal ones for a video)."""
    if specs is None:
        return default_metrics(has_masks=has_masks, sequence=sequence)
    return list(dict.fromkeys(METRICS.canonical(s) for s in specs))


def check_needs(
    metrics: Sequence[str], *, has_masks: bool, has_networks: bool, sequence: bool = False
) -> None:
    """ValueError naming the metrics whose needs the data cannot meet."""
    for name in metrics:
        needs = METRICS.get(name).needs
        if "masks" in needs and not has_masks:
            raise ValueError(f"{name} needs ground-truth object masks (the synthetic data set has them)")
        if "networks" in needs and not has_networks:
            raise ValueError(
                f"{name} needs networks trained for it (run_checks(networks=...); "
                "on the command line: --model synthetic-cnn --data synthetic)"
            )
        if "sequence" in needs and not sequence:
            raise ValueError(f"{name} needs consecutive video frames (give a video as the data)")


def _settings_record(settings: CheckSettings, *, variant, batch_size, seed, chunk_images, precision) -> dict:
    record = dataclasses.asdict(settings)
    record.update(
        variant=variant,
        batch_size=int(batch_size),
        seed=int(seed),
        chunk_images=int(chunk_images),
        precision=precision,
    )
    return jsonable(record)


def _as_stream(images, image_names):
    from ..data.array_stream import array_stream
    from ..data.stream import ImageStream

    if isinstance(images, ImageStream):
        return images, None
    array = np.asarray(images)
    names = list(image_names) if image_names is not None else [f"image-{i}" for i in range(len(array))]
    return array_stream(array, names=names), array


def run_checks(
    classifier,
    images,
    *,
    methods: Sequence[str],
    metrics: Sequence[str],
    seed: int,
    data_name: str,
    store=None,
    run_id: str | None = None,
    masks=None,
    variant: str = "function",
    batch_size: int = 8,
    device: str | None = None,
    settings: CheckSettings = CheckSettings(),
    image_names: Sequence[str] | None = None,
    progress: Callable[[str], None] | None = None,
    networks=None,
    sequence: bool = False,
    targets=None,
    chunk_images: int = 64,
    prepare=None,
    executor=None,
    worker_classifier=None,
    precision: Precision = "float32",
) -> CheckReport:
    """Compute each metric for each method, chunk by chunk; record every result.

    Args:
        classifier: A :class:`~saliency_core.models.classifier.Classifier` (or a Keras
            model, taken with its inputs as given).
        images: (N, H, W, C) in the classifier's input space, or an
            :class:`~saliency_core.data.stream.ImageStream` (read lazily, any size).
        methods: Registered methods and controls.
        metrics: Registered metric names or aliases.
        seed: Run seed: method noise, the random control, the randomized weights, the
            random-logit class draw and the ROAD noise all derive from it (per image
            from its content, so chunking and sharding change nothing).
        data_name: Name of the data set, the ``data`` of every cell key.
        store: A :class:`~saliency_core.store.ResultStore`; None records nothing.
        run_id: The store run to record into (required with ``store``); its finished
            chunks and cells are read back, not recomputed.
        masks: (N, H, W) bool ground-truth object masks for an array (a stream's
            batches bring their own).
        variant: Gradient and forward-pass variant; the maps are the same, the speed is not.
        batch_size: Images per compiled gradient call and perturbed images per forward call.
        device: "cpu", "gpu", "gpu:N" or None.
        settings: Protocol settings (and per-method options).
        image_names: Names of an array's images (default ``image-<i>``).
        progress: Called with one line per finished chunk (a
            :class:`~saliency_core.checks.progress_line.ChunkLine`, which carries the
            counts) and per finished metric.
        networks: Trained networks for metrics that need them (data randomization).
        sequence: True when the images are consecutive video frames.
        targets: (N,) class ids to explain (and to score) for an array, or None for
            each image's top-1.
        chunk_images: Images per chunk: the unit of work, of resuming and of
            memory (results are kept per image, images per chunk only).
        prepare: Applied to each chunk of a stream's decoded images (e.g.
            ``classifier.prepare``).
        executor: An :class:`~saliency_core.executors.Executor` (default: this process).
        worker_classifier: What workers build the classifier from when they are other
            processes (a picklable loader, e.g. ``functools.partial(load_model, name)``);
            default ``classifier``.
        precision: The network's precision ("float32", or mixed "bfloat16"/"float16")
            for the maps and the scored perturbations; scores stay float32.

    Returns:
        A :class:`CheckReport`, results in (method, metric) order.

    Raises:
        ValueError: unknown method or metric, a metric's needs not met (masks,
            networks, frames), masks that do not match the images, or ``store``
            without ``run_id``.
    """
    from ..executors.local import LocalExecutor
    from ..methods.base import resolve_options
    from ..models.classifier import as_classifier

    classifier = as_classifier(classifier)
    names = list(dict.fromkeys(METRICS.canonical(m) for m in metrics))
    methods = list(dict.fromkeys(METHODS.canonical(m) for m in methods))
    if not methods:
        raise ValueError(f"no methods given; choose from {', '.join(METHODS.names())}")
    if not names:
        raise ValueError("no metrics given")
    if store is not None and run_id is None:
        raise ValueError("run_id is required when recording into a store")
    if chunk_images < 1:
        raise ValueError(f"chunk_images must be >= 1, got {chunk_images}")
    stream, array = _as_stream(images, image_names)
    if masks is not None and array is not None:
        masks = np.asarray(masks, dtype=bool)
        if masks.shape != array.shape[:3]:
            raise ValueError(f"masks must be (N, H, W) = {array.shape[:3]}, got {masks.shape}")
    has_masks = masks is not None or getattr(stream, "has_masks", False)
    check_needs(names, has_masks=has_masks, has_networks=networks is not None, sequence=sequence)
    for method, values in settings.method_options.items():
        resolve_options(METHODS.get(method), values)  # unknown options fail before any work
    for name, values in settings.metric_settings.items():
        from ..metrics.base import resolve_settings

        resolve_settings(METRICS.get(name), values)  # and unknown metric settings

    record = _settings_record(
        settings,
        variant=variant,
        batch_size=batch_size,
        seed=seed,
        chunk_images=chunk_images,
        precision=precision,
    )
    model, say = classifier.name, progress or (lambda line: None)
    pairs = [(m, k) for m in methods for k in names]
    book = ChunkBook(store, run_id, model, data_name, pairs)
    job = CheckJob(
        classifier=worker_classifier or classifier,
        seed=int(seed),
        settings=settings,
        variant=variant,
        batch_size=batch_size,
        device=device,
        networks=networks,
        sequence=sequence,
        precision=precision,
    )
    if book.todo:
        tasks = _tasks(stream, array, masks, targets, book, chunk_images, prepare)
        executor = executor or LocalExecutor()
        factory = (lambda: ChunkWorker(job)) if executor.name == "local" else _WorkerFactory(job)
        started, done_images = time.perf_counter(), 0
        for out in executor.map(factory, tasks):
            task = book.queue.pop(0)  # outputs come in task order
            book.record_chunk(task, out)
            done_images += len(task.names)
            rate = done_images / max(time.perf_counter() - started, 1e-9)
            total = getattr(stream, "size", None)
            chunks = -(-total // chunk_images) if total else None
            say(ChunkLine(task.index + 1, chunks, task.end, total, rate))
    report = CheckReport(
        model=model, data=data_name, seed=int(seed), results=[], run_id=run_id, settings=record
    )
    for i, (method, name) in enumerate(pairs, start=1):
        result = book.final(method, name, record, seed=int(seed), settings=settings)
        report.results.append(result)
        if result.resumed:
            say(f"[{i}/{len(pairs)}] {method} {name}: already in run {run_id}, skipped")
        elif result.ok:
            say(
                f"[{i}/{len(pairs)}] {method} {name}: {result.value:.4f} "
                f"({result.direction} is better) in {result.seconds:.1f} s"
            )
        else:
            say(
                f"[{i}/{len(pairs)}] {method} {name}: FAILED after {result.seconds or 0:.1f} s: "
                f"{result.reason}"
            )
    return report


class _WorkerFactory:
    """Builds a :class:`ChunkWorker` in a worker process (picklable, unlike a lambda)."""

    def __init__(self, job: CheckJob):
        self.job = job

    def __call__(self) -> ChunkWorker:
        return ChunkWorker(self.job)


def _tasks(stream, array, masks, targets, book, chunk_images, prepare):
    """The chunks that still have work, read lazily from the stream."""
    start = 0
    batches = stream.batches(chunk_images, prepare=prepare)
    try:
        for index, batch in enumerate(batches):
            idx = np.asarray(batch.indices)
            pairs = book.todo_for(index)
            end = start + len(batch.names)
            if pairs:
                chunk_masks = (
                    batch.masks if batch.masks is not None else (masks[idx] if masks is not None else None)
                )
                task = ChunkTask(
                    index=index,
                    images=np.asarray(batch.images),
                    names=list(batch.names),
                    pairs=pairs,
                    masks=chunk_masks,
                    targets=None if targets is None else np.asarray(targets)[idx],
                )
                task.end = end
                book.send(task)
                yield task
            else:
                book.skip_chunk(index, list(batch.names))
            start = end
    finally:
        batches.close()
