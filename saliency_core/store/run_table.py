"""The runs of a results store: start, resume and finish a run, resolve its id, read it.

Run ids are ``YYYYMMDD-HHMMSS-xxxx``: the run's start time in UTC and four random
hex digits, e.g. ``20261122-041500-ab12``. Every method that takes a run id also
accepts ``"latest"`` (the most recently started run) or a unique prefix of an id.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
from datetime import datetime, timezone

from .records import RUN_STATUSES, Run, StoreError, UnknownRunError, canonical_json, utc_now
from .schema import StoreFile

__all__ = ["RunTable"]


def _new_run_id() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(2)


class RunTable(StoreFile):
    """A store file's ``runs`` table (:class:`~saliency_core.store.ResultStore` adds the cells)."""

    def start_run(
        self, suite: str, config: dict | None = None, seed: int | None = None, *, metadata: dict | None = None
    ) -> str:
        """Record a new run with status ``"running"`` and return its id.

        Args:
            suite: Suite name.
            config: The run's configuration (JSON-serialisable).
            seed: Seed of the run's random generators.
            metadata: Machine/commit metadata to store; None collects
                ``{"machine_info": machine_info(), "commit_info": commit_info()}`` now
                (this imports TensorFlow to list GPUs).
        """
        if metadata is None:
            from .machine import commit_info, machine_info

            metadata = {"machine_info": machine_info(), "commit_info": commit_info()}
        config_json = canonical_json(config or {})
        metadata_json = canonical_json(metadata)
        for _ in range(20):
            run_id = _new_run_id()
            try:
                with self._transaction() as conn:
                    conn.execute(
                        "INSERT INTO runs (id, suite, status, started, finished, config_json, "
                        "metadata_json, seed) VALUES (?, ?, 'running', ?, NULL, ?, ?, ?)",
                        (
                            run_id,
                            suite,
                            utc_now(),
                            config_json,
                            metadata_json,
                            None if seed is None else int(seed),
                        ),
                    )
                return run_id
            except sqlite3.IntegrityError:  # same second and same random suffix: retry
                continue
        raise StoreError(f"{self.path}: could not allocate a unique run id")

    def resume_run(self, run_id: str, *, metadata: dict | None = None) -> Run:
        """Mark a run ``"running"`` again (for ``--resume``) and return it.

        The current machine/commit metadata (collected as in ``start_run`` when None)
        is appended to the run's ``metadata["resumed"]`` so a resume on another
        machine is visible; finished cells are kept, the caller skips them with
        ``has_cell``.
        """
        if metadata is None:
            from .machine import commit_info, machine_info

            metadata = {"machine_info": machine_info(), "commit_info": commit_info()}
        with self._transaction() as conn:
            run = self._get_run(self._resolve(run_id))
            meta = dict(run.metadata)
            meta["resumed"] = list(meta.get("resumed", [])) + [{"at": utc_now(), **metadata}]
            conn.execute(
                "UPDATE runs SET status = 'running', finished = NULL, metadata_json = ? WHERE id = ?",
                (canonical_json(meta), run.id),
            )
        return self.get_run(run.id)

    def finish_run(self, run_id: str, status: str = "complete") -> None:
        """Set a run's final status (one of ``RUN_STATUSES``) and finish time."""
        if status not in RUN_STATUSES:
            raise StoreError(f"run status must be one of {RUN_STATUSES}, got {status!r}")
        with self._transaction() as conn:
            rid = self._resolve(run_id)
            conn.execute("UPDATE runs SET status = ?, finished = ? WHERE id = ?", (status, utc_now(), rid))

    def resolve_run(self, run_id: str) -> str:
        """The full id of ``run_id``: an exact id, ``"latest"``, or a unique id prefix.

        Raises:
            UnknownRunError: Nothing (or more than one run, for a prefix) matches.
        """
        with self._lock:
            return self._resolve(run_id)

    def _resolve(self, run_id: str) -> str:
        run_id = str(run_id)
        conn = self._conn
        if run_id == "latest":
            row = conn.execute("SELECT id FROM runs ORDER BY started DESC, rowid DESC LIMIT 1").fetchone()
            if row is None:
                raise UnknownRunError(f"{self.path}: no runs in the store")
            return row[0]
        if conn.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone():
            return run_id
        escaped = run_id.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        rows = [
            r[0]
            for r in conn.execute(
                "SELECT id FROM runs WHERE id LIKE ? ESCAPE '\\' ORDER BY id", (escaped + "%",)
            )
        ]
        if len(rows) == 1 and run_id:
            return rows[0]
        if len(rows) > 1 and run_id:
            raise UnknownRunError(
                f"{self.path}: run id prefix {run_id!r} is ambiguous: "
                f"{', '.join(rows[:5])}{' ...' if len(rows) > 5 else ''}"
            )
        raise UnknownRunError(f"{self.path}: no run {run_id!r} (see `saliency-bench runs`)")

    def get_run(self, run_id: str) -> Run:
        """The run ``run_id`` (an id, ``"latest"`` or a unique prefix)."""
        with self._lock:
            return self._get_run(self._resolve(run_id))

    def _get_run(self, rid: str) -> Run:
        row = self._conn.execute(
            "SELECT id, suite, status, started, finished, config_json, metadata_json, seed "
            "FROM runs WHERE id = ?",
            (rid,),
        ).fetchone()
        return self._run_from_row(row)

    @staticmethod
    def _run_from_row(row) -> Run:
        return Run(
            id=row[0],
            suite=row[1],
            status=row[2],
            started=row[3],
            finished=row[4],
            config=json.loads(row[5]),
            metadata=json.loads(row[6]),
            seed=row[7],
        )

    def list_runs(self) -> list[Run]:
        """All runs, oldest first."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT id, suite, status, started, finished, config_json, metadata_json, seed "
                "FROM runs ORDER BY started, rowid"
            ).fetchall()
        return [self._run_from_row(r) for r in rows]
