"""The `studio` command line: human text by default, one JSON object with --json, non-zero
exit with a one-line reason on failure."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from studio.cli import main

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"
SAMPLE = SAMPLES / "the_long_rain.fountain"


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def run_json(capsys, *args: str) -> dict:
    code, out, err = run(capsys, *args, "--json")
    assert code == 0, err
    lines = out.strip().splitlines()
    assert len(lines) == 1, "--json prints exactly one object"
    return json.loads(lines[0])


@pytest.fixture
def home(tmp_path) -> str:
    return str(tmp_path / "home")


def test_new_with_script_then_scenes_log_branch_switch(capsys, home):
    created = run_json(capsys, "new", "demo", "--script", str(SAMPLE), "--home", home)
    assert created["project"]["id"] == "demo"
    assert created["import"]["scenes"] >= 3

    projects = run_json(capsys, "projects", "--home", home)
    assert [p["name"] for p in projects["projects"]] == ["demo"]
    assert projects["projects"][0]["branch"] == "main"

    scenes = run_json(capsys, "scenes", "demo", "--home", home)
    assert len(scenes["scenes"]) == created["import"]["scenes"]
    assert {s["status"] for s in scenes["scenes"]} == {"Draft"}
    assert scenes["scenes"][0]["heading"].startswith(("INT", "EXT"))

    log = run_json(capsys, "log", "demo", "--home", home)
    assert [c["action"] for c in log["commits"]] == ["import", "create"]
    root = log["commits"][-1]["id"]

    branch = run_json(capsys, "branch", "demo", "alt", "--from", root[:10], "--home", home)
    assert branch["commit"] == root
    listed = run_json(capsys, "branch", "demo", "--home", home)
    assert {b["name"] for b in listed["branches"]} == {"main", "alt"}

    switched = run_json(capsys, "switch", "demo", "alt", "--home", home)
    assert switched["branch"] == "alt" and not switched["forked"]
    forked = run_json(capsys, "switch", "demo", log["commits"][0]["id"], "--home", home)
    assert forked["branch"] == "main"  # the import commit is main's head: no fork needed
    assert run_json(capsys, "fsck", "--home", home)["ok"] is True


def test_render_wait_says_why_a_job_failed(capsys, home, tmp_path, monkeypatch):
    """``studio render --wait`` names the failure class and the reason, not just "failed"."""
    from comfy_loopback import running
    from flows import SHORT, lock_phase_a, lock_through_prompts

    from studio.config import Settings
    from studio.wiring import build_studio

    script = tmp_path / "two_rooms.fountain"
    script.write_bytes(SHORT)
    assert run(capsys, "new", "rooms", "--script", str(script), "--home", home)[0] == 0
    studio = build_studio(Settings(home=Path(home)))
    lock_phase_a(studio, "rooms")
    lock_through_prompts(studio, "rooms", [1])
    with running(models={}, gpu=True) as server:  # a ComfyUI with no model files at all
        monkeypatch.setenv("AIUTEUR_COMFYUI_URL", server.url)
        code, out, err = run(capsys, "render", "rooms", "--scene", "1", "--backend", "comfyui",
                             "--wait", "--home", home)
    assert code == 0, err
    failed = [line for line in out.splitlines() if " failed" in line]
    assert failed, out
    for line in failed:
        assert "failed (missing_model): ComfyUI cannot run workflow" in line
        assert "is not in" in line and "put it in ComfyUI/models/" in line


def test_human_output(capsys, home):
    code, out, _ = run(capsys, "new", "demo", "--script", str(SAMPLE), "--home", home)
    assert code == 0 and "imported the_long_rain.fountain" in out
    code, out, _ = run(capsys, "scenes", "demo", "--home", home)
    assert code == 0 and "Draft" in out
    code, out, _ = run(capsys, "doctor", "--home", home)
    assert code == 0 and "store" in out and "not configured" in out


@pytest.mark.parametrize(
    "args,fragment",
    [
        (["log", "nope"], "no project"),
        (["scenes", "nope"], "no project"),
        (["switch", "demo", "no-such-ref"], "no branch or commit"),
        (["branch", "demo", "../x"], "not allowed"),
        (["new", "other", "--script", "/does/not/exist.fountain"], "no screenplay file"),
        (["new", "demo"], "exists already"),
    ],
)
def test_failures_exit_non_zero_with_one_line(capsys, home, args, fragment):
    assert main(["new", "demo", "--home", home]) == 0
    capsys.readouterr()
    code, out, err = run(capsys, *args, "--home", home)
    assert code == 1
    assert fragment in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err + out
    code, out, _ = run(capsys, *args, "--home", home, "--json")
    assert code == 1 and json.loads(out)["ok"] is False


def test_bad_script_creates_nothing(capsys, home, tmp_path):
    bad = tmp_path / "prose.txt"
    bad.write_text("This is a paragraph of prose and no screenplay at all.")
    code, _, err = run(capsys, "new", "demo", "--script", str(bad), "--home", home)
    assert code == 1 and "scene heading" in err
    assert run_json(capsys, "projects", "--home", home)["projects"] == []


def test_home_from_environment(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("AIUTEUR_HOME", str(tmp_path / "envhome"))
    assert main(["new", "envproject"]) == 0
    assert (tmp_path / "envhome" / "studio.db").exists()


def test_console_script_is_installed(tmp_path):
    exe = Path(sys.executable).with_name("studio")
    assert exe.exists(), "the `studio` console script is installed with the package"
    done = subprocess.run(
        [str(exe), "projects", "--json", "--home", str(tmp_path)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"ok": True, "projects": []}


def test_bench_store_reports_its_figures(capsys, home):
    figures = run_json(capsys, "bench", "store", "--scenes", "6", "--shots", "3", "--commits", "120", "--home", home)
    # Structure, not speed: a one-scene edit writes one scene object and one tree.
    assert figures["objects_per_edit_commit"] == 2
    assert figures["log_commits"] == 120
    assert figures["fsck_problems"] == 0
    for key in (
        "commit_one_scene_edit_ms_median",
        "switch_branch_ms_median",
        "switch_branch_cold_ms_median",
        "log_ms_median",
        "log_fresh_store_ms_median",
    ):
        assert figures[key] >= 0
    assert figures["git_log_ms_median"] is None or figures["git_log_ms_median"] > 0
    assert not Path(home).exists()  # benchmarks use their own temporary folders


def test_bench_fidelity_prints_agreement_per_element_type(capsys, home):
    figures = run_json(capsys, "bench", "fidelity", "--home", home)
    assert figures["speeches"]["kept"] == figures["speeches"]["expected"] > 900
    assert figures["disagreements"] == 0
    for kind in ("scene heading", "action", "character", "dialogue", "transition", "dual"):
        assert figures[kind]["expected"] > 0
        assert figures[kind]["matched"] == figures[kind]["expected"]
    code, out, _ = run(capsys, "bench", "fidelity", "--home", home)
    assert code == 0
    assert out.splitlines()[0].split()[:2] == ["element", "type"]
    assert "speeches kept" in out
    assert not Path(home).exists()


def test_shots_and_prompts_drafts_for_every_scene(capsys, home):
    created = run_json(capsys, "new", "demo", "--script", str(SAMPLE), "--home", home)
    for number in range(1, created["import"]["scenes"] + 1):
        shots = run_json(capsys, "shots", "demo", str(number), "--home", home)
        assert shots["status"].startswith("draft") and shots["problems"] == []
        assert shots["shots"] and all(0 < s["duration_s"] <= 8 for s in shots["shots"])
        assert [s["id"] for s in shots["shots"]][0] == f"{number}A"
        prompts = run_json(capsys, "prompts", "demo", str(number), "--home", home)
        assert [p["shot_id"] for p in prompts["prompt_sets"]] == [s["id"] for s in shots["shots"]]
        for prompt_set in prompts["prompt_sets"]:
            assert prompt_set["frame_prompt"] and prompt_set["video_prompt"] and prompt_set["system_prompt"]
    code, out, _ = run(capsys, "prompts", "demo", "2", "--home", home)
    assert code == 0 and "frame prompt (drives the anchor frames" in out
    code, _, err = run(capsys, "shots", "demo", "99", "--home", home)
    assert code == 1 and "scene 99 does not exist" in err
    code, _, err = run(capsys, "prompts", "demo", "1", "--frame-model", "dall-e", "--home", home)
    assert code == 1 and "unknown target model" in err
