"""The store file's schema: its tables, the migrations that build them, and the
connection that opens a file, checks it and migrates it to :data:`SCHEMA_VERSION`.

Durability and concurrency: the file is in WAL mode with a busy timeout, and every
write is one ``BEGIN IMMEDIATE`` transaction (:meth:`StoreFile._transaction`).
"""

from __future__ import annotations

import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from .records import DEFAULT_STORE_PATH, StoreError, utc_now

__all__ = ["SCHEMA_VERSION", "MIGRATIONS", "StoreFile"]

SCHEMA_VERSION = 1


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


class StoreFile:
    """An open store file: an SQLite connection to a file created, checked or migrated
    on open (the arguments and errors of :class:`~saliency_core.store.ResultStore`).
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
                    "INSERT INTO schema_version (version, applied) VALUES (?, ?)", (version, utc_now())
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
