"""Render workers: registration, heartbeats and liveness, in the queue's ``render_workers``
table.

A worker is alive while its state is ``running`` (or ``starting``, while it is being spawned)
and its heartbeat is younger than the queue's ``stale_after_s``; on this host its pid must
also still be the same live process (``/proc`` start time), so a reused pid is not mistaken
for it. The functions take the queue they work for; :class:`render.queue.SqliteRenderQueue`
offers each as a method.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from render.queue_schema import JobRecord, iso_time, loads_or

if TYPE_CHECKING:
    from render.queue import SqliteRenderQueue

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


def register_worker(
    queue: SqliteRenderQueue,
    worker_id: str,
    *,
    pid: int,
    slot: str,
    state: str = "running",
    pid_start: str | None = None,
    info: Mapping[str, Any] | None = None,
) -> None:
    """Record a worker (or, with ``state='starting'``, one being spawned)."""
    now = queue.clock()
    with queue._write() as conn:
        if state == "running":
            conn.execute(
                "DELETE FROM render_workers WHERE state = 'starting' AND host = ? AND pid = ?",
                (queue.host, pid),
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
                queue.host,
                slot,
                state,
                iso_time(now),
                now,
                json.dumps(dict(info or {})),
            ),
        )


def heartbeat(
    queue: SqliteRenderQueue, worker_id: str, *, info: Mapping[str, Any] | None = None
) -> bool:
    """Refresh a worker's heartbeat; False when recovery has declared it dead."""
    now = queue.clock()
    with queue._write() as conn:
        cur = conn.execute(
            "UPDATE render_workers SET heartbeat_at = ?, info = COALESCE(?, info)"
            " WHERE id = ? AND state IN ('running', 'starting')",
            (now, json.dumps(dict(info)) if info is not None else None, worker_id),
        )
        return cur.rowcount == 1


def unregister_worker(queue: SqliteRenderQueue, worker_id: str) -> None:
    """A worker stopping cleanly: release its claims, requeue a job it was running
    (not counted as an attempt), mark it stopped."""
    now = queue.clock()
    with queue._write() as conn:
        for row in conn.execute(
            "SELECT * FROM render_jobs WHERE worker_id = ? AND status IN ('queued', 'waiting_vram', 'running')",
            (worker_id,),
        ).fetchall():
            queue._let_go(conn, JobRecord.from_row(row), "interrupted: the worker stopped; it will resume", now)
        conn.execute(
            "UPDATE render_workers SET state = 'stopped', stopped_at = ?, current_job = NULL"
            " WHERE id = ?",
            (iso_time(now), worker_id),
        )


def worker_alive(queue: SqliteRenderQueue, row: sqlite3.Row, now: float) -> bool:
    """Whether the worker of a ``render_workers`` row is alive at ``now`` (see above)."""
    if row["state"] not in ("running", "starting"):
        return False
    if now - row["heartbeat_at"] > queue.stale_after_s:
        return False
    if row["host"] == queue.host:
        return pid_alive(row["pid"], row["pid_start"])
    return True  # another machine: the heartbeat is all we can see


def workers(queue: SqliteRenderQueue, *, include_stopped: bool = False) -> list[WorkerRecord]:
    now = queue.clock()
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
            info=loads_or(r["info"], {}),
            alive=worker_alive(queue, r, now),
            heartbeat_age_s=max(0.0, now - r["heartbeat_at"]),
        )
        for r in queue.conn.execute(sql + " ORDER BY heartbeat_at DESC")
    ]


def alive_workers(queue: SqliteRenderQueue) -> list[WorkerRecord]:
    return [w for w in workers(queue) if w.alive]


def spawn_once(
    queue: SqliteRenderQueue, slot: str, spawn: Callable[[], tuple[int, str | None]]
) -> tuple[int, bool]:
    """Return the pid of a live worker for ``slot``, or call ``spawn()`` (which starts one
    and returns its pid and process start time) and record it as ``starting`` — inside one
    write transaction, so two callers at once start one worker. Returns (pid, spawned)."""
    now = queue.clock()
    with queue._write() as conn:
        rows = conn.execute(
            "SELECT * FROM render_workers WHERE slot = ? AND state IN ('running', 'starting')"
            " ORDER BY heartbeat_at DESC",
            (slot,),
        ).fetchall()
        for row in rows:
            if worker_alive(queue, row, now):
                return int(row["pid"]), False
        pid, start = spawn()
        conn.execute(
            """INSERT OR REPLACE INTO render_workers (id, pid, pid_start, host, slot, state,
               started_at, heartbeat_at, info) VALUES (?, ?, ?, ?, ?, 'starting', ?, ?, '{}')""",
            (f"starting:{queue.host}:{pid}", pid, start, queue.host, slot, iso_time(now), now),
        )
        return pid, True
