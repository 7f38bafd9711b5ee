"""Fault-injection calibration: each metric moves monotonically with the injected severity
and the thresholds in data/qa_thresholds.toml separate clean from faulty clips."""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from functools import cache
from pathlib import Path

import pytest

from qa import metrics
from qa.faults import FAULTS, Clip, base_clip, make_clip
from render.animatic import AnimaticBackend
from tests.test_animatic import make_spec, never, nothing

THRESHOLDS = tomllib.loads((Path(__file__).parents[1] / "data" / "qa_thresholds.toml").read_text())["metrics"]
SEVERITIES = (0.0, 0.25, 0.5, 1.0)
CLIP_METRICS = ("ssim_mean", "warp_error", "flicker_luma", "flicker_colour", "frozen_ratio", "black_ratio", "hard_cuts")


def verdict(name: str, value: float) -> str:
    """The thresholds file's semantics (see its header)."""
    t = THRESHOLDS[name]
    worse = (lambda v, line: v < line) if t["direction"] == "higher" else (lambda v, line: v > line)
    return "FAIL" if worse(value, t["fail"]) else "WARN" if worse(value, t["warn"]) else "PASS"


@cache
def clip(fault: str, severity: float, seed: int = 0) -> Clip:
    return make_clip(fault, severity, seed=seed)


@cache
def clip_figures(fault: str, severity: float) -> dict[str, float]:
    return metrics.clip_metrics(clip(fault, severity).frames)


def identity(c: Clip) -> float:
    half = len(c.frames) // 2
    return metrics.identity_distance(c.crops("A", slice(0, half)), c.crops("A", slice(half, None))).distance


MEASURES: dict[str, Callable[[Clip], float]] = {
    "identity_distance": identity,
    "bookend_similarity": lambda c: metrics.bookend_similarity(c.frames[-1], c.next_first),
    "continuity_drift": lambda c: metrics.continuity_drift(c.frames[-1], c.next_first),
}

# fault -> the metrics it must move; "up"/"down" is the direction of worse
CASES = [
    ("flicker", "flicker_luma"), ("colour_flicker", "flicker_colour"), ("noise", "ssim_mean"),
    ("noise", "warp_error"), ("flicker", "warp_error"), ("identity_swap", "identity_distance"),
    ("frozen", "frozen_ratio"), ("black", "black_ratio"), ("black", "ssim_mean"), ("jump_cut", "hard_cuts"),
    ("bookend_drift", "bookend_similarity"), ("bookend_drift", "continuity_drift"),
]


def measure(fault: str, name: str, severity: float) -> float:
    if name in MEASURES:
        return MEASURES[name](clip(fault, severity))
    return clip_figures(fault, severity)[name]


def test_every_fault_is_covered_and_every_metric_has_a_threshold() -> None:
    assert {fault for fault, _ in CASES} == set(FAULTS)
    for name in (*CLIP_METRICS, *MEASURES, "duration_error_s", "fps_ok", "resolution_ok", "codec_ok", "audio_present",
                 "semantic_alignment", "thematic_entropy", "coverage"):
        t = THRESHOLDS[name]
        assert {"direction", "warn", "fail", "unit", "description", "source"} <= set(t)
        assert (t["warn"] >= t["fail"]) if t["direction"] == "higher" else (t["warn"] <= t["fail"])


@pytest.mark.parametrize(("fault", "name"), CASES, ids=[f"{f}-{n}" for f, n in CASES])
def test_metric_moves_monotonically_with_severity_and_separates_clean_from_faulty(fault: str, name: str) -> None:
    values = [measure(fault, name, s) for s in SEVERITIES]
    worse_is_lower = THRESHOLDS[name]["direction"] == "higher"
    ordered = [-v for v in values] if worse_is_lower else values
    if name == "hard_cuts":  # a count: steps, never back
        assert ordered == sorted(ordered) and ordered[0] < ordered[-1], values
    else:
        assert all(a < b for a, b in zip(ordered, ordered[1:], strict=False)), values
    assert verdict(name, values[0]) == "PASS", values
    assert verdict(name, values[-1]) == "FAIL", values


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_clean_clips_pass_every_metric(seed: int) -> None:
    c = base_clip(seed)
    figures = metrics.clip_metrics(c.frames)
    figures.update({name: fn(c) for name, fn in MEASURES.items()})
    assert {name: verdict(name, figures[name]) for name in (*CLIP_METRICS, *MEASURES)} == dict.fromkeys(
        (*CLIP_METRICS, *MEASURES), "PASS"), figures


@pytest.mark.parametrize("movement", ["static", "dolly in"])
def test_a_clean_animatic_clip_passes(tmp_path: Path, movement: str) -> None:
    spec = make_spec(kind="clip", which=None, shot_changes={"movement": movement})
    out = AnimaticBackend().run(spec, tmp_path, nothing, never)
    mp4 = next(p for p in out.files if p.suffix == ".mp4")
    figures = metrics.clip_metrics(mp4, expect={"fps": 24, "width": 426, "height": 240, "duration_s": 2.0})
    verdicts = {name: verdict(name, value) for name, value in figures.items() if name in THRESHOLDS}
    assert verdicts.pop("audio_present") == "WARN"  # animatic clips are silent
    assert set(verdicts.values()) == {"PASS"}, figures
