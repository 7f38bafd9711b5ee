"""``ComfyBackend``: the render backend that turns a ``RenderSpec`` into a filled ComfyUI
workflow, queues it through :class:`render.comfy_client.ComfyClient` and downloads what it
produced.

The protocol facts (the websocket is a hint, ``/history`` the truth, a prompt in neither is
lost) are written down in :mod:`render.comfy_client`; this module decides what to render
and queues a lost prompt once more. The client names are re-exported here for the callers
that import them from ``render.comfy``.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from render.backend import CancelledFn, ProgressFn, RenderFailed, RenderOutput
from render.comfy_client import (
    DEFAULT_URL,
    ComfyClient,
    PromptResult,
    QueueState,
    is_oom,
    summarize_node_errors,
)
from render.gpu import CpuSnapshot
from render.workflows import (
    IndexEntry,
    TemplateError,
    WorkflowIndex,
    fill,
    load_index,
    model_files,
    preflight_error,
    template_values,
    validate_against,
    workflow_hash,
)
from studio.model import RenderSpec
from studio.ports import GpuSnapshot, ProbeResult

__all__ = [
    "BUILTIN_TUNING",
    "DEFAULT_URL",
    "ComfyBackend",
    "ComfyClient",
    "PromptResult",
    "QueueState",
    "Tuning",
    "is_oom",
    "load_tuning",
    "summarize_node_errors",
    "wan_length",
]

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------- backend


@dataclass(frozen=True)
class Tuning:
    """What a render preset sets for ComfyUI: sampler steps and guidance for anchor frames
    (``frame_*``) and clips, and the model families (the fields of ``data/presets.toml``)."""

    frame_steps: int
    frame_cfg: float
    steps: int
    cfg: float
    frame_model: str
    video_model: str


# Used only when ``data/presets.toml`` cannot be read (render.presets is the source).
BUILTIN_TUNING: dict[str, Tuning] = {
    "fast": Tuning(20, 6.0, 12, 5.0, "sdxl", "wan2.2-ti2v-5b"),
    "production-stable": Tuning(28, 5.5, 20, 5.2, "sdxl", "wan2.2-a14b-fp8"),
    "cinematic": Tuning(32, 3.5, 30, 5.5, "flux-dev-fp8", "wan2.2-a14b-fp8"),
}


def load_tuning() -> dict[str, Tuning]:
    """Every preset's tuning from ``data/presets.toml`` (via render.presets), or the
    built-in table when that file cannot be read."""
    try:
        from render.presets import load_presets

        presets = load_presets()
    except (ImportError, OSError, ValueError) as exc:
        log.warning("render presets unavailable (%s); using the built-in ComfyUI tuning", exc)
        return dict(BUILTIN_TUNING)
    return {
        name: Tuning(p.frame_steps, p.frame_cfg, p.steps, p.cfg, p.frame_model, p.video_model)
        for name, p in presets.items()
    }


DEFAULT_TEMPLATES = {
    "sdxl": "keyframe_sdxl",
    "flux": "keyframe_flux",
    "reference": "img2img_reference",
    "region": "inpaint_region",
    "flf2v": "wan22_flf2v",
    "i2v": "wan22_i2v",
    "i2v_5b": "wan22_ti2v_5b",
}
_UPLOAD_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".mp4", ".webm", ".mov", ".mkv"}


def wan_length(duration_s: float, fps: int) -> int:
    """Frames for a Wan clip: duration x fps rounded up to the next 4n+1 (Wan's VAE packs 4
    frames per latent after the first), at least 5."""
    frames = max(1, round(duration_s * fps))
    return max(5, 4 * math.ceil((frames - 1) / 4) + 1)


def _round_to(value: int, step: int) -> int:
    return max(step, int(round(value / step)) * step)


def _preset_key(preset: str) -> str:
    key = preset.strip().lower().replace("_", "-").replace(" ", "-")
    return {"production": "production-stable", "stable": "production-stable"}.get(key, key)


def _slug(text: str, limit: int = 40) -> str:
    slug = re.sub(r"[^0-9A-Za-z]+", "-", text).strip("-")[:limit].strip("-")
    return slug or "x"


def _safe_name(name: str) -> str:
    base = PurePosixPath(name.replace("\\", "/")).name
    base = re.sub(r"[^0-9A-Za-z._-]+", "_", base).lstrip("-.")
    return base or "output"


class ComfyBackend:
    """The ComfyUI render backend: spec → template → upload → preflight → queue → wait →
    download.

    Template choice: a ``frame`` with ``region_prompt`` and a ``mask`` input is a region
    edit (``inpaint_region``; the frame being edited is ``inputs["image"]``, else the
    ``start_frame``/``end_frame`` named by ``which``, else ``reference``); a frame with a
    ``reference`` input continues it (``img2img_reference``); any other frame is a keyframe
    for the frame model ``spec.prompts["frame_model"]``, else the preset's ``frame_model``
    (``sdxl…`` -> keyframe_sdxl, ``flux…`` -> keyframe_flux). A ``clip`` with
    ``start_frame`` and ``end_frame`` is Wan 2.2 14B first-last-frame-to-video (the only Wan
    2.2 model with an end-frame mode, whatever the preset's video model); with
    ``start_frame`` only it is Wan 2.2 image-to-video: TI2V-5B when the preset's
    ``video_model`` names the 5B, else the 14B experts.

    Steps and guidance come from the preset (``data/presets.toml``: ``frame_steps`` /
    ``frame_cfg`` for frames, Flux's guidance included; ``steps`` / ``cfg`` for clips).
    A clip is generated at its model's native rate (the template's CreateVideo fps: 16 for
    Wan 2.2 14B, 24 for the 5B) for ``duration_s`` seconds: ``duration_s × fps`` frames,
    rounded up to 4n+1 (``wan_length``). Conforming it to the delivery ``spec.fps`` is
    post-processing's job.

    ``templates`` overrides those choices (keys of ``DEFAULT_TEMPLATES``), ``models``
    overrides model files by parameter name (``{"checkpoint": "juggernautXL.safetensors"}``),
    ``params`` adds fixed parameters per template (``{"wan22_flf2v":
    {"text_encoder_device": "cpu"}}`` keeps the text encoder off a small card), ``tuning``
    replaces the presets file.
    """

    name = "comfyui"

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        workflows_dir: Path | str | None = None,
        *,
        client: ComfyClient | None = None,
        templates: Mapping[str, str] | None = None,
        models: Mapping[str, str] | None = None,
        params: Mapping[str, Mapping[str, Any]] | None = None,
        tuning: Mapping[str, Tuning] | None = None,
        frame_model: str = "sdxl",
        job_timeout: float = 3600.0,
        vram_sample_s: float = 2.0,
    ) -> None:
        self.client = client or ComfyClient(base_url, job_timeout=job_timeout)
        self.index: WorkflowIndex = load_index(workflows_dir)
        self.templates = {**DEFAULT_TEMPLATES, **(templates or {})}
        self.models = dict(models or {})
        self.params = {k: dict(v) for k, v in (params or {}).items()}
        self.tuning = dict(tuning) if tuning is not None else load_tuning()
        self.frame_model = frame_model
        self.job_timeout = job_timeout
        self.vram_sample_s = vram_sample_s
        for name in self.templates.values():
            self.index.entry(name)  # fail early on a misnamed template

    # ------------------------------------------------------------------ health

    def probe(self) -> ProbeResult:
        """Health for Settings / ``studio doctor``: version and device, or why it is down."""
        try:
            stats = self.client.system_stats()
        except RenderFailed as exc:
            return ProbeResult("comfyui", "down", str(exc))
        system = stats.get("system") or {}
        devices = stats.get("devices") or [{}]
        version = system.get("comfyui_version", "?")
        if devices[0].get("type") == "cpu":
            return ProbeResult(
                "comfyui",
                "ok",
                f"ComfyUI {version} on the CPU (started with --cpu): no GPU, renders are slow",
            )
        return ProbeResult("comfyui", "ok", f"ComfyUI {version} on {devices[0].get('name', '?')}")

    def snapshot(self) -> GpuSnapshot:
        """Remote VRAM from ``/system_stats`` (GpuProbe); a ``--cpu`` server has no GPU (a
        ``CpuSnapshot``: its RAM is not VRAM)."""
        try:
            stats = self.client.system_stats()
        except RenderFailed:
            return GpuSnapshot(available=False)
        devices = stats.get("devices") or []
        if not devices:
            return GpuSnapshot(available=False)
        if devices[0].get("type") == "cpu":
            try:
                total = float(devices[0].get("vram_total", 0)) / 2**20
                free = float(devices[0].get("vram_free", 0)) / 2**20
            except (TypeError, ValueError):
                total = free = 0.0
            return CpuSnapshot(total_mb=total, free_mb=free)
        d = devices[0]
        return GpuSnapshot(
            available=True,
            name=str(d.get("name", "")),
            total_mb=float(d.get("vram_total", 0)) / 2**20,
            free_mb=float(d.get("vram_free", 0)) / 2**20,
        )

    # ------------------------------------------------------------------ choosing

    def tuning_for(self, spec: RenderSpec) -> Tuning:
        """The preset's tuning; an unknown preset is a validation failure."""
        key = _preset_key(spec.preset)
        found = self.tuning.get(spec.preset) or self.tuning.get(key)
        if found is None:
            raise RenderFailed(
                f"unknown preset {spec.preset!r}; choose one of {', '.join(self.tuning)}",
                "validation",
            )
        return found

    def choose_template(self, spec: RenderSpec) -> str:
        """The template name for ``spec`` (see the class docstring)."""
        if spec.kind == "frame":
            if spec.region_prompt and "mask" in spec.inputs:
                return self.templates["region"]
            if "reference" in spec.inputs:
                return self.templates["reference"]
            chosen = spec.prompts.get("frame_model") or self.tuning_for(spec).frame_model
            model = (chosen or self.frame_model).strip().lower()
            for family in ("sdxl", "flux"):
                if model.startswith(family):
                    return self.templates[family]
            raise RenderFailed(
                f"ComfyUI renders frames with sdxl or flux models, not {model!r}", "validation"
            )
        if spec.kind == "clip":
            if "start_frame" not in spec.inputs:
                raise RenderFailed(
                    "a clip needs an approved start frame (inputs['start_frame'])", "validation"
                )
            if "end_frame" in spec.inputs:
                return self.templates["flf2v"]
            small = "5b" in self.tuning_for(spec).video_model.lower()
            return self.templates["i2v_5b" if small else "i2v"]
        raise RenderFailed(
            f"the ComfyUI backend renders frames and clips, not {spec.kind!r} (that is ffmpeg's "
            "or the animatic's job)",
            "validation",
        )

    def params_for(self, spec: RenderSpec, entry: IndexEntry) -> dict[str, Any]:
        """Every parameter but the uploaded files: prompts, seed, size, length, steps, models."""
        tuning = self.tuning_for(spec)
        family = entry.family
        fixed = self.params.get(entry.name, {})
        want: dict[str, Any] = {}
        if entry.output == "video":
            text = spec.prompts.get("video", "").strip()
            if not text:
                raise RenderFailed(
                    "the shot has no video prompt; assemble prompts (stage 9) first", "validation"
                )
            if spec.duration_s <= 0:
                raise RenderFailed("a clip needs a duration above 0 s", "validation")
            native = fixed.get("fps") or template_values(
                self.index.load_template(entry.name), entry
            ).get("fps")
            fps = float(native or spec.fps)
            step = 32 if family == "wan5b" else 16
            want.update(
                prompt=text,
                width=_round_to(spec.width, step),
                height=_round_to(spec.height, step),
                frames=wan_length(spec.duration_s, fps),
                fps=fps,
                steps=tuning.steps,
                cfg=float(tuning.cfg),
            )
            if "switch_step" in entry.params:
                want["steps"] = max(2, tuning.steps)
                want["switch_step"] = want["steps"] // 2
        else:
            text = (
                spec.region_prompt if "mask" in entry.params else spec.prompts.get("frame", "")
            ) or ""
            if not text.strip():
                raise RenderFailed(
                    "the shot has no frame prompt; assemble prompts (stage 9) first", "validation"
                )
            step = 16 if family == "flux" else 8
            want.update(
                prompt=text.strip(),
                width=_round_to(spec.width, step),
                height=_round_to(spec.height, step),
                steps=tuning.frame_steps,
            )
            if family == "flux":
                # Flux dev is guidance-distilled: cfg stays 1, FluxGuidance carries it. A
                # preset tuned for SDXL has an SDXL cfg, which is no Flux guidance.
                flux_preset = tuning.frame_model.lower().startswith("flux")
                want["guidance"] = float(tuning.frame_cfg) if flux_preset else 3.5
            else:
                want["cfg"] = float(tuning.frame_cfg)
        want["seed"] = spec.seed
        if spec.prompts.get("negative", "").strip():
            # Otherwise the template's own negative prompt stands (Flux has none: cfg 1).
            want["negative"] = spec.prompts["negative"].strip()
        shot = _slug(spec.shot_id or spec.scene_id)
        which = spec.which or spec.kind
        want["filename_prefix"] = f"aiuteur/{_slug(spec.project_id)}_{shot}_{which}"
        want.update({k: v for k, v in self.models.items() if k in entry.models})
        want.update(fixed)
        return {k: v for k, v in want.items() if k in entry.params}

    def _input_path(self, spec: RenderSpec, role: str) -> Path:
        candidates = [role]
        if role == "image":
            candidates += ["frame", f"{spec.which}_frame" if spec.which else "", "reference"]
        for key in candidates:
            if key and key in spec.inputs:
                path = Path(spec.inputs[key])
                if not path.is_file():
                    raise RenderFailed(f"input {key} file {path} does not exist", "validation")
                return path
        raise RenderFailed(f"the render needs an input file for {role!r}", "validation")

    def _upload(
        self, spec: RenderSpec | None, entry: IndexEntry, inputs: Mapping[str, Path] | None = None
    ) -> dict[str, str]:
        """Upload each file parameter's input; parameter -> name on the server. Names carry
        the content hash, so re-uploading (after a restart) gives the same graph."""
        uploaded: dict[str, str] = {}
        for param, pspec in entry.params.items():
            if pspec.type not in ("image", "video"):
                continue
            role = pspec.role or param
            if spec is None:
                if role not in (inputs or {}):
                    continue
                path = Path((inputs or {})[role])
            else:
                path = self._input_path(spec, role)
            try:
                digest = hashlib.sha256(path.read_bytes()).hexdigest()[:20]
            except OSError as exc:
                raise RenderFailed(
                    f"cannot read input {role} file {path}: {exc}", "validation"
                ) from exc
            suffix = (
                path.suffix.lower()
                if path.suffix.lower() in _UPLOAD_SUFFIXES
                else (".png" if pspec.type == "image" else ".mp4")
            )
            result = self.client.upload_image(
                path, subfolder="aiuteur", name=f"{role}_{digest}{suffix}"
            )
            uploaded[param] = (
                f"{result['subfolder']}/{result['name']}" if result["subfolder"] else result["name"]
            )
        return uploaded

    # ------------------------------------------------------------------ running

    def run(
        self, spec: RenderSpec, out_dir: Path, progress: ProgressFn, cancelled: CancelledFn
    ) -> RenderOutput:
        """Render ``spec`` into ``out_dir``; raise RenderFailed (see ``failure_class``)."""
        progress(0.0, "preparing the ComfyUI workflow")
        name = self.choose_template(spec)
        entry = self.index.entry(name)
        params = self.params_for(spec, entry)
        return self._execute(
            entry, params, out_dir, progress, cancelled, lambda: self._upload(spec, entry)
        )

    def run_template(
        self,
        name: str,
        params: Mapping[str, Any],
        inputs: Mapping[str, Path],
        out_dir: Path,
        progress: ProgressFn,
        cancelled: CancelledFn,
    ) -> RenderOutput:
        """Run any indexed template (interpolation, upscale…) with explicit parameters and
        input files by role (``{"video": Path(...)}``)."""
        entry = self.index.entry(name)
        merged = {
            **{k: v for k, v in self.models.items() if k in entry.models},
            **self.params.get(name, {}),
            **params,
        }
        return self._execute(
            entry, merged, out_dir, progress, cancelled, lambda: self._upload(None, entry, inputs)
        )

    def _execute(
        self,
        entry: IndexEntry,
        params: Mapping[str, Any],
        out_dir: Path,
        progress: ProgressFn,
        cancelled: CancelledFn,
        upload: Callable[[], dict[str, str]],
    ) -> RenderOutput:
        if cancelled():
            raise RenderFailed("render cancelled before it was queued", "interrupted")
        template = self.index.load_template(entry.name)
        progress(0.01, "uploading inputs to ComfyUI")
        uploaded = upload()
        try:
            graph = fill(template, {**params, **uploaded}, entry)
        except TemplateError as exc:
            raise RenderFailed(str(exc), "validation") from exc
        self._preflight(graph, entry, uploaded.values())
        peak = _PeakVram(self.client, self.vram_sample_s)
        peak.sample()
        result: PromptResult | None = None
        for attempt in (1, 2):
            if cancelled():
                raise RenderFailed("render cancelled before it was queued", "interrupted")
            progress(0.03, "queued on ComfyUI" if attempt == 1 else "queued on ComfyUI again")
            prompt_id = self.client.queue_prompt(graph)

            def report(frac: float, message: str) -> None:
                peak.maybe_sample()
                progress(0.05 + 0.9 * frac, message)

            try:
                result = self.client.wait(
                    prompt_id,
                    progress=report,
                    cancelled=cancelled,
                    timeout=self.job_timeout,
                    graph=graph,
                )
                break
            except RenderFailed as exc:
                if exc.failure_class != "lost":
                    raise
                if attempt == 2:
                    raise RenderFailed(
                        f"{exc} — it was lost twice, so the job stops here; check the ComfyUI server",
                        "lost",
                    ) from exc
                log.warning("ComfyUI lost prompt %s; queueing it once more", prompt_id)
                progress(0.03, "ComfyUI lost the prompt (restarted?); queueing it again")
                upload()  # the inputs may be gone with the server; same names, same graph
        assert result is not None
        peak.sample()
        progress(0.96, "downloading outputs")
        files = self._download(result, out_dir)
        return RenderOutput(
            files=tuple(files),
            models=model_files(graph, entry),
            workflow_hash=workflow_hash(graph),
            peak_vram_mb=peak.peak_mb,
            versions=peak.versions,
        )

    def _preflight(
        self, graph: Mapping[str, Any], entry: IndexEntry, uploaded: Iterable[str]
    ) -> None:
        uploaded = list(uploaded)
        problems = validate_against(graph, self.client.object_info(), uploaded=uploaded)
        if problems:
            # A model or node pack may have been installed since the list was cached.
            problems = validate_against(
                graph, self.client.object_info(refresh=True), uploaded=uploaded
            )
        if problems:
            raise preflight_error(problems, entry)

    def _download(self, result: PromptResult, out_dir: Path) -> list[Path]:
        out_dir.mkdir(parents=True, exist_ok=True)
        files: list[Path] = []
        for item in result.files():
            data = self.client.download(item["filename"], item["subfolder"], item["type"])
            target = out_dir / _safe_name(item["filename"])
            n = 1
            while target.exists():
                target = (
                    out_dir
                    / f"{Path(_safe_name(item['filename'])).stem}_{n}{Path(item['filename']).suffix}"
                )
                n += 1
            target.write_bytes(data)
            files.append(target)
        if not files:
            raise RenderFailed(
                f"ComfyUI finished prompt {result.prompt_id} but produced no output file", "error"
            )
        return files


class _PeakVram:
    """Best-effort peak VRAM from ``/system_stats`` samples (none on a ``--cpu`` server)."""

    def __init__(self, client: ComfyClient, every_s: float) -> None:
        self.client = client
        self.every_s = every_s
        self.peak_mb: float | None = None
        self.versions: dict[str, str] = {}
        self._last = 0.0

    def maybe_sample(self) -> None:
        if time.monotonic() - self._last >= self.every_s:
            self.sample()

    def sample(self) -> None:
        self._last = time.monotonic()
        try:
            stats = self.client.system_stats()
        except RenderFailed:
            return
        system = stats.get("system") or {}
        devices = stats.get("devices") or []
        if not self.versions:
            self.versions = {
                k: str(v)
                for k, v in (
                    ("comfyui", system.get("comfyui_version")),
                    ("pytorch", system.get("pytorch_version")),
                    ("device", devices[0].get("name") if devices else None),
                )
                if v
            }
        if not devices or devices[0].get("type") == "cpu":
            return
        try:
            used = (float(devices[0]["vram_total"]) - float(devices[0]["vram_free"])) / 2**20
        except (KeyError, TypeError, ValueError):
            return
        self.peak_mb = used if self.peak_mb is None else max(self.peak_mb, used)
