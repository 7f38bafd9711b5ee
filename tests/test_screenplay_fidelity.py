"""Import fidelity (issue 9, part 2): one test per way the importer used to lose or invent
speeches, headings, transitions or title-page fields."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from studio.breakdown import breakdown_scene, validate_shots
from studio.errors import BadInput
from studio.model import ElementKind
from studio.screenplay import looks_like_plain_layout, parse_screenplay, to_fountain
from studio.uploads import decode_text


def speeches(parsed):
    return [
        (e.character, e.text)
        for scene in parsed.scenes
        for e in scene.elements
        if e.kind is ElementKind.DIALOGUE
    ]


def kinds(parsed):
    return [(e.kind, e.text) for scene in parsed.scenes for e in scene.elements]


@pytest.mark.parametrize(
    "cue",
    ["CASEY’S MOM", "WALTER, JR.", "RANDY & PASSENGERS", "DR. NO… (V.O.)", "HIM/HER", "ROBOT 🤖"],
)
def test_cues_with_punctuation_and_emoji_are_speeches(cue):
    text = f"INT. CAR - DAY\n\nThey drive.\n\n{cue}\nAre we there yet?\n"
    parsed = parse_screenplay(text, name="x.fountain")
    name = cue.removesuffix(" (V.O.)")
    assert speeches(parsed) == [(name, "Are we there yet?")]
    assert parsed.characters == (name,)


def test_a_speech_in_capitals_is_still_dialogue():
    parsed = parse_screenplay("INT. HALL - NIGHT\n\nVICTOR\nRUN.\n\nThey run.\n", name="x.fountain")
    assert speeches(parsed) == [("VICTOR", "RUN.")]


def test_an_upper_case_line_without_an_empty_line_before_is_not_a_cue():
    parsed = parse_screenplay("INT. HALL - NIGHT\n\nThe sign reads:\nEXIT\nNo one moves.\n")
    assert speeches(parsed) == []
    assert kinds(parsed) == [(ElementKind.ACTION, "The sign reads:\nEXIT\nNo one moves.")]


def test_chained_dual_dialogue_keeps_every_speech_and_warns():
    text = "INT. ROOM - DAY\n\nA\nOne.\n\nB ^\nTwo.\n\nA ^\nThree.\n"
    parsed = parse_screenplay(text, name="x.fountain")
    elements = parsed.scenes[0].elements
    assert [(e.character, e.text, e.dual) for e in elements] == [
        ("A", "One.", "left"),
        ("B", "Two.", "right"),
        ("A", "Three.", None),
    ]
    assert len(parsed.warnings) == 1 and "line 9" in parsed.warnings[0]
    # Written back and read again, nothing is lost either.
    again = parse_screenplay(to_fountain(parsed.title_page, parsed.scenes))
    assert speeches(again) == speeches(parsed)


def test_a_caret_with_nothing_to_pair_with_is_a_speech_and_a_warning():
    parsed = parse_screenplay("INT. ROOM - DAY\n\nShe waits.\n\nB ^\nTwo.\n", name="x.fountain")
    assert [(e.character, e.dual) for e in parsed.scenes[0].elements[1:]] == [("B", None)]
    assert parsed.warnings and "line 5" in parsed.warnings[0]


def test_title_page_keys_in_any_case_do_not_end_the_title_page():
    text = (
        "Title: Pilot\nimdb: tt0000001\nslug: pilot\nseries: The Show\nAuthor: Sam\n"
        "Contact:\n    Sam\n    sam@example.com\n\nINT. OFFICE - DAY\n\nSam types.\n"
    )
    parsed = parse_screenplay(text, name="pilot.fountain")
    assert parsed.title_page == {
        "title": "Pilot",
        "imdb": "tt0000001",
        "slug": "pilot",
        "series": "The Show",
        "author": "Sam",
        "contact": "Sam\nsam@example.com",
    }
    assert kinds(parsed) == [(ElementKind.ACTION, "Sam types.")]


TAB_SCRIPT = (
    "Title: Tabs\nAuthor: T\n\n# Act One\n\nINT. KITCHEN - DAY\n\nMia cooks.\n\n"
    "\t\t\tMIA\n\t\t(to herself)\n\tSalt.\n\n\t\t\tOSKAR\n\tPepper.\n\n"
    "\t\t\tMIA ^\n\tSalt!\n\n\t\t\tOSKAR (CONT'D)\n\tFine.\n\nCUT TO:\n\nEXT. YARD - DAY\n\n"
    "They eat.\n"
)


def test_a_fountain_file_with_tab_indented_speeches_stays_fountain():
    parsed = parse_screenplay(TAB_SCRIPT, name="tabs.fountain")
    assert parsed.title_page == {"title": "Tabs", "author": "T"}
    first = parsed.scenes[0].elements
    assert first[0].kind is ElementKind.SECTION
    assert [(e.character, e.extension, e.dual) for e in first if e.character] == [
        ("MIA", None, None),
        ("OSKAR", None, "left"),
        ("MIA", None, "right"),
        ("OSKAR", "(CONT'D)", None),
    ]
    assert first[2].parenthetical == "(to herself)"
    assert [s.heading for s in parsed.scenes] == ["INT. KITCHEN - DAY", "EXT. YARD - DAY"]


def test_the_layout_guess_looks_only_at_the_top():
    # Lines far below the top (here: past the first few hundred) cannot flip the guess.
    printed = (
        "INT. HALL - DAY\n\nRain.\n\n" + "                    MIA\n          Hello there.\n\n" * 120
    )
    assert looks_like_plain_layout(printed)
    tail = "Plain action at the margin.\n\n" * 2000
    assert looks_like_plain_layout(printed + tail)
    fountain = "INT. HALL - DAY\n\nRain.\n\nMIA\nHello.\n\n" * 60
    assert not looks_like_plain_layout(fountain)
    assert not looks_like_plain_layout(fountain + "\n".join(["                    MIA\n" * 9000]))


def test_a_boneyard_without_empty_lines_around_it_separates_its_neighbours():
    text = (
        "INT. A - DAY\n\nShe leaves.\n\nCUT TO:\n/* an old scene\nINT. OLD - DAY */\n"
        "INT. B - NIGHT\n\nHe stays.\n"
    )
    parsed = parse_screenplay(text, name="x.fountain")
    assert [s.heading for s in parsed.scenes] == ["INT. A - DAY", "INT. B - NIGHT"]
    assert kinds(parsed)[-2:] == [
        (ElementKind.TRANSITION, "CUT TO:"),
        (ElementKind.ACTION, "He stays."),
    ]


def test_an_unclosed_note_before_an_empty_line_is_text():
    parsed = parse_screenplay("INT. A - DAY\n\nShe [[waits\n\nHe goes.\n", name="x.fountain")
    assert kinds(parsed) == [(ElementKind.ACTION, "She [[waits"), (ElementKind.ACTION, "He goes.")]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("He waits[[x]] for her.", "He waits for her."),
        ("He waits [[x]] for her.", "He waits for her."),
        ("He waits[[x]]for her.", "He waits for her."),
        ("He waits.[[x]]", "He waits."),
        ("He /* cut */ waits.", "He waits."),
    ],
)
def test_removing_a_note_does_not_glue_words(line, expected):
    parsed = parse_screenplay(f"INT. A - DAY\n\n{line}\n", name="x.fountain")
    assert kinds(parsed) == [(ElementKind.ACTION, expected)]


def test_a_forced_cue_without_dialogue_is_action_not_a_character():
    text = "INT. A - DAY\n\n@NAME (40s, boots) waits at the top.\n\nShe sees him.\n"
    parsed = parse_screenplay(text, name="x.fountain")
    assert parsed.characters == ()
    assert kinds(parsed)[0] == (ElementKind.ACTION, "NAME (40s, boots) waits at the top.")


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        ("I./E. CAR - DAY", "heading"),
        ("i./e. car - day", "heading"),
        ("FADE TO BLACK.", ElementKind.TRANSITION),
        ("FADE OUT.", ElementKind.TRANSITION),
        ("TO:", ElementKind.TRANSITION),
        ("Fade to black.", ElementKind.ACTION),
    ],
)
def test_headings_and_transitions_that_were_read_as_action(line, kind):
    parsed = parse_screenplay(f"INT. A - DAY\n\nShe runs.\n\n{line}\n\nThe end.\n")
    if kind == "heading":
        assert [s.heading for s in parsed.scenes] == ["INT. A - DAY", line]
    else:
        assert kinds(parsed)[1] == (kind, line)


def test_a_heading_only_scene_keeps_its_place():
    parsed = parse_screenplay("INT. A - DAY\n\nINT. B - DAY\n\nShe waits.\n")
    assert [(s.heading, len(s.elements)) for s in parsed.scenes] == [
        ("INT. A - DAY", 0),
        ("INT. B - DAY", 1),
    ]


def test_an_unclosed_boneyard_is_still_refused_with_its_line():
    with pytest.raises(BadInput, match=r"x.fountain: line 3: boneyard opened with /\*"):
        parse_screenplay("INT. A - DAY\n\n/* gone\n\nmore\n", name="x.fountain")


def test_a_file_mixing_utf8_and_latin1_is_decoded_line_by_line():
    data = "INT. CAFÉ - DAY\n\nZOË\nOui.\n".encode() + "Caf\xe9 cr\xe8me.\n".encode("cp1252")
    text = decode_text(data, "mixed.fountain", max_bytes=1 << 20)
    assert text == "INT. CAFÉ - DAY\n\nZOË\nOui.\nCafé crème.\n"
    parsed = parse_screenplay(text, name="mixed.fountain")
    assert speeches(parsed) == [("ZOË", "Oui.\nCafé crème.")]
    # Plain Windows-1252 is still read as before.
    assert decode_text("Caf\xe9".encode("cp1252"), "old.txt", max_bytes=99) == "Café"


_LINES = st.sampled_from(
    [
        "",
        "  ",
        "\t",
        "INT. HOUSE - DAY",
        "I./E. CAR - NIGHT #3#",
        ".FORCED",
        "EXT/INT. PORCH",
        "MIA",
        "CASEY’S MOM (V.O.)",
        "RANDY & PASSENGERS ^",
        "@mia",
        "(beat)",
        "RUN.",
        "She runs.",
        "CUT TO:",
        "FADE TO BLACK.",
        "> THE END <",
        "> forced",
        "# Act",
        "= synopsis",
        "===",
        "~la la",
        "!FORCED ACTION",
        "[[note]]",
        "[[open",
        "]]",
        "/* bone",
        "*/",
        "He waits[[x]] for her.",
        "Title: X",
        "imdb: tt1",
        "    indented value",
        "\t\tTABBED CUE",
        "**bold** and _under_ \\*",
    ]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_LINES, max_size=40))
def test_any_mix_of_fountain_lines_imports_or_is_refused_clearly(lines):
    text = "INT. START - DAY\n\n" + "\n".join(lines)
    try:
        parsed = parse_screenplay(text, name="fuzz.fountain")
    except BadInput as exc:
        assert str(exc).startswith("fuzz.fountain")
        return
    # What was read writes back and reads again the same: no speech lost or invented.
    again = parse_screenplay(to_fountain(parsed.title_page, parsed.scenes))
    assert [s.heading for s in again.scenes] == [s.heading for s in parsed.scenes]
    assert speeches(again) == speeches(parsed)


def test_a_boneyard_line_inside_a_speech_does_not_end_it():
    text = "INT. A - DAY\n\nMIA\nHello.\n/* cut: Goodbye. */\nSee you.\n\nShe goes.\n"
    parsed = parse_screenplay(text, name="x.fountain")
    assert speeches(parsed) == [("MIA", "Hello.\nSee you.")]


def test_chained_dual_dialogue_reaches_the_shots_whole():
    parsed = parse_screenplay("INT. ROOM - DAY\n\nA\nOne.\n\nB ^\nTwo.\n\nA ^\nThree.\n")
    shots = breakdown_scene(parsed.scenes[0], 1)
    spoken = "\n".join(shot.dialogue for shot in shots)
    assert all(line in spoken for line in ("One.", "Two.", "Three."))
    assert validate_shots(shots) == []
