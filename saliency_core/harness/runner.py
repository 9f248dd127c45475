"""Run a timing suite: expand it into cells, time each, record each in the store at once.

:func:`run_suite` does timing only; the command line runs further steps (sanity
checks, the report) on the returned run id afterwards.

* Cells are grouped by model so a model is loaded (and its FLOPs counted) once.
* Each cell is recorded as soon as it finishes, in its own store transaction; a
  resumed run (``resume=RUN``) skips every cell the store already has, or, with
  ``retry_failed=True``, only its ok cells: a failed cell is timed again and its new
  result replaces the failed row in the same transaction.
* Failures are results: a model whose weights are missing
  (:class:`~saliency_core.models.weights.WeightsUnavailableError`), a cell that
  runs out of memory (``tf.errors.ResourceExhaustedError``), an unavailable
  device, or any other exception is recorded as a ``failed`` cell with its reason,
  and the run goes on.
* Ctrl-C marks the run ``interrupted`` (finished cells stay) and re-raises.
* The machine roof (numpy fp32 matmul GFLOP/s) is measured once at the start of a
  run (and of a resume) and stored in the run config; before each cell a short
  re-sample keeps the best rate seen so far (:class:`~.flops.RoofTracker`), which
  each timing cell records as ``roof_gflops`` and divides by for ``roof_fraction``.
* ``fresh_process=True`` runs each cell in a new Python process
  (``python -m saliency_core.harness.cell_worker``) that writes its cell into the
  store, so no cell inherits another's memory, caches or compiled code.

A timing cell's key is ``{model, variant, batch_size, device, image_size}``, plus
``precision`` for a low precision (bfloat16, float16): a float32 cell's key has no
``precision`` entry, so keys of runs made before the precision axis existed still
match (readers take a missing ``precision`` as float32).

Besides ``timing`` cells a run holds three helper kinds: ``flops`` (key ``{model,
image_size}``; metrics ``{forward, saliency, ratio, by_op, uncounted}`` in FLOPs per
image) and ``chunk`` (key ``{model, image_size, variant, device}``, plus ``precision``
as for timing cells; metrics ``{best,
images_per_s}``), reused by resumed runs and fresh processes; and ``roof`` (key
``{device, session}``; metrics ``{gflops, initial_gflops, method}``), the best roof
seen by the end of the run (or of each resumed session).

A timing cell's ``roof_fraction`` divides by the roof known when the cell ran; a
cell that ran while the start-of-run measurement was slowed by other work can
therefore show too high a fraction. Displays should divide by :func:`best_roofs`
(the best rate seen over the whole run), as ``saliency-bench run`` does.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import subprocess
import sys
from dataclasses import asdict, dataclass
from typing import Callable

from .chunking import ChunkChoice, ChunkPlanner
from .flops import RoofTracker, count_flops
from .suites import Suite
from .timing import time_cell

__all__ = [
    "CellSpec",
    "key_precision",
    "expand_cells",
    "run_suite",
    "run_model_cells",
    "default_loader",
    "failure_reason",
    "native_size",
    "best_roofs",
    "cell_done",
    "ROOF_METHOD",
]

log = logging.getLogger(__name__)

ROOF_METHOD = (
    "numpy fp32 matmul 2048x2048: GFLOP/s of the fastest of 20 products at the "
    "start, re-sampled (3 products) before each cell, best rate kept"
)
_REASON_CHARS = 600


@dataclass(frozen=True)
class CellSpec:
    """One timing cell before it runs. ``image_size`` None = the model's own size."""

    model: str
    variant: str
    batch_size: int
    device: str
    image_size: int | None = None
    precision: str = "float32"

    def key(self, size: int | list[int] | None) -> dict:
        """The store key (``timing`` convention) for the cell at input size ``size``
        (``[height, width]`` for a model file with non-square inputs); ``precision``
        only when it is not float32."""
        key = {
            "model": self.model,
            "variant": self.variant,
            "batch_size": self.batch_size,
            "device": self.device,
            "image_size": size,
        }
        return key if self.precision == "float32" else {**key, "precision": self.precision}

    def label(self) -> str:
        """Short text for progress lines."""
        low = "" if self.precision == "float32" else f" {self.precision}"
        return f"{self.model} {self.variant}{low} b{self.batch_size} {self.device}"


def key_precision(key: dict) -> str:
    """A timing (or chunk) cell key's precision: float32 when the key has none."""
    return str(key.get("precision", "float32"))


def expand_cells(suite: Suite) -> list[CellSpec]:
    """All cells of a suite, ordered model, device, variant, precision, batch size (float32
    before the low precisions, so a run's float32 numbers come first)."""
    return [
        CellSpec(m, v, b, d, suite.image_size, p)
        for m in suite.models
        for d in suite.devices
        for v in suite.variants
        for p in suite.precisions
        for b in suite.batch_sizes
    ]


def native_size(model: str) -> int | None:
    """A registry model's own input size (height), or None when unknown before loading."""
    from ..models.registry import BACKBONES, LITE0

    if model.lower() == LITE0:
        return 224
    entry = BACKBONES.get(model.lower())
    return int(entry.input_size[0]) if entry else None


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


def _find_cell(store, run_id: str, kind: str, key: dict):
    from ..store import canonical_json

    target = canonical_json(key)
    for cell in store.cells(run_id, kind=kind):
        if canonical_json(cell.key) == target:
            return cell
    return None


def _flops_for(store, run_id: str, model: str, size: int | list[int], classifier) -> dict | None:
    """FLOPs per image for the model, from the run's ``flops`` cell or counted now."""
    key = {"model": model, "image_size": size}
    cell = _find_cell(store, run_id, "flops", key)
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
        cell = _find_cell(store, run_id, "chunk", key)
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


def cell_done(store, run_id: str, spec: CellSpec, *, retry_failed: bool = False) -> bool:
    """Whether the run already has ``spec``'s timing cell (an ok one, with
    ``retry_failed``); False when its size is known only after loading (a model file)."""
    expected = spec.image_size or native_size(spec.model)
    return expected is not None and store.has_cell(
        run_id, "timing", spec.key(expected), status="ok" if retry_failed else None
    )


def _run_in_worker(
    store, run_id: str, suite: Suite, spec: CellSpec, roofs: "_Roofs", *, retry_failed: bool = False
) -> str:
    """Run one cell in ``python -m saliency_core.harness.cell_worker``; return its status."""
    expected = spec.image_size or native_size(spec.model)
    if cell_done(store, run_id, spec, retry_failed=retry_failed):
        return "skipped"
    cmd = [
        sys.executable,
        "-m",
        "saliency_core.harness.cell_worker",
        "--store",
        str(store.path),
        "--run",
        run_id,
        "--suite",
        json.dumps(suite.to_dict()),
        "--cell",
        json.dumps(asdict(spec)),
        "--roof",
        roofs.current(spec.device),
        "--resample-roof",
        "no" if roofs.fixed is not None else "yes",
    ]
    if retry_failed:
        cmd.append("--retry-failed")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")}
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    if proc.returncode == 130 or proc.returncode == -2:
        raise KeyboardInterrupt
    key = spec.key(expected)
    cell = _find_cell(store, run_id, "timing", key) if expected is not None else None
    if cell is not None:
        roofs.saw(spec.device, cell.metrics.get("roof_gflops"))
        return cell.status
    tail = " ".join(proc.stderr.strip().splitlines()[-5:])[-400:]
    reason = f"cell worker exited with code {proc.returncode} without recording the cell: {tail}"
    store.record_cell(
        run_id,
        "timing",
        key,
        status="failed",
        metrics={"error_type": "WorkerError", "returncode": proc.returncode},
        reason=reason,
        replace_failed=retry_failed,
    )
    return "failed"


class _Roofs:
    """One :class:`~.flops.RoofTracker` per device, measured when first needed.

    ``fixed`` (GFLOP/s) replaces every measurement (tests). A device whose roof cannot
    be measured (e.g. a GPU that is not there) gets None: its cells have no roof
    fraction (and fail on their own for the missing device).
    """

    def __init__(self, fixed: float | None = None):
        self.fixed = fixed
        self._trackers: dict[str, RoofTracker | None] = {}

    def _tracker(self, device: str) -> RoofTracker | None:
        if device not in self._trackers:
            try:
                self._trackers[device] = RoofTracker(self.fixed, resample=self.fixed is None, device=device)
            except Exception as exc:  # noqa: BLE001 - no roof is not fatal
                log.warning("could not measure the roof of %s: %s", device, exc)
                self._trackers[device] = None
        return self._trackers[device]

    def current_value(self, device: str) -> float | None:
        tracker = self._tracker(device)
        return tracker.gflops if tracker else None

    def current(self, device: str) -> str:
        value = self.current_value(device)
        return "none" if value is None else repr(value)

    def before_cell(self, device: str) -> float | None:
        tracker = self._tracker(device)
        return tracker.before_cell() if tracker else None

    def trackers(self) -> dict[str, RoofTracker | None]:
        return dict(self._trackers)

    def saw(self, device: str, gflops: float | None) -> None:
        tracker = self._tracker(device)
        if tracker and gflops:
            tracker.gflops = max(tracker.gflops, float(gflops))


class _Progress:
    """Cell progress on stderr with rich (a no-op when disabled)."""

    def __init__(self, total: int, enabled: bool, title: str):
        self._progress = None
        if not enabled:
            return
        try:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                SpinnerColumn,
                TextColumn,
                TimeElapsedColumn,
            )
        except ImportError:  # pragma: no cover - rich is a dependency
            return
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=False,
        )
        self._task = self._progress.add_task(title, total=total)
        self._title = title

    def __enter__(self):
        if self._progress:
            self._progress.start()
        return self

    def __exit__(self, *exc):
        if self._progress:
            self._progress.stop()
        return False

    def running(self, text: str) -> None:
        if self._progress:
            self._progress.update(self._task, description=f"{self._title}: {text}")

    def done(self, spec: CellSpec, status: str) -> None:
        if self._progress:
            self._progress.advance(self._task)


def run_suite(
    suite: Suite | None,
    store,
    *,
    resume: str | None = None,
    progress: bool = True,
    fresh_process: bool = False,
    loader: Callable = default_loader,
    roof_gflops: float | None = None,
    planner: ChunkPlanner | None = None,
    retry_failed: bool = False,
    executor=None,
) -> str:
    """Time every cell of ``suite`` into ``store``; return the run id.

    Args:
        suite: The suite; may be None when resuming (the run's stored suite is used).
        store: A :class:`~saliency_core.store.ResultStore`.
        resume: A run id (or ``"latest"``/a prefix) to continue: cells it already has
            are skipped, the rest are timed into it.
        retry_failed: With ``resume``, also time again the cells stored as failed (a
            fixed weights file, a freed GPU); each new result replaces the failed row.
        progress: Show progress on stderr.
        fresh_process: Run each cell in its own Python process (also when the suite
            sets ``fresh_process = true``).
        loader: ``loader(model, weights=, image_size=) -> Classifier`` (for tests).
        roof_gflops: Use this roof for every cell instead of measuring it (for tests).
        planner: Chunk-size planner (default: the suite's candidates).
        executor: Where cells run when not in this process: an executor with
            ``run_cells(store, run_id, suite, specs, roofs, retry_failed=)`` yielding
            ``(spec, status)`` as cells are recorded (the Ray executor: each cell in its own
            worker process, the results recorded here). None or ``"local"``: this process,
            or a new process per cell with ``fresh_process``.

    Raises:
        KeyboardInterrupt: After marking the run ``interrupted``.
    """
    if resume is not None:
        run = store.get_run(resume)
        if "suite" not in run.config:
            raise ValueError(f"run {run.id} is not a timing run (its config has no suite)")
        stored = Suite.from_dict(run.config["suite"], source=f"run {run.id}")
        if suite is not None and suite.name != stored.name:
            raise ValueError(f"run {run.id} is of suite {stored.name!r}, not {suite.name!r}")
        suite = stored
    elif suite is None:
        raise ValueError("give a suite, or a run to resume")
    if retry_failed and resume is None:
        raise ValueError("retry_failed needs a run to resume")
    remote = executor is not None and getattr(executor, "name", "local") != "local"
    if remote and loader is not default_loader:
        raise ValueError(
            "a custom model loader runs in this process only; it cannot be "
            f"used with the {executor.name} executor"
        )
    fresh = fresh_process or suite.fresh_process or remote
    roofs = _Roofs(roof_gflops)
    start_roofs = {d: roofs.current_value(d) for d in suite.devices}
    if resume is not None:
        run_id = store.resume_run(run.id).id
    else:
        config = {
            "suite": suite.to_dict(),
            "roof_gflops": start_roofs[suite.devices[0]],
            "roofs": start_roofs,
            "roof_method": ROOF_METHOD,
            "fresh_process": fresh,
            **({"executor": executor.name} if remote else {}),
        }
        run_id = store.start_run(suite.name, config=config, seed=suite.seed)
    planner = planner or ChunkPlanner(suite.chunk_candidates, seed=suite.seed)
    cells = expand_cells(suite)
    groups: dict[str, list[CellSpec]] = {}
    for spec in cells:
        groups.setdefault(spec.model, []).append(spec)
    try:
        with _Progress(len(cells), progress, f"{suite.name} [{run_id}]") as bar:
            if remote:
                bar.running(f"on {executor.name}")
                for spec, status in executor.run_cells(
                    store, run_id, suite, cells, roofs, retry_failed=retry_failed
                ):
                    bar.done(spec, status)
            for model, specs in ({} if remote else groups).items():
                if fresh:
                    for spec in specs:
                        bar.running(spec.label())
                        bar.done(
                            spec, _run_in_worker(store, run_id, suite, spec, roofs, retry_failed=retry_failed)
                        )
                else:
                    bar.running(f"{model} (loading)")

                    def on_cell(spec, status, _bar=bar, _specs=specs):
                        _bar.done(spec, status)
                        nxt = _specs.index(spec) + 1
                        if nxt < len(_specs):
                            s = _specs[nxt]
                            _bar.running(s.label())

                    run_model_cells(
                        store,
                        run_id,
                        suite,
                        model,
                        specs,
                        roof=roofs.before_cell,
                        planner=planner,
                        loader=loader,
                        on_cell=on_cell,
                        retry_failed=retry_failed,
                    )
    except KeyboardInterrupt:
        _record_roofs(store, run_id, roofs)
        store.finish_run(run_id, status="interrupted")
        raise
    except BaseException:
        store.finish_run(run_id, status="failed")
        raise
    _record_roofs(store, run_id, roofs)
    store.finish_run(run_id, status="complete")
    return run_id


def _record_roofs(store, run_id: str, roofs: "_Roofs") -> None:
    """One ``roof`` cell per device for this session of the run: the best rate seen."""
    for device, tracker in roofs.trackers().items():
        if tracker is None:
            continue
        session = len([c for c in store.cells(run_id, kind="roof") if c.key.get("device") == device])
        store.record_cell(
            run_id,
            "roof",
            {"device": device, "session": session},
            status="ok",
            metrics={"gflops": tracker.gflops, "initial_gflops": tracker.initial, "method": ROOF_METHOD},
        )


def best_roofs(store, run_id: str) -> dict[str, float]:
    """The best roof (GFLOP/s) seen per device over a run: its ``roof`` cells, the timing
    cells' ``roof_gflops`` and the run config's start values."""
    best: dict[str, float] = {}

    def see(device, value):
        if device is not None and value:
            best[device] = max(best.get(device, 0.0), float(value))

    run = store.get_run(run_id)
    for device, value in (run.config.get("roofs") or {}).items():
        see(device, value)
    for cell in store.cells(run_id, kind="roof"):
        see(cell.key.get("device"), cell.metrics.get("gflops"))
    for cell in store.cells(run_id, kind="timing"):
        see(cell.key.get("device"), cell.metrics.get("roof_gflops"))
    return best
