"""studio.bench: the git history the store benchmark compares its log with (structure, not
speed: timings are printed by ``studio bench store``, never asserted)."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from studio.bench import build_git_history, format_figures, time_git_log

GIT = shutil.which("git")
needs_git = pytest.mark.skipif(GIT is None, reason="git is not installed")


def git(repo, *args: str) -> str:
    assert GIT is not None
    done = subprocess.run([GIT, "-C", str(repo), *args], check=True, capture_output=True, text=True)
    return done.stdout


@needs_git
def test_git_history_is_linear_and_each_commit_touches_one_scene_file(tmp_path):
    assert GIT is not None
    repo = build_git_history(GIT, tmp_path / "repo", 25, 4)
    assert int(git(repo, "rev-list", "--count", "main")) == 25
    assert int(git(repo, "rev-list", "--count", "--min-parents=2", "main")) == 0, "no merges"
    subjects = git(repo, "log", "--format=%s", "main").splitlines()
    assert subjects == [f"Edit {n}" for n in range(24, -1, -1)]
    for n in range(25):
        changed = git(repo, "show", "--format=", "--name-only", f"main~{24 - n}").split()
        assert changed == [f"scenes/sc-{1 + n % 4}.json"]


@needs_git
def test_time_git_log_checks_it_listed_every_commit(tmp_path):
    assert GIT is not None
    repo = build_git_history(GIT, tmp_path / "repo", 12, 3)
    assert time_git_log(GIT, repo, 12) >= 0
    assert time_git_log(GIT, repo, 13, read=False) >= 0, "nothing read back, nothing checked"
    with pytest.raises(AssertionError):
        time_git_log(GIT, repo, 13)


# The store bench's own figures, as bench_store returns them (git not measured).
STORE_FIGURES = {
    "project": {"scenes": 1, "shots": 1},
    "commit_one_scene_edit_ms_median": 1.0,
    "commit_one_scene_edit_ms_p95": 1.0,
    "objects_per_edit_commit": 2,
    "bytes_per_edit_commit": 10,
    "switch_branch_ms_median": 1.0,
    "switch_branch_cold_ms_median": 2.0,
    "log_commits": 5,
    "log_ms_median": 1.0,
    "log_fresh_store_ms_median": 1.5,
    "git_log_ms_median": None,
    "git_log_devnull_ms_median": None,
    "fsck_problems": 0,
}


def test_figures_say_when_git_was_not_measured():
    figures = dict(STORE_FIGURES)
    assert "git not found, not measured" in format_figures(figures)
    text = format_figures({**figures, "git_log_ms_median": 3.25, "git_log_devnull_ms_median": 2.5})
    assert "median 3.25 ms read through a pipe, 2.5 ms to /dev/null" in text
    assert "fresh Store" in text


def test_import_figures_are_printed_when_measured():
    base = dict(STORE_FIGURES)
    assert "feature" not in format_figures(base)
    text = format_figures(
        {**base, "import_script": "Big Fish.fountain", "import_scenes": 190, "import_bytes": 148439,
         "import_feature_s_median": 0.61, "cli_help_s_median": 0.08}
    )
    assert "import a 190-scene feature (Big Fish.fountain, 148,439 bytes) into a new project: median 0.61 s" in text
    assert "studio --help in a new process: median 0.08 s" in text


def test_the_synthetic_feature_imports_as_its_scene_count(tmp_path):
    from studio.bench import feature_screenplay
    from studio.config import Settings
    from studio.services import Studio
    from studio.store import Store

    settings = Settings(home=tmp_path)
    store = Store(settings.db_path, settings.media_dir)
    _, result = Studio(settings, store, presets={}).new_project("F", ("f.fountain", feature_screenplay(30).encode()))
    assert result is not None and result.scenes == 30
    store.close()


@pytest.mark.slow
def test_page_bench_times_every_page_on_both_projects():
    """``studio bench pages`` end to end on a small synthetic project: every page is timed
    on both projects and none raised (the figures themselves are printed, not checked)."""
    from pages.bench import PAGES
    from studio.bench import bench_pages, format_page_figures
    from studio.wiring import build_studio

    figures = bench_pages(build_studio, scenes=30, shots_per_scene=2, reruns=1)
    assert figures["large"]["scenes"] == 30 and figures["sample"]["scenes"] >= 3
    for label in ("sample", "large"):
        pages = figures[label]["pages"]
        assert set(PAGES) <= set(pages)
        assert not {page: row["error"] for page, row in pages.items() if row.get("error")}
    text = format_page_figures(figures)
    assert "pages/stage10_frames.py" in text and "30-scene project" in text


def test_context_figure_is_printed_when_measured():
    figures = dict(STORE_FIGURES)
    assert "context" not in format_figures(figures)
    text = format_figures({**figures, "context_ms_median": 0.75, "context_ms_max": 1.5})
    assert "stage 7 call's context (each scene): median 0.75 ms (max 1.5 ms)" in text
