"""``studio bench qa``: frames analysed per second for the full clip metric set, and character
crops per second for the identity check.

The full set (SSIM, flow warp error, flicker, frozen, black, cuts) runs the way QA runs it,
on an H.264 file, decode included, at 320 px with every 2nd adjacent pair for SSIM/flow. Its
yardstick is ffmpeg alone decoding and downscaling the same file to the same size (to a null
sink): the ratio of the two throughputs says how much the metrics cost on top of reading the
clip (issue 10's target: at least 0.5). A second baseline is scikit-image's SSIM alone on
the same frames at full resolution, every pair. The bench also checks that the
reduction changes no verdict on the calibration clips (rendered at 480p, so the reduction
is real), comparing against the full set at full resolution on every pair.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from skimage.metrics import structural_similarity

from qa import metrics
from qa.faults import FAULTS, make_clip, write_mp4

THRESHOLDS = Path(__file__).resolve().parents[1] / "data" / "qa_thresholds.toml"
SIZES = {"480p": (854, 480), "720p": (1280, 720)}


def _verdict(spec: dict[str, Any], value: float) -> str:
    # the thresholds file's semantics (its header); qa.verdicts is the shared implementation
    worse = (lambda v, line: v < line) if spec["direction"] == "higher" else (lambda v, line: v > line)
    return "FAIL" if worse(value, spec["fail"]) else "WARN" if worse(value, spec["warn"]) else "PASS"


def _best(fn: Any, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def _ssim_only(frames: Sequence[np.ndarray]) -> None:
    gray = [cv2.cvtColor(f, cv2.COLOR_BGR2GRAY) for f in frames]
    for a, b in zip(gray, gray[1:], strict=False):
        structural_similarity(a, b, data_range=255)


def _ffmpeg_decode(path: Path, max_side: int = 320) -> None:
    """ffmpeg alone: decode the clip and downscale it as QA reads it, into a null sink."""
    scale = (f"scale='min({max_side},iw)':'min({max_side},ih)'"
             ":force_original_aspect_ratio=decrease:force_divisible_by=2")
    subprocess.run([metrics._ffmpeg(), "-hide_banner", "-nostdin", "-nostats", "-loglevel", "error",  # noqa: S603
                    "-i", str(path), "-map", "0:v:0", "-vf", scale, "-pix_fmt", "bgr24", "-f", "null", "-"],
                   check=True, capture_output=True, timeout=600)


def _figures(frames: list[np.ndarray], next_first: np.ndarray, *, max_side: int | None, pair_stride: int) -> dict[str, float]:
    out = metrics.clip_metrics(frames, max_side=max_side, pair_stride=pair_stride)
    out["bookend_similarity"] = metrics.bookend_similarity(frames[-1], next_first, max_side=max_side)
    out["continuity_drift"] = 1.0 - out["bookend_similarity"]
    return out


def verdict_check(thresholds: dict[str, Any], *, size: tuple[int, int] = SIZES["480p"], frames: int = 48,
                  severities: Sequence[float] = (0.25, 0.5, 1.0)) -> dict[str, Any]:
    """Verdicts of every calibration clip at full resolution/every pair vs the QA reduction."""
    w, h = size
    cases = [("clean", 0.0)] + [(f, s) for f in FAULTS for s in severities]
    changed: list[str] = []
    compared = pass_flips = 0
    for fault, severity in cases:
        clip = make_clip(fault, severity, width=w, height=h, frames=frames)
        full = _figures(clip.frames, clip.next_first, max_side=None, pair_stride=1)
        reduced = _figures(clip.frames, clip.next_first, max_side=320, pair_stride=2)
        for name, value in full.items():
            if name not in thresholds:
                continue
            compared += 1
            a, b = _verdict(thresholds[name], value), _verdict(thresholds[name], reduced[name])
            if a != b:
                changed.append(f"{fault}@{severity} {name}: {a} ({value:.4g}) -> {b} ({reduced[name]:.4g})")
                pass_flips += "PASS" in (a, b)  # a fault hidden, or a clean clip flagged
    return {"clips": len(cases), "verdicts": compared, "changed": changed, "pass_flips": pass_flips, "size": f"{w}x{h}"}


def bench_qa(*, frames: int = 48, repeat: int = 3, check_verdicts: bool = True,
             thresholds_path: Path = THRESHOLDS) -> dict[str, Any]:
    """Frames/s of the full metric set (QA settings) and of full-resolution SSIM alone."""
    figures: dict[str, Any] = {"frames": frames, "analysis": "320 px long side, SSIM/flow on every 2nd pair"}
    with tempfile.TemporaryDirectory(prefix="studio-bench-qa-") as tmp:
        for label, (w, h) in SIZES.items():
            clip = make_clip("flicker", 0.5, width=w, height=h, frames=frames)
            path = write_mp4(clip, Path(tmp) / f"{label}.mp4")
            decode = _best(lambda path=path: _ffmpeg_decode(path), repeat)
            on_file = _best(lambda path=path: metrics.clip_metrics(path), repeat)
            full_set = _best(lambda clip=clip: metrics.clip_metrics(clip.frames), repeat)
            baseline = _best(lambda clip=clip: _ssim_only(clip.frames), repeat)
            crops = clip.crops("A")
            identity = _best(lambda crops=crops: metrics.identity_distance(crops[:1], crops), repeat)
            figures[label] = {
                "identity_crops_per_s": round(len(crops) / identity, 1),
                "ffmpeg_decode_fps": round(frames / decode, 1),
                "file_set_fps": round(frames / on_file, 1),
                "vs_ffmpeg": round(decode / on_file, 2),
                "full_set_fps": round(frames / full_set, 1),
                "ssim_only_fps": round(frames / baseline, 1),
                "speedup": round(baseline / full_set, 2),
                "realtime_x_at_24fps": round(frames / on_file / 24, 1),
            }
    if check_verdicts:
        thresholds = tomllib.loads(thresholds_path.read_text())["metrics"]
        figures["verdicts"] = verdict_check(thresholds, frames=frames)
    return figures


def format_figures(figures: dict[str, Any]) -> str:
    """Human text for ``studio bench qa``."""
    lines = [f"QA metrics, {figures['frames']}-frame clips ({figures['analysis']}):"]
    for label in SIZES:
        f = figures[label]
        lines.append(f"  {label}: ffmpeg decode+downscale {f['ffmpeg_decode_fps']:.0f} frames/s; full metric set on the "
                     f"file (decode included) {f['file_set_fps']:.0f} frames/s ({f['realtime_x_at_24fps']}x realtime) "
                     f"-> {f['vs_ffmpeg']:.2f}x of ffmpeg (target >= 0.5x)")
        lines.append(f"        on decoded frames {f['full_set_fps']:.0f} frames/s vs scikit-image SSIM alone at full "
                     f"resolution {f['ssim_only_fps']:.0f} frames/s -> {f['speedup']}x; "
                     f"identity (faces tried, then descriptor) {f['identity_crops_per_s']:.0f} crops/s")
    v = figures.get("verdicts")
    if v:
        state = "unchanged" if not v["changed"] else (
            f"{len(v['changed'])} changed, {v['pass_flips']} across the PASS line")
        lines.append(f"  verdicts on {v['clips']} calibration clips at {v['size']} ({v['verdicts']} verdicts), "
                     f"full resolution vs reduced: {state}")
        lines.extend(f"    {c}" for c in v["changed"])
    return "\n".join(lines)
