"""Recovery: what becomes of the jobs of render workers that died.

A worker is dead when its process is gone (same host: pid missing, a zombie, or a different
process start time) or its heartbeat is older than ``stale_after_s``. Its jobs: a
claimed-but-not-started job is released; a running job whose output folder is published
with a valid marker is ``done`` (the worker died between publishing and saying so);
otherwise a cancel request makes it ``cancelled``, a job with attempts left is requeued
("resumed", it runs again as attempt n+1) and one without is ``failed`` with class
``interrupted``. A job is never ``done`` unless its folder carries a valid done marker.
Partial folders are then removed.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from render.manifest import OLD_PREFIX, TMP_PREFIX, is_published, remove_partials
from render.queue_schema import JobRecord, iso_time
from render.workers import worker_alive

if TYPE_CHECKING:
    from render.queue import SqliteRenderQueue

# Each recovery pass deletes progress events older than this.
EVENT_RETENTION_S = 7 * 24 * 3600


@dataclass(frozen=True)
class RecoveryReport:
    dead_workers: tuple[str, ...] = ()
    released: tuple[str, ...] = ()
    requeued: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()
    done: tuple[str, ...] = ()
    cancelled: tuple[str, ...] = ()
    removed: tuple[Path, ...] = field(default=())


def recover(
    queue: SqliteRenderQueue, now: float | None = None, *, sweep: bool = True
) -> RecoveryReport:
    """Requeue or fail the jobs of dead workers, then delete partial output folders.

    See the module docstring for the rules. Safe to run while other workers live: only
    jobs held by dead (or unknown) workers are touched. The recovered jobs' partial
    folders are always removed; ``sweep`` also walks the whole renders folder for other
    unmarked leftovers (at worker start; the periodic check skips it).
    """
    now = queue.clock() if now is None else now
    # Phase 1, reads only: who is dead, and which outputs are published (hashing can
    # take a while; it must not happen inside the write lock).
    rows = queue.conn.execute(
        "SELECT * FROM render_workers WHERE state IN ('running', 'starting')"
    ).fetchall()
    dead = {r["id"]: r["heartbeat_at"] for r in rows if not worker_alive(queue, r, now)}
    live = {r["id"] for r in rows} - set(dead)
    orphans = [
        JobRecord.from_row(r)
        for r in queue.conn.execute(
            "SELECT * FROM render_jobs WHERE worker_id IS NOT NULL"
            " AND status IN ('queued', 'waiting_vram', 'running')"
        ).fetchall()
    ]
    orphans = [j for j in orphans if j.worker_id not in live]
    published = {j.id: is_published(queue.output_dir(j)) for j in orphans if j.status == "running"}

    report: dict[str, list[Any]] = {k: [] for k in ("released", "requeued", "failed", "done", "cancelled")}
    dead_marked: list[str] = []
    recovered: list[JobRecord] = []
    with queue._write() as conn:
        for worker_id, beat in dead.items():
            cur = conn.execute(
                "UPDATE render_workers SET state = 'dead', stopped_at = ?, current_job = NULL"
                " WHERE id = ? AND heartbeat_at = ? AND state IN ('running', 'starting')",
                (iso_time(now), worker_id, beat),
            )
            if cur.rowcount:
                dead_marked.append(worker_id)
        still_dead = set(dead_marked) | {
            r[0] for r in conn.execute("SELECT id FROM render_workers WHERE state IN ('dead', 'stopped')")
        }
        known = {r[0] for r in conn.execute("SELECT id FROM render_workers")}
        for seen in orphans:
            job = queue._get(conn, seen.id)
            if job.worker_id != seen.worker_id or job.status != seen.status:
                continue  # it moved since phase 1
            if job.worker_id in known and job.worker_id not in still_dead:
                continue  # its worker came back (fresh heartbeat)
            if job.status in ("queued", "waiting_vram"):
                conn.execute(
                    "UPDATE render_jobs SET worker_id = NULL, slot = NULL, updated_at = ? WHERE id = ?",
                    (iso_time(now), job.id),
                )
                report["released"].append(job.id)
                continue
            recovered.append(job)
            folder = queue.output_dir(job)
            if published.get(job.id):
                message = "finished before its worker stopped; output verified"
                queue._finish(conn, job, "done", message, None, now, folder=folder)
                report["done"].append(job.id)
            elif job.cancel_requested:
                queue._finish(conn, job, "cancelled", "cancelled (its worker stopped)", None, now)
                report["cancelled"].append(job.id)
            elif job.attempts >= job.max_attempts:
                message = (
                    f"interrupted: the worker stopped during attempt {job.attempts} of "
                    f"{job.max_attempts}; no attempts left"
                )
                queue._finish(conn, job, "failed", message, "interrupted", now)
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
                    (message, now, iso_time(now), job.id),
                )
                queue._event(conn, job, "queued", 0.0, message, now)
                report["requeued"].append(job.id)
        conn.execute("DELETE FROM render_events WHERE at_ts < ?", (now - EVENT_RETENTION_S,))

    removed: list[Path] = []
    for job in recovered:
        if job.id in report["done"]:
            continue
        removed.extend(remove_job_partials(queue, job))
    if sweep:
        active = [
            r[0]
            for r in queue.conn.execute(
                "SELECT id FROM render_jobs WHERE status IN ('queued', 'waiting_vram', 'running')"
            )
        ]
        removed.extend(
            remove_partials(queue.renders_dir, protect=active, min_age_s=queue.stale_after_s)
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


def remove_job_partials(queue: SqliteRenderQueue, job: JobRecord) -> list[Path]:
    """Delete a recovered job's temp folders and its unpublished final folder."""
    folder = queue.output_dir(job)
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
