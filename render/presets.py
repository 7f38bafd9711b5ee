"""Render presets (Fast, Production-stable, Cinematic) from ``data/presets.toml``.

A preset fixes the resolution, frame rates, sampler settings and the VRAM a frame or clip
job needs; ``lower`` names the preset an out-of-memory failure falls back to (once).
"""

from __future__ import annotations

import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

PRESETS_PATH = Path(__file__).resolve().parents[1] / "data" / "presets.toml"

JobKind = Literal["frame", "clip", "assemble", "card"]


class PresetError(ValueError):
    """The presets file is malformed, or a preset name is unknown."""


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class VramNeeds(_Strict):
    frame: int = Field(ge=0)
    clip: int = Field(ge=0)
    # A clip with a start AND an end frame runs Wan 2.2 14B first-last-frame-to-video
    # whatever the preset's video model (render/comfy.py): what that needs, when it differs.
    clip_end_frame: int | None = Field(default=None, ge=0)


class GpuSeconds(_Strict):
    """Estimated GPU-seconds of one job, for the cost gate (stage 11)."""

    frame: float = Field(default=6.0, gt=0)
    clip_per_s: float = Field(default=12.0, gt=0)
    clip_end_frame_per_s: float | None = Field(default=None, gt=0)  # see VramNeeds.clip_end_frame


class BackendInfo(_Strict):
    gpu: bool


class Preset(_Strict):
    """One render preset; see the comments in ``data/presets.toml`` for every field."""

    name: str
    label: str
    description: str = ""
    width: int = Field(ge=64, le=8192, multiple_of=2)
    height: int = Field(ge=64, le=8192, multiple_of=2)
    fps: int = Field(ge=1, le=120)
    video_fps: int = Field(ge=1, le=120)
    clip_frames: int = Field(ge=1, le=2000)
    steps: int = Field(ge=1, le=200)
    cfg: float = Field(ge=0, le=30)
    frame_steps: int = Field(ge=1, le=200)
    frame_cfg: float = Field(ge=0, le=30)
    frame_model: str
    video_model: str
    vram_mb: VramNeeds
    gpu_s: GpuSeconds = GpuSeconds()
    job_timeout_s: float = Field(gt=0)
    lower: str | None = None
    interpolation: bool = False
    upscale: bool = False
    extras_vram_mb: int = Field(default=0, ge=0)

    @property
    def clip_seconds(self) -> float:
        """Seconds of video one generation produces."""
        return self.clip_frames / self.video_fps

    @model_validator(mode="before")
    @classmethod
    def _empty_lower_is_none(cls, data: object) -> object:
        if isinstance(data, dict) and data.get("lower") == "":
            return {**data, "lower": None}
        return data


class PresetFile(_Strict):
    backends: dict[str, BackendInfo]
    presets: dict[str, Preset]

    @model_validator(mode="before")
    @classmethod
    def _names_from_keys(cls, data: object) -> object:
        if isinstance(data, dict) and isinstance(data.get("presets"), dict):
            presets = {
                name: {**body, "name": name} if isinstance(body, dict) else body
                for name, body in data["presets"].items()
            }
            return {**data, "presets": presets}
        return data

    @model_validator(mode="after")
    def _lower_chain(self) -> PresetFile:
        for preset in self.presets.values():
            seen = {preset.name}
            step = preset
            while step.lower is not None:
                if step.lower not in self.presets:
                    raise ValueError(f"preset {step.name!r} falls back to unknown {step.lower!r}")
                step = self.presets[step.lower]
                if step.name in seen:
                    raise ValueError(f"preset fallbacks loop through {preset.name!r}")
                seen.add(step.name)
        return self


def parse_presets(text: str, source: str = "presets.toml") -> PresetFile:
    """Parse and validate presets TOML; raises :class:`PresetError` naming the problem."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PresetError(f"{source} is not valid TOML: {exc}") from exc
    try:
        return PresetFile.model_validate(raw)
    except ValidationError as exc:
        raise PresetError(f"{source} is invalid: {exc}") from exc


@lru_cache(maxsize=8)
def _load(path: Path) -> PresetFile:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PresetError(f"cannot read the presets file {path}: {exc}") from exc
    return parse_presets(text, str(path))


def load_presets(path: Path | None = None) -> dict[str, Preset]:
    """Every preset by name, in file order (read once per path)."""
    return dict(_load(Path(path or PRESETS_PATH)).presets)


def get_preset(name: str | Preset, path: Path | None = None) -> Preset:
    if isinstance(name, Preset):
        return name
    presets = load_presets(path)
    try:
        return presets[name]
    except KeyError:
        raise PresetError(
            f"unknown preset {name!r}: choose one of {', '.join(presets)}"
        ) from None


def lower(preset: str | Preset, path: Path | None = None) -> Preset | None:
    """The next lower preset (for the one out-of-memory retry), or None at the floor."""
    current = get_preset(preset, path)
    return get_preset(current.lower, path) if current.lower else None


def backend_uses_gpu(backend: str, path: Path | None = None) -> bool:
    """Whether a backend runs on the GPU; unknown backends are assumed to (the safe side)."""
    info = _load(Path(path or PRESETS_PATH)).backends.get(backend)
    return True if info is None else info.gpu


def vram_needed(preset: str | Preset, kind: str, backend: str, path: Path | None = None) -> int:
    """MiB of free VRAM a job needs: 0 for CPU backends and for assembly (ffmpeg)."""
    if not backend_uses_gpu(backend, path):
        return 0
    return gpu_need(get_preset(preset, path), kind)


def gpu_need(preset: Preset, kind: str, *, end_frame: bool = False) -> int:
    """MiB of free VRAM a GPU backend needs for ``kind`` at ``preset``; ``end_frame``: a
    clip from a start and an end frame (the first-last-frame model, see VramNeeds)."""
    current = preset
    if kind == "assemble":
        return 0
    if kind in ("frame", "card"):
        return current.vram_mb.frame
    if kind == "clip":
        extras = current.extras_vram_mb if (current.interpolation or current.upscale) else 0
        clip = current.vram_mb.clip
        if end_frame and current.vram_mb.clip_end_frame is not None:
            clip = current.vram_mb.clip_end_frame
        return max(clip, extras)
    raise PresetError(f"unknown job kind {kind!r}: expected frame, clip, card or assemble")


def preset_table(path: Path | None = None) -> dict[str, dict[str, Any]]:
    """The presets as the plain data the core's cost gate and render specs read."""
    return {
        name: {
            "width": preset.width,
            "height": preset.height,
            "fps": preset.fps,
            "frame_vram_mb": preset.vram_mb.frame,
            "clip_vram_mb": max(preset.vram_mb.clip, preset.extras_vram_mb),
            "frame_gpu_s": preset.gpu_s.frame,
            "clip_gpu_s_per_s": preset.gpu_s.clip_per_s,
            "clip_end_frame_vram_mb": max(
                preset.vram_mb.clip_end_frame or preset.vram_mb.clip, preset.extras_vram_mb
            ),
            "clip_end_frame_gpu_s_per_s": preset.gpu_s.clip_end_frame_per_s or preset.gpu_s.clip_per_s,
            "video_model": preset.video_model,
            "interpolation": preset.interpolation,
            "upscale": preset.upscale,
        }
        for name, preset in load_presets(path).items()
    }
