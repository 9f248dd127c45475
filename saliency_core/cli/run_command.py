"""``run [SUITE]``: times a suite into the results store (``runner.run_suite`` does the
timing only), then runs each step of :func:`post_timing_steps` on the run: the results
table, the variants against eager, example maps, sanity checks with the gate, the
report. Progress goes to stderr, the table to stdout.
"""

from __future__ import annotations

import time
from typing import Callable

from .errors import CliError
from .runs import open_store
from .timing_results import print_timing_results

__all__ = ["post_timing_steps"]


def post_timing_steps() -> list[Callable]:
    """Steps ``run`` performs after timing, in order, each ``step(args, store, run_id)``:
    the timing table, then (for suites with an ``[agreement]`` table) the variants
    against eager, then (for suites with a ``[checks]`` table) example maps and the
    sanity checks with the gate, then the report."""
    from .run_steps import record_agreement, record_maps, run_suite_checks, write_report

    return [print_timing_results, record_agreement, record_maps, run_suite_checks, write_report]


def _executor(args):
    """The executor of ``--executor`` (None for local); CliError when it cannot start."""
    name = getattr(args, "executor", "local")
    if name == "local":
        return None
    from ..executors import get_executor

    try:
        return get_executor(name, address=args.ray_address)
    except (ImportError, ValueError, RuntimeError) as exc:
        raise CliError(f"--executor {name}: {exc}") from None


def timed_run(store, suite, args) -> str:
    from ..harness.runner import run_suite
    from ..store import StoreError

    executor = _executor(args)
    try:
        return run_suite(
            suite,
            store,
            resume=getattr(args, "resume", None),
            progress=True,
            fresh_process=args.fresh_process,
            retry_failed=getattr(args, "retry_failed", False),
            executor=executor,
        )
    except (StoreError, ValueError) as exc:
        raise CliError(str(exc)) from None
    finally:
        if executor is not None:
            executor.close()


def cmd_run(args) -> int:
    from ..harness.suite_schema import SuiteError
    from ..harness.suites import load_suite

    if args.retry_failed and not args.resume:
        raise CliError("--retry-failed needs --resume RUN")
    suite = None
    if args.suite or not args.resume:
        try:
            suite = load_suite(args.suite or "quick")
        except SuiteError as exc:
            raise CliError(str(exc)) from None
    with open_store(args.store) as store:
        start = time.perf_counter()
        run_id = timed_run(store, suite, args)
        args.timing_wall_s = time.perf_counter() - start
        args.gate_exit = 0
        for step in post_timing_steps():
            step(args, store, run_id)
    return args.gate_exit  # the gate's verdict (0 pass, 1 fail, 3 inconclusive), report written
