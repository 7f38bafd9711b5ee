"""Manifests and the done-marker publish: readers trust only folders with a valid marker.

A job renders into a private temp folder beside its final place. :func:`publish` fsyncs
every file, renames the whole folder into place (``os.replace``, atomic on one filesystem),
writes ``manifest.json`` (temp + fsync + rename) and writes the ``.done`` marker LAST: it
lists the sha256 and size of every published file, so :func:`is_published` can tell a
complete folder from one a crash cut short. :func:`remove_partials` deletes the rest.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import platform
import shutil
import sqlite3
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from render.backend import RenderOutput
from render.presets import Preset
from studio.model import Manifest, RenderSpec

MARKER = ".done"
MANIFEST = "manifest.json"
TMP_PREFIX = ".tmp-"
OLD_PREFIX = ".old-"
MANIFEST_SCHEMA = 1
_MAX_DEPTH = 4
_CHUNK = 1024 * 1024


class PublishError(Exception):
    """An output folder could not be published (nothing in it, a symlink, a reserved name)."""


class PostStep(BaseModel):
    """One post-processing step of a clip, as the manifest records it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    step: str
    method: str
    status: str
    seconds: float = 0.0
    fps: float | None = None
    width: int | None = None
    height: int | None = None
    reason: str = ""


class RenderManifest(Manifest):
    """``studio.model.Manifest`` plus what a render needs to be reproduced and verified.

    Inherited: output (the primary file, relative to the folder), seed, preset,
    workflow_hash, models, backend, versions, prompts, inputs (role -> sha256 of the input
    file's content), timings_s, peak_vram_mb.
    """

    schema_version: int = MANIFEST_SCHEMA
    job_id: str = ""
    kind: str
    project_id: str
    scene_id: str
    shot_id: str | None = None
    which: str | None = None
    params: dict[str, int | float | str | bool | None] = Field(default_factory=dict)
    fallback_from: str | None = None
    attempt: int = Field(default=1, ge=1)
    input_paths: dict[str, str] = Field(default_factory=dict)
    files: dict[str, str] = Field(default_factory=dict)
    spec_sha256: str
    gpu: str = ""
    created_at: str
    # Post-processing that ran after the render (stage 11's opt-in extras), one entry per
    # step: step, method, status ("done", "failed", "out of memory", "skipped"), seconds,
    # and the fps / size it produced or the reason the clip was kept without it.
    post: list[PostStep] = Field(default_factory=list)
    # What the published clip really is (probed): fps, width, height, frames, duration_s.
    final: dict[str, int | float] = Field(default_factory=dict)


@dataclass(frozen=True)
class Published:
    """A published output folder: its files (without manifest and marker) and manifest."""

    folder: Path
    manifest_path: Path
    files: tuple[Path, ...]
    manifest: RenderManifest


# --------------------------------------------------------------------------- hashing


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def hash_inputs(inputs: Mapping[str, str]) -> dict[str, str]:
    """sha256 of each input file's content, by role; a missing file names its role."""
    hashes: dict[str, str] = {}
    for role, raw in sorted(inputs.items()):
        path = Path(raw)
        if not path.is_file():
            raise FileNotFoundError(f"input {role!r} is missing: {path}")
        hashes[role] = sha256_file(path)
    return hashes


def spec_sha256(spec: RenderSpec) -> str:
    raw = json.dumps(spec.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(raw.encode()).hexdigest()


@lru_cache(maxsize=1)
def library_versions() -> dict[str, str]:
    """Versions of the runtime and the libraries an output depends on (those importable)."""
    versions = {
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "sqlite": sqlite3.sqlite_version,
    }
    for dist in ("aiuteur-studio", "numpy", "pydantic", "httpx"):
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            pass
    try:
        import cv2

        versions["opencv"] = str(cv2.__version__)
    except ImportError:
        pass
    try:
        import imageio_ffmpeg

        versions["ffmpeg"] = str(imageio_ffmpeg.get_ffmpeg_version())
    except Exception:  # not installed, or the bundled binary would not run
        pass
    return versions


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def build_manifest(
    spec: RenderSpec,
    *,
    backend: str,
    job_id: str = "",
    attempt: int = 1,
    output: RenderOutput | None = None,
    out_dir: Path | None = None,
    timings_s: Mapping[str, float] | None = None,
    fallback_from: str | None = None,
    gpu: str = "",
    preset: Preset | None = None,
    peak_vram_mb: float | None = None,
    input_hashes: Mapping[str, str] | None = None,
    post: Iterable[PostStep] = (),
    final: Mapping[str, int | float] | None = None,
) -> RenderManifest:
    """The manifest of one render. ``output`` / ``out_dir`` give the primary file and the
    backend's facts (models, workflow hash, peak VRAM, versions); ``input_hashes`` may be
    passed when they were taken before the render (else they are computed now)."""
    primary = ""
    if output is not None and output.files:
        first = Path(output.files[0])
        primary = first.relative_to(out_dir).as_posix() if out_dir and first.is_absolute() else first.as_posix()
    params: dict[str, int | float | str | bool | None] = {
        "width": spec.width,
        "height": spec.height,
        "fps": spec.fps,
        "duration_s": spec.duration_s,
        "start_s": spec.start_s,
    }
    if preset is not None:
        params.update(
            steps=preset.steps,
            cfg=preset.cfg,
            frame_steps=preset.frame_steps,
            frame_cfg=preset.frame_cfg,
            video_fps=preset.video_fps,
            clip_frames=preset.clip_frames,
            frame_model=preset.frame_model,
            video_model=preset.video_model,
            interpolation=preset.interpolation,
            upscale=preset.upscale,
        )
    prompts = dict(spec.prompts)
    if spec.region_prompt:
        prompts["region"] = spec.region_prompt
    peak = output.peak_vram_mb if output is not None and output.peak_vram_mb is not None else peak_vram_mb
    return RenderManifest(
        output=primary,
        seed=spec.seed,
        preset=spec.preset,
        workflow_hash=output.workflow_hash if output else None,
        models=tuple(output.models) if output else (),
        backend=backend,
        versions={**library_versions(), **(output.versions if output else {})},
        prompts=prompts,
        inputs=dict(input_hashes) if input_hashes is not None else hash_inputs(spec.inputs),
        timings_s=dict(timings_s or {}),
        peak_vram_mb=peak,
        job_id=job_id,
        kind=spec.kind,
        project_id=spec.project_id,
        scene_id=spec.scene_id,
        shot_id=spec.shot_id,
        which=spec.which,
        params=params,
        fallback_from=fallback_from,
        attempt=max(1, attempt),
        input_paths=dict(spec.inputs),
        spec_sha256=spec_sha256(spec),
        gpu=gpu,
        created_at=now_iso(),
        post=list(post),
        final=dict(final or {}),
    )


# --------------------------------------------------------------------------- publishing


def _fsync_dir(path: Path) -> None:
    """Make a rename inside ``path`` durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f"{TMP_PREFIX}{path.name.lstrip('.')}-{uuid.uuid4().hex[:8]}")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def _listing(folder: Path) -> list[str]:
    """Relative posix paths of every regular file under ``folder``; symlinks are refused
    (a link to a secret file must never be published as an output)."""
    found: list[str] = []
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            if os.path.islink(os.path.join(root, name)):
                raise PublishError(f"refusing to publish a symbolic link: {os.path.join(root, name)}")
        for name in files:
            found.append(Path(root, name).relative_to(folder).as_posix())
    return sorted(found)


def _sync_and_hash(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
        os.fsync(handle.fileno())
    return digest.hexdigest(), size


def publish(tmp_dir: Path, final_dir: Path, manifest: RenderManifest) -> Published:
    """Publish a finished temp folder as ``final_dir`` with its manifest and done marker.

    Order: fsync every file -> rename the folder into place (an unmarked older folder there
    is moved aside and deleted) -> manifest.json (temp, fsync, rename) -> ``.done`` last.
    ``tmp_dir`` and ``final_dir`` must be on one filesystem (siblings, in practice).
    """
    tmp_dir, final_dir = Path(tmp_dir), Path(final_dir)
    if not tmp_dir.is_dir():
        raise PublishError(f"nothing to publish: {tmp_dir} is not a folder")
    files = _listing(tmp_dir)
    reserved = {MARKER, MANIFEST} & set(files)
    if reserved:
        raise PublishError(f"a backend wrote a reserved file name: {', '.join(sorted(reserved))}")
    if not files:
        raise PublishError("the render produced no files")
    hashes: dict[str, str] = {}
    sizes: dict[str, int] = {}
    for rel in files:
        hashes[rel], sizes[rel] = _sync_and_hash(tmp_dir / rel)
    for root, _dirs, _files in os.walk(tmp_dir):
        _fsync_dir(Path(root))

    final_dir.parent.mkdir(parents=True, exist_ok=True)
    old: Path | None = None
    if final_dir.exists():
        old = final_dir.with_name(f"{OLD_PREFIX}{final_dir.name}-{uuid.uuid4().hex[:8]}")
        os.replace(final_dir, old)
    os.replace(tmp_dir, final_dir)
    _fsync_dir(final_dir.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)

    data = manifest.model_dump(mode="json")
    data["files"] = hashes
    data["output"] = manifest.output or files[0]
    final_manifest = RenderManifest.model_validate(data)
    manifest_bytes = (json.dumps(final_manifest.model_dump(mode="json"), indent=2, sort_keys=True) + "\n").encode()
    _atomic_write(final_dir / MANIFEST, manifest_bytes)

    hashes[MANIFEST] = hashlib.sha256(manifest_bytes).hexdigest()
    sizes[MANIFEST] = len(manifest_bytes)
    marker = {"version": 1, "published_at": now_iso(), "files": hashes, "sizes": sizes}
    _atomic_write(final_dir / MARKER, (json.dumps(marker, indent=2, sort_keys=True) + "\n").encode())
    _fsync_dir(final_dir)
    return Published(
        folder=final_dir,
        manifest_path=final_dir / MANIFEST,
        files=tuple(final_dir / rel for rel in files),
        manifest=final_manifest,
    )


def read_marker(folder: Path) -> dict | None:
    try:
        data = json.loads((Path(folder) / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("files"), dict) or not data["files"]:
        return None
    return data


def is_published(folder: Path, *, verify_hashes: bool = True) -> bool:
    """True only when the marker exists, lists exactly the files present (manifest
    included), and every size (and, by default, every sha256) matches."""
    folder = Path(folder)
    marker = read_marker(folder)
    if marker is None or MANIFEST not in marker["files"]:
        return False
    try:
        present = set(_listing(folder)) - {MARKER}
    except (OSError, PublishError):
        return False
    listed: dict[str, str] = marker["files"]
    if present != set(listed):
        return False
    sizes = marker.get("sizes") or {}
    for rel, expected in listed.items():
        path = folder / rel
        try:
            if rel in sizes and path.stat().st_size != sizes[rel]:
                return False
            if verify_hashes and sha256_file(path) != expected:
                return False
        except OSError:
            return False
    return True


def read_manifest(folder: Path) -> RenderManifest:
    return RenderManifest.model_validate_json((Path(folder) / MANIFEST).read_text(encoding="utf-8"))


def published_files(folder: Path) -> tuple[Path, ...]:
    """The output files of a published folder (manifest and marker left out)."""
    marker = read_marker(folder) or {"files": {}}
    return tuple(Path(folder) / rel for rel in sorted(marker["files"]) if rel != MANIFEST)


# --------------------------------------------------------------------------- cleanup


def _is_output_folder(folder: Path) -> bool:
    """A folder holding files directly (or a marker) is an output; one holding only
    folders is a container (renders/, renders/<project>/) and is walked into."""
    try:
        return any(entry.is_file(follow_symlinks=False) for entry in os.scandir(folder))
    except OSError:
        return False


def remove_partials(
    renders_dir: Path, *, protect: Iterable[str] = (), min_age_s: float = 0.0
) -> list[Path]:
    """Delete every temp folder and every output folder without a valid marker.

    An output folder is one holding files; a folder holding a published (marked) or
    protected folder somewhere below it is a container and is only walked into, never
    deleted, whatever stray files it has. ``protect`` names folders of jobs that may be in
    progress: their final folder (the exact name) and their temp folders
    (``.tmp-<name>-…``, ``.old-<name>-…``) are left alone. ``min_age_s`` spares folders
    modified more recently than that (a job another process started a moment ago).
    Symbolic links are never followed. Returns the folders removed.
    """
    renders_dir = Path(renders_dir)
    guarded = tuple(protect)
    removed: list[Path] = []
    cutoff = time.time() - min_age_s

    def is_protected(name: str) -> bool:
        return any(
            name == p or name.startswith((f"{TMP_PREFIX}{p}-", f"{OLD_PREFIX}{p}-")) for p in guarded
        )

    def recent(folder: Path) -> bool:
        try:
            return min_age_s > 0 and folder.stat().st_mtime > cutoff
        except OSError:
            return True

    def holds_keepers(folder: Path, depth: int) -> bool:
        """Whether a marked or protected folder sits somewhere below ``folder``."""
        try:
            children = [p for p in folder.iterdir() if p.is_dir() and not p.is_symlink()]
        except OSError:
            return True  # unreadable: leave it alone
        for child in children:
            if is_protected(child.name) or (child / MARKER).exists():
                return True
            if depth < _MAX_DEPTH and holds_keepers(child, depth + 1):
                return True
        return False

    def visit(folder: Path, depth: int) -> None:
        try:
            children = sorted(p for p in folder.iterdir() if p.is_dir() and not p.is_symlink())
        except OSError:
            return
        for child in children:
            if is_protected(child.name):
                continue
            if child.name.startswith((TMP_PREFIX, OLD_PREFIX)):
                doomed = True
            elif (child / MARKER).exists() and is_published(child, verify_hashes=False):
                continue  # sizes suffice here: the marker is written only after every fsync
            elif holds_keepers(child, depth + 1):
                doomed = False
            else:
                doomed = _is_output_folder(child) or (child / MARKER).exists()
            if doomed:
                if not recent(child):
                    shutil.rmtree(child, ignore_errors=True)
                    removed.append(child)
            elif depth < _MAX_DEPTH:
                visit(child, depth + 1)

    if renders_dir.is_dir():
        visit(renders_dir, 0)
    return removed
