"""Stages 5-9 in the app with AppTest: assets & style, the hub, shot lists, scene visual
state and prompt assembly; every page, the gates, the main flow and the error paths.

Same set-up as ``test_app.py`` (whose helpers this reuses): a fresh data dir per test, the
app builds its Studio on it, and tests seed or inspect the same SQLite file through a
second Studio.
"""

from __future__ import annotations

import pytest
import test_app
from flows import lock_phase_a
from test_app import assert_ok, open_app, page_text, texts

from studio.model import AssetKind, Stage

STAGE5 = "pages/stage5_assets.py"
STAGE6 = "pages/stage6_hub.py"
STAGE7 = "pages/stage7_shots.py"
STAGE8 = "pages/stage8_visual.py"
STAGE9 = "pages/stage9_prompts.py"
NEW_PAGES = [STAGE5, STAGE7, STAGE8, STAGE9]
STYLE = "neo-noir"


# The app tests' fixtures: a data dir for AppTest, a Studio on it, the sample imported.
home = test_app.home
studio = test_app.studio
sample_project = test_app.sample_project

@pytest.fixture
def assets_locked(studio, sample_project):
    """The sample with the script approved and stage 5 locked: Phase B is open."""
    lock_phase_a(studio, sample_project.id, STYLE)
    return sample_project


def open_scene(at, scene_id: str):
    """The hub's "Open scene" button: stores the scene and goes to stage 7."""
    at.switch_page(STAGE6).run()
    at.button(key=f"open_scene_{scene_id}").click().run()
    assert_ok(at)
    assert texts(at.title) == "Stage 7 — Shot list"
    # AppTest keeps requesting the page its own switch_page() named (the hub); stay on the
    # page the app switched to, as a browser does.
    at._page_hash = ""
    return at


# ----------------------------------------------------------------------------- every page


def test_new_pages_run_on_an_empty_home(home):
    at = open_app()
    for page in NEW_PAGES:
        at.switch_page(page).run()
        assert_ok(at)
        assert not at.error, (page, texts(at.error))
        assert "Pick or create a project on the Projects page first." in texts(at.info)


def test_new_pages_run_with_the_sample_imported(studio, sample_project):
    at = open_app(sample_project.id)
    for page in [STAGE6, *NEW_PAGES]:
        at.switch_page(page).run()
        assert_ok(at)
        assert not at.error, (page, texts(at.error))
    assert texts(at.title) == "Stage 9 — Prompt assembly"


def test_scene_pages_without_scenes_point_to_stage1(studio):
    project = studio.create_project("Empty")
    at = open_app(project.id)
    for page in NEW_PAGES:
        at.switch_page(page).run()
        assert_ok(at)
        assert "import a screenplay in stage 1" in texts(at.info), page


# ----------------------------------------------------------------------------- gates


def test_gates_refuse_before_the_script_is_approved(studio, sample_project):
    pid = sample_project.id
    at = open_app(pid)

    at.switch_page(STAGE5).run()
    assert_ok(at)
    reason = studio.gates(pid)[Stage.ASSETS].reason
    assert f"gate closed — {reason}" in texts(at.warning)
    assert at.button(key="lock_style").disabled and at.button(key="choose_style").disabled
    asset = studio.state(pid).assets.assets[0]
    assert at.button(key=f"imagekey_{asset.id}").disabled
    assert at.text_area(key=f"desc_{asset.id}").disabled

    scene_gates = studio.gates(pid, "sc-1")
    for page, stage, lock_key in [
        (STAGE7, Stage.SHOTS, "lock_shots"),
        (STAGE8, Stage.VISUAL_STATE, "vs_lock"),
        (STAGE9, Stage.PROMPTS, "lock_prompts"),
    ]:
        at.switch_page(page).run()
        assert_ok(at)
        assert not scene_gates[stage].open
        assert f"gate closed — {scene_gates[stage].reason}" in texts(at.warning), page
        assert at.button(key=lock_key).disabled, page
    # Stage 9 still shows the assembled drafts, read-only.
    assert len(at.main.expander) == len(studio.shot_list(pid, 1).shots)
    assert at.text_area[0].disabled


# ----------------------------------------------------------------------------- main flow


def test_full_flow_from_assets_to_locked_prompts(studio, sample_project):
    pid = sample_project.id
    studio.approve_script(pid)
    at = open_app(pid)

    # Stage 5: choose and lock the style, image keys and locks through the page.
    at.switch_page(STAGE5).run()
    assert_ok(at)
    assert "An LLM, when connected, would add props" in texts(at.caption)
    at.selectbox(key="style_pick").set_value(STYLE)
    at.button(key="choose_style").click().run()
    assert_ok(at)
    assert studio.state(pid).assets.style_pack == STYLE
    first, *rest = studio.state(pid).assets.assets
    assert at.button(key=f"lock_{first.id}").disabled  # no image key yet
    at.button(key=f"imagekey_{first.id}").click().run()
    assert_ok(at)
    assert studio.state(pid).assets.get(first.id).image_key
    assert len(at.main.get("image")) == 2  # the style palette and the new image key
    at.button(key=f"lock_{first.id}").click().run()
    assert_ok(at)
    assert studio.state(pid).assets.get(first.id).locked
    for asset in rest:
        studio.generate_image_key(pid, asset.id)
        studio.lock_asset(pid, asset.id)
    at.button(key="lock_style").click().run()
    assert_ok(at)
    assert not at.error, texts(at.error)
    gates = studio.gates(pid)
    assert gates[Stage.ASSETS].locked and gates[Stage.HUB].open
    assert "Every asset and the visual style are locked" in texts(at.success)

    # Stage 6: every scene listed; "Open scene" goes to stage 7 for that scene.
    at.switch_page(STAGE6).run()
    assert_ok(at)
    rows = studio.hub(pid)
    assert list(at.dataframe[0].value["No."]) == [r.number for r in rows]
    open_scene(at, "sc-1")
    assert texts(at.title) == "Stage 7 — Shot list"
    assert at.session_state["scene_id"] == "sc-1"
    assert at.selectbox(key="scene_picker_7").value == "sc-1"

    # Stage 7: lock the shot list.
    assert "draft breakdown" in texts(at.markdown)
    at.button(key="lock_shots").click().run()
    assert_ok(at)
    assert not at.error, texts(at.error)
    assert studio.gates(pid, "sc-1")[Stage.SHOTS].locked
    assert at.button(key="save_shots").disabled  # frozen until "Edit the locked shot list"

    # Stage 8: scene 1 has no pending tags, so it locks straight away.
    at.switch_page(STAGE8).run()
    assert_ok(at)
    assert ":material/inventory_2: master" in texts(at.markdown)
    at.button(key="vs_lock").click().run()
    assert_ok(at)
    assert not at.error, texts(at.error)
    assert studio.gates(pid, "sc-1")[Stage.VISUAL_STATE].locked

    # Stage 9: a prompt set for every shot, labelled, then lock.
    at.switch_page(STAGE9).run()
    assert_ok(at)
    view = studio.prompt_sets(pid, "sc-1")
    assert [e.label.split(" · ")[0] for e in at.main.expander] == [
        f"Shot {p.shot_id}" for p in view.prompt_sets
    ]
    shown = texts(at.markdown)
    for label in ("Frame prompt: drives the anchor frames", "Video prompt: drives the clip"):
        assert shown.count(label) == len(view.prompt_sets)
    assert "hidden scaffold — not editable" in shown
    assert at.code[0].value == view.prompt_sets[0].system_prompt
    at.button(key="lock_prompts").click().run()
    assert_ok(at)
    assert not at.error, texts(at.error)
    assert studio.gates(pid, "sc-1")[Stage.PROMPTS].locked


# ----------------------------------------------------------------------------- stage 5


def test_stage5_edit_add_and_extraction(studio, sample_project):
    pid = sample_project.id
    studio.approve_script(pid)
    at = open_app(pid)
    at.switch_page(STAGE5).run()
    mia = studio.state(pid).assets.get("character-mia")
    at.text_area(key="desc_character-mia").input("Mia, soaked grey wool coat")
    at.text_input(key="voice_character-mia").input("low and dry")
    at.button(key="save_character-mia").click().run()
    assert_ok(at)
    saved = studio.state(pid).assets.get("character-mia")
    assert (saved.description, saved.voice_profile) == ("Mia, soaked grey wool coat", "low and dry")
    assert saved.name == mia.name
    assert at.text_area(key="desc_character-mia").value == "Mia, soaked grey wool coat"

    at.text_input(key="add_name").input("Brass loupe")
    at.text_area(key="add_description").input("A jeweller's loupe on a cord")
    at.selectbox(key="add_kind").set_value(AssetKind.PROP)
    at.button(key="add_asset").click().run()
    assert_ok(at)
    loupe = studio.state(pid).assets.get("prop-brass-loupe")
    assert loupe.source == "manual"
    # An added asset is found where the script names it ('the loupe'), not "not mentioned".
    numbers = {doc.scene.id: n for n, doc in enumerate(studio.state(pid).ordered_scenes(), 1)}
    assert loupe.mentions and "loupe" in loupe.description
    shown = "Mentioned in scene(s) " + ", ".join(str(numbers[m]) for m in loupe.mentions)
    assert shown in texts(at.caption)

    at.button(key="refresh_assets").click().run()
    assert_ok(at)
    assert "up to date" in texts(at.error)  # nothing new to extract: said, not raised

    at.button(key="imagekey_character-mia").click().run()
    assert "choose a visual style first" in texts(at.error)


# ----------------------------------------------------------------------------- stage 6


def test_hub_verdicts_dependencies_and_carry_forward(studio, assets_locked):
    pid = assets_locked.id
    at = open_app(pid)
    at.switch_page(STAGE6).run()
    assert_ok(at)
    shown = page_text(at)
    assert ":material/warning: Risky" in shown and ":material/check_circle: Safe" in shown
    assert "Mia was wet at the end of scene 2" in shown.replace("\\", "")
    assert "ended with: BUS DRIVER, MIA (wet)" in shown.replace("\\", "")
    assert "No frames yet" in texts(at.caption)

    at.button(key="drop_sc-4_character-mia_wet").click().run()
    assert_ok(at)
    assert [d.carry for d in studio.scene(pid, "sc-4").work.carry_decisions] == [False]
    assert "dropped for MIA in scene 4" in texts(at.success)

    at.button(key="carry_sc-3_character-mia_wet").click().run()
    assert_ok(at)
    decisions = studio.scene(pid, "sc-3").work.carry_decisions
    assert [(d.asset_id, d.tag, d.carry) for d in decisions] == [("character-mia", "wet", True)]
    assert not [b for b in at.button if b.key == "carry_sc-3_character-mia_wet"]
    assert "carried into scene 3" in texts(at.success)
    assert "Carried in:** MIA \\(wet\\)" in texts(at.caption)


def test_hub_explains_outdated_scenes(studio, assets_locked):
    pid = assets_locked.id
    studio.lock_shots(pid, 1)
    studio.reopen_script(pid, "Rework the first scene's ending")
    text = studio.script_fountain(pid).replace(
        "He switches off the green lamp.", "He switches off the lamp."
    )
    studio.save_script_text(pid, text, "Simplify the lamp business")
    at = open_app(pid)
    at.switch_page(STAGE6).run()
    assert_ok(at)
    warnings = texts(at.warning).replace("\\", "")
    assert "Scene 1 — INT. OSKAR'S UMBRELLA REPAIR SHOP - DAY: Outdated, because" in warnings
    assert "Nothing is blocked" in warnings


# ----------------------------------------------------------------------------- stage 7


def test_stage7_split_merge_reset_and_rearview(studio, assets_locked):
    pid = assets_locked.id
    at = open_app(pid)
    open_scene(at, "sc-1")
    count = len(studio.shot_list(pid, 1).shots)
    at.selectbox(key="shot_pick").set_value("1A")
    at.button(key="split_shot").click().run()
    assert_ok(at)
    assert len(studio.shot_list(pid, 1).shots) == count + 1
    assert len(at.data_editor[0].value) == count + 1
    at.selectbox(key="shot_pick").set_value("1A")
    at.button(key="merge_shot").click().run()
    assert_ok(at)
    assert len(studio.shot_list(pid, 1).shots) == count
    at.selectbox(key="shot_pick").set_value("1B")
    at.button(key="merge_shot").click().run()  # 1B + 1C run past 8 s
    assert_ok(at)
    assert "over the 8 s limit" in texts(at.error)
    at.button(key="reset_shots").click().run()
    assert_ok(at)
    assert "reset to the deterministic breakdown" in texts(at.success)

    at.selectbox(key="scene_picker_7").set_value("sc-2").run()
    assert_ok(at)
    assert at.session_state["scene_id"] == "sc-2"
    rear = studio.rearview(pid, 2)
    assert rear.last_action.split()[0] in texts(at.markdown)
    assert "No end frame yet" in texts(at.caption)


def test_stage7_saving_a_nine_second_shot_shows_an_error(studio, assets_locked):
    pid = assets_locked.id
    at = open_app(pid)
    open_scene(at, "sc-1")
    editor = at.data_editor[0]
    at.session_state[editor.key] = {
        "edited_rows": {0: {"duration_s": 9}}, "added_rows": [], "deleted_rows": [],
    }
    at.text_input(key="shots_message").input("Hold the opening shot longer")
    at.button(key="save_shots").click().run()
    assert_ok(at)
    assert "8" in texts(at.error)
    assert not studio.shot_list(pid, 1).saved


def test_stage7_table_edit_is_saved(studio, assets_locked):
    pid = assets_locked.id
    at = open_app(pid)
    open_scene(at, "sc-1")
    before = studio.shot_list(pid, 1).shots[1]
    at.session_state[at.data_editor[0].key] = {
        "edited_rows": {1: {"camera": "MCU", "characters": "OSKAR (secondary)", "sfx": "rain, clock"}},
        "added_rows": [], "deleted_rows": [],
    }
    at.text_input(key="shots_message").input("Tighter on Oskar")
    at.button(key="save_shots").click().run()
    assert_ok(at)
    assert not at.error, texts(at.error)
    view = studio.shot_list(pid, 1)
    shot = view.shots[1]
    assert view.saved and shot.camera == "MCU" and shot.sfx == ("rain", "clock")
    assert [(c.name, c.prominence) for c in shot.characters] == [("OSKAR", "secondary")]
    assert shot.element_refs == before.element_refs  # columns the table hides survive
    assert studio.log(pid)[0].message == "Tighter on Oskar"


# ----------------------------------------------------------------------------- stage 8


def test_stage8_pending_tags_block_the_lock_until_decided(studio, assets_locked):
    pid = assets_locked.id
    for scene in (1, 2, 3):
        studio.lock_shots(pid, scene)
    for scene in (1, 2):
        studio.lock_visual_state(pid, scene)
    at = open_app(pid)
    at.switch_page(STAGE8).run()
    at.selectbox(key="scene_picker_8").set_value("sc-3").run()
    assert_ok(at)
    assert at.button(key="vs_lock").disabled
    assert "1 carry-forward decision(s) pending" in texts(at.info)
    at.button(key="vs_carry_sc-3_character-mia_wet").click().run()
    assert_ok(at)
    mia = next(r for r in studio.visual_state(pid, 3) if r.asset.id == "character-mia")
    assert "wet" in mia.state.condition_tags and not mia.pending_tags
    assert not at.button(key="vs_lock").disabled


def test_stage8_scene_edit_and_bulk_image_keys(studio, assets_locked):
    pid = assets_locked.id
    studio.lock_shots(pid, 1)
    at = open_app(pid)
    at.switch_page(STAGE8).run()
    stem = "sc-1_character-oskar"
    at.text_area(key=f"vs_desc_{stem}").input("Oskar, sleeves rolled up")
    at.multiselect(key=f"vs_tags_{stem}").set_value(["dusty"])
    at.button(key=f"vs_save_{stem}").click().run()
    assert_ok(at)
    oskar = next(r for r in studio.visual_state(pid, 1) if r.asset.id == "character-oskar")
    assert oskar.state.source == "new" and oskar.state.condition_tags == ("dusty",)
    assert "new in this scene" in texts(at.markdown)

    assert at.button(key="vs_bulk_keys").disabled  # nothing selected
    at.checkbox(key=f"vs_pick_{stem}").check()
    at.checkbox(key="vs_pick_sc-1_character-mia").check().run()
    assert "(2)" in at.button(key="vs_bulk_keys").label
    at.button(key="vs_bulk_keys").click().run()
    assert_ok(at)
    assert not at.error, texts(at.error)
    keys = {s.asset_id: s.image_key for s in studio.scene(pid, 1).work.visual_state}
    master = studio.state(pid).assets.get("character-oskar").image_key
    assert keys["character-oskar"] and keys["character-oskar"] != master


# ----------------------------------------------------------------------------- stage 9


@pytest.fixture
def prompts_open(studio, assets_locked):
    pid = assets_locked.id
    studio.lock_shots(pid, 1)
    studio.lock_visual_state(pid, 1)
    return assets_locked


def test_stage9_edit_start_frame_only_and_preview(studio, prompts_open):
    pid = prompts_open.id
    at = open_app(pid)
    at.switch_page(STAGE9).run()
    assert_ok(at)
    at.text_area(key="frame_sc-1_1A").input("A rain-streaked shop window, wide")
    at.button(key="save_prompt_sc-1_1A").click().run()
    assert_ok(at)
    first = studio.prompt_sets(pid, 1).prompt_sets[0]
    assert first.frame_edited and first.frame_prompt == "A rain-streaked shop window, wide"
    assert ":material/edit: edited" in texts(at.markdown)

    at.toggle(key="sfo_sc-1_1B").set_value(True).run()
    assert_ok(at)
    assert studio.shot_list(pid, 1).shots[1].start_frame_only
    assert at.toggle(key="sfo_sc-1_1B").value

    at.selectbox(key="frame_model_sc-1").set_value("sdxl").run()
    assert_ok(at)
    assert "Preview for sdxl" in texts(at.info)
    assert at.button(key="lock_prompts").disabled and at.text_area[0].disabled
    assert at.warning  # the sanity checker flags prompts too long for SDXL, never blocks
    at.button(key="use_models_sc-1").click().run()
    assert_ok(at)
    assert studio.scene(pid, 1).work.frame_model == "sdxl"
    # 1A's manual edit was made for flux: it is kept beside the new SDXL prompt to choose.
    at.button(key="usenew_frame_sc-1_1A").click().run()
    assert_ok(at)
    assert not at.button(key="lock_prompts").disabled


def kept_edit_conflict(studio, pid: str) -> str:
    """Edit 1B's frame prompt, then change Oskar in scene 1: the assembled prompt changes."""
    studio.edit_prompt(pid, 1, "1B", frame_prompt="my own frame prompt for 1B")
    studio.edit_asset_state(pid, 1, "character-oskar", {"description": "Oskar in shirtsleeves"})
    studio.lock_visual_state(pid, 1)  # the edit staled the visual state lock
    prompt_set = studio.prompt_sets(pid, 1).prompt_sets[1]
    assert prompt_set.previous_frame_edit == "my own frame prompt for 1B"
    return prompt_set.frame_prompt


def test_stage9_kept_edit_shows_both_and_keep_my_edit(studio, prompts_open):
    pid = prompts_open.id
    new = kept_edit_conflict(studio, pid)
    at = open_app(pid)
    at.switch_page(STAGE9).run()
    assert_ok(at)
    assert at.button(key="lock_prompts").disabled
    codes = [c.value for c in at.code]
    assert new in codes and "my own frame prompt for 1B" in codes
    at.button(key="keep_frame_sc-1_1B").click().run()
    assert_ok(at)
    prompt_set = studio.prompt_sets(pid, 1).prompt_sets[1]
    assert prompt_set.frame_prompt == "my own frame prompt for 1B"
    assert prompt_set.previous_frame_edit is None
    assert not at.button(key="lock_prompts").disabled


def test_stage9_use_the_new_prompt_resolves_the_kept_edit(studio, prompts_open):
    pid = prompts_open.id
    new = kept_edit_conflict(studio, pid)
    at = open_app(pid)
    at.switch_page(STAGE9).run()
    at.button(key="usenew_frame_sc-1_1B").click().run()
    assert_ok(at)
    prompt_set = studio.prompt_sets(pid, 1).prompt_sets[1]
    assert prompt_set.frame_prompt == new and prompt_set.previous_frame_edit is None


# ----------------------------------------------------------------------------- issue 10


def test_stage7_delete_shows_what_it_invalidates_before_confirming(studio, assets_locked):
    pid = assets_locked.id
    for scene in (1, 2):
        studio.lock_shots(pid, scene)
    at = open_app(pid)
    open_scene(at, "sc-1")
    at.toggle(key="shots_unfreeze_sc-1").set_value(True).run()
    before = studio.shot_list(pid, 1).shots
    at.selectbox(key="shot_pick").set_value("1A")
    at.button(key="delete_shot").click().run()
    assert_ok(at)
    warning = texts(at.warning).replace("\\", "")
    assert "Delete shot 1A" in warning
    assert "1 scene(s) become Outdated" in warning and "1 later scene(s) get continuity broken" in warning
    assert "leaves the film" in texts(at.markdown)
    assert studio.shot_list(pid, 1).shots == before, "nothing changes before the confirmation"
    at.button(key="shots_cancel").click().run()
    assert_ok(at)
    assert "shots_confirm" not in [b.key for b in at.button]
    at.selectbox(key="shot_pick").set_value("1A")
    at.button(key="delete_shot").click().run()
    at.button(key="shots_confirm").click().run()
    assert_ok(at)
    after = studio.shot_list(pid, 1).shots
    assert [s.action for s in after] == [s.action for s in before[1:]]
    assert "Shot 1A deleted." in texts(at.success)
    assert studio.hub(pid)[0].status == "Outdated"


def test_stage7_add_and_move_a_shot(studio, assets_locked):
    pid = assets_locked.id
    at = open_app(pid)
    open_scene(at, "sc-1")
    count = len(studio.shot_list(pid, 1).shots)
    at.selectbox(key="shot_pick").set_value("1A")
    at.text_area(key="shot_add_action").input("INSERT: a wet umbrella drips on the floor.")
    at.number_input(key="shot_add_seconds").set_value(2.0)
    at.button(key="add_shot").click().run()
    assert_ok(at)
    shots = studio.shot_list(pid, 1).shots
    assert len(shots) == count + 1 and shots[1].action == "INSERT: a wet umbrella drips on the floor."
    assert "Shot added after 1A." in texts(at.success)
    at.selectbox(key="shot_pick").set_value("1B")
    at.number_input(key="shot_move_position").set_value(1)
    at.button(key="move_shot").click().run()
    assert_ok(at)
    assert studio.shot_list(pid, 1).shots[0].action == "INSERT: a wet umbrella drips on the floor."
    at.button(key="add_shot").click().run()  # no action written
    assert "needs an action" in texts(at.error)


def test_one_shot_scene_refuses_to_lose_its_last_shot(studio):
    project, _ = studio.new_project("One", ("one.fountain", b"INT. HALL - DAY\n\nMARA waits.\n"))
    lock_phase_a(studio, project.id, STYLE)
    at = open_app(project.id)
    open_scene(at, "sc-1")
    at.button(key="delete_shot").click().run()
    assert_ok(at)
    assert "only shot of scene 1" in texts(at.error)
    assert len(studio.shot_list(project.id, 1).shots) == 1


def _png() -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (128, 128), (30, 90, 160)).save(out, format="PNG")
    return out.getvalue()


def test_stage5_delete_merge_upload_and_a_silent_character(studio):
    script = (b"INT. JETTY - DAY\n\nA GIRL (8) skips along the jetty.\n\nMARA\nCareful!\n\n"
              b"EXT. PORCH - NIGHT\n\nThe GIRL waits. Mara lights a LANTERN.\n\nMARRA\nCome in.\n")
    project, _ = studio.new_project("Jetty", ("jetty.fountain", script))
    pid = project.id
    studio.approve_script(pid)
    at = open_app(pid)
    at.switch_page(STAGE5).run()
    assert_ok(at)
    assert "Characters in the action with no lines" in texts(at.markdown)
    at.button(key="suggest_character-girl").click().run()
    assert_ok(at)
    assert studio.state(pid).assets.get("character-girl").mentions == ("sc-1", "sc-2")
    at.button(key="delete_prop-lantern").click().run()
    assert_ok(at)
    assert studio.state(pid).assets.get("prop-lantern") is None
    at.selectbox(key="merge_into_character-marra").set_value("character-mara")
    at.button(key="merge_character-marra").click().run()
    assert_ok(at)
    assert studio.state(pid).assets.get("character-marra") is None
    assert "merged into MARA" in texts(at.success)
    uploader = next(u for u in at.file_uploader if u.key == "upload_character-mara")
    uploader.set_value([("notes.png", b"not a picture at all", "image/png")])
    at.run()
    at.button(key="use_upload_character-mara").click().run()
    assert_ok(at)
    assert "is not an image" in texts(at.error)
    assert studio.state(pid).assets.get("character-mara").image_key is None
    uploader = next(u for u in at.file_uploader if u.key == "upload_character-mara")
    uploader.set_value([("mara.png", _png(), "image/png")])
    at.run()
    at.button(key="use_upload_character-mara").click().run()
    assert_ok(at)
    assert studio.state(pid).assets.get("character-mara").image_key
    at.text_input(key="add_name").input("GI\u202eRL")
    at.button(key="add_asset").click().run()
    assert "text-direction" in texts(at.error).replace("\\", "")


def test_stage8_drawer_brings_a_global_asset_into_the_scene(studio, assets_locked):
    studio.promote_to_global(assets_locked.id, "character-oskar")
    project, _ = studio.new_project("Other", ("other.fountain", b"INT. HALL - DAY\n\nMARA waits by the door.\n"))
    pid = project.id
    lock_phase_a(studio, pid, STYLE)
    studio.lock_shots(pid, 1)
    at = open_app(pid)
    open_scene(at, "sc-1")
    at.switch_page(STAGE8).run()
    assert_ok(at)
    at.selectbox(key="vs_drawer_global").set_value("character-oskar")
    at.button(key="vs_drawer_global_add").click().run()
    assert_ok(at)
    assert "character-oskar" in {r.asset.id for r in studio.visual_state(pid, 1)}
    assert "from the global library is in scene 1" in texts(at.success)
    at.text_input(key="vs_drawer_name").input("ROPE LADDER")
    at.selectbox(key="vs_drawer_kind").set_value(AssetKind.PROP)
    at.button(key="vs_drawer_new").click().run()
    assert_ok(at)
    assert "prop-rope-ladder" in {r.asset.id for r in studio.visual_state(pid, 1)}
    at.button(key="vs_unpick_sc-1_prop-rope-ladder").click().run()
    assert_ok(at)
    assert "prop-rope-ladder" not in {r.asset.id for r in studio.visual_state(pid, 1)}


def test_stage5_bulk_image_keys_show_their_cost_before_they_run(studio):
    project, _ = studio.new_project("Keys", ("keys.fountain", b"INT. HALL - DAY\n\nMARA lights a LANTERN.\n\nMARA\nThere.\n"))
    pid = project.id
    studio.approve_script(pid)
    studio.choose_style(pid, STYLE)
    missing = [a.id for a in studio.state(pid).assets.assets if a.image_key is None]
    assert len(missing) >= 3  # MARA, the hall, the lantern
    at = open_app(pid)
    at.switch_page(STAGE5).run()
    assert_ok(at)
    shown = texts(at.caption)
    assert f"Image keys for all: {len(missing)} image keys on animatic" in shown and "CPU only" in shown
    assert all(a.image_key is None for a in studio.state(pid).assets.assets)  # nothing ran yet
    at.button(key="all_image_keys").click().run()
    assert_ok(at)
    assert all(a.image_key for a in studio.state(pid).assets.assets)
    assert studio.image_keys_estimate(pid).count == 0
    assert at.button(key="all_image_keys").disabled
