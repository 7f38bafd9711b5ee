"""Health probes of the render side: ComfyUI, the GPU, ffmpeg and the render worker.

Each probe reports a state and a sentence; none raises (``studio doctor``, the sidebar).
"""

from __future__ import annotations

import importlib.util

from studio.config import Settings
from studio.ports import ProbeResult


def probe_comfyui(settings: Settings) -> ProbeResult:
    if not settings.comfyui_url:
        return ProbeResult(
            "comfyui", "not configured", "set AIUTEUR_COMFYUI_URL=http://127.0.0.1:8188 to use ComfyUI"
        )
    try:
        from render.comfy import ComfyBackend

        result = ComfyBackend(settings.comfyui_url).probe()
    except Exception as exc:  # the probe reports, never raises
        return ProbeResult("comfyui", "down", f"{settings.comfyui_url}: {exc}")
    active = settings.render_backend == "comfyui" and result.ok
    detail = f"{settings.comfyui_url}: {result.detail}"
    if not result.ok and settings.render_backend == "comfyui":
        detail += "; ComfyUI renders wait in the queue until it answers"
    return ProbeResult(result.name, result.state, detail, active)


def probe_gpu(settings: Settings) -> ProbeResult:
    """The GPU the render worker gates on, and what that means for renders, as they really
    go: with the ComfyUI backend and no GPU in sight (the server down, or no card) ComfyUI
    jobs WAIT in the queue (``waiting_vram``) until one is seen — nothing falls back to the
    animatic; a ``--cpu`` server renders on the CPU, slowly, without a VRAM gate."""
    try:
        from render.gpu import is_cpu, probe_detail, select_gpu_probe

        probe = select_gpu_probe(settings.comfyui_url)
        snapshot = probe.snapshot()
    except Exception as exc:  # "no GPU" is a state, never a crash
        return ProbeResult("gpu", "no gpu", f"GPU probe unavailable ({type(exc).__name__})")
    comfy = settings.render_backend == "comfyui"
    if snapshot.available:
        return ProbeResult(
            "gpu", "ok", f"{snapshot.name}: {snapshot.free_mb:.0f} of {snapshot.total_mb:.0f} MiB free", True
        )
    if is_cpu(snapshot):
        then = (
            "ComfyUI renders run there on the CPU: slowly, and with no VRAM gate"
            if comfy
            else "renders use the CPU animatic (the render backend is animatic)"
        )
        return ProbeResult("gpu", "no gpu", f"{probe_detail(probe)}; {then}")
    why = probe_detail(probe) or "no GPU found"
    if comfy:
        return ProbeResult(
            "gpu",
            "no gpu",
            f"{why}: ComfyUI renders wait in the queue until ComfyUI answers with a GPU (or a "
            "--cpu device); they do not fall back to the animatic: set the render backend to "
            "animatic to render on the CPU",
        )
    return ProbeResult("gpu", "no gpu", f"{why}: renders use the CPU animatic (the render backend is animatic)")


def probe_ffmpeg(settings: Settings) -> ProbeResult:
    if importlib.util.find_spec("imageio_ffmpeg") is None:
        return ProbeResult("ffmpeg", "not installed", "arrives with the render backend")
    import imageio_ffmpeg

    return ProbeResult("ffmpeg", "ok", imageio_ffmpeg.get_ffmpeg_exe(), True)


def probe_worker(settings: Settings) -> ProbeResult:
    try:
        from render.worker import worker_status

        status = worker_status(settings)
    except Exception as exc:  # the probe reports, never raises
        return ProbeResult("worker", "down", f"render queue unreadable: {exc}")
    counts = status.get("queue", {})
    waiting = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()) if v) or "empty"
    if status.get("alive"):
        return ProbeResult("worker", "ok", f"pid {status['pid']}; queue: {waiting}", True)
    return ProbeResult(
        "worker", "down", f"no live worker (the app starts one; or run `studio worker`); queue: {waiting}"
    )
