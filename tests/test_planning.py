"""Stages 5-9 through the Studio facade, on a real store: gates, locks, inheritance,
invalidation after edits, deterministic drafts."""

from __future__ import annotations

from pathlib import Path

import pytest
from flows import lock_phase_a

from studio.config import Settings
from studio.errors import BadInput, Conflict, GateClosed, NotFound
from studio.model import AssetKind, Stage
from studio.wiring import build_studio

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"
SAMPLE = SAMPLES / "the_long_rain.fountain"
SHEET = SAMPLES / "the_long_rain.assets.json"


@pytest.fixture
def studio(tmp_path):
    return build_studio(Settings(home=tmp_path / "home"))


@pytest.fixture
def project(studio):
    project, _ = studio.new_project(
        "Long Rain", (SAMPLE.name, SAMPLE.read_bytes()), asset_sheet=(SHEET.name, SHEET.read_bytes())
    )
    return project.id


def lock_scene(studio, pid: str, scene: int, until: str = "prompts") -> None:
    studio.lock_shots(pid, scene)
    if until == "shots":
        return
    for asset_id, tag in studio.hub(pid)[scene - 1].pending_carry:
        studio.decide_carry(pid, scene, asset_id, tag, True)
    studio.lock_visual_state(pid, scene)
    if until == "visual":
        return
    studio.lock_prompts(pid, scene)


# --------------------------------------------------------------------------- stage 5


def test_import_extracts_props_with_descriptions(studio, project):
    assets = studio.state(project).assets.assets
    kinds = {a.kind for a in assets}
    assert kinds == {AssetKind.CHARACTER, AssetKind.LOCATION, AssetKind.PROP}
    props = {a.name.upper() for a in assets if a.kind is AssetKind.PROP}
    assert {"RED UMBRELLA", "CLAIM TICKET", "ENVELOPE"} <= props
    assert all(a.description for a in assets), "every asset is pre-filled from its mentions"


def test_stage5_gate_and_locks(studio, project):
    with pytest.raises(GateClosed, match="stage 5"):
        studio.choose_style(project, "neo-noir")  # script not approved yet
    studio.approve_script(project)
    asset = studio.state(project).assets.assets[0]
    with pytest.raises(GateClosed, match="style"):
        studio.generate_image_key(project, asset.id)
    with pytest.raises(NotFound):
        studio.choose_style(project, "no-such-style")
    studio.choose_style(project, "neo-noir")
    with pytest.raises(GateClosed, match="image key"):
        studio.lock_asset(project, asset.id)
    studio.generate_image_key(project, asset.id)
    image = studio.media_bytes(studio.state(project).assets.get(asset.id).image_key)
    assert image.startswith(b"\x89PNG")
    studio.lock_asset(project, asset.id)
    with pytest.raises(GateClosed, match="locked"):
        studio.edit_asset(project, asset.id, {"description": "changed"})
    with pytest.raises(Conflict):
        studio.lock_asset(project, asset.id)
    assert not studio.gates(project)[Stage.HUB].open
    lock_phase_a_rest(studio, project)
    assert studio.gates(project)[Stage.ASSETS].locked
    assert studio.gates(project)[Stage.HUB].open


def lock_phase_a_rest(studio, pid):
    for asset in studio.state(pid).assets.assets:
        if not asset.locked:
            studio.generate_image_key(pid, asset.id)
            studio.lock_asset(pid, asset.id)
    studio.lock_style(pid)


def test_asset_edits_and_additions(studio, project):
    studio.approve_script(project)
    mia = next(a for a in studio.state(project).assets.assets if a.name == "MIA")
    studio.edit_asset(project, mia.id, {"description": "Mia, 28, grey wool coat."})
    assert studio.state(project).assets.get(mia.id).description == "Mia, 28, grey wool coat."
    with pytest.raises(BadInput):
        studio.edit_asset(project, mia.id, {"colour": "red"})
    studio.add_asset(project, "prop", "Brass Loupe", "Jeweller's loupe")
    with pytest.raises(Conflict):
        studio.add_asset(project, "prop", "brass loupe")
    with pytest.raises(Conflict, match="up to date"):
        studio.refresh_assets(project)
    assert studio.state(project).assets.get("prop-brass-loupe").source == "manual"


def test_style_packs_are_bundled(studio):
    packs = studio.style_packs()
    assert len(packs) >= 5
    assert all(p.palette and p.tags for p in packs)


# --------------------------------------------------------------------------- stage 7


def test_shot_list_draft_before_any_lock(studio, project):
    view = studio.shot_list(project, 1)
    assert not view.saved and not view.locked and view.problems == ()
    assert [s.id for s in view.shots][:3] == ["1A", "1B", "1C"]
    assert all(s.duration_s <= 8 for s in view.shots)
    assert view.shots[0].camera.startswith(("WS", "EWS"))
    # Drafts are read-only: saving needs the gate.
    with pytest.raises(GateClosed):
        studio.lock_shots(project, 1)


def test_a_heading_only_scene_locks_its_drafted_establishing_shot(studio):
    script = b"""EXT. HARBOUR - NIGHT

Rain on the quay. MIA waits.

EXT. LIGHTHOUSE - DAWN

INT. KITCHEN - DAY

MIA
Tea?
"""
    project, _ = studio.new_project("Bare heading", ("bare.fountain", script))
    pid = project.id
    lock_phase_a(studio, pid)
    view = studio.shot_list(pid, 2)
    assert [(s.camera.split()[0], s.action, s.dialogue) for s in view.shots] == [("EWS", "", "")]
    assert view.problems == ()
    studio.lock_shots(pid, 2)
    assert studio.gates(pid, studio.shot_list(pid, 2).scene_id)[Stage.SHOTS].locked
    # A blank shot added to a scene with text is still refused.
    shots = [s.model_dump() for s in studio.shot_list(pid, 3).shots]
    shots.append({**shots[-1], "id": "3Z", "action": "", "dialogue": ""})
    with pytest.raises(BadInput, match="neither action nor dialogue"):
        studio.save_shots(pid, 3, shots)


def test_shot_edits_split_merge_and_lock(studio, project):
    lock_phase_a(studio, project)
    view = studio.shot_list(project, 2)
    count = len(view.shots)
    studio.split_shot(project, 2, view.shots[0].id)
    after = studio.shot_list(project, 2)
    assert after.saved and len(after.shots) == count + 1
    assert [s.id for s in after.shots] == [f"2{chr(65 + i)}" for i in range(count + 1)]
    assert round(after.shots[0].duration_s + after.shots[1].duration_s, 1) == pytest.approx(
        view.shots[0].duration_s, abs=0.11
    )
    studio.merge_shots(project, 2, "2A")
    assert len(studio.shot_list(project, 2).shots) == count
    rows = [s.model_dump() for s in studio.shot_list(project, 2).shots]
    rows[0]["duration_s"] = 9
    with pytest.raises(BadInput, match="8"):
        studio.save_shots(project, 2, rows)
    rows[0]["duration_s"] = 4
    rows[0]["characters"] = "MIA (primary), BUS DRIVER (background)"
    studio.save_shots(project, 2, rows, "Tighten the opening shot")
    saved = studio.shot_list(project, 2).shots[0]
    assert saved.duration_s == 4 and [c.prominence for c in saved.characters] == ["primary", "background"]
    studio.lock_shots(project, 2)
    assert studio.gates(project, "sc-2")[Stage.SHOTS].locked
    assert studio.gates(project, "sc-2")[Stage.VISUAL_STATE].open
    with pytest.raises(Conflict):
        studio.lock_shots(project, 2)


def test_edit_after_locking_invalidates(studio, project):
    lock_phase_a(studio, project)
    for scene in (1, 2, 3):
        lock_scene(studio, project, scene, "shots")
    rows = [s.model_dump() for s in studio.shot_list(project, 2).shots]
    rows[0]["camera"] = "CU"
    studio.save_shots(project, 2, rows, "Open on a close-up of Mia")
    hub = {row.number: row for row in studio.hub(project)}
    assert hub[1].status == "Shot list locked"
    assert hub[2].status == "Outdated"
    assert hub[3].continuity_broken and hub[3].verdict == "Broken"
    assert not studio.gates(project, "sc-2")[Stage.VISUAL_STATE].open
    studio.lock_shots(project, 2)
    assert studio.hub(project)[1].status == "Shot list locked"


def test_rearview_shows_the_previous_scene(studio, project):
    first = studio.rearview(project, 1)
    assert first.previous_heading is None
    second = studio.rearview(project, 2)
    scene_one = studio.state(project).ordered_scenes()[0].scene
    assert second.previous_heading == scene_one.heading
    assert second.last_action and second.last_dialogue and ":" in second.last_dialogue


# --------------------------------------------------------------------------- stage 6 + 8


def test_wet_carries_forward_across_scenes(studio, project):
    lock_phase_a(studio, project)
    hub = studio.hub(project)
    assert hub[2].verdict == "Risky" and ("character-mia", "wet") in hub[2].pending_carry
    for scene in (1, 2):
        lock_scene(studio, project, scene, "visual")
    lock_scene(studio, project, 3, "shots")
    with pytest.raises(GateClosed, match="carry"):
        studio.lock_visual_state(project, 3)
    studio.decide_carry(project, 3, "character-mia", "wet", True)
    mia3 = next(r for r in studio.visual_state(project, 3) if r.asset.id == "character-mia")
    assert "wet" in mia3.state.condition_tags
    studio.lock_visual_state(project, 3)
    lock_scene(studio, project, 4, "shots")
    mia4 = next(r for r in studio.visual_state(project, 4) if r.asset.id == "character-mia")
    assert "wet" in mia4.state.condition_tags + mia4.pending_tags
    with pytest.raises(NotFound):
        studio.decide_carry(project, 3, "character-oskar", "bloody", True)


def test_scene_instance_edit(studio, project):
    lock_phase_a(studio, project)
    lock_scene(studio, project, 1, "shots")
    studio.edit_asset_state(project, 1, "character-mia", {"condition_tags": ["Muddy", " "], "description": "Mia, mud on her boots"})
    mia = next(r for r in studio.visual_state(project, 1) if r.asset.id == "character-mia")
    assert mia.state.source == "new" and mia.state.condition_tags == ("muddy",)
    master = studio.state(project).assets.get("character-mia")
    assert "mud" not in master.description  # the master asset is untouched
    studio.bulk_image_keys(project, 1, ["character-mia"])
    mia = next(r for r in studio.visual_state(project, 1) if r.asset.id == "character-mia")
    assert mia.state.image_key and mia.state.image_key != master.image_key
    with pytest.raises(BadInput):
        studio.bulk_image_keys(project, 1, ["character-nobody"])
    with pytest.raises(NotFound):
        studio.edit_asset_state(project, 1, "character-bus-driver", {"description": "x"})


# --------------------------------------------------------------------------- stage 9


def test_prompt_drafts_are_deterministic_and_complete(studio, project):
    first = studio.prompt_sets(project, 1)
    second = studio.prompt_sets(project, 1)
    assert first == second
    shots = studio.shot_list(project, 1).shots
    assert [p.shot_id for p in first.prompt_sets] == [s.id for s in shots]
    assert all(p.frame_prompt and p.video_prompt and p.system_prompt for p in first.prompt_sets)
    assert any(w.code == "missing_style" for w in first.warnings)  # no style chosen yet
    with pytest.raises(BadInput):
        studio.prompt_sets(project, 1, frame_model="dall-e")
    with pytest.raises(BadInput):
        studio.prompt_sets(project, 1, frame_model="wan2.2-i2v")  # a video model


def test_target_models_and_resolving_kept_edits(studio, project):
    lock_phase_a(studio, project)
    lock_scene(studio, project, 1, "visual")
    studio.edit_prompt(project, 1, "1A", video_prompt="Rain. Nothing but rain, for eight seconds.")
    # Switching the scene to SDXL re-assembles every prompt; the edit is kept beside it.
    studio.set_target_models(project, 1, "sdxl", "auto")
    view = studio.prompt_sets(project, 1)
    assert view.frame_model == "sdxl" and view.video_model is None
    first = view.prompt_sets[0]
    assert first.previous_video_edit == "Rain. Nothing but rain, for eight seconds."
    with pytest.raises(Conflict):
        studio.set_target_models(project, 1, "sdxl", None)
    with pytest.raises(BadInput):
        studio.set_target_models(project, 1, "sdxl", "dall-e")
    with pytest.raises(BadInput):
        studio.resolve_prompt_edit(project, 1, "1A", "system", keep=True)
    studio.resolve_prompt_edit(project, 1, "1A", "video", keep=False)
    first = studio.prompt_sets(project, 1).prompt_sets[0]
    assert first.previous_video_edit is None and not first.video_edited
    with pytest.raises(Conflict):
        studio.resolve_prompt_edit(project, 1, "1A", "video", keep=True)
    studio.lock_prompts(project, 1)
    # An edit after the lock stales it.
    studio.edit_prompt(project, 1, "1B", frame_prompt="Oskar under the green lamp.")
    assert not studio.gates(project, "sc-1")[Stage.PROMPTS].locked
    assert studio.hub(project)[0].status == "Outdated"


def test_prompt_edits_survive_until_upstream_changes(studio, project):
    lock_phase_a(studio, project)
    lock_scene(studio, project, 1, "visual")
    shot_id = studio.prompt_sets(project, 1).prompt_sets[1].shot_id
    studio.edit_prompt(project, 1, shot_id, frame_prompt="Harsh fluorescent light on Oskar's bench.")
    edited = next(p for p in studio.prompt_sets(project, 1).prompt_sets if p.shot_id == shot_id)
    assert edited.frame_edited and edited.frame_prompt == "Harsh fluorescent light on Oskar's bench."
    # An upstream change (a scene-instance edit of a character in the shot) re-assembles it.
    studio.edit_asset_state(project, 1, "character-oskar", {"description": "Oskar, 74, ink on his fingers"})
    # That edit stales the visual state lock: stage 9 closes until it is locked again.
    assert not studio.gates(project, "sc-1")[Stage.PROMPTS].open
    assert studio.hub(project)[0].status == "Outdated"
    studio.lock_visual_state(project, 1)
    changed = next(p for p in studio.prompt_sets(project, 1).prompt_sets if p.shot_id == shot_id)
    assert changed.previous_frame_edit == "Harsh fluorescent light on Oskar's bench."
    assert changed.frame_prompt != changed.previous_frame_edit
    with pytest.raises(GateClosed, match="kept manual edits"):
        studio.lock_prompts(project, 1)
    # Tagging the shot start-frame-only changes its inputs too (another video model).
    studio.set_start_frame_only(project, 1, shot_id, True)
    view = studio.prompt_sets(project, 1)
    tagged = next(p for p in view.prompt_sets if p.shot_id == shot_id)
    assert "start-frame-only" in tagged.model_tags
    assert tagged.previous_frame_edit == "Harsh fluorescent light on Oskar's bench."
    studio.edit_prompt(project, 1, shot_id, frame_prompt=tagged.previous_frame_edit)  # keep mine
    studio.lock_prompts(project, 1)
    assert studio.gates(project, "sc-1")[Stage.PROMPTS].locked
    assert studio.gates(project, "sc-1")[Stage.FRAMES].open


def test_every_scene_has_complete_drafts(studio, project):
    for number in range(1, len(studio.state(project).scenes) + 1):
        view = studio.shot_list(project, number)
        assert view.shots and not view.problems
        prompts = studio.prompt_sets(project, number)
        assert len(prompts.prompt_sets) == len(view.shots)


# --------------------------------------------------------------------------- issue 10: shots


def test_add_move_and_delete_shots(studio, project):
    lock_phase_a(studio, project)
    before = studio.shot_list(project, 2).shots
    studio.add_shot(project, 2, "INSERT: the claim ticket, rain-spotted.", after="2A", duration_s=2.5)
    added = studio.shot_list(project, 2).shots
    assert [s.id for s in added] == [f"2{chr(65 + i)}" for i in range(len(before) + 1)]
    assert added[1].action == "INSERT: the claim ticket, rain-spotted." and added[1].duration_s == 2.5
    assert [s.action for s in added[2:]] == [s.action for s in before[1:]]
    with pytest.raises(BadInput, match="added by hand"):
        studio.merge_shots(project, 2, "2A")  # 2B, the added shot, holds no script text
    with pytest.raises(BadInput, match="added by hand"):
        studio.split_shot(project, 2, "2B")
    with pytest.raises(BadInput, match="action"):
        studio.add_shot(project, 2, "   ")
    with pytest.raises(BadInput, match="at most 8"):
        studio.add_shot(project, 2, "A long hold.", duration_s=12)
    studio.move_shot(project, 2, "2B", 1)
    moved = studio.shot_list(project, 2).shots
    assert moved[0].action == "INSERT: the claim ticket, rain-spotted." and moved[0].id == "2A"
    assert moved[1].action == before[0].action
    with pytest.raises(BadInput, match="positions 1 to"):
        studio.move_shot(project, 2, "2A", 99)
    with pytest.raises(Conflict):
        studio.move_shot(project, 2, "2A", 1)
    studio.delete_shot(project, 2, "2A")
    assert [s.action for s in studio.shot_list(project, 2).shots] == [s.action for s in before]
    with pytest.raises(NotFound, match="no shot 2Z"):
        studio.delete_shot(project, 2, "2Z")


def test_deleting_the_last_shot_of_a_scene_is_refused(studio):
    project, _ = studio.new_project("One shot", ("one.fountain", b"INT. HALL - DAY\n\nMARA waits.\n"))
    lock_phase_a(studio, project.id)
    assert len(studio.shot_list(project.id, 1).shots) == 1
    with pytest.raises(BadInput, match="only shot of scene 1"):
        studio.preview_shot_edit(project.id, 1, "delete", "1A")
    with pytest.raises(BadInput, match="only shot of scene 1"):
        studio.delete_shot(project.id, 1, "1A")


def test_shot_edits_preview_what_they_make_outdated(studio, project):
    lock_phase_a(studio, project)
    for scene in (2, 3):
        lock_scene(studio, project, scene, "shots")
    head = studio.head(project)
    shots = studio.shot_list(project, 2).shots
    for op, args in (("delete", {}), ("move", {"position": 2}), ("add", {"action": "Rain on the glass."}),
                     ("split", {})):
        impact = studio.preview_shot_edit(project, 2, op, shots[0].id, **args)
        assert impact.outdated == ("sc-2",), op
        assert impact.continuity_broken == ("sc-3",), op
        assert "1 scene(s) become Outdated" in impact.summary()
        assert any("locked" in note for note in impact.notes)
    assert studio.head(project) == head, "a preview writes nothing"
    deleted = studio.preview_shot_edit(project, 2, "delete", shots[0].id)
    assert any("leaves the film" in n and shots[0].action[:20] in n for n in deleted.lost)
    assert any("re-lettered" in n and "2B → 2A" in n for n in deleted.notes)
    # An unlocked scene: nothing downstream to lose.
    assert studio.preview_shot_edit(project, 4, "move", "4A", position=2).empty


def test_a_moved_shot_keeps_its_prompts(studio, project):
    lock_phase_a(studio, project)
    lock_scene(studio, project, 1, "visual")
    studio.edit_prompt(project, 1, "1B", frame_prompt="Oskar under the green lamp.")
    notes = studio.preview_shot_edit(project, 1, "move", "1B", position=1).notes
    assert any("1B → 1A" in n and "follow them" in n for n in notes)
    studio.move_shot(project, 1, "1B", 1)
    saved = {p.shot_id: p for p in studio.state(project).scenes["sc-1"].work.prompts}
    assert saved["1A"].frame_prompt == "Oskar under the green lamp." and saved["1A"].frame_edited
    assert not saved["1B"].frame_edited
    assert "Shot 1A's prompts are dropped." in studio.preview_shot_edit(project, 1, "delete", "1A").lost
    studio.delete_shot(project, 1, "1A")
    assert not any(p.frame_edited for p in studio.state(project).scenes["sc-1"].work.prompts)


def test_shot_table_errors_are_in_words(studio, project):
    lock_phase_a(studio, project)
    rows = [s.model_dump() for s in studio.shot_list(project, 2).shots]
    rows[1]["duration_s"] = "long"
    with pytest.raises(BadInput) as caught:
        studio.save_shots(project, 2, rows)
    message = str(caught.value)
    assert "row 2" in message and "duration" in message and "number" in message
    assert "duration_s" not in message and "Value error" not in message and "1." not in message


# --------------------------------------------------------------------------- issue 10: assets

JETTY = b"""INT. JETTY - DAY

A GIRL (8) skips along the jetty. The grey sea heaves below the planks.

MARA
Careful on the jetty!

EXT. PORCH - NIGHT

The GIRL waits by the door. Mara lights a LANTERN.

MARRA
Come in, love.
"""


@pytest.fixture
def jetty(studio):
    project, _ = studio.new_project("Jetty", ("jetty.fountain", JETTY))
    return project.id


def test_a_silent_character_and_a_named_object_can_be_added(studio, jetty):
    suggested = studio.suggested_assets(jetty)
    assert [(a.name, a.mentions) for a in suggested] == [("GIRL", ("sc-1", "sc-2"))]
    studio.approve_script(jetty)
    studio.add_asset(jetty, "character", "GIRL")
    studio.add_asset(jetty, "prop", "jetty")
    girl = studio.state(jetty).assets.get("character-girl")
    jetty_prop = studio.state(jetty).assets.get("prop-jetty")
    assert girl.mentions == ("sc-1", "sc-2") and "skips along the jetty" in girl.description
    assert jetty_prop.mentions == ("sc-1",) and "jetty" in jetty_prop.description
    in_scene = {r.asset.id for r in studio.visual_state(jetty, 1)}
    assert {"character-girl", "prop-jetty"} <= in_scene
    assert studio.suggested_assets(jetty) == ()


@pytest.mark.parametrize("name,why", [
    ("GI\u202eRL", "text-direction"), ("MA\nRA", "one line"), ("MA\x00RA", "NUL"),
    ("\u2066MARA", "text-direction"), ("MA\u200bRA", "control"), ("   ", "empty"), ("X" * 81, "longer"),
])
def test_asset_names_refuse_hostile_characters(studio, jetty, name, why):
    studio.approve_script(jetty)
    with pytest.raises(BadInput, match=why):
        studio.add_asset(jetty, "character", name)
    with pytest.raises(BadInput, match=why):
        studio.edit_asset(jetty, "character-mara", {"name": name})
    assert studio.state(jetty).assets.get("character-mara").name == "MARA"


def test_two_names_with_one_slug_get_a_clear_message(studio, jetty):
    studio.approve_script(jetty)
    studio.add_asset(jetty, "prop", "Café Sign")
    with pytest.raises(Conflict, match=r"'Cafe Sign' and the prop 'Café Sign' would get the same id \(prop-cafe-sign\)"):
        studio.add_asset(jetty, "prop", "Cafe Sign")
    with pytest.raises(Conflict, match="already a prop called 'Café Sign'"):
        studio.add_asset(jetty, "prop", "café sign")
    # Names without Latin letters do not all collapse onto one slug.
    studio.add_asset(jetty, "character", "李")
    studio.add_asset(jetty, "character", "王")
    ids = [a.id for a in studio.state(jetty).assets.assets if a.name in ("李", "王")]
    assert len(set(ids)) == 2
    with pytest.raises(BadInput, match="not a kind of asset"):
        studio.add_asset(jetty, "vehicle", "Bus")


def test_a_bogus_asset_is_deleted_not_locked(studio, jetty):
    studio.approve_script(jetty)
    assert studio.state(jetty).assets.get("prop-lantern") is not None
    studio.delete_asset(jetty, "prop-lantern")
    assert studio.state(jetty).assets.get("prop-lantern") is None
    with pytest.raises(Conflict, match="up to date"):
        studio.refresh_assets(jetty)  # the extraction does not bring it back
    # The lock gate opens with the remaining assets, the bogus one never locked.
    studio.choose_style(jetty, "neo-noir")
    lock_phase_a_rest(studio, jetty)
    assert studio.gates(jetty)[Stage.HUB].open
    with pytest.raises(GateClosed, match="unlock it before deleting"):
        studio.delete_asset(jetty, "character-mara")


def test_merging_two_entries_of_one_character(studio, jetty):
    studio.approve_script(jetty)
    assert {"character-mara", "character-marra"} <= {a.id for a in studio.state(jetty).assets.assets}
    with pytest.raises(BadInput, match="one kind"):
        studio.merge_assets(jetty, "character-marra", "location-porch")
    studio.merge_assets(jetty, "character-marra", "character-mara")
    state = studio.state(jetty)
    assert state.assets.get("character-marra") is None
    assert state.assets.retired == {"character-marra": "character-mara"}
    assert set(state.assets.get("character-mara").mentions) >= {"sc-1", "sc-2"}
    assert "character-mara" in {r.asset.id for r in studio.visual_state(jetty, 2)}
    assert "character-marra" not in {r.asset.id for r in studio.visual_state(jetty, 2)}


def _png(size=(96, 64)) -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", size, (200, 40, 40)).save(out, format="PNG")
    return out.getvalue()


def test_upload_your_own_reference_image(studio, jetty):
    studio.approve_script(jetty)
    studio.upload_image_key(jetty, "character-mara", "mara ref.png", _png())
    key = studio.state(jetty).assets.get("character-mara").image_key
    assert studio.media_bytes(key).startswith(b"\x89PNG")
    studio.lock_asset(jetty, "character-mara")  # an uploaded key counts for the lock
    with pytest.raises(GateClosed, match="locked"):
        studio.upload_image_key(jetty, "character-mara", "again.png", _png())
    head = studio.head(jetty)
    bad = [
        ("notes.png", b"just some text, not a picture", "not an image"),
        ("cut.png", _png()[:60], "cut short or damaged"),
        ("../../etc/passwd.png", _png(), "file name"),
        ("huge.png", b"\x89PNG\r\n\x1a\n" + bytes(21 * 1024 * 1024), "over the 20.0 MB limit"),
        ("wide.png", _png((9000, 70)), "8192-pixel limit"),
        ("tiny.png", _png((8, 8)), "at least 64 pixels"),
        ("empty.png", b"", "empty"),
    ]
    for name, data, why in bad:
        with pytest.raises(BadInput, match=why):
            studio.upload_image_key(jetty, "location-porch", name, data)
    assert studio.head(jetty) == head, "nothing written for a refused upload"


def test_global_assets_travel_to_another_project(studio, jetty, project):
    lock_phase_a(studio, project)
    studio.promote_to_global(project, "character-oskar")
    oskar = studio.state(project).assets.get("character-oskar")
    lock_phase_a(studio, jetty)
    studio.lock_shots(jetty, 1)
    drawer = studio.asset_drawer(jetty, 1)
    assert "character-oskar" in [g.id for g in drawer.global_assets]
    studio.pick_global_asset(jetty, 1, "character-oskar")
    state = studio.state(jetty)
    imported = state.assets.get("character-oskar")
    assert imported.source == "global" and imported.locked and imported.image_key == oskar.image_key
    assert studio.gates(jetty)[Stage.HUB].open, "the stage 5 gate stays locked"
    assert "character-oskar" in {r.asset.id for r in studio.visual_state(jetty, 1)}
    with pytest.raises(Conflict, match="in this scene already"):
        studio.pick_global_asset(jetty, 1, "character-oskar")
    # A scene-only asset and one from an earlier scene.
    studio.add_scene_asset(jetty, 1, "prop", "Rope Ladder", "A frayed rope ladder down to the boat.")
    assert "prop-rope-ladder" in {r.asset.id for r in studio.visual_state(jetty, 1)}
    assert studio.state(jetty).assets.get("prop-rope-ladder").locked
    studio.lock_visual_state(jetty, 1)
    studio.lock_shots(jetty, 2)
    earlier = [a.id for a in studio.asset_drawer(jetty, 2).earlier_assets]
    assert "character-oskar" in earlier and "prop-rope-ladder" in earlier
    studio.pick_scene_asset(jetty, 2, "prop-rope-ladder")
    assert "prop-rope-ladder" in {r.asset.id for r in studio.visual_state(jetty, 2)}
    studio.unpick_scene_asset(jetty, 2, "prop-rope-ladder")
    assert "prop-rope-ladder" not in {r.asset.id for r in studio.visual_state(jetty, 2)}


def test_a_project_takes_twenty_thousand_shots_and_no_more(studio, project):
    from studio.errors import TooLarge
    from studio.screenplay.limits import MAX_SHOTS
    from studio.timeline import scene_key

    assert MAX_SHOTS >= 20_000
    lock_phase_a(studio, project)
    second = len(studio.shot_list(project, 2).shots)
    template = studio.shot_list(project, 1).shots[0]
    # Scene 1 holds all the other shots (written straight to the store: no editor makes
    # 20,000 shots in one go); scene 2's saved list then reaches the bound exactly.
    def letters(n: int) -> str:
        out = ""
        while True:
            n, rest = divmod(n, 26)
            out = chr(65 + rest) + out
            if n == 0:
                return out
            n -= 1

    bulk = tuple(template.model_copy(update={"id": f"1{letters(n)}"}) for n in range(MAX_SHOTS - second - 1))
    doc = studio.state(project).scenes["sc-1"]
    studio.timeline.commit(
        project, "main", {scene_key("sc-1"): doc.model_copy(update={"work": doc.work.model_copy(update={"shots": bulk})})},
        "Bulk shots",
    )
    studio.split_shot(project, 2, studio.shot_list(project, 2).shots[0].id)  # 20,000: accepted
    assert sum(len(d.work.shots) for d in studio.state(project).scenes.values()) == MAX_SHOTS
    head = studio.head(project)
    with pytest.raises(TooLarge, match="20,001 shots; a project can have at most 20,000"):
        studio.split_shot(project, 2, studio.shot_list(project, 2).shots[0].id)
    assert studio.head(project) == head, "nothing was written"


def test_missing_image_keys_are_drawn_in_one_commit_and_locked_ones_are_left(studio):
    project, _ = studio.new_project("Keys", ("keys.fountain", b"INT. HALL - DAY\n\nMARA lights a LANTERN.\n\nMARA\nThere.\n"))
    pid = project.id
    studio.approve_script(pid)
    with pytest.raises(GateClosed, match="visual style"):
        studio.generate_missing_image_keys(pid)
    studio.choose_style(pid, "neo-noir")
    first = studio.state(pid).assets.assets[0]
    studio.generate_image_key(pid, first.id)
    studio.lock_asset(pid, first.id)
    kept = studio.state(pid).assets.get(first.id).image_key
    before = studio.head(pid)
    assert studio.image_keys_estimate(pid).count == len(studio.state(pid).assets.assets) - 1
    studio.generate_missing_image_keys(pid)
    log = studio.log(pid, limit=2)
    assert log[1].id == before  # one commit for all of them
    state = studio.state(pid)
    assert all(a.image_key for a in state.assets.assets) and state.assets.get(first.id).image_key == kept
    with pytest.raises(Conflict, match="already"):
        studio.generate_missing_image_keys(pid)
    keys = [i for g in studio.vault(pid) for i in g.items if i.kind == "image key"]
    assert len(keys) == len(state.assets.assets)  # the first one's, then the bulk's, in the vault
