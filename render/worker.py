"""The render worker: one process per GPU slot that takes jobs from the queue and runs them.

``python -m render.worker --home DIR [--once] [--poll 0.2] [--slot gpu0]`` (or
``studio worker``). The app starts one with :func:`ensure_worker` when none is alive.

Per job: claim -> preflight (inputs present; for GPU backends the VRAM check against the
preset: too little free memory or no GPU -> ``waiting_vram``, looked at again every poll;
an Ollama LLM is asked to unload first) -> run the backend in a private temp folder with
throttled progress -> publish with the done marker -> ``done``. Failures: ``oom`` retries
once at the next lower preset; ``backend_down`` counts toward a per-backend circuit breaker
and waits; other retryable failures back off (exponential, jittered, capped) until
``max_attempts``; the rest fail with their class.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import logging
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from pydantic import ValidationError

from render.backend import Backend, RenderFailed, RenderOutput
from render.gpu import can_ever_fit, fits, probe_detail, select_gpu_probe
from render.manifest import PostStep, PublishError, build_manifest, hash_inputs, publish
from render.post import PostOutcome, post_process
from render.presets import Preset, PresetError, backend_uses_gpu, get_preset, gpu_need, lower
from render.queue import FAILURE_CLASSES, JobRecord, QueueError, SqliteRenderQueue, process_start
from render.vram import DEFAULT_INTERVAL_S, MAX_SAMPLES, VramSampler
from render.workers import pid_alive
from studio.config import Settings, load_settings
from studio.model import RenderSpec
from studio.ports import GpuProbe, GpuSnapshot

log = logging.getLogger("render.worker")

BackendFactory = Callable[[Settings], Mapping[str, Backend]]


# A renders folder that cannot be written is a transient failure (the job is retried with
# back-off, no attempt counted). The queue's failure classes have no "storage" yet (adding
# one needs a migration of the render_jobs CHECK): it is stored as the transient class.
STORAGE_FAILURE = "interrupted"
_STORAGE_ERRNOS = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT}


def _transient_storage(exc: OSError) -> bool:
    return exc.errno in _STORAGE_ERRNOS


def worker_log(settings: Settings) -> Path:
    """The worker's log: the app's worker writes it, and so does ``studio worker``."""
    return settings.logs_dir / "worker.log"


def renders_dir(settings: Settings) -> Path:
    """Where published render folders live: ``<home>/renders``."""
    return settings.home / "renders"


def open_queue(settings: Settings, **kwargs: Any) -> SqliteRenderQueue:
    return SqliteRenderQueue(
        settings.db_path, renders_dir(settings), busy_timeout_ms=settings.busy_timeout_ms, **kwargs
    )


# --------------------------------------------------------------------------- resilience


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential back-off with 'equal jitter': half the delay fixed, half random."""

    base_s: float = 2.0
    cap_s: float = 120.0

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        ceiling = min(self.cap_s, self.base_s * 2 ** max(0, attempt - 1))
        return ceiling / 2 + (rng or random).uniform(0, ceiling / 2)


class CircuitBreaker:
    """Per-backend breaker: ``threshold`` consecutive ``backend_down`` failures open it for
    ``reset_s``; then one job may probe (half-open): success closes it, failure reopens it."""

    def __init__(
        self, threshold: int = 3, reset_s: float = 30.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.threshold = threshold
        self.reset_s = reset_s
        self.clock = clock
        self.failures = 0
        self.opened_at: float | None = None
        self.probing = False

    @property
    def state(self) -> str:
        if self.opened_at is None:
            return "closed"
        if self.probing or self.clock() - self.opened_at >= self.reset_s:
            return "half_open"
        return "open"

    def allow(self) -> bool:
        """Whether a job may run now (in half-open, only one at a time)."""
        state = self.state
        if state == "closed":
            return True
        if state == "half_open" and not self.probing:
            self.probing = True
            return True
        return False

    def remaining_s(self) -> float:
        if self.opened_at is None:
            return 0.0
        return max(0.0, self.reset_s - (self.clock() - self.opened_at))

    def record_success(self) -> None:
        self.failures = 0
        self.opened_at = None
        self.probing = False

    def record_failure(self) -> None:
        self.failures += 1
        if self.probing or self.failures >= self.threshold:
            self.opened_at = self.clock()
        self.probing = False

    def release(self) -> None:
        """A half-open probe ended without telling us anything (cancelled, deferred)."""
        self.probing = False

    def describe(self) -> dict[str, Any]:
        return {"state": self.state, "failures": self.failures, "retry_in_s": round(self.remaining_s(), 1)}


# --------------------------------------------------------------------------- backends


class MissingBackend:
    """Stands in for a backend that could not be imported or built: its jobs fail clearly."""

    needs_gpu = False

    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        self.reason = reason

    def run(self, spec: RenderSpec, out_dir: Path, progress: Any, cancelled: Any) -> RenderOutput:
        raise RenderFailed(f"the {self.name} backend is not available: {self.reason}", "error")


def _animatic(settings: Settings) -> Backend:
    from render.animatic import AnimaticBackend

    # Every input a job may read (media, earlier renders) lives under the data dir.
    return AnimaticBackend(roots=[settings.home])


def _comfyui(settings: Settings) -> Backend:
    from render.comfy import ComfyBackend

    return ComfyBackend(settings.comfyui_url) if settings.comfyui_url else ComfyBackend()


_BUILDERS: dict[str, Callable[[Settings], Backend]] = {"animatic": _animatic, "comfyui": _comfyui}


def build_backends(settings: Settings) -> dict[str, Backend]:
    """The animatic and ComfyUI backends, imported lazily (``render.animatic``,
    ``render.comfy``). One that cannot be imported or built becomes a
    :class:`MissingBackend`, so its jobs fail with the reason instead of the worker."""
    found: dict[str, Backend] = {}
    for name, builder in _BUILDERS.items():
        try:
            found[name] = builder(settings)
        except Exception as exc:  # ImportError, or a constructor that refused the settings
            log.warning("render backend %s unavailable: %s", name, exc)
            found[name] = MissingBackend(name, f"{type(exc).__name__}: {exc}")
    return found


def load_factory(spec: str) -> BackendFactory:
    """``module:callable`` -> the callable (``--backend-factory``, used by tests)."""
    module, _, attr = spec.partition(":")
    if not module or not attr:
        raise ValueError(f"--backend-factory wants module:callable, not {spec!r}")
    return getattr(importlib.import_module(module), attr)


def unload_ollama(
    url: str, model: str, *, timeout_s: float = 3.0, transport: httpx.BaseTransport | None = None
) -> bool:
    """Ask Ollama to unload ``model`` now (``keep_alive: 0``) so its VRAM is free for a
    render. Best effort: any failure is logged and ignored."""
    try:
        with httpx.Client(timeout=timeout_s, transport=transport) as client:
            response = client.post(
                f"{url.rstrip('/')}/api/generate", json={"model": model, "keep_alive": 0}
            )
        if response.status_code >= 400:
            log.info("Ollama did not unload %s: HTTP %s", model, response.status_code)
            return False
        log.info("asked Ollama to unload %s before a GPU render", model)
        return True
    except httpx.HTTPError as exc:
        log.info("could not ask Ollama to unload %s: %s", model, exc)
        return False


# --------------------------------------------------------------------------- the worker


@dataclass(frozen=True)
class WorkerOptions:
    slot: str = "gpu0"
    poll_s: float = 0.2
    heartbeat_s: float = 2.0
    vram_margin_mb: float = 512.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    breaker_threshold: int = 3
    breaker_reset_s: float = 30.0
    progress_interval_s: float = 0.5
    cancel_check_s: float = 0.2
    recover_every_s: float = 10.0
    unload_every_s: float = 10.0
    # VRAM over time while a GPU job runs (stored with the job; CPU jobs are not sampled).
    sample_vram_s: float = DEFAULT_INTERVAL_S
    max_vram_samples: int = MAX_SAMPLES
    # The most one post-processing step (interpolation, upscale) of a clip may take.
    post_timeout_s: float = 1800.0


def lowered_spec(spec: RenderSpec, current: Preset, target: Preset) -> RenderSpec:
    """``spec`` at a lower preset: the preset's size when the spec used the current one's,
    else the same aspect scaled down by the presets' height ratio."""
    if (spec.width, spec.height) == (current.width, current.height):
        width, height = target.width, target.height
    else:
        scale = min(1.0, target.height / current.height)
        width = max(64, int(round(spec.width * scale / 2)) * 2)
        height = max(64, int(round(spec.height * scale / 2)) * 2)
    data = spec.model_dump()
    data.update(preset=target.name, width=width, height=height)
    return RenderSpec.model_validate(data)


def _check_inputs(spec: RenderSpec) -> None:
    for role, path in sorted(spec.inputs.items()):
        if not Path(path).is_file():
            raise FileNotFoundError(f"input {role!r} is missing: {path}")


def _validation_message(exc: Exception) -> str:
    if isinstance(exc, FileNotFoundError):
        return f"{exc}: the file was moved or deleted; re-render what this job depends on"
    return str(exc)


class Worker:
    """One worker: a queue, the backends by name, a GPU probe, and per-backend breakers."""

    def __init__(
        self,
        settings: Settings,
        backends: Mapping[str, Backend],
        gpu_probe: GpuProbe,
        *,
        queue: SqliteRenderQueue | None = None,
        options: WorkerOptions | None = None,
        stop_event: threading.Event | None = None,
        ollama_transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.backends = dict(backends)
        self.gpu_probe = gpu_probe
        self.queue = queue or open_queue(settings)
        self._own_queue = queue is None
        self.options = options or WorkerOptions()
        self.stop_event = stop_event or threading.Event()
        self.ollama_transport = ollama_transport
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.breakers: dict[str, CircuitBreaker] = {}
        self.rng = random.Random()
        self.current_job: str | None = None
        self.processed = 0
        self._last_unload = -1e9
        self._last_recover = time.monotonic()
        self._hb_stop = threading.Event()
        self._storage_failures = 0

    # ------------------------------------------------------------------ lifecycle

    def breaker(self, backend: str) -> CircuitBreaker:
        if backend not in self.breakers:
            self.breakers[backend] = CircuitBreaker(
                self.options.breaker_threshold, self.options.breaker_reset_s
            )
        return self.breakers[backend]

    def _info(self) -> dict[str, Any]:
        return {
            "current_job": self.current_job,
            "slot": self.options.slot,
            "backends": sorted(self.backends),
            "breakers": {name: b.describe() for name, b in self.breakers.items()},
            "processed": self.processed,
        }

    def _register(self) -> None:
        self.queue.register_worker(
            self.worker_id,
            pid=os.getpid(),
            slot=self.options.slot,
            pid_start=process_start(os.getpid()),
            info=self._info(),
        )

    def _heartbeat_loop(self) -> None:
        while not self._hb_stop.wait(self.options.heartbeat_s):
            try:
                if not self.queue.heartbeat(self.worker_id, info=self._info()):
                    # Declared dead (a long pause?): our jobs were recovered; come back.
                    log.warning("worker %s was declared dead; registering again", self.worker_id)
                    self._register()
            except Exception as exc:
                log.warning("heartbeat failed: %s", exc)

    def run(self, *, once: bool = False) -> int:
        """Process jobs until stopped (or, with ``once``, until nothing is runnable now).
        Returns how many jobs this worker took to an end."""
        self._register()
        beat = threading.Thread(target=self._heartbeat_loop, name="worker-heartbeat", daemon=True)
        beat.start()
        try:
            self._recover()
            log.info("worker %s serving slot %s with %s", self.worker_id, self.options.slot,
                     ", ".join(sorted(self.backends)) or "no backends")
            while not self.stop_event.is_set():
                try:
                    job = self.queue.claim_next(self.worker_id, self.options.slot)
                except QueueError as exc:
                    log.warning("could not claim a job: %s", exc)
                    self.stop_event.wait(self.options.poll_s)
                    continue
                if job is None:
                    if once:
                        break
                    if time.monotonic() - self._last_recover >= self.options.recover_every_s:
                        self._recover(sweep=False)
                    self.stop_event.wait(self.options.poll_s)
                    continue
                self.current_job = job.id
                try:
                    self.process(job)
                except QueueError as exc:
                    # The database was busy or locked for too long: give the job back
                    # rather than fail it; it is looked at again at the next poll.
                    log.warning("job %s: queue error (%s); releasing it", job.id, exc)
                    self._release_quietly(job)
                    self.stop_event.wait(self.options.poll_s)
                except Exception:
                    log.exception("job %s: unexpected worker error", job.id)
                    self._fail_quietly(
                        job, "error", f"the worker hit an unexpected error; see {worker_log(self.settings)}"
                    )
                finally:
                    self.current_job = None
        finally:
            self._hb_stop.set()
            beat.join(timeout=5)
            try:
                self.queue.unregister_worker(self.worker_id)
            except QueueError as exc:
                log.warning("could not unregister: %s", exc)
            if self._own_queue:
                self.queue.close()
        return self.processed

    def _recover(self, *, sweep: bool = True) -> None:
        self._last_recover = time.monotonic()
        try:
            report = self.queue.recover(sweep=sweep)
        except QueueError as exc:
            log.warning("recovery failed: %s", exc)
            return
        if report.dead_workers or report.requeued or report.failed or report.done:
            log.info(
                "recovered: dead workers %s, resumed %s, failed %s, done %s, removed %d partial folders",
                list(report.dead_workers), list(report.requeued), list(report.failed),
                list(report.done), len(report.removed),
            )

    # ------------------------------------------------------------------ one job

    def _fail_quietly(self, job: JobRecord, failure_class: str, message: str) -> None:
        """Fail a job whatever state it is in for this worker (claimed or running)."""
        try:
            record = self.queue.record(job.id)
            if record.worker_id != self.worker_id:
                return
            if record.status != "running":
                record = self.queue.start(job.id, self.worker_id)
                if record is None:
                    return
            if self.queue.finish(job.id, self.worker_id, "failed", message=message, failure_class=failure_class):
                self.processed += 1
        except QueueError as exc:
            log.warning("job %s: could not record its failure: %s", job.id, exc)

    def _release_quietly(self, job: JobRecord) -> None:
        try:
            self.queue.release(job.id, self.worker_id)
        except QueueError as exc:
            log.warning("job %s: could not release it either (%s); recovery will", job.id, exc)

    def _unload_llm(self) -> None:
        if self.settings.llm_backend != "ollama":
            return
        now = time.monotonic()
        if now - self._last_unload < self.options.unload_every_s:
            return
        self._last_unload = now
        unload_ollama(
            self.settings.ollama_url, self.settings.ollama_model, transport=self.ollama_transport
        )

    def _probe(self) -> GpuSnapshot:
        try:
            return self.gpu_probe.snapshot()
        except Exception as exc:  # a probe must never crash the worker
            log.warning("GPU probe failed: %s", exc)
            return GpuSnapshot(available=False)

    def _vram_wait_message(self, backend: str, snap: GpuSnapshot, needed: int, preset: Preset) -> str:
        margin = self.options.vram_margin_mb
        if not snap.available:
            detail = probe_detail(self.gpu_probe) or "no GPU detected"
            return (
                f"waiting for a GPU: the {backend} backend needs one and none is available "
                f"({detail}). Start ComfyUI on a machine with a GPU, or render with the animatic backend"
            )
        if not can_ever_fit(snap, needed, margin):
            return (
                f"waiting for VRAM: preset {preset.name} needs {needed} MiB (+{margin:.0f} margin) "
                f"but {snap.name} has {snap.total_mb:.0f} MiB in total, so it will never fit: "
                f"cancel and choose a lower preset"
            )
        return (
            f"waiting for VRAM: needs {needed} MiB (+{margin:.0f} margin), "
            f"{snap.free_mb:.0f} of {snap.total_mb:.0f} MiB free on {snap.name}"
        )

    def process(self, job: JobRecord) -> None:
        """Preflight, run, publish and record one claimed job."""
        opts = self.options
        t_claim = time.monotonic()
        backend = self.backends.get(job.backend) or MissingBackend(
            job.backend,
            f"this worker has no {job.backend!r} backend (it has {', '.join(sorted(self.backends)) or 'none'})",
        )
        breaker = self.breaker(job.backend)
        if not breaker.allow():
            retry_at = time.time() + breaker.remaining_s()
            message = (
                f"the {job.backend} backend is down ({breaker.failures} failures in a row); "
                f"paused until {time.strftime('%H:%M:%S', time.localtime(retry_at))}"
            )
            self.queue.defer(job.id, self.worker_id, status="queued", message=message,
                             delay_s=max(opts.poll_s, breaker.remaining_s()))
            return
        # A half-open breaker lets this one job probe the backend; whatever ends the job
        # without a verdict on the backend hands the probe back.
        try:
            self._process(job, backend, breaker, t_claim)
        finally:
            if breaker.probing:
                breaker.release()

    def _process(self, job: JobRecord, backend: Backend, breaker: CircuitBreaker, t_claim: float) -> None:
        opts = self.options
        try:
            spec = job.render_spec()
            preset = get_preset(spec.preset)
            _check_inputs(spec)
        except (ValidationError, PresetError, FileNotFoundError) as exc:
            self._fail_quietly(job, "validation", _validation_message(exc))
            return

        needs_gpu = getattr(backend, "needs_gpu", None)
        if needs_gpu is None:
            needs_gpu = backend_uses_gpu(job.backend)
        needed = gpu_need(preset, spec.kind, end_frame="end_frame" in spec.inputs) if needs_gpu else 0
        gpu_name = ""
        if needed > 0:
            self._unload_llm()
            snap = self._probe()
            if not fits(snap, needed, opts.vram_margin_mb):
                self.queue.defer(
                    job.id, self.worker_id, status="waiting_vram",
                    message=self._vram_wait_message(job.backend, snap, needed, preset),
                    delay_s=opts.poll_s,
                )
                return
            gpu_name = snap.name

        started = self.queue.start(job.id, self.worker_id)
        if started is None:  # cancelled between claim and start
            return
        try:
            # Hashed once the job runs (not at every VRAM re-check): what the manifest
            # records is what the backend read.
            input_hashes = hash_inputs(spec.inputs)
        except FileNotFoundError as exc:
            self._fail_quietly(started, "validation", _validation_message(exc))
            return
        t_start = time.monotonic()
        outcome = self._run(started, spec, preset, backend, needed, gpu_name, input_hashes,
                            {"preflight_s": t_start - t_claim})
        if outcome is None:
            breaker.record_success()
        elif outcome.failure_class == "backend_down":
            breaker.record_failure()
        elif outcome.failure_class not in ("_stopped", "timeout"):
            breaker.record_success()  # the backend answered; the job itself was the problem

    def _run(
        self,
        job: JobRecord,
        spec: RenderSpec,
        preset: Preset,
        backend: Backend,
        needed: int,
        gpu_name: str,
        input_hashes: dict[str, str],
        timings: dict[str, float],
    ) -> RenderFailed | None:
        """Run a started job to its end; returns the failure (None when done)."""
        opts = self.options
        tmp = self.queue.temp_dir(job, job.attempts)
        try:
            tmp.mkdir(parents=True, exist_ok=False)
        except OSError as exc:
            return self._storage_unavailable(job, exc)
        deadline = time.monotonic() + preset.job_timeout_s
        state: dict[str, Any] = {"reason": None, "last_write": 0.0, "last_check": 0.0}

        def stop_reason() -> str | None:
            if state["reason"] is None:
                now = time.monotonic()
                if now > deadline:
                    state["reason"] = "timeout"
                elif self.stop_event.is_set():
                    state["reason"] = "shutdown"
                elif now - state["last_check"] >= opts.cancel_check_s:
                    state["last_check"] = now
                    try:
                        state["reason"] = self.queue.stop_reason(job.id, self.worker_id)
                    except QueueError as exc:
                        log.debug("cancel check failed: %s", exc)
            return state["reason"]

        def progress(frac: float, message: str = "") -> None:
            now = time.monotonic()
            if state["reason"] is not None:
                return
            if frac < 1.0 and now - state["last_write"] < opts.progress_interval_s:
                return
            state["last_write"] = now
            try:
                reason = self.queue.set_progress(job.id, self.worker_id, frac, message or "rendering")
            except QueueError as exc:
                log.debug("progress write failed: %s", exc)
                return
            if reason is not None:
                state["reason"] = reason

        def cancelled() -> bool:
            return stop_reason() is not None

        t_render = time.monotonic()
        failure: RenderFailed | None = None
        output: RenderOutput | None = None
        # Only GPU jobs are sampled: the CPU animatic path pays nothing for telemetry.
        sampler = (
            VramSampler(self.gpu_probe, opts.sample_vram_s, max_samples=opts.max_vram_samples)
            if needed > 0 else None
        )
        try:
            try:
                if sampler is not None:
                    with sampler:
                        output = backend.run(spec, tmp, progress, cancelled)
                else:
                    output = backend.run(spec, tmp, progress, cancelled)
            except RenderFailed as exc:
                failure = exc
            except Exception as exc:  # a backend bug must not take the worker down
                log.exception("job %s: backend %s raised", job.id, job.backend)
                failure = RenderFailed(f"the {job.backend} backend failed: {type(exc).__name__}: {exc}", "error")
            timings["render_s"] = time.monotonic() - t_render
            if sampler is not None:
                self._save_vram(job, sampler)
            reason = stop_reason()
            if reason is not None:
                return self._stopped(job, reason, preset)
            if failure is not None:
                return self._failed(job, spec, preset, failure)
            assert output is not None
            post = self._post_process(spec, output, tmp, timings, deadline, stop_reason)
            reason = stop_reason()
            if reason is not None:
                return self._stopped(job, reason, preset)
            return self._publish(job, spec, preset, output, tmp, gpu_name, input_hashes, timings,
                                 sampler.peak_used_mb if sampler else None, post)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)

    def _storage_unavailable(self, job: JobRecord, exc: OSError) -> RenderFailed:
        """The renders folder cannot be written (permissions, read-only, full): a transient
        failure of the machine, not of the job. The job goes back to the queue with back-off
        and no attempt counted, with a message that names the folder."""
        self._storage_failures += 1
        delay = self.options.retry.delay(self._storage_failures, self.rng)
        folder = self.queue.renders_dir
        why = exc.strerror or type(exc).__name__
        where = f" ({exc.filename})" if exc.filename else ""
        state = "is not writable" if _transient_storage(exc) else "cannot be used"
        message = (
            f"the renders folder {folder} {state}: {why}{where}; fix its permissions "
            f"or free some space — retrying in {delay:.0f} s"
        )
        log.warning("job %s: %s", job.id, message)
        # Stored as "interrupted" (the queue's transient, not-counted class): the job never
        # got to run. See STORAGE_FAILURE.
        self.queue.requeue(job.id, self.worker_id, message=message, delay_s=delay,
                           failure_class=STORAGE_FAILURE, refund_attempt=True)
        return RenderFailed(message, "_stopped")

    def _post_process(
        self,
        spec: RenderSpec,
        output: RenderOutput,
        tmp: Path,
        timings: dict[str, float],
        deadline: float,
        stop_reason: Callable[[], str | None],
    ) -> PostOutcome | None:
        """A clip's opt-in post-processing (``spec.post``), after it rendered; a step that
        fails keeps the clip as rendered and says why in the manifest."""
        if spec.kind != "clip" or spec.post is None:
            return None
        if not (spec.post.interpolate_fps or spec.post.upscale):
            return None
        clip = next((Path(f) for f in output.files if str(f).endswith(".mp4")), None)
        if clip is None:
            return None
        clip = clip if clip.is_absolute() else tmp / clip
        t0 = time.monotonic()
        timeout = max(1.0, min(self.options.post_timeout_s, deadline - t0))
        outcome = post_process(
            clip, interpolate_fps=spec.post.interpolate_fps, upscale_by=spec.post.upscale,
            timeout=timeout, stopped=lambda: stop_reason() is not None,
        )
        timings["post_s"] = time.monotonic() - t0
        for step in outcome.steps:
            if step["status"] != "done":
                log.warning("clip %s: post step %s %s: %s", spec.shot_id, step["step"], step["status"],
                            step.get("reason", ""))
        return outcome

    def _save_vram(self, job: JobRecord, sampler: VramSampler) -> None:
        """Store the run's VRAM samples with the job, whatever its outcome (an OOM's trace is
        the one most worth seeing). Telemetry never fails a job: a write error is logged."""
        try:
            self.queue.record_vram(
                job.id, self.worker_id, sampler.samples, attempt=job.attempts,
                interval_s=sampler.interval_s, max_samples=self.options.max_vram_samples,
            )
        except QueueError as exc:
            log.warning("job %s: could not store its VRAM samples: %s", job.id, exc)

    def _stopped(self, job: JobRecord, reason: str, preset: Preset) -> RenderFailed:
        q, wid = self.queue, self.worker_id
        if reason == "cancelled":
            if q.finish(job.id, wid, "cancelled", message="cancelled"):
                self.processed += 1
        elif reason == "timeout":
            message = f"stopped after {preset.job_timeout_s:.0f} s, the time limit of preset {preset.name}"
            if q.finish(job.id, wid, "failed", message=message, failure_class="timeout"):
                self.processed += 1
            return RenderFailed(message, "timeout")
        elif reason == "shutdown":
            q.requeue(job.id, wid, message="interrupted: the worker is stopping; it will resume",
                      refund_attempt=True, failure_class="interrupted")
        else:
            log.warning("job %s is no longer ours (recovered elsewhere); dropping this run", job.id)
        return RenderFailed(reason, "_stopped")

    def _failed(self, job: JobRecord, spec: RenderSpec, preset: Preset, exc: RenderFailed) -> RenderFailed:
        q, wid, opts = self.queue, self.worker_id, self.options
        cls = exc.failure_class if exc.failure_class in FAILURE_CLASSES else "error"
        text = str(exc) or cls
        if cls == "oom":
            target = lower(preset)
            memory = exc.memory  # a --cpu ComfyUI server runs out of system RAM
            if job.fallback_from is None and target is not None:
                new_spec = lowered_spec(spec, preset, target)
                message = (
                    f"out of {memory} at {preset.name}; retrying once at {target.name} "
                    f"({new_spec.width}x{new_spec.height})"
                )
                q.requeue(job.id, wid, message=message, failure_class="oom", spec=new_spec,
                          fallback_from=preset.name)
            else:
                why = (
                    f"even after falling back from {job.fallback_from}" if job.fallback_from
                    else "and there is no lower preset"
                )
                message = (
                    f"out of {memory} at {preset.name} {why}: close other programs using the "
                    f"{'memory' if memory != 'GPU memory' else 'GPU'}, or render fewer frames ({text})"
                )
                if q.finish(job.id, wid, "failed", message=message, failure_class="oom"):
                    self.processed += 1
        elif cls == "backend_down":
            # The breaker has not seen this failure yet (process() records it after us).
            breaker = self.breaker(job.backend)
            opens = breaker.probing or breaker.failures + 1 >= breaker.threshold
            delay = breaker.reset_s if opens else opts.retry.delay(breaker.failures + 1, self.rng)
            retry_at = time.strftime("%H:%M:%S", time.localtime(time.time() + delay))
            state = f"paused after {breaker.failures + 1} failures in a row" if opens else "retrying"
            message = f"the {job.backend} backend is down ({text}); {state}, next try at {retry_at}"
            # Not counted as an attempt: the job never got to run.
            q.requeue(job.id, wid, message=message, delay_s=delay, failure_class="backend_down",
                      refund_attempt=True)
        elif exc.retryable and job.attempts < job.max_attempts:
            delay = opts.retry.delay(job.attempts, self.rng)
            message = (
                f"{text} — attempt {job.attempts} of {job.max_attempts} failed; retrying in {delay:.1f} s"
            )
            q.requeue(job.id, wid, message=message, delay_s=delay, failure_class=cls)
        else:
            if q.finish(job.id, wid, "failed", message=text, failure_class=cls):
                self.processed += 1
        return RenderFailed(text, cls, retryable=exc.retryable)

    def _publish(
        self,
        job: JobRecord,
        spec: RenderSpec,
        preset: Preset,
        output: RenderOutput,
        tmp: Path,
        gpu_name: str,
        input_hashes: dict[str, str],
        timings: dict[str, float],
        sampled_peak: float | None,
        post: PostOutcome | None = None,
    ) -> RenderFailed | None:
        q, wid = self.queue, self.worker_id
        for path in output.files:
            resolved = (tmp / path).resolve() if not Path(path).is_absolute() else Path(path).resolve()
            if not resolved.is_relative_to(tmp.resolve()) or not resolved.is_file():
                message = f"the {job.backend} backend reported an output outside its folder or missing: {path}"
                if q.finish(job.id, wid, "failed", message=message, failure_class="error"):
                    self.processed += 1
                return RenderFailed(message, "error")
        record = q.record(job.id)
        created = datetime.fromisoformat(record.created_at).timestamp()
        started = datetime.fromisoformat(record.started_at).timestamp() if record.started_at else created
        timings = {"queued_s": max(0.0, started - created), **timings}
        manifest = build_manifest(
            spec,
            backend=job.backend,
            job_id=job.id,
            attempt=job.attempts,
            output=output,
            out_dir=tmp,
            timings_s={k: round(v, 4) for k, v in timings.items()},
            fallback_from=job.fallback_from,
            gpu=gpu_name,
            preset=preset,
            peak_vram_mb=sampled_peak,
            input_hashes=input_hashes,
            post=[PostStep.model_validate(step) for step in post.steps] if post else (),
            final=post.final if post else None,
        )
        if not q.holds(job.id, wid):
            log.warning("job %s was taken from this worker before publishing; dropping it", job.id)
            return RenderFailed("lost", "_stopped")
        t_pub = time.monotonic()
        try:
            published = publish(tmp, q.output_dir(job), manifest)
        except OSError as exc:
            if _transient_storage(exc):
                return self._storage_unavailable(job, exc)
            message = f"could not publish the output ({exc}); is the disk full?"
            if q.finish(job.id, wid, "failed", message=message, failure_class="error"):
                self.processed += 1
            return RenderFailed(message, "error")
        except PublishError as exc:
            message = f"could not publish the output ({exc}); is the disk full?"
            if q.finish(job.id, wid, "failed", message=message, failure_class="error"):
                self.processed += 1
            return RenderFailed(message, "error")
        timings["publish_s"] = time.monotonic() - t_pub
        self._storage_failures = 0
        note = f" (fell back from {job.fallback_from})" if job.fallback_from else ""
        if q.finish(job.id, wid, "done", message=f"done{note}", published=published,
                    peak_vram_mb=manifest.peak_vram_mb, timings={k: round(v, 4) for k, v in timings.items()}):
            self.processed += 1
        return None


def run_worker(
    settings: Settings,
    backends: Mapping[str, Backend],
    gpu_probe: GpuProbe,
    *,
    stop_event: threading.Event | None = None,
    once: bool = False,
    queue: SqliteRenderQueue | None = None,
    options: WorkerOptions | None = None,
    ollama_transport: httpx.BaseTransport | None = None,
) -> int:
    """Run a worker in this thread until ``stop_event`` is set (or, with ``once``, until no
    job is runnable right now). Returns the number of jobs it took to an end."""
    worker = Worker(
        settings, backends, gpu_probe, queue=queue, options=options,
        stop_event=stop_event, ollama_transport=ollama_transport,
    )
    return worker.run(once=once)


def serve(
    settings: Settings,
    backends: Mapping[str, Backend],
    gpu_probe: GpuProbe,
    *,
    once: bool = False,
    options: WorkerOptions | None = None,
    log_file: Path | None = None,
    stop_with: tuple[int, str | None] | None = None,
) -> int:
    """A worker in the foreground of this process: ``studio worker`` and
    ``python -m render.worker``. SIGTERM or SIGINT stops it cleanly: the job it runs is
    handed back to the queue (the attempt is not counted; the next worker resumes it) or,
    if it is publishing, finished; then this returns and the process exits 0.

    ``log_file`` also writes the ``render`` log there (``studio worker`` writes the same
    ``logs/worker.log`` as the worker the app starts). ``stop_with`` (pid, start time) stops
    the worker the same clean way once that process is gone: the app's worker stops with
    the app. Returns the number of jobs it took to an end."""
    stop = threading.Event()
    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, lambda signum, _frame: _stop_on(stop, signum))
    handler: logging.Handler | None = None
    render_log = logging.getLogger("render")
    old_level = render_log.level
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(log_file, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        render_log.addHandler(handler)
        if render_log.getEffectiveLevel() > logging.INFO:
            render_log.setLevel(logging.INFO)
    watcher: threading.Thread | None = None
    if stop_with is not None:
        watcher = threading.Thread(target=_watch_parent, args=(stop_with, stop), name="worker-parent", daemon=True)
        watcher.start()
    try:
        return run_worker(settings, backends, gpu_probe, stop_event=stop, once=once, options=options)
    finally:
        stop.set()
        for sig, old in previous.items():
            signal.signal(sig, old)
        if handler is not None:
            render_log.removeHandler(handler)
            render_log.setLevel(old_level)
            handler.close()


def _stop_on(stop: threading.Event, signum: int) -> None:
    log.info("received %s: finishing or handing back the current job, then stopping",
             signal.Signals(signum).name)
    stop.set()


def _watch_parent(parent: tuple[int, str | None], stop: threading.Event) -> None:
    pid, start = parent
    while not stop.wait(1.0):
        if not pid_alive(pid, start):
            log.info("the app that started this worker (pid %s) is gone: stopping", pid)
            stop.set()


# --------------------------------------------------------------------------- supervision


def ensure_worker(
    settings: Settings, *, slot: str = "gpu0", extra_args: Sequence[str] = (),
    stop_with_caller: bool = True,
) -> int | None:
    """Start a detached worker for ``slot`` unless one is alive (pid alive and heartbeat
    fresh); returns the live or new worker's pid, or None when it could not be started.

    With ``stop_with_caller`` (the app) the worker stops cleanly once this process is gone:
    it does not outlive the app. A worker meant to run on its own is ``studio worker``."""
    settings.logs_dir.mkdir(parents=True, exist_ok=True)
    queue = open_queue(settings)
    watch = ["--stop-with", f"{os.getpid()}:{process_start(os.getpid()) or ''}"] if stop_with_caller else []

    def spawn() -> tuple[int, str | None]:
        with open(worker_log(settings), "ab") as log_file:
            proc = subprocess.Popen(  # noqa: S603 - fixed argv, our own module
                [sys.executable, "-m", "render.worker", "--home", str(settings.home),
                 "--slot", slot, *watch, *extra_args],
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=str(Path(__file__).resolve().parents[1]),
            )
        return proc.pid, process_start(proc.pid)

    try:
        pid, spawned = queue.spawn_once(slot, spawn)
    except (OSError, QueueError) as exc:
        log.warning("could not start a render worker: %s", exc)
        return None
    finally:
        queue.close()
    if spawned:
        log.info("started render worker pid %s (log: %s)", pid, settings.logs_dir / "worker.log")
    return pid


def worker_status(db: SqliteRenderQueue | Settings | Path) -> dict[str, Any]:
    """What the sidebar and ``studio doctor`` show: live workers, queue counts, breakers."""
    if isinstance(db, SqliteRenderQueue):
        queue, own = db, False
    elif isinstance(db, Settings):
        queue, own = open_queue(db), True
    else:
        queue, own = SqliteRenderQueue(Path(db), Path(db).parent / "renders"), True
    try:
        workers = queue.workers()
        live = [w for w in workers if w.alive]
        current = live[0] if live else None
        return {
            "alive": bool(live),
            "pid": current.pid if current else None,
            "worker_id": current.id if current else None,
            "slot": current.slot if current else None,
            "heartbeat_age_s": round(current.heartbeat_age_s, 2) if current else None,
            "current_job": current.info.get("current_job") if current else None,
            "breakers": current.info.get("breakers", {}) if current else {},
            "workers": [
                {
                    "id": w.id,
                    "pid": w.pid,
                    "slot": w.slot,
                    "state": w.state,
                    "alive": w.alive,
                    "heartbeat_age_s": round(w.heartbeat_age_s, 2),
                    "current_job": w.info.get("current_job"),
                }
                for w in workers
            ],
            "queue": queue.counts(),
        }
    finally:
        if own:
            queue.close()


# --------------------------------------------------------------------------- CLI


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m render.worker", description=__doc__.splitlines()[0])
    parser.add_argument("--home", help="data dir (default: AIUTEUR_HOME or ./studio_data)")
    parser.add_argument("--once", action="store_true", help="exit when no job is runnable now")
    parser.add_argument("--poll", type=float, default=0.2, help="seconds between queue polls")
    parser.add_argument("--slot", default="gpu0", help="GPU slot this worker serves (one job at a time)")
    parser.add_argument("--heartbeat", type=float, default=2.0, help="seconds between heartbeats")
    parser.add_argument(
        "--vram-interval", type=float, default=DEFAULT_INTERVAL_S,
        help="seconds between VRAM samples while a GPU job runs",
    )
    parser.add_argument(
        "--backend-factory",
        help="module:callable(settings) -> {name: backend}, replacing the built-in backends (tests)",
    )
    parser.add_argument("--stop-with", help="PID[:START]: stop cleanly once that process is gone (the app)")
    parser.add_argument("--log-file", type=Path, help="also write the log to this file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = load_settings(args.home)
    settings.home.mkdir(parents=True, exist_ok=True)
    try:
        factory = load_factory(args.backend_factory) if args.backend_factory else build_backends
        backends = factory(settings)
    except (ImportError, AttributeError, ValueError) as exc:
        print(f"render worker: cannot load backends: {exc}", file=sys.stderr)
        return 2
    stop_with: tuple[int, str | None] | None = None
    if args.stop_with:
        pid_text, _, start = args.stop_with.partition(":")
        if not pid_text.isdigit():
            print(f"render worker: --stop-with wants PID[:START], not {args.stop_with!r}", file=sys.stderr)
            return 2
        stop_with = (int(pid_text), start or None)
    options = WorkerOptions(slot=args.slot, poll_s=max(0.01, args.poll), heartbeat_s=max(0.05, args.heartbeat),
                            sample_vram_s=max(0.05, args.vram_interval))
    try:
        serve(settings, backends, select_gpu_probe(settings.comfyui_url), once=args.once,
              options=options, log_file=args.log_file, stop_with=stop_with)
    except QueueError as exc:
        print(f"render worker: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
