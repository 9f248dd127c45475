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

import io
import json
import secrets
import sqlite3
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np

from ..jsonable import json_default

__all__ = [
    "DEFAULT_STORE_PATH",
    "SCHEMA_VERSION",
    "RUN_STATUSES",
    "CELL_STATUSES",
    "ResultStore",
    "Run",
    "Cell",
    "StoreError",
    "UnknownRunError",
    "DuplicateCellError",
    "canonical_json",
]

DEFAULT_STORE_PATH = Path("reports") / "results.sqlite"
SCHEMA_VERSION = 1
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


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def _new_run_id() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(2)


# --- schema and migrations -------------------------------------------------------------


def _migrate_0_to_1(conn: sqlite3.Connection) -> None:
    conn.execute("""CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        suite TEXT NOT NULL,
        status TEXT NOT NULL,
        started TEXT NOT NULL,
        finished TEXT,
        config_json TEXT NOT NULL,
        metadata_json TEXT NOT NULL,
        seed INTEGER)""")
    conn.execute("""CREATE TABLE cells (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        kind TEXT NOT NULL,
        key_json TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('ok', 'failed')),
        metrics_json TEXT NOT NULL,
        reason TEXT,
        created TEXT NOT NULL)""")
    conn.execute("CREATE UNIQUE INDEX cells_run_kind_key ON cells (run_id, kind, key_json)")
    conn.execute("""CREATE TABLE artifacts (
        cell_id INTEGER NOT NULL REFERENCES cells(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        npy BLOB NOT NULL,
        PRIMARY KEY (cell_id, name))""")


#: ``MIGRATIONS[v]`` upgrades a store at schema version ``v`` to ``v + 1`` inside the
#: opening transaction. Add an entry (and bump ``SCHEMA_VERSION``) to change the schema.
MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {0: _migrate_0_to_1}


class ResultStore:
    """An SQLite results store, created or migrated on open.

    Args:
        path: The store file; parent directories are created.
        busy_timeout_s: How long a write waits for another writer's lock, in seconds.

    Raises:
        StoreError: The file is not an SQLite database, is an SQLite database that is
            not a results store, or has a schema version newer than this code knows.
            The message names the file.
    """

    def __init__(self, path: str | Path = DEFAULT_STORE_PATH, *, busy_timeout_s: float = 60.0):
        self.path = Path(path)
        if self.path.is_dir():
            raise StoreError(f"{self.path}: is a directory, not a results store file")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        try:
            self._conn = sqlite3.connect(
                str(self.path), timeout=busy_timeout_s, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: cannot open results store ({exc})") from exc
        try:
            self._conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
            current = self._check_file() and self._read_version() == SCHEMA_VERSION
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute("PRAGMA synchronous = FULL")
            self._conn.execute("PRAGMA foreign_keys = ON")
            if not current:
                self._migrate()
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            raise StoreError(f"{self.path}: not a usable SQLite results store ({exc})") from exc
        except StoreError:
            self._conn.close()
            raise

    # --- lifecycle -------------------------------------------------------------------
    def close(self) -> None:
        """Close the connection (committed data is already on disk)."""
        with self._lock:
            self._conn.close()

    def __enter__(self) -> "ResultStore":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ResultStore({str(self.path)!r})"

    @property
    def schema_version(self) -> int:
        """The schema version recorded in the file."""
        with self._lock:
            return self._read_version()

    def _read_version(self) -> int:
        row = self._conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
        return int(row[0] or 0)

    def _check_file(self) -> bool:
        """Raise StoreError unless the file is empty or a store this code can read.

        Returns whether the schema_version table exists. Reads only, so a foreign
        database is left untouched.
        """
        tables = {r[0] for r in self._conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "schema_version" not in tables:
            if tables - {"sqlite_sequence"}:
                raise StoreError(
                    f"{self.path}: an SQLite database but not a saliency-bench results "
                    f"store (no schema_version table; has {', '.join(sorted(tables))})"
                )
            return False
        version = self._read_version()
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path}: results store schema version {version} is newer than this "
                f"saliency-bench supports ({SCHEMA_VERSION}); upgrade saliency-bench"
            )
        return True

    def _migrate(self) -> None:
        with self._transaction():
            if not self._check_file():  # re-checked under the write lock
                self._conn.execute(
                    "CREATE TABLE schema_version (version INTEGER NOT NULL, applied TEXT NOT NULL)"
                )
            version = self._read_version()
            while version < SCHEMA_VERSION:
                MIGRATIONS[version](self._conn)
                version += 1
                self._conn.execute(
                    "INSERT INTO schema_version (version, applied) VALUES (?, ?)", (version, _now())
                )

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` transaction: committed on success, rolled back on error."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    # --- runs ------------------------------------------------------------------------
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
                            _now(),
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
            meta["resumed"] = list(meta.get("resumed", [])) + [{"at": _now(), **metadata}]
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
            conn.execute("UPDATE runs SET status = ?, finished = ? WHERE id = ?", (status, _now(), rid))

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

    # --- cells -----------------------------------------------------------------------
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
                    (rid, kind, key_json, status, metrics_json, reason, _now()),
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

    # --- maintenance -----------------------------------------------------------------
    def integrity_check(self) -> str:
        """SQLite's ``PRAGMA integrity_check`` result (``"ok"`` when the file is sound)."""
        with self._lock:
            rows: Iterable = self._conn.execute("PRAGMA integrity_check").fetchall()
        return "\n".join(str(r[0]) for r in rows)
