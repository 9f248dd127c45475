"""The SQLite results store, machine/commit metadata, and run export.

Example::

    from saliency_core.store import ResultStore, export_json
    store = ResultStore("reports/results.sqlite")
    run_id = store.start_run(suite="quick", config={}, seed=0)
    ...
    doc = export_json(store, run_id)        # pytest-benchmark JSON layout

Importing this package does not import TensorFlow.
"""

from .db import ResultStore
from .export import cell_name, export_csv, export_json, timing_stats
from .machine import commit_info, machine_info
from .records import (
    CELL_STATUSES,
    DEFAULT_STORE_PATH,
    RUN_STATUSES,
    Cell,
    DuplicateCellError,
    Run,
    StoreError,
    UnknownRunError,
    canonical_json,
)
from .schema import SCHEMA_VERSION

__all__ = [
    "CELL_STATUSES",
    "Cell",
    "DEFAULT_STORE_PATH",
    "DuplicateCellError",
    "RUN_STATUSES",
    "ResultStore",
    "Run",
    "SCHEMA_VERSION",
    "StoreError",
    "UnknownRunError",
    "canonical_json",
    "cell_name",
    "commit_info",
    "export_csv",
    "export_json",
    "machine_info",
    "timing_stats",
]
