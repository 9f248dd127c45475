"""The cells of a results store and their artifacts: record a cell (with its arrays)
in one transaction, ask whether a run has it, read cells and arrays back.

A unique index on ``(run_id, kind, key_json)`` makes a duplicate cell impossible.
Arrays that reports need are stored as ``.npy`` bytes attached to a cell (*artifacts*).
"""

from __future__ import annotations

import io
import json
import sqlite3

import numpy as np

from .records import CELL_STATUSES, Cell, DuplicateCellError, StoreError, canonical_json, utc_now
from .run_table import RunTable

__all__ = ["CellTable"]


class CellTable(RunTable):
    """A store file's ``cells`` and ``artifacts`` tables, over its runs."""

    def has_cell(self, run_id: str, kind: str, key: dict, *, status: str | None = None) -> bool:
        """Whether run ``run_id`` already has a cell ``(kind, key)``.

        ``status=None`` counts ok and failed cells; ``status="ok"`` counts only cells that
        succeeded (a resume that retries failed cells asks this).
        """
        if status is not None and status not in CELL_STATUSES:
            raise StoreError(f"cell status must be one of {CELL_STATUSES}, got {status!r}")
        sql = "SELECT 1 FROM cells WHERE run_id = ? AND kind = ? AND key_json = ?"
        with self._lock:
            rid = self._resolve(run_id)
            args: tuple = (rid, kind, canonical_json(key))
            if status is not None:
                sql += " AND status = ?"
                args += (status,)
            row = self._conn.execute(sql, args).fetchone()
        return row is not None

    def record_cell(
        self,
        run_id: str,
        kind: str,
        key: dict,
        status: str = "ok",
        metrics: dict | None = None,
        reason: str | None = None,
        artifacts: dict[str, np.ndarray] | None = None,
        *,
        replace_failed: bool = False,
    ) -> int:
        """Record one cell and its artifacts in one transaction; return the cell id.

        Args:
            run_id: The run (an id, ``"latest"`` or a unique prefix).
            kind: Cell kind (``"timing"``, ``"check"``, ``"gate"``, ``"maps"``, ...).
            key: Dict identifying the cell within the run and kind (JSON-serialisable).
            status: ``"ok"`` or ``"failed"``.
            metrics: Measured values (JSON-serialisable; numpy scalars/arrays allowed).
            reason: Why the cell failed; required when ``status == "failed"``.
            artifacts: Named arrays stored as ``.npy`` bytes (no pickled objects).
            replace_failed: Replace a *failed* cell with the same ``(kind, key)`` in the
                same transaction (a retried cell); an ok cell is never replaced.

        Raises:
            DuplicateCellError: The run already has this ``(kind, key)`` (and it is ok,
                or ``replace_failed`` is false).
            UnknownRunError: No such run.
        """
        if status not in CELL_STATUSES:
            raise StoreError(f"cell status must be one of {CELL_STATUSES}, got {status!r}")
        if status == "failed" and not reason:
            raise StoreError("a failed cell needs a reason")
        key_json = canonical_json(key)
        metrics_json = canonical_json(metrics or {})
        blobs = {}
        for name, array in (artifacts or {}).items():
            buf = io.BytesIO()
            np.save(buf, np.asarray(array), allow_pickle=False)
            blobs[str(name)] = buf.getvalue()
        with self._transaction() as conn:
            rid = self._resolve(run_id)
            if replace_failed:  # artifacts go with it (ON DELETE CASCADE)
                conn.execute(
                    "DELETE FROM cells WHERE run_id = ? AND kind = ? AND key_json = ? AND status = 'failed'",
                    (rid, kind, key_json),
                )
            try:
                cur = conn.execute(
                    "INSERT INTO cells (run_id, kind, key_json, status, metrics_json, reason, "
                    "created) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (rid, kind, key_json, status, metrics_json, reason, utc_now()),
                )
            except sqlite3.IntegrityError as exc:
                raise DuplicateCellError(
                    f"run {rid} already has a {kind!r} cell with key {key_json}"
                ) from exc
            assert cur.lastrowid is not None  # set by the INSERT
            cell_id = int(cur.lastrowid)
            conn.executemany(
                "INSERT INTO artifacts (cell_id, name, npy) VALUES (?, ?, ?)",
                [(cell_id, n, b) for n, b in blobs.items()],
            )
        return cell_id

    def cells(self, run_id: str, kind: str | None = None) -> list[Cell]:
        """The run's cells (of one kind, or all), in the order they were recorded."""
        with self._lock:
            rid = self._resolve(run_id)
            sql = (
                "SELECT id, run_id, kind, key_json, status, metrics_json, reason, created "
                "FROM cells WHERE run_id = ?"
            )
            args: tuple = (rid,)
            if kind is not None:
                sql += " AND kind = ?"
                args += (kind,)
            rows = self._conn.execute(sql + " ORDER BY id", args).fetchall()
        return [
            Cell(
                id=r[0],
                run_id=r[1],
                kind=r[2],
                key=json.loads(r[3]),
                status=r[4],
                metrics=json.loads(r[5]),
                reason=r[6],
                created=r[7],
            )
            for r in rows
        ]

    def get_cell(self, run_id: str, kind: str, key: dict) -> Cell | None:
        """The cell ``(kind, key)`` of run ``run_id``, or None."""
        with self._lock:
            rid = self._resolve(run_id)
            r = self._conn.execute(
                "SELECT id, run_id, kind, key_json, status, metrics_json, reason, created "
                "FROM cells WHERE run_id = ? AND kind = ? AND key_json = ?",
                (rid, kind, canonical_json(key)),
            ).fetchone()
        if r is None:
            return None
        return Cell(
            id=r[0],
            run_id=r[1],
            kind=r[2],
            key=json.loads(r[3]),
            status=r[4],
            metrics=json.loads(r[5]),
            reason=r[6],
            created=r[7],
        )

    # --- artifacts -------------------------------------------------------------------
    def artifact(self, cell_id: int, name: str) -> np.ndarray:
        """The array ``name`` attached to cell ``cell_id``.

        Raises:
            KeyError: The cell has no such artifact.
        """
        with self._lock:
            row = self._conn.execute(
                "SELECT npy FROM artifacts WHERE cell_id = ? AND name = ?", (int(cell_id), name)
            ).fetchone()
        if row is None:
            raise KeyError(f"cell {cell_id} has no artifact {name!r}")
        return np.load(io.BytesIO(row[0]), allow_pickle=False)

    def artifact_names(self, cell_id: int) -> list[str]:
        """Names of the arrays attached to cell ``cell_id``, sorted."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT name FROM artifacts WHERE cell_id = ? ORDER BY name", (int(cell_id),)
            ).fetchall()
        return [r[0] for r in rows]
