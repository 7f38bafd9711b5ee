"""GPU probes: NVML without a GPU is a state, ComfyUI /system_stats over loopback HTTP."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from comfy_loopback import running

from render.comfy import ComfyBackend
from render.gpu import (
    ComfyStatsProbe,
    NvmlGpuProbe,
    can_ever_fit,
    fits,
    is_cpu,
    probe_detail,
    select_gpu_probe,
)
from render.health import probe_comfyui, probe_gpu
from render.manifest import read_manifest
from render.worker import WorkerOptions, open_queue, run_worker
from studio.config import Settings
from studio.model import RenderSpec
from studio.ports import GpuProbe, GpuSnapshot

# Recorded from a real ComfyUI 0.3.64 (see tests/fixtures/comfyui/README.md).
SAMPLE = Path(__file__).resolve().parent / "fixtures" / "comfyui" / "samples" / "http_system_stats.json"
MIB = 1024 * 1024


def _nvml_works() -> bool:
    try:
        import pynvml

        pynvml.nvmlInit()
        pynvml.nvmlShutdown()
        return True
    except Exception:
        return False


def test_nvml_probe_without_a_gpu_reports_unavailable():
    probe = NvmlGpuProbe()
    assert isinstance(probe, GpuProbe)
    snap = probe.snapshot()  # must never raise
    if _nvml_works():
        assert snap.available and snap.total_mb > 0 and 0 <= snap.free_mb <= snap.total_mb
    else:
        assert snap == GpuSnapshot(available=False)
        assert "driver" in probe_detail(probe).lower() or "nvml" in probe_detail(probe).lower()


def test_nvml_probe_for_a_missing_index_is_unavailable():
    snap = NvmlGpuProbe(index=99).snapshot()
    assert snap.available is False


def test_fits_with_margin():
    snap = GpuSnapshot(available=True, name="card", total_mb=24_000, free_mb=10_000)
    assert fits(snap, 9_000, 512)
    assert not fits(snap, 9_600, 512)
    assert fits(GpuSnapshot(available=False), 0)
    assert not fits(GpuSnapshot(available=False), 1)
    assert can_ever_fit(snap, 20_000, 512)
    assert not can_ever_fit(snap, 23_800, 512)


class _Handler(BaseHTTPRequestHandler):
    payloads: dict[str, tuple[int, bytes]] = {}

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        status, body = self.payloads.get(self.path, (404, b"{}"))
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def stats_server() -> Iterator[tuple[str, dict[str, tuple[int, bytes]]]]:
    payloads: dict[str, tuple[int, bytes]] = {}
    handler = type("Handler", (_Handler,), {"payloads": payloads})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", payloads
    finally:
        server.shutdown()
        server.server_close()


def test_comfy_stats_probe_reads_the_recorded_cpu_server(stats_server):
    url, payloads = stats_server
    raw = SAMPLE.read_bytes()
    payloads["/system_stats"] = (200, raw)
    device = json.loads(raw)["devices"][0]
    snap = ComfyStatsProbe(url + "/").snapshot()
    assert not snap.available and is_cpu(snap)  # a --cpu server: no GPU
    assert snap.name == "cpu (system RAM, no GPU)"
    assert snap.total_mb == pytest.approx(device["vram_total"] / MIB)
    assert snap.free_mb == pytest.approx(device["vram_free"] / MIB)


def test_comfy_stats_probe_prefers_the_gpu_device(stats_server):
    url, payloads = stats_server
    stats = json.loads(SAMPLE.read_text())
    stats["devices"].append(
        {
            "name": "cuda:0 NVIDIA GeForce RTX 4090 : cudaMallocAsync",
            "type": "cuda",
            "index": 0,
            "vram_total": 24 * 1024 * MIB,
            "vram_free": 20 * 1024 * MIB,
            "torch_vram_total": 0,
            "torch_vram_free": 0,
        }
    )
    payloads["/system_stats"] = (200, json.dumps(stats).encode())
    probe = ComfyStatsProbe(url)
    snap = probe.snapshot()
    assert snap.available and "4090" in snap.name
    assert snap.total_mb == 24 * 1024 and snap.free_mb == 20 * 1024
    assert fits(snap, 15_360, 512)


@pytest.mark.parametrize(
    ("status", "body", "detail"),
    [
        (500, b"boom", "not reachable"),
        (200, b"<html>", "not JSON"),
        (200, b'{"devices": []}', "no device"),
        (200, b'{"devices": [{"name": "x", "type": "cuda"}]}', "without memory"),
    ],
)
def test_comfy_stats_probe_bad_answers_are_unavailable(stats_server, status, body, detail):
    url, payloads = stats_server
    payloads["/system_stats"] = (status, body)
    probe = ComfyStatsProbe(url)
    assert probe.snapshot() == GpuSnapshot(available=False)
    assert detail in probe.detail


def test_comfy_stats_probe_server_down():
    probe = ComfyStatsProbe("http://127.0.0.1:9", timeout_s=0.5)
    assert probe.snapshot().available is False
    assert "not reachable" in probe.detail


def test_nvml_session_without_a_gpu_is_harmless():
    probe = NvmlGpuProbe()
    with probe.session():
        assert probe.snapshot().available in (True, False)  # no GPU: a state, not a crash


def test_select_gpu_probe():
    assert isinstance(select_gpu_probe("http://127.0.0.1:8188"), ComfyStatsProbe)
    assert isinstance(select_gpu_probe(None), NvmlGpuProbe)


# --------------------------------------------------------------------------- a --cpu ComfyUI


def test_a_cpu_server_is_no_gpu_and_is_not_vram_gated(stats_server):
    url, payloads = stats_server
    payloads["/system_stats"] = (200, SAMPLE.read_bytes())  # the recorded --cpu server
    probe = ComfyStatsProbe(url)
    snap = probe.snapshot()
    assert is_cpu(snap) and not snap.available  # system RAM is not VRAM
    assert "--cpu" in probe.detail
    # Its jobs are not held for VRAM it does not have, whatever the preset asks.
    assert fits(snap, 500_000) and can_ever_fit(snap, 500_000)
    assert not is_cpu(GpuSnapshot(available=False)) and not fits(GpuSnapshot(available=False), 1)


def _frame(preset: str, shot: str = "1A") -> RenderSpec:
    return RenderSpec(
        kind="frame", project_id="p", scene_id="sc1", shot_id=shot, which="start", seed=7,
        width=512, height=512, preset=preset, prompts={"frame": "a lighthouse keeper at dusk"},
    )


FAST_WORKER = WorkerOptions(poll_s=0.02, heartbeat_s=0.1, progress_interval_s=0.05, cancel_check_s=0.02,
                            sample_vram_s=0.02)


def test_the_worker_renders_on_a_cpu_server_and_records_no_vram(tmp_path: Path) -> None:
    # 4 GiB of RAM, a preset that asks for 10 GiB of VRAM: on a GPU it would wait forever.
    with running(cpu_ram=(4 * 2**30, 3 * 2**30)) as server:
        settings = Settings(home=tmp_path, comfyui_url=server.url, render_backend="comfyui")
        queue = open_queue(settings)
        try:
            job = queue.enqueue(_frame("production-stable"), backend="comfyui")
            backend = ComfyBackend(server.url)
            run_worker(settings, {"comfyui": backend}, ComfyStatsProbe(server.url), once=True,
                       queue=queue, options=FAST_WORKER)
            backend.client.close()
            record = queue.record(job.id)
        finally:
            queue.close()
    assert record.status == "done", record.message
    assert record.peak_vram_mb is None and record.vram_samples == ()
    manifest = read_manifest(Path(record.output_dir or ""))
    assert manifest.peak_vram_mb is None and "cpu" in manifest.gpu


def test_a_cpu_out_of_memory_falls_back_to_a_lower_preset(tmp_path: Path) -> None:
    with running() as server:
        server.fault("oom_cpu")
        settings = Settings(home=tmp_path, comfyui_url=server.url, render_backend="comfyui")
        queue = open_queue(settings)
        try:
            job = queue.enqueue(_frame("production-stable"), backend="comfyui")
            backend = ComfyBackend(server.url)
            run_worker(settings, {"comfyui": backend}, ComfyStatsProbe(server.url), once=True,
                       queue=queue, options=FAST_WORKER)
            backend.client.close()
            record = queue.record(job.id)
            events = [e.message for e in queue.events(job_id=job.id)]
        finally:
            queue.close()
    assert record.status == "done", record.message
    assert record.fallback_from == "production-stable" and record.preset != "production-stable"
    assert any("out of" in m and "retrying once" in m for m in events), events


def test_doctor_says_what_renders_really_do_with_the_server_down(tmp_path: Path) -> None:
    down = Settings(home=tmp_path, comfyui_url="http://127.0.0.1:9", render_backend="comfyui")
    said = probe_gpu(down)
    assert said.state == "no gpu" and "wait in the queue" in said.detail
    assert "renders use the CPU animatic" not in said.detail
    assert "wait in the queue" in probe_comfyui(down).detail
    # What really happens: the ComfyUI job waits for a GPU; nothing renders it elsewhere.
    queue = open_queue(down)
    try:
        job = queue.enqueue(_frame("fast"), backend="comfyui")
        run_worker(down, {"comfyui": ComfyBackend(down.comfyui_url or "")},
                   ComfyStatsProbe(down.comfyui_url or "", timeout_s=0.5), once=True, queue=queue,
                   options=FAST_WORKER)
        assert queue.record(job.id).status == "waiting_vram"
    finally:
        queue.close()
    animatic = Settings(home=tmp_path, render_backend="animatic", comfyui_url="http://127.0.0.1:9")
    assert "renders use the CPU animatic" in probe_gpu(animatic).detail


def test_doctor_on_a_cpu_server(tmp_path: Path) -> None:
    with running() as server:
        settings = Settings(home=tmp_path, comfyui_url=server.url, render_backend="comfyui")
        gpu, comfy = probe_gpu(settings), probe_comfyui(settings)
    assert gpu.state == "no gpu" and "--cpu" in gpu.detail and "on the CPU" in gpu.detail
    assert comfy.ok and "on the CPU" in comfy.detail
