"""Stages 10-12 through the Studio facade with the real render queue and the CPU animatic,
rendered in-process (``drain_queue``): frames, approvals, confirm & render, assembly, review."""

from __future__ import annotations

import json

import pytest
from flows import SHORT, lock_phase_a, lock_through_prompts, render_and_approve_frames

from studio.config import Settings
from studio.errors import BadInput, GateClosed, NotFound
from studio.model import Stage
from studio.wiring import build_studio


@pytest.fixture
def studio(tmp_path):
    return build_studio(Settings(home=tmp_path / "home"))


@pytest.fixture
def project(studio):
    project, _ = studio.new_project("Two Rooms", ("two.fountain", SHORT))
    pid = project.id
    lock_phase_a(studio, pid)
    lock_through_prompts(studio, pid, (1, 2))
    return pid


def test_image_keys_are_animatic_cards(studio, project):
    asset = studio.state(project).assets.assets[0]
    assert studio.media_bytes(asset.image_key).startswith(b"\x89PNG")


def test_frames_need_a_mode_and_the_prompt_lock(studio, project):
    with pytest.raises(GateClosed, match="frame mode"):
        studio.render_frames(project, 1)
    fresh, _ = studio.new_project("Unlocked", ("two.fountain", SHORT))
    with pytest.raises(GateClosed, match="stage 10"):
        studio.set_frame_mode(fresh.id, 1, "quick")
    with pytest.raises(BadInput):
        studio.set_frame_mode(project, 1, "bulk")


def test_quick_mode_renders_every_anchor_frame(studio, project):
    studio.set_frame_mode(project, 1, "quick")
    jobs = studio.render_frames(project, 1)
    shots = studio.shot_list(project, 1).shots
    expected = sum(1 if s.start_frame_only else 2 for s in shots)
    assert len(jobs) == expected
    # The same request again (a second browser tab) makes no new jobs.
    assert {j.id for j in studio.render_frames(project, 1)} == {j.id for j in jobs}
    studio.drain_queue()
    assert studio.sync_renders(project) == expected
    assert studio.sync_renders(project) == 0  # nothing is brought in twice
    view = studio.frames_view(project, 1)
    assert all(row.start is not None for row in view.rows)
    first = view.rows[0].start
    assert studio.media_bytes(first.media).startswith(b"\x89PNG")
    assert first.job_id and first.manifest
    manifest = json.loads(open(first.manifest).read())
    assert manifest["seed"] == first.seed
    with pytest.raises(GateClosed, match="approve every anchor frame"):
        studio.lock_frames(project, 1)


def test_control_mode_is_sequential(studio, project):
    studio.set_frame_mode(project, 1, "control")
    jobs = studio.render_frames(project, 1)
    first_shot = studio.shot_list(project, 1).shots[0]
    assert [(j.shot_id) for j in jobs] == [first_shot.id]
    studio.drain_queue()
    studio.sync_renders(project)
    if not first_shot.start_frame_only:
        with pytest.raises(GateClosed, match="start frame"):
            studio.render_frames(project, 1, shot_id=first_shot.id, which="end")
    studio.approve_frame(project, 1, first_shot.id, "start")
    view = studio.frames_view(project, 1)
    assert view.next_control is not None and view.next_control != (first_shot.id, "start")
    with pytest.raises(NotFound):
        studio.approve_frame(project, 1, "1Z", "start")


def test_confirm_render_review_and_film(studio, project):
    for scene in (1, 2):
        render_and_approve_frames(studio, project, scene)
    estimate = studio.render_estimate(project, 1)
    assert estimate.backend == "animatic" and estimate.fits and estimate.peak_vram_mb == 0
    assert estimate.shots == len(studio.shot_list(project, 1).shots)
    assert len(estimate.prompts) == estimate.shots
    comfy = studio.render_estimate(project, 1, backend="comfyui", preset="production-stable")
    assert comfy.gpu_seconds["comfyui"] > 0 and comfy.peak_vram_mb > 0 and not comfy.fits  # no GPU here
    with pytest.raises(GateClosed):
        studio.review_scene(project, 1, "success")
    for scene in (1, 2):
        clip_jobs = studio.confirm_render(project, scene)
        assert len(clip_jobs) == len(studio.shot_list(project, scene).shots)
    studio.drain_queue()
    studio.sync_renders(project)  # clips in, assembly queued
    studio.drain_queue()
    studio.sync_renders(project)
    state = studio.state(project)
    for doc in state.ordered_scenes():
        assert doc.work.assembled, "each scene is cut together from its clips"
    studio.review_scene(project, 1, "success", "Looks right")
    assert studio.hub(project)[0].status == "Video complete"
    route = studio.review_scene(project, 2, "visual", "Theo's coat flickers between shots")
    assert route.routed_to == 10
    assert studio.gates(project, "sc-2")[Stage.FRAMES].open
    assert not studio.gates(project, "sc-2")[Stage.FRAMES].locked
    with pytest.raises(GateClosed, match="assembled"):
        studio.assemble_film(project)
    render_and_approve_frames(studio, project, 2)
    studio.confirm_render(project, 2)
    studio.drain_queue()
    studio.sync_renders(project)
    studio.drain_queue()
    studio.sync_renders(project)
    studio.review_scene(project, 2, "success")
    job = studio.assemble_film(project)
    studio.drain_queue()
    film = studio.film_output(project, job.id)
    assert film.stat().st_size > 0
    assert [r.status for r in studio.hub(project)] == ["Video complete", "Video complete"]


def test_narrative_review_routes_to_the_shot_list(studio, project):
    render_and_approve_frames(studio, project, 1)
    studio.confirm_render(project, 1)
    route = studio.review_scene(project, 1, "narrative", "The line lands too early")
    assert route.routed_to == 7
    gates = studio.gates(project, "sc-1")
    assert gates[Stage.SHOTS].open and not gates[Stage.SHOTS].locked
    with pytest.raises(BadInput):
        studio.review_scene(project, 1, "great")


@pytest.mark.parametrize(
    "note,route",
    [
        ("Mia's face drifts and the colour flickers", "visual"),
        ("The dialogue beat is out of order", "narrative"),
        ("Lip sync and the rain sound are off", "audio"),
        ("Lovely", "success"),
        ("Great, no notes.", "success"),
        ("Approved, ship it", "success"),
        # a clearly negative note is never an approval: the picture is wrong, so visual
        ("looks like a park, no water", "visual"),
        ("It should be a jetty on a grey sea, not a lawn with trees", "visual"),
        ("Good, but Theo's coat changes colour between 2B and 2C", "visual"),
        ("The ending is too long", "narrative"),
        ("Nice, but the music drowns the voices", "audio"),
        # no signal: nothing proposed
        ("hmm", None),
        ("?", None),
        ("not good", None),
        ("I don't know", None),
        ("Clip 3", None),  # "clip" is not "lip"
    ],
)
def test_failure_attribution_helper(studio, note, route):
    assert studio.suggest_route(note) == route


def test_region_edit_validates_its_inputs(studio, project):
    studio.set_frame_mode(project, 1, "quick")
    shot = studio.shot_list(project, 1).shots[0].id
    with pytest.raises(BadInput, match="PNG"):
        studio.region_edit(project, 1, shot, "start", b"not a png", "a red umbrella")
    with pytest.raises(NotFound, match="no start frame"):
        studio.region_edit(project, 1, shot, "start", b"\x89PNG\r\n\x1a\n", "a red umbrella")


def test_cancel_a_queued_job(studio, project):
    studio.set_frame_mode(project, 1, "quick")
    job = studio.render_frames(project, 1)[0]
    cancelled = studio.cancel_job(job.id)
    assert cancelled.status == "cancelled"
    assert next(j for j in studio.render_jobs(project) if j.id == job.id).status == "cancelled"
    studio.drain_queue()
    studio.sync_renders(project)
    frames = studio.frames_view(project, 1).rows
    assert sum(r.start is None for r in frames) + sum(r.needs_end and r.end is None for r in frames) == 1


@pytest.mark.slow
def test_demo_end_to_end(tmp_path, capsys):
    from studio.cli import main

    home = tmp_path / "demo-home"
    out = tmp_path / "out"
    assert main(["demo", "--home", str(home), "--out", str(out), "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["ok"] and result["scenes"] == 4 and result["shots"] > 20
    film = out / next(p.name for p in out.iterdir() if p.name.endswith("_film.mp4"))
    assert film.stat().st_size > 100_000
    assert len([p for p in out.iterdir() if "_Sc0" in p.name]) == 4


def test_scene_seed_with_per_shot_override(studio, project):
    doc = studio.scene(project, 1)
    derived = studio.scene_seed(project, doc)
    shots = studio.shot_list(project, 1).shots
    assert {studio.shot_seed(project, doc, s.id) for s in shots} == {derived}
    studio.set_seed(project, 1, 1234)
    studio.set_seed(project, 1, 99, shot_id=shots[0].id)
    doc = studio.scene(project, 1)
    assert studio.shot_seed(project, doc, shots[0].id) == 99
    studio.set_seed(project, 1, None, shot_id=shots[0].id)
    assert studio.shot_seed(project, studio.scene(project, 1), shots[0].id) == 1234
    studio.set_seed(project, 1, 99, shot_id=shots[0].id)
    studio.set_frame_mode(project, 1, "quick")
    jobs = studio.render_frames(project, 1)
    studio.drain_queue()
    studio.sync_renders(project)
    first = studio.frames_view(project, 1).rows[0].start
    assert first.seed == 99
    with pytest.raises(BadInput):
        studio.set_seed(project, 1, -1)
    with pytest.raises(NotFound):
        studio.set_seed(project, 1, 5, shot_id="9Z")
    assert jobs


def test_region_edit_renders_and_keeps_its_prompt(studio, project):
    from studio.cards import encode_png

    studio.set_frame_mode(project, 1, "quick")
    studio.render_frames(project, 1)
    studio.drain_queue()
    studio.sync_renders(project)
    shot = studio.frames_view(project, 1).rows[0]
    mask = encode_png(8, 8, [[(255, 255, 255) if 2 <= x < 6 else (0, 0, 0) for x in range(8)] for _ in range(8)])
    job = studio.region_edit(project, 1, shot.shot.id, "start", mask, "a red umbrella on the table")
    assert job.which == "start" and job.region_prompt == "a red umbrella on the table"
    studio.drain_queue()
    assert studio.sync_renders(project) == 1
    edited = studio.frames_view(project, 1).rows[0].start
    assert edited.region_prompt == "a red umbrella on the table"
    assert edited.media != shot.start.media and not edited.approved


def test_continuity_drift_through_the_port(studio, project):
    from fakes import FakeDriftCheck

    studio.set_frame_mode(project, 2, "quick")
    assert set(studio.frame_drift(project, 2).values()) == {None}  # no frames yet
    render_and_approve_frames(studio, project, 1)
    studio.render_frames(project, 2)
    studio.drain_queue()
    studio.sync_renders(project)
    measured = studio.frame_drift(project, 2)  # the QA package's FrameDriftCheck
    assert all(v is not None and 0.0 <= v <= 1.0 for v in measured.values())
    studio.production.drift_check = None
    assert set(studio.frame_drift(project, 2).values()) == {None}  # none configured
    studio.production.drift_check = FakeDriftCheck()
    drift = studio.frame_drift(project, 2)
    first = studio.shot_list(project, 2).shots[0].id
    assert drift[first] is not None and 0.0 <= drift[first] <= 1.0
    assert studio.production.drift_check.calls >= 1


def test_a_new_take_uses_a_new_recorded_seed(studio, project):
    studio.set_frame_mode(project, 1, "quick")
    studio.render_frames(project, 1)
    studio.drain_queue()
    studio.sync_renders(project)
    first = studio.frames_view(project, 1).rows[0]
    again = studio.render_frames(project, 1, shot_id=first.shot.id, which="start")
    assert again and again[0].status == "done"  # same inputs, same seed: the same job
    take = studio.render_frames(project, 1, shot_id=first.shot.id, which="start", variation=True)
    studio.drain_queue()
    assert studio.sync_renders(project) == 1
    assert studio.log(project, limit=1)[0].message == "Bring in 1 finished render(s)"  # the new one only
    latest = studio.frames_view(project, 1).rows[0].start
    assert latest.seed != first.start.seed and latest.media != first.start.media
    assert studio.scene(project, 1).work.seed_overrides[first.shot.id] == latest.seed
    assert take[0].id != again[0].id
    with pytest.raises(BadInput):
        studio.render_frames(project, 1, variation=True)


# --------------------------------------------------------------------------- cost, post, cuts


def _spec_of(studio, job_id):
    from render.worker import open_queue

    queue = open_queue(studio.settings)
    try:
        return queue.record(job_id).render_spec()
    finally:
        queue.close()


@pytest.fixture
def mixed_project(studio):
    """Scene 1 with its first shot start-frame-only, the rest start + end; frames locked."""
    project, _ = studio.new_project("Two Rooms", ("two.fountain", SHORT))
    pid = project.id
    lock_phase_a(studio, pid)
    studio.split_shot(pid, 1, studio.shot_list(pid, 1).shots[0].id)
    studio.lock_shots(pid, 1)
    for asset_id, tag in studio.hub(pid)[0].pending_carry:
        studio.decide_carry(pid, 1, asset_id, tag, True)
    studio.lock_visual_state(pid, 1)
    first = studio.shot_list(pid, 1).shots[0].id
    studio.set_start_frame_only(pid, 1, first, True)
    studio.lock_prompts(pid, 1)
    return pid


def test_the_estimate_follows_each_shots_frame_mode(studio, mixed_project):
    pid = mixed_project
    shots = studio.shot_list(pid, 1).shots
    assert shots[0].start_frame_only and len(shots) > 1 and not any(s.start_frame_only for s in shots[1:])
    estimate = studio.render_estimate(pid, 1, backend="comfyui", preset="fast")
    table = studio.presets["fast"]
    by_shot = {c.shot_id: c for c in estimate.per_shot}
    assert [c.shot_id for c in estimate.per_shot] == [s.id for s in shots]
    # Start only: the preset's 5B image-to-video; start + end: the 14B first-last-frame model,
    # which is what render/comfy.py runs for such a clip whatever the preset.
    assert by_shot[shots[0].id].frames == "start only" and "5b" in by_shot[shots[0].id].model
    assert by_shot[shots[0].id].gpu_seconds == pytest.approx(shots[0].duration_s * table["clip_gpu_s_per_s"], abs=0.1)
    for shot in shots[1:]:
        cost = by_shot[shot.id]
        assert cost.frames == "start + end" and "flf2v" in cost.model
        assert cost.gpu_seconds == pytest.approx(shot.duration_s * table["clip_end_frame_gpu_s_per_s"], abs=0.1)
        assert cost.vram_mb == table["clip_end_frame_vram_mb"] > table["clip_vram_mb"]
    assert estimate.gpu_seconds["comfyui"] == pytest.approx(sum(c.gpu_seconds for c in estimate.per_shot), abs=0.2)
    assert estimate.peak_vram_mb == table["clip_end_frame_vram_mb"]
    assert estimate.frame_pairs == len(shots) - 1
    # ... and the worker's VRAM gate asks for the same as the estimate.
    from render.presets import get_preset, gpu_need

    assert gpu_need(get_preset("fast"), "clip", end_frame=True) == estimate.peak_vram_mb
    assert gpu_need(get_preset("fast"), "clip") == by_shot[shots[0].id].vram_mb


def test_quick_mode_bulk_frames_show_their_estimate_first(studio, mixed_project):
    pid = mixed_project
    studio.set_frame_mode(pid, 1, "quick")
    estimate = studio.frames_estimate(pid, 1, backend="comfyui", preset="fast")
    shots = studio.shot_list(pid, 1).shots
    assert estimate.count == 2 * len(shots) - 1  # the start-frame-only shot has no end frame
    assert estimate.gpu_seconds == pytest.approx(estimate.count * studio.presets["fast"]["frame_gpu_s"])
    assert "anchor frames on comfyui (fast)" in estimate.describe()
    assert studio.render_jobs(pid) == [], "estimating queues nothing"
    jobs = studio.render_frames(pid, 1, backend="comfyui", preset="fast")
    assert len(jobs) == estimate.count, "the estimate counts what the bulk render queues"
    animatic = studio.frames_estimate(pid, 1)
    assert animatic.backend == "animatic" and animatic.gpu_seconds == 0 and animatic.money is None
    keys = studio.image_keys_estimate(pid)
    assert keys.count == 0 and keys.describe() == "no image keys to make"  # every key made in phase A


def test_post_processing_is_an_opt_in_choice_that_reaches_the_jobs(studio, project):
    render_and_approve_frames(studio, project, 1)
    estimate = studio.render_estimate(project, 1, interpolate=True, upscale=True)
    assert estimate.post == ("interpolate to 48 fps", "upscale 2x")
    jobs = studio.confirm_render(project, 1, interpolate=True, upscale=True)
    specs = [_spec_of(studio, j.id) for j in jobs]
    assert {(s.post.interpolate_fps, s.post.upscale) for s in specs} == {(48, 2.0)}
    assert "interpolate to 48 fps, upscale 2x" in studio.log(project)[0].message
    render_and_approve_frames(studio, project, 2)
    plain = studio.confirm_render(project, 2)
    assert all(_spec_of(studio, j.id).post is None for j in plain), "off unless chosen"


@pytest.mark.slow
def test_a_scene_cut_opens_on_its_own_first_shot_not_the_previous_scene(studio, project):
    """Decode the first frames of a real assembled cut: scene 2 must not open on scene 1."""
    import imageio_ffmpeg
    import numpy as np

    for scene in (1, 2):
        render_and_approve_frames(studio, project, scene)
        studio.confirm_render(project, scene)
    for _ in range(2):
        studio.drain_queue()
        studio.sync_renders(project)
    docs = studio.state(project).ordered_scenes()
    assert all(d.work.assembled for d in docs)

    def frames(media_id: str) -> list[np.ndarray]:
        path = studio.store.media_path(media_id)
        gen = imageio_ffmpeg.read_frames(str(path), pix_fmt="rgb24")
        meta = next(gen)
        w, h = meta["size"]
        return [np.frombuffer(f, np.uint8).reshape(h, w, 3).astype(np.int16) for f in gen]

    first_cut, second_cut = frames(docs[0].work.assembled), frames(docs[1].work.assembled)
    picture = slice(0, int(second_cut[0].shape[0] * 0.8))  # above the burnt-in caption band

    def diff(a, b) -> float:
        return float(np.abs(a[picture] - b[picture]).mean())

    opening = second_cut[0]
    settled = second_cut[min(13, len(second_cut) - 1)]  # past any dissolve from a reference
    own, previous = diff(opening, settled), diff(opening, first_cut[-1])
    assert own < previous, f"scene 2 opens on scene 1's last frame ({own:.1f} vs {previous:.1f})"
    # Assembly was told what each clip should last (the truncation check).
    cut_jobs = [j for j in studio.render_jobs(project, docs[1].scene.id) if j.kind == "assemble"]
    spec = _spec_of(studio, cut_jobs[-1].id)
    shots = studio.shot_list(project, 2).shots
    assert spec.expected_s == {f"clip_{i}": s.duration_s for i, s in enumerate(shots)}


def test_a_render_spec_carries_the_scenes_action_lines(studio, project):
    """The animatic reads the setting and weather from the scene, not only the shot."""
    studio.set_frame_mode(project, 1, "quick")
    job = studio.render_frames(project, 1)[0]
    spec = _spec_of(studio, job.id)
    assert spec.scene_action == "Mara fills a kettle. Rain taps the window."
