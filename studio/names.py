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


# Characters a name typed by a user may not hold: a NUL or a line break would split the
# name in a prompt, a manifest or a log line; bidirectional controls let a name display
# differently from what it is ("\u202eLIAM" shows as "MAIL").
_BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_LINE_BREAKS = frozenset("\n\r\v\f\x85\u2028\u2029")
MAX_NAME_CHARS = 80


def name_problem(name: str, what: str = "a name") -> str | None:
    """Why ``name`` (typed by a user) cannot be used, as a sentence; None when it can.

    Refused: an empty name, NUL and other control characters, line breaks, bidirectional
    controls and a name over ``MAX_NAME_CHARS`` characters. Tabs and runs of spaces are
    not refused; :func:`clean_name` folds them to one space."""
    import unicodedata

    if not name.strip():
        return f"{what} needs some letters: it is empty"
    if "\x00" in name:
        return f"{what} holds a NUL character: type the name again without it"
    if any(c in _LINE_BREAKS for c in name):
        return f"{what} must be on one line: remove the line break"
    if any(c in _BIDI_CONTROLS for c in name):
        return (f"{what} holds an invisible text-direction character (it makes a name display "
                "differently from what it is): type the name again without it")
    if any(unicodedata.category(c) in ("Cc", "Cf") and c != "\t" and c not in "\u200d" for c in name):
        return f"{what} holds an invisible control character: type the name again without it"
    if len(" ".join(name.split())) > MAX_NAME_CHARS:
        return f"{what} is longer than {MAX_NAME_CHARS} characters: shorten it"
    return None


def clean_name(name: str) -> str:
    """A user's name on one line with single spaces (call :func:`name_problem` first)."""
    return " ".join(name.split())
