"""Run a timing suite: expand it into cells, time each, record each in the store at once.

:func:`run_suite` does timing only; the command line runs further steps (sanity
checks, the report) on the returned run id afterwards.

* Cells are grouped by model so a model is loaded (and its FLOPs counted) once
  (:func:`~.model_cells.run_model_cells`).
* Each cell is recorded as soon as it finishes, in its own store transaction; a
  resumed run (``resume=RUN``) skips every cell the store already has, or, with
  ``retry_failed=True``, only its ok cells: a failed cell is timed again and its new
  result replaces the failed row in the same transaction.
* Failures are results (:func:`~.model_cells.failure_reason`): a failed cell is recorded
  with its reason and the run goes on.
* Ctrl-C marks the run ``interrupted`` (finished cells stay) and re-raises.
* The machine roof is measured once at the start of a run (and of a resume) and stored
  in the run config; see :mod:`.roofs`.
* ``fresh_process=True`` runs each cell in a new Python process
  (:func:`~.cell_process.run_in_worker`), so no cell inherits another's memory, caches
  or compiled code.

Besides ``timing`` cells (keys: :mod:`.cell_spec`) a run holds three helper kinds:
``flops`` (key ``{model, image_size}``; metrics ``{forward, saliency, ratio, by_op,
uncounted}`` in FLOPs per image) and ``chunk`` (key ``{model, image_size, variant,
device}``, plus ``precision`` as for timing cells; metrics ``{best, images_per_s}``),
reused by resumed runs and fresh processes; and ``roof`` (key ``{device, session}``;
metrics ``{gflops, initial_gflops, method}``), the best roof seen by the end of the run
(or of each resumed session).
"""

from __future__ import annotations

from typing import Callable

from .cell_process import run_in_worker
from .cell_spec import CellSpec, expand_cells
from .chunking import ChunkPlanner
from .model_cells import default_loader, run_model_cells
from .roofs import ROOF_METHOD, Roofs, record_roofs
from .suites import Suite

__all__ = ["run_suite"]


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
    roofs = Roofs(roof_gflops)
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
                            spec, run_in_worker(store, run_id, suite, spec, roofs, retry_failed=retry_failed)
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
        record_roofs(store, run_id, roofs)
        store.finish_run(run_id, status="interrupted")
        raise
    except BaseException:
        store.finish_run(run_id, status="failed")
        raise
    record_roofs(store, run_id, roofs)
    store.finish_run(run_id, status="complete")
    return run_id
