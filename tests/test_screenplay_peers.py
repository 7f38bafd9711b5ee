"""The importer against the Fountain peer suites in ``fixtures/fountain-peers`` (MIT, see its
README): screenplain's ``.html`` and ``.fdx`` renderings and nyousefi's OCUnit assertions.

Every expected element must be read the same way. Where a peer disagrees with the Fountain
spec (fountain.io/syntax) or with the importer's stated rules, the case is listed in
``DECIDED`` below with the reason; any other disagreement fails.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from studio.screenplay import fidelity, parse_screenplay, to_fountain
from studio.screenplay.fidelity import (
    Flat,
    compare_sequence,
    nyousefi_assertions,
    nyousefi_checks,
    screenplain_checks,
    screenplain_fdx,
    screenplain_html,
    speech_checks,
)

PEERS = Path(__file__).parent / "fixtures" / "fountain-peers"

# (suite, file, expected as the peer has it) -> why the spec or our rules decide otherwise.
DECIDED = {
    # screenplain reads these as action; nyousefi's TransitionTests.m reads FADE TO BLACK. as
    # a transition and the importer's rules take FADE OUT./CUT TO BLACK. as transitions.
    ("screenplain.html", "Big-Fish.fountain", "action: 'CUT TO BLACK.'"): "transition",
    ("screenplain.fdx", "Big-Fish.fountain", "action: 'CUT TO BLACK.'"): "transition",
    ("screenplain.html", "The-Last-Birthday-Card.fountain", "action: 'FADE OUT.'"): "transition",
    ("screenplain.fdx", "The-Last-Birthday-Card.fountain", "action: 'FADE OUT.'"): "transition",
    # nyousefi takes '23 (O.S.)' for a cue; the spec requires a letter in a character name
    # (and the nyousefi test is itself named testCueCannotBeALLNumerical).
    ("nyousefi", "DialogueTests.m:testCueCannotBeALLNumerical[23]", "Character"): "action",
    # nyousefi reads FADE IN: as action; the importer's rules read it as a transition, as
    # it does FADE OUT. (the spec has no rule for FADE IN:).
    ("nyousefi", "FNScriptTests.m:testElementDescription[0]", "Action: FADE IN:"): "Transition",
    # nyousefi refuses 'CUT TO:  ' (trailing spaces) as a transition; spaces at the end of a
    # line are invisible and the text meets the spec's rule.
    (
        "nyousefi",
        "TransitionTests.m:testNotTransitionWithTrailingSpaces[4]",
        "not Transition",
    ): "transition",
}


def _suites():
    for suite, path, checks in (*screenplain_checks(PEERS), *nyousefi_checks(PEERS)):
        # FountainWriterTests.m (Simple.fountain) tests nyousefi's writer, not its element
        # list: it is translated as the round trip test below.
        if checks or path.name != "Simple.fountain":
            yield pytest.param(checks, id=f"{suite}:{path.name}")


@pytest.mark.parametrize("checks", list(_suites()))
def test_each_peer_file_is_read_as_the_peer_expects(checks):
    assert checks, "the peer file produced no checks: the extractor failed"
    failures = [
        f"{c.file}: expected {c.expected}, got {c.got}"
        for c in checks
        if not c.passed and not c.deviation
    ]
    assert failures == []
    for check in (c for c in checks if c.deviation):
        key = (check.suite, check.file, check.expected)
        assert key in DECIDED, f"undocumented deviation {key}: {check.deviation}"
        assert check.got.lower().startswith(DECIDED[key].lower())


def test_every_documented_deviation_still_occurs():
    report = fidelity.measure(PEERS)
    seen = {(c.suite, c.file, c.expected) for c in report.checks if c.deviation}
    assert seen == set(DECIDED)


def test_no_speech_is_lost_or_invented_through_the_importer():
    expected, kept = speech_checks(PEERS)
    assert expected > 900  # screenplain's renderings hold over nine hundred cues
    assert kept == expected


def test_the_suites_are_all_there():
    assert (PEERS / "README.md").read_text(encoding="utf-8").startswith("# Fountain peer suites")
    screenplain = {path.name for _, path, _ in screenplain_checks(PEERS)}
    assert len(screenplain) >= 16 and "Big-Fish.fountain" in screenplain
    nyousefi = {path.name for _, path, _ in nyousefi_checks(PEERS)}
    assert {"Dialogue.fountain", "SceneHeaders.fountain", "Brick And Steel.txt"} <= nyousefi


def test_nyousefi_simple_script_round_trips_through_our_writer():
    # FountainWriterTests.testSimpleReadWrite: reading and writing keeps the script. Our
    # writer normalises spacing, so the check is that the written text reads back the same.
    text = (PEERS / "nyousefi" / "Simple.fountain").read_text(encoding="utf-8")
    parsed = parse_screenplay(text, name="Simple.fountain")
    again = parse_screenplay(to_fountain(parsed.title_page, parsed.scenes))
    no_lines = {"line": True, "elements": {"__all__": {"line"}}}
    assert [s.model_dump(exclude=no_lines) for s in again.scenes] == [
        s.model_dump(exclude=no_lines) for s in parsed.scenes
    ]
    assert (
        again.title_page
        == parsed.title_page
        == {
            "title": "A Simple Script",
            "author": "Nima Yousefi",
            "draft date": "2/1/2012",
        }
    )


# --------------------------------------------------------------------------- the oracles


def test_the_nyousefi_extractor_reads_index_text_and_loop_assertions():
    source = (PEERS / "nyousefi" / "DialogueTests.m").read_text(encoding="utf-8")
    found = {(a.test, a.index, a.what, a.value) for a in nyousefi_assertions(source)}
    assert ("testCueWithCaret", 18, "type", "Character") in found
    assert ("testRemovalOfCaretMarkup", 18, "text", "EVE") in found
    headers = (PEERS / "nyousefi" / "SceneHeaderTests.m").read_text(encoding="utf-8")
    assert ("testNotAForcedSceneHeader", 15, "not-type", "Scene Heading") in {
        (a.test, a.index, a.what, a.value) for a in nyousefi_assertions(headers)
    }
    brick = (PEERS / "nyousefi" / "BrickAndSteelTests.m").read_text(encoding="utf-8")
    loops = {(a.index, a.what) for a in nyousefi_assertions(brick)}
    assert {(50, "centered"), (51, "centered"), (18, "dual"), (20, "dual")} <= loops


def test_the_screenplain_readers_see_dual_dialogue_sections_and_numbers():
    dual = PEERS / "screenplain-tests" / "dual-dialogue"
    for items in (
        screenplain_html(dual.with_suffix(".html").read_text(encoding="utf-8")),
        screenplain_fdx(dual.with_suffix(".fdx").read_text(encoding="utf-8")),
    ):
        assert [(i.type, i.text, i.dual) for i in items] == [
            ("character", "GIRL", "left"),
            ("dialogue", "Hey!", ""),
            ("character", "GUY", "right"),
            ("dialogue", "Hello!", ""),
        ]
    numbers = screenplain_html(
        (PEERS / "screenplain-tests" / "scene-numbers.html").read_text("utf-8")
    )
    assert [(i.text, i.scene_number) for i in numbers if i.type == "scene heading"][-1] == (
        "INT. A FIFTH PLACE - DAY",
        "2-B",
    )


def test_a_wrong_reading_fails_the_comparison():
    expected = [Flat("scene heading", "INT. A - DAY"), Flat("character", "MIA", "left")]
    wrong = [Flat("action", "INT. A - DAY"), Flat("character", "MIA"), Flat("transition", "TO:")]
    checks = compare_sequence("t", "f", expected, wrong, lambda e, g: "")
    assert [(c.type, c.passed, c.invented) for c in checks] == [
        ("scene heading", False, False),
        ("character", True, False),
        ("dual", False, False),
        ("action", False, True),  # read where the peer has a heading
        ("transition", False, True),  # read where the peer has nothing
    ]


def test_a_rule_decided_reading_is_neither_a_match_nor_invented():
    expected = [Flat("action", "FADE OUT.")]
    got = [Flat("transition", "FADE OUT.")]
    checks = compare_sequence("t", "f", expected, got, lambda e, g: "rule")
    assert [(c.passed, c.deviation, c.invented) for c in checks] == [(False, "rule", False)]
