"""Screenplay import (mode D) and Fountain export: fixtures, round trips, malformed input."""

from __future__ import annotations

import json
import string
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from studio.errors import BadInput
from studio.model import AssetKind, ElementKind, IntExt, Scene, ScriptElement
from studio.screenplay import (
    ParsedScript,
    looks_like_plain_layout,
    parse_asset_sheet,
    parse_screenplay,
    plain_to_fountain,
    split_heading,
    to_fountain,
)

FIXTURES = Path(__file__).parent / "fixtures" / "screenplays"
SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"
SAMPLE = SAMPLES / "the_long_rain.fountain"

# file -> (title, scene count, characters in order of first appearance)
GOOD = {
    "night_ferry.fountain": ("NIGHT FERRY", 2, ("INGRID", "CAPTAIN HOLM")),
    "forced_elements.fountain": ("forced elements", 2, ("MCCLANE", "HANA")),
    "lullaby.fountain": ("lullaby", 3, ("ADA",)),
    "gallery.fountain": ("gallery", 1, ("BRUNO", "PIA")),
    "cafe_lodz.fountain": ("Café Łódź", 2, ("JOSÉ", "ZOË", "ŁUKASZ")),
    "news_at_ten.fountain": ("news at ten", 1, ("MARGOT", "DEV", "FLOOR MANAGER")),
    "greenhouse.fountain": ("The Greenhouse", 2, ("OLIVE", "THEO")),
    "last_tram.txt": ("THE LAST TRAM", 2, ("VERA", "TOMASZ")),
}
ALL_SCRIPTS = [FIXTURES / name for name in GOOD] + [SAMPLE]


def parse(path: Path) -> ParsedScript:
    return parse_screenplay(path.read_text(encoding="utf-8"), name=path.name)


def element_view(scene: Scene) -> list[dict]:
    """What a round trip must keep: everything but source line numbers."""
    return [element.model_dump(exclude={"line"}) for element in scene.elements]


def scene_view(scene: Scene) -> tuple:
    return (
        scene.id,
        scene.heading,
        scene.int_ext,
        scene.location,
        scene.time_of_day,
        scene.scene_number,
        scene.characters,
        element_view(scene),
    )


def texts(parsed: ParsedScript) -> list[str]:
    return [element.text for scene in parsed.scenes for element in scene.elements]


# --------------------------------------------------------------------------- fixtures


@pytest.mark.parametrize(("name", "expected"), GOOD.items(), ids=list(GOOD))
def test_every_fixture_imports(name, expected):
    title, scene_count, characters = expected
    parsed = parse(FIXTURES / name)
    assert parsed.title == title
    assert len(parsed.scenes) == scene_count
    assert parsed.characters == characters
    assert [scene.id for scene in parsed.scenes] == [f"sc-{i}" for i in range(1, scene_count + 1)]
    for scene in parsed.scenes:
        speakers = {e.character for e in scene.elements if e.character}
        assert set(scene.characters) == speakers


@pytest.mark.parametrize(
    ("heading", "int_ext", "location", "time_of_day"),
    [
        ("INT. KITCHEN - NIGHT", IntExt.INT, "KITCHEN", "NIGHT"),
        ("EXT. FERRY DECK - NIGHT", IntExt.EXT, "FERRY DECK", "NIGHT"),
        ("EST. GREENHOUSE - DAY", IntExt.EXT, "GREENHOUSE", "DAY"),
        ("I/E. OLIVE'S CAR - MOMENTS LATER", IntExt.INT_EXT, "OLIVE'S CAR", "MOMENTS LATER"),
        ("INT./EXT. CAR - DUSK", IntExt.INT_EXT, "CAR", "DUSK"),
        ("INT/EXT CAR - DAWN", IntExt.INT_EXT, "CAR", "DAWN"),
        ("EXT. STREET - DAY - CONTINUOUS", IntExt.EXT, "STREET - DAY", "CONTINUOUS"),
        ("INT. TRAM - MOVING - NIGHT", IntExt.INT, "TRAM - MOVING", "NIGHT"),
        ("int. house - day", IntExt.INT, "house", "day"),
        ("INT.HOUSE - LATER", IntExt.INT, "HOUSE", "LATER"),
        ("INT. CAFÉ ŁÓDŹ - NIGHT", IntExt.INT, "CAFÉ ŁÓDŹ", "NIGHT"),
        ("EXT. ROOFTOP", IntExt.EXT, "ROOFTOP", ""),
        ("FLASHBACK - SUMMER 1987", IntExt.NONE, "FLASHBACK", "SUMMER 1987"),
        ("THE VOID", IntExt.NONE, "THE VOID", ""),
        ("INTERIOR DESIGN STUDIO", IntExt.NONE, "INTERIOR DESIGN STUDIO", ""),
    ],
)
def test_split_heading(heading, int_ext, location, time_of_day):
    assert split_heading(heading) == (int_ext, location, time_of_day)


@pytest.mark.parametrize(
    ("name", "headings"),
    [
        (
            "night_ferry.fountain",
            [
                ("EXT. FERRY DECK - NIGHT", IntExt.EXT, "FERRY DECK", "NIGHT", "1"),
                ("INT. FERRY CABIN - CONTINUOUS", IntExt.INT, "FERRY CABIN", "CONTINUOUS", "2"),
            ],
        ),
        (
            "greenhouse.fountain",
            [
                ("EST. GREENHOUSE - DAY", IntExt.EXT, "GREENHOUSE", "DAY", None),
                (
                    "I/E. OLIVE'S CAR - MOMENTS LATER",
                    IntExt.INT_EXT,
                    "OLIVE'S CAR",
                    "MOMENTS LATER",
                    None,
                ),
            ],
        ),
        (
            "forced_elements.fountain",
            [
                ("FLASHBACK - SUMMER 1987", IntExt.NONE, "FLASHBACK", "SUMMER 1987", None),
                ("THE VOID", IntExt.NONE, "THE VOID", "", None),
            ],
        ),
        (
            "last_tram.txt",
            [
                ("EXT. TRAM DEPOT - NIGHT", IntExt.EXT, "TRAM DEPOT", "NIGHT", "1"),
                ("INT. TRAM - MOVING - NIGHT", IntExt.INT, "TRAM - MOVING", "NIGHT", "2"),
            ],
        ),
    ],
)
def test_fixture_headings(name, headings):
    parsed = parse(FIXTURES / name)
    got = [(s.heading, s.int_ext, s.location, s.time_of_day, s.scene_number) for s in parsed.scenes]
    assert got == headings


def test_title_page_fields():
    parsed = parse(FIXTURES / "night_ferry.fountain")
    assert parsed.title == "NIGHT FERRY"
    assert parsed.title_page == {
        "title": "_**NIGHT FERRY**_",
        "credit": "Written by",
        "author": "Rosa Lindqvist",
        "draft date": "12 May 2024",
        "contact": "Rosa Lindqvist\n14 Harbour Lane\nTromsø, Norway",
    }


def test_content_before_the_first_heading_goes_into_the_first_scene():
    ferry = parse(FIXTURES / "night_ferry.fountain").scenes[0]
    assert (ferry.elements[0].kind, ferry.elements[0].text) == (ElementKind.TRANSITION, "FADE IN:")
    lullaby = parse(FIXTURES / "lullaby.fountain").scenes[0]
    assert [(e.kind, e.text) for e in lullaby.elements[:2]] == [
        (ElementKind.SECTION, "ACT ONE"),
        (ElementKind.SYNOPSIS, "Ada sings the baby to sleep; the power fails."),
    ]


def test_non_ascii_character_names_and_dual_dialogue():
    parsed = parse(FIXTURES / "cafe_lodz.fountain")
    speeches = [
        (e.character, e.extension, e.dual, e.text)
        for e in parsed.scenes[0].elements
        if e.kind is ElementKind.DIALOGUE
    ]
    assert speeches == [
        ("JOSÉ", None, None, "Cerramos en cinco minutos."),
        ("ZOË", "(V.O.)", None, "He always says five minutes. He means forty."),
        ("ŁUKASZ", None, None, "Czy jest jeszcze otwarte?"),
        ("JOSÉ", None, "left", "No."),
        ("ZOË", None, "right", "Yes!"),
    ]
    assert parsed.locations == ("CAFÉ ŁÓDŹ", "ULICA ŻURAWIA")
    # The action line naming ŁUKASZ in capitals is not mistaken for a cue.
    assert ElementKind.ACTION in {e.kind for e in parsed.scenes[0].elements}


def test_dual_dialogue_sides_extensions_and_parentheticals():
    scene = parse(FIXTURES / "news_at_ten.fountain").scenes[0]
    speeches = [
        (e.character, e.extension, e.parenthetical, e.dual)
        for e in scene.elements
        if e.kind is ElementKind.DIALOGUE
    ]
    assert speeches == [
        ("MARGOT", None, None, "left"),
        ("DEV", None, None, "right"),
        ("MARGOT", "(CONT'D)", None, "left"),
        ("DEV", "(CONT'D)", "(smiling)", "right"),
        ("FLOOR MANAGER", "(O.S.)", None, None),
    ]


def test_forced_elements():
    parsed = parse(FIXTURES / "forced_elements.fountain")
    first, void = parsed.scenes
    assert [(e.kind, e.character, e.extension, e.parenthetical) for e in first.elements[1:3]] == [
        (ElementKind.DIALOGUE, "MCCLANE", None, None),
        (ElementKind.DIALOGUE, "HANA", None, "(whispering)"),
    ]
    assert (first.elements[3].kind, first.elements[3].text) == (
        ElementKind.ACTION,
        "BANG\nSomething heavy falls in the barn.",
    )
    assert (first.elements[4].kind, first.elements[4].text) == (
        ElementKind.TRANSITION,
        "SMASH TO BLACK.",
    )
    assert (void.elements[1].kind, void.elements[1].text) == (
        ElementKind.ACTION,
        "INT. NOT A HEADING - JUST A SIGN ON THE DOOR",
    )
    assert void.elements[2].extension == "(O.S.)"


@pytest.mark.parametrize("path", ALL_SCRIPTS, ids=lambda p: p.name)
def test_notes_and_boneyard_never_reach_the_elements(path):
    for text in texts(parse(path)):
        for marker in ("[[", "]]", "/*", "*/"):
            assert marker not in text


def test_notes_and_boneyard_are_dropped_cleanly():
    parsed = parse(FIXTURES / "greenhouse.fountain")
    assert [s.heading for s in parsed.scenes] == [
        "EST. GREENHOUSE - DAY",
        "I/E. OLIVE'S CAR - MOMENTS LATER",
    ]
    body = texts(parsed)
    assert "Glass walls fogged from inside. Tomato vines climb to the roof." in body
    assert "Drink up. You've earned it." in body
    assert "Every plant in there has outlived a husband.\nTwo, in the cactus's case." in body
    assert not any("DELETED" in text or "Kew Road" in text or "joke" in text for text in body)


def test_emphasis_is_stripped():
    body = texts(parse(FIXTURES / "gallery.fountain"))
    assert body == [
        "A white room. One painting: a very small red dot on a very large canvas.",
        "BRUNO (50s), the curator, admires it. Deeply.",
        "It is everything.",
        "It is a dot, Bruno.",
        "It is a statement.",
        "Pia leans closer. The price tag reads 4,000,000. She lets out a literal *sigh*.",
    ]


def test_lyrics_centered_page_breaks_sections_and_synopses():
    parsed = parse(FIXTURES / "lullaby.fountain")
    kinds = [[e.kind for e in scene.elements] for scene in parsed.scenes]
    assert kinds == [
        [
            ElementKind.SECTION,
            ElementKind.SYNOPSIS,
            ElementKind.ACTION,
            ElementKind.LYRICS,
            ElementKind.LYRICS,
            ElementKind.ACTION,
            ElementKind.PAGE_BREAK,
        ],
        [ElementKind.ACTION, ElementKind.CENTERED, ElementKind.SECTION],
        [ElementKind.ACTION, ElementKind.CENTERED],
    ]
    sung, unsung = parsed.scenes[0].elements[3:5]
    assert (sung.character, sung.text) == (
        "ADA",
        "Hush now, the river is sleeping,\nthe boats are all tied to the shore.",
    )
    assert unsung.character is None
    assert parsed.scenes[2].elements[-1].text == "THE END"
    assert parsed.characters == ("ADA",)


def test_several_parentheticals_stay_inline():
    source = "INT. ROOM - DAY\n\nJO\n(quietly)\nOne.\n(beat)\nTwo.\n"
    speech = parse_screenplay(source).scenes[0].elements[0]
    assert speech.parenthetical is None
    assert speech.text == "(quietly)\nOne.\n(beat)\nTwo."


def test_forced_heading_with_a_non_ascii_first_letter():
    parsed = parse_screenplay(".ÉCOLE - JOUR #3#\n\nLa cour est vide.\n")
    scene = parsed.scenes[0]
    assert (scene.heading, scene.int_ext, scene.location, scene.scene_number) == (
        "ÉCOLE - JOUR",
        IntExt.NONE,
        "ÉCOLE",
        "3",
    )


# --------------------------------------------------------------------------- the sample


def test_sample_imports_with_four_scenes_and_three_characters():
    parsed = parse(SAMPLE)
    assert parsed.title == "THE LONG RAIN"
    assert len(parsed.scenes) == 4
    assert set(parsed.characters) == {"MIA", "OSKAR", "BUS DRIVER"}
    assert [s.time_of_day for s in parsed.scenes] == ["DAY", "DUSK", "NIGHT", "NIGHT"]
    elements = [e for s in parsed.scenes for e in s.elements]
    assert any(e.parenthetical for e in elements)
    assert {e.text for e in elements if e.kind is ElementKind.TRANSITION} >= {
        "FADE IN:",
        "CUT TO:",
        "FADE OUT.",
    }
    assert 120 <= len(SAMPLE.read_text(encoding="utf-8").splitlines()) <= 170


def test_sample_carries_the_wet_condition_and_the_umbrella_across_scenes():
    scenes = parse(SAMPLE).scenes

    def action(scene: Scene) -> str:
        return " ".join(e.text for e in scene.elements if e.kind is ElementKind.ACTION).lower()

    assert "soaked" not in action(scenes[0]) and "dripping" not in action(scenes[0])
    assert "soaked to the skin" in action(scenes[1])
    assert "dripping" in action(scenes[2]) and "still soaked" in action(scenes[2])
    assert all("umbrella" in action(scene) for scene in scenes)
    assert "MIA" in scenes[1].characters and "MIA" in scenes[2].characters


def test_sample_asset_sheet_matches_the_script():
    parsed = parse(SAMPLE)
    entries = parse_asset_sheet(
        (SAMPLES / "the_long_rain.assets.json").read_bytes(), "the_long_rain.assets.json"
    )
    by_kind = {kind: {e.name for e in entries if e.kind is kind} for kind in AssetKind}
    assert by_kind[AssetKind.CHARACTER] == set(parsed.characters)
    assert by_kind[AssetKind.LOCATION] == set(parsed.locations)
    assert "RED UMBRELLA" in by_kind[AssetKind.PROP]
    assert all(e.description for e in entries)


# --------------------------------------------------------------------------- round trip


@pytest.mark.parametrize("path", ALL_SCRIPTS, ids=lambda p: p.name)
def test_fountain_round_trip(path):
    parsed = parse(path)
    again = parse_screenplay(to_fountain(parsed.title_page, parsed.scenes), name=path.name)
    assert [scene_view(s) for s in again.scenes] == [scene_view(s) for s in parsed.scenes]
    assert again.title_page == parsed.title_page
    assert (again.characters, again.locations) == (parsed.characters, parsed.locations)


def test_export_keeps_the_opening_before_the_first_heading():
    parsed = parse(FIXTURES / "night_ferry.fountain")
    text = to_fountain(parsed.title_page, parsed.scenes)
    assert text.index("FADE IN:") < text.index("EXT. FERRY DECK - NIGHT #1#")
    assert text.startswith("Title: _**NIGHT FERRY**_\n")
    assert "Contact:\n    Rosa Lindqvist\n    14 Harbour Lane\n" in text


@pytest.mark.parametrize(
    ("element", "expected_lines"),
    [
        (ScriptElement(kind=ElementKind.DIALOGUE, character="Mia", text="Hi."), ["@Mia", "Hi."]),
        # Cues in any script are natural: the classifier reads upper-case letters of any alphabet.
        (ScriptElement(kind=ElementKind.DIALOGUE, character="ZOË", text="Oui."), ["ZOË", "Oui."]),
        (ScriptElement(kind=ElementKind.DIALOGUE, character="Zoë", text="Oui."), ["@Zoë", "Oui."]),
        (
            ScriptElement(kind=ElementKind.DIALOGUE, character="MIA", extension="V.O.", text="Hi."),
            ["MIA (V.O.)", "Hi."],
        ),
        # A cue needs a line under it: an empty speech gets a line of spaces.
        (ScriptElement(kind=ElementKind.DIALOGUE, character="MIA", text=""), ["@MIA", "  "]),
        (
            ScriptElement(
                kind=ElementKind.DIALOGUE, character="MIA", parenthetical="sighs", text="a\n\nb"
            ),
            ["MIA", "(sighs)", "a", "  ", "b"],
        ),
        (ScriptElement(kind=ElementKind.TRANSITION, text="DISSOLVE TO:"), ["DISSOLVE TO:"]),
        (ScriptElement(kind=ElementKind.TRANSITION, text="SMASH TO BLACK."), ["SMASH TO BLACK."]),
        (ScriptElement(kind=ElementKind.TRANSITION, text="Smash to black."), ["> Smash to black."]),
        (ScriptElement(kind=ElementKind.CENTERED, text="THE END"), ["> THE END <"]),
        (ScriptElement(kind=ElementKind.LYRICS, text="la la\nlee"), ["~la la", "~lee"]),
        (ScriptElement(kind=ElementKind.PAGE_BREAK), ["==="]),
        (ScriptElement(kind=ElementKind.SECTION, text="Act Two"), ["# Act Two"]),
        (ScriptElement(kind=ElementKind.SYNOPSIS, text="They meet."), ["= They meet."]),
        (ScriptElement(kind=ElementKind.ACTION, text="INT. A SIGN"), ["!INT. A SIGN"]),
        (ScriptElement(kind=ElementKind.ACTION, text="BANG\nA door."), ["!BANG", "A door."]),
        (ScriptElement(kind=ElementKind.ACTION, text="~not a lyric"), ["!~not a lyric"]),
        (ScriptElement(kind=ElementKind.ACTION, text="2 * 3 = six_ish"), ["2 \\* 3 = six\\_ish"]),
    ],
)
def test_export_forces_only_what_needs_forcing(element, expected_lines):
    scene = Scene(id="sc-1", heading="INT. ROOM - DAY", elements=(element,))
    text = to_fountain({}, [scene])
    assert text == "\n".join(["INT. ROOM - DAY", "", *expected_lines]) + "\n"
    again = parse_screenplay(text).scenes[0].elements[0]
    expected = element.model_copy(update={"character": (element.character or "").upper() or None})
    if expected.parenthetical and not expected.parenthetical.startswith("("):
        expected = expected.model_copy(update={"parenthetical": f"({expected.parenthetical})"})
    if expected.extension and not expected.extension.startswith("("):
        expected = expected.model_copy(update={"extension": f"({expected.extension})"})
    assert again.model_dump(exclude={"line"}) == expected.model_dump(exclude={"line"})


def test_export_marks_the_right_side_of_dual_dialogue():
    left = ScriptElement(kind=ElementKind.DIALOGUE, character="MIA", text="Now.", dual="left")
    right = ScriptElement(kind=ElementKind.DIALOGUE, character="ZOË", text="Later.", dual="right")
    text = to_fountain({}, [Scene(id="sc-1", heading="INT. ROOM - DAY", elements=(left, right))])
    assert "MIA\nNow.\n\nZOË^\nLater.\n" in text
    again = parse_screenplay(text).scenes[0].elements
    assert [(e.character, e.dual) for e in again] == [("MIA", "left"), ("ZOË", "right")]


@pytest.mark.parametrize(
    ("heading", "number", "line"),
    [
        ("INT. ROOM - DAY", None, "INT. ROOM - DAY"),
        ("FLASHBACK", None, ".FLASHBACK"),
        ("EXT. FIELD - DAY", "12A", "EXT. FIELD - DAY #12A#"),
    ],
)
def test_export_headings(heading, number, line):
    text = to_fountain({}, [Scene(id="sc-1", heading=heading, scene_number=number)])
    assert text.splitlines()[0] == line
    scene = parse_screenplay(text).scenes[0]
    assert (scene.heading, scene.scene_number) == (heading, number)


_WORD = st.text(alphabet=string.ascii_lowercase, min_size=1, max_size=7)
_SENTENCE = st.lists(_WORD, min_size=1, max_size=7).map(
    lambda words: " ".join(words).capitalize() + "."
)
_NAME = st.lists(
    st.text(alphabet=string.ascii_uppercase, min_size=1, max_size=7), min_size=1, max_size=2
).map(" ".join)
_HEADING = st.builds(
    "{} {} - {}".format,
    st.sampled_from(["INT.", "EXT.", "INT./EXT.", "I/E.", "EST."]),
    _NAME,
    st.sampled_from(["DAY", "NIGHT", "LATER", "MOMENTS LATER"]),
)
_ACTION = st.lists(_SENTENCE, min_size=1, max_size=3).map(
    lambda lines: [ScriptElement(kind=ElementKind.ACTION, text="\n".join(lines))]
)


def _speech(
    name: str, paren: str | None, lines: list[str], dual: str | None = None
) -> ScriptElement:
    return ScriptElement(
        kind=ElementKind.DIALOGUE,
        character=name,
        parenthetical=paren,
        text="\n".join(lines),
        dual=dual,
    )


_PAREN = st.none() | _SENTENCE.map(lambda s: f"({s.lower().rstrip('.')})")
_LINES = st.lists(_SENTENCE, min_size=1, max_size=3)
_DIALOGUE = st.builds(lambda *args: [_speech(*args)], _NAME, _PAREN, _LINES)
_DUAL = st.builds(
    lambda a, b, la, lb: [_speech(a, None, la, "left"), _speech(b, None, lb, "right")],
    _NAME,
    _NAME,
    _LINES,
    _LINES,
)
_SCENES = st.lists(
    st.tuples(_HEADING, st.lists(st.one_of(_ACTION, _DIALOGUE, _DUAL), max_size=5)),
    min_size=1,
    max_size=4,
).map(
    lambda items: [
        Scene(id=f"sc-{i}", heading=heading, elements=tuple(e for group in groups for e in group))
        for i, (heading, groups) in enumerate(items, 1)
    ]
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_SCENES)
def test_round_trip_of_generated_scenes(scenes):
    parsed = parse_screenplay(to_fountain({"title": "Generated"}, scenes))
    assert [s.heading for s in parsed.scenes] == [s.heading for s in scenes]
    assert [element_view(s) for s in parsed.scenes] == [element_view(s) for s in scenes]


# --------------------------------------------------------------------------- plain text


def test_plain_text_layout_is_detected_only_for_plain_text():
    assert looks_like_plain_layout((FIXTURES / "last_tram.txt").read_text(encoding="utf-8"))
    for path in ALL_SCRIPTS:
        if path.suffix == ".fountain":
            assert not looks_like_plain_layout(path.read_text(encoding="utf-8")), path.name


def test_plain_text_layout_imports():
    path = FIXTURES / "last_tram.txt"
    parsed = parse(path)
    assert parsed.title_page == {
        "title": "THE LAST TRAM",
        "credit": "written by",
        "author": "Noor Haddad",
        "contact": "Noor Haddad\nnoor@example.com",
    }
    depot, tram = parsed.scenes
    speeches = [
        (e.character, e.extension, e.parenthetical, e.text)
        for s in parsed.scenes
        for e in s.elements
        if e.kind is ElementKind.DIALOGUE
    ]
    assert speeches == [
        ("VERA", None, None, "Last one out turns off the lights."),
        # A speech split by a page break, (MORE) and a (CONT'D) cue is one speech again.
        (
            "TOMASZ",
            None,
            "(raising the flask)",
            "To the last tram. May it never arrive. Because then we'd have to go home.",
        ),
        ("VERA", "(V.O.)", None, "He said that every night for thirty years."),
    ]
    assert [(e.kind, e.text) for e in depot.elements if e.kind is not ElementKind.DIALOGUE] == [
        (ElementKind.TRANSITION, "FADE IN:"),
        (
            ElementKind.ACTION,
            "A single tram glows in an empty depot. Snow drifts through the open doors and settles on the rails.",
        ),
        (ElementKind.ACTION, "TOMASZ, the night conductor, climbs aboard with a flask."),
        (ElementKind.TRANSITION, "CUT TO:"),
    ]
    assert (tram.elements[-1].kind, tram.elements[-1].text) == (ElementKind.CENTERED, "THE END")
    assert not any(text.strip() in {"2.", "(MORE)"} or "CONT'D" in text for text in texts(parsed))
    # Line numbers point into the uploaded file, not into the Fountain it was rewritten to.
    source = path.read_text(encoding="utf-8").split(
        "\n"
    )  # not splitlines(): it splits at form feeds
    assert "EXT. TRAM DEPOT" in source[depot.line - 1]
    assert source[depot.elements[2].line - 1].strip() == "VERA"


def test_plain_to_fountain_writes_forced_cues_and_scene_numbers():
    fountain = plain_to_fountain((FIXTURES / "last_tram.txt").read_text(encoding="utf-8"))
    assert "EXT. TRAM DEPOT - NIGHT #1#" in fountain
    assert "@TOMASZ\n(raising the flask)\n" in fountain
    assert "(MORE)" not in fountain


# --------------------------------------------------------------------------- malformed


@pytest.mark.parametrize(
    ("name", "line", "fragment"),
    [
        ("unclosed_boneyard.fountain", 12, "boneyard opened with /* is never closed"),
        ("prose.txt", 1, "no scene headings found"),
        (
            "dialogue_no_heading.fountain",
            3,
            "dialogue for ANSWERPHONE comes before any scene heading",
        ),
        ("title_page_only.fountain", 5, "the title page never ends"),
        ("title_page_never_ends.fountain", 3, "the title page never ends"),
    ],
)
def test_malformed_screenplays_name_the_line(name, line, fragment):
    with pytest.raises(BadInput) as caught:
        parse(FIXTURES / "bad" / name)
    message = str(caught.value)
    assert message.startswith(f"{name}: line {line}: ")
    assert fragment in message


@pytest.mark.parametrize("text", ["", "   \n\n\t", "\ufeff"])
def test_empty_screenplays_are_rejected(text):
    with pytest.raises(BadInput, match="empty: no scene headings found"):
        parse_screenplay(text, name="blank.fountain")


def test_a_file_of_only_comments_is_rejected():
    with pytest.raises(BadInput, match="no scene headings found"):
        parse_screenplay("/* nothing */\n\n[[ still nothing ]]\n")


# --------------------------------------------------------------------------- asset sheets


def test_asset_sheet_as_a_bare_list():
    entries = parse_asset_sheet(
        (FIXTURES / "night_ferry.assets.json").read_bytes(), "night_ferry.assets.json"
    )
    assert [(e.name, e.kind) for e in entries] == [
        ("INGRID", AssetKind.CHARACTER),
        ("CAPTAIN HOLM", AssetKind.CHARACTER),
        ("FERRY DECK", AssetKind.LOCATION),
        ("TEACUP", AssetKind.PROP),
    ]
    assert entries[0].voice_profile == "quiet, wry"
    assert entries[3].description == "" and entries[3].voice_profile is None


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        (b'{"assets": [', "is not valid JSON"),
        (b'"just a string"', "an asset sheet is a JSON object"),
        (b'{"asets": []}', "asets: Extra inputs are not permitted"),
        (
            json.dumps({"assets": [{"name": "MIA", "kind": "person"}]}).encode(),
            "assets[0].kind: Input should be",
        ),
        (
            json.dumps([{"name": "MIA", "kind": "character", "colour": "red"}]).encode(),
            "assets[0].colour: Extra inputs",
        ),
        (json.dumps([{"kind": "prop"}]).encode(), "assets[0].name: Field required"),
        (
            json.dumps([{"name": "  ", "kind": "prop"}]).encode(),
            "assets[0].name: String should have at least 1 character",
        ),
        (
            json.dumps(
                [{"name": "Mia", "kind": "character"}, {"name": "MIA", "kind": "character"}]
            ).encode(),
            "listed twice",
        ),
        (b"", "is empty"),
    ],
)
def test_bad_asset_sheets_name_the_file_and_the_problem(payload, fragment):
    with pytest.raises(BadInput) as caught:
        parse_asset_sheet(payload, "sheet.json")
    assert "sheet.json" in str(caught.value)
    assert fragment in str(caught.value)
