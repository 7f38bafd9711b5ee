"""The project store: one SQLite database per data dir, plus content-addressed media files.

Objects (JSON documents) are immutable and addressed by ``sha256(canonical JSON)``; commits
point at a tree object and their parents; branch heads live in ``refs`` and move only by
compare-and-swap inside a ``BEGIN IMMEDIATE`` transaction, each move appended to ``reflog``.

Transactions are ours, not sqlite-utils': the connection runs in autocommit mode and every
write goes through :meth:`Store.write`, which holds ``BEGIN IMMEDIATE`` for as short as it
can. (sqlite-utils' own write helpers wrap themselves in ``with conn:``, which would commit a
surrounding transaction early, so inside :meth:`write` only plain SQL is used.)
"""

from __future__ import annotations

import json
import os
import sqlite3
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from studio.errors import Corrupt, DiskFull, NotFound, StudioError
from studio.objects import canonical_json, sha256_hex
from studio.sqlite import SqliteBacked, SqliteFile, is_disk_full

SCHEMA_VERSION = 1

# Media files are written to a temp file beside their final name, then renamed; a crash in
# between leaves one of these, which `studio fsck` reports and removes.
TMP_PREFIX = ".tmp-"
# A temp file younger than this may belong to a writer that is still running.
TMP_MIN_AGE_S = 60.0

# Each migration is a list of statements applied in one IMMEDIATE transaction. Append only.
MIGRATIONS: list[list[str]] = [
    [
        """CREATE TABLE projects (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL UNIQUE COLLATE NOCASE,
            created_at TEXT NOT NULL,
            active_branch TEXT NOT NULL DEFAULT 'main'
        )""",
        """CREATE TABLE objects (
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            data BLOB NOT NULL,
            size INTEGER NOT NULL
        ) WITHOUT ROWID""",
        """CREATE TABLE commits (
            id TEXT PRIMARY KEY,
            project_id TEXT NOT NULL REFERENCES projects(id),
            tree TEXT NOT NULL,
            parents TEXT NOT NULL,
            message TEXT NOT NULL,
            action TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL
        )""",
        "CREATE INDEX commits_by_project ON commits(project_id)",
        """CREATE TABLE refs (
            project_id TEXT NOT NULL REFERENCES projects(id),
            name TEXT NOT NULL,
            commit_id TEXT NOT NULL REFERENCES commits(id),
            created_at TEXT NOT NULL,
            PRIMARY KEY (project_id, name)
        ) WITHOUT ROWID""",
        """CREATE TABLE reflog (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            project_id TEXT NOT NULL,
            ref TEXT NOT NULL,
            old TEXT,
            new TEXT NOT NULL,
            message TEXT NOT NULL,
            at TEXT NOT NULL
        )""",
        "CREATE INDEX reflog_by_ref ON reflog(project_id, ref)",
        """CREATE TABLE media (
            id TEXT PRIMARY KEY,
            size INTEGER NOT NULL,
            mime TEXT NOT NULL DEFAULT 'application/octet-stream',
            created_at TEXT NOT NULL
        ) WITHOUT ROWID""",
        """CREATE TABLE artifacts (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            project_id TEXT NOT NULL REFERENCES projects(id),
            branch TEXT NOT NULL,
            stage INTEGER NOT NULL,
            scene_id TEXT,
            kind TEXT NOT NULL,
            label TEXT NOT NULL,
            object_id TEXT NOT NULL,
            commit_id TEXT NOT NULL,
            created_at TEXT NOT NULL,
            cost_gpu_s REAL NOT NULL DEFAULT 0
        )""",
        "CREATE INDEX artifacts_by_project ON artifacts(project_id, branch, stage)",
        """CREATE TABLE global_assets (
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            name TEXT NOT NULL,
            description TEXT NOT NULL,
            image_key TEXT,
            origin_project TEXT,
            origin_branch TEXT,
            created_at TEXT NOT NULL
        )""",
    ],
]


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True, slots=True)
class CommitRow:
    """A commit as stored; ``id`` is the sha256 of :meth:`hash_payload`."""

    id: str
    project_id: str
    tree: str
    parents: tuple[str, ...]
    message: str
    action: str
    created_at: str

    @staticmethod
    def hash_payload(
        project_id: str, tree: str, parents: Sequence[str], message: str, action: str, created_at: str
    ) -> bytes:
        return canonical_json(
            {
                "project": project_id,
                "tree": tree,
                "parents": list(parents),
                "message": message,
                "action": action,
                "created_at": created_at,
            }
        )


_SETTERS = tuple(getattr(CommitRow, f.name).__set__ for f in fields(CommitRow))

# A commit as :meth:`Store.commit_graph` reads it: (id, parents, tree, message, action, created_at).
RawCommit = tuple[str, tuple[str, ...], str, str, str, str]


def parse_parents(raw: str) -> tuple[str, ...]:
    """The ``parents`` column (a JSON list of commit ids) as a tuple.

    ``json.loads`` is most of the cost of reading a long history, and nearly every commit has
    no parent or one 64-hex-digit parent, which slicing reads exactly; anything else
    (merges, odd text) goes through ``json.loads``.
    """
    if raw == "[]":
        return ()
    if len(raw) == 68 and raw[:2] == '["' and raw[-2:] == '"]':
        inner = raw[2:66]
        if '"' not in inner and "\\" not in inner:
            return (inner,)
    return tuple(json.loads(raw))


def commit_rows(project_id: str, raws: Iterable[RawCommit]) -> list[CommitRow]:
    """:class:`CommitRow` s from :meth:`Store.commit_graph` entries, in the order given.

    Filled through the slots' own setters instead of the frozen dataclass ``__init__``, whose
    seven ``object.__setattr__`` calls were a third of a 10,000-commit log. Each row is filled
    once, before anyone holds it, so it is as immutable (and equal) as one built by
    ``__init__``.
    """
    new = object.__new__
    rows: list[CommitRow] = []
    append = rows.append
    set_id, set_project, set_tree, set_parents, set_message, set_action, set_created = _SETTERS
    for commit_id, parents, tree, message, action, created_at in raws:
        row = new(CommitRow)
        set_id(row, commit_id)
        set_project(row, project_id)
        set_tree(row, tree)
        set_parents(row, parents)
        set_message(row, message)
        set_action(row, action)
        set_created(row, created_at)
        append(row)
    return rows


class Store(SqliteBacked):
    """SQLite + media dir. Safe to share across threads (one connection per thread)."""

    MIGRATIONS_TABLE = "migrations"
    MIGRATIONS = MIGRATIONS

    def __init__(
        self, db_path: Path, media_dir: Path, *, busy_timeout_ms: int = 10_000, read_only: bool | None = None
    ) -> None:
        """``read_only`` None: read-only when the database (or its folder) is not writable;
        a read-only store reads, and refuses every write with :class:`ReadOnly`."""
        self.db_path = Path(db_path)
        self.media_dir = Path(media_dir)
        self.busy_timeout_ms = busy_timeout_ms
        # Objects are immutable, so a decoded-object cache never goes stale.
        self._cache: dict[str, Any] = {}
        self._cache_lock = threading.Lock()
        self._sql = SqliteFile(
            self.db_path, name="the studio database", busy_timeout_ms=busy_timeout_ms, error=StudioError,
            read_only=read_only,
        )
        if not self._sql.read_only:
            self.media_dir.mkdir(parents=True, exist_ok=True)
        self.migrate()

    @property
    def read_only(self) -> bool:
        return self._sql.read_only

    # ------------------------------------------------------------------ connection

    def write(self) -> AbstractContextManager[sqlite3.Connection]:
        """One short write transaction: ``BEGIN IMMEDIATE`` … ``COMMIT`` (rollback on error)."""
        return self._sql.write()



    # ------------------------------------------------------------------ objects

    def put_object(self, conn: sqlite3.Connection, kind: str, data: Any) -> str:
        """Store a JSON document inside a write transaction; returns its id."""
        raw = canonical_json(data)
        object_id = sha256_hex(raw)
        conn.execute(
            "INSERT OR IGNORE INTO objects (id, kind, data, size) VALUES (?, ?, ?, ?)",
            (object_id, kind, raw, len(raw)),
        )
        return object_id

    def has_object(self, object_id: str) -> bool:
        row = self.conn.execute("SELECT 1 FROM objects WHERE id = ?", (object_id,)).fetchone()
        return row is not None

    def get_object(self, object_id: str) -> Any:
        """A stored JSON document, decoded (cached: objects never change)."""
        cached = self._cache.get(object_id)
        if cached is not None:
            return cached
        row = self.conn.execute("SELECT data FROM objects WHERE id = ?", (object_id,)).fetchone()
        if row is None:
            raise NotFound(f"object {object_id[:12]} is missing from the store (run `studio doctor`)")
        value = json.loads(row[0])
        with self._cache_lock:
            if len(self._cache) > 20_000:
                self._cache.clear()
            self._cache[object_id] = value
        return value

    def object_bytes(self, object_ids: Iterable[str]) -> dict[str, bytes]:
        """The stored bytes of many objects in one query (undecoded, uncached: for callers that
        parse them straight into models); ids not in the store are left out."""
        wanted = list(object_ids)
        found: dict[str, bytes] = {}
        # In chunks: SQLite before 3.32 allows at most 999 parameters in one statement.
        for start in range(0, len(wanted), 900):
            chunk = wanted[start : start + 900]
            marks = ", ".join("?" * len(chunk))
            rows = self.conn.execute(f"SELECT id, data FROM objects WHERE id IN ({marks})", chunk)
            found.update(rows)
        return found

    # ------------------------------------------------------------------ media

    def media_path(self, media_id: str) -> Path:
        return self.media_dir / media_id[:2] / media_id[2:]

    def put_media(self, data: bytes, mime: str = "application/octet-stream") -> str:
        """Write bytes content-addressed under media/ (temp, fsync, atomic rename), index them."""
        if self.read_only:
            raise self._sql.read_only_error()
        media_id = sha256_hex(data)
        path = self.media_path(media_id)
        if not path.exists():
            tmp: str | None = None
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=TMP_PREFIX)
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(tmp, path)
            except OSError as exc:
                if tmp is not None:
                    Path(tmp).unlink(missing_ok=True)
                if is_disk_full(exc):
                    raise DiskFull(
                        f"the disk is full: free space in {self.media_dir.parent} and retry; nothing was saved"
                    ) from exc
                raise StudioError(f"could not write media file ({exc}); is the disk full?") from exc
        with self.write() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO media (id, size, mime, created_at) VALUES (?, ?, ?, ?)",
                (media_id, len(data), mime, now_iso()),
            )
        return media_id

    def media_mimes(self, media_ids: Iterable[str]) -> dict[str, str]:
        """The MIME type of each indexed media file (ids that are not media are left out)."""
        wanted = list(dict.fromkeys(media_ids))
        found: dict[str, str] = {}
        for start in range(0, len(wanted), 900):
            chunk = wanted[start : start + 900]
            marks = ", ".join("?" * len(chunk))
            found.update(self.conn.execute(f"SELECT id, mime FROM media WHERE id IN ({marks})", chunk))
        return found

    def get_media(self, media_id: str) -> bytes:
        path = self.media_path(media_id)
        try:
            return path.read_bytes()
        except FileNotFoundError as exc:
            raise NotFound(f"media file {media_id[:12]} is missing from {self.media_dir}") from exc

    # ------------------------------------------------------------------ projects

    def insert_project(self, conn: sqlite3.Connection, project_id: str, name: str) -> None:
        conn.execute(
            "INSERT INTO projects (id, name, created_at, active_branch) VALUES (?, ?, ?, 'main')",
            (project_id, name, now_iso()),
        )

    def project_rows(self) -> list[dict[str, Any]]:
        return self.query("SELECT * FROM projects ORDER BY created_at")

    def project_row(self, ref: str) -> dict[str, Any]:
        rows = self.query("SELECT * FROM projects WHERE id = ? OR name = ? COLLATE NOCASE", [ref, ref])
        if not rows:
            raise NotFound(f"no project {ref!r}: `studio projects` lists them")
        exact = [r for r in rows if r["id"] == ref]
        return exact[0] if exact else rows[0]

    def project_heads(self) -> list[dict[str, Any]]:
        """Every project with its active branch's head commit, that commit's time and tree, in
        one query that reads no state: what a project list needs, whatever the projects' size
        (the sidebar ran this on every page view; loading each full state there made a
        229,000-scene project slow down every page)."""
        rows = self.conn.execute(
            "SELECT p.id, p.name, p.created_at, p.active_branch, r.commit_id, c.created_at, c.tree"
            " FROM projects p"
            " LEFT JOIN refs r ON r.project_id = p.id AND r.name = p.active_branch"
            " LEFT JOIN commits c ON c.id = r.commit_id"
            " ORDER BY p.created_at"
        )
        keys = ("id", "name", "created_at", "active_branch", "head", "updated_at", "tree")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def tree_scene_counts(self, tree_ids: Iterable[str], prefix: str) -> dict[str, int]:
        """How many entries of each tree start with ``prefix``, counted by SQLite's JSON
        functions without building the tree in Python (a tree is immutable: callers cache
        the count by tree id)."""
        wanted = list(dict.fromkeys(tree_ids))
        counts: dict[str, int] = {}
        for start in range(0, len(wanted), 900):
            chunk = wanted[start : start + 900]
            marks = ", ".join("?" * len(chunk))
            # CAST: a BLOB argument is JSONB to SQLite >= 3.45; ours is JSON text.
            rows = self.conn.execute(
                "SELECT o.id, (SELECT COUNT(*) FROM json_each(CAST(o.data AS TEXT), '$.entries')"
                f" e WHERE substr(e.key, 1, ?) = ?) FROM objects o WHERE o.id IN ({marks})",
                [len(prefix), prefix, *chunk],
            )
            counts.update((tree_id, int(n)) for tree_id, n in rows)
        return counts

    def set_active_branch(self, project_id: str, branch: str) -> None:
        with self.write() as conn:
            conn.execute("UPDATE projects SET active_branch = ? WHERE id = ?", (branch, project_id))

    # ------------------------------------------------------------------ commits

    def insert_commit(
        self,
        conn: sqlite3.Connection,
        project_id: str,
        tree: str,
        parents: Sequence[str],
        message: str,
        action: str = "",
    ) -> CommitRow:
        created_at = now_iso()
        commit_id = sha256_hex(
            CommitRow.hash_payload(project_id, tree, parents, message, action, created_at)
        )
        conn.execute(
            "INSERT OR IGNORE INTO commits (id, project_id, tree, parents, message, action, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (commit_id, project_id, tree, json.dumps(list(parents)), message, action, created_at),
        )
        return CommitRow(commit_id, project_id, tree, tuple(parents), message, action, created_at)

    @staticmethod
    def _commit_from_row(row: Sequence[Any]) -> CommitRow:
        return CommitRow(row[0], row[1], row[2], parse_parents(row[3]), row[4], row[5], row[6])

    def get_commit(self, commit_id: str) -> CommitRow:
        row = self.conn.execute(
            "SELECT id, project_id, tree, parents, message, action, created_at FROM commits WHERE id = ?",
            (commit_id,),
        ).fetchone()
        if row is None:
            raise NotFound(f"no commit {commit_id[:12]}")
        return self._commit_from_row(row)

    def find_commits(self, project_id: str, prefix: str) -> list[str]:
        """Commit ids of a project starting with ``prefix`` (for short ids)."""
        rows = self.conn.execute(
            "SELECT id FROM commits WHERE project_id = ? AND id >= ? AND id < ?",
            (project_id, prefix, prefix + "g"),
        )
        return [r[0] for r in rows]

    def project_commits(self, project_id: str) -> dict[str, CommitRow]:
        """Every commit of a project, by id (one query; graphs and logs walk this)."""
        graph = self.commit_graph(project_id)
        return dict(zip(graph, commit_rows(project_id, graph.values()), strict=True))

    def commit_graph(self, project_id: str) -> dict[str, RawCommit]:
        """Every commit of a project as ``id -> (id, parents, tree, message, action, created_at)``
        with the parents parsed and nothing else built (one query): a log walks the parents
        and makes :class:`CommitRow` s, with :func:`commit_rows`, only for what it returns."""
        rows = self.conn.execute(
            "SELECT id, parents, tree, message, action, created_at FROM commits"
            " WHERE project_id = ?",
            (project_id,),
        )
        return {row[0]: (row[0], parse_parents(row[1]), *row[2:]) for row in rows}

    # ------------------------------------------------------------------ refs

    def get_ref(self, project_id: str, name: str) -> str | None:
        row = self.conn.execute(
            "SELECT commit_id FROM refs WHERE project_id = ? AND name = ?", (project_id, name)
        ).fetchone()
        return row[0] if row else None

    def refs(self, project_id: str) -> dict[str, str]:
        rows = self.conn.execute(
            "SELECT name, commit_id FROM refs WHERE project_id = ? ORDER BY created_at, name",
            (project_id,),
        )
        return {name: commit for name, commit in rows}

    def ref_rows(self, project_id: str) -> list[dict[str, Any]]:
        return self.query(
            "SELECT name, commit_id, created_at FROM refs WHERE project_id = ? ORDER BY created_at, name",
            [project_id],
        )

    def move_ref(
        self,
        conn: sqlite3.Connection,
        project_id: str,
        name: str,
        expected: str | None,
        new: str,
        message: str,
    ) -> bool:
        """Compare-and-swap a branch head inside a write transaction; logs the move.

        ``expected=None`` creates the branch and fails if it exists already.
        """
        if expected is None:
            cursor = conn.execute(
                "INSERT OR IGNORE INTO refs (project_id, name, commit_id, created_at) VALUES (?, ?, ?, ?)",
                (project_id, name, new, now_iso()),
            )
        else:
            cursor = conn.execute(
                "UPDATE refs SET commit_id = ? WHERE project_id = ? AND name = ? AND commit_id = ?",
                (new, project_id, name, expected),
            )
        if cursor.rowcount != 1:
            return False
        conn.execute(
            "INSERT INTO reflog (project_id, ref, old, new, message, at) VALUES (?, ?, ?, ?, ?, ?)",
            (project_id, name, expected, new, message, now_iso()),
        )
        return True

    def move_branch(
        self, project_id: str, name: str, expected: str | None, new: str, message: str
    ) -> bool:
        """Compare-and-swap in its own transaction: True when the head was ``expected``."""
        with self.write() as conn:
            return self.move_ref(conn, project_id, name, expected, new, message)

    def reflog(self, project_id: str, ref: str | None = None) -> list[dict[str, Any]]:
        if ref is None:
            return self.query("SELECT * FROM reflog WHERE project_id = ? ORDER BY id", [project_id])
        return self.query(
            "SELECT * FROM reflog WHERE project_id = ? AND ref = ? ORDER BY id", [project_id, ref]
        )

    # ------------------------------------------------------------------ vault + global assets

    def add_artifacts(self, conn: sqlite3.Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        at = now_iso()
        conn.executemany(
            "INSERT INTO artifacts (project_id, branch, stage, scene_id, kind, label, object_id,"
            " commit_id, created_at, cost_gpu_s) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    r["project_id"],
                    r["branch"],
                    int(r["stage"]),
                    r.get("scene_id"),
                    r["kind"],
                    r["label"],
                    r["object_id"],
                    r["commit_id"],
                    at,
                    float(r.get("cost_gpu_s", 0.0)),
                )
                for r in rows
            ],
        )

    def artifact_rows(self, project_id: str, branch: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT * FROM artifacts WHERE project_id = ?"
        params: list[Any] = [project_id]
        if branch is not None:
            sql += " AND branch = ?"
            params.append(branch)
        return self.query(sql + " ORDER BY branch, stage, scene_id, id", params)

    def insert_global_asset(self, row: Mapping[str, Any]) -> bool:
        with self.write() as conn:
            cursor = conn.execute(
                "INSERT OR IGNORE INTO global_assets (id, kind, name, description, image_key,"
                " origin_project, origin_branch, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    row["id"],
                    row["kind"],
                    row["name"],
                    row["description"],
                    row.get("image_key"),
                    row.get("origin_project"),
                    row.get("origin_branch"),
                    now_iso(),
                ),
            )
            return cursor.rowcount == 1

    def global_asset_rows(self) -> list[dict[str, Any]]:
        return self.query("SELECT * FROM global_assets ORDER BY kind, name")

    # ------------------------------------------------------------------ integrity

    def clean_temp_media(self, *, min_age_s: float = TMP_MIN_AGE_S, remove: bool = True) -> TempMedia:
        """Temp files a crash left in media/ (``.tmp-*``, never named by any index row):
        removed (unless ``remove`` is False) once older than ``min_age_s``; younger ones may
        belong to a writer still running and are only counted."""
        removed: list[Path] = []
        young: list[Path] = []
        size = 0
        now = time.time()
        if not self.media_dir.is_dir():
            return TempMedia((), (), 0)
        for path in sorted(self.media_dir.glob(f"*/{TMP_PREFIX}*")) + sorted(self.media_dir.glob(f"{TMP_PREFIX}*")):
            try:
                stat = path.lstat()
            except FileNotFoundError:  # its writer renamed it meanwhile
                continue
            if not path.is_file() or path.is_symlink():
                continue
            if now - stat.st_mtime < min_age_s:
                young.append(path)
                continue
            if remove:
                try:
                    path.unlink()
                except FileNotFoundError:
                    continue
            removed.append(path)
            size += stat.st_size
        return TempMedia(tuple(removed), tuple(young), size)

    def integrity_check(self) -> str:
        return str(self.conn.execute("PRAGMA integrity_check").fetchone()[0])

    def fsck(self) -> list[str]:
        """Re-hash every object and commit; check every ref, parent, tree entry and media file.

        Returns the problems found (empty when the store is sound).
        """
        problems: list[str] = []
        integrity = self.integrity_check()
        if integrity != "ok":
            problems.append(f"sqlite integrity_check: {integrity}")
        object_ids: set[str] = set()
        trees: list[tuple[str, bytes]] = []
        for object_id, kind, data in self.conn.execute("SELECT id, kind, data FROM objects"):
            object_ids.add(object_id)
            if sha256_hex(data) != object_id:
                problems.append(f"object {object_id[:12]} does not match its hash")
            if kind == "tree":
                trees.append((object_id, data))
        for object_id, data in trees:
            try:
                entries = json.loads(data)["entries"]
            except (ValueError, KeyError, TypeError):
                problems.append(f"tree {object_id[:12]} is not a tree")
                continue
            for key, child in entries.items():
                if child not in object_ids:
                    problems.append(f"tree {object_id[:12]} entry {key} -> missing object {child[:12]}")
        commit_ids: set[str] = set()
        rows = list(
            self.conn.execute(
                "SELECT id, project_id, tree, parents, message, action, created_at FROM commits"
            )
        )
        for row in rows:
            commit_ids.add(row[0])
        for row in rows:
            commit = self._commit_from_row(row)
            payload = CommitRow.hash_payload(
                commit.project_id, commit.tree, commit.parents, commit.message, commit.action,
                commit.created_at,
            )
            if sha256_hex(payload) != commit.id:
                problems.append(f"commit {commit.id[:12]} does not match its hash")
            if commit.tree not in object_ids:
                problems.append(f"commit {commit.id[:12]} -> missing tree {commit.tree[:12]}")
            for parent in commit.parents:
                if parent not in commit_ids:
                    problems.append(f"commit {commit.id[:12]} -> missing parent {parent[:12]}")
        for project_id, name, commit_id in self.conn.execute(
            "SELECT project_id, name, commit_id FROM refs"
        ):
            if commit_id not in commit_ids:
                problems.append(f"branch {name} of {project_id} -> missing commit {commit_id[:12]}")
        for (media_id,) in self.conn.execute("SELECT id FROM media"):
            path = self.media_path(media_id)
            if not path.exists():
                problems.append(f"media {media_id[:12]} is indexed but its file is missing")
            elif sha256_hex(path.read_bytes()) != media_id:
                problems.append(f"media {media_id[:12]} does not match its hash")
        return problems


@dataclass(frozen=True)
class TempMedia:
    """What :meth:`Store.clean_temp_media` found: the orphan temp files (removed, or with
    ``remove=False`` only listed), the young ones left alone and the bytes of the former."""

    orphans: tuple[Path, ...]
    young: tuple[Path, ...]
    size: int


def ensure_ok(problems: list[str]) -> None:
    """Raise :class:`Corrupt` listing the problems fsck found."""
    if problems:
        shown = "; ".join(problems[:5])
        more = f" (+{len(problems) - 5} more)" if len(problems) > 5 else ""
        raise Corrupt(f"the store failed its integrity check: {shown}{more}")
