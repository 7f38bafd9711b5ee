"""The QA run log: the telemetry contract on write, concurrent writers, dashboard queries."""

from __future__ import annotations

import multiprocessing
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from qa.runlog import (
    MIGRATIONS,
    TELEMETRY_CONTRACT,
    RunLog,
    RunLogError,
    RunNotFound,
    percentile,
    rows_from_verdict,
)
from qa.verdicts import Level, Verdict, evaluate, thresholds_from_dict
from studio.ports import JobInfo, RunRecorder
from studio.store import Store

FULL = {
    "app_version": "0.1.0",
    "backend": "animatic",
    "preset": "fast",
    "seed_policy": "fixed",
    "gpu": "none",
    "peak_vram_mb": 0.0,
    "jobs_total": 2,
    "jobs_failed": 0,
    "versions": {"python": "3.11", "studio": "0.1.0"},
}


class Clock:
    def __init__(self, t: float = 1_700_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def open_log(tmp_path: Path) -> Iterator[Callable[..., RunLog]]:
    opened: list[RunLog] = []

    def open_one(**kwargs: Any) -> RunLog:
        log = RunLog(tmp_path / "studio.db", **kwargs)
        opened.append(log)
        return log

    yield open_one
    for log in opened:
        log.close()


@pytest.fixture
def log(open_log: Callable[..., RunLog]) -> RunLog:
    return open_log()


def test_schema_lives_beside_the_store(tmp_path: Path) -> None:
    store = Store(tmp_path / "studio.db", tmp_path / "media")
    try:
        log = RunLog(tmp_path / "studio.db")
        assert log.schema_version() == len(MIGRATIONS) == 2
        assert RunLog(tmp_path / "studio.db").migrate() == 2  # reopening applies nothing twice
        tables = set(log.db.table_names())
        assert {"qa_runs", "qa_stages", "qa_jobs", "qa_metrics", "qa_telemetry", "qa_migrations"} <= tables
        assert {"projects", "commits", "migrations"} <= tables  # the store's own, untouched
        assert store.schema_version() == 1
        assert log.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert isinstance(log, RunRecorder)
        log.close()
    finally:
        store.close()


def test_a_complete_run_passes_the_contract(log: RunLog) -> None:
    clock = Clock()
    log.clock = clock
    run_id = log.open_run(project_id="p1", branch="main", kind="demo", backend="animatic")
    assert log.run(run_id)["status"] == "open"
    clock.t += 12.5
    verdict = log.close_run(run_id, FULL)
    assert verdict.level is Level.PASS and verdict.reasons == ()
    row = log.run(run_id)
    assert row["status"] == "closed" and row["verdict"] == "PASS"
    assert row["duration_s"] == pytest.approx(12.5)
    assert row["versions"] == {"python": "3.11", "studio": "0.1.0"}
    assert row["reasons"] == [] and row["contract_missing"] == []
    for name in TELEMETRY_CONTRACT:
        assert row[name] not in (None, ""), name
    with pytest.raises(RunLogError, match="already closed"):
        log.close_run(run_id, FULL)


def test_the_contract_rejects_an_incomplete_run_and_still_records_it(log: RunLog) -> None:
    run_id = log.open_run(project_id="p1", branch="main", kind="render")
    partial = {k: v for k, v in FULL.items() if k not in ("gpu", "seed_policy")}
    partial["versions"] = {}
    verdict = log.close_run(run_id, partial, verdict=Verdict(Level.PASS))
    assert verdict.level is Level.FAIL
    assert verdict.reasons == ("telemetry contract: missing fields seed_policy, gpu, versions",)
    (row,) = log.runs(project_id="p1")
    assert row["id"] == run_id and row["status"] == "closed" and row["verdict"] == "FAIL"
    assert row["reasons"] == list(verdict.reasons)
    assert row["contract_missing"] == ["seed_policy", "gpu", "versions"]
    assert log.verdict_counts("p1") == [
        {"verdict": "PASS", "runs": 0},
        {"verdict": "WARN", "runs": 0},
        {"verdict": "FAIL", "runs": 1},
    ]


def test_the_contract_rejects_mistyped_fields_and_a_blank_project(log: RunLog) -> None:
    run_id = log.open_run(branch="main", kind="qa")
    verdict = log.close_run(run_id, {**FULL, "jobs_total": "ten", "gpu": " "})
    assert verdict.level is Level.FAIL
    assert verdict.reasons == (
        "telemetry contract: missing fields project_id, gpu",
        "telemetry contract: bad fields jobs_total (expected a whole number, got 'ten')",
    )
    row = log.run(run_id)
    assert row["jobs_total"] is None and row["contract_missing"] == ["project_id", "gpu", "jobs_total"]


def test_the_run_verdict_is_the_worst_of_its_recorded_metrics(log: RunLog) -> None:
    thresholds = thresholds_from_dict(
        {
            "metrics": {
                "ssim_mean": {"direction": "higher", "warn": 0.9, "fail": 0.8},
                "flicker_luma": {"direction": "lower", "warn": 0.08, "fail": 0.2},
            }
        }
    )
    run_id = log.open_run(project_id="p1", branch="main", kind="qa")
    shot = evaluate({"ssim_mean": 0.95, "flicker_luma": 0.12}, thresholds, subject="sc-2/2B")
    rows = rows_from_verdict(shot, scope="shot", scene_id="sc-2", shot_id="2B")
    assert log.record_metrics(run_id, rows) == 2
    verdict = log.close_run(run_id, FULL)
    assert verdict.level is Level.WARN
    assert len(verdict.reasons) == 1
    assert verdict.reasons[0].startswith("sc-2/2B: The brightness flickers (jumps of 0.12 levels")
    stored = log.metrics(run_id=run_id, name="flicker_luma")
    assert [(m["subject"], m["shot_id"], m["value"], m["level"]) for m in stored] == [
        ("sc-2/2B", "2B", 0.12, "WARN")
    ]


def test_writes_to_an_unknown_run_or_bad_rows_are_refused(log: RunLog) -> None:
    with pytest.raises(RunNotFound, match="no run 'nope'"):
        log.record_telemetry("nope", vram_used_mb=1.0)
    with pytest.raises(RunNotFound):
        log.close_run("nope", FULL)
    run_id = log.open_run(project_id="p1", branch="main", kind="qa")
    with pytest.raises(RunLogError, match="scope"):
        log.record_metrics(run_id, [{"name": "ssim_mean", "scope": "galaxy", "value": 1.0}])
    with pytest.raises(RunLogError, match="unknown job fields colour"):
        log.record_job(run_id, "j1", colour="red")
    assert log.metrics(run_id=run_id) == [] and log.jobs(run_id) == []


def test_queries_return_what_was_written(log: RunLog) -> None:
    clock = Clock()
    log.clock = clock
    run_id = log.open_run(project_id="p1", branch="main", kind="render", preset="fast")
    other = log.open_run(project_id="p1", branch="alt", kind="render")
    log.open_run(project_id="p2", branch="main", kind="qa")

    log.record_stage(run_id, 9, "frames", started_at=clock.t, finished_at=clock.t + 3.0)
    clock.t += 1
    with log.timed_stage(run_id, 10, "clips"):
        pass
    # Ten done shots with latencies 1..10 s (queue wait 0.5 + duration), one failed, one frame job.
    for i in range(1, 11):
        log.record_job(
            run_id, f"j{i}", scene_id="sc-1", shot_id=f"{i}A", kind="clip", backend="animatic",
            preset="fast", status="done", attempts=1, queue_wait_s=0.5, duration_s=i - 0.5,
            peak_vram_mb=100.0 * i,
        )
    log.record_job(run_id, "jf", shot_id="11A", status="queued", attempts=1)
    log.record_job(run_id, "jf", status="failed", failure_class="oom", attempts=2)
    log.record_job(run_id, "frame", scene_id="sc-1", kind="frame", status="done", duration_s=99.0)
    info = JobInfo(
        id="jx", project_id="p1", scene_id="sc-2", shot_id="1A", kind="clip", backend="comfyui",
        preset="cinematic", status="failed", failure_class="timeout", attempts=3,
    )
    log.record_job(other, info, duration_s=5.0)

    for k, used in enumerate([500.0, 1500.0, 900.0]):
        log.record_telemetry(run_id, job_id="j1", vram_used_mb=used, vram_total_mb=8192.0, t=clock.t + k)
    log.record_metrics(
        run_id,
        [
            {"scope": "character", "subject": "MIA", "scene_id": "sc-1", "name": "identity_distance",
             "value": 0.2, "level": "PASS"},
            {"scope": "shot", "subject": "sc-1/1A", "name": "ssim_mean", "value": float("nan"),
             "level": Level.WARN},
        ],
    )

    assert {r["id"] for r in log.runs(project_id="p1")} == {run_id, other}
    assert [r["id"] for r in log.runs(project_id="p1", branch="alt")] == [other]
    assert len(log.runs()) == 3 and len(log.runs(kind="qa")) == 1

    jobs = {j["job_id"]: j for j in log.jobs(run_id)}
    assert len(jobs) == 12
    assert jobs["jf"]["shot_id"] == "11A"  # kept from the first record
    assert (jobs["jf"]["status"], jobs["jf"]["failure_class"], jobs["jf"]["retries"]) == ("failed", "oom", 1)
    assert log.jobs(other)[0]["backend"] == "comfyui" and log.jobs(other)[0]["retries"] == 2
    assert log.job_summary(run_id) == {"jobs_total": 12, "jobs_failed": 1, "retries": 1, "peak_vram_mb": 1000.0}

    stages = log.stage_durations("p1")
    assert [(s["stage"], s["name"]) for s in stages] == [(9, "frames"), (10, "clips")]
    assert stages[0]["duration_s"] == 3.0 and stages[1]["duration_s"] >= 0

    (latency,) = log.p95_shot_latency("p1", branch="main")
    assert latency["run_id"] == run_id and latency["shots"] == 10
    assert latency["p95_latency_s"] == 10.0 and latency["p50_latency_s"] == 5.0
    assert log.p95_shot_latency("p2") == []

    assert log.failure_reasons("p1") == [
        {"failure_class": "oom", "jobs": 1, "retries": 1},
        {"failure_class": "timeout", "jobs": 1, "retries": 2},
    ]
    assert log.failure_reasons("p1", branch="alt") == [{"failure_class": "timeout", "jobs": 1, "retries": 2}]

    samples = log.telemetry(run_id)
    assert [s["vram_used_mb"] for s in samples] == [500.0, 1500.0, 900.0]
    assert [s["t_rel_s"] for s in samples] == [1.0, 2.0, 3.0]

    metrics = log.metrics(project_id="p1")
    assert [(m["name"], m["value"], m["level"], m["branch"]) for m in metrics] == [
        ("identity_distance", 0.2, "PASS", "main"),
        ("ssim_mean", None, "WARN", "main"),  # NaN = not measured = NULL
    ]
    assert log.metrics(project_id="p2") == [] and len(log.metrics(name="ssim_mean")) == 1
    assert len(log.metrics(run_id=run_id, scope="character")) == 1


def test_percentile_is_nearest_rank() -> None:
    assert percentile([], 95) is None
    assert percentile([3.0], 95) == 3.0
    assert percentile(range(1, 21), 95) == 19
    assert percentile(range(1, 101), 95) == 95


WRITERS = 4
PER_WRITER = 40


def _writer(db_path: str, run_id: str, writer: int, go: Any) -> None:
    """One process (the worker or the app): N jobs, N metric rows, N telemetry samples."""
    log = RunLog(Path(db_path))
    go.wait(10)
    for i in range(PER_WRITER):
        log.record_job(run_id, f"w{writer}-j{i}", shot_id=f"{i}A", status="done", duration_s=1.0)
        log.record_metrics(
            run_id, [{"scope": "shot", "subject": f"w{writer}/{i}", "name": "ssim_mean", "value": 0.9}]
        )
        log.record_telemetry(run_id, job_id=f"w{writer}-j{i}", vram_used_mb=float(i))
        if i % 10 == 0:
            log.record_stage(run_id, 11, f"w{writer}", 0.1)
    log.close()


def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    db_path = tmp_path / "studio.db"
    log = RunLog(db_path)
    run_id = log.open_run(project_id="p1", branch="main", kind="render")
    ctx = multiprocessing.get_context("spawn")
    go = ctx.Event()
    procs = [ctx.Process(target=_writer, args=(str(db_path), run_id, w, go)) for w in range(WRITERS)]
    for proc in procs:
        proc.start()
    go.set()
    # The parent (the app) writes at the same time.
    for i in range(PER_WRITER):
        log.record_telemetry(run_id, vram_used_mb=float(i), note="app")
    for proc in procs:
        proc.join(30)
        assert proc.exitcode == 0
    total = WRITERS * PER_WRITER
    assert len(log.jobs(run_id)) == total
    assert len({j["job_id"] for j in log.jobs(run_id)}) == total
    assert len(log.metrics(run_id=run_id)) == total
    assert len(log.telemetry(run_id)) == total + PER_WRITER
    assert len(log.stage_durations("p1")) == WRITERS * (PER_WRITER // 10)
    figures = log.job_summary(run_id)
    assert figures == {"jobs_total": total, "jobs_failed": 0, "retries": 0}  # no VRAM recorded
    verdict = log.close_run(run_id, {**FULL, **figures})
    assert verdict.level is Level.PASS
    assert log.run(run_id)["jobs_total"] == total
    check = sqlite3.connect(db_path)
    try:
        assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        check.close()
    log.close()


# --------------------------------------------------------------------------- runs left open by a crash

_OPEN_AND_DIE = """
import os, signal, sys
from qa.runlog import RunLog
log = RunLog(sys.argv[1])
print(log.open_run(project_id="p", branch="main", kind="qa"), flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def _open_in_a_killed_process(db: Path) -> str:
    import os
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    run = subprocess.run([sys.executable, "-c", _OPEN_AND_DIE, str(db)], capture_output=True, text=True,
                         env=env, timeout=120, check=False)
    assert run.returncode == -9, run.stderr
    return run.stdout.strip()


def test_a_run_left_open_by_a_killed_process_is_closed_as_interrupted_by_the_next_run(tmp_path: Path) -> None:
    db = tmp_path / "studio.db"
    dead = _open_in_a_killed_process(db)
    log = RunLog(db)
    try:
        assert log.run(dead)["status"] == "open"  # reading the log changes nothing
        mine = log.open_run(project_id="p", branch="main", kind="qa")  # the next run
        run = log.run(dead)
        assert (run["status"], run["state"], run["verdict"]) == ("closed", "interrupted", None)
        assert run["finished_at"] and run["interrupted_at"]
        assert len(run["reasons"]) == 1 and run["reasons"][0].startswith("interrupted: the process that ran it (pid ")
        assert log.run(mine)["state"] == "open"  # this process is alive: its run stays open
        assert log.close_abandoned() == []
        assert log.verdict_counts("p") == [{"verdict": v, "runs": 0} for v in ("PASS", "WARN", "FAIL")]
        with pytest.raises(RunLogError, match="interrupted"):
            log.close_run(dead, FULL)
        log.close_run(mine, FULL)
        assert log.run(mine)["state"] == "closed"
    finally:
        log.close()


def test_an_open_run_from_before_owners_were_recorded_is_interrupted(tmp_path: Path) -> None:
    """A log written by the previous version (schema 1, no owner column) with a run its crash
    left open: the upgrade adds the owner, and the next run closes the old one."""
    from studio.sqlite import SqliteFile

    db = tmp_path / "studio.db"
    old = SqliteFile(db, name="the run log", busy_timeout_ms=1000, rows=False, error=RunLogError)
    old.migrate("qa_migrations", MIGRATIONS[:1])
    with old.write() as conn:
        conn.execute("INSERT INTO qa_runs (id, project_id, branch, kind, status, started_at, started_ts)"
                     " VALUES ('run-old', 'p', 'main', 'qa', 'open', '2026-01-01T00:00:00+00:00', 1767225600)")
    old.close()
    log = RunLog(db)
    try:
        assert log.schema_version() == 2 and log.run("run-old")["owner"] is None
        log.open_run(project_id="p", branch="main", kind="qa")
        assert log.run("run-old")["state"] == "interrupted"
    finally:
        log.close()


def test_interrupt_run_closes_an_open_run_once(log: RunLog) -> None:
    run_id = log.open_run(project_id="p", branch="main", kind="qa")
    assert log.interrupt_run(run_id, "the QA thread failed: boom") is True
    assert log.interrupt_run(run_id, "again") is False
    assert log.run(run_id)["reasons"] == ["interrupted: the QA thread failed: boom"]
