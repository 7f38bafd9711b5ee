"""A name is written one way in prose: the camera words, the prompts and the continuity
reasons all use ``studio.names.display_name``."""

from __future__ import annotations

import pytest

from studio.camera import camera_words
from studio.names import clean_name, display_name, name_problem, title_case
from studio.prompts.text import _display_name


@pytest.mark.parametrize("name,shown", [
    ("MIA", "Mia"), ("OSKAR BRANDT", "Oskar Brandt"), ("OSKAR'S UMBRELLA SHOP", "Oskar's Umbrella Shop"),
    ("MUD-CAKED BOY", "Mud-Caked Boy"), ("McGregor", "McGregor"), ("  MIA\n ROSE ", "Mia Rose"),
    ("DR. WEISS", "Dr. Weiss"), ("ZOË", "Zoë"),
])
def test_display_name(name: str, shown: str) -> None:
    assert display_name(name) == shown
    assert _display_name(name) == shown


def test_the_camera_names_a_subject_as_the_prompts_do() -> None:
    framing, _ = camera_words("OTS on OSKAR BRANDT over MUD-CAKED BOY")
    assert "Oskar Brandt" in framing and "Mud-Caked Boy" in framing


def test_title_case_keeps_hyphenated_parts() -> None:
    assert title_case("MUD-CAKED") == "Mud-Caked"


@pytest.mark.parametrize("name,needle", [
    ("MIA\x00", "NUL"), ("MIA\nROSE", "one line"), ("MIA\u2028ROSE", "one line"), ("MIA\rROSE", "one line"),
    ("\u202eAIM", "text-direction"), ("MIA\u2067", "text-direction"), ("MI\u200fA", "text-direction"),
    ("MIA\x07", "control"), ("MI\ufeffA", "control"), ("", "empty"), (" \t ", "empty"), ("M" * 81, "longer than 80"),
])
def test_name_problem_refuses_hostile_names(name: str, needle: str) -> None:
    problem = name_problem(name, "an asset name")
    assert problem is not None and needle in problem and problem.startswith("an asset name")


@pytest.mark.parametrize("name", ["MIA", "Zoë", "李", "Oskar's Umbrella Shop", "MIA\tROSE", "👩\u200d🚀 ASTRONAUT"])
def test_name_problem_accepts_ordinary_names(name: str) -> None:
    assert name_problem(name) is None
    assert clean_name("  MIA \t ROSE ") == "MIA ROSE"
