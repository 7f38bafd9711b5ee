"""A name is written one way in prose: the camera words, the prompts and the continuity
reasons all use ``studio.names.display_name``."""

from __future__ import annotations

import pytest

from studio.camera import camera_words
from studio.names import display_name, title_case
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
