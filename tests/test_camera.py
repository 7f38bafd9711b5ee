"""One camera vocabulary: the breakdown writes it, the prompts word it, the animatic draws it."""

from __future__ import annotations

from typing import get_args

import pytest

from render import animatic
from studio.breakdown import breakdown_scene
from studio.camera import (
    ANGLES,
    BY_KIND,
    MOVES,
    SHORTHANDS,
    TIGHTNESS,
    Framing,
    Shorthand,
    parse_camera,
)
from studio.caps import in_frame, mentions_name, off_screen, off_screen_voices
from studio.model import CameraMove, RenderCharacter, RenderSpec, Shot, ShotCharacter
from studio.prompts import PromptAsset, assemble_prompt_set, camera_words, check_prompt_set
from studio.screenplay import parse_screenplay


def spec_for(camera: str, characters: tuple[str, ...] = ("MIA",), **shot: object) -> RenderSpec:
    made = Shot(
        id="1C",
        duration_s=2.0,
        action=shot.pop("action", "Mia stares at the letter."),  # type: ignore[arg-type]
        dialogue=shot.pop("dialogue", ""),  # type: ignore[arg-type]
        characters=tuple(ShotCharacter(name=n) for n in characters),
        setting="INT. UMBRELLA SHOP - NIGHT",
        camera=camera,
    )
    return RenderSpec(
        kind="frame", project_id="p", scene_id="sc-1", shot_id=made.id, which="start", seed=3,
        width=426, height=240, fps=24, duration_s=made.duration_s, start_s=0.0, shot=made,
        scene_heading="INT. UMBRELLA SHOP - NIGHT", int_ext="INT", location="UMBRELLA SHOP",
        time_of_day="NIGHT",
        characters=tuple(RenderCharacter(name=n) for n in characters),
    )  # fmt: skip


def drawn_height(camera: str, name: str = "MIA") -> float:
    """The drawn height of ``name``'s figure (in view heights) in the shot's start panel."""
    figures = {f.name: f for f in animatic._plan(spec_for(camera), "start").figures}
    return figures[name].height


def test_bcu_is_prompted_and_drawn_as_a_big_close_up() -> None:
    # The issue: "BCU on MIA" was prompted as a big close-up and drawn as a medium shot.
    assert camera_words("BCU on MIA")[0].startswith("big close-up")
    assert drawn_height("CU on MIA") < drawn_height("BCU on MIA") < drawn_height("ECU on MIA")
    assert drawn_height("BCU on MIA") > drawn_height("MS on MIA")


# --------------------------------------------------------------------------- the one table


@pytest.mark.parametrize("shorthand", SHORTHANDS, ids=lambda s: s.kind)
def test_every_shorthand_agrees_from_breakdown_to_prompt_to_animatic(
    shorthand: Shorthand,
) -> None:
    framing = Framing(shorthand.kind, subject="MIA")
    text = framing.text()  # what the breakdown writes in the camera field
    assert text == f"{shorthand.spellings[0]} on MIA"
    assert parse_camera(text) == framing
    assert camera_words(text) == (f"{shorthand.words} on Mia", "eye-level angle")
    assert animatic._plan(spec_for(text), "start").framing.drawn == shorthand.drawn
    for spelling in shorthand.spellings:  # every way a script writes it reads the same
        assert parse_camera(f"{spelling.lower()} on MIA").kind == shorthand.kind, spelling
        assert camera_words(spelling)[0] == shorthand.words


def test_tighter_framings_draw_bigger_figures() -> None:
    by_drawn = {s.drawn: s for s in reversed(SHORTHANDS)}
    heights = [drawn_height(Framing(by_drawn[d].kind, subject="MIA").text()) for d in TIGHTNESS]
    assert heights == sorted(heights) and len(set(heights)) == len(heights)


@pytest.mark.parametrize(
    ("camera", "expected"),
    [
        ("OTS on MIA (over OSKAR)", Framing("ots", "MIA", "OSKAR")),
        ("CU on BUS DRIVER", Framing("cu", "BUS DRIVER")),
        ("WS, low angle", Framing("ws", angle="low")),
        ("LOW ANGLE BCU on Mia", Framing("bcu", "MIA", angle="low")),
        ("MS, dutch", Framing("ms", angle="dutch")),
        ("CU on MIA, push in", Framing("cu", "MIA", move="dolly in")),
        ("EST WS", Framing("est", other="wide shot")),
        ("weird framing", Framing(other="weird framing", stated=False)),
        ("", Framing(stated=False)),
    ],
)
def test_parse_camera(camera: str, expected: Framing) -> None:
    assert parse_camera(camera) == expected


def test_angles_words_and_drawing_agree() -> None:
    for angle, (words, spellings) in ANGLES.items():
        text = f"MS on MIA, {spellings[0].lower()}"
        assert parse_camera(text).angle == angle
        assert camera_words(text) == ("medium shot on Mia", words)
        written = Framing("cu", "MIA", angle=angle)
        assert parse_camera(written.text()) == written  # the breakdown's text reads back
    low = animatic._plan(spec_for("MS on MIA, low angle"), "start").horizon
    eye = animatic._plan(spec_for("MS on MIA"), "start").horizon
    high = animatic._plan(spec_for("MS on MIA, overhead"), "start").horizon
    assert high < eye < low


def test_breakdown_cameras_round_trip_through_the_table() -> None:
    scene = parse_screenplay(SCRIPT, name="t.fountain").scenes[0]
    shots = breakdown_scene(scene, 1)
    cameras = [s.camera for s in shots]
    assert "OTS on OSKAR (over MIA)" in cameras and "CU on MIA" in cameras and cameras[0] == "WS"
    for shot in shots:
        framing = parse_camera(shot.camera)
        assert framing.stated and framing.text() == shot.camera
        drawn = animatic._plan(spec_for(shot.camera, ("MIA", "OSKAR")), "start").framing.drawn
        assert drawn == framing.drawn == BY_KIND[framing.kind].drawn
        assert camera_words(shot.camera)[0].startswith(BY_KIND[framing.kind].words)


def test_move_words_come_from_the_table() -> None:
    assert set(MOVES) == set(get_args(CameraMove))
    assert all(MOVES[m][0] for m in MOVES)


_LONG = (
    "I have walked the whole length of Canal Street in this rain looking for a shop that "
    "still sells a proper umbrella, and yours is the only light left on.",
    "We close at six, and it is well past six, but nobody walks that far in weather like "
    "this for nothing, so tell me what you need.",
    "My mother had one from this shop, red silk, a carved handle, and I lost it on the "
    "bridge the night she died, and I want it back.",
    "Then you are looking for the one in the window, the one I never sell, because I have "
    "been keeping it for somebody exactly like you.",
)
SCRIPT = "INT. UMBRELLA SHOP - NIGHT\n\nMia shoves in out of the rain. Oskar looks up.\n"
SCRIPT += "".join(
    f"\n{name}\n{line}\n"
    for name, line in zip(("MIA", "OSKAR", "MIA", "OSKAR", "MIA"), (*_LONG, _LONG[0]), strict=True)
)


# --------------------------------------------------------------------------- who is in frame

RADIO_SCRIPT = """EXT. HARBOUR WALL - NIGHT

Mia climbs toward a radio mast, soaked through.

RADIO (V.O.)
(crackling)
Storm warning for the harbour. All boats stay in.

OSKAR (O.S.)
Mia! Come down from there!

Mia grips the rail.
"""


def radio_shots() -> tuple[Shot, ...]:
    scene = parse_screenplay(RADIO_SCRIPT, name="r.fountain").scenes[0]
    return breakdown_scene(scene, 1, cast=("RADIO", "OSKAR", "MIA"))


def test_a_common_word_is_not_the_character_of_that_name() -> None:
    shots = radio_shots()
    names = {c.name for s in shots for c in s.characters}
    assert "MIA" in names
    assert "RADIO" not in names  # "a radio mast" does not name RADIO, and RADIO is a V.O.
    assert mentions_name("The RADIO crackles.", "RADIO")
    assert mentions_name("Radio crackles on the shelf.", "RADIO")
    assert not mentions_name("Mia climbs toward a radio mast.", "RADIO")
    assert not mentions_name("She hears the radios.", "RADIO")
    assert mentions_name("Oskar waits.", "OSKAR BRANDT")
    assert not mentions_name("the oskar waits.", "OSKAR BRANDT")


def test_an_off_screen_voice_is_no_figure_and_no_camera_subject() -> None:
    shots = radio_shots()
    for shot in shots:
        speakers_heard = off_screen_voices(shot.dialogue)
        assert not speakers_heard & {c.name for c in shot.characters}, shot
        assert parse_camera(shot.camera).subject not in speakers_heard, shot
    assert any("RADIO (V.O.)" in s.dialogue for s in shots)
    assert any("OSKAR (O.S.)" in s.dialogue for s in shots)


@pytest.mark.parametrize(
    ("extension", "unseen"),
    [("(V.O.)", True), ("(O.S.)", True), ("(O.C.)", True), ("(VO)", True),
     ("(O.S.; CONT'D)", True), ("(CONT'D)", False), ("", False), (None, False)],
)  # fmt: skip
def test_off_screen_extensions(extension: str | None, unseen: bool) -> None:
    assert off_screen(extension) is unseen


def heard_shot() -> Shot:
    """A hand-edited shot that lists the V.O. voice as a character and as the subject."""
    return Shot(
        id="1B",
        duration_s=3.0,
        dialogue="RADIO (V.O.) (crackling): Storm warning.\nMIA: I hear it.",
        action="Mia climbs toward a radio mast.",
        characters=(ShotCharacter(name="RADIO"), ShotCharacter(name="MIA")),
        setting="EXT. HARBOUR WALL - NIGHT",
        camera="MS on RADIO",
    )


def test_an_off_screen_voice_is_not_in_frame_in_the_prompts() -> None:
    shot = heard_shot()
    scene = parse_screenplay(RADIO_SCRIPT, name="r.fountain").scenes[0]
    assets = [
        PromptAsset(f"character-{n.lower()}", "character", n, f"{n.title()} looks like this")
        for n in ("MIA", "RADIO")
    ]
    prompt = assemble_prompt_set(shot, scene, None, assets)
    assert "Mia looks like this" in prompt.frame_prompt
    assert "Radio looks like this" not in prompt.frame_prompt
    assert "Characters: Mia." in prompt.video_prompt
    assert "Radio" in prompt.video_prompt.split("Audio:")[1]  # still heard
    assert [c.name for c in in_frame(shot)] == ["MIA"]
    spoken = shot.model_copy(update={"action": "The RADIO crackles on the shelf."})
    assert [c.name for c in in_frame(spoken)] == ["RADIO", "MIA"]  # named in the action: seen


def test_an_off_screen_voice_is_not_drawn() -> None:
    spec = spec_for("MS on RADIO").model_copy(update={"shot": heard_shot()})
    figures = [f.name for f in animatic._plan(spec, "start").figures]
    assert figures == ["MIA"]
    seen = animatic.panel_figures(spec)
    assert "RADIO" not in seen and "MIA" in seen


def test_the_insert_draws_the_caps_prop_not_shorthand_or_a_sound() -> None:
    def insert_prop(action: str, cast: tuple[str, ...] = ()) -> str:
        spec = spec_for("INSERT", cast, action=action)
        return animatic._plan(spec, "start").prop

    assert insert_prop("A loud BANG. CLOSE on the RED UMBRELLA.") == "RED UMBRELLA"
    assert insert_prop("POV: MIA stares at the LETTER.", ("MIA",)) == "LETTER"
    assert insert_prop("The bell JANGLES.") == "JANGLES"  # not a known sound word
    assert insert_prop("CONTINUOUS. The photo lies face down.") == "PHOTO"


def test_the_unlisted_props_check_skips_shorthand_and_sounds() -> None:
    shot = Shot(
        id="1A",
        duration_s=2.0,
        action="BCU on her hands. A loud BANG. She lifts the RED UMBRELLA. The CCTV blinks.",
    )
    scene = parse_screenplay(RADIO_SCRIPT, name="r.fountain").scenes[0]
    prompt = assemble_prompt_set(shot, scene, None, [])
    warnings = check_prompt_set(prompt, shot, style=None, assets=[])
    named = [w.message.split(" but ")[0] for w in warnings if w.code == "missing_prop_asset"]
    assert named == ["the action names RED UMBRELLA", "the action names CCTV"]


def test_breakdown_sound_cues_skip_the_shared_shorthand() -> None:
    script = "INT. KITCHEN - DAY\n\nBCU on the kettle. The kettle SHRIEKS. Mia does NOT move.\n"
    scene = parse_screenplay(script, name="k.fountain").scenes[0]
    (shot,) = breakdown_scene(scene, 1)
    assert shot.sfx == ("SHRIEKS",)
