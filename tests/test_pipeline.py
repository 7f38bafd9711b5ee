"""Table-driven tests for the stage gates, scene statuses and the invalidation cascade."""

from __future__ import annotations

import pytest

from studio import pipeline
from studio.errors import BadInput
from studio.model import (
    Asset,
    AssetKind,
    AssetsDoc,
    Beat,
    BeatSheet,
    ElementKind,
    InputDoc,
    InputMode,
    ProjectParams,
    ProjectState,
    Scene,
    SceneDoc,
    Script,
    ScriptElement,
    Shot,
    Stage,
    Treatment,
)
from studio.objects import document_id
from studio.pipeline import SceneStatus

LOCK_FIELDS = ("shots_lock", "visual_lock", "prompts_lock", "frames_lock", "render_confirmed", "video_lock")
LEVELS = {
    "none": 0,
    "shots": 1,
    "visual": 2,
    "prompts": 3,
    "frames": 4,
    "confirmed": 5,
    "video": 6,
}


def make_scene(n: int, text: str | None = None) -> Scene:
    return Scene(
        id=f"sc-{n}",
        heading=f"INT. ROOM {n} - DAY",
        elements=(ScriptElement(kind=ElementKind.ACTION, text=text or f"Something happens in room {n}.", line=n * 10),),
        line=n * 10,
    )


def base_state(
    scenes: int = 4,
    mode: InputMode = InputMode.SCRIPT,
    submitted: bool = True,
    approved: bool = True,
    assets_locked: bool = True,
    style_locked: bool = True,
) -> ProjectState:
    params = ProjectParams(tonal_precision="Melancholy and wet", input_mode=mode)
    docs = {f"sc-{n}": SceneDoc(scene=make_scene(n)) for n in range(1, scenes + 1)}
    script = Script(title="T", scene_ids=tuple(docs), approved=approved)
    assets = AssetsDoc(
        assets=(Asset(id="character-mara", kind=AssetKind.CHARACTER, name="MARA", locked=assets_locked),),
        style_locked=style_locked,
    )
    return ProjectState(
        input=InputDoc(params=params, submitted=submitted),
        script=script,
        assets=assets,
        scenes=docs,
    )


def with_locks(state: ProjectState, levels: dict[int, str]) -> ProjectState:
    """Lock scenes up to a level, each lock recording what it was built on now."""
    scenes = dict(state.scenes)
    for number, level in levels.items():
        scene_id = f"sc-{number}"
        updates = {
            name: pipeline.lock_record(state, scene_id, "locked in test", pipeline.LOCK_LEVELS[i])
            for i, name in enumerate(LOCK_FIELDS[: LEVELS[level]])
        }
        doc = scenes[scene_id]
        scenes[scene_id] = doc.model_copy(update={"work": doc.work.model_copy(update=updates)})
    return state.model_copy(update={"scenes": scenes})


def edit_scene(state: ProjectState, number: int, text: str = "Something else entirely.") -> ProjectState:
    scenes = dict(state.scenes)
    doc = scenes[f"sc-{number}"]
    scenes[f"sc-{number}"] = doc.model_copy(update={"scene": make_scene(number, text)})
    return state.model_copy(update={"scenes": scenes})


def regenerate(state: ProjectState) -> ProjectState:
    assert state.script is not None
    script = state.script.model_copy(update={"generation": state.script.generation + 1})
    return state.model_copy(update={"script": script})


# --------------------------------------------------------------------------- gates

EMPTY = ProjectState()
MODE_A_NEW = base_state(mode=InputMode.EXPANSION, approved=False).model_copy(update={"script": None, "scenes": {}})
MODE_A_TREATED = MODE_A_NEW.model_copy(update={"treatment": Treatment(text="x", locked=True)})
MODE_A_BEATS = MODE_A_TREATED.model_copy(
    update={"beats": BeatSheet(beats=(Beat(id="b1", text="Mara waits."),), confirmed=True)}
)

GATE_CASES = [
    # (name, state, stage, scene, open, locked, reason fragment)
    ("input always open", EMPTY, Stage.INPUT, None, True, False, "always open"),
    ("treatment waits for input", EMPTY, Stage.TREATMENT, None, False, False, "project parameters"),
    ("script waits for beats", EMPTY, Stage.SCRIPT, None, False, False, "beat sheet is confirmed"),
    ("mode D skips treatment", base_state(), Stage.TREATMENT, None, False, False, "skipped"),
    ("mode D skips beats", base_state(), Stage.BEATS, None, False, False, "skipped"),
    ("mode D script opens on input", base_state(approved=False), Stage.SCRIPT, None, True, False, "open"),
    (
        "mode D script waits for submitted input",
        base_state(submitted=False, approved=False),
        Stage.SCRIPT, None, False, False, "project parameters",
    ),
    ("mode D approved script is locked", base_state(), Stage.SCRIPT, None, True, True, "open"),
    ("mode A treatment opens on input", MODE_A_NEW, Stage.TREATMENT, None, True, False, "open"),
    ("mode A beats wait for treatment", MODE_A_NEW, Stage.BEATS, None, False, False, "treatment"),
    ("mode A beats open after treatment", MODE_A_TREATED, Stage.BEATS, None, True, False, "open"),
    ("mode A script waits for beats", MODE_A_TREATED, Stage.SCRIPT, None, False, False, "beat sheet"),
    ("mode A script opens after beats", MODE_A_BEATS, Stage.SCRIPT, None, True, False, "open"),
    ("assets wait for approval", base_state(approved=False), Stage.ASSETS, None, False, False, "approved"),
    ("assets open after approval", base_state(assets_locked=False), Stage.ASSETS, None, True, False, "open"),
    ("hub waits for assets", base_state(assets_locked=False), Stage.HUB, None, False, False, "asset"),
    ("hub waits for style", base_state(style_locked=False), Stage.HUB, None, False, False, "style"),
    ("hub opens when all locked", base_state(), Stage.HUB, None, True, True, "open"),
    ("shots need a scene", base_state(), Stage.SHOTS, None, False, False, "choose a scene"),
    ("shots need the hub", base_state(assets_locked=False), Stage.SHOTS, "sc-1", False, False, "asset"),
    ("shots open in an open hub", base_state(), Stage.SHOTS, "sc-1", True, False, "open"),
    ("unknown scene", base_state(), Stage.SHOTS, "sc-99", False, False, "does not exist"),
    ("visual waits for shots", base_state(), Stage.VISUAL_STATE, "sc-1", False, False, "shot list"),
    ("visual opens after shots", with_locks(base_state(), {1: "shots"}), Stage.VISUAL_STATE, "sc-1", True, False, "open"),
    ("prompts wait for visual", with_locks(base_state(), {1: "shots"}), Stage.PROMPTS, "sc-1", False, False, "visual state"),
    ("prompts open after visual", with_locks(base_state(), {1: "visual"}), Stage.PROMPTS, "sc-1", True, False, "open"),
    ("frames wait for prompts", with_locks(base_state(), {1: "visual"}), Stage.FRAMES, "sc-1", False, False, "prompts"),
    ("frames open after prompts", with_locks(base_state(), {1: "prompts"}), Stage.FRAMES, "sc-1", True, False, "open"),
    ("confirm waits for frames", with_locks(base_state(), {1: "prompts"}), Stage.CONFIRM, "sc-1", False, False, "frames"),
    ("confirm opens after frames", with_locks(base_state(), {1: "frames"}), Stage.CONFIRM, "sc-1", True, False, "open"),
    ("video waits for confirm", with_locks(base_state(), {1: "frames"}), Stage.VIDEO, "sc-1", False, False, "confirmed"),
    ("video opens after confirm", with_locks(base_state(), {1: "confirmed"}), Stage.VIDEO, "sc-1", True, False, "open"),
    ("video locked when complete", with_locks(base_state(), {1: "video"}), Stage.VIDEO, "sc-1", True, True, "open"),
    ("locks are per scene", with_locks(base_state(), {1: "video"}), Stage.VISUAL_STATE, "sc-2", False, False, "shot list"),
    (
        "an outdated lock closes the next gate",
        edit_scene(with_locks(base_state(), {1: "shots"}), 1),
        Stage.VISUAL_STATE, "sc-1", False, False, "shot list",
    ),
]


@pytest.mark.parametrize(
    "state,stage,scene,is_open,locked,fragment",
    [case[1:] for case in GATE_CASES],
    ids=[case[0] for case in GATE_CASES],
)
def test_stage_gate(state, stage, scene, is_open, locked, fragment):
    gate = pipeline.stage_gate(state, stage, scene)
    assert gate.open is is_open
    assert gate.locked is locked
    assert fragment in gate.reason


def test_every_stage_has_a_gate_on_an_empty_project():
    gates = pipeline.gates(ProjectState())
    assert set(gates) == set(Stage)
    assert [s for s, g in gates.items() if g.open] == [Stage.INPUT]


# --------------------------------------------------------------------------- statuses + cascade

ALL_LOCKED = {1: "video", 2: "frames", 3: "shots", 4: "video"}

STATUS_CASES = [
    # (name, state, expected statuses, expected continuity-broken flags)
    ("fresh import is all Draft", base_state(), ["Draft"] * 4, [False] * 4),
    (
        "lock levels",
        with_locks(base_state(), ALL_LOCKED),
        ["Video complete", "Frames locked", "Shot list locked", "Video complete"],
        [False] * 4,
    ),
    (
        "visual/prompt locks alone stay Shot list locked",
        with_locks(base_state(), {1: "prompts"}),
        ["Shot list locked", "Draft", "Draft", "Draft"],
        [False] * 4,
    ),
    (
        "local: edit in scene 2 outdates 2 and breaks 3..",
        edit_scene(with_locks(base_state(), ALL_LOCKED), 2),
        ["Video complete", "Outdated", "Shot list locked", "Video complete"],
        [False, False, True, True],
    ),
    (
        "local: edit in the first scene breaks every later one",
        edit_scene(with_locks(base_state(), ALL_LOCKED), 1),
        ["Outdated", "Frames locked", "Shot list locked", "Video complete"],
        [False, True, True, True],
    ),
    (
        "local: edit in the last scene breaks nothing",
        edit_scene(with_locks(base_state(), ALL_LOCKED), 4),
        ["Video complete", "Frames locked", "Shot list locked", "Outdated"],
        [False] * 4,
    ),
    (
        "an edited Draft scene has nothing to outdate but breaks later locks",
        edit_scene(with_locks(base_state(), {3: "shots", 4: "video"}), 2),
        ["Draft", "Draft", "Shot list locked", "Video complete"],
        [False, False, True, True],
    ),
    (
        "line numbers moving is not an edit",
        with_locks(base_state(), ALL_LOCKED).model_copy(
            update={
                "scenes": {
                    k: v.model_copy(update={"scene": v.scene.model_copy(update={"line": 999})})
                    for k, v in with_locks(base_state(), ALL_LOCKED).scenes.items()
                }
            }
        ),
        ["Video complete", "Frames locked", "Shot list locked", "Video complete"],
        [False] * 4,
    ),
    (
        "global: regenerated script outdates every locked scene",
        regenerate(with_locks(base_state(), {1: "video", 3: "shots"})),
        ["Outdated", "Draft", "Outdated", "Draft"],
        [False] * 4,
    ),
]


@pytest.mark.parametrize(
    "state,statuses,broken", [c[1:] for c in STATUS_CASES], ids=[c[0] for c in STATUS_CASES]
)
def test_scene_statuses(state, statuses, broken):
    reports = pipeline.scene_reports(state)
    assert [r.status.value for r in reports] == statuses
    assert [r.continuity_broken for r in reports] == broken
    for report in reports:
        assert bool(report.reasons) == (report.outdated or report.continuity_broken)


def test_outdated_reason_explains_why():
    state = edit_scene(with_locks(base_state(), ALL_LOCKED), 2)
    report = pipeline.scene_reports(state)[1]
    assert report.status is SceneStatus.OUTDATED
    assert report.level is SceneStatus.FRAMES_LOCKED
    # One short sentence naming what changed and which locks it undid (not one run-on
    # "script, shot list, visual state or prompts changed" clause per lock).
    assert report.reasons == (
        "the scene's script changed after the shot list, visual state, prompts and frames were locked",
    )
    later = pipeline.scene_reports(state)[2]
    assert later.reasons == ("an earlier scene changed after the shot list was locked",)


def test_outdated_reason_names_the_part_that_changed():
    state = with_locks(base_state(), {2: "frames"})
    doc = state.scenes["sc-2"]
    shots = (Shot(id="2A", duration_s=3, action="A new opening."),)
    edited = doc.model_copy(update={"work": doc.work.model_copy(update={"shots": shots})})
    state = state.model_copy(update={"scenes": {**state.scenes, "sc-2": edited}})
    assert pipeline.scene_reports(state)[1].reasons == (
        "the shot list changed after the shot list, visual state, prompts and frames were locked",
    )
    # A lock recorded before per-part fingerprints were kept still gets a short sentence.
    old = {name: getattr(edited.work, name).model_copy(update={"parts": {}}) for name in LOCK_FIELDS[:4]}
    legacy = edited.model_copy(update={"work": edited.work.model_copy(update=old)})
    state = state.model_copy(update={"scenes": {**state.scenes, "sc-2": legacy}})
    assert pipeline.scene_reports(state)[1].reasons == (
        "this scene changed after the shot list, visual state, prompts and frames were locked",
    )
    assert pipeline.scene_reports(regenerate(with_locks(base_state(), {1: "prompts"})))[0].reasons == (
        "the script was regenerated after the shot list, visual state and prompts were locked",
    )


def test_scene_hash_of_an_unchanged_scene_is_what_older_locks_recorded():
    """Locks stored before the per-part fingerprints still match an unchanged scene."""
    from studio.objects import canonical_json, sha256_hex

    doc = base_state().scenes["sc-1"]
    data = doc.scene.model_dump(mode="json", exclude={"line"})
    for element in data["elements"]:
        element.pop("line", None)
    old = {"scene": data, "shots": [], "visual": [], "carry": [], "prompts": [],
           "start_frame_only": [], "targets": ["flux", None], "frames": []}
    assert pipeline.scene_hash(doc, "video") == sha256_hex(canonical_json(old))


def test_impact_lists_what_an_edit_would_invalidate():
    before = with_locks(base_state(), ALL_LOCKED)
    impact = pipeline.impact(before, edit_scene(before, 2))
    assert impact.outdated == ("sc-2",)
    assert impact.continuity_broken == ("sc-3", "sc-4")
    assert not impact.empty
    assert "1 scene(s) become Outdated" in impact.summary()
    # Editing again does not count scenes that were already invalid.
    again = pipeline.impact(edit_scene(before, 2), edit_scene(edit_scene(before, 2), 2, "Third text."))
    assert again.empty
    assert pipeline.impact(before, before).empty


def test_impact_counts_the_work_at_risk():
    from studio.model import Shot

    before = with_shots(base_state(), 2, (Shot(id="2A", duration_s=4.0), Shot(id="2B", duration_s=5.0)))
    before = with_locks(before, {1: "shots", 2: "shots"})
    impact = pipeline.impact(before, edit_scene(before, 1))
    assert impact.outdated == ("sc-1",)
    assert impact.continuity_broken == ("sc-2",)
    assert impact.shots == 2
    assert impact.locks_lost == 2


def with_shots(state: ProjectState, number: int, shots) -> ProjectState:
    scenes = dict(state.scenes)
    doc = scenes[f"sc-{number}"]
    scenes[f"sc-{number}"] = doc.model_copy(update={"work": doc.work.model_copy(update={"shots": tuple(shots)})})
    return state.model_copy(update={"scenes": scenes})


def test_a_shot_list_edit_after_locking_is_an_edit_of_the_scene():
    from studio.model import Shot

    shots = (Shot(id="2A", duration_s=4.0, action="Mara waits."), Shot(id="2B", duration_s=5.0, action="Rain."))
    locked = with_locks(with_shots(base_state(), 2, shots), {1: "video", 2: "frames", 3: "shots", 4: "video"})
    assert [r.status.value for r in pipeline.scene_reports(locked)][1] == "Frames locked"
    edited = with_shots(locked, 2, (shots[0].model_copy(update={"action": "Mara paces."}), shots[1]))
    reports = pipeline.scene_reports(edited)
    assert [r.status.value for r in reports] == ["Video complete", "Outdated", "Shot list locked", "Video complete"]
    assert [r.continuity_broken for r in reports] == [False, False, True, True]
    # The start-frame-only tag is a stage 9 choice: it leaves a locked shot list alone (and
    # later scenes), but stales the prompts and everything above them.
    only_shots = with_locks(with_shots(base_state(), 2, shots), {2: "shots", 3: "shots"})
    tagged = with_shots(only_shots, 2, (shots[0].model_copy(update={"start_frame_only": True}), shots[1]))
    assert not any(r.outdated or r.continuity_broken for r in pipeline.scene_reports(tagged))
    tagged = with_shots(locked, 2, (shots[0].model_copy(update={"start_frame_only": True}), shots[1]))
    reports = pipeline.scene_reports(tagged)
    assert reports[1].outdated and not reports[2].continuity_broken


def test_locks_cover_the_work_below_them():
    from studio.model import AssetState, PromptSet

    locked = with_locks(base_state(), {1: "prompts", 2: "visual"})
    doc = locked.scenes["sc-2"]
    instance = AssetState(asset_id="character-mara", source="new", condition_tags=("wet",))
    edited = locked.model_copy(update={"scenes": {**locked.scenes, "sc-2": doc.model_copy(
        update={"work": doc.work.model_copy(update={"visual_state": (instance,)})})}})
    report = pipeline.scene_reports(edited)[1]
    assert report.outdated and any("visual state changed" in r for r in report.reasons)
    assert not pipeline.stage_locked(edited, Stage.VISUAL_STATE, "sc-2")
    assert pipeline.stage_locked(edited, Stage.SHOTS, "sc-2")  # the shot list lock still stands
    doc = locked.scenes["sc-1"]
    prompt = PromptSet(shot_id="1A", frame_prompt="f", video_prompt="v", system_prompt="s", frame_edited=True)
    edited = locked.model_copy(update={"scenes": {**locked.scenes, "sc-1": doc.model_copy(
        update={"work": doc.work.model_copy(update={"prompts": (prompt,)})})}})
    assert pipeline.scene_reports(edited)[0].outdated
    # Later scenes' continuity depends on script and shots only.
    assert not pipeline.scene_reports(edited)[1].continuity_broken


# --------------------------------------------------------------------------- branching rules

BEATS = BeatSheet(beats=(Beat(id="b1", text="Mara waits."), Beat(id="b2", text="The rain stops.")), confirmed=True)
EDITED_BEATS = BEATS.model_copy(update={"beats": BEATS.beats + (Beat(id="b3", text="A letter arrives."),)})
SCRIPT_FROM_BEATS = Script(title="T", source="llm", beats_basis=document_id(BEATS))

BRANCH_CASES = [
    ("no script yet", ProjectState(beats=BEATS), "regenerate_script", False),
    ("script from the current beats", ProjectState(beats=BEATS, script=SCRIPT_FROM_BEATS), "regenerate_script", False),
    ("beats edited since the script", ProjectState(beats=EDITED_BEATS, script=SCRIPT_FROM_BEATS), "regenerate_script", True),
    ("imported script, beats derived later", ProjectState(beats=BEATS, script=Script(title="T")), "regenerate_script", True),
    ("imported script, no beats", ProjectState(script=Script(title="T")), "regenerate_script", False),
    ("other actions never force a branch", ProjectState(beats=EDITED_BEATS, script=SCRIPT_FROM_BEATS), "edit_script", False),
]


@pytest.mark.parametrize("state,action,forced", [c[1:] for c in BRANCH_CASES], ids=[c[0] for c in BRANCH_CASES])
def test_mandatory_branch_rule(state, action, forced):
    reason = pipeline.needs_new_branch(state, action)
    assert (reason is not None) is forced
    if forced:
        assert "new branch" in reason
    assert pipeline.beat_sheet_stale(state) is (state.script is not None and bool(state.beats.beats) and state.script.beats_basis != document_id(state.beats))


@pytest.mark.parametrize(
    "text,ok",
    [("", False), ("too short", False), ("  a  b  c  ", False), ("Make it rain harder", True), ("0123456789", True)],
)
def test_guidance_needs_ten_characters(text, ok):
    if ok:
        assert pipeline.check_guidance(text) == " ".join(text.split())
    else:
        with pytest.raises(BadInput, match="at least 10 characters"):
            pipeline.check_guidance(text)


def test_progress_grows_with_locks():
    draft = base_state(approved=False, assets_locked=False, style_locked=False)
    locked = with_locks(base_state(), {1: "video", 2: "video", 3: "video", 4: "video"})
    assert 0 < pipeline.progress(draft) < pipeline.progress(base_state()) < pipeline.progress(locked) == 1.0
    assert pipeline.progress(ProjectState()) == 0.0
