"""The QA run log: runs, stages, jobs, metrics and telemetry samples in SQLite.

The log owns its tables (``qa_runs``, ``qa_stages``, ``qa_jobs``, ``qa_metrics``,
``qa_telemetry``) and its own migration list (``qa_migrations``), so it can live inside the
studio database file without touching the store's or the render queue's schema. As in
``studio/store.py``: the connection runs in autocommit mode (one per thread), WAL, a busy
timeout, and every write is one short ``BEGIN IMMEDIATE`` transaction of plain SQL — so the
app, the render worker and the CLI can all write to one file at once. Reads go through
sqlite-utils and come back as plain lists of dicts (``pandas.DataFrame(rows)`` just works).

The telemetry contract (:data:`TELEMETRY_CONTRACT`) is checked when a run is closed: a field
that is absent, empty or of the wrong type makes the run's verdict FAIL with the reason
"telemetry contract: missing fields …". The run is still recorded — a gap shows up as a
failed run on the dashboard, not as a crash and not as silence.
"""

from __future__ import annotations

import json
import math
import os
import socket
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from qa.verdicts import Level, Verdict, combine
from studio.ports import JobInfo, QaVerdict
from studio.sqlite import SqliteBacked, SqliteFile

# The fields every run must carry when it is closed. ``started_at`` and ``finished_at``
# come from the log's own clock; ``project_id``, ``branch`` and ``kind`` from ``open_run``;
# the rest from ``open_run`` keywords or the ``close_run`` summary (the summary wins).
# ``gpu`` is the device name, or "none" for a CPU-only run; ``versions`` maps component →
# version (python, studio, models, ComfyUI…) and must not be empty.
TELEMETRY_CONTRACT: tuple[str, ...] = (
    "project_id",
    "branch",
    "kind",
    "started_at",
    "finished_at",
    "app_version",
    "backend",
    "preset",
    "seed_policy",
    "gpu",
    "peak_vram_mb",
    "jobs_total",
    "jobs_failed",
    "versions",
)
_TEXT_FIELDS = ("app_version", "backend", "preset", "seed_policy", "gpu")
_INT_FIELDS = ("jobs_total", "jobs_failed")
_FLOAT_FIELDS = ("peak_vram_mb",)
_MAP_FIELDS = ("versions",)
_SUMMARY_FIELDS = _TEXT_FIELDS + _INT_FIELDS + _FLOAT_FIELDS + _MAP_FIELDS

SCOPES = ("shot", "scene", "character", "film", "run")
JOB_FIELDS = (
    "scene_id",
    "shot_id",
    "kind",
    "backend",
    "preset",
    "status",
    "failure_class",
    "attempts",
    "retries",
    "queue_wait_s",
    "duration_s",
    "peak_vram_mb",
)

_LEVEL_SQL = "'PASS', 'WARN', 'FAIL'"
_SCOPE_SQL = ", ".join(f"'{s}'" for s in SCOPES)

# Append only: each entry is applied once, in one IMMEDIATE transaction.
MIGRATIONS: list[list[str]] = [
    [
        f"""CREATE TABLE qa_runs (
            id TEXT PRIMARY KEY,
            project_id TEXT NOT NULL,
            branch TEXT NOT NULL,
            kind TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('open', 'closed')),
            started_at TEXT NOT NULL,
            started_ts REAL NOT NULL,
            finished_at TEXT,
            finished_ts REAL,
            duration_s REAL,
            app_version TEXT,
            backend TEXT,
            preset TEXT,
            seed_policy TEXT,
            gpu TEXT,
            peak_vram_mb REAL,
            jobs_total INTEGER,
            jobs_failed INTEGER,
            versions TEXT NOT NULL DEFAULT '{{}}',
            verdict TEXT CHECK (verdict IS NULL OR verdict IN ({_LEVEL_SQL})),
            reasons TEXT NOT NULL DEFAULT '[]',
            contract_missing TEXT NOT NULL DEFAULT '[]',
            fields TEXT NOT NULL DEFAULT '{{}}'
        )""",
        "CREATE INDEX qa_runs_by_project ON qa_runs(project_id, branch, started_ts)",
        """CREATE TABLE qa_stages (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            run_id TEXT NOT NULL REFERENCES qa_runs(id),
            stage INTEGER NOT NULL,
            name TEXT NOT NULL,
            started_at TEXT,
            finished_at TEXT,
            duration_s REAL
        )""",
        "CREATE INDEX qa_stages_by_run ON qa_stages(run_id, stage)",
        """CREATE TABLE qa_jobs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            run_id TEXT NOT NULL REFERENCES qa_runs(id),
            job_id TEXT NOT NULL,
            scene_id TEXT,
            shot_id TEXT,
            kind TEXT,
            backend TEXT,
            preset TEXT,
            status TEXT,
            failure_class TEXT,
            attempts INTEGER,
            retries INTEGER,
            queue_wait_s REAL,
            duration_s REAL,
            peak_vram_mb REAL,
            recorded_at TEXT NOT NULL,
            UNIQUE (run_id, job_id)
        )""",
        f"""CREATE TABLE qa_metrics (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            run_id TEXT NOT NULL REFERENCES qa_runs(id),
            scope TEXT NOT NULL CHECK (scope IN ({_SCOPE_SQL})),
            subject TEXT NOT NULL,
            scene_id TEXT,
            shot_id TEXT,
            name TEXT NOT NULL,
            value REAL,
            level TEXT CHECK (level IS NULL OR level IN ({_LEVEL_SQL})),
            reason TEXT,
            recorded_at TEXT NOT NULL
        )""",
        "CREATE INDEX qa_metrics_by_run ON qa_metrics(run_id, name)",
        "CREATE INDEX qa_metrics_by_name ON qa_metrics(name)",
        """CREATE TABLE qa_telemetry (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            run_id TEXT NOT NULL REFERENCES qa_runs(id),
            job_id TEXT,
            t REAL NOT NULL,
            vram_used_mb REAL,
            vram_total_mb REAL,
            note TEXT NOT NULL DEFAULT ''
        )""",
        "CREATE INDEX qa_telemetry_by_run ON qa_telemetry(run_id, t)",
    ],
    [
        # Who runs an open run (host:pid:process start), so that a run left open by a crash
        # can be told from one still running; and when a run was closed as interrupted.
        "ALTER TABLE qa_runs ADD COLUMN owner TEXT",
        "ALTER TABLE qa_runs ADD COLUMN interrupted_at TEXT",
        "CREATE INDEX qa_runs_open ON qa_runs(status) WHERE status = 'open'",
    ],
]


def _process_start(pid: int) -> str:
    """The process's start time in clock ticks since boot (Linux), "" where unknown; with the
    pid it names one process even after the pid is reused."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    fields = stat.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 else ""


def this_owner() -> str:
    """``host:pid:start`` of this process: the owner recorded with the runs it opens."""
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{_process_start(pid)}"


def owner_alive(owner: str | None) -> bool | None:
    """True when the owning process still runs, False when it is gone, None when it cannot
    be told (another host's process). A run with no owner recorded has none alive."""
    if not owner:
        return False
    host, _, rest = owner.partition(":")
    pid_text, _, start = rest.partition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return None
    pid = int(pid_text)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # someone else's process: it exists
    except OSError:
        return None
    return not start or _process_start(pid) in ("", start)


class RunLogError(Exception):
    """The run log refused a request; the message says why."""


class RunNotFound(RunLogError, LookupError):
    """No run with that id in the run log."""


class RunLogBusy(RunLogError):
    """The database stayed locked longer than the busy timeout."""


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _loads(raw: str | None, default: Any) -> Any:
    if not raw:
        return default
    try:
        return json.loads(raw)
    except ValueError:
        return default


def _number(value: Any) -> float | None:
    """A finite-or-infinite float, or None for None/NaN (not measured)."""
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) else number


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, Mapping | list | tuple):
        return len(value) == 0
    return False


def _coerce(name: str, value: Any) -> tuple[Any, str | None]:
    """A contract field in its column type, or (None, problem) when it has the wrong type."""
    if value is None:
        return None, None
    if name in _TEXT_FIELDS:
        if isinstance(value, str):
            return value.strip(), None
        return None, f"{name} (expected text, got {value!r})"
    if name in _INT_FIELDS:
        if isinstance(value, int) and not isinstance(value, bool):
            return value, None
        if isinstance(value, float) and value.is_integer():
            return int(value), None
        return None, f"{name} (expected a whole number, got {value!r})"
    if name in _FLOAT_FIELDS:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return (None, None) if math.isnan(value) else (float(value), None)
        return None, f"{name} (expected a number, got {value!r})"
    if name in _MAP_FIELDS:
        if isinstance(value, Mapping):
            return {str(k): v for k, v in value.items()}, None
        return None, f"{name} (expected a table of name -> version, got {value!r})"
    return value, None


def percentile(values: Iterable[float], q: float) -> float | None:
    """Nearest-rank percentile: the smallest value that ``q`` percent of the sample is at or
    below (``None`` for an empty sample). Nearest-rank always returns a measured value."""
    ordered = sorted(values)
    if not ordered:
        return None
    rank = math.ceil(q / 100 * len(ordered))
    return ordered[max(rank, 1) - 1]


def rows_from_verdict(
    verdict: Verdict,
    *,
    scope: str,
    scene_id: str | None = None,
    shot_id: str | None = None,
) -> list[dict[str, Any]]:
    """Metric rows for :meth:`RunLog.record_metrics` from a verdict's findings."""
    return [
        {
            "scope": scope,
            "subject": finding.subject or verdict.subject,
            "scene_id": scene_id,
            "shot_id": shot_id,
            "name": finding.metric,
            "value": finding.value,
            "level": finding.level,
            "reason": finding.reason,
        }
        for finding in verdict.findings
    ]


class RunLog(SqliteBacked):
    """The run log over one SQLite file (usually the studio database).

    Safe to share across threads (one connection per thread) and processes (WAL,
    ``busy_timeout``, ``BEGIN IMMEDIATE``).
    """

    MIGRATIONS_TABLE = "qa_migrations"
    MIGRATIONS = MIGRATIONS

    def __init__(
        self,
        db_path: str | Path,
        *,
        busy_timeout_ms: int = 10_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.db_path = Path(db_path)
        self.busy_timeout_ms = busy_timeout_ms
        self.clock = clock
        self._sql = SqliteFile(
            self.db_path, name="the run log", busy_timeout_ms=busy_timeout_ms, rows=False,
            foreign_keys=True, error=RunLogError, busy=RunLogBusy, integrity=RunLogError,
        )
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        self.migrate()

    # ------------------------------------------------------------------ connection




    @staticmethod
    def _require_run(conn: sqlite3.Connection, run_id: str) -> None:
        row = conn.execute("SELECT status FROM qa_runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise RunNotFound(f"no run {run_id!r} in the run log")

    # ------------------------------------------------------------------ writes

    def open_run(self, **fields: Any) -> str:
        """Start a run; returns its id.

        Keywords: ``project_id``, ``branch``, ``kind`` (e.g. "render", "qa", "demo"), an
        optional ``run_id``, and any contract field already known (``backend``, ``preset``,
        ``seed_policy``, ``app_version``, ``gpu``, ``versions``…). Missing or mistyped
        values are not refused here: :meth:`close_run` reports them as contract failures.
        Other keywords are kept with the run (``fields`` column).
        """
        run_id = str(fields.pop("run_id", None) or f"run-{uuid.uuid4().hex[:12]}")
        now = self.clock()
        columns: dict[str, Any] = {
            "project_id": str(fields.pop("project_id", None) or ""),
            "branch": str(fields.pop("branch", None) or ""),
            "kind": str(fields.pop("kind", None) or ""),
        }
        for name in _SUMMARY_FIELDS:
            if name in fields:
                columns[name], _problem = _coerce(name, fields[name])
        extra = dict(fields)
        self.close_abandoned()
        with self._write() as conn:
            conn.execute(
                "INSERT INTO qa_runs (id, project_id, branch, kind, status, started_at, started_ts,"
                " app_version, backend, preset, seed_policy, gpu, peak_vram_mb, jobs_total,"
                " jobs_failed, versions, fields, owner) VALUES"
                " (?, ?, ?, ?, 'open', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    run_id,
                    columns["project_id"],
                    columns["branch"],
                    columns["kind"],
                    _iso(now),
                    now,
                    columns.get("app_version"),
                    columns.get("backend"),
                    columns.get("preset"),
                    columns.get("seed_policy"),
                    columns.get("gpu"),
                    columns.get("peak_vram_mb"),
                    columns.get("jobs_total"),
                    columns.get("jobs_failed"),
                    _json(columns.get("versions") or {}),
                    _json(extra),
                    this_owner(),
                ),
            )
        return run_id

    def interrupt_run(self, run_id: str, reason: str) -> bool:
        """Close an open run as interrupted (no verdict: what it measured is incomplete), with
        ``reason`` as its one reason; False when the run was not open any more."""
        now = self.clock()
        with self._write() as conn:
            self._require_run(conn, run_id)
            changed = conn.execute(
                "UPDATE qa_runs SET status = 'closed', finished_at = ?, finished_ts = ?,"
                " duration_s = ? - started_ts, verdict = NULL, reasons = ?, interrupted_at = ?"
                " WHERE id = ? AND status = 'open'",
                (_iso(now), now, now, _json([f"interrupted: {reason}"]), _iso(now), run_id),
            ).rowcount
        return bool(changed)

    def close_abandoned(self) -> list[str]:
        """Close as interrupted every open run whose owner is gone (the process that opened
        it crashed or was killed, or no owner was recorded); a run of a live process, or of
        another host's, is left alone. Returns the ids closed (called by each ``open_run``)."""
        rows = self.conn.execute("SELECT id, owner FROM qa_runs WHERE status = 'open'").fetchall()
        closed = []
        for run_id, owner in rows:
            if owner_alive(owner) is False:
                pid = (owner or "").split(":")[1:2]
                who = f"the process that ran it (pid {pid[0]})" if pid else "the process that ran it"
                if self.interrupt_run(run_id, f"{who} ended before the run finished"):
                    closed.append(run_id)
        return closed

    def record_stage(
        self,
        run_id: str,
        stage: int,
        name: str,
        duration_s: float | None = None,
        *,
        started_at: float | None = None,
        finished_at: float | None = None,
    ) -> None:
        """One pipeline stage's timing (epoch seconds; the duration is derived if omitted)."""
        if duration_s is None and started_at is not None and finished_at is not None:
            duration_s = finished_at - started_at
        with self._write() as conn:
            self._require_run(conn, run_id)
            conn.execute(
                "INSERT INTO qa_stages (run_id, stage, name, started_at, finished_at, duration_s)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    run_id,
                    int(stage),
                    name,
                    None if started_at is None else _iso(started_at),
                    None if finished_at is None else _iso(finished_at),
                    _number(duration_s),
                ),
            )

    @contextmanager
    def timed_stage(self, run_id: str, stage: int, name: str) -> Iterator[None]:
        """Time the ``with`` body and record it as a stage (also when the body raises)."""
        started, t0 = self.clock(), time.monotonic()
        try:
            yield
        finally:
            self.record_stage(
                run_id, stage, name, time.monotonic() - t0, started_at=started, finished_at=self.clock()
            )

    def record_job(self, run_id: str, job: str | JobInfo, **fields: Any) -> None:
        """Record (or update) one job of a run; a later record of the same job fills in or
        overrides what it gives and keeps the rest.

        ``job`` is a job id or the port's :class:`JobInfo`; keywords are :data:`JOB_FIELDS`.
        ``retries`` defaults to ``attempts - 1``.
        """
        unknown = sorted(set(fields) - set(JOB_FIELDS))
        if unknown:
            raise RunLogError(f"unknown job fields {', '.join(unknown)}; known: {', '.join(JOB_FIELDS)}")
        values: dict[str, Any] = {}
        if isinstance(job, JobInfo):
            job_id = job.id
            values.update(
                scene_id=job.scene_id,
                shot_id=job.shot_id,
                kind=job.kind,
                backend=job.backend,
                preset=job.preset,
                status=job.status,
                failure_class=job.failure_class,
                attempts=job.attempts,
                queue_wait_s=getattr(job, "queue_wait_s", None),
                duration_s=getattr(job, "duration_s", None),
                peak_vram_mb=getattr(job, "peak_vram_mb", None),
            )
        else:
            job_id = str(job)
        values.update(fields)
        if values.get("retries") is None and values.get("attempts") is not None:
            values["retries"] = max(int(values["attempts"]) - 1, 0)
        for key in ("queue_wait_s", "duration_s", "peak_vram_mb"):
            if key in values:
                values[key] = _number(values[key])
        for key in ("attempts", "retries"):
            if values.get(key) is not None:
                values[key] = int(values[key])
        row = [values.get(key) for key in JOB_FIELDS]
        updates = ", ".join(f"{key} = COALESCE(excluded.{key}, qa_jobs.{key})" for key in JOB_FIELDS)
        with self._write() as conn:
            self._require_run(conn, run_id)
            conn.execute(
                f"INSERT INTO qa_jobs (run_id, job_id, {', '.join(JOB_FIELDS)}, recorded_at)"
                f" VALUES (?, ?, {', '.join('?' * len(JOB_FIELDS))}, ?)"
                f" ON CONFLICT (run_id, job_id) DO UPDATE SET {updates},"
                " recorded_at = excluded.recorded_at",
                (run_id, job_id, *row, _iso(self.clock())),
            )

    def record_metrics(self, run_id: str, rows: Iterable[Mapping[str, Any]]) -> int:
        """Append metric rows (keys: ``scope``, ``subject``, ``name``, ``value`` and optional
        ``scene_id``, ``shot_id``, ``level``, ``reason``) in one transaction; returns the count.

        ``scope`` is one of :data:`SCOPES`; a None/NaN value is stored as NULL (not measured).
        """
        prepared: list[tuple[Any, ...]] = []
        at = _iso(self.clock())
        for index, row in enumerate(rows):
            name = row.get("name")
            scope = row.get("scope")
            if not name or scope not in SCOPES:
                raise RunLogError(
                    f"metric row {index} needs a name and a scope in {', '.join(SCOPES)}: {dict(row)!r}"
                )
            level = row.get("level")
            try:
                value = _number(row.get("value"))
                level_name = None if level is None else Level.parse(level).name
            except (TypeError, ValueError) as exc:
                raise RunLogError(f"metric row {index} ({name}): {exc}") from exc
            prepared.append(
                (
                    run_id,
                    scope,
                    str(row.get("subject") or ""),
                    row.get("scene_id"),
                    row.get("shot_id"),
                    str(name),
                    value,
                    level_name,
                    row.get("reason"),
                    at,
                )
            )
        with self._write() as conn:
            self._require_run(conn, run_id)
            conn.executemany(
                "INSERT INTO qa_metrics (run_id, scope, subject, scene_id, shot_id, name, value,"
                " level, reason, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                prepared,
            )
        return len(prepared)

    def record_telemetry(
        self,
        run_id: str,
        *,
        vram_used_mb: float | None,
        vram_total_mb: float | None = None,
        job_id: str | None = None,
        t: float | None = None,
        note: str = "",
    ) -> None:
        """One telemetry sample (``t`` in epoch seconds, default now)."""
        with self._write() as conn:
            self._require_run(conn, run_id)
            conn.execute(
                "INSERT INTO qa_telemetry (run_id, job_id, t, vram_used_mb, vram_total_mb, note)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    run_id,
                    job_id,
                    self.clock() if t is None else float(t),
                    _number(vram_used_mb),
                    _number(vram_total_mb),
                    note,
                ),
            )

    def close_run(
        self,
        run_id: str,
        summary: Mapping[str, Any],
        *,
        verdict: Verdict | QaVerdict | None = None,
    ) -> Verdict:
        """Finish a run: check the telemetry contract, store the verdict; returns it.

        The verdict is ``verdict`` when given, else the worst level of the run's recorded
        metrics (reasons from their WARN/FAIL rows); a contract failure makes it FAIL with
        the reason "telemetry contract: missing fields …". Closing twice is refused.
        """
        with self._write() as conn:
            row = conn.execute(
                "SELECT status, project_id, branch, kind, started_at, started_ts, app_version,"
                " backend, preset, seed_policy, gpu, peak_vram_mb, jobs_total, jobs_failed,"
                " versions, fields FROM qa_runs WHERE id = ?",
                (run_id,),
            ).fetchone()
            if row is None:
                raise RunNotFound(f"no run {run_id!r} in the run log")
            if row[0] != "open":
                interrupted = conn.execute("SELECT interrupted_at FROM qa_runs WHERE id = ?", (run_id,)).fetchone()[0]
                raise RunLogError(f"run {run_id} is already closed" + (" (as interrupted)" if interrupted else ""))
            now = self.clock()
            record: dict[str, Any] = {
                "project_id": row[1],
                "branch": row[2],
                "kind": row[3],
                "started_at": row[4],
                "finished_at": _iso(now),
                "app_version": row[6],
                "backend": row[7],
                "preset": row[8],
                "seed_policy": row[9],
                "gpu": row[10],
                "peak_vram_mb": row[11],
                "jobs_total": row[12],
                "jobs_failed": row[13],
                "versions": _loads(row[14], {}),
            }
            bad: list[str] = []
            for name in _SUMMARY_FIELDS:
                if name in summary and summary[name] is not None:
                    value, problem = _coerce(name, summary[name])
                    if problem:
                        bad.append(problem)
                    record[name] = value
            missing = [
                name
                for name in TELEMETRY_CONTRACT
                if _is_missing(record.get(name)) and not any(p.startswith(name + " ") for p in bad)
            ]
            base = self._verdict_from_metrics(conn, run_id) if verdict is None else combine([verdict])
            level = base.level
            reasons = list(base.reasons)
            if missing:
                reasons.append("telemetry contract: missing fields " + ", ".join(missing))
            if bad:
                reasons.append("telemetry contract: bad fields " + "; ".join(bad))
            if missing or bad:
                level = Level.FAIL
            extra = _loads(row[15], {})
            extra.update({k: v for k, v in summary.items() if k not in _SUMMARY_FIELDS})
            conn.execute(
                "UPDATE qa_runs SET status = 'closed', finished_at = ?, finished_ts = ?,"
                " duration_s = ?, app_version = ?, backend = ?, preset = ?, seed_policy = ?,"
                " gpu = ?, peak_vram_mb = ?, jobs_total = ?, jobs_failed = ?, versions = ?,"
                " verdict = ?, reasons = ?, contract_missing = ?, fields = ? WHERE id = ?",
                (
                    record["finished_at"],
                    now,
                    now - row[5],
                    record["app_version"],
                    record["backend"],
                    record["preset"],
                    record["seed_policy"],
                    record["gpu"],
                    record["peak_vram_mb"],
                    record["jobs_total"],
                    record["jobs_failed"],
                    _json(record["versions"] or {}),
                    level.name,
                    _json(reasons),
                    _json(missing + [p.split(" ", 1)[0] for p in bad]),
                    _json(extra),
                    run_id,
                ),
            )
        return Verdict(level, base.findings, tuple(reasons), run_id, base.notes)

    @staticmethod
    def _verdict_from_metrics(conn: sqlite3.Connection, run_id: str) -> Verdict:
        level = Level.PASS
        reasons: list[str] = []
        for subject, name, value, level_name, reason in conn.execute(
            "SELECT subject, name, value, level, reason FROM qa_metrics"
            " WHERE run_id = ? AND level IN ('WARN', 'FAIL') ORDER BY id",
            (run_id,),
        ):
            level = max(level, Level[level_name])
            text = reason or f"{name} {value} is {level_name}"
            reasons.append(f"{subject}: {text}" if subject else text)
        return Verdict(level, (), tuple(reasons))

    # ------------------------------------------------------------------ reads

    def _runs_where(
        self, project_id: str | None, branch: str | None, alias: str = "r"
    ) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        if project_id is not None:
            clauses.append(f"{alias}.project_id = ?")
            params.append(project_id)
        if branch is not None:
            clauses.append(f"{alias}.branch = ?")
            params.append(branch)
        return (" AND ".join(clauses) or "1"), params

    @staticmethod
    def _decode_run(row: dict[str, Any]) -> dict[str, Any]:
        row["versions"] = _loads(row.get("versions"), {})
        row["reasons"] = _loads(row.get("reasons"), [])
        row["contract_missing"] = _loads(row.get("contract_missing"), [])
        row["fields"] = _loads(row.get("fields"), {})
        row["state"] = "interrupted" if row.get("interrupted_at") else str(row.get("status") or "")
        return row

    def runs(
        self, project_id: str | None = None, branch: str | None = None, kind: str | None = None
    ) -> list[dict[str, Any]]:
        """Runs, newest first (JSON columns decoded: ``reasons`` is a list, ``versions`` a dict)."""
        where, params = self._runs_where(project_id, branch)
        if kind is not None:
            where += " AND r.kind = ?"
            params.append(kind)
        rows = self.db.query(
            f"SELECT r.* FROM qa_runs r WHERE {where} ORDER BY r.started_ts DESC, r.id", params
        )
        return [self._decode_run(dict(row)) for row in rows]

    def run(self, run_id: str) -> dict[str, Any]:
        rows = list(self.db.query("SELECT * FROM qa_runs WHERE id = ?", [run_id]))
        if not rows:
            raise RunNotFound(f"no run {run_id!r} in the run log")
        return self._decode_run(dict(rows[0]))

    def metrics(
        self,
        run_id: str | None = None,
        project_id: str | None = None,
        name: str | None = None,
        *,
        branch: str | None = None,
        scope: str | None = None,
    ) -> list[dict[str, Any]]:
        """Metric rows with their run's project, branch, kind and start time."""
        where, params = self._runs_where(project_id, branch)
        for column, value in (("m.run_id", run_id), ("m.name", name), ("m.scope", scope)):
            if value is not None:
                where += f" AND {column} = ?"
                params.append(value)
        return [
            dict(row)
            for row in self.db.query(
                "SELECT m.*, r.project_id, r.branch, r.kind AS run_kind,"
                " r.started_at AS run_started_at FROM qa_metrics m JOIN qa_runs r ON r.id = m.run_id"
                f" WHERE {where} ORDER BY r.started_ts, m.id",
                params,
            )
        ]

    def telemetry(self, run_id: str) -> list[dict[str, Any]]:
        """A run's samples in time order; ``t_rel_s`` is seconds since the run started."""
        return [
            dict(row)
            for row in self.db.query(
                "SELECT s.*, s.t - r.started_ts AS t_rel_s FROM qa_telemetry s"
                " JOIN qa_runs r ON r.id = s.run_id WHERE s.run_id = ? ORDER BY s.t, s.id",
                [run_id],
            )
        ]

    def jobs(self, run_id: str) -> list[dict[str, Any]]:
        return [
            dict(row)
            for row in self.db.query("SELECT * FROM qa_jobs WHERE run_id = ? ORDER BY id", [run_id])
        ]

    def job_summary(self, run_id: str) -> dict[str, Any]:
        """The job figures of a run's summary, from its recorded jobs (to pass to close_run).

        ``peak_vram_mb`` is left out when no job recorded one: the caller must say it (0 for a
        CPU run) rather than have a gap filled in for it.
        """
        row = self.conn.execute(
            "SELECT COUNT(*), SUM(status = 'failed'), COALESCE(SUM(retries), 0), MAX(peak_vram_mb)"
            " FROM qa_jobs WHERE run_id = ?",
            (run_id,),
        ).fetchone()
        figures: dict[str, Any] = {
            "jobs_total": int(row[0]),
            "jobs_failed": int(row[1] or 0),
            "retries": int(row[2]),
        }
        if row[3] is not None:
            figures["peak_vram_mb"] = float(row[3])
        return figures

    def stage_durations(self, project_id: str, branch: str | None = None) -> list[dict[str, Any]]:
        """One row per recorded stage: run, branch, kind, stage number and name, duration_s."""
        where, params = self._runs_where(project_id, branch)
        return [
            dict(row)
            for row in self.db.query(
                "SELECT st.run_id, r.branch, r.kind, r.started_at AS run_started_at, st.stage,"
                " st.name, st.started_at, st.finished_at, st.duration_s FROM qa_stages st"
                f" JOIN qa_runs r ON r.id = st.run_id WHERE {where}"
                " ORDER BY r.started_ts, st.stage, st.id",
                params,
            )
        ]

    def p95_shot_latency(self, project_id: str, branch: str | None = None) -> list[dict[str, Any]]:
        """Per run: P50/P95 latency of its finished shot jobs (queue wait + duration, s).

        Only ``done`` jobs with a ``shot_id`` and a duration count; percentiles are
        nearest-rank. Runs without such jobs are left out.
        """
        where, params = self._runs_where(project_id, branch)
        latencies: dict[str, list[float]] = {}
        info: dict[str, dict[str, Any]] = {}
        for row in self.db.query(
            "SELECT j.run_id, r.branch, r.kind, r.started_at AS run_started_at,"
            " COALESCE(j.queue_wait_s, 0) + j.duration_s AS latency_s FROM qa_jobs j"
            f" JOIN qa_runs r ON r.id = j.run_id WHERE {where} AND j.shot_id IS NOT NULL"
            " AND j.status = 'done' AND j.duration_s IS NOT NULL ORDER BY r.started_ts, j.id",
            params,
        ):
            latencies.setdefault(row["run_id"], []).append(float(row["latency_s"]))
            info.setdefault(
                row["run_id"],
                {k: row[k] for k in ("run_id", "branch", "kind", "run_started_at")},
            )
        out: list[dict[str, Any]] = []
        for run_id, values in latencies.items():
            out.append(
                {
                    **info[run_id],
                    "shots": len(values),
                    "p50_latency_s": percentile(values, 50),
                    "p95_latency_s": percentile(values, 95),
                }
            )
        return out

    def failure_reasons(self, project_id: str, branch: str | None = None) -> list[dict[str, Any]]:
        """Failed jobs by failure class (most frequent first), with their retries."""
        where, params = self._runs_where(project_id, branch)
        return [
            dict(row)
            for row in self.db.query(
                "SELECT COALESCE(j.failure_class, 'unknown') AS failure_class, COUNT(*) AS jobs,"
                " COALESCE(SUM(j.retries), 0) AS retries FROM qa_jobs j"
                f" JOIN qa_runs r ON r.id = j.run_id WHERE {where} AND j.status = 'failed'"
                " GROUP BY 1 ORDER BY jobs DESC, failure_class",
                params,
            )
        ]

    def verdict_counts(self, project_id: str, branch: str | None = None) -> list[dict[str, Any]]:
        """Closed runs per verdict, always all three levels in order PASS, WARN, FAIL."""
        where, params = self._runs_where(project_id, branch)
        counts = {
            row["verdict"]: row["runs"]
            for row in self.db.query(
                "SELECT r.verdict, COUNT(*) AS runs FROM qa_runs r"
                f" WHERE {where} AND r.status = 'closed' GROUP BY r.verdict",
                params,
            )
        }
        return [{"verdict": level.name, "runs": int(counts.get(level.name, 0))} for level in Level]
