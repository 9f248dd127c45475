"""The timing harness: suites of cells, the timing protocol, FLOPs and the roof,
and comparisons of stored runs.

Public API::

    from saliency_core.harness import load_suite, run_suite, compare_baseline
    from saliency_core.store import ResultStore
    with ResultStore("results.sqlite") as store:
        run_id = run_suite(load_suite("quick"), store)
        rows = compare_baseline(store, run_id, baseline="resnet50")

Importing this package does not import TensorFlow.
"""

from .baseline import compare_baseline
from .timing_diff import compare_runs
from .machine_diff import machine_differences
from .flops import FlopCount, count_flops, measure_roof
from .roofs import best_roofs
from .runner import run_suite
from .suite_checks import CHECKS_DEFAULTS
from .suites import Suite, checks_settings, load_suite
from .suite_schema import SuiteError
from .call_timing import TimingConfig
from .timing import time_cell

__all__ = [
    "CHECKS_DEFAULTS",
    "FlopCount",
    "Suite",
    "SuiteError",
    "TimingConfig",
    "best_roofs",
    "checks_settings",
    "compare_baseline",
    "compare_runs",
    "count_flops",
    "load_suite",
    "machine_differences",
    "measure_roof",
    "run_suite",
    "time_cell",
]
