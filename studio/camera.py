"""The screenplay's camera vocabulary, one table for the breakdown, the prompts and the animatic.

A shot's ``camera`` field is shorthand: ``"OTS on MIA (over OSKAR)"``, ``"BCU on MIA"``,
``"WS, low angle"``. :func:`parse_camera` reads it into a :class:`Framing`; the breakdown
writes one back with :meth:`Framing.text`; the prompts turn it into words with
:func:`camera_words`; the animatic sizes its figures by :attr:`Framing.drawn`. Every
shorthand lives in :data:`SHORTHANDS` once, so a ``BCU`` is a big close-up everywhere.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import cast

from studio.model import CameraMove
from studio.names import display_name


@dataclass(frozen=True)
class Shorthand:
    """One framing: its ``kind`` (what :class:`Framing` carries), the words a prompt uses,
    the drawing class the animatic sizes it as (``ews`` widest … ``ecu`` tightest, or a
    special layout: ``ots``, ``pov``, ``two``, ``group``, ``insert``, ``title``) and the
    ways a script writes it (the first is what the breakdown writes)."""

    kind: str
    words: str
    drawn: str
    spellings: tuple[str, ...]


SHORTHANDS: tuple[Shorthand, ...] = (
    Shorthand("ews", "extreme wide shot", "ews", ("EWS", "XWS", "EXTREME WIDE")),
    Shorthand("els", "extreme long shot", "ews", ("ELS", "EXTREME LONG")),
    Shorthand("est", "establishing shot", "ews", ("EST", "ESTABLISHING")),
    Shorthand("ws", "wide shot", "ws", ("WS", "WIDE")),
    Shorthand("ls", "long shot", "ws", ("LS", "LONG")),
    Shorthand("fs", "full shot", "ws", ("FS", "FULL")),
    Shorthand("mws", "medium wide shot", "ms", ("MWS", "MEDIUM WIDE")),
    Shorthand("mls", "medium long shot", "ms", ("MLS", "MEDIUM LONG")),
    Shorthand("cowboy", "cowboy shot", "ms", ("CS", "COWBOY")),
    Shorthand("ms", "medium shot", "ms", ("MS", "MED", "MID", "MEDIUM")),
    Shorthand("mcu", "medium close-up", "mcu", ("MCU", "MEDIUM CLOSE-UP", "MEDIUM CLOSE")),
    Shorthand("cu", "close-up", "cu", ("CU", "CLOSE-UP", "CLOSE UP", "CLOSE")),
    Shorthand("bcu", "big close-up", "bcu", ("BCU", "BIG CLOSE-UP", "BIG CLOSE UP", "BIG CLOSE")),
    Shorthand(
        "ecu",
        "extreme close-up",
        "ecu",
        ("ECU", "XCU", "EXTREME CLOSE-UP", "EXTREME CLOSE UP", "EXTREME CLOSE"),
    ),
    Shorthand(
        "ots",
        "over-the-shoulder shot",
        "ots",
        ("OTS", "OVER THE SHOULDER", "OVER-THE-SHOULDER", "OS"),
    ),
    Shorthand("pov", "point-of-view shot", "pov", ("POV", "POINT OF VIEW")),
    Shorthand("insert", "insert shot, detail", "insert", ("INSERT",)),
    Shorthand("two", "two-shot", "two", ("2-SHOT", "2S", "TWO-SHOT", "TWO SHOT", "2 SHOT")),
    Shorthand("three", "three-shot", "group", ("3-SHOT", "3S", "THREE-SHOT", "THREE SHOT")),
    Shorthand("group", "group shot", "group", ("GROUP",)),
    Shorthand("title", "title card", "title", ("TITLE CARD", "TITLE", "CARD")),
)
BY_KIND: dict[str, Shorthand] = {s.kind: s for s in SHORTHANDS}
DEFAULT_KIND = "ms"  # no framing written: a medium shot

# Drawing classes from the widest to the tightest (the animatic's figure sizes follow it).
TIGHTNESS = ("ews", "ws", "ms", "mcu", "cu", "bcu", "ecu")

ANGLES: dict[str, tuple[str, tuple[str, ...]]] = {
    # angle -> (words, spellings)
    "low": ("low angle", ("LOW ANGLE", "LOW-ANGLE", "LOW")),
    "high": ("high angle", ("HIGH ANGLE", "HIGH-ANGLE", "HIGH")),
    "eye": ("eye-level angle", ("EYE LEVEL", "EYE-LEVEL")),
    "dutch": ("dutch angle", ("DUTCH ANGLE", "DUTCH", "CANTED")),
    "overhead": ("overhead angle", ("OVERHEAD", "TOP DOWN", "TOP-DOWN")),
    "birds-eye": ("bird's-eye view", ("BIRD'S EYE", "BIRDS EYE", "BIRD'S-EYE")),
    "worms-eye": ("worm's-eye view", ("WORM'S EYE", "WORMS EYE", "WORM'S-EYE")),
    "aerial": ("aerial view", ("AERIAL",)),
}
# How an angle tilts the animatic's horizon: looking up raises it, looking down lowers it.
ANGLE_DRAWN = {
    "low": "low",
    "worms-eye": "low",
    "high": "high",
    "overhead": "high",
    "birds-eye": "high",
    "aerial": "high",
    "dutch": "dutch",
}

MOVES: dict[CameraMove, tuple[str, tuple[str, ...]]] = {
    # move -> (the video prompt's sentence, spellings in a camera field)
    "static": ("Static camera, locked off.", ("STATIC", "LOCKED OFF", "LOCKED-OFF")),
    "pan": ("The camera pans to follow the action.", ("PAN", "PANS", "PANNING")),
    "tilt": ("The camera tilts to follow the action.", ("TILT", "TILTS")),
    "dolly in": (
        "The camera dollies in slowly.",
        ("DOLLY IN", "PUSH IN", "PUSH-IN", "PUSHES IN"),
    ),
    "dolly out": (
        "The camera dollies out slowly.",
        ("DOLLY OUT", "PULL OUT", "PULL BACK", "PULLS BACK"),
    ),
    "tracking": (
        "The camera tracks alongside the action.",
        ("TRACKING", "TRACK", "TRACKS", "DOLLY", "FOLLOW"),
    ),
    "crane": ("The camera cranes smoothly.", ("CRANE", "CRANES", "BOOM")),
}
_FILLER = frozenset({"ANGLE", "SHOT", "ON", "VIEW"})


@dataclass(frozen=True)
class Framing:
    """A camera field read: the framing ``kind`` (a :data:`SHORTHANDS` kind), the subject
    named by "on X", the shoulder named by "(over Y)", the angle (an :data:`ANGLES` key),
    a camera move written in the field (else None: the shot's ``movement`` says) and the
    words no table knows, kept lower-cased. ``stated`` is False when no framing was
    written (the kind is then the default medium shot)."""

    kind: str = DEFAULT_KIND
    subject: str | None = None
    over: str | None = None
    angle: str = "eye"
    move: CameraMove | None = None
    other: str = ""
    stated: bool = True

    @property
    def shorthand(self) -> Shorthand:
        return BY_KIND.get(self.kind, BY_KIND[DEFAULT_KIND])

    @property
    def drawn(self) -> str:
        """The animatic's drawing class for this framing."""
        return self.shorthand.drawn

    @property
    def drawn_angle(self) -> str:
        """``low``, ``high``, ``dutch`` or ``eye``: how the animatic tilts its horizon."""
        return ANGLE_DRAWN.get(self.angle, "eye")

    def text(self) -> str:
        """The camera field the breakdown writes: ``"OTS on MIA (over OSKAR)"``."""
        out = self.shorthand.spellings[0]
        if self.subject:
            out += f" on {self.subject}"
        if self.over:
            out += f" (over {self.over})"
        if self.angle != "eye":
            out += f", {ANGLES[self.angle][0]}"
        return out


def _phrases(table: dict[str, tuple[str, ...]]) -> list[tuple[tuple[str, ...], str]]:
    """(words of a spelling, key), longest spelling first, so "BIG CLOSE-UP" beats "CLOSE"."""
    pairs = [(tuple(s.split()), key) for key, spellings in table.items() for s in spellings]
    return sorted(pairs, key=lambda pair: -len(pair[0]))


_KIND_PHRASES = _phrases({s.kind: s.spellings for s in SHORTHANDS})
_ANGLE_PHRASES = _phrases({k: v[1] for k, v in ANGLES.items()})
_MOVE_PHRASES = _phrases({k: v[1] for k, v in MOVES.items()})
_ASCII = str.maketrans({"\u2018": "'", "\u2019": "'", "\u2013": "-", "\u2014": "-"})
_OVER = re.compile(r"\(\s*OVER\s+([^)]+?)\s*\)", re.I)
_ON = re.compile(r"(?:^|\s)ON\s+([^\s(,][^(,]*?)\s*(?=\(|,|$)", re.I)


def _match(words: list[str], i: int, phrases: list[tuple[tuple[str, ...], str]]) -> tuple[int, str]:
    for spelling, key in phrases:
        if tuple(words[i : i + len(spelling)]) == spelling:
            return len(spelling), key
    return 0, ""


def parse_camera(camera: str) -> Framing:
    """Read a camera field such as ``"OTS on MIA (over OSKAR)"``, ``"CU on BUS DRIVER"`` or
    ``"MS, low angle"``. The first framing written is the kind; unknown words are kept."""
    text = " ".join(camera.translate(_ASCII).split())
    over = _OVER.search(text)
    subject = _ON.search(_OVER.sub(" ", text))
    rest = _OVER.sub(" ", text)
    if subject:
        rest = rest[: subject.start(1)] + " " + rest[subject.end(1) :]
    words = [w for w in re.split(r"[\s,/]+", rest.upper()) if w and w != "ON"]
    kind, angle, other = "", "eye", []
    move: CameraMove | None = None
    i = 0
    while i < len(words):
        n, key = _match(words, i, _ANGLE_PHRASES)
        if n:
            angle = key
            i += n
            continue
        n, key = _match(words, i, _KIND_PHRASES)
        if n:
            if kind:
                other.append(BY_KIND[key].words)
            else:
                kind = key
            i += n
            continue
        n, key = _match(words, i, _MOVE_PHRASES)
        if n:
            move = move or cast(CameraMove, key)
            i += n
            continue
        if words[i] not in _FILLER:
            other.append(words[i].lower())
        i += 1
    return Framing(
        kind=kind or DEFAULT_KIND,
        subject=" ".join(subject[1].split()).upper() if subject else None,
        over=" ".join(over[1].split()).upper() if over else None,
        angle=angle,
        move=move,
        other=" ".join(other),
        stated=bool(kind),
    )


def camera_words(camera: str | Framing) -> tuple[str, str]:
    """Camera shorthand -> (framing, angle) in words: ``"MS low"`` -> ("medium shot", "low
    angle"), ``"BCU on MIA"`` -> ("big close-up on Mia", "eye-level angle"). Unknown words
    are kept (lower-cased); no framing means a medium shot, no angle eye level."""
    framing = camera if isinstance(camera, Framing) else parse_camera(camera)
    parts = [framing.shorthand.words] if framing.stated or not framing.other else []
    if framing.other:
        parts.append(framing.other)
    words = " ".join(parts)
    if framing.subject:
        words += f" on {display_name(framing.subject)}"
    if framing.over:
        words += f", over {display_name(framing.over)}'s shoulder"
    return words, ANGLES[framing.angle][0]


def move_words(move: CameraMove) -> str:
    """The video prompt's sentence for a camera move."""
    return MOVES[move][0]
