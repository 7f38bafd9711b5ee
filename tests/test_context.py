"""The context manager (studio.context): global context in every call, a scene's own only in
Phase B, never another scene's script, a token budget with a record of what was left out."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from flows import lock_phase_a

from studio.config import Settings
from studio.context import (
    BEATS,
    CHARACTERS,
    ESTIMATE_LABEL,
    PARAMS,
    PREVIOUS_END,
    PROPS,
    SCENE_SCRIPT,
    SHOT_LIST,
    STYLE,
    SUMMARY,
    Budget,
    ContextOverflow,
    assemble,
    estimate_tokens,
)
from studio.errors import BadInput, TooLarge
from studio.model import (
    Asset,
    AssetKind,
    AssetsDoc,
    AssetState,
    Beat,
    BeatSheet,
    ElementKind,
    FileRole,
    InputDoc,
    ProjectParams,
    ProjectState,
    Scene,
    SceneDoc,
    SceneWork,
    Script,
    ScriptElement,
    Shot,
    Stage,
    StagedFile,
    Staging,
    StylePack,
    Treatment,
)
from studio.wiring import build_studio

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"
SAMPLE = SAMPLES / "the_long_rain.fountain"
SHEET = SAMPLES / "the_long_rain.assets.json"
WIDE = Budget(100_000, 1_000)
NOTES = "Mara's grandmother kept a ledger of every storm since 1952."


def _scene(n: int, words: int = 0) -> SceneDoc:
    filler = " ".join(["rain"] * words)
    elements = (
        ScriptElement(kind=ElementKind.ACTION, text=f"Marker{n}-opening: Mara crosses room {n}. {filler}"),
        ScriptElement(kind=ElementKind.DIALOGUE, text=f"Marker{n}-speech, room {n}.", character="MARA"),
        ScriptElement(kind=ElementKind.ACTION, text=f"Marker{n}-closing: the lamp dies in room {n}."),
    )
    scene = Scene(id=f"sc-{n}", heading=f"INT. ROOM {n} - NIGHT", elements=elements,
                  characters=("MARA",))
    shots = (Shot(id=f"{n}A", duration_s=4.0, action=f"Shot{n}-action", camera="MS"),)
    state = (AssetState(asset_id="character-mara", condition_tags=(f"wet{n}",)),)
    return SceneDoc(scene=scene, work=SceneWork(shots=shots, visual_state=state))


def _state(scenes: int = 3, *, beats: bool = True, words: int = 0) -> ProjectState:
    docs = {f"sc-{n}": _scene(n, words) for n in range(1, scenes + 1)}
    params = ProjectParams(target_min_s=60, target_max_s=120, genres=("noir", "drama"),
                           tonal_precision="Quiet dread, no jokes, rain in every scene.",
                           written_style="terse present tense")
    staging = Staging(files=(
        StagedFile(name="script.fountain", media="a" * 64, size=1, role=FileRole.PRIMARY),
        StagedFile(name="notes.txt", media="b" * 64, size=1, tag="backstory"),
    ))
    assets = AssetsDoc(assets=(
        Asset(id="character-mara", kind=AssetKind.CHARACTER, name="MARA", description="A tired nurse."),
        Asset(id="prop-lamp", kind=AssetKind.PROP, name="LAMP", description="Brass, flickering."),
    ), style_pack="neo-noir")
    return ProjectState(
        input=InputDoc(params=params, staging=staging),
        treatment=Treatment(text="Mara waits out a storm and the truth about her brother."),
        beats=BeatSheet(beats=(Beat(id="b1", text="The storm arrives."),
                               Beat(id="b2", text="The lamp dies."))) if beats else BeatSheet(),
        script=Script(title="The Lamp", scene_ids=tuple(docs)),
        assets=assets,
        scenes=docs,
    )


STYLE_PACK = StylePack(id="neo-noir", name="Neo-noir", description="wet streets", lighting="low key")
FILES = {"a" * 64: "INT. NEVER SENT - DAY", "b" * 64: NOTES}


def _read(staged: StagedFile) -> str:
    return FILES[staged.media]


def _ctx(state, stage, budget=WIDE, **kw):
    return assemble(state, stage, budget, style=STYLE_PACK, read_file=_read, **kw)


# --------------------------------------------------------------------------- global / local


def test_a_phase_a_call_carries_the_global_context_and_no_scene():
    ctx = _ctx(_state(), Stage.BEATS)
    assert ctx.names == (PARAMS, SUMMARY, BEATS, STYLE, CHARACTERS, PROPS,
                         "context file: notes.txt [backstory]")
    assert {s.scope for s in ctx.sections} == {"global"}
    params = ctx.section(PARAMS).text
    for expected in ("60-120 seconds", "narrative short", "PG", "noir, drama", "Quiet dread"):
        assert expected in params
    assert "terse present tense" in ctx.section(STYLE).text and "low key" in ctx.section(STYLE).text
    assert NOTES in ctx.text
    assert "NEVER SENT" not in ctx.text, "the primary file is the script, not a context file"
    assert "Marker" not in ctx.text and "Shot1" not in ctx.text
    with pytest.raises(BadInput, match="film-wide"):
        _ctx(_state(), Stage.TREATMENT, scene=1)


def test_the_beat_sheet_is_there_only_when_there_is_one():
    assert BEATS not in _ctx(_state(beats=False), Stage.SCRIPT).names
    assert "2. The lamp dies." in _ctx(_state(), Stage.SCRIPT).section(BEATS).text


def test_a_phase_b_call_carries_its_scene_and_the_previous_end_state_only():
    state = _state(4)
    ctx = _ctx(state, Stage.SHOTS, scene="sc-3")
    assert ctx.names[-3:] == (PREVIOUS_END, SCENE_SCRIPT, SHOT_LIST)
    assert ctx.names[:3] == (PARAMS, SUMMARY, BEATS), "the global context is there too"
    assert "Marker3-opening" in ctx.section(SCENE_SCRIPT).text
    assert "Marker3-speech" in ctx.section(SCENE_SCRIPT).text
    assert "Shot3-action" in ctx.section(SHOT_LIST).text
    end = ctx.section(PREVIOUS_END).text
    assert "Marker2-closing" in end and "Marker2-speech" in end and "wet2" in end
    assert "Marker2-opening" not in ctx.text, "the previous scene gives its end, not its script"
    for other in (1, 4):
        assert f"Marker{other}" not in ctx.text and f"Shot{other}" not in ctx.text
    first = _ctx(state, Stage.VIDEO, scene=1)
    assert PREVIOUS_END not in first.names and first.scene_id == "sc-1"
    with pytest.raises(BadInput, match="which scene"):
        _ctx(state, Stage.HUB)


def test_staged_context_files_need_their_text():
    with pytest.raises(ValueError, match="read_file"):
        assemble(_state(), Stage.INPUT, WIDE)


# --------------------------------------------------------------------------- the budget


def test_counts_come_from_the_injected_counter_and_the_default_is_a_labelled_estimate():
    assert estimate_tokens("") == 0 and estimate_tokens("abcd") == 1 and estimate_tokens("abcde") == 2
    ctx = _ctx(_state(), Stage.BEATS)
    assert ctx.counter == ESTIMATE_LABEL
    assert all(s.tokens == estimate_tokens(s.text) for s in ctx.sections)

    def words(text: str) -> int:
        return len(text.split())

    counted = _ctx(_state(), Stage.BEATS, count=words, counter_label="words")
    assert counted.counter == "words"
    assert [s.tokens for s in counted.sections] == [len(s.text.split()) for s in counted.sections]
    assert counted.total == sum(s.tokens for s in counted.sections)


def test_when_the_budget_bites_the_lowest_priority_sections_are_left_out_and_recorded():
    state = _state(3)
    full = _ctx(state, Stage.SHOTS, scene=2)
    tokens = {s.name: s.tokens for s in full.sections}
    # Room for everything but the context file and the props (the two lowest priorities).
    keep = full.total - tokens["context file: notes.txt [backstory]"] - tokens[PROPS]
    tight = _ctx(state, Stage.SHOTS, Budget(keep + 100, 100), scene=2)
    assert tight.budget == keep and tight.total <= tight.budget
    assert [(o.name, o.tokens) for o in tight.left_out] == [
        (PROPS, tokens[PROPS]), ("context file: notes.txt [backstory]",
                                 tokens["context file: notes.txt [backstory]"])]
    assert SCENE_SCRIPT in tight.names and PARAMS in tight.names
    assert full.left_out == ()
    # A smaller section further down still gets in when a bigger one above it does not fit:
    # room for the parameters, the script and 13 tokens more takes the characters (13) past
    # the shot list (17), the end state, the style, the summary and the beats (14).
    assert tokens[CHARACTERS] == 13 and min(tokens[n] for n in (SHOT_LIST, PREVIOUS_END, STYLE,
                                                                SUMMARY, BEATS)) > 13
    room = tokens[PARAMS] + tokens[SCENE_SCRIPT] + 13
    just = _ctx(state, Stage.SHOTS, Budget(room + 1, 1), scene=2)
    assert set(just.names) == {PARAMS, SCENE_SCRIPT, CHARACTERS} and just.total == room
    assert [o.name for o in just.left_out] == [SHOT_LIST, PREVIOUS_END, STYLE, SUMMARY, BEATS, PROPS,
                                               "context file: notes.txt [backstory]"]


def test_the_scenes_own_script_is_never_cut():
    state = _state(2, words=2_000)
    with pytest.raises(ContextOverflow, match="never cut") as raised:
        _ctx(state, Stage.PROMPTS, Budget(1_000, 200), scene=2)
    assert isinstance(raised.value, TooLarge)
    script = _ctx(state, Stage.PROMPTS, scene=2).section(SCENE_SCRIPT)
    assert script.text.count("rain") == 2_000
    ctx = _ctx(state, Stage.PROMPTS, Budget(script.tokens + 210, 200), scene=2)
    assert ctx.section(SCENE_SCRIPT) == script, "kept whole"
    assert ctx.names == (SCENE_SCRIPT,) and len(ctx.left_out) == 9, "the rest made room for it"


def test_budget_is_validated():
    assert Budget(8192, 1024).available == 7168
    with pytest.raises(BadInput, match="reply reserve"):
        Budget(1000, 1000)
    with pytest.raises(BadInput):
        Budget(0, 0)


# --------------------------------------------------------------------------- reproducibility


def test_the_assembled_context_is_frozen_and_hashed_stably():
    a, b = _ctx(_state(), Stage.SHOTS, scene=2), _ctx(_state(), Stage.SHOTS, scene=2)
    assert a == b and len(a.digest) == 64 and a.digest == b.digest
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.total = 0  # type: ignore[misc]
    assert _ctx(_state(), Stage.SHOTS, scene=3).digest != a.digest
    assert _ctx(_state(), Stage.SHOTS, Budget(50_000, 1_000), scene=2).digest != a.digest
    edited = _state().model_copy(update={"treatment": Treatment(text="Another story.")})
    assert _ctx(edited, Stage.SHOTS, scene=2).digest != a.digest


# --------------------------------------------------------------------------- through the Studio


def test_no_phase_b_call_carries_another_scenes_script_on_a_real_project(tmp_path):
    studio = build_studio(Settings(home=tmp_path / "home"))
    project, _ = studio.new_project(
        "Long Rain", (SAMPLE.name, SAMPLE.read_bytes()), asset_sheet=(SHEET.name, SHEET.read_bytes())
    )
    pid = project.id
    studio.save_params(pid, {"tonal_precision": "Melancholy, wet, patient.", "genres": ["noir"]})
    studio.stage_file(pid, "notes.txt", NOTES.encode(), tag="backstory")
    lock_phase_a(studio, pid)
    studio.lock_shots(pid, 1)
    state = studio.state(pid)
    scenes = state.ordered_scenes()
    assert len(scenes) >= 3
    bodies = {d.scene.id: [e.text for e in d.scene.elements if len(e.text) > 25] for d in scenes}

    phase_a = studio.context_for(pid, Stage.BEATS)
    assert NOTES in phase_a.text and "Melancholy" in phase_a.text and "Neo" in phase_a.text
    assert all(s.scope == "global" for s in phase_a.sections)
    for texts in bodies.values():
        assert not any(t in phase_a.text for t in texts)

    for number, doc in enumerate(scenes, 1):
        ctx = studio.context_for(pid, Stage.SHOTS, number)
        assert ctx.scene_id == doc.scene.id and NOTES in ctx.text
        own = ctx.section(SCENE_SCRIPT).text
        assert doc.scene.heading in own
        previous_end = ctx.section(PREVIOUS_END).text if number > 1 else ""
        for other, texts in bodies.items():
            if other == doc.scene.id:
                continue
            leaked = [t for t in texts if t in ctx.text and " ".join(t.split()) not in previous_end]
            assert not leaked, f"scene {number}'s call carries {other}'s script: {leaked[:1]}"
    assert studio.context_for(pid, Stage.SHOTS, 1).section(SHOT_LIST) is not None

    tight = studio.context_for(pid, Stage.SHOTS, 2, context_length=900, reply_reserve=300)
    assert tight.total <= 600 and tight.left_out
    assert SCENE_SCRIPT in tight.names
