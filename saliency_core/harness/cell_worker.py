"""Run one timing cell in this (fresh) process and record it in the store.

Started by :func:`saliency_core.harness.runner.run_suite` with ``fresh_process=True``::

    python -m saliency_core.harness.cell_worker --store PATH --run RUN_ID \\
        --suite SUITE_JSON --cell CELL_JSON [--roof GFLOPS|none] [--resample-roof yes|no] \\
        [--retry-failed]

The cell (ok or failed) is written to the store by this process; exit code 0 when
it was recorded, 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

__all__ = ["main", "run_cell", "prepare_process"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m saliency_core.harness.cell_worker")
    parser.add_argument("--store", required=True)
    parser.add_argument("--run", required=True)
    parser.add_argument("--suite", required=True, help="suite as JSON (Suite.to_dict)")
    parser.add_argument("--cell", required=True, help="cell as JSON (CellSpec fields)")
    parser.add_argument(
        "--roof", default="none", help="the device's roof so far, GFLOP/s, or none (measured here)"
    )
    parser.add_argument(
        "--resample-roof",
        choices=("yes", "no"),
        default="yes",
        help="re-sample the roof before the cell, keeping the best",
    )
    parser.add_argument("--retry-failed", action="store_true", help="replace a failed cell with the same key")
    args = parser.parse_args(argv)
    prepare_process()
    from ..devices import configure_threads
    from ..store import ResultStore
    from .cell_spec import CellSpec
    from .suites import Suite

    configure_threads()  # the parent's thread counts, passed in TF_NUM_*_THREADS
    suite = Suite.from_dict(json.loads(args.suite))
    spec = CellSpec(**json.loads(args.cell))
    try:
        with ResultStore(args.store) as store:
            run_cell(
                store,
                args.run,
                suite,
                spec,
                roof=None if args.roof == "none" else float(args.roof),
                resample_roof=args.resample_roof == "yes",
                retry_failed=args.retry_failed,
            )
    except KeyboardInterrupt:
        return 130
    return 0


def prepare_process() -> None:
    """Configure this process's runtime before TensorFlow is imported (an entry point)."""
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def run_cell(
    store,
    run_id: str,
    suite,
    spec,
    *,
    roof: float | None,
    resample_roof: bool = True,
    retry_failed: bool = False,
) -> None:
    """Time ``spec`` (a :class:`~.cell_spec.CellSpec` of ``suite``) in this process and record
    it (with the ``flops`` and ``chunk`` cells it needs) in run ``run_id`` of ``store``.

    ``roof``: the device's roof so far in GFLOP/s (None: measured here);
    ``resample_roof``: re-sample it before the cell, keeping the best. Used by
    :func:`main` and by the Ray cell tasks (:mod:`saliency_core.executors.ray_cells`).
    """
    from .chunking import ChunkPlanner
    from .flops import RoofTracker
    from .model_cells import run_model_cells

    try:
        tracker = RoofTracker(roof, resample=resample_roof, device=spec.device)
    except Exception:  # noqa: BLE001 - no roof (e.g. no GPU): the cell records None
        tracker = None
    run_model_cells(
        store,
        run_id,
        suite,
        spec.model,
        [spec],
        roof=(lambda device: tracker.before_cell()) if tracker else None,
        planner=ChunkPlanner(suite.chunk_candidates, seed=suite.seed),
        retry_failed=retry_failed,
    )


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
