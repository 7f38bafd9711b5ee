"""The VRAM sampler: a trace and a peak from any GpuProbe, capped by max-pooling, never a
crash; and ``python -m render.gpu_check`` (light to import; the real check needs a GPU)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from fakes import FakeGpuProbe

from render.gpu import NvmlGpuProbe
from render.gpu_check import main as gpu_check
from render.vram import VramSampler, decimate, pool_pairs
from studio.ports import GpuSnapshot

REPO = Path(__file__).resolve().parents[1]


class ScriptedProbe:
    """A 10 000 MiB card whose used memory follows a script, one value per snapshot (the
    last one repeats); ``session()`` is counted like NVML's."""

    def __init__(self, used: list[float]) -> None:
        self.used = list(used)
        self.calls = 0
        self.sessions = 0
        self.open = 0

    def snapshot(self) -> GpuSnapshot:
        used = self.used[min(self.calls, len(self.used) - 1)]
        self.calls += 1
        return GpuSnapshot(True, "card", 10_000, 10_000 - used)

    @contextmanager
    def session(self):
        self.sessions += 1
        self.open += 1
        try:
            yield
        finally:
            self.open -= 1


class TickClock:
    """A monotonic clock that moves one second per reading."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


def test_pool_pairs_keeps_the_larger_of_each_pair_and_an_odd_tail():
    trace = [(0.0, 1.0), (1.0, 5.0), (2.0, 3.0), (3.0, 2.0), (4.0, 9.0)]
    assert pool_pairs(trace) == [(1.0, 5.0), (2.0, 3.0), (4.0, 9.0)]
    assert decimate(trace, 2) == [(1.0, 5.0), (4.0, 9.0)]
    assert decimate(trace, 10) == trace and decimate([], 3) == []


def test_sampler_keeps_the_trace_and_the_peak():
    probe = FakeGpuProbe(GpuSnapshot(True, "card", 10_000, 9_000))
    with VramSampler(probe, interval_s=0.01) as sampler:
        threading.Event().wait(0.03)
        probe.snapshot_value = GpuSnapshot(True, "card", 10_000, 3_000)
        threading.Event().wait(0.05)
        probe.snapshot_value = GpuSnapshot(True, "card", 10_000, 8_000)
        # Wait until the thread has seen the last value (a closing sample in the same
        # millisecond as the thread's previous one merges into it, keeping the larger).
        deadline = time.monotonic() + 5
        while sampler.samples[-1][1] != 2_000 and time.monotonic() < deadline:
            threading.Event().wait(0.01)
    assert sampler.peak_used_mb == 7_000 and sampler.total_mb == 10_000
    samples = sampler.samples
    assert len(samples) >= 3
    times = [t for t, _ in samples]
    assert times == sorted(times) and len(set(times)) == len(times)
    assert max(u for _, u in samples) == sampler.peak_used_mb
    assert samples[0][1] == 1_000 and samples[-1][1] == 2_000
    assert sampler.started_at is not None


def test_a_full_trace_is_pooled_evenly_and_keeps_its_peak():
    used = [float(i % 7) * 100 for i in range(100)]
    used[37] = 9_999.0
    probe = ScriptedProbe(used)
    sampler = VramSampler(probe, max_samples=16, clock=TickClock())
    for _ in range(100):
        sampler.sample()
    samples = sampler.samples
    assert len(samples) <= 16
    assert sampler.peak_used_mb == 9_999.0 == max(u for _, u in samples)
    gaps = {round(b[0] - a[0]) for a, b in zip(samples, samples[1:], strict=False)}
    assert max(gaps) <= 16  # evenly coarse (8 raw samples per stored one), not lopsided
    times = [t for t, _ in samples]
    assert times == sorted(times) and len(set(times)) == len(times)


class Raising:
    def snapshot(self) -> GpuSnapshot:
        raise RuntimeError("driver went away")


@pytest.mark.parametrize("probe", [Raising(), FakeGpuProbe()], ids=["raises", "no-gpu"])
def test_a_probe_that_raises_or_sees_no_gpu_adds_nothing(probe):
    with VramSampler(probe, interval_s=0.005) as sampler:
        threading.Event().wait(0.02)
    assert sampler.samples == () and sampler.peak_used_mb is None
    if isinstance(probe, Raising):
        assert sampler.failures >= 2  # it kept trying, and said so in the log, not the job
    else:
        assert sampler.failures == 0


def test_a_probe_session_is_held_while_sampling():
    probe = ScriptedProbe([100.0])
    with VramSampler(probe, interval_s=0.005):
        assert probe.open == 1
    assert probe.sessions == 1 and probe.open == 0


def test_gpu_check_imports_only_the_gpu_stack():
    code = (
        "import sys, render.gpu_check; heavy = {'pydantic', 'httpx', 'sqlite_utils', 'streamlit', 'torch'};"
        " print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_gpu_check_without_a_gpu_says_so(capsys):
    if NvmlGpuProbe().snapshot().available:
        pytest.skip("a GPU is present: test_gpu_check_sees_an_allocation runs instead")
    assert gpu_check([]) == 0
    assert "no NVIDIA GPU" in capsys.readouterr().out


@pytest.mark.gpu
def test_gpu_check_sees_an_allocation():
    if not NvmlGpuProbe().snapshot().available:
        pytest.skip("needs an NVIDIA GPU")
    out = subprocess.run(
        [sys.executable, "-m", "render.gpu_check", "--hold", "1.5"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "OK:" in out.stdout or "SKIP:" in out.stdout


def test_a_cpu_comfyui_server_is_not_sampled_as_vram() -> None:
    """A ``--cpu`` server reports system RAM in its VRAM fields: that is no VRAM trace."""
    from comfy_loopback import running

    from render.gpu import ComfyStatsProbe

    with running() as server:
        sampler = VramSampler(ComfyStatsProbe(server.url), interval_s=0.01)
        with sampler:
            time.sleep(0.05)
    assert sampler.samples == () and sampler.peak_used_mb is None and sampler.failures == 0
