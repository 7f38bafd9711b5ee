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
    figures = run_json(
        capsys, "bench", "store", "--scenes", "6", "--shots", "3", "--commits", "120", "--imports", "1", "--home", home
    )
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
        "import_feature_s_median",
        "cli_new_feature_s_median",
        "cli_help_s_median",
    ):
        assert figures[key] >= 0
    assert figures["import_scenes"] == 190, "the feature import bench imports all of Big Fish"
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


# --------------------------------------------------------------------------- data safety

REPO = Path(__file__).resolve().parents[1]
BIG_FISH = REPO / "tests" / "fixtures" / "fountain-peers" / "nyousefi" / "Big Fish.fountain"


def studio_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "studio.cli", *args]


def child_env() -> dict[str, str]:
    import os

    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.pop("AIUTEUR_HOME", None)
    return env


def private_mounts_work() -> bool:
    """Whether `unshare` gives this process a mount namespace of its own (root, or a user
    namespace) in which it may mount a tmpfs: the mounts vanish with the command."""
    import shutil

    if shutil.which("unshare") is None:
        return False
    done = subprocess.run(
        ["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt 2>/dev/null || mount -t tmpfs -o size=64k tmpfs /tmp"],
        capture_output=True, timeout=30,
    )
    return done.returncode == 0


def in_private_mounts(script: str, timeout: int = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["unshare", "-rm", "sh", "-c", script], capture_output=True, text=True, timeout=timeout, env=child_env()
    )


def test_a_full_disk_is_one_line_from_the_cli(capsys, home, monkeypatch):
    """SQLite's own SQLITE_FULL (the file may not grow past its pages) inside `studio new`:
    one line on stderr, exit 1, nothing saved."""
    import sqlite3

    import studio.sqlite

    assert main(["projects", "--home", home]) == 0  # a data dir with its schema
    capsys.readouterr()
    real_connect = sqlite3.connect

    def no_room(*args, **kwargs):
        conn = real_connect(*args, **kwargs)
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages}")
        return conn

    monkeypatch.setattr(studio.sqlite.sqlite3, "connect", no_room)
    code, out, err = run(capsys, "new", "demo", "--script", str(SAMPLE), "--home", home)
    assert code == 1
    assert err.strip().splitlines() == [
        f"studio: the disk is full: free space in {Path(home).resolve()} and retry; nothing was saved"
    ]
    assert "Traceback" not in out + err
    monkeypatch.undo()
    assert run_json(capsys, "projects", "--home", home)["projects"] == []


@pytest.mark.skipif(not private_mounts_work(), reason="cannot mount a private tmpfs here (unshare)")
def test_a_really_full_filesystem_is_one_line_and_saves_nothing(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    cli = " ".join(f"'{a}'" for a in studio_argv())
    done = in_private_mounts(
        f"mount -t tmpfs -o size=900k tmpfs '{data}' && {cli} projects --home '{data}/h' >/dev/null"
        f" && {cli} new feature --script '{BIG_FISH}' --home '{data}/h';"
        f" echo rc=$?; {cli} projects --json --home '{data}/h'"
    )
    lines = done.stderr.strip().splitlines()
    assert lines == [f"studio: the disk is full: free space in {data}/h and retry; nothing was saved"], done.stderr
    assert "rc=1" in done.stdout
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"ok": True, "projects": []}


def test_an_empty_project_gets_its_script_from_the_cli(capsys, home, tmp_path):
    assert main(["new", "empty", "--home", home]) == 0
    code, _, err = run(capsys, "new", "empty", "--script", str(SAMPLE), "--home", home)
    assert code == 1 and "studio import empty FILE" in err
    imported = run_json(capsys, "import", "empty", str(SAMPLE), "--home", home)
    assert imported["import"]["scenes"] >= 3 and imported["branch"] == "main"
    assert [c["action"] for c in run_json(capsys, "log", "empty", "--home", home)["commits"]] == ["import", "create"]
    code, _, err = run(capsys, "import", "empty", str(SAMPLE), "--home", home)
    assert code == 1 and "already has a script" in err and len(err.strip().splitlines()) == 1
    again = run_json(capsys, "import", "empty", str(SAMPLE), "--branch", "second-draft", "--home", home)
    assert again["branch"] == "second-draft"


def _read_commands(home: str) -> list[list[str]]:
    return [
        ["projects", "--home", home],
        ["scenes", "demo", "--home", home],
        ["log", "demo", "--home", home],
        ["shots", "demo", "1", "--home", home],
        ["doctor", "--home", home],
    ]


def test_doctor_says_when_the_store_is_read_only(tmp_path):
    from studio.config import Settings
    from studio.services import Studio
    from studio.store import Store

    settings = Settings(home=tmp_path)
    Store(settings.db_path, settings.media_dir).close()
    store = Store(settings.db_path, settings.media_dir, read_only=True)
    (probe,) = [r for r in Studio(settings, store, presets={}).doctor() if r.name == "store"]
    assert probe.state == "ok" and "read-only: nothing can be saved" in probe.detail
    store.close()


def test_a_read_only_data_dir_can_still_be_read(tmp_path, capsys):
    """Reads of a data dir nobody may write: a read-only mount (root ignores permissions),
    or, without one, a data dir made unwritable with chmod."""
    import os

    home = str(tmp_path / "home")
    assert main(["new", "demo", "--script", str(SAMPLE), "--home", home]) == 0
    capsys.readouterr()
    db = Path(home) / "studio.db"
    before = db.read_bytes()
    cli = " ".join(f"'{a}'" for a in studio_argv())
    if private_mounts_work():
        reads = " && ".join(f"{cli} " + " ".join(f"'{a}'" for a in args) + " >/dev/null" for args in _read_commands(home))
        done = in_private_mounts(
            f"mount --bind '{home}' '{home}' && mount -o remount,ro,bind '{home}' && touch '{home}/x' 2>/dev/null;"
            f" test ! -e '{home}/x' || exit 9; {reads} && echo READS-OK;"
            f" {cli} new other --home '{home}'; echo rc=$?"
        )
        assert "READS-OK" in done.stdout, done.stderr
        assert "rc=1" in done.stdout
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and "is read-only" in lines[0] and "nothing was saved" in lines[0], done.stderr
    elif os.geteuid() != 0:
        for path in [Path(home), *Path(home).rglob("*")]:
            path.chmod(path.stat().st_mode & ~0o222)
        try:
            for args in _read_commands(home):
                done = subprocess.run(studio_argv(*args), capture_output=True, text=True, env=child_env(), timeout=120)
                assert done.returncode == 0, (args, done.stderr)
            done = subprocess.run(studio_argv("new", "other", "--home", home), capture_output=True, text=True, env=child_env(), timeout=120)
            assert done.returncode == 1 and "read-only" in done.stderr and "Traceback" not in done.stderr
        finally:
            for path in [Path(home), *Path(home).rglob("*")]:
                path.chmod(path.stat().st_mode | 0o200)
    else:
        pytest.skip("root without a private mount namespace: nothing here is read-only for it")
    assert db.read_bytes() == before


def test_a_closed_pipe_prints_no_traceback(tmp_path, capsys):
    """`studio scenes … | head`: the reader is gone before studio writes (its end of the
    pipe is closed at once), so the write meets a broken pipe."""
    import os

    home = str(tmp_path / "home")
    assert main(["new", "demo", "--script", str(SAMPLE), "--home", home]) == 0
    capsys.readouterr()
    for args in (["scenes", "demo"], ["log", "demo", "--json"], ["--help"], ["scenes", "nosuch", "--json"]):
        read_end, write_end = os.pipe()
        os.close(read_end)
        try:
            done = subprocess.run(
                studio_argv(*args, *(["--home", home] if args != ["--help"] else [])),
                stdout=write_end, stderr=subprocess.PIPE, text=True, env=child_env(), timeout=120,
            )
        finally:
            os.close(write_end)
        assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, (args, done.stderr)
        assert "Exception ignored" not in done.stderr, (args, done.stderr)
        if args[1:2] == ["nosuch"]:
            assert done.stderr.startswith("studio: no project 'nosuch'") and done.returncode == 141
        else:
            assert done.stderr == "", (args, done.stderr)


def test_fsck_removes_orphan_temp_media_and_says_so(capsys, home):
    import os
    import time

    assert main(["new", "demo", "--script", str(SAMPLE), "--home", home]) == 0
    capsys.readouterr()
    media = Path(home) / "media"
    folder = next(p for p in media.iterdir() if p.is_dir())
    old = folder / ".tmp-abc123"
    old.write_bytes(b"half a clip")
    past = time.time() - 3600
    os.utime(old, (past, past))
    young = folder / ".tmp-live"
    young.write_bytes(b"being written")
    code, out, _ = run(capsys, "fsck", "--dry-run", "--home", home)
    assert code == 0 and "found 1 orphan temp file(s)" in out and old.exists()
    code, out, _ = run(capsys, "fsck", "--home", home)
    assert code == 0
    assert "removed 1 orphan temp file(s) in media/ left by an interrupted write (11 bytes)" in out
    assert "left 1 temp file(s) younger than a minute alone" in out
    assert not old.exists() and young.exists()
    report = run_json(capsys, "fsck", "--home", home)
    assert report["temp_files"]["removed"] == [] and report["temp_files"]["young"] == [str(young)]


def test_help_loads_no_studio_or_pydantic():
    """`studio --help` stays fast because the commands import what they use."""
    probe = "import sys, studio.cli; print(sorted(m for m in ('pydantic', 'sqlite_utils', 'studio.services', 'studio.model', 'studio.store') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=child_env(), timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


@pytest.mark.slow
def test_killing_new_with_script_never_leaves_a_project_without_its_script(tmp_path):
    """SIGKILL `studio new NAME --script` at spread-out moments: afterwards each project is
    either absent or complete, and the store checks out."""
    import random
    import signal
    import time

    home = str(tmp_path / "home")
    rng = random.Random(10)
    subprocess.run(studio_argv("projects", "--home", home), check=True, env=child_env(), capture_output=True, timeout=120)
    # How long a whole run takes here, to spread the kills over it.
    start = time.monotonic()
    subprocess.run(studio_argv("new", "timing", "--script", str(BIG_FISH), "--home", home), check=True, env=child_env(), capture_output=True, timeout=300)
    whole = time.monotonic() - start
    names = []
    for n in range(6):
        name = f"kill-{n}"
        names.append(name)
        child = subprocess.Popen(studio_argv("new", name, "--script", str(BIG_FISH), "--home", home), env=child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.3, 1.0) * whole)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=60)
    listed = {p["name"]: p for p in json.loads(subprocess.run(studio_argv("projects", "--json", "--home", home), check=True, env=child_env(), capture_output=True, text=True, timeout=120).stdout)["projects"]}
    for name in names:
        if name in listed:
            assert listed[name]["scenes"] == 190 and listed[name]["title"], f"{name} is there without its script"
    done = subprocess.run(studio_argv("fsck", "--home", home), env=child_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
