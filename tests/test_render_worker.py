"""The render worker: preflight, retries, OOM fallback, breaker, cancel — and real processes
killed with SIGKILL mid-job, two workers on one GPU slot, and ``ensure_worker``."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from fakes import FakeGpuProbe
from render_backends import StepBackend, make_spec, run_record, wait_for

from render.gpu import NvmlGpuProbe
from render.manifest import MANIFEST, is_published, read_manifest
from render.presets import PRESETS_PATH, get_preset
from render.queue import SqliteRenderQueue
from render.worker import (
    CircuitBreaker,
    MissingBackend,
    RetryPolicy,
    WorkerOptions,
    build_backends,
    ensure_worker,
    lowered_spec,
    open_queue,
    run_worker,
    unload_ollama,
    worker_status,
)
from studio.config import Settings
from studio.model import PostSpec, RenderSpec
from studio.ports import GpuSnapshot

REPO = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent

FAST = WorkerOptions(
    poll_s=0.02,
    heartbeat_s=0.1,
    retry=RetryPolicy(base_s=0.05, cap_s=0.2),
    progress_interval_s=0.05,
    cancel_check_s=0.02,
    breaker_threshold=2,
    breaker_reset_s=0.4,
    sample_vram_s=0.02,
)
BIG_GPU = GpuSnapshot(available=True, name="Test GPU 80GB", total_mb=81_920, free_mb=80_000)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path)


@pytest.fixture
def queue(settings: Settings) -> Iterator[SqliteRenderQueue]:
    q = open_queue(settings)
    yield q
    q.close()


@contextmanager
def worker_thread(settings: Settings, backends, probe, *, options: WorkerOptions = FAST, **kwargs):
    stop = threading.Event()
    errors: list[BaseException] = []

    def target() -> None:
        try:
            run_worker(settings, backends, probe, stop_event=stop, options=options, **kwargs)
        except BaseException as exc:  # surfaced below: the worker must never crash
            errors.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    try:
        yield stop
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive(), "the worker did not stop"
    assert errors == []


def project_dirs(settings: Settings, project: str = "p") -> list[Path]:
    folder = settings.home / "renders" / project
    return sorted(folder.iterdir()) if folder.exists() else []


def messages(queue: SqliteRenderQueue, job_id: str) -> list[str]:
    return [e.message for e in queue.events(job_id=job_id)]


# --------------------------------------------------------------------------- in process


def test_a_job_runs_to_a_published_output(settings: Settings, queue: SqliteRenderQueue):
    job = queue.enqueue(make_spec(test_steps="4"), backend="test", idempotency_key="k")
    assert run_worker(settings, {"test": StepBackend()}, FakeGpuProbe(), once=True, options=FAST) == 1
    info = queue.job(job.id)
    assert info.status == "done" and info.progress == 1.0 and info.attempts == 1
    assert info.message == "done" and info.failure_class is None
    out = Path(info.outputs[0])
    assert out.name == "out.txt" and is_published(out.parent)
    assert info.manifest == str(out.parent / MANIFEST)
    manifest = read_manifest(out.parent)
    assert manifest.job_id == job.id and manifest.attempt == 1 and manifest.backend == "test"
    assert manifest.models == ("test-model-v1",) and manifest.versions["test-backend"] == "1.0"
    assert {"queued_s", "preflight_s", "render_s"} <= set(manifest.timings_s)
    assert [d.name for d in project_dirs(settings)] == [job.id]  # no temp folder left
    statuses = [e.status for e in queue.events(job_id=job.id)]
    assert statuses[0] == "queued" and statuses[1] == "running" and statuses[-1] == "done"
    progress = [e.progress for e in queue.events(job_id=job.id) if e.status == "running"]
    assert progress == sorted(progress) and progress[-1] == 1.0
    assert queue.record(job.id).timings["publish_s"] >= 0
    assert queue.workers() == []  # unregistered on the way out


def test_missing_backend_and_missing_input_fail_clearly(settings: Settings, queue: SqliteRenderQueue, tmp_path: Path):
    no_backend = queue.enqueue(make_spec(shot="1A"), backend="comfyui", idempotency_key="a")
    no_input = queue.enqueue(
        make_spec(shot="1B", inputs={"start_frame": str(tmp_path / "gone.png")}),
        backend="test",
        idempotency_key="b",
    )
    run_worker(settings, {"test": StepBackend()}, FakeGpuProbe(), once=True, options=FAST)
    a = queue.job(no_backend.id)
    assert a.status == "failed" and a.failure_class == "error"
    assert "comfyui" in a.message and "not available" in a.message
    b = queue.job(no_input.id)
    assert b.status == "failed" and b.failure_class == "validation"
    assert "'start_frame' is missing" in b.message and "re-render" in b.message


def test_build_backends_builds_both_backends(tmp_path: Path):
    settings = Settings(home=tmp_path, comfyui_url="http://127.0.0.1:8199")
    backends = build_backends(settings)
    assert set(backends) == {"animatic", "comfyui"}
    for name, backend in backends.items():
        assert backend.name == name
        assert not isinstance(backend, MissingBackend), getattr(backend, "reason", "")


def test_build_backends_reports_an_unimportable_backend(settings: Settings, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "render.comfy", None)  # import fails
    backends = build_backends(settings)
    assert set(backends) == {"animatic", "comfyui"}
    assert isinstance(backends["comfyui"], MissingBackend)
    assert "render.comfy" in backends["comfyui"].reason


def test_cancel_running_stops_only_that_job(settings: Settings, queue: SqliteRenderQueue):
    slow = {"test_steps": "100", "test_sleep": "0.02"}
    first = queue.enqueue(make_spec(shot="1A", **slow), backend="test", idempotency_key="a")
    second = queue.enqueue(make_spec(shot="1B", test_steps="3"), backend="test", idempotency_key="b")
    with worker_thread(settings, {"test": StepBackend()}, FakeGpuProbe()):
        wait_for(lambda: queue.job(first.id).progress > 0)
        queue.cancel(first.id)
        wait_for(lambda: queue.job(second.id).status == "done")
    a = queue.job(first.id)
    assert a.status == "cancelled" and a.outputs == () and 0 < a.progress < 1
    assert queue.job(second.id).attempts == 1
    assert [d.name for d in project_dirs(settings)] == [second.id]


class _OllamaHandler(BaseHTTPRequestHandler):
    seen: list[tuple[str, dict]] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.seen.append((self.path, body))
        reply = json.dumps({"model": body.get("model"), "done": True, "done_reason": "unload"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def ollama() -> Iterator[tuple[str, list]]:
    seen: list[tuple[str, dict]] = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), type("H", (_OllamaHandler,), {"seen": seen}))
    threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def test_vram_preflight_waits_then_proceeds(tmp_path: Path, ollama):
    url, seen = ollama
    settings = Settings(home=tmp_path, llm_backend="ollama", ollama_url=url, ollama_model="mistral")
    queue = open_queue(settings)
    probe = FakeGpuProbe(GpuSnapshot(available=True, name="RTX 4090", total_mb=24_564, free_mb=1_000))
    job = queue.enqueue(make_spec(kind="clip", preset="fast"), backend="comfyui", idempotency_key="v")
    backend = StepBackend("comfyui", needs_gpu=True)
    try:
        with worker_thread(settings, {"comfyui": backend}, probe):
            info = wait_for(lambda: (j := queue.job(job.id)).status == "waiting_vram" and j)
            assert "waiting for VRAM: needs 7168 MiB" in info.message
            assert "1000 of 24564 MiB free on RTX 4090" in info.message
            time.sleep(0.2)  # it keeps waiting, re-checking every poll
            assert queue.job(job.id).status == "waiting_vram" and backend.runs == []
            # The configured Ollama was asked to unload its model before the GPU job.
            assert ("/api/generate", {"model": "mistral", "keep_alive": 0}) in seen
            probe.snapshot_value = GpuSnapshot(True, "RTX 4090", 24_564, 20_000)
            wait_for(lambda: queue.job(job.id).status == "done")
        info = queue.job(job.id)
        assert info.attempts == 1
        manifest = read_manifest(Path(info.outputs[0]).parent)
        assert manifest.gpu == "RTX 4090"
        assert manifest.peak_vram_mb == pytest.approx(24_564 - 20_000)
        assert "waiting_vram" in [e.status for e in queue.events(job_id=job.id)]
    finally:
        queue.close()


class ClimbingGpu:
    """An 80 GB card whose used memory climbs 250 MiB per snapshot while a job loads, then
    settles back (the shape of a model load followed by sampling)."""

    def __init__(self) -> None:
        self.calls = 0

    def snapshot(self) -> GpuSnapshot:
        self.calls += 1
        used = 4_000 + 250 * min(self.calls, 12) - 100 * max(0, self.calls - 12)
        return GpuSnapshot(True, "Test GPU 80GB", 81_920, 81_920 - max(used, 4_000))


class FlakyGpu:
    """Answers the preflight with a big free card, then fails (or loses the card)."""

    def __init__(self, then: str) -> None:
        self.then = then
        self.calls = 0

    def snapshot(self) -> GpuSnapshot:
        self.calls += 1
        if self.calls == 1:
            return BIG_GPU
        if self.then == "raise":
            raise RuntimeError("NVML: GPU is lost")
        return GpuSnapshot(available=False)


def test_a_gpu_job_records_vram_samples_over_time(settings: Settings, queue: SqliteRenderQueue):
    job = queue.enqueue(make_spec(test_steps="5", test_sleep="0.06"), backend="comfyui", idempotency_key="s")
    probe = ClimbingGpu()
    backend = StepBackend("comfyui", needs_gpu=True)
    assert run_worker(settings, {"comfyui": backend}, probe, once=True, options=FAST) == 1
    info = queue.job(job.id)
    assert info.status == "done"
    samples = info.vram_samples
    assert len(samples) >= 2
    times = [t for t, _ in samples]
    assert times == sorted(times) and len(set(times)) == len(times) and times[-1] >= 0.2
    used = [u for _, u in samples]
    assert used[0] < max(used)  # it saw the climb
    assert info.peak_vram_mb == max(used)
    assert read_manifest(Path(info.outputs[0]).parent).peak_vram_mb == max(used)


@pytest.mark.parametrize("then", ["raise", "gone"])
def test_a_failing_probe_never_fails_the_job(settings: Settings, queue: SqliteRenderQueue, then: str):
    job = queue.enqueue(make_spec(test_steps="3", test_sleep="0.03"), backend="comfyui", idempotency_key="f")
    probe = FlakyGpu(then)
    run_worker(settings, {"comfyui": StepBackend("comfyui", needs_gpu=True)}, probe, once=True, options=FAST)
    info = queue.job(job.id)
    assert info.status == "done" and info.vram_samples == () and info.peak_vram_mb is None
    assert probe.calls >= 3  # it was sampled, and shrugged the failures off


def test_a_cpu_job_is_not_sampled(settings: Settings, queue: SqliteRenderQueue):
    job = queue.enqueue(make_spec(test_steps="3", test_sleep="0.03"), backend="test", idempotency_key="c")
    probe = ClimbingGpu()
    run_worker(settings, {"test": StepBackend()}, probe, once=True, options=FAST)
    info = queue.job(job.id)
    assert info.status == "done" and info.vram_samples == () and info.peak_vram_mb is None
    assert probe.calls == 0  # the CPU path does not even look at the GPU


def test_no_gpu_with_a_gpu_backend_waits_with_a_message(settings: Settings, queue: SqliteRenderQueue):
    job = queue.enqueue(make_spec(), backend="comfyui", idempotency_key="n")
    anim = queue.enqueue(make_spec(shot="1B"), backend="animatic", idempotency_key="m")
    backends = {"comfyui": StepBackend("comfyui", needs_gpu=True), "animatic": StepBackend("animatic")}
    probe = NvmlGpuProbe(index=99)  # no such card, here or anywhere
    with worker_thread(settings, backends, probe):
        info = wait_for(lambda: (j := queue.job(job.id)).status == "waiting_vram" and j)
        # The CPU job behind it is not held up.
        wait_for(lambda: queue.job(anim.id).status == "done")
    assert "waiting for a GPU" in info.message and "animatic" in info.message
    assert "no GPU with index 99" in info.message or "driver" in info.message
    assert queue.job(job.id).status == "waiting_vram"


def test_a_card_too_small_says_so(settings: Settings, queue: SqliteRenderQueue):
    job = queue.enqueue(make_spec(preset="cinematic", width=1280, height=720), backend="comfyui", idempotency_key="c")
    probe = FakeGpuProbe(GpuSnapshot(True, "GTX 1070", 8_192, 8_000))
    run_worker(settings, {"comfyui": StepBackend("comfyui", needs_gpu=True)}, probe, once=True, options=FAST)
    info = queue.job(job.id)
    assert info.status == "waiting_vram" and "never fit" in info.message and "lower preset" in info.message


def test_oom_retries_once_at_the_lower_preset(settings: Settings, queue: SqliteRenderQueue):
    spec = make_spec(preset="production-stable", width=1280, height=720, test_fail="oom@production-stable")
    job = queue.enqueue(spec, backend="comfyui", idempotency_key="o")
    backends = {"comfyui": StepBackend("comfyui", needs_gpu=True)}
    run_worker(settings, backends, FakeGpuProbe(BIG_GPU), once=True, options=FAST)
    info = queue.job(job.id)
    assert info.status == "done" and info.preset == "fast" and info.attempts == 2
    assert "fell back from production-stable" in info.message
    assert any("out of GPU memory at production-stable; retrying once at fast (854x480)" in m
               for m in messages(queue, job.id))
    record = run_record(Path(info.outputs[0]))
    assert (record["preset"], record["width"], record["height"]) == ("fast", 854, 480)
    manifest = read_manifest(Path(info.outputs[0]).parent)
    assert manifest.fallback_from == "production-stable" and manifest.preset == "fast"
    assert manifest.attempt == 2


def test_a_cpu_servers_out_of_memory_is_said_as_system_ram(settings: Settings, queue: SqliteRenderQueue):
    text = "ComfyUI ran out of memory (system RAM) in KSampler (node 3): DefaultCPUAllocator"
    job = queue.enqueue(make_spec(test_fail="oom@fast", test_oom_text=text, test_oom_memory="memory (system RAM)"),
                        backend="comfyui", idempotency_key="m")
    run_worker(settings, {"comfyui": StepBackend("comfyui", needs_gpu=True)}, FakeGpuProbe(BIG_GPU),
               once=True, options=FAST)
    info = queue.job(job.id)
    assert info.status == "failed" and info.failure_class == "oom"
    assert info.message.startswith("out of memory (system RAM) at fast") and "GPU" not in info.message


def test_oom_twice_or_at_the_floor_fails(settings: Settings, queue: SqliteRenderQueue):
    twice = queue.enqueue(
        make_spec(shot="1A", preset="cinematic", width=1280, height=720,
                  test_fail="oom@cinematic,production-stable"),
        backend="comfyui", idempotency_key="t",
    )
    floor = queue.enqueue(make_spec(shot="1B", test_fail="oom@fast"), backend="comfyui", idempotency_key="f")
    backends = {"comfyui": StepBackend("comfyui", needs_gpu=True)}
    run_worker(settings, backends, FakeGpuProbe(BIG_GPU), once=True, options=FAST)
    a = queue.job(twice.id)
    assert a.status == "failed" and a.failure_class == "oom" and a.preset == "production-stable"
    assert "even after falling back from cinematic" in a.message
    b = queue.job(floor.id)
    assert b.status == "failed" and b.failure_class == "oom" and "no lower preset" in b.message
    assert b.attempts == 1


def test_retryable_errors_back_off_then_succeed(settings: Settings, queue: SqliteRenderQueue):
    job = queue.enqueue(
        make_spec(test_fail="lost", test_retryable="1", test_fail_times="2"),
        backend="test", idempotency_key="r",
    )
    with worker_thread(settings, {"test": StepBackend()}, FakeGpuProbe()):
        wait_for(lambda: queue.job(job.id).status == "done")
    info = queue.job(job.id)
    assert info.attempts == 3
    retries = [m for m in messages(queue, job.id) if "retrying in" in m]
    assert len(retries) == 2 and "attempt 1 of 3 failed" in retries[0]


def test_backoff_delays_the_next_attempt(settings: Settings, queue: SqliteRenderQueue):
    job = queue.enqueue(make_spec(test_fail="lost", test_retryable="1"), backend="test", idempotency_key="b")
    before = time.time()
    slow = WorkerOptions(poll_s=0.02, heartbeat_s=0.1, retry=RetryPolicy(base_s=30, cap_s=60))
    run_worker(settings, {"test": StepBackend()}, FakeGpuProbe(), once=True, options=slow)
    record = queue.record(job.id)
    assert record.status == "queued" and record.failure_class == "lost" and record.attempts == 1
    assert before + 15 <= record.not_before <= time.time() + 30


def test_retries_run_out_and_fatal_errors_fail_at_once(settings: Settings, queue: SqliteRenderQueue):
    spent = queue.enqueue(make_spec(shot="1A", test_fail="lost", test_retryable="1"),
                          backend="test", idempotency_key="s", max_attempts=2)
    fatal = queue.enqueue(make_spec(shot="1B", test_fail="missing_node"), backend="test", idempotency_key="f")
    with worker_thread(settings, {"test": StepBackend()}, FakeGpuProbe()):
        wait_for(lambda: queue.job(spent.id).status == "failed" and queue.job(fatal.id).status == "failed")
    a, b = queue.job(spent.id), queue.job(fatal.id)
    assert (a.failure_class, a.attempts) == ("lost", 2)
    assert (b.failure_class, b.attempts) == ("missing_node", 1)
    assert "scripted missing_node failure" in b.message


def test_breaker_opens_after_backend_down_and_half_opens(settings: Settings, queue: SqliteRenderQueue):
    first = queue.enqueue(make_spec(shot="1A"), backend="comfyui", idempotency_key="d")
    second = queue.enqueue(make_spec(shot="1B"), backend="comfyui", idempotency_key="e")
    backend = StepBackend("comfyui", down_runs=3)  # the server answers from the 4th run on
    started = time.monotonic()
    with worker_thread(settings, {"comfyui": backend}, FakeGpuProbe()):
        # Two failures in a row open the breaker; the other job waits with a message.
        wait_for(lambda: any("paused until" in m for j in (first, second) for m in messages(queue, j.id)))
        # The sidebar sees it through the worker's heartbeat.
        wait_for(lambda: worker_status(queue)["breakers"].get("comfyui", {}).get("state") == "open")
        wait_for(lambda: queue.counts()["done"] == 2)
    elapsed = time.monotonic() - started
    # Open after run 2; after reset_s one probe (run 3) fails and reopens it; run 4 succeeds.
    assert len(backend.runs) == 5
    assert elapsed >= 2 * FAST.breaker_reset_s
    texts = messages(queue, first.id) + messages(queue, second.id)
    assert any("comfyui backend is down" in m and "paused after 2 failures" in m for m in texts)
    assert any("paused after 3 failures" in m for m in texts)
    # backend_down runs are not counted against the jobs: they never got to render.
    assert [queue.job(j.id).attempts for j in (first, second)] == [1, 1]


def test_breaker_is_per_backend(settings: Settings, queue: SqliteRenderQueue):
    down = [queue.enqueue(make_spec(shot=f"{i}A"), backend="comfyui", idempotency_key=f"d{i}") for i in range(3)]
    other = queue.enqueue(make_spec(shot="9A"), backend="test", idempotency_key="o")
    backends = {"comfyui": StepBackend("comfyui", down_runs=1000), "test": StepBackend()}
    with worker_thread(settings, backends, FakeGpuProbe()):
        wait_for(lambda: queue.job(other.id).status == "done")
        wait_for(lambda: worker_status(queue)["breakers"].get("comfyui", {}).get("state") == "open")
    assert all(queue.job(j.id).status == "queued" for j in down)


def test_circuit_breaker_states():
    now = [0.0]
    breaker = CircuitBreaker(threshold=3, reset_s=10, clock=lambda: now[0])
    assert breaker.allow() and breaker.state == "closed"
    breaker.record_failure()
    breaker.record_failure()
    breaker.record_success()
    for _ in range(3):
        breaker.record_failure()
    assert breaker.state == "open" and not breaker.allow()
    assert breaker.remaining_s() == 10
    now[0] = 10
    assert breaker.state == "half_open"
    assert breaker.allow() and not breaker.allow()  # one probe at a time
    breaker.record_failure()
    assert breaker.state == "open"
    now[0] = 25
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state == "closed" and breaker.allow()
    assert breaker.describe()["failures"] == 0


def test_retry_policy_is_exponential_jittered_and_capped():
    policy = RetryPolicy(base_s=2, cap_s=20)
    rng = random.Random(1)
    for attempt, ceiling in [(1, 2), (2, 4), (3, 8), (4, 16), (5, 20), (12, 20)]:
        delays = {policy.delay(attempt, rng) for _ in range(20)}
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(delays) > 1


def test_a_job_past_its_time_limit_fails_with_timeout(
    settings: Settings, queue: SqliteRenderQueue, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    custom = tmp_path / "presets.toml"
    custom.write_text(PRESETS_PATH.read_text().replace("job_timeout_s = 1200", "job_timeout_s = 0.3"))
    monkeypatch.setattr("render.presets.PRESETS_PATH", custom)
    assert get_preset("fast").job_timeout_s == 0.3
    job = queue.enqueue(make_spec(test_steps="200", test_sleep="0.02"), backend="test", idempotency_key="t")
    run_worker(settings, {"test": StepBackend()}, FakeGpuProbe(), once=True, options=FAST)
    info = queue.job(job.id)
    assert info.status == "failed" and info.failure_class == "timeout" and "time limit" in info.message


def test_stopping_mid_job_requeues_it_without_spending_an_attempt(settings: Settings, queue: SqliteRenderQueue):
    job = queue.enqueue(make_spec(test_steps="200", test_sleep="0.02"), backend="test", idempotency_key="s")
    with worker_thread(settings, {"test": StepBackend()}, FakeGpuProbe()):
        wait_for(lambda: queue.job(job.id).progress > 0)
    info = queue.job(job.id)
    assert info.status == "queued" and info.attempts == 0 and "resume" in info.message
    assert project_dirs(settings) == []


def test_lowered_spec_keeps_custom_aspect():
    prod, fast = get_preset("production-stable"), get_preset("fast")
    same = lowered_spec(make_spec(preset="production-stable", width=1280, height=720), prod, fast)
    assert (same.preset, same.width, same.height) == ("fast", 854, 480)
    card = lowered_spec(make_spec(preset="production-stable", width=1024, height=1024, kind="card"), prod, fast)
    assert (card.width, card.height) == (682, 682)


def test_unload_ollama_is_best_effort():
    assert unload_ollama("http://127.0.0.1:9", "mistral", timeout_s=0.5) is False


def test_worker_status_without_workers(queue: SqliteRenderQueue, settings: Settings):
    status = worker_status(settings)
    assert status["alive"] is False and status["pid"] is None
    assert status["queue"] == {s: 0 for s in ("queued", "waiting_vram", "running", "done", "failed", "cancelled")}
    assert worker_status(settings.db_path)["alive"] is False


# --------------------------------------------------------------------------- real processes


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), str(REPO)])}


def spawn_worker(home: Path, log_name: str, *extra: str) -> subprocess.Popen:
    log = open(home / log_name, "ab")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(
        [sys.executable, "-m", "render.worker", "--home", str(home),
         "--backend-factory", "render_backends:make", "--poll", "0.05", "--heartbeat", "0.2", *extra],
        cwd=REPO, env=_env(), stdout=log, stderr=subprocess.STDOUT,
    )


def _log(home: Path, name: str) -> str:
    path = home / name
    return path.read_text(errors="replace") if path.exists() else ""


@pytest.mark.slow
@pytest.mark.parametrize(("max_attempts", "outcome"), [(3, "done"), (1, "failed")])
def test_sigkill_mid_job_then_restart(tmp_path: Path, max_attempts: int, outcome: str):
    settings = Settings(home=tmp_path)
    queue = open_queue(settings)
    try:
        job = queue.enqueue(
            make_spec(test_steps="20", test_sleep="0.1"),
            backend="test", idempotency_key="kill", max_attempts=max_attempts,
        )
        proc = spawn_worker(tmp_path, "first.log")
        try:
            wait_for(lambda: queue.job(job.id).progress >= 0.5, timeout=30)
        except AssertionError:
            proc.kill()
            raise AssertionError(_log(tmp_path, "first.log")) from None
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)

        killed = queue.job(job.id)
        assert killed.status == "running" and killed.attempts == 1  # not done, not yet known dead
        folders = project_dirs(settings)
        assert not any(is_published(d) for d in folders)
        assert any(d.name.startswith(".tmp-") for d in folders), "the partial temp folder"

        restart = spawn_worker(tmp_path, "second.log", "--once")
        assert restart.wait(timeout=30) == 0, _log(tmp_path, "second.log")

        info = queue.job(job.id)
        folders = project_dirs(settings)
        published = [d for d in folders if is_published(d)]
        assert [d for d in folders if d not in published] == [], "partials removed"
        if outcome == "done":
            assert info.status == "done" and info.attempts == 2
            assert published == [settings.home / "renders" / "p" / job.id]
            assert read_manifest(published[0]).attempt == 2
            assert Path(info.outputs[0]).read_text().count("step") == 20
            assert any(m.startswith("resumed: the worker stopped during attempt 1") for m in messages(queue, job.id))
        else:
            assert info.status == "failed" and info.failure_class == "interrupted"
            assert info.attempts == 1 and published == [] and info.outputs == ()
        assert queue.job(job.id).status != "done" or published
    finally:
        queue.close()


@pytest.mark.slow
def test_two_worker_processes_share_one_slot(tmp_path: Path):
    settings = Settings(home=tmp_path)
    queue = open_queue(settings)
    workers = [spawn_worker(tmp_path, f"w{i}.log") for i in range(2)]
    try:
        wait_for(lambda: len(queue.alive_workers()) == 2, timeout=30)
        jobs = [
            queue.enqueue(make_spec(shot=f"{i}A", test_steps="3", test_sleep="0.05"),
                          backend="test", idempotency_key=f"j{i}")
            for i in range(1, 7)
        ]
        most_running = 0

        def all_done() -> bool:
            nonlocal most_running
            counts = queue.counts()
            most_running = max(most_running, counts["running"])
            return counts["done"] == len(jobs)

        wait_for(all_done, timeout=30, interval=0.005)
        assert most_running == 1
        runs = sorted((run_record(Path(queue.job(j.id).outputs[0])) for j in jobs), key=lambda r: r["start"])
        for earlier, later in zip(runs, runs[1:], strict=False):
            assert earlier["end"] <= later["start"], "two jobs overlapped on one slot"
        assert {r["pid"] for r in runs} <= {w.pid for w in workers}
    finally:
        for proc in workers:
            proc.send_signal(signal.SIGTERM)
        codes = [proc.wait(timeout=10) for proc in workers]
        queue.close()
    assert codes == [0, 0], _log(tmp_path, "w0.log") + _log(tmp_path, "w1.log")


@pytest.mark.slow
def test_ensure_worker_starts_one_detached_worker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(TESTS), str(REPO)]))
    settings = Settings(home=tmp_path)
    args = ["--backend-factory", "render_backends:make", "--poll", "0.05", "--heartbeat", "0.2"]
    pid = ensure_worker(settings, extra_args=args)
    assert isinstance(pid, int)
    try:
        assert ensure_worker(settings, extra_args=args) == pid  # starting: not a second one
        wait_for(lambda: worker_status(settings)["pid"] == pid, timeout=30)
        assert ensure_worker(settings, extra_args=args) == pid  # alive: not a second one
        queue = open_queue(settings)
        try:
            job = queue.enqueue(make_spec(), backend="test", idempotency_key="e")
            wait_for(lambda: queue.job(job.id).status == "done", timeout=30)
        finally:
            queue.close()
        status = worker_status(settings)
        assert status["alive"] and status["slot"] == "gpu0" and status["queue"]["done"] == 1
    finally:
        os.kill(pid, signal.SIGTERM)
    wait_for(lambda: not worker_status(settings)["alive"], timeout=15)
    assert "serving slot gpu0" in (tmp_path / "logs" / "worker.log").read_text()


def test_worker_cli_rejects_a_bad_factory(tmp_path: Path):
    proc = subprocess.run(
        [sys.executable, "-m", "render.worker", "--home", str(tmp_path), "--backend-factory", "nope"],
        cwd=REPO, env=_env(), capture_output=True, text=True, timeout=30,
    )
    assert proc.returncode == 2 and "module:callable" in proc.stderr


class TorchGpuBackend(StepBackend):
    """A GPU job for real hardware: holds ``test_gib`` GiB of CUDA memory while it steps."""

    def run(self, spec, out_dir, progress, cancelled):  # type: ignore[override]
        import torch

        held = torch.empty(int(float(spec.prompts.get("test_gib", "2")) * 2**30), dtype=torch.uint8, device="cuda")
        held.fill_(1)
        torch.cuda.synchronize()
        try:
            return super().run(spec, out_dir, progress, cancelled)
        finally:
            del held
            torch.cuda.empty_cache()


@pytest.mark.gpu
def test_on_a_real_gpu_the_worker_preflights_with_nvml_and_samples_the_allocation(settings: Settings,
                                                                                  queue: SqliteRenderQueue):
    torch = pytest.importorskip("torch")
    probe = NvmlGpuProbe()
    baseline = probe.snapshot()
    if not baseline.available or not torch.cuda.is_available():
        pytest.skip("needs an NVIDIA GPU with CUDA torch")
    job = queue.enqueue(make_spec(test_steps="8", test_sleep="0.25", test_gib="3"), backend="comfyui",
                        idempotency_key="gpu")
    options = WorkerOptions(poll_s=0.02, heartbeat_s=0.1, progress_interval_s=0.05, cancel_check_s=0.02,
                            sample_vram_s=0.1)
    assert run_worker(settings, {"comfyui": TorchGpuBackend("comfyui", needs_gpu=True)}, probe, once=True,
                      options=options) == 1
    info = queue.job(job.id)
    assert info.status == "done", info.message
    used = [u for _, u in info.vram_samples]
    print(f"GPU {baseline.name}: baseline used {baseline.total_mb - baseline.free_mb:.0f} MiB; samples {len(used)}, "
          f"min {min(used):.0f}, peak {max(used):.0f} MiB")
    assert len(used) >= 5
    assert max(used) - (baseline.total_mb - baseline.free_mb) >= 2.5 * 1024  # the 3 GiB the job held, seen by NVML
    assert info.peak_vram_mb == max(used)


# --------------------------------------------------------------------------- stopping, storage, children


def _children(pid: int) -> list[int]:
    """Direct children of ``pid`` (Linux /proc)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        for child in _children(todo.pop()):
            out.append(child)
            todo.append(child)
    return out


def _animatic_clip(seconds: float, *, shot: str = "1A", post=None) -> RenderSpec:
    return RenderSpec(
        kind="clip", project_id="p", scene_id="sc-1", shot_id=shot, preset="fast", seed=7,
        width=854, height=480, fps=24, duration_s=seconds,
        prompts={"video": "a long slow push in"}, post=post,
    )


@pytest.mark.slow
def test_studio_worker_stops_cleanly_on_sigterm_and_hands_the_job_back(tmp_path: Path):
    """A real ``studio worker`` process, a real animatic clip, a real SIGTERM mid-job."""
    settings = Settings(home=tmp_path)
    queue = open_queue(settings)
    try:
        job = queue.enqueue(_animatic_clip(40.0), backend="animatic", idempotency_key="long")
        with open(tmp_path / "cli.log", "wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "studio.cli", "worker", "--home", str(tmp_path)],
                cwd=REPO, env=_env(), stdout=out, stderr=subprocess.STDOUT,
            )
        try:
            wait_for(lambda: queue.job(job.id).progress >= 0.15, timeout=120)
        except AssertionError:
            proc.kill()
            raise AssertionError(_log(tmp_path, "cli.log")) from None
        assert queue.job(job.id).status == "running" and queue.job(job.id).attempts == 1
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0, _log(tmp_path, "cli.log")

        info = queue.job(job.id)
        assert info.status == "queued", info  # handed back, not burnt
        assert info.attempts == 0 and info.failure_class == "interrupted"
        assert "the worker is stopping; it will resume" in info.message
        assert not queue.alive_workers() and queue.workers(include_stopped=True)[0].state == "stopped"
        log_text = (tmp_path / "logs" / "worker.log").read_text()
        assert "received SIGTERM" in log_text, "studio worker writes logs/worker.log"
    finally:
        queue.close()


@pytest.mark.slow
def test_the_worker_the_app_starts_stops_with_the_app(tmp_path: Path):
    """The app (here a stand-in process calling ``ensure_worker``) is SIGKILLed: its worker
    notices and stops cleanly on its own instead of living on."""
    app = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time\n"
         "from render.worker import ensure_worker\n"
         "from studio.config import Settings\n"
         "pid = ensure_worker(Settings(home=sys.argv[1]), extra_args=['--backend-factory',"
         " 'render_backends:make', '--poll', '0.05', '--heartbeat', '0.2'])\n"
         "print(pid, flush=True)\n"
         "time.sleep(600)\n",
         str(tmp_path)],
        cwd=REPO, env=_env(), stdout=subprocess.PIPE, text=True,
    )
    settings = Settings(home=tmp_path)
    try:
        assert app.stdout is not None
        pid = int(app.stdout.readline())
        wait_for(lambda: worker_status(settings)["pid"] == pid, timeout=30)
    finally:
        app.kill()
        app.wait(timeout=10)
    from render.workers import pid_alive

    wait_for(lambda: not pid_alive(pid), timeout=30)
    queue = open_queue(settings)
    try:
        states = [w.state for w in queue.workers(include_stopped=True)]
    finally:
        queue.close()
    assert states == ["stopped"], "it unregistered itself (a clean stop, not a dead worker)"
    assert "is gone: stopping" in (tmp_path / "logs" / "worker.log").read_text()


@contextmanager
def unwritable(folder: Path) -> Iterator[None]:
    """``folder`` cannot be written, even by root (chattr +i), for the block."""
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        done = subprocess.run(["chattr", "+i", str(folder)], capture_output=True)
        if done.returncode != 0:
            pytest.skip(f"cannot make a folder unwritable as root here: {done.stderr!r}")
        undo = ["chattr", "-i", str(folder)]
    else:
        folder.chmod(0o555)
        undo = ["chmod", "755", str(folder)]
    try:
        yield
    finally:
        subprocess.run(undo, check=True)


def test_an_unwritable_renders_folder_is_reported_and_retried_later(settings: Settings, queue: SqliteRenderQueue):
    job = queue.enqueue(make_spec(), backend="test", idempotency_key="ro")
    renders = settings.home / "renders"
    with unwritable(renders / "p"):
        with worker_thread(settings, {"test": StepBackend()}, FakeGpuProbe(BIG_GPU)):
            wait_for(lambda: "not writable" in queue.job(job.id).message, timeout=20)
        info = queue.job(job.id)
    assert info.status == "queued" and info.attempts == 0, info
    assert info.message.startswith(f"the renders folder {renders} is not writable: ")
    assert "logs/worker.log" not in info.message and "retrying in" in info.message
    # The folder is writable again: the job runs at its next try.
    with worker_thread(settings, {"test": StepBackend()}, FakeGpuProbe(BIG_GPU)):
        wait_for(lambda: queue.job(job.id).status == "done", timeout=20)
    assert queue.job(job.id).attempts == 1


@pytest.mark.slow
def test_ffmpeg_children_die_with_a_killed_worker(tmp_path: Path):
    """SIGKILL a worker while its ffmpeg interpolates a clip: the ffmpeg goes too."""
    settings = Settings(home=tmp_path)
    queue = open_queue(settings)
    try:
        job = queue.enqueue(
            _animatic_clip(4.0, post=PostSpec(interpolate_fps=120)), backend="animatic", idempotency_key="mi",
        )
        with open(tmp_path / "w.log", "wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "render.worker", "--home", str(tmp_path), "--poll", "0.05"],
                cwd=REPO, env=_env(), stdout=out, stderr=subprocess.STDOUT,
            )

        def interpolating() -> list[int]:
            return [p for p in _descendants(proc.pid) if "minterpolate" in _cmdline(p)]

        try:
            ffmpeg = wait_for(interpolating, timeout=120, interval=0.05)[0]
        except AssertionError:
            proc.kill()
            raise AssertionError(_log(tmp_path, "w.log")) from None
        from render.workers import pid_alive

        assert pid_alive(ffmpeg) and queue.job(job.id).status == "running"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        wait_for(lambda: not pid_alive(ffmpeg), timeout=15)
    finally:
        queue.close()


def _small_clip(post: PostSpec, shot: str) -> RenderSpec:
    return RenderSpec(
        kind="clip", project_id="p", scene_id="sc-1", shot_id=shot, preset="fast", seed=7,
        width=320, height=180, fps=12, duration_s=1.0, prompts={"video": "a slow push in"}, post=post,
    )


def test_post_processing_runs_after_the_clip_and_is_recorded(settings: Settings, queue: SqliteRenderQueue):
    from render.animatic import AnimaticBackend
    from render.post import probe

    job = queue.enqueue(_small_clip(PostSpec(interpolate_fps=24, upscale=2.0), "1A"), backend="animatic",
                        idempotency_key="post")
    with worker_thread(settings, {"animatic": AnimaticBackend(roots=[settings.home])}, FakeGpuProbe(BIG_GPU)):
        wait_for(lambda: queue.job(job.id).status in ("done", "failed"), timeout=120)
    info = queue.job(job.id)
    assert info.status == "done", info.message
    manifest = read_manifest(Path(info.outputs[0]).parent)
    steps = [(s.step, s.status) for s in manifest.post]
    assert steps == [("interpolate", "done"), ("upscale", "done")]
    assert manifest.post[0].method.startswith("ffmpeg minterpolate") and manifest.post[0].fps == 24
    assert manifest.post[1].method == "ffmpeg lanczos x2" and (manifest.post[1].width, manifest.post[1].height) == (640, 360)
    assert all(s.seconds > 0 for s in manifest.post) and manifest.timings_s["post_s"] > 0
    assert manifest.final["fps"] == 24 and (manifest.final["width"], manifest.final["height"]) == (640, 360)
    video = probe(next(p for p in info.outputs if p.endswith(".mp4")))
    assert (video.fps, video.width, video.height, video.frames) == (24.0, 640, 360, manifest.final["frames"])


def test_a_failed_post_step_publishes_the_clip_as_rendered(settings: Settings, queue: SqliteRenderQueue):
    from render.animatic import AnimaticBackend

    job = queue.enqueue(_small_clip(PostSpec(interpolate_fps=240), "2A"), backend="animatic", idempotency_key="f")
    options = WorkerOptions(**{**FAST.__dict__, "post_timeout_s": 0.05})
    with worker_thread(settings, {"animatic": AnimaticBackend(roots=[settings.home])}, FakeGpuProbe(BIG_GPU),
                       options=options):
        wait_for(lambda: queue.job(job.id).status in ("done", "failed"), timeout=120)
    info = queue.job(job.id)
    assert info.status == "done", info.message
    manifest = read_manifest(Path(info.outputs[0]).parent)
    (step,) = manifest.post
    assert step.step == "interpolate" and step.status == "failed"
    assert "timeout" in step.reason and step.reason.endswith("the clip was kept without this step")
    assert manifest.final["fps"] == 12 and manifest.final["width"] == 320
