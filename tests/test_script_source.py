"""Stage 4 edits the writer's own Fountain text: notes, boneyard and title order survive."""

from __future__ import annotations

from pathlib import Path

import pytest

from studio.config import Settings
from studio.wiring import build_studio

FIXTURES = Path(__file__).parent / "fixtures" / "screenplays"
GREENHOUSE = FIXTURES / "greenhouse.fountain"
TRAM = FIXTURES / "last_tram.txt"


@pytest.fixture
def studio(tmp_path):
    return build_studio(Settings(home=tmp_path / "home"))


def test_the_editor_shows_the_writers_text_with_notes_and_boneyard(studio):
    source = GREENHOUSE.read_text(encoding="utf-8")
    project, _ = studio.new_project("Greenhouse", (GREENHOUSE.name, source.encode("utf-8")))
    assert studio.script_fountain(project.id) == source
    assert "[[Location scout" in source and "/*" in source  # what a regenerated copy lost


def test_a_save_that_changes_one_line_keeps_everything_else_byte_identical(studio):
    source = GREENHOUSE.read_text(encoding="utf-8")
    project, _ = studio.new_project("Greenhouse", (GREENHOUSE.name, source.encode("utf-8")))
    edited = source.replace("Gran. That's dark.", "Gran. That's grim.", 1)
    assert edited != source
    studio.save_script_text(project.id, edited, "Theo says grim, not dark")
    shown = studio.script_fountain(project.id)
    assert shown == edited
    assert shown.replace("grim.", "dark.", 1) == source
    speeches = [e.text for s in studio.state(project.id).ordered_scenes() for e in s.scene.elements]
    assert "Gran. That's grim." in speeches


def test_a_note_only_edit_is_saved_too(studio):
    source = GREENHOUSE.read_text(encoding="utf-8")
    project, _ = studio.new_project("Greenhouse", (GREENHOUSE.name, source.encode("utf-8")))
    edited = source.replace("[[softer here]]", "[[much softer here]]", 1)
    studio.save_script_text(project.id, edited, "Sharpen the note on Olive's line")
    assert studio.script_fountain(project.id) == edited


def test_a_printed_layout_import_is_edited_as_its_fountain_conversion(studio):
    project, _ = studio.new_project("Tram", (TRAM.name, TRAM.read_bytes()))
    text = studio.script_fountain(project.id)
    assert text != TRAM.read_text(encoding="utf-8")  # converted once, at import
    scenes = [d.scene.heading for d in studio.state(project.id).ordered_scenes()]
    assert all(heading in text for heading in scenes)
    studio.save_script_text(project.id, text.replace("FADE IN:", "FADE IN:\n\nSnow.", 1), "Add snow at the top")
    assert "Snow." in studio.script_fountain(project.id)


def test_a_script_changed_elsewhere_falls_back_to_a_regenerated_copy(studio):
    source = GREENHOUSE.read_text(encoding="utf-8")
    project, _ = studio.new_project("Greenhouse", (GREENHOUSE.name, source.encode("utf-8")))
    state = studio.state(project.id)
    script = state.script.model_copy(update={"source_text": "INT. ELSEWHERE - DAY\n\nOther.\n"})
    stale = state.model_copy(update={"script": script})
    studio.timeline.update(
        project.id, "main", lambda s: {"script": stale.script}, "Stale source", action="edit_script"
    )
    text = studio.script_fountain(project.id)
    assert "EST. GREENHOUSE - DAY" in text and "ELSEWHERE" not in text


def test_an_unusual_layout_is_kept_and_reported_in_the_import_result(studio):
    text = "INT. ROOM - DAY\n\nA\nOne.\n\nB ^\nTwo.\n\nA ^\nThree.\n"
    _, result = studio.new_project("Chained", ("chained.fountain", text.encode("utf-8")))
    assert result is not None
    assert any("dual dialogue" in w and "line 9" in w for w in result.warnings)
    assert set(result.characters) == {"A", "B"}
