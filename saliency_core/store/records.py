"""What the results store holds: run and cell rows, their statuses, the store's errors,
and the canonical JSON that identifies a cell's key.

A *run* is one invocation of a suite (one row of metadata: suite, config, seed,
machine and commit info). A *cell* is one measured unit of a run (a timing cell,
a check result, ...) identified within its run by ``(kind, key)``; ``key`` is a
dict stored as canonical JSON (sorted keys, no spaces, numpy scalars as Python
numbers).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..jsonable import json_default

__all__ = [
    "DEFAULT_STORE_PATH",
    "RUN_STATUSES",
    "CELL_STATUSES",
    "Run",
    "Cell",
    "StoreError",
    "UnknownRunError",
    "DuplicateCellError",
    "canonical_json",
    "utc_now",
]

DEFAULT_STORE_PATH = Path("reports") / "results.sqlite"
RUN_STATUSES = ("running", "complete", "interrupted", "failed")
CELL_STATUSES = ("ok", "failed")


class StoreError(Exception):
    """The store file cannot be used (not SQLite, newer schema, ...), or a bad argument."""


class UnknownRunError(StoreError, LookupError):
    """No run matches the given id, ``latest`` or prefix."""


class DuplicateCellError(StoreError):
    """A cell with the same ``(run_id, kind, key)`` is already recorded."""


@dataclass(frozen=True)
class Run:
    """One run's metadata row.

    Attributes:
        id: Run id (``YYYYMMDD-HHMMSS-xxxx``).
        suite: Suite name the run executes.
        status: One of ``RUN_STATUSES``; a process killed mid-run leaves ``"running"``.
        started: Start time, ISO 8601 in UTC.
        finished: Time ``finish_run`` was called (ISO 8601 UTC), or None.
        config: The run's configuration as given to ``start_run``.
        metadata: ``{"machine_info": {...}, "commit_info": {...}}`` (see
            ``store.machine``); a resumed run adds ``"resumed": [{"at", "machine_info",
            "commit_info"}, ...]``.
        seed: Seed of the run's random generators, or None.
    """

    id: str
    suite: str
    status: str
    started: str
    finished: str | None
    config: dict
    metadata: dict
    seed: int | None


@dataclass(frozen=True)
class Cell:
    """One measured unit of a run.

    Attributes:
        id: Integer cell id, unique in the store (used to fetch artifacts).
        run_id: The run the cell belongs to.
        kind: ``"timing"``, ``"check"``, ``"gate"``, ``"maps"``, ...
        key: The dict identifying the cell within its run and kind.
        status: ``"ok"`` or ``"failed"``.
        metrics: Measured values (see docs/ARCHITECTURE.md for each kind's convention).
        reason: Why the cell failed (None when ok).
        created: Time the cell was recorded, ISO 8601 UTC.
    """

    id: int
    run_id: str
    kind: str
    key: dict
    status: str
    metrics: dict
    reason: str | None
    created: str


def canonical_json(value: Any) -> str:
    """``value`` as canonical JSON: sorted keys, no spaces, numpy scalars as numbers.

    Two keys that are equal as Python values give the same text (note ``1`` and
    ``1.0`` stay different).
    """
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=json_default)


def utc_now() -> str:
    """The current time, ISO 8601 in UTC with microseconds (how the store writes times)."""
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")
