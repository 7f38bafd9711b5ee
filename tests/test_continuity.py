"""Stages 6 and 8: condition tags, visual-state inheritance, dependencies, the risk verdict."""

from __future__ import annotations

from pathlib import Path

import pytest

from studio import continuity, pipeline
from studio.assets import describe_from_mentions
from studio.model import (
    Asset,
    AssetKind,
    AssetsDoc,
    AssetState,
    CarryDecision,
    ElementKind,
    ProjectState,
    Scene,
    SceneDoc,
    SceneWork,
    Script,
    ScriptElement,
)
from studio.screenplay import parse_asset_sheet, parse_screenplay, split_heading
from studio.services import assets_from_script
from studio.services.planning import PlanningService

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "samples" / "the_long_rain.fountain"
SHEET = ROOT / "data" / "samples" / "the_long_rain.assets.json"

MIA = Asset(
    id="character-mia", kind=AssetKind.CHARACTER, name="MIA", description="Mia, dry grey coat."
)
OSKAR = Asset(
    id="character-oskar", kind=AssetKind.CHARACTER, name="OSKAR", description="Oskar, 74."
)
SHOP = Asset(id="location-shop", kind=AssetKind.LOCATION, name="SHOP", description="A narrow shop.")
UMBRELLA = Asset(
    id="prop-red-umbrella", kind=AssetKind.PROP, name="Red Umbrella", mentions=("sc-1",)
)
ASSETS = (MIA, OSKAR, SHOP, UMBRELLA)


def make_scene(n: int, heading: str, *body: str | tuple[str, str]) -> Scene:
    """A scene from a heading and body items: a string is action, (NAME, line) a speech."""
    elements = []
    for item in body:
        if isinstance(item, tuple):
            elements.append(
                ScriptElement(kind=ElementKind.DIALOGUE, character=item[0], text=item[1])
            )
        else:
            elements.append(ScriptElement(kind=ElementKind.ACTION, text=item))
    int_ext, location, time = split_heading(heading)
    speakers = tuple(dict.fromkeys(e.character for e in elements if e.character))
    return Scene(
        id=f"sc-{n}",
        heading=heading,
        int_ext=int_ext,
        location=location,
        time_of_day=time,
        elements=tuple(elements),
        characters=speakers,
    )


def make_state(scenes: list[Scene], assets: tuple[Asset, ...] = ASSETS) -> ProjectState:
    return ProjectState(
        script=Script(scene_ids=tuple(s.id for s in scenes), approved=True),
        assets=AssetsDoc(assets=assets),
        scenes={s.id: SceneDoc(scene=s) for s in scenes},
    )


def with_work(state: ProjectState, scene_id: str, **work) -> ProjectState:
    scenes = dict(state.scenes)
    doc = scenes[scene_id]
    scenes[scene_id] = doc.model_copy(update={"work": doc.work.model_copy(update=work)})
    return state.model_copy(update={"scenes": scenes})


def decide(
    state: ProjectState, scene_id: str, tag: str, carry: bool, asset_id: str = MIA.id
) -> ProjectState:
    decisions = (
        *state.scenes[scene_id].work.carry_decisions,
        CarryDecision(asset_id=asset_id, tag=tag, carry=carry),
    )
    return with_work(state, scene_id, carry_decisions=decisions)


def resolved(
    state: ProjectState, scene_id: str, asset_id: str = MIA.id
) -> continuity.ResolvedAsset:
    return next(
        r for r in continuity.resolve_visual_state(state, scene_id) if r.asset.id == asset_id
    )


WET_MIA = AssetState(
    asset_id=MIA.id, source="new", description="Mia, soaked to the skin.", condition_tags=("wet",)
)


@pytest.fixture
def four_scenes() -> ProjectState:
    """Mia in every scene; scene 2 saves her as wet."""
    state = make_state(
        [
            make_scene(
                1, "INT. SHOP - DAY", "Mia waits by the counter.", ("OSKAR", "We close at six.")
            ),
            make_scene(2, "EXT. BRIDGE - DUSK", "Mia crosses the bridge.", ("MIA", "Home.")),
            make_scene(3, "INT. SHOP - NIGHT", "Mia comes back.", ("OSKAR", "You are back.")),
            make_scene(4, "EXT. STREET - NIGHT", "Mia walks.", ("MIA", "Goodnight.")),
        ]
    )
    return with_work(state, "sc-2", visual_state=(WET_MIA,))


# --------------------------------------------------------------------------- condition tags


def sample_state() -> ProjectState:
    parsed = parse_screenplay(SAMPLE.read_text(encoding="utf-8"), name=SAMPLE.name)
    sheet = parse_asset_sheet(SHEET.read_bytes(), SHEET.name)
    assets, _ = assets_from_script(parsed, sheet)
    return make_state(list(parsed.scenes), assets)


def test_sample_scene_2_leaves_mia_wet() -> None:
    state = sample_state()
    bridge = state.scenes["sc-2"].scene
    assert continuity.suggest_condition_tags(bridge, "MIA") == ("wet",)
    assert continuity.suggest_condition_tags(bridge, "BUS DRIVER") == ()
    assert continuity.suggest_condition_tags(state.scenes["sc-1"].scene, "MIA") == ()
    # So scene 3 asks whether she is still wet.
    assert continuity.pending_carry_forward(state, "sc-3") == (("character-mia", "wet"),)


@pytest.mark.parametrize(
    ("text", "character", "expected"),
    [
        ("Mia stands there, DRIPPING.", "MIA", ("wet",)),
        ("Mia, rain-soaked, laughs.", "MIA", ("wet",)),
        ("Mia is drenched and mud-caked.", "MIA", ("wet", "muddy")),
        ("Oskar falls. He is bleeding and his shirt is torn.", "OSKAR", ("bloody", "torn")),
        ("Mia runs. She is soaked.", "MIA", ("wet",)),  # pronoun right after her name
        ("Mia runs. Oskar waits. She is soaked.", "MIA", ()),  # chain broken by another name
        ("Mia looks at Oskar. He is bruised.", "MIA", ()),  # two names: ambiguous pronoun
        ("Mia looks at Oskar. He is bruised.", "OSKAR", ()),
        ("Mia is not wet.", "MIA", ()),
        ("Mia is no longer bleeding.", "MIA", ()),
        ("Oskar is covered in mud.", "MIA", ()),
        ("Mia wipes her sweat-soaked brow.", "MIA", ("sweaty",)),
        ("The street is wet. Mia walks.", "MIA", ()),
        ("Mia looks dishevelled, her coat ripped.", "MIA", ("dishevelled", "torn")),
    ],
)
def test_suggest_condition_tags(text: str, character: str, expected: tuple[str, ...]) -> None:
    scene = make_scene(1, "INT. SHOP - DAY", text, ("MIA", "Hi."), ("OSKAR", "Hello."))
    assert continuity.suggest_condition_tags(scene, character) == expected


def test_condition_words_map_to_canonical_tags() -> None:
    for word in ("soaked", "drenched", "dripping", "rain-soaked", "wet"):
        assert continuity.CONDITION_WORDS[word] == "wet"
    for word in ("bloody", "bleeding", "blood-stained"):
        assert continuity.CONDITION_WORDS[word] == "bloody"
    assert continuity.CONDITION_WORDS["ripped"] == "torn"
    assert continuity.CONDITION_WORDS["mud-caked"] == "muddy"


# --------------------------------------------------------------------------- inheritance


def test_master_then_new_then_previous(four_scenes: ProjectState) -> None:
    first = resolved(four_scenes, "sc-1")
    assert first.state.source == "master"
    assert first.state.description == MIA.description
    assert first.state.condition_tags == () and first.pending_tags == ()

    second = resolved(four_scenes, "sc-2")
    assert second.state.source == "new"
    assert second.state.condition_tags == ("wet",)
    assert second.inherited_tags == ()

    third = resolved(four_scenes, "sc-3")
    assert third.state.source == "previous"
    assert third.state.description == "Mia, soaked to the skin."  # scene 2's final state
    assert third.state.condition_tags == ()
    assert third.pending_tags == ("wet",)
    assert continuity.pending_carry_forward(four_scenes, "sc-3") == ((MIA.id, "wet"),)


def test_undecided_tag_stays_pending(four_scenes: ProjectState) -> None:
    assert resolved(four_scenes, "sc-4").pending_tags == ("wet",)
    assert resolved(four_scenes, "sc-4").state.condition_tags == ()


@pytest.mark.parametrize(
    ("carry", "tags_3", "tags_4", "pending_4"),
    [
        (True, ("wet",), ("wet",), ()),  # carried: inherited in 3 and, without asking, in 4
        (False, (), (), ()),  # dropped: gone in 3 and not offered in 4
    ],
)
def test_carry_decision(
    four_scenes: ProjectState, carry: bool, tags_3: tuple, tags_4: tuple, pending_4: tuple
) -> None:
    state = decide(four_scenes, "sc-3", "wet", carry)
    third, fourth = resolved(state, "sc-3"), resolved(state, "sc-4")
    assert third.state.condition_tags == tags_3 and third.inherited_tags == tags_3
    assert third.pending_tags == ()
    assert fourth.state.condition_tags == tags_4 and fourth.inherited_tags == tags_4
    assert fourth.pending_tags == pending_4
    assert fourth.state.source == "previous"
    assert continuity.pending_carry_forward(state, "sc-3") == ()


def test_a_later_drop_decision_removes_a_carried_tag(four_scenes: ProjectState) -> None:
    state = decide(decide(four_scenes, "sc-3", "wet", True), "sc-4", "wet", False)
    assert resolved(state, "sc-4").state.condition_tags == ()


def test_character_skipping_a_scene_inherits_from_her_last_appearance() -> None:
    state = make_state(
        [
            make_scene(1, "INT. SHOP - DAY", "Mia waits.", ("MIA", "Hello.")),
            make_scene(2, "EXT. BRIDGE - DUSK", "Mia crosses.", ("MIA", "Home.")),
            make_scene(3, "INT. SHOP - NIGHT", "Oskar works alone.", ("OSKAR", "Quiet.")),
            make_scene(4, "INT. SHOP - NIGHT", "Mia returns.", ("MIA", "Me again.")),
        ]
    )
    state = with_work(state, "sc-2", visual_state=(WET_MIA,))
    assert MIA.id not in {r.asset.id for r in continuity.resolve_visual_state(state, "sc-3")}
    fourth = resolved(state, "sc-4")
    assert fourth.state.source == "previous"
    assert fourth.state.description == WET_MIA.description
    assert fourth.pending_tags == ("wet",)
    verdict, reasons = continuity.continuity_verdict(state, "sc-4")
    assert verdict == "Risky"
    assert any("end of scene 2" in r for r in reasons)
    # Oskar first appears in scene 3, so he starts from the master asset there.
    assert resolved(state, "sc-3", OSKAR.id).state.source == "master"
    # The shop (scenes 1, 3, 4) inherits from scene 3 in scene 4.
    assert resolved(state, "sc-4", SHOP.id).state.source == "previous"


def test_text_suggested_tags_count_only_without_a_saved_state() -> None:
    scenes = [
        make_scene(1, "EXT. BRIDGE - DUSK", "Mia is drenched.", ("MIA", "Cold.")),
        make_scene(2, "INT. SHOP - NIGHT", "Mia waits.", ("MIA", "Hello.")),
    ]
    state = make_state(scenes)
    assert resolved(state, "sc-2").pending_tags == ("wet",)
    saved = AssetState(asset_id=MIA.id, source="new", description="Mia, dry again.")
    edited = with_work(state, "sc-1", visual_state=(saved,))
    assert resolved(edited, "sc-2").pending_tags == ()
    assert resolved(edited, "sc-2").state.description == "Mia, dry again."


def test_saved_state_equal_to_the_inherited_one_keeps_its_source(four_scenes: ProjectState) -> None:
    same = AssetState(
        asset_id=MIA.id,
        source="previous",
        description="Mia, soaked to the skin.",
        condition_tags=(),
    )
    state = with_work(four_scenes, "sc-3", visual_state=(same,))
    third = resolved(state, "sc-3")
    assert third.state.source == "previous"
    assert third.pending_tags == ("wet",)  # still undecided
    changed = same.model_copy(update={"description": "Mia in a towel."})
    state = with_work(four_scenes, "sc-3", visual_state=(changed,))
    assert resolved(state, "sc-3").state.source == "new"


def test_scene_assets_characters_location_props() -> None:
    state = make_state(
        [
            make_scene(1, "INT. SHOP - DAY", "Mia finds a RED UMBRELLA.", ("MIA", "Oh.")),
            make_scene(
                2, "INT. SHOP - NIGHT", "Oskar opens the umbrella. Mia watches.", ("OSKAR", "Look.")
            ),
            make_scene(3, "EXT. STREET - NIGHT", "Rain.", ("OSKAR", "Wet.")),
        ]
    )
    ids = [
        [r.asset.id for r in continuity.resolve_visual_state(state, f"sc-{n}")] for n in (1, 2, 3)
    ]
    assert ids == [
        [MIA.id, SHOP.id, UMBRELLA.id],  # umbrella by its mentions
        [OSKAR.id, MIA.id, SHOP.id, UMBRELLA.id],  # Mia named in the action; umbrella in the text
        [OSKAR.id],  # no STREET asset
    ]


# --------------------------------------------------------------------------- dependencies


def test_scene_dependencies(four_scenes: ProjectState) -> None:
    state = decide(four_scenes, "sc-3", "wet", True)
    deps = continuity.scene_dependencies(state, "sc-3")
    assert deps.expected_characters == ("OSKAR", "MIA")
    assert deps.location == "SHOP"
    assert deps.previous_heading == "EXT. BRIDGE - DUSK"
    assert deps.previous_end_state == (("MIA", ("wet",)),)
    assert deps.carried_tags == (("MIA", "wet"),)
    assert deps.pending == ()
    first = continuity.scene_dependencies(state, "sc-1")
    assert first.previous_heading is None and first.previous_end_state == ()
    assert continuity.scene_dependencies(four_scenes, "sc-3").pending == ((MIA.id, "wet"),)


def test_unknown_scene_is_not_found(four_scenes: ProjectState) -> None:
    from studio.errors import NotFound

    with pytest.raises(NotFound):
        continuity.resolve_visual_state(four_scenes, "sc-99")


# --------------------------------------------------------------------------- verdict


def two(first: Scene, second: Scene) -> ProjectState:
    return make_state([first, second])


SHOP_DAY = make_scene(
    1, "INT. SHOP - DAY", "Mia and Oskar argue.", ("MIA", "No."), ("OSKAR", "Yes.")
)


@pytest.mark.parametrize(
    ("second", "verdict", "needle"),
    [
        (
            make_scene(2, "INT. SHOP - NIGHT", "Mia sits.", ("MIA", "Hm."), ("OSKAR", "Hm.")),
            "Safe",
            None,
        ),
        # CONTINUOUS into another place, somebody carries the action over: normal
        (make_scene(2, "INT. HALL - CONTINUOUS", "Mia storms in.", ("MIA", "Ugh.")), "Safe", None),
        # CONTINUOUS into another place, nobody from the end of scene 1 is here
        (make_scene(2, "EXT. PIER - CONTINUOUS", "Gulls wheel."), "Risky", "nobody from it"),
        # CONTINUOUS in the same place, Oskar vanishes without an exit
        (
            make_scene(2, "INT. SHOP - CONTINUOUS", "Mia sulks.", ("MIA", "Fine.")),
            "Risky",
            "Oskar is there",
        ),
        (
            make_scene(2, "INT. SHOP - MOMENTS LATER", "Mia sulks.", ("MIA", "Fine.")),
            "Risky",
            "without an exit",
        ),
        # time running backwards
        (
            make_scene(2, "INT. SHOP - DAWN", "Mia sits.", ("MIA", "Hm."), ("OSKAR", "Hm.")),
            "Risky",
            "backwards",
        ),
        (
            make_scene(
                2, "INT. SHOP - NEXT MORNING", "Mia sits.", ("MIA", "Hm."), ("OSKAR", "Hm.")
            ),
            "Safe",
            None,
        ),
        (
            make_scene(2, "INT. SHOP - MORNING - YEARS LATER", "Mia sits.", ("MIA", "Hm.")),
            "Safe",
            None,
        ),
    ],
)
def test_verdict_from_headings(second: Scene, verdict: str, needle: str | None) -> None:
    state = two(SHOP_DAY, second)
    got, reasons = continuity.continuity_verdict(state, "sc-2")
    assert got == verdict, reasons
    if needle:
        assert any(needle in r for r in reasons), reasons
    else:
        assert reasons == ()


def test_exit_before_a_continuous_scene_is_safe() -> None:
    first = make_scene(
        1,
        "INT. SHOP - DAY",
        ("OSKAR", "Goodbye."),
        "Oskar leaves by the back door.",
        ("MIA", "Bye."),
    )
    second = make_scene(2, "INT. SHOP - CONTINUOUS", "Mia sulks.", ("MIA", "Fine."))
    assert continuity.continuity_verdict(two(first, second), "sc-2") == ("Safe", ())


def test_time_going_backwards_needs_a_marker() -> None:
    night = make_scene(1, "INT. SHOP - NIGHT", "Mia sits.", ("MIA", "Hm."))
    day = make_scene(2, "INT. SHOP - DAY", "Mia sits.", ("MIA", "Hm."))
    verdict, reasons = continuity.continuity_verdict(two(night, day), "sc-2")
    assert verdict == "Risky"
    assert reasons == (
        "Scene 1 is at NIGHT and this one at DAY with no LATER or NEXT DAY in the heading: "
        "time seems to run backwards.",
    )


def test_pending_and_silently_dropped_tags_are_risky(four_scenes: ProjectState) -> None:
    verdict, reasons = continuity.continuity_verdict(four_scenes, "sc-3")
    assert verdict == "Risky"
    assert reasons == (
        "Mia was wet at the end of scene 2: decide whether to carry 'wet' into this scene.",
    )
    carried = decide(four_scenes, "sc-3", "wet", True)
    assert continuity.continuity_verdict(carried, "sc-3") == ("Safe", ())
    dry = AssetState(asset_id=MIA.id, source="new", description="Mia, dried off.")
    silently = with_work(carried, "sc-4", visual_state=(dry,))
    verdict, reasons = continuity.continuity_verdict(silently, "sc-4")
    assert verdict == "Risky"
    assert any("drops 'wet' without a carry-forward decision" in r for r in reasons)
    decided = decide(silently, "sc-4", "wet", False)
    assert continuity.continuity_verdict(decided, "sc-4") == ("Safe", ())


def _lock(state: ProjectState, scene_id: str) -> ProjectState:
    return with_work(
        state, scene_id, shots_lock=pipeline.lock_record(state, scene_id, "lock shots")
    )


def _edit(state: ProjectState, scene_id: str, text: str) -> ProjectState:
    scenes = dict(state.scenes)
    doc = scenes[scene_id]
    element = ScriptElement(kind=ElementKind.ACTION, text=text)
    scene = doc.scene.model_copy(update={"elements": (element, *doc.scene.elements)})
    scenes[scene_id] = doc.model_copy(update={"scene": scene})
    return state.model_copy(update={"scenes": scenes})


@pytest.mark.parametrize(
    ("edited", "needle"),
    [
        ("sc-1", "Continuity broken: an earlier scene changed"),  # cascade from scene 1
        ("sc-2", "This scene is Outdated"),
    ],
)
def test_invalidated_scene_is_broken(four_scenes: ProjectState, edited: str, needle: str) -> None:
    state = _lock(decide(four_scenes, "sc-3", "wet", True), "sc-2")
    assert continuity.continuity_verdict(state, "sc-2") == ("Safe", ())
    verdict, reasons = continuity.continuity_verdict(_edit(state, edited, "Thunder."), "sc-2")
    assert verdict == "Broken"
    assert any(r.startswith(needle) for r in reasons), reasons


def test_sample_verdicts() -> None:
    state = sample_state()
    verdicts = [continuity.continuity_verdict(state, f"sc-{n}")[0] for n in range(1, 5)]
    assert verdicts == ["Safe", "Safe", "Risky", "Risky"]


# --------------------------------------------------------------------------- rearview mirror


def test_rearview_on_the_sample() -> None:
    state = sample_state()
    action, speech = continuity.last_action_and_dialogue(state.scenes["sc-1"].scene)
    assert (
        action == "He switches off the green lamp. The umbrellas above them vanish into the dark."
    )
    assert speech == "OSKAR: Put it away. Letters keep. We are closed."


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ((), (None, None)),
        (("Rain.",), ("Rain.", None)),
        ((("MIA", "Hi."),), (None, "MIA: Hi.")),
        (
            ("First.", ("OSKAR", "Thirty-one years.\n(barely audible)\nNever."), "Last\n  line."),
            ("Last line.", "OSKAR: Thirty-one years. (barely audible) Never."),
        ),
    ],
)
def test_rearview(body: tuple, expected: tuple[str | None, str | None]) -> None:
    scene = make_scene(1, "INT. SHOP - DAY", *body)
    assert continuity.last_action_and_dialogue(scene) == expected


def test_scene_work_default_is_empty() -> None:
    assert SceneWork().visual_state == () and SceneWork().carry_decisions == ()


# --------------------------------------------------------------------------- described so far


def margit_state() -> ProjectState:
    """Margit in scenes 1, 2 and 4, soaked through only in scene 4; her master description
    pre-filled from every mention, as stage 5 fills it."""
    scenes = [
        make_scene(1, "INT. TRAM STOP - DAY", "MARGIT (70s) waits under a green hat."),
        make_scene(2, "INT. CAFE - DAY", "Margit stirs her tea."),
        make_scene(3, "EXT. PARK - DAY", "Pigeons scatter."),
        make_scene(4, "EXT. BRIDGE - NIGHT", "Margit, soaked through, grips the rail."),
    ]
    margit = Asset(id="character-margit", kind=AssetKind.CHARACTER, name="MARGIT")
    margit = margit.model_copy(update={"description": describe_from_mentions(scenes, margit)})
    assert "soaked through" in margit.description
    return make_state(scenes, (margit,))


def described(state: ProjectState, scene_id: str) -> str:
    return resolved(state, scene_id, "character-margit").state.description


def test_a_scene_is_described_only_by_what_the_script_established_so_far() -> None:
    state = margit_state()
    assert "green hat" in described(state, "sc-1")
    assert "soaked through" not in described(state, "sc-1")  # that happens in scene 4
    assert "stirs her tea" not in described(state, "sc-1")
    assert "stirs her tea" in described(state, "sc-2")
    assert "soaked through" not in described(state, "sc-2")
    assert "soaked through" in described(state, "sc-4")


def test_a_written_description_and_a_saved_state_are_kept_as_they_are() -> None:
    state = margit_state()
    (margit,) = state.assets.assets
    written = margit.model_copy(update={"description": "Margit, 74, soaked through and proud."})
    state = state.model_copy(update={"assets": AssetsDoc(assets=(written,))})
    assert described(state, "sc-1") == written.description  # not script sentences: kept
    saved = AssetState(asset_id=margit.id, source="new", description="Margit in a red coat.")
    state = with_work(margit_state(), "sc-1", visual_state=(saved,))
    assert described(state, "sc-1") == "Margit in a red coat."
    assert described(state, "sc-2") == "Margit in a red coat."  # inherited, as saved


def test_prompt_assets_fall_back_to_nothing_later() -> None:
    # Margit only speaks in scene 1; the script describes her first in scene 4.
    scenes = [
        make_scene(1, "INT. TRAM STOP - DAY", "A tram passes.", ("MARGIT", "Late again.")),
        make_scene(2, "EXT. BRIDGE - NIGHT", "Margit, soaked through, grips the rail."),
    ]
    margit = Asset(id="character-margit", kind=AssetKind.CHARACTER, name="MARGIT")
    margit = margit.model_copy(update={"description": describe_from_mentions(scenes, margit)})
    state = make_state(scenes, (margit,))
    assert described(state, "sc-1") == ""
    # Stage 9 builds its prompt assets from the resolved state (the method reads no self).
    (scene_1,) = PlanningService._prompt_assets(None, state, "sc-1")  # type: ignore[arg-type]
    assert "soaked through" not in scene_1.description
    (scene_2,) = PlanningService._prompt_assets(None, state, "sc-2")  # type: ignore[arg-type]
    assert "soaked through" in scene_2.description
