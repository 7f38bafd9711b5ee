"""How the studio writes a name in prose: ``MIA`` is "Mia", ``OSKAR'S UMBRELLA SHOP`` is
"Oskar's Umbrella Shop", a name typed in mixed case stays as typed.

One place for it (part of the core's kernel) so the camera words, the prompts, the
continuity reasons and the asset descriptions name a character the same way.
"""

from __future__ import annotations


def title_case(text: str) -> str:
    """'MIA' -> 'Mia', "OSKAR'S" -> "Oskar's", 'MUD-CAKED' -> 'Mud-Caked'."""
    return " ".join(
        "-".join(part[:1].upper() + part[1:].lower() for part in word.split("-"))
        for word in text.split()
    )


def display_name(name: str) -> str:
    """A script's upper-case name in title case; a mixed-case name as typed (one line)."""
    name = " ".join(name.split())
    return title_case(name) if name == name.upper() else name
