"""Stages 10-12 in the app with AppTest: anchor frames, the confirmation gate, video and
review, and the sidebar's render queue summary.

Same set-up as ``test_app.py`` (whose helpers this reuses). The app's Studio has no
background worker here: tests render in-process with ``studio.drain_queue()`` through a
second Studio on the same data dir, then rerun the page (which brings the outputs in).
"""

from __future__ import annotations

import pytest
import test_app
from flows import SHORT, lock_phase_a, lock_through_prompts, render_and_approve_frames
from streamlit.testing.v1 import AppTest
from test_app import APP, assert_ok, open_app, page_text, texts

from studio.model import Stage

STAGE6 = "pages/stage6_hub.py"
STAGE10 = "pages/stage10_frames.py"
STAGE11 = "pages/stage11_confirm.py"
STAGE12 = "pages/stage12_video.py"
NEW_PAGES = {STAGE10: Stage.FRAMES, STAGE11: Stage.CONFIRM, STAGE12: Stage.VIDEO}
ACTIVE = ("queued", "waiting_vram", "running")



# The app tests' fixtures: a data dir for AppTest, a Studio on it, the sample imported.
home = test_app.home
studio = test_app.studio
sample_project = test_app.sample_project

@pytest.fixture
def project(studio):
    """The two-scene screenplay with every scene's prompts locked: stage 10 is open."""
    project, _ = studio.new_project("Two Rooms", ("two.fountain", SHORT))
    pid = project.id
    lock_phase_a(studio, pid)
    lock_through_prompts(studio, pid, (1, 2))
    return pid


def scene_ids(studio, pid) -> list[str]:
    return [doc.scene.id for doc in studio.state(pid).ordered_scenes()]


def open_page(pid: str, page: str, scene_id: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=30)
    at.session_state["project_id"] = pid
    if scene_id is not None:
        at.session_state["scene_id"] = scene_id
    at.run()
    at.switch_page(page).run()
    assert_ok(at)
    return at


def keys(at) -> set[str]:
    return {b.key for b in at.button if b.key}


def render_clips(studio, pid) -> None:
    """Clips, then the scene cuts queued once the clips are in."""
    for _ in range(2):
        studio.drain_queue()
        studio.sync_renders(pid)


# ----------------------------------------------------------------------------- every page


def test_new_pages_run_on_an_empty_home(home):
    at = open_app()
    assert "Render queue: pick a project" in texts(at.sidebar.caption)
    for page in NEW_PAGES:
        at.switch_page(page).run()
        assert_ok(at)
        assert not at.error, (page, texts(at.error))
        assert "Pick or create a project on the Projects page first." in texts(at.info)


def test_new_pages_show_their_closed_gate_with_the_sample(studio, sample_project):
    pid = sample_project.id
    first = scene_ids(studio, pid)[0]
    gates = studio.gates(pid, first)
    at = open_app(pid)
    for page, stage in NEW_PAGES.items():
        at.switch_page(page).run()
        assert_ok(at)
        assert not at.error, (page, texts(at.error))
        assert not gates[stage].open
        assert f"gate closed — {gates[stage].reason}" in texts(at.warning)
        shown = keys(at)
        assert not any(k.startswith(("fr_render", "fr_lock", "confirm_render", "review_")) for k in shown)
        assert not at.radio  # no mode choice before the prompts are locked
    assert "Render queue: 0 queued · 0 running · 0 done · 0 failed" in texts(at.sidebar.caption)


def test_stage10_refuses_a_scene_whose_prompts_are_not_locked(studio):
    project, _ = studio.new_project("Unlocked", ("two.fountain", SHORT))
    at = open_page(project.id, STAGE10)
    gate = studio.gates(project.id, scene_ids(studio, project.id)[0])[Stage.FRAMES]
    assert f"gate closed — {gate.reason}" in texts(at.warning)
    assert "Stage 9 — Prompt assembly" in [link.label for link in at.page_link]
    with pytest.raises(KeyError):
        at.button(key="fr_lock_sc-1")


# ----------------------------------------------------------------------------- stage 10


def test_quick_mode_renders_approves_and_locks(studio, project):
    sid = scene_ids(studio, project)[0]
    at = open_page(project, STAGE10, sid)
    assert "Choose Quick or Control" in texts(at.info)
    assert f"fr_render_{sid}" not in keys(at)  # nothing actionable before the mode choice

    at.radio(key=f"frame_mode_{sid}").set_value("quick").run()
    assert_ok(at)
    assert studio.frames_view(project, sid).mode == "quick"
    render = at.button(key=f"fr_render_{sid}")
    assert render.label.startswith("Render frames (") and not render.disabled
    assert at.button(key=f"fr_lock_{sid}").disabled
    assert "continuity drift: not measured" in page_text(at)

    render.click().run()
    assert_ok(at)
    rows = studio.frames_view(project, sid).rows
    expected = sum(1 + row.needs_end for row in rows)
    jobs = [j for j in studio.render_jobs(project, sid) if j.kind == "frame"]
    assert len(jobs) == expected and all(j.status == "queued" for j in jobs)
    assert f"{expected} frame job(s) queued." in texts(at.success)
    assert f"Render queue: {expected} queued" in texts(at.sidebar.caption)
    bars = [bar.proto.text for bar in at.progress]  # the polling fragment
    assert len(bars) == expected and all("queued" in text for text in bars)

    studio.drain_queue()
    at.run()  # the page brings the finished frames in
    assert_ok(at)
    view = studio.frames_view(project, sid)
    assert all(row.start is not None for row in view.rows)
    assert len(at.image) >= expected
    assert f"{expected} done" in texts(at.sidebar.caption)
    for row in view.rows:
        for which in ("start", "end") if row.needs_end else ("start",):
            at.button(key=f"fr_approve_{sid}_{row.shot.id}_{which}").click().run()
            assert_ok(at)
            assert not at.error, texts(at.error)
    assert all(row.complete for row in studio.frames_view(project, sid).rows)
    if len(view.rows) > 1:  # the rearview mirror compares a start frame with the shot before
        assert any(
            e.label.startswith(f"Rearview mirror — against shot {view.rows[0].shot.id}") for e in at.expander
        )
    at.button(key=f"fr_lock_{sid}").click().run()
    assert_ok(at)
    assert studio.gates(project, sid)[Stage.FRAMES].locked
    assert "Next: Stage 11 — Cost & VRAM gate" in [link.label for link in at.page_link]
    assert at.radio(key=f"frame_mode_{sid}").disabled


def test_renders_finished_elsewhere_come_in_on_the_first_look_and_views_write_nothing(studio, project):
    """Finished renders are brought in where completions are reported (and once per session
    for what finished while no one looked), never by every page view."""
    sid = scene_ids(studio, project)[0]
    studio.set_frame_mode(project, sid, "quick")
    studio.render_frames(project, sid)
    studio.drain_queue()  # finished while no app session was open (the CLI, another tab)
    before = [c.message for c in studio.log(project)]
    at = open_page(project, STAGE10, sid)
    assert all(row.start is not None for row in studio.frames_view(project, sid).rows)
    after = [c.message for c in studio.log(project)]
    assert len(after) == len(before) + 1 and after[0].startswith("Bring in ")
    assert len(at.image) >= len(studio.frames_view(project, sid).rows)
    for page in (STAGE10, STAGE11, STAGE12, STAGE10):
        at.switch_page(page).run()
        assert_ok(at)
    assert [c.message for c in studio.log(project)] == after


def test_control_mode_goes_in_order_with_region_edit_and_rearview(studio, project):
    studio.set_frame_mode(project, 1, "quick")  # scene 1 first: scene 2's first shot looks back at it
    studio.render_frames(project, 1)
    studio.drain_queue()
    studio.sync_renders(project)
    sid = scene_ids(studio, project)[1]
    at = open_page(project, STAGE10, sid)
    at.radio(key=f"frame_mode_{sid}").set_value("control").run()
    assert_ok(at)
    first = studio.frames_view(project, sid).rows[0]
    render = at.button(key=f"fr_render_{sid}")
    assert render.label == f"Render next: {first.shot.id} start"
    render.click().run()
    jobs = [j for j in studio.render_jobs(project, sid) if j.status in ACTIVE]
    assert [(j.kind, j.shot_id) for j in jobs] == [("frame", first.shot.id)]

    studio.drain_queue()
    at.run()
    assert_ok(at)
    shot = first.shot.id
    assert at.button(key=f"fr_render_{sid}").disabled  # review the start frame first
    if first.needs_end:
        assert at.button(key=f"fr_approve_{sid}_{shot}_end").disabled
    mirror = next(e for e in at.expander if e.label.startswith("Rearview mirror"))
    assert "previous scene" in mirror.label
    at.toggle(key=f"fr_flicker_{sid}_{shot}").set_value(True).run()
    assert_ok(at)

    # Region edit: a rectangle mask and a prompt queue a frame job; its output is the new start.
    before = studio.frames_view(project, sid).rows[0].start
    at.number_input(key=f"fr_w_{sid}_{shot}_start").set_value(30.0)
    at.text_input(key=f"fr_region_prompt_{sid}_{shot}_start").input("a lit window, warm light")
    at.button(key=f"fr_region_{sid}_{shot}_start").click().run()
    assert_ok(at)
    assert not at.error, texts(at.error)
    assert "region edit of the start frame queued" in texts(at.success)
    studio.drain_queue()
    at.run()
    latest = studio.frames_view(project, sid).rows[0].start
    assert latest.job_id != before.job_id and latest.media != before.media and not latest.approved

    at.button(key=f"fr_approve_{sid}_{shot}_start").click().run()
    assert_ok(at)
    nxt = studio.frames_view(project, sid).next_control
    assert nxt is not None and nxt != (shot, "start")
    assert at.button(key=f"fr_render_{sid}").label == f"Render next: {nxt[0]} {nxt[1]}"


# ----------------------------------------------------------------------------- stages 11-12


def test_confirm_render_then_review_routes(studio, project):
    first, second = scene_ids(studio, project)
    for scene in (1, 2):
        render_and_approve_frames(studio, project, scene)
    at = open_page(project, STAGE11, first)
    assert not at.error, texts(at.error)
    assert [m.label for m in at.metric] == ["GPU-seconds", "Peak VRAM", "Wall time", "Money"]
    assert "AIUTEUR_PRICE_PER_GPU_HOUR" in texts(at.caption)
    shots = studio.shot_list(project, first).shots
    table = at.dataframe[0].value
    assert list(table["shot"]) == [s.id for s in shots]
    assert table["start"].str.startswith("data:image/png;base64,").all()
    assert table["frame_prompt"].str.len().min() > 0 and table["video_prompt"].str.len().min() > 0
    assert not studio.render_jobs(project, first) or all(
        j.kind == "frame" for j in studio.render_jobs(project, first)
    )  # nothing rendered before "Confirm & render"

    at.selectbox(key=f"confirm_backend_{first}").set_value("comfyui").run()
    assert_ok(at)
    assert at.button(key=f"confirm_render_{first}").disabled  # no GPU here: it does not fit
    assert "does not fit" in texts(at.warning)
    assert "No GPU seen" in texts(at.info)
    at.selectbox(key=f"confirm_backend_{first}").set_value("animatic").run()
    confirm = at.button(key=f"confirm_render_{first}")
    assert not confirm.disabled
    confirm.click().run()
    assert_ok(at)
    clips = [j for j in studio.render_jobs(project, first) if j.kind == "clip"]
    assert len(clips) == len(shots)
    assert "Next: Stage 12 — Video & review" in [link.label for link in at.page_link]
    assert at.button(key=f"confirm_render_{first}").disabled
    studio.confirm_render(project, second)
    render_clips(studio, project)

    at.switch_page(STAGE12).run()
    assert_ok(at)
    assert not at.error, texts(at.error)
    assert len(at.get("video")) >= 1 + len(shots)  # the scene cut and every shot's clip
    marker = at.button(key=f"marker_{first}_{shots[-1].id}")
    marker.click().run()
    assert at.session_state[f"player_start_{first}"] == pytest.approx(sum(s.duration_s for s in shots[:-1]))
    assert "0 queued · 0 running" in texts(at.sidebar.caption)

    at.text_area(key=f"review_note_{first}").input("The colour of the kettle flickers")
    at.button(key=f"review_suggest_btn_{first}").click().run()
    assert "Suggested: **Visual issue**" in texts(at.info)
    at.button(key=f"review_visual_{first}").click().run()
    assert_ok(at)
    assert texts(at.title) == "Stage 10 — Anchor frames"
    assert not studio.gates(project, first)[Stage.FRAMES].locked
    assert studio.scene(project, first).work.review[-1].routed_to == 10

    at = open_page(project, STAGE12, second)
    at.button(key=f"review_success_{second}").click().run()
    assert_ok(at)
    assert texts(at.title) == "Stage 6 — Script hub"
    assert "Scene 2: success" in texts(at.success)
    assert studio.gates(project, second)[Stage.VIDEO].locked


def test_narrative_issue_goes_back_to_the_shot_list(studio, project):
    sid = scene_ids(studio, project)[0]
    render_and_approve_frames(studio, project, 1)
    studio.confirm_render(project, 1)
    at = open_page(project, STAGE12, sid)
    assert at.button(key=f"review_success_{sid}").disabled  # not cut together yet
    assert "cut together once every shot has its clip" in texts(at.info)
    active = [j for j in studio.render_jobs(project, sid) if j.status in ACTIVE]
    at.button(key=f"cancel_{active[0].id}").click().run()
    assert_ok(at)
    assert next(j for j in studio.render_jobs(project, sid) if j.id == active[0].id).status == "cancelled"
    at.button(key=f"review_narrative_{sid}").click().run()
    assert_ok(at)
    assert texts(at.title) == "Stage 7 — Shot list"
    assert not studio.gates(project, sid)[Stage.SHOTS].locked


def test_the_film_is_assembled_once_every_scene_is_done(studio, project):
    for scene in (1, 2):
        render_and_approve_frames(studio, project, scene)
        studio.confirm_render(project, scene)
    render_clips(studio, project)
    sid = scene_ids(studio, project)[1]
    studio.review_scene(project, 1, "success")
    at = open_page(project, STAGE12, sid)
    assert at.button(key="assemble_film").disabled
    studio.review_scene(project, 2, "success")
    at.run()
    at.button(key="assemble_film").click().run()
    assert_ok(at)
    assert [j.status for j in studio.render_jobs(project, "film")] == ["queued"]
    studio.drain_queue()
    at.run()
    assert_ok(at)
    assert not at.error, texts(at.error)
    assert at.download_button(key="download_film").proto.label == "Download the film"
    assert len(at.get("video")) >= 2  # the scene cut and the film
    assert "0 queued · 0 running" in texts(at.sidebar.caption)


# ----------------------------------------------------------------------------- cost before compute


def _spec(studio, job_id):
    from render.worker import open_queue

    queue = open_queue(studio.settings)
    try:
        return queue.record(job_id).render_spec()
    finally:
        queue.close()


def test_quick_mode_shows_the_bulk_estimate_before_rendering(studio, project):
    sid = scene_ids(studio, project)[0]
    studio.set_frame_mode(project, sid, "quick")
    at = open_page(project, STAGE10, sid)
    estimate = studio.frames_estimate(project, sid)
    captions = [str(c.value) for c in at.caption]
    assert any("Before you render:" in c and f"{estimate.count} anchor frames on animatic" in c
               and "CPU only" in c for c in captions), (estimate, captions)
    assert at.button(key=f"fr_render_{sid}").label == f"Render frames ({estimate.count} to make)"
    assert studio.render_jobs(project, sid) == []


def test_stage11_post_processing_choice_reaches_the_clip_jobs(studio, project):
    first = scene_ids(studio, project)[0]
    render_and_approve_frames(studio, project, 1)
    at = open_page(project, STAGE11, first)
    interp = at.checkbox(key=f"confirm_interp_{first}_fast")
    upscale = at.checkbox(key=f"confirm_upscale_{first}_fast")
    assert interp.label == "Interpolate to 48 fps" and not interp.value and not upscale.value  # opt-in
    interp.check().run()
    assert_ok(at)
    assert "After each clip: interpolate to 48 fps" in texts(at.caption)
    at.button(key=f"confirm_render_{first}").click().run()
    assert_ok(at)
    clips = [j for j in studio.render_jobs(project, first) if j.kind == "clip"]
    assert clips and all(_spec(studio, j.id).post.interpolate_fps == 48 for j in clips)
    assert all(_spec(studio, j.id).post.upscale is None for j in clips)
