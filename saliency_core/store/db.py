"""The results store: one SQLite file holding runs, their cells and cell artifacts.

A *run* is one invocation of a suite (one row of metadata: suite, config, seed,
machine and commit info). A *cell* is one measured unit of a run (a timing cell,
a check result, ...) identified within its run by ``(kind, key)``; ``key`` is a
dict stored as canonical JSON (sorted keys, no spaces, numpy scalars as Python
numbers), and a unique index on ``(run_id, kind, key_json)`` makes a duplicate
cell impossible. Arrays that reports need are stored as ``.npy`` bytes attached
to a cell (*artifacts*).

Durability and concurrency: the file is in WAL mode with a busy timeout, and each
``record_cell`` (the cell and its artifacts) is one ``BEGIN IMMEDIATE``
transaction. A process stopped at any point (Ctrl-C, ``kill -9``) keeps every
cell whose ``record_cell`` returned; several processes may write one store at once.

Run ids are ``YYYYMMDD-HHMMSS-xxxx``: the run's start time in UTC and four random
hex digits, e.g. ``20261122-041500-ab12``. Every method that takes a run id also
accepts ``"latest"`` (the most recently started run) or a unique prefix of an id.

Example::

    store = ResultStore("reports/results.sqlite")
    run_id = store.start_run(suite="quick", config={}, seed=0)
    key = {"model": "resnet50", "variant": "xla", "batch_size": 8, "device": "cpu",
           "image_size": 224}
    if not store.has_cell(run_id, kind="timing", key=key):
        store.record_cell(run_id, kind="timing", key=key, status="ok", metrics={...})
    store.finish_run(run_id, status="complete")
"""

from __future__ import annotations

from typing import Iterable

from .cell_table import CellTable

__all__ = ["ResultStore"]


class ResultStore(CellTable):
    """An SQLite results store, created or migrated on open.

    Args:
        path: The store file; parent directories are created.
        busy_timeout_s: How long a write waits for another writer's lock, in seconds.

    Raises:
        StoreError: The file is not an SQLite database, is an SQLite database that is
            not a results store, or has a schema version newer than this code knows.
            The message names the file.
    """

    def __enter__(self) -> "ResultStore":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ResultStore({str(self.path)!r})"

    # --- maintenance -----------------------------------------------------------------
    def integrity_check(self) -> str:
        """SQLite's ``PRAGMA integrity_check`` result (``"ok"`` when the file is sound)."""
        with self._lock:
            rows: Iterable = self._conn.execute("PRAGMA integrity_check").fetchall()
        return "\n".join(str(r[0]) for r in rows)
