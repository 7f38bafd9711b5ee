"""One verdict semantics: the thresholds file, evaluate (the level table) and combine."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from qa.verdicts import (
    DEFAULT_THRESHOLDS,
    Level,
    Thresholds,
    ThresholdsError,
    Verdict,
    badge,
    combine,
    evaluate,
    load_thresholds,
)
from studio.ports import QaVerdict

TOML = """
[meta]
note = "other top-level tables are ignored"

[metrics.ssim_mean]
direction = "higher"
warn = 0.90
fail = 0.80
description = "mean frame-to-frame SSIM"
source = "test"

[metrics.flicker_luma]
direction = "lower"
warn = 0.08
fail = 0.20
description = "mean luma jump between frames"

[metrics.duration_error_s]
direction = "lower"
warn = 0.25
fail = 1.0
unit = "s"

[metrics.fps_ok]
direction = "higher"
warn = 1
fail = 1
"""


def write(tmp_path: Path, text: str, name: str = "qa_thresholds.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def thresholds(tmp_path: Path) -> Thresholds:
    return load_thresholds(write(tmp_path, TOML))


def test_levels_are_ordered_and_badged() -> None:
    assert Level.PASS < Level.WARN < Level.FAIL
    assert max(Level.PASS, Level.FAIL, Level.WARN) is Level.FAIL
    assert [badge(level) for level in Level] == ["PASS", "WARN", "FAIL"]
    assert badge("warn") == "WARN" and badge(2) == "FAIL"
    assert Level.parse(" fail ") is Level.FAIL
    with pytest.raises(ValueError, match="PASS, WARN or FAIL"):
        Level.parse("ok")


@pytest.mark.parametrize(
    ("metric", "value", "expected"),
    [
        # higher is better: warn 0.90, fail 0.80
        ("ssim_mean", 0.99, Level.PASS),
        ("ssim_mean", 0.90, Level.PASS),  # equal to warn passes
        ("ssim_mean", 0.85, Level.WARN),
        ("ssim_mean", 0.80, Level.WARN),  # equal to fail warns
        ("ssim_mean", 0.79, Level.FAIL),
        ("ssim_mean", -math.inf, Level.FAIL),
        # lower is better: warn 0.08, fail 0.20
        ("flicker_luma", 0.0, Level.PASS),
        ("flicker_luma", 0.08, Level.PASS),
        ("flicker_luma", 0.12, Level.WARN),
        ("flicker_luma", 0.20, Level.WARN),
        ("flicker_luma", 0.21, Level.FAIL),
        ("flicker_luma", math.inf, Level.FAIL),
        # warn == fail: on the limit passes, past it fails (a boolean check)
        ("fps_ok", 1.0, Level.PASS),
        ("fps_ok", True, Level.PASS),
        ("fps_ok", 0.0, Level.FAIL),
        # not measured
        ("ssim_mean", None, Level.WARN),
        ("flicker_luma", math.nan, Level.WARN),
    ],
)
def test_level_table(thresholds: Thresholds, metric: str, value: float | None, expected: Level) -> None:
    verdict = evaluate({metric: value}, thresholds, subject="shot 2B")
    assert verdict.level is expected
    (finding,) = verdict.findings
    assert finding.metric == metric and finding.level is expected and finding.subject == "shot 2B"
    if expected is Level.PASS:
        assert verdict.reasons == ()
    else:
        assert verdict.reasons == (finding.reason,)


def test_reasons_are_sentences(thresholds: Thresholds) -> None:
    verdict = evaluate(
        {"flicker_luma": 12.0, "ssim_mean": 0.5, "duration_error_s": 0.6, "fps_ok": None},
        thresholds,
    )
    reasons = {f.metric: f.reason for f in verdict.findings}
    assert reasons["flicker_luma"] == (
        "The brightness flickers (jumps of 12 levels out of 255; at most 0.08 is fine). Re-render the shot with "
        "another seed (stage 11/12); if it persists, check its anchor frames in stage 10."
    )
    assert reasons["ssim_mean"].startswith("The image is unstable from frame to frame: boiling, smearing or "
                                           "breaking up (score 0.50; at least 0.9 is fine). Re-render the shot")
    assert reasons["duration_error_s"].startswith("The clip is not the planned length (0.60 s off; at most 0.25 s is fine)")
    assert reasons["fps_ok"].startswith("The frame rate is not the project's: not measured.")
    assert verdict.level is Level.FAIL
    assert len(verdict.reasons) == 4
    assert verdict.reasons[-1] == reasons["fps_ok"]  # the FAILs first, then the WARN


def test_a_metric_without_plain_words_names_its_limits_and_a_yes_no_check_reads_as_words(tmp_path: Path) -> None:
    table = load_thresholds(write(tmp_path, """
[metrics.sparkle]
direction = "lower"
warn = 1.0
fail = 2.0
unit = "stars"
description = "sparkles per frame"

[metrics.lens_cap_off]
direction = "higher"
warn = 1
fail = 1
unit = "bool"
description = "the lens cap was off"
"""))
    verdict = evaluate({"sparkle": 1.5, "lens_cap_off": 0.0}, table)
    reasons = {f.metric: f.reason for f in verdict.findings}
    assert reasons["sparkle"] == "sparkle 1.5 stars is above the warn limit 1 stars (sparkles per frame)"
    assert reasons["lens_cap_off"] == "lens_cap_off: no (the lens cap was off)"
    real = evaluate({"readable": 0.0, "audio_present": 0.0, "codec_ok": 0.0}, load_thresholds())
    assert real.reasons and not any("bool" in r or "limit" in r for r in real.reasons), real.reasons
    assert any(r.startswith("There is no sound track.") for r in real.reasons)


def test_one_problem_is_one_finding(thresholds: Thresholds) -> None:
    """SSIM and the warp error both say 'the image is unstable': one sentence per
    shot; the same sentence from two parts of a group is said once."""
    table = load_thresholds()
    shot = evaluate({"ssim_mean": 0.5, "warp_error": 0.05, "flicker_luma": 24.0}, table, subject="Shot 1A")
    assert len(shot.reasons) == 2 and len([f for f in shot.findings if f.level is not Level.PASS]) == 3
    assert sorted(r.split(" ")[1] for r in shot.reasons) == ["brightness", "image"]
    twice = combine([shot, shot.as_port()])
    assert twice.reasons == tuple(f"Shot 1A: {r}" for r in shot.reasons)


def test_unknown_metrics_are_ignored_with_a_note(thresholds: Thresholds) -> None:
    verdict = evaluate({"ssim_mean": 0.95, "sparkle": 99.0}, thresholds, subject="shot 1A")
    assert verdict.level is Level.PASS
    assert [f.metric for f in verdict.findings] == ["ssim_mean"]
    assert len(verdict.notes) == 1 and "sparkle ignored" in verdict.notes[0]


def test_no_metrics_is_a_pass(thresholds: Thresholds) -> None:
    assert evaluate({}, thresholds).level is Level.PASS
    assert combine([]).level is Level.PASS


def test_combine_is_the_worst_with_every_reason_prefixed(thresholds: Thresholds) -> None:
    good = evaluate({"ssim_mean": 0.95}, thresholds, subject="shot 1A")
    warn = evaluate({"flicker_luma": 0.12}, thresholds, subject="shot 2B")
    fail = evaluate({"ssim_mean": 0.5, "flicker_luma": None}, thresholds, subject="shot 3C")
    scene = combine([good, warn, fail], subject="scene 2")
    assert scene.level is Level.FAIL and scene.subject == "scene 2"
    assert [r.split(" (")[0].split(":")[:2] for r in scene.reasons] == [
        ["shot 2B", " The brightness flickers"],
        ["shot 3C", " The image is unstable from frame to frame"],
        ["shot 3C", " The brightness flickers"],
    ]
    assert scene.reasons[2].startswith("shot 3C: The brightness flickers: not measured.")
    assert len(scene.findings) == 4
    assert combine([good, warn]).level is Level.WARN
    # Nesting keeps the path to the shot; the port's verdicts mix in.
    film = combine([scene, QaVerdict(level="WARN", reasons=("scene 3: audio missing",))])
    assert film.level is Level.FAIL
    assert film.reasons[0].startswith("scene 2: shot 2B: The brightness flickers")
    assert film.reasons[-1] == "scene 3: audio missing"


def test_verdict_exports(thresholds: Thresholds) -> None:
    verdict = evaluate({"flicker_luma": 0.3}, thresholds, subject="shot 2B")
    data = verdict.to_dict()
    assert data["level"] == "FAIL" and data["findings"][0]["value"] == 0.3
    port = verdict.as_port()
    assert port == QaVerdict(
        level="FAIL",
        reasons=(f"shot 2B: {verdict.reasons[0]}",),
        levels={"flicker_luma": "FAIL"},
        metric_reasons={"flicker_luma": verdict.reasons[0]},
    )
    assert isinstance(verdict, Verdict) and verdict.badge == "FAIL"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[metrics.ssim_mean\ndirection = 1", r"bad\.toml is not valid TOML"),
        ("[other]\nx = 1\n", r"bad\.toml has no \[metrics\.NAME\] tables"),
        (
            '[metrics.ssim_mean]\ndirection = "up"\nwarn = 0.9\nfail = 0.8\n',
            r"bad\.toml, metric 'ssim_mean': direction: Input should be 'higher' or 'lower'",
        ),
        (
            '[metrics.flicker_luma]\ndirection = "lower"\nwarn = 0.2\n',
            r"metric 'flicker_luma': fail: Field required",
        ),
        (
            '[metrics.flicker_luma]\ndirection = "lower"\nwarn = 0.2\nfail = 0.1\n',
            r"metric 'flicker_luma': .*fail limit must not be below the warn limit",
        ),
        (
            '[metrics.ssim_mean]\ndirection = "higher"\nwarn = 0.8\nfail = 0.9\n',
            r"metric 'ssim_mean': .*fail limit must not be above the warn limit",
        ),
        (
            '[metrics.ssim_mean]\ndirection = "higher"\nwarn = "high"\nfail = 0.9\n',
            r"metric 'ssim_mean': warn: Input should be a valid number",
        ),
        (
            '[metrics.ssim_mean]\ndirection = "higher"\nwarm = 0.9\nwarn = 0.9\nfail = 0.8\n',
            r"metric 'ssim_mean': warm: Extra inputs are not permitted",
        ),
        ("[metrics]\nssim_mean = 0.9\n", r"metric 'ssim_mean': expected a \[metrics\.ssim_mean\] table"),
    ],
)
def test_a_broken_thresholds_file_names_the_file_and_metric(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = write(tmp_path, text, "bad.toml")
    with pytest.raises(ThresholdsError, match=expected) as info:
        load_thresholds(path)
    assert str(path) in str(info.value)


def test_a_missing_thresholds_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ThresholdsError, match="nowhere.toml not found"):
        load_thresholds(tmp_path / "nowhere.toml")


@pytest.mark.skipif(not DEFAULT_THRESHOLDS.exists(), reason="data/qa_thresholds.toml not written yet")
def test_the_repository_thresholds_file_loads() -> None:
    thresholds = load_thresholds()
    assert thresholds.path == str(DEFAULT_THRESHOLDS)
    assert "ssim_mean" in thresholds
