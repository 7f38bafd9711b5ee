"""QA through the Studio facade: metrics of rendered clips, verdicts from the thresholds
file, the run log, `studio qa`."""

from __future__ import annotations

import json

import pytest
from flows import SHORT, lock_phase_a, lock_through_prompts, render_and_approve_frames

from studio.cli import main
from studio.config import Settings
from studio.wiring import build_studio


@pytest.fixture
def rendered(tmp_path):
    home = tmp_path / "home"
    studio = build_studio(Settings(home=home))
    project, _ = studio.new_project("Two Rooms", ("two.fountain", SHORT))
    pid = project.id
    lock_phase_a(studio, pid)
    lock_through_prompts(studio, pid, (1, 2))
    for number in (1, 2):
        render_and_approve_frames(studio, pid, number)
        studio.confirm_render(pid, number)
    studio.drain_queue()
    studio.sync_renders(pid)
    return studio, pid, home


def test_run_qa_measures_judges_and_records(rendered):
    studio, pid, _ = rendered
    report = studio.run_qa(pid)
    assert report.verdict.level in {"PASS", "WARN", "FAIL"}
    names = {r["name"] for r in report.rows}
    assert {"ssim_mean", "warp_error", "flicker_luma", "frozen_ratio", "black_ratio", "hard_cuts"} <= names
    assert {"semantic_alignment", "thematic_entropy", "coverage"} <= names
    assert {"fps_ok", "duration_error_s", "audio_present"} <= names
    levels = {r["level"] for r in report.rows}
    assert report.verdict.level == max(levels, key=["PASS", "WARN", "FAIL"].index)
    for row in report.rows:
        assert (row["level"] == "PASS") == (row["reason"] == "")
    # Silent animatic clips: missing audio is stated (WARN), never hidden.
    audio = [r for r in report.rows if r["name"] == "audio_present"]
    assert audio and all(r["value"] == 0 and r["level"] == "WARN" for r in audio)
    board = studio.qa_dashboard(pid)
    assert board["run_id"] == report.run_id
    assert len(board["run_metrics"]) == len(report.rows)
    assert board["runs"][0]["verdict"] == report.verdict.level
    assert board["jobs"], "the render jobs are recorded with the run"
    counts = {c["verdict"]: c["runs"] for c in board["verdict_counts"]}
    assert list(counts) == ["PASS", "WARN", "FAIL"] and counts[report.verdict.level] == 1


def test_studio_qa_cli(rendered, capsys):
    _, pid, home = rendered
    code = main(["qa", pid, "--home", str(home), "--json", "--no-narrative"])
    payload = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0 and payload["ok"] and payload["verdict"] in {"PASS", "WARN", "FAIL"}
    assert all(r["scope"] == "shot" for r in payload["metrics"])
    strict = main(["qa", pid, "--home", str(home), "--strict", "--no-narrative"])
    out = capsys.readouterr().out
    assert out.startswith(f"QA {payload['verdict']}")
    assert strict == (2 if payload["verdict"] == "FAIL" else 0)


def test_qa_with_nothing_rendered_warns(tmp_path):
    studio = build_studio(Settings(home=tmp_path))
    project, _ = studio.new_project("Empty", ("two.fountain", SHORT))
    report = studio.run_qa(project.id, narrative=False)
    assert report.verdict.level == "WARN" and "nothing rendered" in report.verdict.reasons[0]


def test_the_run_records_job_timings_and_stage_durations(rendered):
    studio, pid, _ = rendered
    report = studio.run_qa(pid, narrative=False)
    board = studio.qa_dashboard(pid, run_id=report.run_id)
    done = [j for j in board["jobs"] if j["status"] == "done"]
    assert done and all(j["duration_s"] is not None and j["queue_wait_s"] is not None for j in done)
    stages = {(s["stage"], s["name"]) for s in board["stage_durations"]}
    assert {(10, "anchor frames"), (12, "video"), (12, "qa")} <= stages
    latency = board["p95_shot_latency"]
    assert latency and latency[0]["p95_latency_s"] is not None
