"""The durable render queue on a real SQLite file: idempotency, slots, cancel, recovery."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest
from render_backends import make_spec

from render.backend import RenderOutput
from render.manifest import MARKER, build_manifest, is_published, publish
from render.presets import PresetError
from render.queue import (
    MIGRATIONS,
    JobNotFound,
    QueueError,
    SqliteRenderQueue,
    pid_alive,
    process_start,
    spec_key,
)
from studio.ports import RenderQueue
from studio.store import Store

REPO = Path(__file__).resolve().parents[1]


class Clock:
    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def queue(tmp_path: Path, clock: Clock):
    q = SqliteRenderQueue(tmp_path / "studio.db", tmp_path / "renders", clock=clock)
    yield q
    q.close()


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_tables_live_beside_the_studio_store(tmp_path: Path):
    store = Store(tmp_path / "studio.db", tmp_path / "media")
    q = SqliteRenderQueue(tmp_path / "studio.db", tmp_path / "renders")
    again = SqliteRenderQueue(tmp_path / "studio.db", tmp_path / "renders")
    try:
        assert isinstance(q, RenderQueue)
        tables = {r[0] for r in q.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"render_jobs", "render_workers", "render_events", "render_vram", "render_migrations"} <= tables
        assert {"projects", "migrations"} <= tables
        assert q.schema_version() == again.schema_version() == len(MIGRATIONS)
        assert q.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert store.schema_version() >= 1
    finally:
        q.close()
        again.close()
        store.close()


def test_vram_samples_are_kept_with_the_job_capped_with_their_peak(queue: SqliteRenderQueue):
    job = queue.enqueue(make_spec(), backend="comfyui", idempotency_key="v")
    assert queue.job(job.id).vram_samples == ()
    queue.claim_next("w", "gpu0")
    queue.start(job.id, "w")
    trace = [(i * 0.5, 1_000.0 + (i % 50)) for i in range(5_000)]
    trace[4_321] = (trace[4_321][0], 23_456.7)
    assert queue.record_vram(job.id, "someone else", trace, attempt=1) is False
    assert queue.record_vram(job.id, "w", trace, attempt=1, interval_s=0.5) is True
    info = queue.job(job.id)
    assert 1_000 <= len(info.vram_samples) <= 2_000
    assert info.vram_samples[0][0] < 10 and info.vram_samples[-1][0] > 2_490
    times = [t for t, _ in info.vram_samples]
    assert times == sorted(times)
    assert info.peak_vram_mb == 23_456.7 == max(u for _, u in info.vram_samples)
    assert [j.vram_samples for j in queue.jobs("p")] == [info.vram_samples]
    assert queue.record(job.id).vram_samples == info.vram_samples
    # The next attempt's samples replace these; an attempt without any clears them.
    assert queue.record_vram(job.id, "w", [(0.0, 5.0), (0.5, 6.0)], attempt=2)
    assert queue.job(job.id).vram_samples == ((0.0, 5.0), (0.5, 6.0))
    assert queue.record_vram(job.id, "w", [], attempt=3)
    assert queue.job(job.id).vram_samples == ()


def test_a_queue_from_before_vram_samples_is_migrated(tmp_path: Path):
    from studio.sqlite import SqliteFile

    old = SqliteFile(tmp_path / "studio.db", name="old", error=QueueError)
    old.migrate("render_migrations", MIGRATIONS[:1])
    old.close()
    q = SqliteRenderQueue(tmp_path / "studio.db", tmp_path / "renders")
    try:
        assert q.schema_version() == len(MIGRATIONS)
        job = q.enqueue(make_spec(), backend="animatic", idempotency_key="m")
        assert q.job(job.id).vram_samples == ()
    finally:
        q.close()


def test_a_queue_from_before_missing_model_keeps_its_jobs_and_stores_the_class(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """``missing_model`` was stored as ``error`` (the CHECK did not allow it): the table is
    rebuilt with every row kept, and a job fails as ``missing_model``."""
    with monkeypatch.context() as old_code:
        old_code.setattr(SqliteRenderQueue, "MIGRATIONS", MIGRATIONS[:2])
        q = SqliteRenderQueue(tmp_path / "studio.db", tmp_path / "renders")
        try:
            assert q.schema_version() == 2
            earlier = q.enqueue(make_spec(shot="1A"), backend="animatic", idempotency_key="a")
        finally:
            q.close()
    q = SqliteRenderQueue(tmp_path / "studio.db", tmp_path / "renders")
    try:
        assert q.schema_version() == len(MIGRATIONS)
        assert q.job(earlier.id).status == "queued"
        later = q.enqueue(make_spec(shot="1B"), backend="comfyui", idempotency_key="b")
        assert q.record(later.id).seq > q.record(earlier.id).seq
        claimed = q.claim_next("w1", "gpu0")
        assert claimed is not None and claimed.id == earlier.id
        assert q.start(earlier.id, "w1") is not None
        q.finish(earlier.id, "w1", "failed", message="no checkpoint", failure_class="missing_model")
        assert q.job(earlier.id).failure_class == "missing_model"
        indexes = {r[0] for r in q.conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
        assert {"render_jobs_runnable", "render_jobs_by_project", "render_jobs_by_worker",
                "render_jobs_by_slot"} <= indexes
    finally:
        q.close()


def test_enqueue_and_list(queue: SqliteRenderQueue):
    job = queue.enqueue(make_spec(shot="1A"), backend="animatic", idempotency_key="k1")
    assert job.status == "queued" and job.attempts == 0 and job.progress == 0
    assert (job.project_id, job.scene_id, job.shot_id, job.kind) == ("p", "sc-1", "1A", "clip")
    assert job.backend == "animatic" and job.preset == "fast"
    other = queue.enqueue(make_spec(project="q", shot="2A"), backend="animatic", idempotency_key="k2")
    assert [j.id for j in queue.jobs()] == [job.id, other.id]
    assert [j.id for j in queue.jobs("q")] == [other.id]
    assert queue.record(job.id).render_spec() == make_spec(shot="1A")
    with pytest.raises(JobNotFound):
        queue.job("job-nope")


def test_enqueue_rejects_bad_requests(queue: SqliteRenderQueue):
    with pytest.raises(PresetError):
        queue.enqueue(make_spec(preset="ultra"), backend="animatic", idempotency_key="x")
    with pytest.raises(QueueError, match="backend"):
        queue.enqueue(make_spec(), backend="../evil", idempotency_key="x")
    assert queue.jobs() == []


def test_same_key_makes_one_job(queue: SqliteRenderQueue):
    first = queue.enqueue(make_spec(), backend="animatic", idempotency_key="tab")
    second = queue.enqueue(make_spec(), backend="animatic", idempotency_key="tab")
    assert first.id == second.id
    assert len(queue.jobs()) == 1
    by_spec = queue.enqueue(make_spec(shot="9Z"), backend="animatic", idempotency_key=None)
    assert queue.enqueue(make_spec(shot="9Z"), backend="animatic", idempotency_key=None).id == by_spec.id
    assert spec_key(make_spec(), "animatic") != spec_key(make_spec(), "comfyui")


def test_same_key_from_many_threads_makes_one_job(tmp_path: Path):
    q = SqliteRenderQueue(tmp_path / "studio.db", tmp_path / "renders")
    barrier = threading.Barrier(8)
    ids: list[str] = []

    def tab() -> None:
        barrier.wait()
        ids.append(q.enqueue(make_spec(), backend="animatic", idempotency_key="same").id)

    threads = [threading.Thread(target=tab) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert len(ids) == 8 and len(set(ids)) == 1
        assert len(q.jobs()) == 1
    finally:
        q.close()


ENQUEUE_SCRIPT = """
import sys, time
sys.path.insert(0, sys.argv[3])
from render_backends import make_spec
from render.queue import SqliteRenderQueue
from pathlib import Path
home = Path(sys.argv[1])
q = SqliteRenderQueue(home / "studio.db", home / "renders")
start = float(sys.argv[2])
while time.time() < start:
    time.sleep(0.001)
ids = {q.enqueue(make_spec(), backend="animatic", idempotency_key="twin").id for _ in range(20)}
print(",".join(ids))
"""


def test_same_key_from_two_processes_makes_one_job(tmp_path: Path):
    import time

    SqliteRenderQueue(tmp_path / "studio.db", tmp_path / "renders").close()
    start = str(time.time() + 1.0)
    tests_dir = str(Path(__file__).parent)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", ENQUEUE_SCRIPT, str(tmp_path), start, tests_dir],
            stdout=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=30)[0].strip() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert len(set(outs)) == 1 and "," not in outs[0]
    q = SqliteRenderQueue(tmp_path / "studio.db", tmp_path / "renders")
    try:
        assert [j.id for j in q.jobs()] == [outs[0]]
    finally:
        q.close()


def _run_to_failure(queue: SqliteRenderQueue, job_id: str) -> None:
    assert queue.claim_next("w", "gpu0").id == job_id
    queue.start(job_id, "w")
    assert queue.finish(job_id, "w", "failed", message="boom", failure_class="error")


def test_a_failed_or_cancelled_key_starts_a_new_attempt(queue: SqliteRenderQueue):
    first = queue.enqueue(make_spec(), backend="animatic", idempotency_key="k")
    _run_to_failure(queue, first.id)
    second = queue.enqueue(make_spec(), backend="animatic", idempotency_key="k")
    assert second.id != first.id and second.status == "queued"
    old = queue.record(first.id)
    assert old.idempotency_key is None and old.superseded_key == "k" and old.status == "failed"
    assert queue.record(second.id).previous_job_id == first.id
    queue.cancel(second.id)
    third = queue.enqueue(make_spec(), backend="animatic", idempotency_key="k")
    assert third.id not in (first.id, second.id)
    assert queue.enqueue(make_spec(), backend="animatic", idempotency_key="k").id == third.id


def _publish_for(queue: SqliteRenderQueue, job_id: str, tmp_path: Path):
    rec = queue.record(job_id)
    tmp = queue.temp_dir(rec, rec.attempts or 1)
    tmp.mkdir(parents=True)
    (tmp / "out.txt").write_text("frames")
    output = RenderOutput(files=(tmp / "out.txt",))
    manifest = build_manifest(rec.render_spec(), backend=rec.backend, job_id=job_id, output=output, out_dir=tmp)
    return publish(tmp, queue.output_dir(rec), manifest)


def test_a_done_job_is_returned_as_it_is(queue: SqliteRenderQueue, tmp_path: Path):
    job = queue.enqueue(make_spec(), backend="animatic", idempotency_key="k")
    queue.claim_next("w", "gpu0")
    queue.start(job.id, "w")
    with pytest.raises(QueueError, match="published"):
        queue.finish(job.id, "w", "done", message="done")
    published = _publish_for(queue, job.id, tmp_path)
    assert queue.finish(job.id, "w", "done", message="done", published=published)
    done = queue.job(job.id)
    assert done.status == "done" and done.progress == 1.0
    assert done.outputs == (str(published.folder / "out.txt"),)
    assert done.manifest == str(published.folder / "manifest.json")
    assert queue.enqueue(make_spec(), backend="animatic", idempotency_key="k") == done


def test_claim_is_fifo_and_one_job_per_slot(queue: SqliteRenderQueue, clock: Clock):
    a = queue.enqueue(make_spec(shot="1A"), backend="animatic", idempotency_key="a")
    b = queue.enqueue(make_spec(shot="1B"), backend="animatic", idempotency_key="b")
    c = queue.enqueue(make_spec(shot="1C"), backend="comfyui", idempotency_key="c")
    got = queue.claim_next("w1", "gpu0")
    assert got.id == a.id and got.worker_id == "w1" and got.status == "queued"
    assert queue.claim_next("w2", "gpu0") is None  # slot held, even before start
    assert queue.start(a.id, "w2") is None  # not w2's
    assert queue.start(a.id, "w1").status == "running"
    assert queue.claim_next("w2", "gpu0") is None
    assert queue.claim_next("w2", "gpu1", backends=["comfyui"]).id == c.id
    assert queue.claim_next("w3", "gpu2").id == b.id


def test_release_gives_a_job_back(queue: SqliteRenderQueue):
    claimed = queue.enqueue(make_spec(shot="1A"), backend="animatic", idempotency_key="a")
    running = queue.enqueue(make_spec(shot="1B"), backend="animatic", idempotency_key="b")
    queue.claim_next("w", "gpu0")
    queue.release(claimed.id, "w")
    assert queue.record(claimed.id).worker_id is None
    queue.claim_next("w", "gpu0")
    queue.start(claimed.id, "w")
    queue.release(claimed.id, "w")
    info = queue.job(claimed.id)
    assert info.status == "queued" and info.attempts == 0
    # A claim left standing by a worker error never blocks that worker's slot.
    assert queue.claim_next("w", "gpu0").id == claimed.id
    assert queue.claim_next("w", "gpu0").id == claimed.id
    assert queue.record(running.id).worker_id is None


def test_deferred_job_waits_for_its_time(queue: SqliteRenderQueue, clock: Clock):
    job = queue.enqueue(make_spec(), backend="comfyui", idempotency_key="v")
    queue.claim_next("w", "gpu0")
    assert queue.defer(job.id, "w", status="waiting_vram", message="waiting for VRAM: 100 free", delay_s=5)
    info = queue.job(job.id)
    assert info.status == "waiting_vram" and "VRAM" in info.message
    assert queue.claim_next("w", "gpu0") is None
    clock.now += 5
    assert queue.claim_next("w", "gpu0").id == job.id
    # Repeated waits with a moving message do not flood the event log: at most one event
    # per EVENT_MIN_INTERVAL_S (the clock stands still here).
    before = len(queue.events(job_id=job.id))
    for free in range(10):
        queue.defer(job.id, "w", status="waiting_vram", message=f"waiting for VRAM: {free} free", delay_s=0)
        queue.claim_next("w", "gpu0")
    assert len(queue.events(job_id=job.id)) == before + 1
    with pytest.raises(QueueError):
        queue.defer(job.id, "w", status="running", message="x", delay_s=0)


def test_cancel_queued_at_once_and_running_on_request(queue: SqliteRenderQueue):
    a = queue.enqueue(make_spec(shot="1A"), backend="animatic", idempotency_key="a")
    b = queue.enqueue(make_spec(shot="1B"), backend="animatic", idempotency_key="b")
    queue.claim_next("w", "gpu0")
    queue.start(a.id, "w")
    assert queue.set_progress(a.id, "w", 0.3, "step 3") is None
    assert queue.cancel(b.id).status == "cancelled"
    asked = queue.cancel(a.id)
    assert asked.status == "running" and asked.message == "cancelling…"
    assert queue.stop_reason(a.id, "w") == "cancelled"
    assert queue.set_progress(a.id, "w", 0.4, "step 4") == "cancelled"
    assert queue.stop_reason(a.id, "other") == "lost"
    assert queue.finish(a.id, "w", "cancelled", message="cancelled")
    assert queue.job(a.id).status == "cancelled"
    assert queue.cancel(a.id).status == "cancelled"  # idempotent
    # A claimed job cancelled before it starts never runs.
    c = queue.enqueue(make_spec(shot="1C"), backend="animatic", idempotency_key="c")
    queue.claim_next("w", "gpu0")
    queue.cancel(c.id)
    assert queue.start(c.id, "w") is None
    assert queue.claim_next("w", "gpu0") is None


def test_requeue_of_a_cancelled_job_ends_it(queue: SqliteRenderQueue):
    job = queue.enqueue(make_spec(), backend="animatic", idempotency_key="a")
    queue.claim_next("w", "gpu0")
    queue.start(job.id, "w")
    queue.cancel(job.id)
    assert queue.requeue(job.id, "w", message="retry", delay_s=1)
    assert queue.job(job.id).status == "cancelled"


def test_events_are_polled_incrementally(queue: SqliteRenderQueue):
    job = queue.enqueue(make_spec(), backend="animatic", idempotency_key="a")
    first = queue.events()
    assert [(e.status, e.message) for e in first] == [("queued", "queued")]
    queue.claim_next("w", "gpu0")
    queue.start(job.id, "w")
    queue.set_progress(job.id, "w", 0.5, "half")
    later = queue.events(first[-1].id)
    assert [(e.status, e.progress) for e in later] == [("running", 0.0), ("running", 0.5)]
    assert queue.events(later[-1].id) == []
    assert queue.events(project_id="other") == []
    assert queue.counts()["running"] == 1


def _running_job(queue: SqliteRenderQueue, worker: str, key: str, **kwargs) -> str:
    job = queue.enqueue(make_spec(shot=key.upper() if key[0].isdigit() else "1A", **kwargs),
                        backend="animatic", idempotency_key=key)
    assert queue.claim_next(worker, f"slot-{key}").id == job.id
    queue.start(job.id, worker)
    return job.id


def test_recover_requeues_fails_or_completes_jobs_of_dead_workers(
    queue: SqliteRenderQueue, tmp_path: Path
):
    pid = dead_pid()
    queue.register_worker("dead", pid=pid, slot="gpu0", pid_start="123")
    queue.register_worker("live", pid=__import__("os").getpid(), slot="gpu1")
    assert not pid_alive(pid)

    resumed = _running_job(queue, "dead", "1A")
    partial_tmp = queue.temp_dir(queue.record(resumed), 1)
    partial_tmp.mkdir(parents=True)
    (partial_tmp / "out.txt").write_text("step 1")
    unpublished_final = queue.output_dir(queue.record(resumed))
    unpublished_final.mkdir()
    (unpublished_final / "out.txt").write_text("renamed but no marker")

    spent = queue.enqueue(make_spec(shot="2A"), backend="animatic", idempotency_key="2a", max_attempts=1)
    queue.claim_next("dead", "slot-2a")
    queue.start(spent.id, "dead")

    finished = queue.enqueue(make_spec(shot="3A"), backend="animatic", idempotency_key="3a")
    queue.claim_next("dead", "slot-3a")
    queue.start(finished.id, "dead")
    published = _publish_for(queue, finished.id, tmp_path)

    asked = queue.enqueue(make_spec(shot="4A"), backend="animatic", idempotency_key="4a")
    queue.claim_next("dead", "slot-4a")
    queue.start(asked.id, "dead")
    queue.cancel(asked.id)

    claimed = queue.enqueue(make_spec(shot="5A"), backend="animatic", idempotency_key="5a")
    queue.claim_next("dead", "slot-5a")

    alive = queue.enqueue(make_spec(shot="6A"), backend="animatic", idempotency_key="6a")
    queue.claim_next("live", "gpu1")
    queue.start(alive.id, "live")
    live_tmp = queue.temp_dir(queue.record(alive.id), 1)
    live_tmp.mkdir(parents=True)

    report = queue.recover()
    assert report.dead_workers == ("dead",)
    assert report.requeued == (resumed,)
    assert report.failed == (spent.id,)
    assert report.done == (finished.id,)
    assert report.cancelled == (asked.id,)
    assert report.released == (claimed.id,)

    r = queue.job(resumed)
    assert r.status == "queued" and r.attempts == 1 and "resumed" in r.message
    s = queue.job(spent.id)
    assert s.status == "failed" and s.failure_class == "interrupted" and "no attempts left" in s.message
    d = queue.job(finished.id)
    assert d.status == "done" and d.outputs == tuple(str(p) for p in published.files)
    assert is_published(Path(d.outputs[0]).parent)
    assert queue.job(asked.id).status == "cancelled"
    assert queue.record(claimed.id).worker_id is None
    assert queue.job(alive.id).status == "running"
    # Partials of the recovered job are gone; the live job's temp folder is not.
    assert not partial_tmp.exists() and not unpublished_final.exists()
    assert live_tmp.exists()
    assert (published.folder / MARKER).exists()
    # The resumed job runs again as attempt 2.
    queue.register_worker("w2", pid=__import__("os").getpid(), slot="gpu0")
    assert queue.claim_next("w2", "gpu0").id == resumed
    assert queue.start(resumed, "w2").attempts == 2
    # The dead worker's heartbeat is refused; its late writes are ignored.
    assert queue.heartbeat("dead") is False
    assert queue.set_progress(resumed, "dead", 0.9, "late") == "lost"
    assert not queue.finish(resumed, "dead", "failed", message="late", failure_class="error")
    assert queue.recover().requeued == ()


def test_recover_treats_a_stale_heartbeat_as_dead(queue: SqliteRenderQueue, clock: Clock):
    import os

    queue.register_worker("sleepy", pid=os.getpid(), slot="gpu0")
    job = _running_job(queue, "sleepy", "1A")
    assert queue.recover().requeued == ()
    clock.now += queue.stale_after_s + 1
    assert queue.recover().requeued == (job,)
    assert [w.id for w in queue.workers()] == []


def test_jobs_of_unknown_workers_are_recovered(queue: SqliteRenderQueue):
    job = _running_job(queue, "never-registered", "1A")
    assert queue.recover().requeued == (job,)


def test_clean_unregister_requeues_without_spending_an_attempt(queue: SqliteRenderQueue):
    import os

    queue.register_worker("w", pid=os.getpid(), slot="gpu0")
    job = _running_job(queue, "w", "1A")
    queue.unregister_worker("w")
    info = queue.job(job)
    assert info.status == "queued" and info.attempts == 0 and "resume" in info.message
    assert queue.workers() == [] and queue.workers(include_stopped=True)[0].state == "stopped"


def test_spawn_once_starts_one_worker(queue: SqliteRenderQueue):
    import os

    calls: list[int] = []

    def spawn() -> tuple[int, str | None]:
        calls.append(1)
        return os.getpid(), process_start(os.getpid())

    assert queue.spawn_once("gpu0", spawn) == (os.getpid(), True)
    assert queue.spawn_once("gpu0", spawn) == (os.getpid(), False)
    assert len(calls) == 1
    assert queue.workers()[0].state == "starting"
    queue.register_worker("real", pid=os.getpid(), slot="gpu0")
    assert [w.id for w in queue.workers()] == ["real"]


def test_pid_alive():
    import os

    assert pid_alive(os.getpid(), process_start(os.getpid()))
    assert not pid_alive(os.getpid(), "not-my-start-time")
    assert not pid_alive(dead_pid())
    assert not pid_alive(0)
