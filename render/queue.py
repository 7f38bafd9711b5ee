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

Recovery (:meth:`SqliteRenderQueue.recover`) decides what becomes of the jobs of workers
that died; its rules are in :mod:`render.recovery`.

The worker-table side lives in :mod:`render.workers`, recovery from dead workers in
:mod:`render.recovery` and the schema with its row records in :mod:`render.queue_schema`;
this class offers them all as methods, so callers see one queue.
"""

from __future__ import annotations

import hashlib
import json
import re
import socket
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from render import recovery, workers
from render.manifest import MANIFEST, TMP_PREFIX, Published, is_published, published_files
from render.presets import get_preset
from render.queue_schema import (
    ACTIVE,
    DEFAULT_MAX_ATTEMPTS,
    FAILURE_CLASSES,
    FINISHED,
    MIGRATIONS,
    SELECT_JOBS,
    STATUSES,
    JobEvent,
    JobRecord,
    iso_time,
)
from render.recovery import EVENT_RETENTION_S, RecoveryReport
from render.vram import MAX_SAMPLES, VramSample, decimate
from render.workers import WorkerRecord, pid_alive, process_start
from studio.model import RenderSpec
from studio.ports import JobInfo
from studio.sqlite import SqliteBacked, SqliteFile

# What other modules import from here (the queue's API, wherever it is defined).
__all__ = [
    "ACTIVE",
    "DEFAULT_MAX_ATTEMPTS",
    "EVENT_MIN_INTERVAL_S",
    "EVENT_RETENTION_S",
    "FAILURE_CLASSES",
    "FINISHED",
    "MIGRATIONS",
    "STATUSES",
    "JobEvent",
    "JobNotFound",
    "JobRecord",
    "QueueBusy",
    "QueueError",
    "RecoveryReport",
    "SqliteRenderQueue",
    "WorkerRecord",
    "path_segment",
    "pid_alive",
    "process_start",
    "spec_key",
]

# A waiting job re-checked every poll would write an event each time its message changes
# (free MiB moves); one event per this many seconds is enough for the UI.
EVENT_MIN_INTERVAL_S = 2.0

_BACKEND_RE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
_SEGMENT_RE = re.compile(r"[^A-Za-z0-9_-]")


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
            (job_id, project, status, progress, message, iso_time(now), now),
        )

    def _get(self, conn: sqlite3.Connection, job_id: str, *, vram: bool = False) -> JobRecord:
        """A job row; ``vram`` also reads its VRAM samples (read paths that hand the job out:
        the worker's state-changing transactions only need the row)."""
        sql = f"{SELECT_JOBS} WHERE render_jobs.id = ?" if vram else "SELECT * FROM render_jobs WHERE id = ?"
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
        stamp = iso_time(now)
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
        sql = SELECT_JOBS
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
                    (message, iso_time(now), iso_time(now), job_id),
                )
                self._event(conn, job, "cancelled", job.progress, message, now)
            elif job.status == "running" and not job.cancel_requested:
                message = "cancelling…"
                conn.execute(
                    "UPDATE render_jobs SET cancel_requested = 1, message = ?, updated_at = ?"
                    " WHERE id = ?",
                    (message, iso_time(now), job_id),
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
                (worker_id, slot, iso_time(now), iso_time(now), job.id),
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
                (attempt, message, iso_time(now), iso_time(now), job_id),
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
                (progress, message, iso_time(now), job_id),
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
                (status, message, now + max(0.0, delay_s), iso_time(now), job_id),
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
                    iso_time(now),
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
                iso_time(now),
                iso_time(now),
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
                (job_id, int(attempt), interval_s, json.dumps(kept, separators=(",", ":")), iso_time(now)),
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
        workers.register_worker(
            self, worker_id, pid=pid, slot=slot, state=state, pid_start=pid_start, info=info
        )

    def heartbeat(self, worker_id: str, *, info: Mapping[str, Any] | None = None) -> bool:
        """Refresh a worker's heartbeat; False when recovery has declared it dead."""
        return workers.heartbeat(self, worker_id, info=info)

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
                (message, iso_time(now), job.id),
            )
            self._event(conn, job, "queued", 0.0, message, now)
        else:
            conn.execute("UPDATE render_jobs SET worker_id = NULL, slot = NULL WHERE id = ?", (job.id,))

    def unregister_worker(self, worker_id: str) -> None:
        """A worker stopping cleanly: release its claims, requeue a job it was running
        (not counted as an attempt), mark it stopped."""
        workers.unregister_worker(self, worker_id)

    def workers(self, *, include_stopped: bool = False) -> list[WorkerRecord]:
        return workers.workers(self, include_stopped=include_stopped)

    def alive_workers(self) -> list[WorkerRecord]:
        return workers.alive_workers(self)

    def spawn_once(self, slot: str, spawn: Callable[[], tuple[int, str | None]]) -> tuple[int, bool]:
        """Return the pid of a live worker for ``slot``, or start one with ``spawn()`` and
        record it as ``starting``, in one write transaction (see :func:`render.workers.spawn_once`)."""
        return workers.spawn_once(self, slot, spawn)

    # ------------------------------------------------------------------ recovery

    def recover(self, now: float | None = None, *, sweep: bool = True) -> RecoveryReport:
        """Requeue or fail the jobs of dead workers, then delete partial output folders
        (see :func:`render.recovery.recover`)."""
        return recovery.recover(self, now, sweep=sweep)
