"""SQLite done once: per-thread autocommit connections to one file, WAL, busy timeout,
short ``BEGIN IMMEDIATE`` write transactions and versioned migrations.

The project store, the render queue and the QA run log share the studio database file and
this one way of opening and writing it; each passes its own error classes so its callers
see errors in their own terms.

Two failures are the same for every caller: a full disk (``SQLITE_FULL``) becomes
:class:`~studio.errors.DiskFull` and a data dir that cannot be written becomes
:class:`~studio.errors.ReadOnly`, each with a one-line message. A file (or its folder) the
user cannot write is opened read-only: reads work, nothing is created or migrated.
"""

from __future__ import annotations

import errno
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from studio.errors import DiskFull, ReadOnly

if TYPE_CHECKING:  # imported where used: sqlite-utils loads pandas when it is installed
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
        read_only: bool | None = None,
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
        # None: read-only when the file (or the folder its journal goes in) is not writable.
        self.read_only = _not_writable(self.path) if read_only is None else read_only
        if not self.read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)

    @property
    def conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        conn = self._open_read_only() if self.read_only else self._open()
        self._local.conn = conn
        with self._lock:
            self._conns.append(conn)
        return conn

    def _open(self) -> sqlite3.Connection:
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
            if _is_full(exc):
                raise self._full() from exc
            raise self._error(f"cannot open {self.name} in {self.path}: {exc}") from exc
        return conn

    def _open_read_only(self) -> sqlite3.Connection:
        """A ``mode=ro`` connection; where WAL's shared-memory file cannot be created (a
        read-only folder with no live writer), an ``immutable`` one: nobody can write it."""
        if not self.path.is_file():
            raise self._error(f"{self.name} does not exist in {self.path.parent}, which is read-only")
        uri = self.path.resolve().as_uri()
        last: sqlite3.Error | None = None
        for query in ("?mode=ro", "?mode=ro&immutable=1"):
            try:
                conn = sqlite3.connect(
                    uri + query, uri=True, isolation_level=None,
                    timeout=self.busy_timeout_ms / 1000, check_same_thread=False,
                )
                if self.rows:
                    conn.row_factory = sqlite3.Row
                conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
                conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
                return conn
            except sqlite3.Error as exc:
                last = exc
        raise self._error(f"cannot read {self.name} in {self.path}: {last}")

    def _full(self) -> DiskFull:
        return DiskFull(f"the disk is full: free space in {self.path.parent} and retry; nothing was saved")

    def read_only_error(self) -> ReadOnly:
        return ReadOnly(
            f"{self.path.parent} is read-only: {self.name} can be read but not changed; nothing was saved"
        )

    def _translate(self, exc: sqlite3.Error) -> Exception | None:
        """The studio error for a failed write, or None to let the original through."""
        if _is_full(exc):
            return self._full()
        if getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_READONLY or "readonly" in str(exc):
            return self.read_only_error()
        return None

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
            import sqlite_utils

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
        if self.read_only:
            raise self.read_only_error()
        conn = self.conn
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            translated = self._translate(exc)
            if translated is not None:
                raise translated from exc
            raise self._busy(f"{self.name} is busy or read-only ({exc}); try again in a moment") from exc
        try:
            yield conn
        except sqlite3.IntegrityError as exc:
            _rollback(conn)
            if self._integrity is None:
                raise
            raise self._integrity(f"{self.name} refused the write: {exc}") from exc
        except sqlite3.Error as exc:
            # SQLite may have rolled back already (SQLITE_FULL does): a second ROLLBACK
            # would fail and hide the real error behind "no transaction is active".
            _rollback(conn)
            translated = self._translate(exc)
            if translated is not None:
                raise translated from exc
            raise
        except BaseException:
            _rollback(conn)
            raise
        else:
            try:
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                _rollback(conn)
                translated = self._translate(exc)
                if translated is not None:
                    raise translated from exc
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
        if self.read_only:
            raise self._error(
                f"{self.name} in {self.path.parent} needs an upgrade, but the folder is read-only:"
                " open it once where it can be written"
            )
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


def _rollback(conn: sqlite3.Connection) -> None:
    """Roll back if a transaction is still open; a rollback that fails changes nothing."""
    if conn.in_transaction:
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass


def _is_full(exc: BaseException) -> bool:
    if isinstance(exc, sqlite3.Error):
        return getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or (
            "database or disk is full" in str(exc)
        )
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


def is_disk_full(exc: BaseException) -> bool:
    """True for SQLite's ``SQLITE_FULL`` and the OS's 'no space left' / 'quota exceeded'."""
    return _is_full(exc)


def _not_writable(path: Path) -> bool:
    """True when an existing database file, or the folder its WAL and journal go in, cannot
    be written by this process (a read-only data dir)."""
    if path.exists():
        return not (os.access(path, os.W_OK) and os.access(path.parent, os.W_OK))
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    return parent.exists() and not os.access(parent, os.W_OK)


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

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Rows of a read as dicts (column -> value), without loading sqlite-utils."""
        cursor = self.conn.execute(sql, params)
        keys = [column[0] for column in cursor.description]
        return [dict(zip(keys, row, strict=True)) for row in cursor]

    def close(self) -> None:
        """Close every connection this object opened (all threads)."""
        self._sql.close()
