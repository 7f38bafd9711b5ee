"""SQLite done once: per-thread autocommit connections to one file, WAL, busy timeout,
short ``BEGIN IMMEDIATE`` write transactions and versioned migrations.

The project store, the render queue and the QA run log share the studio database file and
this one way of opening and writing it; each passes its own error classes so its callers
see errors in their own terms.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from pathlib import Path

import sqlite_utils

ErrorFactory = Callable[[str], Exception]


class SqliteFile:
    """Connections to one SQLite file: one per thread, all closed by :meth:`close`."""

    def __init__(
        self,
        path: Path,
        *,
        name: str,
        busy_timeout_ms: int = 10_000,
        rows: bool = False,
        foreign_keys: bool = True,
        error: ErrorFactory,
        busy: ErrorFactory | None = None,
        integrity: ErrorFactory | None = None,
    ) -> None:
        self.path = Path(path)
        self.name = name
        self.busy_timeout_ms = busy_timeout_ms
        self.rows = rows
        self.foreign_keys = foreign_keys
        self._error = error
        self._busy = busy or error
        self._integrity = integrity
        self._local = threading.local()
        self._conns: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)

    @property
    def conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(
                    self.path,
                    isolation_level=None,
                    timeout=self.busy_timeout_ms / 1000,
                    check_same_thread=False,
                )
                if self.rows:
                    conn.row_factory = sqlite3.Row
                conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
                self._enable_wal(conn)
                # NORMAL in WAL mode: a committed transaction survives a process crash
                # (SIGKILL); only an OS crash or power cut can lose the last few.
                conn.execute("PRAGMA synchronous = NORMAL")
                if self.foreign_keys:
                    conn.execute("PRAGMA foreign_keys = ON")
            except sqlite3.Error as exc:
                raise self._error(f"cannot open {self.name} in {self.path}: {exc}") from exc
            self._local.conn = conn
            with self._lock:
                self._conns.append(conn)
        return conn

    def _enable_wal(self, conn: sqlite3.Connection) -> None:
        """Switch to WAL, retrying: on a brand-new file the switch needs a moment alone and
        SQLite answers 'database is locked' at once instead of calling the busy handler."""
        deadline = time.monotonic() + self.busy_timeout_ms / 1000
        while True:
            try:
                conn.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.005)

    @property
    def db(self) -> sqlite_utils.Database:
        """sqlite-utils view of this thread's connection, for reads and introspection."""
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite_utils.Database(self.conn)
            self._local.db = db
        return db

    def close(self) -> None:
        """Close every connection opened through this object (all threads)."""
        with self._lock:
            conns, self._conns = self._conns, []
        for conn in conns:
            try:
                conn.close()
            except sqlite3.Error:
                pass
        self._local = threading.local()

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One short write transaction: ``BEGIN IMMEDIATE`` … ``COMMIT`` (rollback on error).

        sqlite-utils' own write helpers wrap themselves in ``with conn:``, which would commit
        this transaction early, so inside it only plain SQL is used.
        """
        conn = self.conn
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise self._busy(f"{self.name} is busy or read-only ({exc}); try again in a moment") from exc
        try:
            yield conn
        except sqlite3.IntegrityError as exc:
            conn.execute("ROLLBACK")
            if self._integrity is None:
                raise
            raise self._integrity(f"{self.name} refused the write: {exc}") from exc
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        else:
            try:
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                conn.execute("ROLLBACK")
                raise self._error(f"could not save to {self.name}: {exc}") from exc

    def migrate(self, table: str, migrations: Sequence[Sequence[str]]) -> int:
        """Apply pending migrations (one IMMEDIATE transaction: safe when several processes
        open the file at once); returns the schema version.

        A file that has every migration already is only read: opening it takes no write lock
        (a write transaction was most of the cost of opening a store).
        """
        try:
            applied = self.conn.execute(
                f"SELECT COUNT(*) FROM {table} WHERE version <= ?", (len(migrations),)
            ).fetchone()[0]
        except sqlite3.OperationalError:  # no migrations table yet: a new file
            applied = -1
        if applied == len(migrations):
            return len(migrations)
        with self.write() as conn:
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {table} (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
            )
            done = {row[0] for row in conn.execute(f"SELECT version FROM {table}")}
            for version, statements in enumerate(migrations, start=1):
                if version in done:
                    continue
                for statement in statements:
                    conn.execute(statement)
                conn.execute(
                    f"INSERT INTO {table} (version, applied_at) VALUES (?, ?)",
                    (version, datetime.now(UTC).isoformat(timespec="microseconds")),
                )
        return len(migrations)

    def schema_version(self, table: str) -> int:
        row = self.conn.execute(f"SELECT MAX(version) FROM {table}").fetchone()
        return int(row[0] or 0)


class SqliteBacked:
    """Mixin for objects that keep their tables in a :class:`SqliteFile` at ``self._sql``,
    versioned by ``MIGRATIONS`` recorded in the table ``MIGRATIONS_TABLE``."""

    _sql: SqliteFile
    MIGRATIONS_TABLE: str
    MIGRATIONS: list[list[str]]

    def _write(self) -> AbstractContextManager[sqlite3.Connection]:
        """One short write transaction: ``BEGIN IMMEDIATE`` … ``COMMIT`` (rollback on error)."""
        return self._sql.write()

    def migrate(self) -> int:
        """Apply pending migrations; returns the schema version. Safe when several processes
        open the file at once."""
        return self._sql.migrate(self.MIGRATIONS_TABLE, self.MIGRATIONS)

    def schema_version(self) -> int:
        return self._sql.schema_version(self.MIGRATIONS_TABLE)

    @property
    def conn(self) -> sqlite3.Connection:
        return self._sql.conn

    @property
    def db(self) -> sqlite_utils.Database:
        """sqlite-utils view of this thread's connection, for reads and introspection."""
        return self._sql.db

    def close(self) -> None:
        """Close every connection this object opened (all threads)."""
        self._sql.close()
