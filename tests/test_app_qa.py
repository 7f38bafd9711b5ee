"""The QA dashboard and stage 12's QA section in the app with AppTest.

Same set-up as ``test_app_render.py``: no background worker, renders happen in-process
through a second Studio on the AppTest data dir (``studio.drain_queue()``)."""

from __future__ import annotations

import base64
import json
import time

import numpy as np
import pytest
import test_app_render
from test_app import assert_ok, open_app, texts
from test_app_render import (
    SHORT,
    open_page,
    page_text,
    render_and_approve_frames,
    render_clips,
    scene_ids,
)

# The render tests' fixtures: a data dir for AppTest, a Studio on it, a project at stage 10.
home = test_app_render.home
studio = test_app_render.studio
project = test_app_render.project

QA_PAGE = "pages/qa_dashboard.py"
STAGE12 = "pages/stage12_video.py"


def run_in_the_background(at, studio, pid: str) -> None:
    """Click "Run QA now": the page returns at once with a progress bar (the run is in a
    thread of the app's Studio); when the run log has the run, the next rerun shows it."""
    before = len(studio.qa_dashboard(pid)["runs"])
    at.button(key="qa_run_now").click().run()
    assert_ok(at)
    assert not at.error, texts(at.error)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        runs = studio.qa_dashboard(pid)["runs"]
        if len(runs) > before and runs[0]["state"] != "open":
            break
        time.sleep(0.1)
    else:
        raise AssertionError("the background QA run never finished")
    time.sleep(0.2)  # the thread marks itself done just after closing the run
    at.run()
    assert_ok(at)


def charts(at) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def values(array) -> list:
    """A plotly array: a list, or numpy's binary form ({"dtype", "bdata"})."""
    if isinstance(array, dict):
        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=array["dtype"]).tolist()
    return list(array)


@pytest.fixture
def rendered(studio, project):
    """Both scenes' frames approved, clips and scene cuts rendered."""
    for number in (1, 2):
        render_and_approve_frames(studio, project, number)
        studio.confirm_render(project, number)
    render_clips(studio, project)
    return project


def test_dashboard_runs_on_an_empty_home(home):
    at = open_app()
    at.switch_page(QA_PAGE).run()
    assert_ok(at)
    assert "Pick or create a project on the Projects page first." in texts(at.info)


def test_dashboard_without_runs_says_so(studio):
    created, _ = studio.new_project("Two Rooms", ("two.fountain", SHORT))
    at = open_app(created.id)
    at.switch_page(QA_PAGE).run()
    assert_ok(at)
    assert not at.error, texts(at.error)
    assert "No QA runs yet for this project" in texts(at.info)
    assert not at.get("plotly_chart")
    assert at.selectbox(key="qa_branch").options == ["All branches", "main"]


def test_run_qa_charts_frames_and_stage12(studio, rendered):
    pid = rendered
    at = open_app(pid)
    at.switch_page(QA_PAGE).run()
    assert "No QA runs yet" in texts(at.info)

    run_in_the_background(at, studio, pid)
    board = studio.qa_dashboard(pid)
    assert len(board["runs"]) == 1
    run = board["runs"][0]
    assert "The QA run is done: its verdict is below." in texts(at.success)
    assert f"Run verdict: {run['verdict']}" in texts(at.markdown)  # st.badge is a Markdown directive
    assert texts(at.markdown).count(f"Run verdict: {run['verdict']}") == 1  # said once
    specs = charts(at)
    titles = [json.dumps(spec["layout"]["title"]) for spec in specs]
    assert len(specs) >= 3, titles  # coherence, render jobs, verdict counts (+ those with rows)
    coherence = next(s for s in specs if "Coherence per shot" in json.dumps(s["layout"]["title"]))
    subjects = {r["subject"] for r in board["run_metrics"] if r["name"] == "ssim_mean"}
    plotted = {x for trace in coherence["data"] for x in trace["x"]}
    assert plotted == subjects  # built from the run's real metric rows
    assert plotted and all(x.startswith("Shot ") for x in plotted)  # shot ids a reviewer reads
    assert all(len(point) == 2 for trace in coherence["data"] for point in trace["customdata"])
    assert "No VRAM samples: none of these renders ran on a GPU (the CPU animatic and a ComfyUI server started with --cpu use none)." in texts(at.info)
    identity = next(s for s in specs if "Identity drift per character" in json.dumps(s["layout"]["title"]))
    labels = board["scene_labels"]
    measured = {(r["subject"], labels[r["scene_id"]]) for r in board["run_metrics"] if r["scope"] == "character"}
    assert all(scene.startswith("Scene ") for _, scene in measured)  # not "sc-1"
    assert measured and {(t["name"], x) for t in identity["data"] for x in t["x"]} == measured
    verdicts = next(s for s in specs if "Verdicts of the runs" in json.dumps(s["layout"]["title"]))
    assert [t["x"][0] for t in verdicts["data"]] == ["PASS", "WARN", "FAIL"]
    assert len(at.dataframe[0].value) == len(board["run_metrics"])

    assert not at.image
    at.button(key="qa_open_frames").click().run()
    assert_ok(at)
    assert len(at.image) >= 1, "the shot's frames are shown"
    assert "**Frames of Shot 1" in texts(at.markdown)
    scene_id, shot_id = at.selectbox(key="qa_shot_pick").value
    assert (scene_id, shot_id) in {(r["scene_id"], r["shot_id"]) for r in board["run_metrics"]}

    at.switch_page(STAGE12).run()
    assert_ok(at)
    assert f"Latest QA run: {run['verdict']}" in texts(at.markdown)
    assert "QA dashboard" in [link.label for link in at.page_link]
    first = scene_ids(studio, pid)[0]
    flagged = [r for r in board["run_metrics"] if r["scene_id"] == first and r["level"] != "PASS"]
    text = page_text(at)
    assert all(r["level"] in text for r in flagged)
    assert flagged or "Nothing flagged for this scene" in text


def test_vram_chart_is_built_from_the_runs_telemetry(home, studio):
    """GPU jobs sampled by the worker (a fake card: the only hardware fake) → run QA → the
    dashboard's "VRAM over time per job" chart has one trace per job, from the real rows."""
    from render_backends import StepBackend, make_spec

    from render.worker import WorkerOptions, open_queue, run_worker
    from studio.config import Settings
    from studio.ports import GpuSnapshot

    class ClimbingGpu:
        calls = 0

        def snapshot(self) -> GpuSnapshot:
            self.calls += 1
            return GpuSnapshot(True, "Test GPU", 24_576, 24_576 - (3_000 + 150 * self.calls))

    created, _ = studio.new_project("Two Rooms", ("two.fountain", SHORT))
    settings = Settings(home=home)
    queue = open_queue(settings)
    try:
        for shot in ("1A", "1B"):
            queue.enqueue(make_spec(project=created.id, shot=shot, test_steps="4", test_sleep="0.05"),
                          backend="comfyui", idempotency_key=shot)
        options = WorkerOptions(poll_s=0.02, heartbeat_s=0.1, sample_vram_s=0.02)
        assert run_worker(settings, {"comfyui": StepBackend("comfyui", needs_gpu=True)}, ClimbingGpu(),
                          once=True, options=options) == 2
    finally:
        queue.close()
    studio.run_qa(created.id, narrative=False)
    board = studio.qa_dashboard(created.id)
    assert board["telemetry"]

    at = open_app(created.id)
    at.switch_page(QA_PAGE).run()
    assert_ok(at)
    vram = next(s for s in charts(at) if "VRAM over time per job" in json.dumps(s["layout"]["title"]))
    by_job = {t["name"]: values(t["y"]) for t in vram["data"]}
    expected: dict[str, list[float]] = {}
    for row in board["telemetry"]:
        expected.setdefault(row["job_id"], []).append(row["vram_used_mb"])
    assert by_job == expected and len(by_job) == 2
    assert "No VRAM samples" not in texts(at.info)


def test_run_qa_now_runs_in_the_background_once_with_progress(studio, rendered):
    pid = rendered
    at = open_app(pid)
    at.switch_page(QA_PAGE).run()
    app_studio = at.session_state["studio"]  # the app's own Studio (its background runs)
    lock = app_studio.quality._engine_lock
    lock.acquire()  # another QA run holds the engine: ours waits, so its progress is on screen
    try:
        at.button(key="qa_run_now").click().run()
        assert_ok(at)
        bars = at.get("progress")
        assert bars and "Measuring the rendered clips… 0 of" in bars[0].proto.text
        assert "waiting for another QA run to finish" in bars[0].proto.text
        assert at.button(key="qa_run_now").disabled  # no second click while it runs
        waiting = app_studio.qa_progress(pid)
        assert app_studio.start_qa(pid).started == waiting.started  # nor a second start
        at.run()
        assert at.get("progress")  # still running: still shown
    finally:
        lock.release()
    deadline = time.monotonic() + 300
    while app_studio.qa_progress(pid).state == "running" and time.monotonic() < deadline:
        time.sleep(0.1)
    at.run()
    assert_ok(at)
    assert app_studio.qa_progress(pid).state == "done"
    assert "The QA run is done: its verdict is below." in texts(at.success)
    assert not at.get("progress") and not at.button(key="qa_run_now").disabled
    runs = studio.qa_dashboard(pid)["runs"]
    assert len(runs) == 1 and runs[0]["state"] == "closed"
    assert "Run verdict: " in texts(at.markdown)


def test_the_verdict_shows_what_was_not_rendered_beside_it(studio, project):
    render_and_approve_frames(studio, project, 1)
    studio.confirm_render(project, 1)
    render_clips(studio, project)
    studio.run_qa(project, narrative=False)
    at = open_app(project)
    at.switch_page(QA_PAGE).run()
    assert_ok(at)
    text = page_text(at)
    assert "**Not rendered** — not in the verdict:" in text
    listed = [str(m.value) for m in at.markdown if str(m.value).startswith("- Scene 2")]
    assert len(listed) == 1 and "PORCH" in listed[0]  # (Markdown-escaped)
    assert "bool" not in text


@pytest.mark.parametrize(
    "note,shown",
    [
        ("hmm", "No route suggested: the note does not say what is wrong"),
        ("looks like a park, no water", "Suggested: **Visual issue**"),
    ],
)
def test_stage12_suggests_a_route_only_when_the_note_says_something(studio, project, note, shown):
    render_and_approve_frames(studio, project, 1)
    studio.confirm_render(project, 1)
    first = scene_ids(studio, project)[0]
    at = open_page(project, STAGE12, first)
    at.text_area(key=f"review_note_{first}").input(note)
    at.button(key=f"review_suggest_btn_{first}").click().run()
    assert_ok(at)
    infos = texts(at.info)
    assert shown in infos, infos
    assert "Suggested: **Success**" not in infos
