"""The screenplay's CAPS convention and how action lines name characters, in one place.

Action lines write props and sounds in capitals the first time ('a RED UMBRELLA', 'the bell
JANGLES') and characters in capitals when they are introduced ('MIA (30s) shoves in').
Screenplay shorthand is written in capitals too (INT, POV, CONT'D, FADE…): :data:`NOT_PROPS`
lists it, so that neither the asset extraction (stage 5), nor the breakdown's sound cues
(stage 7), nor the prompts' unlisted-props check (stage 9) take it for an object or a sound.
"""

from __future__ import annotations

import re

from studio.camera import SHORTHANDS
from studio.model import Shot, ShotCharacter
from studio.names import title_case

# Initialisms that are never a camera framing nor a sound; they may still be objects
# ('the CCTV'), so they are not in NOT_PROPS.
ACRONYMS = frozenset("TV OK ID DJ UK US USA CCTV ATM LED CEO FBI CIA NYPD LAPD GPS PC DNA".split())
# Camera shorthand written as an abbreviation (EWS, BCU, OTS…): from the camera table.
_CAMERA_CAPS = frozenset(
    spelling
    for shorthand in SHORTHANDS
    for spelling in shorthand.spellings
    if " " not in spelling and (len(spelling) <= 3 or re.search(r"\d", spelling))
)
# Screenplay words written in caps that are never props: headings, cue extensions,
# transitions, camera directions, time words.
NOT_PROPS = frozenset(
    {
        "INT", "EXT", "EST", "CONT'D", "CONTD", "CONT", "CONTINUED", "CONTINUOUS", "LATER",
        "MOMENTS", "POV", "SFX", "VFX", "FX", "CUT", "FADE", "DISSOLVE", "SMASH", "MATCH",
        "INSERT", "BACK", "CLOSE", "ANGLE", "WIDE", "SUPER", "TITLE", "END", "INTERCUT",
        "FLASHBACK", "MONTAGE", "SERIES", "SHOTS", "SCREEN", "VO", "OS", "OC", "MOS", "DAY",
        "NIGHT", "BEAT", "TV", "OK",
    }
    | _CAMERA_CAPS
)  # fmt: skip
# Onomatopoeia: a sound, even right after a determiner ('a loud BANG').
SOUNDS = frozenset(
    {
        "BANG", "BOOM", "CRASH", "THUD", "THUMP", "WHOOSH", "FWUMP", "CLICK", "CLACK", "SLAM",
        "SNAP", "CRACK", "RING", "BEEP", "BUZZ", "HISS", "KNOCK", "SCREAM", "SHRIEK",
        "SPLASH", "CLANG", "CLATTER", "RUMBLE", "ROAR", "WHIR", "WHIRR", "POP", "ZAP",
        "SMACK", "WHAM", "CREAK", "SQUEAL", "HONK", "DING", "DONG", "TICK", "TOCK", "GASP",
        "SIGH", "SCRAPE",
    }
)  # fmt: skip
# Emphasis in caps ('she does NOT move') is neither a sound nor a prop.
EMPHASIS = frozenset("NOT NO NEVER ALL THE A AN AND OR OF TO IN ON IT IS ONE ONLY".split())
# A run of capitalised words: 'RED UMBRELLA', 'JANGLES', "OSKAR'S".
CAPS_RUN = re.compile(
    r"(?<![\w'\u2019])[A-Z][A-Z'\u2019\-]*[A-Z](?:\s+[A-Z][A-Z'\u2019\-]*[A-Z])*(?![\w'\u2019])"
)

# --------------------------------------------------------------------------- names

# Cue extensions of a voice that is heard but not seen: never a figure in frame.
OFF_SCREEN = frozenset({"V.O.", "VO", "O.S.", "OS", "O.C.", "OC", "OFF", "OFF SCREEN"})


def off_screen(extension: str | None) -> bool:
    """Whether a cue extension ('V.O.', "O.S.; CONT'D") marks a voice not seen in frame."""
    if not extension:
        return False
    parts = re.split(r"[;,/]|\)\s*\(", extension.upper().strip("() "))
    return any(" ".join(p.split()) in OFF_SCREEN for p in parts)



def name_variants(name: str) -> tuple[str, ...]:
    """How the action lines may write a character's name: 'MIA'/'Mia', and for a two- or
    three-word name also its first word ('OSKAR BRANDT' -> 'OSKAR', 'Oskar').

    Matching is case-sensitive on these forms, so a name that is also a common word
    ('WILL', 'ROSE', 'RADIO') matches only where it is capitalised: "a radio mast" does
    not name RADIO.
    """
    words = name.split()
    forms = [name.upper(), title_case(name)]
    if 2 <= len(words) <= 3 and len(re.sub(r"[^A-Za-z]", "", words[0])) >= 3:
        forms += [words[0].upper(), title_case(words[0])]
    return tuple(dict.fromkeys(f for f in forms if f))


def name_pattern(name: str) -> re.Pattern[str]:
    forms = sorted(name_variants(name), key=len, reverse=True)
    return re.compile(r"(?<![\w-])(?:" + "|".join(re.escape(f) for f in forms) + r")(?![\w-])")


def mention_at(text: str, name: str) -> int | None:
    """Where ``text`` first names the character ``name`` (see :func:`name_variants`)."""
    if not name.split():
        return None
    found = name_pattern(name).search(text)
    return found.start() if found else None


def mentions_name(text: str, name: str) -> bool:
    """Whether ``text`` names the character ``name`` (see :func:`name_variants`)."""
    return mention_at(text, name) is not None


# A speech of a shot's dialogue: 'NAME (V.O.) (beat): line', '[simultaneous] NAME: line'.
_SPEECH = re.compile(
    r"^\s*(?:\[simultaneous\]\s*)?(?P<name>[^:()\"\[\]]{1,48}?)\s*(?P<marks>(?:\([^)]*\)\s*)*):"
)


def off_screen_voices(dialogue: str) -> frozenset[str]:
    """Upper-cased speakers of ``dialogue`` (a shot's ``NAME (V.O.): line`` lines) who are
    only heard: every one of their speeches is marked V.O., O.S. or O.C."""
    heard: dict[str, bool] = {}
    for line in dialogue.splitlines():
        match = _SPEECH.match(line)
        if not match or not match["name"].strip():
            continue
        name = " ".join(match["name"].split()).upper()
        marks = re.findall(r"\(([^)]*)\)", match["marks"])
        unseen = any(off_screen(mark) for mark in marks)
        heard[name] = heard.get(name, True) and unseen
    return frozenset(name for name, unseen in heard.items() if unseen)


def in_frame(shot: Shot) -> tuple[ShotCharacter, ...]:
    """The shot's characters who are seen: a voice heard off screen (V.O., O.S., O.C. in
    every speech of the shot) whom the action does not name is not a figure in frame."""
    voices = off_screen_voices(shot.dialogue)
    return tuple(
        c
        for c in shot.characters
        if " ".join(c.name.split()).upper() not in voices or mentions_name(shot.action, c.name)
    )
