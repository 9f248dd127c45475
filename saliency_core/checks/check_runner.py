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

from ..jsonable import jsonable
from ..methods.base import METHODS
from ..metrics.base import METRICS, MetricResult, default_metrics
from ..stats.bootstrap import bootstrap_interval
from .chunk_worker import CheckJob, ChunkTask, ChunkWorker
from .results import CheckReport, CheckResult
from .settings import CheckSettings

__all__ = ["run_checks", "selected_metrics", "chance_baseline", "check_needs"]

log = logging.getLogger(__name__)


def chance_baseline() -> str:
    """The registered method that is the chance baseline (a random ordering)."""
    found = [m.name for m in METHODS if m.chance_baseline]
    if len(found) != 1:
        raise RuntimeError(f"exactly one method must be the chance baseline, found {found}")
    return found[0]


def selected_metrics(specs: Iterable[str] | None, *, has_masks: bool) -> list[str]:
    """Registry names for ``specs``; None gives the default metrics (plus the
    localisation ones when the data has masks)."""
    if specs is None:
        return default_metrics(has_masks=has_masks)
    return list(dict.fromkeys(METRICS.canonical(s) for s in specs))


def check_needs(metrics: Sequence[str], *, has_masks: bool, has_networks: bool,
                sequence: bool = False) -> None:
    """ValueError naming the metrics whose needs the data cannot meet."""
    for name in metrics:
        needs = METRICS.get(name).needs
        if "masks" in needs and not has_masks:
            raise ValueError(f"{name} needs ground-truth object masks (the synthetic data set "
                             "has them)")
        if "networks" in needs and not has_networks:
            raise ValueError(f"{name} needs networks trained for it (run_checks(networks=...); "
                             "on the command line: --model synthetic-cnn --data synthetic)")
        if "sequence" in needs and not sequence:
            raise ValueError(f"{name} needs consecutive video frames (give a video as the data)")


def _settings_record(settings: CheckSettings, *, variant, batch_size, seed, chunk_images) -> dict:
    record = dataclasses.asdict(settings)
    record.update(variant=variant, batch_size=int(batch_size), seed=int(seed),
                  chunk_images=int(chunk_images))
    return jsonable(record)


def _as_stream(images, image_names):
    from ..data.array_stream import array_stream
    from ..data.stream import ImageStream

    if isinstance(images, ImageStream):
        return images, None
    array = np.asarray(images)
    names = list(image_names) if image_names is not None else [f"image-{i}" for i in range(len(array))]
    return array_stream(array, names=names), array


def run_checks(classifier, images, *, methods: Sequence[str], metrics: Sequence[str], seed: int,
               data_name: str, store=None, run_id: str | None = None, masks=None,
               variant: str = "function", batch_size: int = 8, device: str | None = None,
               settings: CheckSettings = CheckSettings(), image_names: Sequence[str] | None = None,
               progress: Callable[[str], None] | None = None, networks=None,
               sequence: bool = False, targets=None, chunk_images: int = 64, prepare=None,
               executor=None, worker_classifier=None) -> CheckReport:
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
        progress: Called with one line per finished chunk and per finished metric.
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

    record = _settings_record(settings, variant=variant, batch_size=batch_size, seed=seed,
                              chunk_images=chunk_images)
    model, say = classifier.name, progress or (lambda line: None)
    pairs = [(m, k) for m in methods for k in names]
    book = _Book(store, run_id, model, data_name, pairs)
    job = CheckJob(classifier=worker_classifier or classifier, seed=int(seed), settings=settings,
                   variant=variant, batch_size=batch_size, device=device, networks=networks,
                   sequence=sequence)
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
            eta = f", ETA {(total - task.end) / rate:.0f} s" if total and rate else ""
            say(f"chunk {task.index + 1}{f'/{-(-total // chunk_images)}' if total else ''}: "
                f"{task.end}{f'/{total}' if total else ''} images, {rate:.2f} images/s{eta}")
    report = CheckReport(model=model, data=data_name, seed=int(seed), results=[], run_id=run_id,
                         settings=record)
    for i, (method, name) in enumerate(pairs, start=1):
        result = book.final(method, name, record, seed=int(seed), settings=settings)
        report.results.append(result)
        if result.resumed:
            say(f"[{i}/{len(pairs)}] {method} {name}: already in run {run_id}, skipped")
        elif result.ok:
            say(f"[{i}/{len(pairs)}] {method} {name}: {result.value:.4f} "
                f"({result.direction} is better) in {result.seconds:.1f} s")
        else:
            say(f"[{i}/{len(pairs)}] {method} {name}: FAILED after {result.seconds or 0:.1f} s: "
                f"{result.reason}")
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
                chunk_masks = batch.masks if batch.masks is not None else (
                    masks[idx] if masks is not None else None)
                task = ChunkTask(index=index, images=np.asarray(batch.images), names=list(batch.names),
                                 pairs=pairs, masks=chunk_masks,
                                 targets=None if targets is None else np.asarray(targets)[idx])
                task.end = end
                book.send(task)
                yield task
            else:
                book.skip_chunk(index, list(batch.names))
            start = end
    finally:
        batches.close()


class _Book:
    """What is done and what is left: chunk cells in the store (or in memory), and the
    final cells. Chunks are read back from the store to form the final results."""

    def __init__(self, store, run_id, model, data, pairs):
        self.store, self.run_id, self.model, self.data = store, run_id, model, data
        self.pairs, self.final_cells, self.chunk_done = pairs, {}, set()
        self.memory: dict = {}
        self.names: dict[int, list[str]] = {}
        self.queue: list = []
        self.seconds: dict = {}
        if store is not None:
            for cell in store.cells(run_id, kind="check"):  # failed ones are tried again
                if cell.status == "ok" and (cell.key.get("model"), cell.key.get("data")) == (model, data):
                    self.final_cells[(cell.key["method"], cell.key["metric"])] = cell
            for cell in store.cells(run_id, kind="check-chunk"):
                k = cell.key
                if (k.get("model"), k.get("data")) == (model, data) and cell.status == "ok":
                    self.chunk_done.add((k["method"], k["metric"], int(k["chunk"])))
                    self.names[int(k["chunk"])] = list((cell.metrics or {}).get("names", []))
        self.todo = [p for p in pairs if p not in self.final_cells]

    def key(self, method, metric, chunk=None) -> dict:
        key = {"model": self.model, "data": self.data, "method": method, "metric": metric}
        return key if chunk is None else {**key, "chunk": int(chunk)}

    def todo_for(self, index: int) -> list[tuple[str, str]]:
        return [(m, k) for m, k in self.todo if (m, k, index) not in self.chunk_done]

    def send(self, task) -> None:
        self.queue.append(task)

    def skip_chunk(self, index: int, names: list[str]) -> None:
        self.names.setdefault(index, names)

    def record_chunk(self, task, out) -> None:
        self.names[task.index] = list(task.names)
        if isinstance(out, BaseException):
            reason = f"chunk {task.index}: {type(out).__name__}: {out}"
            outputs = [(m, k, None, reason, 0.0, [], {}) for m, k in task.pairs]
        else:
            outputs = [(p.method, p.metric, p.result, p.reason, p.seconds, p.warnings, p.options)
                       for p in out.pairs]
        for method, metric, result, reason, seconds, warnings, options in outputs:
            self.seconds[(method, metric)] = self.seconds.get((method, metric), 0.0) + seconds
            entry = _chunk_entry(result, reason, seconds, warnings, options, task.names)
            if self.store is None:
                self.memory[(method, metric, task.index)] = (entry, result)
            else:
                self.store.record_cell(self.run_id, "check-chunk", self.key(method, metric, task.index),
                                       status="ok" if result is not None else "failed",
                                       reason=reason, metrics=jsonable(entry, finite=True),
                                       artifacts=result.artifacts if result is not None else None,
                                       replace_failed=True)
            self.chunk_done.add((method, metric, task.index))

    def _chunks(self, method, metric):
        """[(index, entry, MetricResult | None)] of one pair, in chunk order."""
        if self.store is None:
            items = [(i, *self.memory[(m, k, i)]) for (m, k, i) in sorted(self.memory)
                     if (m, k) == (method, metric)]
            return items
        out = []
        for cell in self.store.cells(self.run_id, kind="check-chunk"):
            k = cell.key
            if (k.get("model"), k.get("data"), k["method"], k["metric"]) != \
                    (self.model, self.data, method, metric):
                continue
            entry = dict(cell.metrics or {}, reason=cell.reason)
            result = None
            if cell.status == "ok":
                artifacts = {n: self.store.artifact(cell.id, n) for n in self.store.artifact_names(cell.id)}
                result = _result_from_entry(entry, artifacts)
            out.append((int(k["chunk"]), entry, result))
        return sorted(out, key=lambda item: item[0])

    def final(self, method, name, record, *, seed, settings) -> CheckResult:
        metric = METRICS.get(name)
        cell = self.final_cells.get((method, name))
        if cell is not None:
            return CheckResult.from_cell(cell)
        chunks = self._chunks(method, name)
        seconds = self.seconds.get((method, name), 0.0)
        failed = [(i, e) for i, e, r in chunks if r is None]
        base = dict(model=self.model, data=self.data, method=method, metric=name,
                    direction=metric.direction, info=metric.describe(), seconds=seconds)
        if failed or not chunks:
            reason = failed[0][1].get("reason") if failed else "no images were read"
            result = CheckResult(**base, status="failed", value=None, config=record, reason=reason)
            stored, artifacts = result.stored(), None
        else:
            combined = metric.combine([r for _, _, r in chunks])
            names = [n for i, e, _ in chunks for n in e.get("names", [])]
            warnings = list(dict.fromkeys([w for _, e, _ in chunks for w in e.get("warnings", [])]
                                          + combined.warnings))
            result = _final_result(base, combined, record, names, warnings, chunks[0][1].get("options", {}),
                                   metric, method, seed=seed, settings=settings)
            stored, artifacts = result.stored(), combined.artifacts
            stored.update({k: v for k, v in combined.extra.items()
                           if k not in ("per_ordering", "per_ordering_statistics")})
        if self.store is not None:
            self.store.record_cell(self.run_id, "check", self.key(method, name),
                                   status=result.status, reason=result.reason, artifacts=artifacts,
                                   metrics=jsonable({**stored, "method_info": _method_info(method),
                                                     "chunks": len(chunks)}, finite=True),
                                   replace_failed=True)
        return result


def _chunk_entry(result, reason, seconds, warnings, options, names) -> dict:
    entry = {"names": list(names), "seconds": seconds, "warnings": list(warnings),
             "options": options}
    if result is not None:
        entry.update(per_image=result.per_image, value=result.value, statistics=result.statistics,
                     per_image_statistics=result.per_image_statistics, config=result.config,
                     extra=result.extra, result_warnings=result.warnings)
    return entry


def _result_from_entry(entry: dict, artifacts: dict) -> MetricResult:
    extra = dict(entry.get("extra") or {})
    return MetricResult(per_image=np.asarray(entry["per_image"], np.float64), value=entry["value"],
                        statistics=dict(entry.get("statistics") or {}),
                        per_image_statistics={k: np.asarray(v, np.float64) for k, v in
                                              (entry.get("per_image_statistics") or {}).items()},
                        config=dict(entry.get("config") or {}), extra=extra, artifacts=artifacts,
                        warnings=list(entry.get("result_warnings") or []))


def _interval(values, seed: int, settings: CheckSettings) -> dict | None:
    """A seeded bootstrap interval of the mean over images, or None when a value is not finite."""
    values = np.asarray(values, np.float64)
    if not values.size or not np.isfinite(values).all():
        return None
    iv = bootstrap_interval(values, confidence=settings.confidence, n_resamples=settings.resamples,
                            seed=seed)
    return dataclasses.asdict(iv)


def _final_result(base, out: MetricResult, record, names, warnings, options, metric, method, *,
                  seed, settings) -> CheckResult:
    if not np.isfinite(out.per_image).all():
        warnings.append(f"{int((~np.isfinite(out.per_image)).sum())} of {len(out.per_image)} "
                        "per-image values are not finite")
    config = jsonable({**out.config, "run": record, "method": method, "method_options": options,
                       "images": names, "reference": metric.reference})
    intervals = {"value": _interval(out.per_image, seed, settings),
                 **{k: _interval(v, seed, settings) for k, v in out.per_image_statistics.items()}}
    return CheckResult(**base, status="ok", value=float(out.value),
                       per_image=jsonable(out.per_image), statistics=jsonable(out.statistics),
                       config=config, per_image_statistics=jsonable(out.per_image_statistics),
                       intervals=jsonable(intervals, finite=True), warnings=warnings,
                       per_ordering=jsonable(out.extra.get("per_ordering")),
                       per_ordering_statistics=jsonable(out.extra.get("per_ordering_statistics")))


def _method_info(method: str) -> dict:
    unit = METHODS.get(method)
    return {"kind": unit.kind, "chance_baseline": unit.chance_baseline}
