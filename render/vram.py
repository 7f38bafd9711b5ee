"""VRAM over time: a background sampler of a :class:`~studio.ports.GpuProbe` while a job runs.

The render worker stores each GPU job's samples with the job (the QA dashboard charts them)
and ``python -m render.gpu_check`` uses the same sampler on a real card. It imports only the
standard library and ``studio.ports``, so the check runs on a bare GPU machine.

A sample is ``(seconds since the sampler started, used MiB)``; used memory is the whole
card's (total - free), as NVML and ComfyUI's ``/system_stats`` report it.
A ComfyUI server started with ``--cpu`` has no VRAM (its probe answers a ``CpuSnapshot``,
not available): its system RAM is never sampled as VRAM.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack

from studio.ports import GpuProbe

log = logging.getLogger(__name__)

DEFAULT_INTERVAL_S = 0.5
MAX_SAMPLES = 2_000

VramSample = tuple[float, float]


def pool_pairs(samples: Sequence[VramSample]) -> list[VramSample]:
    """Halve a trace: each pair of neighbours becomes the one that used more memory.

    Max-pooling rather than dropping every other sample, because the peak is what a VRAM
    trace is read for: it survives any number of halvings.
    """
    pooled = [max(a, b, key=lambda s: s[1]) for a, b in zip(samples[::2], samples[1::2], strict=False)]
    if len(samples) % 2:
        pooled.append(samples[-1])
    return pooled


def decimate(samples: Sequence[VramSample], cap: int = MAX_SAMPLES) -> list[VramSample]:
    """At most ``cap`` samples, halved by :func:`pool_pairs` as often as needed."""
    out = list(samples)
    while len(out) > max(1, cap):
        out = pool_pairs(out)
    return out


class VramSampler:
    """Samples a probe in a daemon thread while a job runs (``with VramSampler(probe): ...``).

    Keeps the trace (:attr:`samples`, at most ``max_samples``: when full, neighbours are
    pooled and the sampler goes on at half the resolution, so the trace stays evenly spaced)
    and the peak (:attr:`peak_used_mb`, None when the probe never saw a GPU). A probe that
    raises or sees no GPU adds nothing; it never takes the job down with it. A probe with a
    ``session()`` context manager (NVML) is held open for the sampler's lifetime.
    """

    def __init__(
        self,
        probe: GpuProbe,
        interval_s: float = DEFAULT_INTERVAL_S,
        *,
        max_samples: int = MAX_SAMPLES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.probe = probe
        self.interval_s = interval_s
        self.max_samples = max(2, max_samples)
        self.clock = clock
        self.peak_used_mb: float | None = None
        self.total_mb: float | None = None
        self.failures = 0
        self.started_at: float | None = None  # epoch seconds, for placing the trace in time
        self._t0 = clock()
        self._samples: list[VramSample] = []
        self._stride = 1  # raw samples per stored sample (doubles at each pooling)
        self._pending: VramSample | None = None
        self._pending_n = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._stack = ExitStack()

    @property
    def samples(self) -> tuple[VramSample, ...]:
        """The trace so far, oldest first (``t`` strictly increasing)."""
        with self._lock:
            pending = [self._pending] if self._pending is not None else []
            return tuple(self._samples + pending)

    def _add(self, t: float, used: float) -> None:
        with self._lock:
            self.peak_used_mb = used if self.peak_used_mb is None else max(self.peak_used_mb, used)
            last = self._pending or (self._samples[-1] if self._samples else None)
            if last is not None and t <= last[0]:
                # The same instant twice (the closing sample right after the thread's last).
                if used > last[1]:
                    if self._pending is not None:
                        self._pending = (last[0], used)
                    else:
                        self._samples[-1] = (last[0], used)
                return
            if self._pending is None or used > self._pending[1]:
                self._pending = (t, used)
            self._pending_n += 1
            if self._pending_n < self._stride:
                return
            self._samples.append(self._pending)
            self._pending, self._pending_n = None, 0
            if len(self._samples) >= self.max_samples:
                self._samples = pool_pairs(self._samples)
                self._stride *= 2

    def sample(self) -> None:
        """Take one sample now (the thread calls this every ``interval_s``)."""
        try:
            snap = self.probe.snapshot()
        except Exception as exc:  # a probe must never take the job down with it
            self.failures += 1
            level = logging.INFO if self.failures == 1 else logging.DEBUG
            log.log(level, "VRAM sample failed (%s failures): %s", self.failures, exc)
            return
        if not snap.available:
            return
        self.total_mb = snap.total_mb
        used = round(max(0.0, snap.total_mb - snap.free_mb), 1)
        self._add(round(self.clock() - self._t0, 3), used)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval_s)

    def __enter__(self) -> VramSampler:
        session = getattr(self.probe, "session", None)
        if callable(session):
            try:
                self._stack.enter_context(session())
            except Exception as exc:  # sampling works without it, only slower
                log.debug("could not hold the GPU probe open: %s", exc)
        self._t0 = self.clock()
        self.started_at = time.time()
        self._thread = threading.Thread(target=self._loop, name="vram-sampler", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.sample()
        self._stack.close()
