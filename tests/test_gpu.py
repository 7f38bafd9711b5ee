"""GPU probes: NVML without a GPU is a state, ComfyUI /system_stats over loopback HTTP."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from render.gpu import (
    ComfyStatsProbe,
    NvmlGpuProbe,
    can_ever_fit,
    fits,
    probe_detail,
    select_gpu_probe,
)
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
    assert snap.available
    assert snap.name == "cpu (system RAM)"
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
