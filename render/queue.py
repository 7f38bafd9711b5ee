"""The durable render queue: jobs, workers and progress events in the studio's SQLite file.

The queue owns three tables of its own (``render_jobs``, ``render_workers``,
``render_events``) and its own migration list (``render_migrations``), so it never touches
the project store's schema. Every write is one short ``BEGIN IMMEDIATE`` transaction on an
autocommit connection (one per thread), so several processes — the app, one worker per GPU,
the CLI — can share the file.

Job life: ``queued`` -> (claimed by a worker) -> ``running`` -> ``done`` | ``failed`` |
``cancelled``; a claimed job whose preflight finds too little VRAM goes back as
``waiting_vram`` and is looked at again at the next poll. Only the worker holding a job
(``worker_id``) can move it, so a worker that was given up for dead cannot overwrite what
recovery decided.

Idempotency: ``enqueue`` with a key that an existing job holds returns that job (two browser
tabs, one job) — unless that job ended ``failed`` or ``cancelled``: then the old job keeps
its history, gives its key up (``superseded_key``) and a new job is created for the new
attempt (``previous_job_id`` links them). A ``done`` job is returned as it is: to render
again, use a new key (the studio derives keys from the spec and a version).

Recovery (:meth:`SqliteRenderQueue.recover`): a worker is dead when its process is gone
(same host: pid missing, a zombie, or a different process start time) or its heartbeat is
older than ``stale_after_s``. Its jobs: a claimed-but-not-started job is released; a
running job whose output folder is published with a valid marker is ``done`` (the worker
died between publishing and saying so); otherwise a cancel request makes it
``cancelled``, a job with attempts left is requeued ("resumed", it runs again as attempt
n+1) and one without is ``failed`` with class ``interrupted``. A job is never ``done``
unless its folder carries a valid done marker. Partial folders are then removed.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import socket
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from render.manifest import (
    MANIFEST,
    OLD_PREFIX,
    TMP_PREFIX,
    Published,
    is_published,
    published_files,
    remove_partials,
)
from render.presets import get_preset
from render.vram import MAX_SAMPLES, VramSample, decimate
from studio.model import RenderSpec
from studio.ports import JobInfo
from studio.sqlite import SqliteBacked, SqliteFile

STATUSES = ("queued", "waiting_vram", "running", "done", "failed", "cancelled")
ACTIVE = ("queued", "waiting_vram", "running")
FINISHED = ("done", "failed", "cancelled")
FAILURE_CLASSES = (
    "oom",
    "validation",
    "missing_node",
    "lost",
    "interrupted",
    "timeout",
    "backend_down",
    "error",
)
DEFAULT_MAX_ATTEMPTS = 3
EVENT_RETENTION_S = 7 * 24 * 3600
# A waiting job re-checked every poll would write an event each time its message changes
# (free MiB moves); one event per this many seconds is enough for the UI.
EVENT_MIN_INTERVAL_S = 2.0

_BACKEND_RE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
_SEGMENT_RE = re.compile(r"[^A-Za-z0-9_-]")

_STATUS_SQL = ", ".join(f"'{s}'" for s in STATUSES)
_CLASS_SQL = ", ".join(f"'{c}'" for c in FAILURE_CLASSES)

# Append only: each entry is applied once, in one IMMEDIATE transaction.
MIGRATIONS: list[list[str]] = [
    [
        f"""CREATE TABLE render_jobs (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            id TEXT NOT NULL UNIQUE,
            project_id TEXT NOT NULL,
            scene_id TEXT NOT NULL,
            shot_id TEXT,
            kind TEXT NOT NULL,
            backend TEXT NOT NULL,
            preset TEXT NOT NULL,
            spec TEXT NOT NULL,
            idempotency_key TEXT UNIQUE,
            superseded_key TEXT,
            previous_job_id TEXT,
            status TEXT NOT NULL CHECK (status IN ({_STATUS_SQL})),
            failure_class TEXT CHECK (failure_class IS NULL OR failure_class IN ({_CLASS_SQL})),
            attempts INTEGER NOT NULL DEFAULT 0,
            max_attempts INTEGER NOT NULL DEFAULT {DEFAULT_MAX_ATTEMPTS},
            progress REAL NOT NULL DEFAULT 0,
            message TEXT NOT NULL DEFAULT '',
            worker_id TEXT,
            slot TEXT,
            cancel_requested INTEGER NOT NULL DEFAULT 0,
            fallback_from TEXT,
            output_dir TEXT,
            manifest_path TEXT,
            outputs TEXT NOT NULL DEFAULT '[]',
            peak_vram_mb REAL,
            timings TEXT NOT NULL DEFAULT '{{}}',
            not_before REAL NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            claimed_at TEXT,
            started_at TEXT,
            finished_at TEXT
        )""",
        "CREATE INDEX render_jobs_runnable ON render_jobs(status, not_before, seq)",
        "CREATE INDEX render_jobs_by_project ON render_jobs(project_id, seq)",
        "CREATE INDEX render_jobs_by_worker ON render_jobs(worker_id, status)",
        "CREATE INDEX render_jobs_by_slot ON render_jobs(slot, status)",
        """CREATE TABLE render_workers (
            id TEXT PRIMARY KEY,
            pid INTEGER NOT NULL,
            pid_start TEXT,
            host TEXT NOT NULL,
            slot TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('starting', 'running', 'stopped', 'dead')),
            started_at TEXT NOT NULL,
            heartbeat_at REAL NOT NULL,
            stopped_at TEXT,
            current_job TEXT,
            info TEXT NOT NULL DEFAULT '{}'
        )""",
        """CREATE TABLE render_events (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            job_id TEXT NOT NULL,
            project_id TEXT NOT NULL,
            status TEXT NOT NULL,
            progress REAL NOT NULL,
            message TEXT NOT NULL,
            at TEXT NOT NULL,
            at_ts REAL NOT NULL
        )""",
        "CREATE INDEX render_events_by_project ON render_events(project_id, id)",
        "CREATE INDEX render_events_by_job ON render_events(job_id, id)",
    ],
    [
        # VRAM samples of a job's latest run, [[t_s, used_mb], ...]: in a table of their own
        # so the hot render_jobs rows (progress writes, list polls) stay small.
        """CREATE TABLE render_vram (
            job_id TEXT PRIMARY KEY,
            attempt INTEGER NOT NULL,
            interval_s REAL,
            samples TEXT NOT NULL DEFAULT '[]',
            recorded_at TEXT NOT NULL
        )""",
    ],
]

# A job row with its VRAM samples (NULL when it has none).
_SELECT_JOBS = (
    "SELECT render_jobs.*, render_vram.samples AS vram_samples FROM render_jobs"
    " LEFT JOIN render_vram ON render_vram.job_id = render_jobs.id"
)


class QueueError(Exception):
    """The render queue refused a request; the message says why."""


class JobNotFound(QueueError, LookupError):
    """No render job with that id."""


class QueueBusy(QueueError):
    """The database stayed locked longer than the busy timeout."""


def _gist(message: str) -> str:
    """What a message is about, without its changing figures ('waiting for VRAM: 812 MiB
    free' -> 'waiting for VRAM'), so repeated waits write one event, not one per poll."""
    return message.split(":", 1)[0]


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")


def spec_key(spec: RenderSpec, backend: str) -> str:
    """A default idempotency key: the same spec on the same backend is the same job."""
    raw = json.dumps(
        {"backend": backend, "spec": spec.model_dump(mode="json")},
        sort_keys=True,
        separators=(",", ":"),
    )
    return "spec:" + hashlib.sha256(raw.encode()).hexdigest()


def path_segment(text: str) -> str:
    """A folder name from an id: only ``[A-Za-z0-9_-]`` survive (no dots, no slashes)."""
    return _SEGMENT_RE.sub("_", text)[:64] or "_"


# --------------------------------------------------------------------------- process facts


def process_start(pid: int) -> str | None:
    """The kernel's start time of a process (Linux ``/proc``), to tell a reused pid apart."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 2 (comm) may contain spaces and parentheses: split after the last ')'.
    fields = raw[raw.rfind(")") + 2 :].split()
    return fields[19] if len(fields) > 19 else None


def pid_alive(pid: int, start: str | None = None) -> bool:
    """Whether ``pid`` is a live (non-zombie) process, the same one when ``start`` is known."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    except OSError:
        return False
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc (macOS): trust kill(0)
    state = raw[raw.rfind(")") + 2 :].split()[0:1]
    if state == ["Z"] or state == ["X"]:
        return False
    return start is None or process_start(pid) == start


# --------------------------------------------------------------------------- records


def _seconds_between(start: str | None, end: str | None) -> float | None:
    """Seconds between two ISO timestamps of a job record (None when either is missing)."""
    if not start or not end:
        return None
    try:
        return round((datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds(), 3)
    except ValueError:
        return None


def _loads(raw: str | None, default: Any) -> Any:
    if not raw:
        return default
    try:
        return json.loads(raw)
    except ValueError:
        return default


def _samples(raw: str | None) -> tuple[VramSample, ...]:
    """Stored VRAM samples as ``((t_s, used_mb), ...)``; anything malformed is dropped."""
    out: list[VramSample] = []
    for item in _loads(raw, []):
        try:
            t, used = item
            out.append((float(t), float(used)))
        except (TypeError, ValueError):
            continue
    return tuple(out)


@dataclass(frozen=True)
class JobRecord:
    """A ``render_jobs`` row: everything the worker needs, beyond what the UI sees."""

    seq: int
    id: str
    project_id: str
    scene_id: str
    shot_id: str | None
    kind: str
    backend: str
    preset: str
    spec: str
    idempotency_key: str | None
    superseded_key: str | None
    previous_job_id: str | None
    status: str
    failure_class: str | None
    attempts: int
    max_attempts: int
    progress: float
    message: str
    worker_id: str | None
    slot: str | None
    cancel_requested: bool
    fallback_from: str | None
    output_dir: str | None
    manifest_path: str | None
    outputs: tuple[str, ...]
    peak_vram_mb: float | None
    timings: dict[str, float]
    not_before: float
    created_at: str
    updated_at: str
    claimed_at: str | None
    started_at: str | None
    finished_at: str | None
    # Filled in where the row was read with its samples (job(), record(), jobs()).
    vram_samples: tuple[VramSample, ...] = ()

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> JobRecord:
        data = dict(row)
        data["cancel_requested"] = bool(data["cancel_requested"])
        data["outputs"] = tuple(_loads(data["outputs"], []))
        data["timings"] = _loads(data["timings"], {})
        data["vram_samples"] = _samples(data.get("vram_samples"))
        return cls(**data)

    def render_spec(self) -> RenderSpec:
        return RenderSpec.model_validate_json(self.spec)

    def info(self) -> JobInfo:
        try:
            spec = json.loads(self.spec)
        except (TypeError, ValueError):
            spec = {}
        return JobInfo(
            queue_wait_s=_seconds_between(self.created_at, self.started_at),
            duration_s=_seconds_between(self.started_at, self.finished_at),
            peak_vram_mb=self.peak_vram_mb,
            vram_samples=self.vram_samples,
            which=spec.get("which"),
            region_prompt=spec.get("region_prompt"),
            id=self.id,
            project_id=self.project_id,
            scene_id=self.scene_id,
            shot_id=self.shot_id,
            kind=self.kind,
            backend=self.backend,
            preset=self.preset,
            status=self.status,  # type: ignore[arg-type]
            progress=self.progress,
            message=self.message,
            failure_class=self.failure_class,
            attempts=self.attempts,
            outputs=self.outputs,
            manifest=self.manifest_path,
            created_at=self.created_at,
            updated_at=self.updated_at,
        )


@dataclass(frozen=True)
class JobEvent:
    """One entry of the append-only progress/status log the UI polls."""

    id: int
    job_id: str
    project_id: str
    status: str
    progress: float
    message: str
    at: str


@dataclass(frozen=True)
class WorkerRecord:
    id: str
    pid: int
    pid_start: str | None
    host: str
    slot: str
    state: str
    started_at: str
    heartbeat_at: float
    stopped_at: str | None
    current_job: str | None
    info: dict[str, Any]
    alive: bool = False
    heartbeat_age_s: float = 0.0


@dataclass(frozen=True)
class RecoveryReport:
    dead_workers: tuple[str, ...] = ()
    released: tuple[str, ...] = ()
    requeued: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()
    done: tuple[str, ...] = ()
    cancelled: tuple[str, ...] = ()
    removed: tuple[Path, ...] = field(default=())


# --------------------------------------------------------------------------- the queue


class SqliteRenderQueue(SqliteBacked):
    """The ``RenderQueue`` port over SQLite; also the worker's side of the protocol.

    Safe to share across threads (one connection per thread) and processes (WAL,
    ``busy_timeout``, ``BEGIN IMMEDIATE``).
    """

    MIGRATIONS_TABLE = "render_migrations"
    MIGRATIONS = MIGRATIONS

    def __init__(
        self,
        db_path: Path,
        renders_dir: Path,
        *,
        busy_timeout_ms: int = 10_000,
        stale_after_s: float = 15.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.db_path = Path(db_path)
        self.renders_dir = Path(renders_dir)
        self.busy_timeout_ms = busy_timeout_ms
        self.stale_after_s = stale_after_s
        self.clock = clock
        self.host = socket.gethostname()
        self._sql = SqliteFile(
            self.db_path, name="the render queue", busy_timeout_ms=busy_timeout_ms, rows=True,
            foreign_keys=False, error=QueueError, busy=QueueBusy, integrity=None,
        )
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        self.renders_dir.mkdir(parents=True, exist_ok=True)
        self.migrate()

    # ------------------------------------------------------------------ connection




    # ------------------------------------------------------------------ helpers

    def _event(
        self,
        conn: sqlite3.Connection,
        job: JobRecord | Mapping[str, Any],
        status: str,
        progress: float,
        message: str,
        now: float,
    ) -> None:
        job_id = job.id if isinstance(job, JobRecord) else job["id"]
        project = job.project_id if isinstance(job, JobRecord) else job["project_id"]
        conn.execute(
            "INSERT INTO render_events (job_id, project_id, status, progress, message, at, at_ts)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (job_id, project, status, progress, message, _iso(now), now),
        )

    def _get(self, conn: sqlite3.Connection, job_id: str, *, vram: bool = False) -> JobRecord:
        """A job row; ``vram`` also reads its VRAM samples (read paths that hand the job out:
        the worker's state-changing transactions only need the row)."""
        sql = f"{_SELECT_JOBS} WHERE render_jobs.id = ?" if vram else "SELECT * FROM render_jobs WHERE id = ?"
        row = conn.execute(sql, (job_id,)).fetchone()
        if row is None:
            raise JobNotFound(f"no render job {job_id!r}")
        return JobRecord.from_row(row)

    def output_dir(self, job: JobRecord | JobInfo) -> Path:
        """Where a job's output folder is published: ``renders/<project>/<job id>``."""
        return self.renders_dir / path_segment(job.project_id) / job.id

    def temp_dir(self, job: JobRecord, attempt: int) -> Path:
        """A fresh private folder beside the final one (same filesystem: atomic rename)."""
        return self.output_dir(job).with_name(
            f"{TMP_PREFIX}{job.id}-a{attempt}-{uuid.uuid4().hex[:6]}"
        )

    # ------------------------------------------------------------------ the port

    def enqueue(
        self,
        spec: RenderSpec | Mapping[str, Any],
        *,
        backend: str,
        idempotency_key: str | None = None,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    ) -> JobInfo:
        """Add a job, or return the job that already holds ``idempotency_key``.

        A key held by a ``failed`` or ``cancelled`` job starts a new attempt (a new job).
        Raises ``PresetError`` for an unknown preset, :class:`QueueError` for a bad backend.
        """
        if not isinstance(spec, RenderSpec):
            spec = RenderSpec.model_validate(spec)
        get_preset(spec.preset)
        if not _BACKEND_RE.match(backend):
            raise QueueError(f"invalid backend name {backend!r}")
        if max_attempts < 1:
            raise QueueError("max_attempts must be at least 1")
        key = idempotency_key or spec_key(spec, backend)
        if len(key) > 512:
            raise QueueError("the idempotency key is too long (512 characters at most)")
        now = self.clock()
        stamp = _iso(now)
        with self._write() as conn:
            row = conn.execute(
                "SELECT * FROM render_jobs WHERE idempotency_key = ?", (key,)
            ).fetchone()
            previous: str | None = None
            if row is not None:
                existing = JobRecord.from_row(row)
                if existing.status not in ("failed", "cancelled"):
                    return existing.info()
                conn.execute(
                    "UPDATE render_jobs SET idempotency_key = NULL, superseded_key = ? WHERE id = ?",
                    (key, existing.id),
                )
                previous = existing.id
            job_id = "job-" + uuid.uuid4().hex[:20]
            message = "queued" if previous is None else f"queued again (after {previous})"
            conn.execute(
                """INSERT INTO render_jobs (id, project_id, scene_id, shot_id, kind, backend,
                    preset, spec, idempotency_key, previous_job_id, status, max_attempts,
                    message, created_at, updated_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?)""",
                (
                    job_id,
                    spec.project_id,
                    spec.scene_id,
                    spec.shot_id,
                    spec.kind,
                    backend,
                    spec.preset,
                    spec.model_dump_json(),
                    key,
                    previous,
                    max_attempts,
                    message,
                    stamp,
                    stamp,
                ),
            )
            self._event(
                conn, {"id": job_id, "project_id": spec.project_id}, "queued", 0.0, message, now
            )
            return self._get(conn, job_id).info()

    def jobs(
        self,
        project_id: str | None = None,
        *,
        statuses: Iterable[str] | None = None,
        limit: int | None = None,
    ) -> list[JobInfo]:
        """Jobs in queue order (oldest first), optionally of one project / some statuses."""
        return [r.info() for r in self.records(project_id, statuses=statuses, limit=limit)]

    def records(
        self,
        project_id: str | None = None,
        *,
        statuses: Iterable[str] | None = None,
        limit: int | None = None,
    ) -> list[JobRecord]:
        where, args = [], []
        if project_id is not None:
            where.append("project_id = ?")
            args.append(project_id)
        if statuses is not None:
            wanted = list(statuses)
            where.append(f"status IN ({', '.join('?' for _ in wanted)})")
            args.extend(wanted)
        sql = _SELECT_JOBS
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY seq"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(int(limit))
        return [JobRecord.from_row(row) for row in self.conn.execute(sql, args)]

    def job(self, job_id: str) -> JobInfo:
        return self.record(job_id).info()

    def record(self, job_id: str) -> JobRecord:
        return self._get(self.conn, job_id, vram=True)

    def cancel(self, job_id: str) -> JobInfo:
        """Cancel a job: a job not yet running ends at once; a running one is asked to stop
        (its worker polls the request) and ends ``cancelled`` when it has. Finished jobs are
        returned unchanged."""
        now = self.clock()
        with self._write() as conn:
            job = self._get(conn, job_id)
            if job.status in ("queued", "waiting_vram"):
                message = "cancelled before it started"
                conn.execute(
                    """UPDATE render_jobs SET status = 'cancelled', message = ?, slot = NULL,
                       worker_id = NULL, finished_at = ?, updated_at = ? WHERE id = ?""",
                    (message, _iso(now), _iso(now), job_id),
                )
                self._event(conn, job, "cancelled", job.progress, message, now)
            elif job.status == "running" and not job.cancel_requested:
                message = "cancelling…"
                conn.execute(
                    "UPDATE render_jobs SET cancel_requested = 1, message = ?, updated_at = ?"
                    " WHERE id = ?",
                    (message, _iso(now), job_id),
                )
                self._event(conn, job, "running", job.progress, message, now)
            return self._get(conn, job_id, vram=True).info()

    def events(
        self,
        since_id: int = 0,
        *,
        project_id: str | None = None,
        job_id: str | None = None,
        limit: int = 500,
    ) -> list[JobEvent]:
        """Events after ``since_id`` in order; the UI keeps the last id it saw."""
        sql = "SELECT * FROM render_events WHERE id > ?"
        args: list[Any] = [since_id]
        if project_id is not None:
            sql += " AND project_id = ?"
            args.append(project_id)
        if job_id is not None:
            sql += " AND job_id = ?"
            args.append(job_id)
        sql += " ORDER BY id LIMIT ?"
        args.append(limit)
        return [
            JobEvent(r["id"], r["job_id"], r["project_id"], r["status"], r["progress"], r["message"], r["at"])
            for r in self.conn.execute(sql, args)
        ]

    def counts(self) -> dict[str, int]:
        found = dict(
            self.conn.execute("SELECT status, COUNT(*) FROM render_jobs GROUP BY status").fetchall()
        )
        return {status: int(found.get(status, 0)) for status in STATUSES}

    # ------------------------------------------------------------------ worker side

    def claim_next(
        self, worker_id: str, slot: str, *, backends: Iterable[str] | None = None
    ) -> JobRecord | None:
        """Take the oldest runnable job for ``worker_id`` — unless a job already holds
        ``slot`` (one job per GPU at a time). The job keeps its status until :meth:`start`."""
        now = self.clock()
        with self._write() as conn:
            # A worker asking for work holds nothing: a claim of its own still standing was
            # left by an error and is released, so it cannot block the slot for ever.
            conn.execute(
                "UPDATE render_jobs SET worker_id = NULL, slot = NULL WHERE worker_id = ?"
                " AND status IN ('queued', 'waiting_vram')",
                (worker_id,),
            )
            busy = conn.execute(
                "SELECT 1 FROM render_jobs WHERE slot = ? AND worker_id IS NOT NULL"
                " AND worker_id != ? AND status IN ('queued', 'waiting_vram', 'running') LIMIT 1",
                (slot, worker_id),
            ).fetchone()
            if busy is not None:
                return None
            sql = (
                "SELECT * FROM render_jobs WHERE status IN ('queued', 'waiting_vram')"
                " AND worker_id IS NULL AND cancel_requested = 0 AND not_before <= ?"
            )
            args: list[Any] = [now]
            if backends is not None:
                wanted = list(backends)
                sql += f" AND backend IN ({', '.join('?' for _ in wanted)})"
                args.extend(wanted)
            row = conn.execute(sql + " ORDER BY seq LIMIT 1", args).fetchone()
            if row is None:
                return None
            job = JobRecord.from_row(row)
            conn.execute(
                "UPDATE render_jobs SET worker_id = ?, slot = ?, claimed_at = ?, updated_at = ?"
                " WHERE id = ?",
                (worker_id, slot, _iso(now), _iso(now), job.id),
            )
            conn.execute(
                "UPDATE render_workers SET current_job = ? WHERE id = ?", (job.id, worker_id)
            )
            return self._get(conn, job.id)

    def start(self, job_id: str, worker_id: str) -> JobRecord | None:
        """Mark a claimed job running (attempts + 1); None when it was cancelled meanwhile
        or is no longer this worker's."""
        now = self.clock()
        with self._write() as conn:
            job = self._get(conn, job_id)
            if (
                job.worker_id != worker_id
                or job.status not in ("queued", "waiting_vram")
                or job.cancel_requested
            ):
                return None
            attempt = job.attempts + 1
            message = "running" if attempt == 1 else f"running (attempt {attempt} of {job.max_attempts})"
            conn.execute(
                """UPDATE render_jobs SET status = 'running', attempts = ?, progress = 0,
                   message = ?, failure_class = NULL, started_at = ?, updated_at = ?
                   WHERE id = ?""",
                (attempt, message, _iso(now), _iso(now), job_id),
            )
            self._event(conn, job, "running", 0.0, message, now)
            return self._get(conn, job_id)

    def set_progress(
        self, job_id: str, worker_id: str, progress: float, message: str
    ) -> str | None:
        """Record progress of a running job. Returns None to go on, or why the worker
        should stop: ``"cancelled"`` (a cancel was requested) or ``"lost"`` (the job is no
        longer this worker's: recovery gave it to another)."""
        now = self.clock()
        progress = min(1.0, max(0.0, float(progress)))
        with self._write() as conn:
            row = conn.execute(
                "SELECT id, project_id, worker_id, status, cancel_requested FROM render_jobs"
                " WHERE id = ?",
                (job_id,),
            ).fetchone()
            reason = self._stop_reason(row, worker_id)
            if reason is not None:
                return reason
            conn.execute(
                "UPDATE render_jobs SET progress = ?, message = ?, updated_at = ? WHERE id = ?",
                (progress, message, _iso(now), job_id),
            )
            self._event(conn, row, "running", progress, message, now)
            return None

    @staticmethod
    def _stop_reason(row: sqlite3.Row | None, worker_id: str) -> str | None:
        if row is None or row["worker_id"] != worker_id or row["status"] != "running":
            return "lost"
        if row["cancel_requested"]:
            return "cancelled"
        return None

    def stop_reason(self, job_id: str, worker_id: str) -> str | None:
        """Like :meth:`set_progress`'s answer, without writing anything."""
        row = self.conn.execute(
            "SELECT worker_id, status, cancel_requested FROM render_jobs WHERE id = ?", (job_id,)
        ).fetchone()
        return self._stop_reason(row, worker_id)

    def holds(self, job_id: str, worker_id: str) -> bool:
        """Whether ``worker_id`` still holds ``job_id`` (recovery may have taken it away)."""
        row = self.conn.execute(
            "SELECT worker_id, status FROM render_jobs WHERE id = ?", (job_id,)
        ).fetchone()
        return row is not None and row["worker_id"] == worker_id and row["status"] in ACTIVE

    def defer(
        self,
        job_id: str,
        worker_id: str,
        *,
        status: str,
        message: str,
        delay_s: float,
    ) -> bool:
        """Give a claimed, not started job back (``queued`` or ``waiting_vram``) to be looked
        at again after ``delay_s`` (VRAM preflight, an open circuit breaker)."""
        if status not in ("queued", "waiting_vram"):
            raise QueueError(f"a job can only be deferred as queued or waiting_vram, not {status}")
        now = self.clock()
        with self._write() as conn:
            job = self._get(conn, job_id)
            if job.worker_id != worker_id or job.status not in ("queued", "waiting_vram"):
                return False
            conn.execute(
                """UPDATE render_jobs SET status = ?, message = ?, not_before = ?,
                   worker_id = NULL, slot = NULL, updated_at = ? WHERE id = ?""",
                (status, message, now + max(0.0, delay_s), _iso(now), job_id),
            )
            changed = status != job.status or _gist(message) != _gist(job.message)
            if changed or (message != job.message and self._quiet_for(conn, job_id, now)):
                self._event(conn, job, status, job.progress, message, now)
            return True

    def _quiet_for(self, conn: sqlite3.Connection, job_id: str, now: float) -> bool:
        row = conn.execute(
            "SELECT at_ts FROM render_events WHERE job_id = ? ORDER BY id DESC LIMIT 1", (job_id,)
        ).fetchone()
        return row is None or now - row[0] >= EVENT_MIN_INTERVAL_S

    def requeue(
        self,
        job_id: str,
        worker_id: str,
        *,
        message: str,
        delay_s: float = 0.0,
        failure_class: str | None = None,
        refund_attempt: bool = False,
        spec: RenderSpec | None = None,
        fallback_from: str | None = None,
    ) -> bool:
        """Put a running job back in the queue (retry with back-off, OOM fallback with a new
        ``spec``, an interrupted run). ``refund_attempt`` does not count the run against
        ``max_attempts`` (the backend was down, the worker was stopping). A job whose cancel
        was requested ends ``cancelled`` instead."""
        now = self.clock()
        with self._write() as conn:
            job = self._get(conn, job_id)
            if job.worker_id != worker_id or job.status != "running":
                return False
            if job.cancel_requested:
                self._finish(conn, job, "cancelled", "cancelled", None, now)
                return True
            conn.execute(
                """UPDATE render_jobs SET status = 'queued', worker_id = NULL, slot = NULL,
                   progress = 0, message = ?, not_before = ?, failure_class = ?,
                   attempts = MAX(0, attempts - ?), spec = ?, preset = ?,
                   fallback_from = COALESCE(?, fallback_from), updated_at = ? WHERE id = ?""",
                (
                    message,
                    now + max(0.0, delay_s),
                    failure_class,
                    1 if refund_attempt else 0,
                    spec.model_dump_json() if spec is not None else job.spec,
                    spec.preset if spec is not None else job.preset,
                    fallback_from,
                    _iso(now),
                    job_id,
                ),
            )
            self._event(conn, job, "queued", 0.0, message, now)
            return True

    def _finish(
        self,
        conn: sqlite3.Connection,
        job: JobRecord,
        status: str,
        message: str,
        failure_class: str | None,
        now: float,
        *,
        folder: Path | None = None,
        peak_vram_mb: float | None = None,
        timings: Mapping[str, float] | None = None,
    ) -> None:
        progress = 1.0 if status == "done" else job.progress
        files = published_files(folder) if folder is not None else None
        conn.execute(
            """UPDATE render_jobs SET status = ?, message = ?, failure_class = ?, progress = ?,
               slot = NULL, cancel_requested = 0, finished_at = ?, updated_at = ?,
               output_dir = COALESCE(?, output_dir), manifest_path = COALESCE(?, manifest_path),
               outputs = COALESCE(?, outputs), peak_vram_mb = COALESCE(?, peak_vram_mb),
               timings = COALESCE(?, timings)
               WHERE id = ?""",
            (
                status,
                message,
                failure_class,
                progress,
                _iso(now),
                _iso(now),
                str(folder) if folder is not None else None,
                str(folder / MANIFEST) if folder is not None else None,
                json.dumps([str(p) for p in files]) if files is not None else None,
                peak_vram_mb,
                json.dumps(dict(timings)) if timings is not None else None,
                job.id,
            ),
        )
        self._event(conn, job, status, progress, message, now)

    def finish(
        self,
        job_id: str,
        worker_id: str,
        status: str,
        *,
        message: str,
        failure_class: str | None = None,
        published: Published | None = None,
        peak_vram_mb: float | None = None,
        timings: Mapping[str, float] | None = None,
    ) -> bool:
        """End a running job. ``done`` requires a folder published with a valid marker."""
        if status not in FINISHED:
            raise QueueError(f"{status!r} is not a final status")
        if failure_class is not None and failure_class not in FAILURE_CLASSES:
            failure_class = "error"
        if status == "done" and (published is None or not is_published(published.folder, verify_hashes=False)):
            raise QueueError("a job is done only when its output is published with a valid marker")
        now = self.clock()
        with self._write() as conn:
            job = self._get(conn, job_id)
            if job.worker_id != worker_id or job.status != "running":
                return False
            self._finish(
                conn,
                job,
                status,
                message,
                failure_class if status == "failed" else None,
                now,
                folder=published.folder if published is not None else None,
                peak_vram_mb=peak_vram_mb,
                timings=timings,
            )
            return True

    def record_vram(
        self,
        job_id: str,
        worker_id: str,
        samples: Sequence[VramSample],
        *,
        attempt: int,
        interval_s: float | None = None,
        max_samples: int = MAX_SAMPLES,
    ) -> bool:
        """Store the VRAM samples of a job's run, replacing an earlier attempt's (none: the
        earlier ones go too). At most ``max_samples`` are kept (max-pooled, so the peak
        stays); the job's ``peak_vram_mb`` becomes their peak, which a ``done`` with a
        backend-measured peak may still replace. Only the worker holding the job may write;
        returns whether it did."""
        kept = decimate([(round(float(t), 3), round(float(u), 1)) for t, u in samples], max_samples)
        now = self.clock()
        with self._write() as conn:
            job = self._get(conn, job_id)
            if job.worker_id != worker_id:
                return False
            conn.execute("DELETE FROM render_vram WHERE job_id = ?", (job_id,))
            if not kept:
                return True
            conn.execute(
                "INSERT INTO render_vram (job_id, attempt, interval_s, samples, recorded_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (job_id, int(attempt), interval_s, json.dumps(kept, separators=(",", ":")), _iso(now)),
            )
            conn.execute(
                "UPDATE render_jobs SET peak_vram_mb = ? WHERE id = ?",
                (max(used for _, used in kept), job_id),
            )
            return True

    # ------------------------------------------------------------------ workers

    def register_worker(
        self,
        worker_id: str,
        *,
        pid: int,
        slot: str,
        state: str = "running",
        pid_start: str | None = None,
        info: Mapping[str, Any] | None = None,
    ) -> None:
        """Record a worker (or, with ``state='starting'``, one being spawned)."""
        now = self.clock()
        with self._write() as conn:
            if state == "running":
                conn.execute(
                    "DELETE FROM render_workers WHERE state = 'starting' AND host = ? AND pid = ?",
                    (self.host, pid),
                )
            conn.execute(
                "DELETE FROM render_workers WHERE state IN ('stopped', 'dead') AND heartbeat_at < ?",
                (now - 24 * 3600,),
            )
            conn.execute(
                """INSERT OR REPLACE INTO render_workers (id, pid, pid_start, host, slot, state,
                   started_at, heartbeat_at, info) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                (
                    worker_id,
                    pid,
                    pid_start if pid_start is not None else process_start(pid),
                    self.host,
                    slot,
                    state,
                    _iso(now),
                    now,
                    json.dumps(dict(info or {})),
                ),
            )

    def heartbeat(self, worker_id: str, *, info: Mapping[str, Any] | None = None) -> bool:
        """Refresh a worker's heartbeat; False when recovery has declared it dead."""
        now = self.clock()
        with self._write() as conn:
            cur = conn.execute(
                "UPDATE render_workers SET heartbeat_at = ?, info = COALESCE(?, info)"
                " WHERE id = ? AND state IN ('running', 'starting')",
                (now, json.dumps(dict(info)) if info is not None else None, worker_id),
            )
            return cur.rowcount == 1

    def release(self, job_id: str, worker_id: str) -> None:
        """Give back one job this worker holds: a claim is dropped, a running job is
        requeued without spending an attempt (the worker, not the job, had a problem)."""
        now = self.clock()
        with self._write() as conn:
            job = self._get(conn, job_id)
            if job.worker_id != worker_id or job.status not in ACTIVE:
                return
            self._let_go(conn, job, "interrupted by a worker error; it will resume", now)

    def _let_go(self, conn: sqlite3.Connection, job: JobRecord, message: str, now: float) -> None:
        """A worker lets go of a job: a running one is requeued without spending an attempt,
        a claimed one just loses its claim."""
        if job.status == "running":
            conn.execute(
                """UPDATE render_jobs SET status = 'queued', worker_id = NULL, slot = NULL,
                   progress = 0, message = ?, attempts = MAX(0, attempts - 1),
                   updated_at = ? WHERE id = ?""",
                (message, _iso(now), job.id),
            )
            self._event(conn, job, "queued", 0.0, message, now)
        else:
            conn.execute("UPDATE render_jobs SET worker_id = NULL, slot = NULL WHERE id = ?", (job.id,))

    def unregister_worker(self, worker_id: str) -> None:
        """A worker stopping cleanly: release its claims, requeue a job it was running
        (not counted as an attempt), mark it stopped."""
        now = self.clock()
        with self._write() as conn:
            for row in conn.execute(
                "SELECT * FROM render_jobs WHERE worker_id = ? AND status IN ('queued', 'waiting_vram', 'running')",
                (worker_id,),
            ).fetchall():
                self._let_go(conn, JobRecord.from_row(row), "interrupted: the worker stopped; it will resume", now)
            conn.execute(
                "UPDATE render_workers SET state = 'stopped', stopped_at = ?, current_job = NULL"
                " WHERE id = ?",
                (_iso(now), worker_id),
            )

    def _worker_alive(self, row: sqlite3.Row, now: float) -> bool:
        if row["state"] not in ("running", "starting"):
            return False
        if now - row["heartbeat_at"] > self.stale_after_s:
            return False
        if row["host"] == self.host:
            return pid_alive(row["pid"], row["pid_start"])
        return True  # another machine: the heartbeat is all we can see

    def workers(self, *, include_stopped: bool = False) -> list[WorkerRecord]:
        now = self.clock()
        sql = "SELECT * FROM render_workers"
        if not include_stopped:
            sql += " WHERE state IN ('running', 'starting')"
        return [
            WorkerRecord(
                id=r["id"],
                pid=r["pid"],
                pid_start=r["pid_start"],
                host=r["host"],
                slot=r["slot"],
                state=r["state"],
                started_at=r["started_at"],
                heartbeat_at=r["heartbeat_at"],
                stopped_at=r["stopped_at"],
                current_job=r["current_job"],
                info=_loads(r["info"], {}),
                alive=self._worker_alive(r, now),
                heartbeat_age_s=max(0.0, now - r["heartbeat_at"]),
            )
            for r in self.conn.execute(sql + " ORDER BY heartbeat_at DESC")
        ]

    def alive_workers(self) -> list[WorkerRecord]:
        return [w for w in self.workers() if w.alive]

    def spawn_once(self, slot: str, spawn: Callable[[], tuple[int, str | None]]) -> tuple[int, bool]:
        """Return the pid of a live worker for ``slot``, or call ``spawn()`` (which starts one
        and returns its pid and process start time) and record it as ``starting`` — inside one
        write transaction, so two callers at once start one worker. Returns (pid, spawned)."""
        now = self.clock()
        with self._write() as conn:
            rows = conn.execute(
                "SELECT * FROM render_workers WHERE slot = ? AND state IN ('running', 'starting')"
                " ORDER BY heartbeat_at DESC",
                (slot,),
            ).fetchall()
            for row in rows:
                if self._worker_alive(row, now):
                    return int(row["pid"]), False
            pid, start = spawn()
            conn.execute(
                """INSERT OR REPLACE INTO render_workers (id, pid, pid_start, host, slot, state,
                   started_at, heartbeat_at, info) VALUES (?, ?, ?, ?, ?, 'starting', ?, ?, '{}')""",
                (f"starting:{self.host}:{pid}", pid, start, self.host, slot, _iso(now), now),
            )
            return pid, True

    # ------------------------------------------------------------------ recovery

    def recover(self, now: float | None = None, *, sweep: bool = True) -> RecoveryReport:
        """Requeue or fail the jobs of dead workers, then delete partial output folders.

        See the module docstring for the rules. Safe to run while other workers live: only
        jobs held by dead (or unknown) workers are touched. The recovered jobs' partial
        folders are always removed; ``sweep`` also walks the whole renders folder for other
        unmarked leftovers (at worker start; the periodic check skips it).
        """
        now = self.clock() if now is None else now
        # Phase 1, reads only: who is dead, and which outputs are published (hashing can
        # take a while; it must not happen inside the write lock).
        rows = self.conn.execute(
            "SELECT * FROM render_workers WHERE state IN ('running', 'starting')"
        ).fetchall()
        dead = {r["id"]: r["heartbeat_at"] for r in rows if not self._worker_alive(r, now)}
        live = {r["id"] for r in rows} - set(dead)
        orphans = [
            JobRecord.from_row(r)
            for r in self.conn.execute(
                "SELECT * FROM render_jobs WHERE worker_id IS NOT NULL"
                " AND status IN ('queued', 'waiting_vram', 'running')"
            ).fetchall()
        ]
        orphans = [j for j in orphans if j.worker_id not in live]
        published = {j.id: is_published(self.output_dir(j)) for j in orphans if j.status == "running"}

        report: dict[str, list[Any]] = {k: [] for k in ("released", "requeued", "failed", "done", "cancelled")}
        dead_marked: list[str] = []
        recovered: list[JobRecord] = []
        with self._write() as conn:
            for worker_id, beat in dead.items():
                cur = conn.execute(
                    "UPDATE render_workers SET state = 'dead', stopped_at = ?, current_job = NULL"
                    " WHERE id = ? AND heartbeat_at = ? AND state IN ('running', 'starting')",
                    (_iso(now), worker_id, beat),
                )
                if cur.rowcount:
                    dead_marked.append(worker_id)
            still_dead = set(dead_marked) | {
                r[0] for r in conn.execute("SELECT id FROM render_workers WHERE state IN ('dead', 'stopped')")
            }
            known = {r[0] for r in conn.execute("SELECT id FROM render_workers")}
            for seen in orphans:
                job = self._get(conn, seen.id)
                if job.worker_id != seen.worker_id or job.status != seen.status:
                    continue  # it moved since phase 1
                if job.worker_id in known and job.worker_id not in still_dead:
                    continue  # its worker came back (fresh heartbeat)
                if job.status in ("queued", "waiting_vram"):
                    conn.execute(
                        "UPDATE render_jobs SET worker_id = NULL, slot = NULL, updated_at = ? WHERE id = ?",
                        (_iso(now), job.id),
                    )
                    report["released"].append(job.id)
                    continue
                recovered.append(job)
                folder = self.output_dir(job)
                if published.get(job.id):
                    message = "finished before its worker stopped; output verified"
                    self._finish(conn, job, "done", message, None, now, folder=folder)
                    report["done"].append(job.id)
                elif job.cancel_requested:
                    self._finish(conn, job, "cancelled", "cancelled (its worker stopped)", None, now)
                    report["cancelled"].append(job.id)
                elif job.attempts >= job.max_attempts:
                    message = (
                        f"interrupted: the worker stopped during attempt {job.attempts} of "
                        f"{job.max_attempts}; no attempts left"
                    )
                    self._finish(conn, job, "failed", message, "interrupted", now)
                    report["failed"].append(job.id)
                else:
                    message = (
                        f"resumed: the worker stopped during attempt {job.attempts}; "
                        f"it runs again as attempt {job.attempts + 1} of {job.max_attempts}"
                    )
                    conn.execute(
                        """UPDATE render_jobs SET status = 'queued', worker_id = NULL, slot = NULL,
                           progress = 0, message = ?, failure_class = NULL, not_before = ?,
                           updated_at = ? WHERE id = ?""",
                        (message, now, _iso(now), job.id),
                    )
                    self._event(conn, job, "queued", 0.0, message, now)
                    report["requeued"].append(job.id)
            conn.execute("DELETE FROM render_events WHERE at_ts < ?", (now - EVENT_RETENTION_S,))

        removed: list[Path] = []
        for job in recovered:
            if job.id in report["done"]:
                continue
            removed.extend(self._remove_job_partials(job))
        if sweep:
            active = [
                r[0]
                for r in self.conn.execute(
                    "SELECT id FROM render_jobs WHERE status IN ('queued', 'waiting_vram', 'running')"
                )
            ]
            removed.extend(
                remove_partials(self.renders_dir, protect=active, min_age_s=self.stale_after_s)
            )
        return RecoveryReport(
            dead_workers=tuple(dead_marked),
            released=tuple(report["released"]),
            requeued=tuple(report["requeued"]),
            failed=tuple(report["failed"]),
            done=tuple(report["done"]),
            cancelled=tuple(report["cancelled"]),
            removed=tuple(removed),
        )

    def _remove_job_partials(self, job: JobRecord) -> list[Path]:
        """Delete a recovered job's temp folders and its unpublished final folder."""
        folder = self.output_dir(job)
        removed: list[Path] = []
        parent = folder.parent
        if not parent.is_dir():
            return removed
        for child in parent.iterdir():
            name = child.name
            ours = name.startswith((f"{TMP_PREFIX}{job.id}-", f"{OLD_PREFIX}{job.id}-"))
            if ours or (name == job.id and not is_published(child)):
                shutil.rmtree(child, ignore_errors=True)
                removed.append(child)
        return removed
