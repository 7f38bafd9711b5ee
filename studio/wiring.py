"""The one composition root: builds the Studio from Settings with the configured adapters.

It only assembles: adapter code lives in its adapter package (``render.health``,
``render.queue_port``, ``qa.engine``, ...). Adapters are imported lazily here and nowhere
else in ``studio/``, so the core stays importable without them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from studio.config import Settings
from studio.ports import ProbeResult
from studio.services import Studio
from studio.store import Store


def probes(settings: Settings) -> list[Callable[[], ProbeResult]]:
    """Every health check ``studio doctor`` and the sidebar show, in display order."""
    from agents.health import probe_llm
    from rag.health import probe_chroma, probe_embeddings
    from render.health import probe_comfyui, probe_ffmpeg, probe_gpu, probe_worker

    checks = [probe_llm, probe_embeddings, probe_chroma, probe_comfyui, probe_gpu, probe_ffmpeg, probe_worker]
    return [lambda check=check: check(settings) for check in checks]


def run_worker(settings: Settings, *, once: bool = False) -> int:
    """The render worker in this process: ``studio worker``, or ``drain_queue`` with
    ``once``. In the main thread SIGTERM/SIGINT stop it cleanly (the running job is handed
    back, no attempt counted); it writes ``logs/worker.log`` like the app's worker."""
    from render.gpu import select_gpu_probe
    from render.worker import build_backends, serve, worker_log

    probe = select_gpu_probe(settings.comfyui_url)
    return serve(settings, build_backends(settings), probe, once=once, log_file=worker_log(settings))


def bench_render(settings: Settings) -> tuple[dict[str, Any], str]:
    """``studio bench render`` figures (animatic, assembly, queue dispatch)."""
    from render.bench import bench_render as measure
    from render.bench import format_figures

    figures = measure()
    return figures, format_figures(figures)


def bench_qa(settings: Settings) -> tuple[dict[str, Any], str]:
    """``studio bench qa`` figures (frames analysed per second vs SSIM alone)."""
    from qa.bench import bench_qa as measure
    from qa.bench import format_figures

    figures = measure()
    return figures, format_figures(figures)


def build_studio(settings: Settings, *, autostart_worker: bool = False) -> Studio:
    """The Studio for a data dir, with every backend the settings name.

    ``autostart_worker`` (the app) starts a background render worker when a job is queued
    and none is alive; the CLI and tests render in-process with ``drain_queue`` instead.
    """
    settings.home.mkdir(parents=True, exist_ok=True)
    for sub in (settings.media_dir, settings.exports_dir, settings.logs_dir):
        sub.mkdir(parents=True, exist_ok=True)
    store = Store(settings.db_path, settings.media_dir, busy_timeout_ms=settings.busy_timeout_ms)
    from qa.engine import MetricsQaEngine
    from qa.runlog import RunLog
    from render.animatic import AnimaticCardRenderer
    from render.gpu import select_gpu_probe
    from render.images import PillowReferenceImages
    from render.presets import preset_table
    from render.queue_port import QueuePort
    from render.worker import ensure_worker, open_queue

    qa_engine = MetricsQaEngine()
    return Studio(
        settings,
        store,
        probes=probes(settings),
        presets=preset_table(),
        frame_renderer=AnimaticCardRenderer(),
        reference_images=PillowReferenceImages(),
        render_queue=QueuePort(open_queue(settings)),
        gpu_probe=select_gpu_probe(settings.comfyui_url),
        drain_queue=lambda: run_worker(settings, once=True),
        start_worker=(lambda: ensure_worker(settings)) if autostart_worker else None,
        qa_engine=qa_engine,
        drift_check=qa_engine,
        run_log=RunLog(settings.db_path),
    )
