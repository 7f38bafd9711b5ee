"""The render queue's tables: job statuses and failure classes, the migration list
(``render_migrations``), and the records its rows are read into.

The queue owns three tables of its own (``render_jobs``, ``render_workers``,
``render_events``, plus ``render_vram`` for samples), so it never touches the project store's
schema. Migrations are append only; each is applied once, in one IMMEDIATE transaction.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from render.vram import VramSample
from studio.model import RenderSpec
from studio.ports import JobInfo

STATUSES = ("queued", "waiting_vram", "running", "done", "failed", "cancelled")
ACTIVE = ("queued", "waiting_vram", "running")
FINISHED = ("done", "failed", "cancelled")
FAILURE_CLASSES = (
    "oom",
    "validation",
    "missing_node",
    "missing_model",
    "lost",
    "interrupted",
    "timeout",
    "backend_down",
    "error",
)
DEFAULT_MAX_ATTEMPTS = 3

_STATUS_SQL = ", ".join(f"'{s}'" for s in STATUSES)
# The classes the first migration allowed (frozen: a migration's text never changes).
_CLASS_SQL = ", ".join(
    f"'{c}'"
    for c in (
        "oom", "validation", "missing_node", "lost", "interrupted", "timeout", "backend_down", "error"
    )
)
_CLASS_SQL_3 = ", ".join(f"'{c}'" for c in FAILURE_CLASSES)

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
    [
        # ``missing_model`` joins the failure classes (it was stored as ``error``): SQLite
        # cannot alter a CHECK, so render_jobs is rebuilt with the same columns and indexes.
        f"""CREATE TABLE render_jobs_v3 (
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
            failure_class TEXT CHECK (failure_class IS NULL OR failure_class IN ({_CLASS_SQL_3})),
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
        "INSERT INTO render_jobs_v3 SELECT * FROM render_jobs",
        "DROP TABLE render_jobs",
        "ALTER TABLE render_jobs_v3 RENAME TO render_jobs",
        "CREATE INDEX render_jobs_runnable ON render_jobs(status, not_before, seq)",
        "CREATE INDEX render_jobs_by_project ON render_jobs(project_id, seq)",
        "CREATE INDEX render_jobs_by_worker ON render_jobs(worker_id, status)",
        "CREATE INDEX render_jobs_by_slot ON render_jobs(slot, status)",
    ],
]


# A job row with its VRAM samples (NULL when it has none).
SELECT_JOBS = (
    "SELECT render_jobs.*, render_vram.samples AS vram_samples FROM render_jobs"
    " LEFT JOIN render_vram ON render_vram.job_id = render_jobs.id"
)


def iso_time(ts: float) -> str:
    """A clock reading as the ISO timestamp the tables store."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")


def _seconds_between(start: str | None, end: str | None) -> float | None:
    """Seconds between two ISO timestamps of a job record (None when either is missing)."""
    if not start or not end:
        return None
    try:
        return round((datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds(), 3)
    except ValueError:
        return None


def loads_or(raw: str | None, default: Any) -> Any:
    if not raw:
        return default
    try:
        return json.loads(raw)
    except ValueError:
        return default


def _samples(raw: str | None) -> tuple[VramSample, ...]:
    """Stored VRAM samples as ``((t_s, used_mb), ...)``; anything malformed is dropped."""
    out: list[VramSample] = []
    for item in loads_or(raw, []):
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
        data["outputs"] = tuple(loads_or(data["outputs"], []))
        data["timings"] = loads_or(data["timings"], {})
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

