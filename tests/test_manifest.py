"""Manifests and the done-marker publish: complete, verified, marker last, partials removed."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from render_backends import make_spec

from render.backend import RenderOutput
from render.manifest import (
    MANIFEST,
    MARKER,
    PublishError,
    RenderManifest,
    build_manifest,
    hash_inputs,
    is_published,
    library_versions,
    publish,
    published_files,
    read_manifest,
    remove_partials,
)
from render.presets import get_preset
from studio.model import Manifest


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def inputs(tmp_path: Path) -> dict[str, str]:
    start = tmp_path / "in" / "start.png"
    end = tmp_path / "in" / "end.png"
    start.parent.mkdir()
    start.write_bytes(b"\x89PNG start frame")
    end.write_bytes(b"\x89PNG end frame")
    return {"start_frame": str(start), "end_frame": str(end)}


def _rendered(tmp_path: Path, name: str = "job-1") -> tuple[Path, RenderOutput]:
    tmp = tmp_path / "renders" / "p" / f".tmp-{name}-a1-x"
    (tmp / "frames").mkdir(parents=True)
    (tmp / "clip.mp4").write_bytes(b"not really an mp4" * 100)
    (tmp / "frames" / "last.png").write_bytes(b"last frame")
    return tmp, RenderOutput(
        files=(tmp / "clip.mp4", tmp / "frames" / "last.png"),
        models=("wan2.2_i2v_high_noise_14B_fp8_scaled.safetensors",),
        workflow_hash="a" * 64,
        peak_vram_mb=14_321.5,
        versions={"comfyui": "0.3.64"},
    )


def test_manifest_is_complete(tmp_path: Path, inputs: dict[str, str]):
    tmp, output = _rendered(tmp_path)
    spec = make_spec(inputs=inputs, preset="production-stable", width=1280, height=720)
    spec = spec.model_copy(update={"region_prompt": "fix the hat"})
    manifest = build_manifest(
        spec,
        backend="comfyui",
        job_id="job-1",
        attempt=2,
        output=output,
        out_dir=tmp,
        timings_s={"render_s": 1.5, "queued_s": 0.2},
        fallback_from="cinematic",
        gpu="RTX 4090",
        preset=get_preset("production-stable"),
    )
    assert isinstance(manifest, Manifest)
    data = manifest.model_dump(mode="json")
    # Every field is present, and the ones a render must fill are filled.
    assert set(data) == set(RenderManifest.model_fields)
    for name in (
        "output", "seed", "preset", "workflow_hash", "models", "backend", "versions", "prompts",
        "inputs", "timings_s", "peak_vram_mb", "job_id", "kind", "project_id", "scene_id",
        "params", "spec_sha256", "created_at", "input_paths", "gpu", "fallback_from",
    ):
        assert data[name] not in (None, "", {}, []), name
    assert data["output"] == "clip.mp4"
    assert data["seed"] == 1234 and data["preset"] == "production-stable"
    assert data["attempt"] == 2
    assert data["inputs"] == {
        role: _sha(Path(path).read_bytes()) for role, path in inputs.items()
    }
    assert data["prompts"]["region"] == "fix the hat"
    assert data["params"]["steps"] == get_preset("production-stable").steps
    assert data["params"]["width"] == 1280
    versions = data["versions"]
    for key in ("python", "numpy", "sqlite", "comfyui"):
        assert versions[key]
    try:
        import cv2

        assert versions["opencv"] == cv2.__version__
    except ImportError:
        pass
    assert data["peak_vram_mb"] == 14_321.5
    assert library_versions() is library_versions()  # computed once


def test_missing_input_names_its_role(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="'reference'"):
        hash_inputs({"reference": str(tmp_path / "gone.png")})


def test_publish_writes_verified_folder(tmp_path: Path, inputs: dict[str, str]):
    tmp, output = _rendered(tmp_path)
    final = tmp_path / "renders" / "p" / "job-1"
    manifest = build_manifest(make_spec(inputs=inputs), backend="test", output=output, out_dir=tmp)
    published = publish(tmp, final, manifest)
    assert not tmp.exists()
    assert published.folder == final
    assert sorted(p.relative_to(final).as_posix() for p in published.files) == ["clip.mp4", "frames/last.png"]
    assert published_files(final) == published.files
    assert is_published(final)
    marker = json.loads((final / MARKER).read_text())
    assert set(marker["files"]) == {"clip.mp4", "frames/last.png", MANIFEST}
    for rel, digest in marker["files"].items():
        assert _sha((final / rel).read_bytes()) == digest
    back = read_manifest(final)
    assert back == published.manifest
    assert back.files == {k: v for k, v in marker["files"].items() if k != MANIFEST}


def test_done_marker_is_the_last_thing_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    tmp, output = _rendered(tmp_path)
    final = tmp_path / "renders" / "p" / "job-1"
    renames: list[str] = []
    real_replace = os.replace

    def recording_replace(src, dst, *args, **kwargs):
        renames.append(Path(dst).name)
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", recording_replace)
    publish(tmp, final, build_manifest(make_spec(), backend="test", output=output, out_dir=tmp))
    assert renames == ["job-1", MANIFEST, MARKER]
    marker_time = (final / MARKER).stat().st_mtime_ns
    for path in final.rglob("*"):
        assert path.stat().st_mtime_ns <= marker_time


def test_tampering_unpublishes(tmp_path: Path):
    def fresh(name: str) -> Path:
        tmp, output = _rendered(tmp_path, name)
        final = tmp.parent / name
        publish(tmp, final, build_manifest(make_spec(), backend="test", output=output, out_dir=tmp))
        assert is_published(final)
        return final

    changed = fresh("job-a")
    (changed / "clip.mp4").write_bytes(b"X" * len((changed / "clip.mp4").read_bytes()))
    assert is_published(changed, verify_hashes=False)  # same size: only the hash tells
    assert not is_published(changed)

    extra = fresh("job-b")
    (extra / "stray.txt").write_text("late write")
    assert not is_published(extra)

    no_marker = fresh("job-c")
    (no_marker / MARKER).unlink()
    assert not is_published(no_marker)

    bad_marker = fresh("job-d")
    (bad_marker / MARKER).write_text("{not json")
    assert not is_published(bad_marker)

    no_manifest = fresh("job-e")
    (no_manifest / MANIFEST).unlink()
    assert not is_published(no_manifest)

    assert not is_published(tmp_path / "nowhere")


def test_publish_replaces_an_unmarked_leftover(tmp_path: Path):
    tmp, output = _rendered(tmp_path)
    final = tmp.parent / "job-1"
    final.mkdir()
    (final / "half.mp4").write_bytes(b"partial")
    publish(tmp, final, build_manifest(make_spec(), backend="test", output=output, out_dir=tmp))
    assert is_published(final)
    assert not (final / "half.mp4").exists()
    assert [p.name for p in final.parent.iterdir()] == ["job-1"]


def test_publish_refuses_bad_folders(tmp_path: Path):
    manifest = build_manifest(make_spec(), backend="test")
    empty = tmp_path / ".tmp-empty"
    empty.mkdir()
    with pytest.raises(PublishError, match="no files"):
        publish(empty, tmp_path / "empty", manifest)
    with pytest.raises(PublishError, match="not a folder"):
        publish(tmp_path / "missing", tmp_path / "x", manifest)
    reserved = tmp_path / ".tmp-reserved"
    reserved.mkdir()
    (reserved / MARKER).write_text("{}")
    with pytest.raises(PublishError, match="reserved"):
        publish(reserved, tmp_path / "reserved", manifest)
    secret = tmp_path / "secret.txt"
    secret.write_text("password")
    linked = tmp_path / ".tmp-linked"
    linked.mkdir()
    (linked / "out.mp4").symlink_to(secret)
    with pytest.raises(PublishError, match="symbolic link"):
        publish(linked, tmp_path / "linked", manifest)


def test_remove_partials(tmp_path: Path):
    renders = tmp_path / "renders"
    tmp, output = _rendered(tmp_path, "job-good")
    good = renders / "p" / "job-good"
    publish(tmp, good, build_manifest(make_spec(), backend="test", output=output, out_dir=tmp))
    partial = renders / "p" / "job-partial"
    partial.mkdir()
    (partial / "clip.mp4").write_bytes(b"half")
    fake_marker = renders / "q" / "job-fake"
    fake_marker.mkdir(parents=True)
    (fake_marker / "clip.mp4").write_bytes(b"x")
    (fake_marker / MARKER).write_text('{"files": {"clip.mp4": "00"}}')
    temp = renders / "p" / ".tmp-job-dead-a1-abc"
    temp.mkdir()
    (temp / "out.txt").write_text("step 1")
    running = renders / "p" / ".tmp-job-live-a1-def"
    running.mkdir()
    (running / "out.txt").write_text("step 1")
    stray = renders / "p" / "notes.txt"  # a stray file beside published folders
    stray.write_text("mine")
    secret_dir = tmp_path / "elsewhere"
    secret_dir.mkdir()
    (secret_dir / "keep.txt").write_text("not ours")
    (renders / "p" / "link").symlink_to(secret_dir)

    removed = remove_partials(renders, protect=["job-live"])
    assert sorted(p.name for p in removed) == [".tmp-job-dead-a1-abc", "job-fake", "job-partial"]
    assert is_published(good)
    assert running.exists() and stray.exists()
    assert (secret_dir / "keep.txt").exists()
    assert remove_partials(renders, protect=["job-live"]) == []
    assert remove_partials(tmp_path / "none") == []


def test_remove_partials_spares_recent_folders(tmp_path: Path):
    renders = tmp_path / "renders"
    young = renders / "p" / ".tmp-job-new-a1-x"
    young.mkdir(parents=True)
    assert remove_partials(renders, min_age_s=60) == []
    old = time_shifted(young, -120)
    assert remove_partials(renders, min_age_s=60) == [old]


def time_shifted(path: Path, seconds: float) -> Path:
    stat = path.stat()
    os.utime(path, (stat.st_atime + seconds, stat.st_mtime + seconds))
    return path


def test_post_steps_and_the_final_clip_round_trip_and_older_manifests_still_read(tmp_path: Path):
    from render.manifest import PostStep

    tmp, output = _rendered(tmp_path)
    steps = [
        PostStep(step="interpolate", method="ffmpeg minterpolate (mci) to 48 fps", status="done",
                 seconds=3.2, fps=48.0, width=854, height=480),
        PostStep(step="upscale", method="ffmpeg lanczos x2", status="out of memory", seconds=0.4,
                 reason="out of memory; the clip was kept without this step"),
    ]
    final_clip = {"fps": 48.0, "width": 854, "height": 480, "frames": 96, "duration_s": 2.0}
    manifest = build_manifest(make_spec(), backend="test", output=output, out_dir=tmp, post=steps, final=final_clip)
    final = tmp_path / "renders" / "p" / "job-post"
    publish(tmp, final, manifest)
    back = read_manifest(final)
    assert back.post == steps and back.final == final_clip
    # A manifest written before post-processing existed has neither field: it reads as none.
    raw = json.loads((final / MANIFEST).read_text())
    del raw["post"], raw["final"]
    old = RenderManifest.model_validate(raw)
    assert old.post == [] and old.final == {}
