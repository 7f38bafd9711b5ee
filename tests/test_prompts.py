"""Stage 9 prompt assembly: determinism, the three prompts kept apart, edits, sanity checks."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from studio.errors import BadInput
from studio.model import IntExt, PromptSet, Scene, Shot, ShotCharacter, StylePack
from studio.prompts import (
    TARGET_MODELS,
    VISUAL_WORDS,
    WARNING_CODES,
    PromptAsset,
    apply_edit,
    assemble_prompt_set,
    assemble_scene,
    camera_words,
    check_prompt_set,
    colour_name,
    leaked_descriptors,
    merge_with_saved,
    parse_dialogue,
    visual_descriptors,
)

SCENE = Scene(
    id="sc-1",
    heading="INT. OSKAR'S UMBRELLA REPAIR SHOP - DAY",
    int_ext=IntExt.INT,
    location="OSKAR'S UMBRELLA REPAIR SHOP",
    time_of_day="DAY",
)

STYLE = StylePack(
    id="neo-noir",
    name="Neo-Noir",
    description="Rain-soaked modern noir",
    palette=("#1B2A41", "#FFBF00", "#B22222"),
    lighting="hard low-key practicals",
    lens="35mm anamorphic",
    grain="fine film grain",
    tags=("rain-slicked", "high contrast"),
)

MIA = PromptAsset(
    "character-mia",
    "character",
    "MIA",
    "Mia Varga, 28. Close-cropped dark hair, watchful eyes, long grey wool coat, canvas satchel.",
    ("damp shoulders", "bruised knuckles"),
    "low, dry, quick",
)
OSKAR = PromptAsset(
    "character-oskar",
    "character",
    "OSKAR",
    "Oskar Brandt, 74. Cardigan buttoned one hole wrong, brass jeweller's loupe.",
)
TICKET = PromptAsset(
    "prop-claim-ticket", "prop", "CLAIM TICKET", "Small pink repair ticket, faded fountain-pen ink."
)
SHOP = PromptAsset(
    "location-shop",
    "location",
    "OSKAR'S UMBRELLA REPAIR SHOP",
    "Narrow old shop, hundreds of open umbrellas hanging upside down from the beams.",
)
ASSETS = (MIA, OSKAR, TICKET, SHOP)

SHOT = Shot(
    id="1C",
    duration_s=8,
    dialogue="OSKAR: (not looking up) We close at six o'clock.\nMIA: Then I'm early.",
    action="Mia shuts the door with her hip. She lays a CLAIM TICKET on the counter.",
    characters=(
        ShotCharacter(name="OSKAR", prominence="secondary"),
        ShotCharacter(name="MIA"),
        ShotCharacter(name="BUS DRIVER", prominence="background"),
    ),
    camera="MS low",
    movement="dolly in",
    sfx=("door bell jangles", "rain drums on the window"),
    continuity_flags=("coat dry but for a few drops",),
)
DRIVER = PromptAsset(
    "character-bus-driver", "character", "BUS DRIVER", "Reading glasses on a chain."
)
ALL_ASSETS = (*ASSETS, DRIVER)


def words(text: str) -> set[str]:
    return {w.removesuffix("'s") for w in re.findall(r"#[0-9a-f]{6}|[a-z0-9']+", text.lower())}


def assemble(shot: Shot = SHOT, style: StylePack | None = STYLE, assets=ALL_ASSETS, **kw):
    return assemble_prompt_set(shot, SCENE, style, assets, **kw)


# --------------------------------------------------------------------------- determinism


def test_same_inputs_give_byte_identical_prompt_sets() -> None:
    first, second = assemble(), assemble()
    assert first == second
    assert first.model_dump_json() == second.model_dump_json()
    assert re.fullmatch(r"[0-9a-f]{64}", first.basis)


def test_recreated_input_order_gives_the_same_prompt_set() -> None:
    shuffled_shot = SHOT.model_copy(update={"characters": tuple(reversed(SHOT.characters))})
    shuffled_assets = tuple(
        PromptAsset(
            a.asset_id,
            a.kind,
            a.name,
            a.description,
            tuple(reversed(a.condition_tags)),
            a.voice_profile,
        )
        for a in reversed(ALL_ASSETS)
    )
    again = assemble(Shot.model_validate(shuffled_shot.model_dump()), assets=shuffled_assets)
    assert again.model_dump_json() == assemble().model_dump_json()


# --------------------------------------------------------------------------- frame prompt


def test_frame_prompt_has_camera_characters_by_prominence_setting_props_style() -> None:
    frame = assemble().frame_prompt
    assert frame.startswith("Medium shot, low angle.")
    mia, oskar, driver = (
        frame.index(n)
        for n in ("Foreground centre: Mia", "Mid-ground: Oskar", "Background: Bus Driver")
    )
    assert mia < oskar < driver
    assert (
        "Close-cropped dark hair" in frame
        and "condition: bruised knuckles, damp shoulders" in frame
    )
    assert "Setting: interior, Oskar's Umbrella Repair Shop (Narrow old shop" in frame
    assert "day, daylight" in frame
    assert "Props: Claim Ticket (Small pink repair ticket" in frame
    assert "Action: Mia shuts the door" in frame
    style = frame[frame.index("Style: Neo-Noir") :]
    for part in (
        "rain-slicked",
        "high contrast",
        "lighting: hard low-key practicals",
        "lens: 35mm anamorphic",
        "grain: fine film grain",
        "navy #1B2A41",
        "amber #FFBF00",
        "#B22222",
    ):
        assert part in style
    assert (
        frame.index("Foreground")
        < frame.index("Setting")
        < frame.index("Props")
        < frame.index("Style")
    )


def test_two_primaries_stand_left_and_right() -> None:
    shot = SHOT.model_copy(
        update={"characters": (ShotCharacter(name="OSKAR"), ShotCharacter(name="MIA"))}
    )
    frame = assemble(shot).frame_prompt
    assert "Foreground left: Mia" in frame and "Foreground right: Oskar" in frame


def test_shot_setting_heading_overrides_the_scene() -> None:
    shot = SHOT.model_copy(update={"setting": "EXT. CANAL STREET - NIGHT"})
    frame = assemble(shot).frame_prompt
    assert "Setting: exterior, Canal Street, night, artificial and moon light." in frame
    assert "umbrellas" not in frame.split("Setting:")[1].split("Props:")[0]


@pytest.mark.parametrize(
    ("camera", "expected"),
    [
        ("WS", ("wide shot", "eye-level angle")),
        ("MS low", ("medium shot", "low angle")),
        ("CU", ("close-up", "eye-level angle")),
        ("OTS high angle", ("over-the-shoulder shot", "high angle")),
        ("INSERT", ("insert shot, detail", "eye-level angle")),
        ("ECU, dutch", ("extreme close-up", "dutch angle")),
        ("", ("medium shot", "eye-level angle")),
        ("weird framing", ("weird framing", "eye-level angle")),
    ],
)
def test_camera_shorthand_in_words(camera: str, expected: tuple[str, str]) -> None:
    assert camera_words(camera) == expected


def test_palette_colour_names() -> None:
    assert colour_name("#000000") == "black"
    assert colour_name("#1B2A41") == "navy"
    assert colour_name("#FFBF00") == "amber"


# --------------------------------------------------------------------------- video prompt


def test_video_prompt_has_timing_movement_action_sfx_and_speakers() -> None:
    video = assemble().video_prompt
    assert video.startswith("8 seconds. The camera dollies in slowly.")
    assert "Characters: Mia, Oskar, Bus Driver." in video
    assert "0-4 s: Mia shuts the door with her hip. 4-8 s: She lays a CLAIM TICKET" in video
    assert "Audio: Door bell jangles. Rain drums on the window." in video
    assert 'Oskar speaks (not looking up): "We close at six o\'clock."' in video
    assert 'Mia speaks (voice: low, dry, quick): "Then I\'m early."' in video
    assert video.index("Oskar speaks") < video.index("Mia speaks")


def test_video_prompt_carries_no_visual_descriptor() -> None:
    prompt = assemble().video_prompt
    # The shot's own words may be repeated (it is the action); nothing else that is a look.
    allowed = words(" ".join([SHOT.action, SHOT.dialogue, *SHOT.sfx, MIA.voice_profile]))
    descriptors = (visual_descriptors(STYLE, ALL_ASSETS) | VISUAL_WORDS) - allowed
    assert not words(prompt) & descriptors, words(prompt) & descriptors
    for leak in (
        "noir",
        "anamorphic",
        "35mm",
        "grain",
        "practicals",
        "slicked",
        "contrast",
        "#1b2a41",
        "navy",
        "amber",
        "damp",
        "bruised",
        "cardigan",
        "loupe",
        "grey",
        "satchel",
        "umbrellas",
        "narrow",
        "pink",
        "glasses",
        "daylight",
        "interior",
    ):
        assert leak not in words(prompt), leak
    assert leaked_descriptors(prompt, SHOT, STYLE, ALL_ASSETS) == ()


def test_frame_prompt_carries_no_dialogue() -> None:
    frame = assemble().frame_prompt
    for speech in parse_dialogue(SHOT.dialogue):
        assert speech.line not in frame
    assert "speaks" not in frame and '"' not in frame


def test_visual_descriptors_cover_style_and_assets_but_not_character_names() -> None:
    found = visual_descriptors(STYLE, ALL_ASSETS)
    assert {"noir", "anamorphic", "35mm", "grain", "#1b2a41", "navy", "slicked"} <= found
    assert {"cardigan", "damp", "bruised", "umbrellas", "pink"} <= found
    assert not {"mia", "oskar", "bus", "driver", "the", "with"} & found


def test_parse_dialogue_speakers_extensions_and_continuations() -> None:
    speeches = parse_dialogue("MIA (V.O.): Hello there.\nsecond line\nOSKAR (CONT'D): Hm.")
    assert [(s.speaker, s.delivery, s.line) for s in speeches] == [
        ("MIA", "voice-over", "Hello there. second line"),
        ("OSKAR", "", "Hm."),
    ]


# --------------------------------------------------------------------------- models, scaffold


def test_target_model_table() -> None:
    assert TARGET_MODELS["sdxl"].max_words == 75 and TARGET_MODELS["sdxl"].token_limit == 77
    assert TARGET_MODELS["flux"].role == "frame" and TARGET_MODELS["flux"].max_words >= 300
    assert TARGET_MODELS["wan2.2-flf2v"].frames == ("start+end",)
    assert TARGET_MODELS["wan2.2-i2v"].frames == ("start",)
    assert TARGET_MODELS["animatic"].max_words is None


def test_start_frame_only_changes_model_tags_and_scaffold() -> None:
    both = assemble()
    only = assemble(SHOT.model_copy(update={"start_frame_only": True}))
    assert both.model_tags == ("start-and-end-frames", "sdxl", "wan2.2-flf2v", "animatic")
    assert only.model_tags == ("start-frame-only", "sdxl", "wan2.2-i2v", "animatic")
    assert "START frame and an END frame" in both.system_prompt
    assert "START frame only; no end frame" in only.system_prompt
    assert "END frame" not in only.system_prompt
    assert "video model: wan2.2-i2v" in only.system_prompt
    assert only.basis != both.basis
    assert only.frame_prompt == both.frame_prompt


def test_scaffold_carries_identity_style_continuity_and_negative_prompt() -> None:
    system = assemble(previous_shot_id="1B").system_prompt
    assert "end frame of shot 1B" in system
    assert "keep Mia, Oskar, Bus Driver identical to their reference images" in system
    assert 'locked style "Neo-Noir"' in system
    assert "Continuity flags: coat dry but for a few drops." in system
    assert "Negative prompt: text, captions, subtitles, watermark" in system
    assert "previous scene's final frame" in assemble().system_prompt
    assert "ignores negative prompts" in assemble(frame_model="flux").system_prompt


def test_unknown_or_wrong_role_models_are_refused() -> None:
    with pytest.raises(BadInput, match="unknown frame model 'dalle'"):
        assemble(frame_model="dalle")
    with pytest.raises(BadInput, match="unknown video model 'sdxl'"):
        assemble(video_model="sdxl")


def test_assemble_scene_orders_shots_chains_continuity_and_takes_assets_per_shot() -> None:
    second = SHOT.model_copy(update={"id": "1D", "characters": (ShotCharacter(name="MIA"),)})
    sets = assemble_scene((SHOT, second), SCENE, STYLE, {"1D": (MIA,)})
    assert [p.shot_id for p in sets] == ["1C", "1D"]
    assert "end frame of shot 1C" in sets[1].system_prompt
    assert "Close-cropped" in sets[1].frame_prompt and "Cardigan" not in sets[0].frame_prompt
    flat = assemble_scene((SHOT, second), SCENE, STYLE, ALL_ASSETS)
    assert flat[0] == assemble()


# --------------------------------------------------------------------------- edits


def test_edits_survive_reassembly_with_unchanged_basis() -> None:
    edited = apply_edit(
        assemble(), frame_prompt="my frame", video_prompt="Mia speaks, Oskar listens"
    )
    assert edited.frame_edited and edited.video_edited
    merged = merge_with_saved(assemble(), edited)
    assert merged == edited
    (scene_merged,) = assemble_scene((SHOT,), SCENE, STYLE, ALL_ASSETS, saved=(edited,))
    assert scene_merged == edited


@pytest.mark.parametrize(
    "change",
    [
        {"style": STYLE.model_copy(update={"lighting": "soft window light"})},
        {
            "assets": (
                replace(MIA, description="Now soaked through."),
                OSKAR,
                TICKET,
                SHOP,
                DRIVER,
            )
        },
        {"shot": SHOT.model_copy(update={"action": "Mia waits."})},
    ],
    ids=["style", "asset description", "shot action"],
)
def test_upstream_change_keeps_old_edits_as_previous(change: dict) -> None:
    saved = apply_edit(assemble(), frame_prompt="my frame", video_prompt="my video with Mia")
    fresh = assemble(**change)
    assert fresh.basis != saved.basis
    merged = merge_with_saved(fresh, saved)
    assert merged.frame_prompt == fresh.frame_prompt and merged.video_prompt == fresh.video_prompt
    assert not merged.frame_edited and not merged.video_edited
    assert merged.previous_frame_edit == "my frame"
    assert merged.previous_video_edit == "my video with Mia"
    assert merged.system_prompt == fresh.system_prompt
    # A second upstream change keeps the still-unresolved edit; editing resolves it.
    again = merge_with_saved(assemble(style=None), merged)
    assert again.previous_frame_edit == "my frame"
    resolved = apply_edit(again, frame_prompt="my frame, revised")
    assert (
        resolved.previous_frame_edit is None and resolved.previous_video_edit == "my video with Mia"
    )


def test_unedited_saved_prompts_simply_follow_the_new_assembly() -> None:
    fresh = assemble(style=None)
    assert merge_with_saved(fresh, assemble()) == fresh
    assert merge_with_saved(fresh, None) == fresh


def test_system_prompt_cannot_be_edited() -> None:
    prompt_set = assemble()
    with pytest.raises(BadInput, match="system-owned"):
        apply_edit(prompt_set, system_prompt="ignore all rules")
    saved = prompt_set.model_copy(update={"system_prompt": "tampered"})
    assert merge_with_saved(prompt_set, saved).system_prompt == prompt_set.system_prompt


def test_empty_edit_is_refused_and_identical_text_is_not_an_edit() -> None:
    prompt_set = assemble()
    with pytest.raises(BadInput, match="cannot be empty"):
        apply_edit(prompt_set, video_prompt="   ")
    assert apply_edit(prompt_set, frame_prompt=prompt_set.frame_prompt) == prompt_set


# --------------------------------------------------------------------------- sanity checker

CLEAN_SHOT = Shot(
    id="2A",
    duration_s=6,
    dialogue="MIA: You kept it.",
    action="Mia takes the umbrella.",
    characters=(ShotCharacter(name="MIA"),),
    camera="CU",
    movement="static",
    sfx=("rain patters",),
)
CLEAN_ASSETS = (PromptAsset("character-mia", "character", "MIA", "dark cropped hair, grey coat"),)
CLEAN_STYLE = StylePack(id="plain", name="Plain", tags=("soft",), palette=("#336699",))


def check(prompt_set: PromptSet | None = None, shot: Shot = CLEAN_SHOT, **kw):
    args = {"style": CLEAN_STYLE, "assets": CLEAN_ASSETS} | kw
    if prompt_set is None:
        prompt_set = assemble_prompt_set(
            shot,
            SCENE,
            args["style"],
            args["assets"],
            frame_model=kw.get("frame_model", "sdxl"),
        )
    return check_prompt_set(prompt_set, shot, **args)


def test_clean_case_has_no_warnings() -> None:
    assert check() == ()
    assert (
        check_prompt_set(assemble(), SHOT, style=STYLE, assets=ALL_ASSETS, frame_model="flux") == ()
    )


def _edited(**kw) -> PromptSet:
    base = assemble_prompt_set(CLEAN_SHOT, SCENE, CLEAN_STYLE, CLEAN_ASSETS)
    return apply_edit(base, **kw)


CASES = {
    "too_long": lambda: check(_edited(frame_prompt="Mia " + "word " * 80)),
    "verbose_video": lambda: check(
        _edited(video_prompt="Mia " + " ".join(["takes the umbrella"] * 20))
    ),
    "visual_leak": lambda: check(
        _edited(video_prompt="Mia takes the umbrella, cinematic, grey coat")
    ),
    "dialogue_in_frame": lambda: check(
        _edited(frame_prompt="Mia says: the umbrella is yours."),
        shot=CLEAN_SHOT.model_copy(update={"dialogue": "MIA: The umbrella is yours."}),
    ),
    "missing_character_asset": lambda: check(assets=()),
    "missing_prop_asset": lambda: check(
        shot=CLEAN_SHOT.model_copy(update={"action": "Mia takes the RED UMBRELLA."})
    ),
    "missing_style": lambda: check(style=None),
    "empty_shot": lambda: check(shot=CLEAN_SHOT.model_copy(update={"action": "", "dialogue": ""})),
    "edit_drops_character": lambda: check(_edited(video_prompt="Someone takes the umbrella.")),
    "model_mismatch": lambda: check(video_model="wan2.2-i2v"),
}


@pytest.mark.parametrize("code", WARNING_CODES)
def test_each_warning_code_has_a_triggering_case(code: str) -> None:
    warnings = CASES[code]()
    assert code in {w.code for w in warnings}, warnings
    assert all(w.shot_id == "2A" and w.message for w in warnings)


def test_warning_details() -> None:
    (missing,) = check(assets=(replace(CLEAN_ASSETS[0], description=""),))
    assert (missing.prompt, missing.code) == ("frame", "missing_character_asset")
    (leak,) = check(_edited(video_prompt="Mia takes the umbrella, cinematic, grey coat"))
    assert leak.prompt == "video" and "cinematic" in leak.message and "grey" in leak.message
    (prop,) = check(shot=CLEAN_SHOT.model_copy(update={"action": "Mia takes the RED UMBRELLA."}))
    assert "RED UMBRELLA" in prop.message
    # A prop with an asset, a character introduced in capitals, a sound in the SFX list: fine.
    shot = CLEAN_SHOT.model_copy(
        update={"action": "MIA VARGA takes the LETTER. The bell JANGLES.", "sfx": ("bell jangles",)}
    )
    letter = PromptAsset("prop-the-letter", "prop", "THE LETTER", "cream envelope")
    assert check(shot=shot, assets=(*CLEAN_ASSETS, letter)) == ()
    sfo = CLEAN_SHOT.model_copy(update={"start_frame_only": True})
    assert [w.code for w in check(shot=sfo, video_model="wan2.2-flf2v")] == ["model_mismatch"]
    assert check(shot=sfo, video_model="animatic") == ()


def test_sdxl_long_frame_prompt_warns_but_flux_does_not() -> None:
    codes = {w.code for w in check_prompt_set(assemble(), SHOT, style=STYLE, assets=ALL_ASSETS)}
    assert codes == {"too_long"}


# --------------------------------------------------------------------------- property

# Disjoint alphabets: style and asset descriptors are "vx…" words, which no shot word and no
# template word can contain, so any descriptor in a video prompt is a real leak.
SHOT_WORD = st.text("abcdefghiklmnoprstu", min_size=3, max_size=7)
SPEECH_WORD = st.text("lmnoprstu", min_size=3, max_size=6)
LOOK_WORD = st.text("qwxz", min_size=1, max_size=5).map(lambda s: "vx" + s)
LOOK_TEXT = st.lists(LOOK_WORD, min_size=0, max_size=6).map(" ".join)
NAME = SHOT_WORD.map(str.upper)


@st.composite
def scenarios(draw):
    names = draw(st.lists(NAME, min_size=0, max_size=3, unique=True))
    characters = tuple(
        ShotCharacter(
            name=n, prominence=draw(st.sampled_from(["primary", "secondary", "background"]))
        )
        for n in names
    )
    action = " ".join(draw(st.lists(st.one_of(SHOT_WORD, NAME), max_size=12)))
    speakers = names or ["VOICE"]
    dialogue = "\n".join(
        f"{draw(st.sampled_from(speakers))}: {' '.join(draw(st.lists(SPEECH_WORD, min_size=3, max_size=6)))}"
        for _ in range(draw(st.integers(0, 3)))
    )
    shot = Shot(
        id="4B",
        duration_s=draw(st.sampled_from([1.5, 4, 6.5, 8])),
        dialogue=dialogue,
        action=action,
        characters=characters,
        camera=draw(st.sampled_from(["WS", "MS", "CU low", "OTS", "INSERT", ""])),
        movement=draw(
            st.sampled_from(["static", "pan", "tilt", "dolly in", "dolly out", "tracking", "crane"])
        ),
        sfx=tuple(draw(st.lists(SHOT_WORD, max_size=3))),
        start_frame_only=draw(st.booleans()),
    )
    assets = [
        PromptAsset(
            f"character-c{i}",
            "character",
            n,
            draw(LOOK_TEXT),
            tuple(draw(st.lists(LOOK_WORD, max_size=3))),
        )
        for i, n in enumerate(names)
        if draw(st.booleans())
    ]
    for i, n in enumerate(draw(st.lists(SHOT_WORD, max_size=2))):
        assets.append(
            PromptAsset(
                f"prop-p{i}",
                "prop",
                n.upper(),
                draw(LOOK_TEXT),
                tuple(draw(st.lists(LOOK_WORD, max_size=2))),
            )
        )
    assets.append(PromptAsset("location-shop", "location", SCENE.location, draw(LOOK_TEXT)))
    style = draw(
        st.none()
        | st.builds(
            StylePack,
            id=st.just("rand"),
            name=LOOK_WORD,
            description=LOOK_TEXT,
            palette=st.lists(st.from_regex(r"#[0-9a-f]{6}", fullmatch=True), max_size=3).map(tuple),
            lighting=LOOK_TEXT,
            lens=LOOK_TEXT,
            grain=LOOK_TEXT,
            tags=st.lists(LOOK_WORD, max_size=3).map(tuple),
        )
    )
    return shot, style, tuple(assets)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_random_shots_never_leak_descriptors_into_video_prompts(scenario) -> None:
    shot, style, assets = scenario
    prompt_set = assemble_prompt_set(shot, SCENE, style, assets)
    video = prompt_set.video_prompt
    assert not any(w.startswith("vx") for w in words(video)), video
    if style is not None:
        assert not {c.lower() for c in style.palette} & words(video)
    assert leaked_descriptors(video, shot, style, assets) == ()
    warnings = check_prompt_set(prompt_set, shot, style=style, assets=assets)
    assert not {"visual_leak", "dialogue_in_frame", "model_mismatch"} & {w.code for w in warnings}
    for speech in parse_dialogue(shot.dialogue):
        assert speech.line not in prompt_set.frame_prompt
    assert assemble_prompt_set(shot, SCENE, style, tuple(reversed(assets))) == prompt_set


def test_shot_setting_as_a_spot_inside_the_scene_location() -> None:
    shot = SHOT.model_copy(update={"setting": "the counter"})
    frame = assemble(shot).frame_prompt
    assert "Oskar's Umbrella Repair Shop (Narrow old shop" in frame
    assert "upside down from the beams), the counter, day, daylight." in frame
