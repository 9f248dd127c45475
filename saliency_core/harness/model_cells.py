"""Time one model's pending cells in this process and record each: the model is loaded
(and its FLOPs counted) once, each cell's chunk size is found or reused.

Failures are results: a model whose weights are missing
(:class:`~saliency_core.models.weights.WeightsUnavailableError`), a cell that runs out
of memory (``tf.errors.ResourceExhaustedError``), an unavailable device, or any other
exception is recorded as a ``failed`` cell with its reason, and the next cell runs.
"""

from __future__ import annotations

import gc
import logging
from typing import Callable

from .cell_spec import CellSpec, native_size
from .chunking import ChunkChoice, ChunkPlanner
from .flops import count_flops
from .suites import Suite
from .timing import time_cell

__all__ = ["run_model_cells", "default_loader", "failure_reason"]

log = logging.getLogger(__name__)


_REASON_CHARS = 600


def default_loader(model: str, *, weights: str, image_size: int | None):
    """Load a suite model: registry backbones at ``image_size`` with ``weights``; the
    pretrained EfficientNet-Lite0 and model files as they are."""
    from ..models.registry import BACKBONES, LITE0, load_model

    if model.lower() == LITE0:
        return load_model(model)
    if model.lower() in BACKBONES:
        return load_model(model, weights=weights, input_size=(image_size, image_size) if image_size else None)
    return load_model(model)


def failure_reason(exc: BaseException) -> str:
    """A one-paragraph reason for a failed cell, naming the kind of failure."""
    import tensorflow as tf

    from ..models.weights import WeightsUnavailableError

    text = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, tf.errors.ResourceExhaustedError):
        prefix = "out of memory (ResourceExhaustedError)"
    elif isinstance(exc, WeightsUnavailableError):
        prefix = "weights unavailable"
    else:
        prefix = type(exc).__name__
    reason = f"{prefix}: {text}"
    return reason if len(reason) <= _REASON_CHARS else reason[: _REASON_CHARS - 3] + "..."


def _failed_metrics(exc: BaseException) -> dict:
    import tensorflow as tf

    return {"error_type": type(exc).__name__, "oom": isinstance(exc, tf.errors.ResourceExhaustedError)}


def find_cell(store, run_id: str, kind: str, key: dict):
    from ..store import canonical_json

    target = canonical_json(key)
    for cell in store.cells(run_id, kind=kind):
        if canonical_json(cell.key) == target:
            return cell
    return None


def _flops_for(store, run_id: str, model: str, size: int | list[int], classifier) -> dict | None:
    """FLOPs per image for the model, from the run's ``flops`` cell or counted now."""
    key = {"model": model, "image_size": size}
    cell = find_cell(store, run_id, "flops", key)
    if cell is not None:
        return cell.metrics if cell.status == "ok" else None
    try:
        count = count_flops(classifier)
    except Exception as exc:  # noqa: BLE001 - FLOPs are optional: note why and go on
        log.warning("could not count FLOPs of %s: %s", model, exc)
        store.record_cell(run_id, "flops", key, status="failed", reason=failure_reason(exc))
        return None
    metrics = {
        "forward": count.forward,
        "saliency": count.saliency,
        "ratio": count.ratio,
        "by_op": count.saliency_by_op,
        "uncounted": count.uncounted,
    }
    store.record_cell(run_id, "flops", key, status="ok", metrics=metrics)
    return metrics


def _chunk_for(
    store, run_id: str, planner: ChunkPlanner, classifier, spec: CellSpec, size: int | list[int]
) -> tuple[int | None, dict | None]:
    """Chunk size for a cell (None: one call) and the search result it came from."""
    if not planner.needed(spec.batch_size):
        return None, None
    key = {"model": spec.model, "image_size": size, "variant": spec.variant, "device": spec.device}
    if spec.precision != "float32":
        key["precision"] = spec.precision
    cache_key = tuple(sorted(key.items()))
    choice = planner.known(cache_key)
    if choice is None:
        cell = find_cell(store, run_id, "chunk", key)
        if cell is not None and cell.status == "ok":
            choice = ChunkChoice.from_dict(cell.metrics)
            planner.remember(cache_key, choice)
        else:
            choice = planner.choice(
                classifier, key=cache_key, variant=spec.variant, device=spec.device, precision=spec.precision
            )
            store.record_cell(run_id, "chunk", key, status="ok", metrics=choice.to_dict())
    return choice.chunk_for(spec.batch_size), choice.to_dict()


def run_model_cells(
    store,
    run_id: str,
    suite: Suite,
    model: str,
    specs: list[CellSpec],
    *,
    roof: Callable[[str], float | None] | None,
    planner: ChunkPlanner,
    loader: Callable = default_loader,
    on_cell: Callable[[CellSpec, str], None] | None = None,
    retry_failed: bool = False,
) -> None:
    """Time the pending cells of one model (same requested image size) in this process.

    Loads the model once; a load failure fails every pending cell with its reason.
    ``roof(device)`` gives the roof in GFLOP/s right before each cell (None: no roof
    fractions). ``on_cell(spec, status)`` is called after each cell (also for skipped
    ones, with status ``"skipped"``). ``retry_failed``: time cells stored as failed
    again, replacing them; otherwise any stored cell is skipped.
    """
    done = on_cell or (lambda spec, status: None)
    skip = "ok" if retry_failed else None

    def record(key, **fields):
        store.record_cell(run_id, "timing", key, replace_failed=retry_failed, **fields)

    requested = specs[0].image_size
    expected: int | list[int] | None = requested or native_size(model)
    pending = [
        s
        for s in specs
        if expected is None or not store.has_cell(run_id, "timing", s.key(expected), status=skip)
    ]
    for s in specs:
        if s not in pending:
            done(s, "skipped")
    if not pending:
        return
    try:
        classifier = loader(model, weights=suite.weights, image_size=requested)
    except Exception as exc:  # noqa: BLE001 - failures are results
        reason = failure_reason(exc)
        log.warning("%s: %s", model, reason)
        for s in pending:
            record(s.key(expected), status="failed", metrics=_failed_metrics(exc), reason=reason)
            done(s, "failed")
        return
    shape = classifier.input_shape
    size = int(shape[0]) if shape[0] == shape[1] else [int(shape[0]), int(shape[1])]
    if expected is None:  # a model file: its size is known only now
        expected = size
        for s in list(pending):
            if store.has_cell(run_id, "timing", s.key(expected), status=skip):
                pending.remove(s)
                done(s, "skipped")
    if size != expected:
        reason = f"{model} takes {shape[0]}x{shape[1]} inputs; it cannot be built at image size {requested}"
        for s in pending:
            record(s.key(expected), status="failed", metrics={"error_type": "ImageSizeError"}, reason=reason)
            done(s, "failed")
        return
    flops = _flops_for(store, run_id, model, size, classifier)
    for spec in pending:
        key = spec.key(size)
        try:
            chunk, search = _chunk_for(store, run_id, planner, classifier, spec, size)
            metrics = time_cell(
                classifier,
                variant=spec.variant,
                batch_size=spec.batch_size,
                device=spec.device,
                config=suite.timing,
                seed=suite.seed,
                chunk_size=chunk,
                precision=spec.precision,
                flops_per_image=flops["saliency"] if flops else None,
                roof_gflops=roof(spec.device) if roof else None,
            )
            metrics["forward_flops_per_image"] = flops["forward"] if flops else None
            metrics["chunk_search"] = search
            record(key, status="ok", metrics=metrics)
            status = "ok"
            log.info("%s: %.3g images/s", spec.label(), metrics["images_per_s"])
        except Exception as exc:  # noqa: BLE001 - OOM, device missing, ...: a failed cell
            reason = failure_reason(exc)
            log.warning("%s failed: %s", spec.label(), reason)
            record(key, status="failed", metrics=_failed_metrics(exc), reason=reason)
            status = "failed"
        finally:
            gc.collect()
        done(spec, status)
    del classifier
    gc.collect()
