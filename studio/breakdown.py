"""Stage 7 breakdown: one scene into shots of at most 8 s, deterministically, with no LLM.

The breakdown never invents content: every shot's ``action`` and ``dialogue`` is script text
of the scene, cut only between sentences, and ``element_refs`` say which elements of
``scene.elements`` it came from. ``split_shot`` and ``merge_shots`` read a shot back through
its refs and keep that guarantee; a shot whose text was edited by hand so that it is no
longer its elements' text is refused with ``BadInput`` rather than guessed at.

Timing (constants below, tuned against ``estimate_scene_seconds``, the page-per-minute rule,
on the bundled sample and ``tests/fixtures/breakdown``):

- Action: each sentence is a visual beat of ``words / ACTION_WORDS_PER_SECOND`` seconds, at
  least ``ACTION_MIN_BEAT_S``.
- Dialogue: ``words / wps`` (words inside parentheticals are not spoken), plus ``TURN_S``
  per speech and ``PAREN_PAUSE_S`` per parenthetical (leading or inline).
- Lyrics are sung: dialogue timing at ``LYRICS_RATE`` x ``wps``, one unit per lyric line,
  verbatim in ``dialogue`` between ``♪`` marks, lines joined by `` / ``.
- Centered text is an on-screen title card, always a shot of its own (``TITLE CARD``,
  static, start frame only): ``TITLE_CARD_MIN_S`` at least, ``TITLE_READ_WPS`` beyond.
- Transitions take no screen time. A transition closes the current shot and lands on it as
  the continuity flag ``transition: CUT TO:``; one before any content (``FADE IN:``) lands on
  the first shot.
- Sections, synopses and page breaks take no time and show nowhere. Their indices still go
  in ``element_refs`` (of the shot holding the next screen element, else the last shot), so
  the shots' refs together cover every element index of the scene, in order; an element cut
  across shots is referenced by each of them.
- The establishing shot (the first that is not a title card) holds ``ESTABLISHING_S`` on the
  place before the first beat plays, as far as 8 s allows; a bare heading is just that shot,
  with no text (``validate_shots`` accepts it when given the scene).
- A shot lasts its units' total, rounded to 0.1 s, at least ``MIN_SHOT_S``, at most 8 s.

Grouping: consecutive elements fill a shot while the total stays within 8 s; an element that
fits in 8 s is never cut. An element longer than 8 s starts a new shot and is cut between
sentences into the fewest pieces of at most 8 s, balanced (the longest piece as short as
possible); a single sentence longer than 8 s is cut between words into equal word counts
(the only mid-sentence cut). A line break is a sentence boundary too, a lone parenthetical
("(beat)") belongs to the sentence after it, and Mr./Dr./St./V.O./No. 5… do not end one.
Title cards and dual dialogue are shots of their own; a dual pair longer than 8 s is cut on
both sides into the same number of pieces, side by side.

Text format: ``action`` has one line per element (its sentences joined by spaces);
``dialogue`` one line per speech, ``NAME: line`` or ``NAME (V.O.) (beat): line`` with the
cue extension and the leading parenthetical (inline parentheticals stay in place), and
``[simultaneous] NAME: line`` on both speeches of dual dialogue. A speech cut across shots
repeats the name and extension, not the parenthetical.

Characters: the shot's speakers are ``primary``, except a voice heard off screen (a cue
marked V.O., O.S. or O.C.: not a figure in frame, nor a camera subject). Characters named in
its action text (``scene.characters`` plus ``cast``, as the script writes them: whole words,
capitalised, "MIA" or "Mia", a multi-word name also by its first word, "Mia" for "MIA
VARGA"; "a radio mast" does not name RADIO, see ``studio.caps``) are ``primary`` when the
shot's first action sentence starts with the name (after an optional article), else
``secondary``. Only on a wide shot (WS/EWS) are the scene's characters present so far
(spoken or named in this or an earlier shot) who are not mentioned added as ``background``.

Camera (first rule that applies):

=====================================  ================================================
shot                                   camera
=====================================  ================================================
title card                             ``TITLE CARD``
establishing (first non-title shot)    ``EWS`` exterior or INT/EXT, ``WS`` interior
dual dialogue                          ``2-SHOT``
action names a prop from ``props``     ``INSERT``; ``CU`` if someone speaks or is named
dialogue, one speaker                  that speaker's 1st coverage shot ``MS on X``, 2nd
                                       ``OTS on X (over Y)`` (``CU`` when alone), later
                                       ``CU on X``; ``CU`` on an emotional beat
dialogue, two / more speakers          ``2-SHOT`` / ``GROUP``
action naming a character              ``MS``
other action                           ``WS``
=====================================  ================================================

Movement (first rule that applies): title card ``static``; exterior establishing shot
``crane``; an emotional beat (tears, cries, whispers, trembles, barely audible, for the
first time… in the action or a parenthetical) or the scene's closing lines (its last shot
with dialogue) ``dolly in``; a person walks/runs/crosses/follows… (a pronoun or name right
before the verb: not "water runs off") ``tracking``; something enters, arrives, glides
past, pulls away, swings open ``pan``; climbs, looks up, rises ``tilt``; else ``static``.

Sound: ``sfx`` are the all-caps words of the action (screenplay convention: "The door bell
JANGLES"; title cards are not searched), consecutive ones as one cue, leaving out character
names (a run touching a name word, or followed by an age like ``(74)``, is a character
introduction), props named in ``props`` (capitalised props not listed come out as cues),
abbreviations (INT, EXT, CU, POV…) and emphasis words (NOT, NEVER…).
"""

from __future__ import annotations

import math
import re
import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from studio.camera import Framing, parse_camera
from studio.caps import (
    ACRONYMS,
    CAPS_RUN,
    EMPHASIS,
    NOT_PROPS,
    mention_at,
    name_variants,
    off_screen,
)
from studio.errors import BadInput, NotFound
from studio.model import (
    MAX_SHOT_S,
    CameraMove,
    ElementKind,
    IntExt,
    Scene,
    ScriptElement,
    Shot,
    ShotCharacter,
)

# The often-quoted 2.5 wps (150 wpm) is speaking rate *with* pauses. Here the pauses are
# timed on their own (TURN_S before each speech, PAREN_PAUSE_S per parenthetical), so the
# word rate is the articulation rate of fluent English, about 5 syllables a second at ~1.4
# syllables a word = 3.5 wps; a typical 10-15-word line then plays at ~2.5 wps overall. Tuned
# against the page-per-minute rule (see estimate_scene_seconds): at 3.0 the long-speech
# fixture runs 24 % over it (41 % at 2.5), because a 35-character dialogue line carries ~5.5
# words and the page rule gives long speeches little time; a scene made only of monologues
# still runs ~1.4x the page rule at 3.5. Pass a smaller ``wps`` for slow delivery.
WORDS_PER_SECOND = 3.5
# Description words per screen second: a sentence of action is usually one image, shown at
# once while prose lists it word by word, so words go by twice as fast as speech. Tuned to
# the page rule's 60-character action lines (7-8 wps fit best).
ACTION_WORDS_PER_SECOND = 7.5
# Shortest hold for one action beat (a sentence), so the eye can take it in.
ACTION_MIN_BEAT_S = 1.2
# The reaction beat / cut before each speech, and the pause a parenthetical ("(beat)") asks.
TURN_S = 1.5
PAREN_PAUSE_S = 0.5
# Sung words come slower than spoken ones: 0.7 x the word rate, ~2.5 wps.
LYRICS_RATE = 0.7
# A title card holds long enough to read twice: 3 s at least, 2 words a second beyond that.
TITLE_CARD_MIN_S = 3.0
TITLE_READ_WPS = 2.0
MIN_SHOT_S = 1.0
# The establishing shot holds on the place before the scene's first beat plays (as far as
# the 8 s limit allows); a scene with no screen text at all (a bare heading) is just that.
ESTABLISHING_S = 3.0

# The page rule: Courier 12 pt, action 60 characters wide, dialogue 35, 55 lines a page,
# a page a minute.
PAGE_LINES = 55
PAGE_SECONDS = 60.0
ACTION_WIDTH = 60
DIALOGUE_WIDTH = 35

Prominence = Literal["primary", "secondary", "background"]

_SPEECH = (ElementKind.DIALOGUE, ElementKind.LYRICS)
_PICTURE = (ElementKind.ACTION, ElementKind.CENTERED)
_SILENT = (ElementKind.SECTION, ElementKind.SYNOPSIS, ElementKind.PAGE_BREAK)
_DUAL_MARK = "[simultaneous] "
_TRANSITION_FLAG = "transition: "
_LYRIC_MARK = "♪"
_LYRIC_JOIN = " / "


# --------------------------------------------------------------------------- text units

_ABBREVIATIONS = frozenset(
    "mr mrs ms dr st jr sr prof vs etc e.g i.e mt ft v.o o.s o.c a.m p.m approx".split()
)
_NUMBERED = frozenset({"no", "nos", "vol", "fig", "pp"})  # abbreviations only before a number
_END = re.compile(r"[.!?…]+[\"'”’)\]]*\s+")
_PAREN_ONLY = re.compile(r"^\([^()]*\)$")
_PAREN = re.compile(r"\([^()]*\)")
_WORD = re.compile(r"\w")


def _split_line(line: str) -> list[str]:
    """One line into sentences: after . ! ? … (and closing quotes) before a capital, digit,
    opening quote or parenthesis, except after a known abbreviation (Mr., Dr., V.O.…)."""
    pieces, start = [], 0
    for match in _END.finditer(line):
        rest = line[match.end() :].lstrip("\"'“‘[*_")
        if not rest:
            continue
        if not (rest[0].isupper() or rest[0].isdigit() or line[match.end()] in "(\"'“‘["):
            continue
        words = line[start : match.start()].split()
        if line[match.start()] == "." and words:
            word = words[-1].lower().lstrip("(\"'“‘")
            if word in _ABBREVIATIONS or (word in _NUMBERED and rest[0].isdigit()):
                continue
        pieces.append(line[start : match.end()].strip())
        start = match.end()
    pieces.append(line[start:].strip())
    return [p for p in pieces if p]


def _sentences(text: str) -> list[str]:
    """Text into sentence units; a line break is a boundary too. A parenthetical standing
    alone ("(beat)") joins the sentence it directs (the next, or the last one if none)."""
    raw = [s for line in text.splitlines() for s in _split_line(line)]
    units: list[str] = []
    carry = ""
    for piece in raw:
        if _PAREN_ONLY.match(piece):
            carry = f"{carry} {piece}".strip()
            continue
        units.append(f"{carry} {piece}".strip() if carry else piece)
        carry = ""
    if carry:
        if units:
            units[-1] = f"{units[-1]} {carry}"
        else:
            units.append(carry)
    return units


def _lyric_lines(text: str) -> list[str]:
    return [" ".join(line.split()) for line in text.splitlines() if line.strip()]


def _units(element: ScriptElement) -> list[str]:
    """The verbatim units an element is cut into: lyric lines, otherwise sentences."""
    if element.kind is ElementKind.LYRICS:
        return _lyric_lines(element.text)
    if element.kind in (ElementKind.ACTION, ElementKind.CENTERED, ElementKind.DIALOGUE):
        units = [" ".join(u.split()) for u in _sentences(element.text)]
        if not units and element.kind is ElementKind.DIALOGUE and element.parenthetical:
            # A speech that is only a parenthetical ("(nods)") is still something seen.
            units = [" ".join(element.parenthetical.split())]
        return units
    return []


def _words(text: str) -> int:
    return sum(1 for token in text.split() if _WORD.search(token))


def _spoken_words(text: str) -> int:
    return _words(_PAREN.sub(" ", text))


# --------------------------------------------------------------------------- timing


def _unit_seconds(element: ScriptElement, unit: str, first: bool, wps: float) -> float:
    """Screen seconds of one unit of ``element``; ``first``: the unit opens the element."""
    kind = element.kind
    if kind is ElementKind.ACTION:
        return max(ACTION_MIN_BEAT_S, _words(unit) / ACTION_WORDS_PER_SECOND)
    if kind is ElementKind.CENTERED:
        return max(TITLE_CARD_MIN_S, _words(unit) / TITLE_READ_WPS)
    if kind is ElementKind.LYRICS:
        return _words(unit) / (wps * LYRICS_RATE) + (TURN_S if first else 0.0)
    if kind is ElementKind.DIALOGUE:
        seconds = _spoken_words(unit) / wps + PAREN_PAUSE_S * len(_PAREN.findall(unit))
        if first:
            leading = element.parenthetical and element.text.strip()
            seconds += TURN_S + (PAREN_PAUSE_S if leading else 0.0)
        return seconds
    return 0.0


@dataclass(frozen=True)
class _Piece:
    """A timed, verbatim unit (or a word-cut fragment of one) of one element."""

    ref: int
    text: str
    seconds: float
    first: bool


def _pieces(scene: Scene, ref: int, wps: float) -> list[_Piece]:
    """An element's timed units; a unit over 8 s is cut at word boundaries into equal counts."""
    element = scene.elements[ref]
    pieces = []
    for n, unit in enumerate(_units(element)):
        seconds = _unit_seconds(element, unit, n == 0, wps)
        if seconds <= MAX_SHOT_S:
            pieces.append(_Piece(ref, unit, seconds, n == 0))
            continue
        words = unit.split()
        count = math.ceil(seconds / MAX_SHOT_S)
        while (
            count < len(words) and seconds * math.ceil(len(words) / count) / len(words) > MAX_SHOT_S
        ):
            count += 1
        count = min(count, len(words))
        bounds = [round(i * len(words) / count) for i in range(count + 1)]
        for i in range(count):
            chunk = words[bounds[i] : bounds[i + 1]]
            share = min(MAX_SHOT_S, seconds * len(chunk) / len(words))
            pieces.append(_Piece(ref, " ".join(chunk), share, n == 0 and i == 0))
    return pieces


def _partition(times: Sequence[float], groups: int | None = None) -> list[tuple[int, int]]:
    """Contiguous groups of ``times`` each within 8 s: the fewest (or exactly ``groups``,
    empty ones at the end when there are fewer items), the longest as short as possible."""
    n = len(times)
    if n == 0:
        return [(0, 0)] * (groups or 0)
    if groups is None:
        groups = 1
        while _min_max(times, groups)[0] > MAX_SHOT_S + 1e-9:
            groups += 1
    used = min(groups, n)
    _, cuts = _min_max(times, used)
    spans = list(zip([0, *cuts], [*cuts, n], strict=True))
    return spans + [(n, n)] * (groups - used)


def _min_max(times: Sequence[float], groups: int) -> tuple[float, list[int]]:
    """Cut ``times`` into ``groups`` non-empty runs minimising the longest: (longest, cuts)."""
    n = len(times)
    prefix = [0.0]
    for t in times:
        prefix.append(prefix[-1] + t)
    inf = float("inf")
    best = [[inf] * (n + 1) for _ in range(groups + 1)]
    back = [[0] * (n + 1) for _ in range(groups + 1)]
    best[0][0] = 0.0
    for g in range(1, groups + 1):
        for j in range(g, n + 1):
            for i in range(g - 1, j):
                value = max(best[g - 1][i], prefix[j] - prefix[i])
                if value < best[g][j] - 1e-12:
                    best[g][j], back[g][j] = value, i
    cuts, j = [], n
    for g in range(groups, 0, -1):
        j = back[g][j]
        cuts.append(j)
    return best[groups][n], sorted(cuts)[1:]


# --------------------------------------------------------------------------- shot parts


@dataclass(frozen=True)
class _Part:
    """What one shot holds of one element: its units (verbatim) in order."""

    ref: int
    units: tuple[str, ...]
    first: bool


def _label(element: ScriptElement, first: bool) -> str:
    name = element.character or ""
    bits = [name] if name else []
    if element.extension:
        bits.append(element.extension)
    if first and element.parenthetical and element.text.strip():
        bits.append(" ".join(element.parenthetical.split()))
    label = " ".join(bits)
    return f"{_DUAL_MARK if element.dual else ''}{label}"


def _speech_line(element: ScriptElement, part: _Part) -> str:
    label = _label(element, part.first)
    if element.kind is ElementKind.LYRICS:
        body = f"{_LYRIC_MARK} {_LYRIC_JOIN.join(part.units)} {_LYRIC_MARK}"
    else:
        body = " ".join(part.units)
    stripped = label.removeprefix(_DUAL_MARK)
    return f"{label}: {body}" if stripped else f"{label}{body}"


@dataclass(frozen=True)
class _Text:
    action: str
    dialogue: str
    transitions: tuple[str, ...]
    refs: tuple[int, ...]
    sound: str  # the action text without title cards: where sound cues are looked for


def _render(parts: Sequence[_Part], scene: Scene) -> _Text:
    action, dialogue, transitions, sound = [], [], [], []
    for part in parts:
        element = scene.elements[part.ref]
        if element.kind in _PICTURE and part.units:
            action.append(" ".join(part.units))
            if element.kind is ElementKind.ACTION:
                sound.append(action[-1])
        elif element.kind in _SPEECH and part.units:
            dialogue.append(_speech_line(element, part))
        elif element.kind is ElementKind.TRANSITION:
            transitions.append(_TRANSITION_FLAG + " ".join(element.text.split()))
    refs = tuple(sorted({p.ref for p in parts}))
    return _Text("\n".join(action), "\n".join(dialogue), tuple(transitions), refs, "\n".join(sound))


def _parts_of(shot: Shot, scene: Scene) -> list[_Part]:
    """Read a shot back into parts: action lines and speech lines against its refs."""
    action = [line for line in shot.action.split("\n") if line.strip()]
    speech = [line for line in shot.dialogue.split("\n") if line.strip()]
    mismatch = BadInput(
        f"shot {shot.id}'s text no longer matches the script elements it came from "
        "(was it edited by hand?); restore its text or redo the breakdown, then split or merge"
    )
    parts = []
    for ref in shot.element_refs:
        if not 0 <= ref < len(scene.elements):
            raise mismatch
        element = scene.elements[ref]
        if not _units(element):
            parts.append(_Part(ref, (), False))
        elif element.kind in _PICTURE:
            if not action:
                raise mismatch
            line = action.pop(0)
            units = tuple(" ".join(u.split()) for u in _sentences(line))
            first = bool(units) and units[0] == _first_unit(element)
            parts.append(_Part(ref, units, first))
        elif element.kind in _SPEECH:
            if not speech:
                raise mismatch
            parts.append(_speech_part(ref, element, speech.pop(0), mismatch))
        else:
            parts.append(_Part(ref, (), False))
        if parts[-1].units and " ".join(parts[-1].units) not in " ".join(_units(element)):
            raise mismatch  # the text is not (a run of) the element's own text any more
    if action or speech:
        raise mismatch
    return parts


def _first_unit(element: ScriptElement) -> str:
    units = _units(element)
    return units[0] if units else ""


def _speech_part(ref: int, element: ScriptElement, line: str, mismatch: BadInput) -> _Part:
    for first in (True, False):
        label = _label(element, first)
        prefix = f"{label}: " if label.removeprefix(_DUAL_MARK) else label
        if line.startswith(prefix):
            body = line[len(prefix) :]
            break
    else:
        raise mismatch
    if element.kind is ElementKind.LYRICS:
        body = body.strip().removeprefix(_LYRIC_MARK).removesuffix(_LYRIC_MARK).strip()
        units = tuple(u.strip() for u in body.split(_LYRIC_JOIN) if u.strip())
    else:
        units = tuple(" ".join(u.split()) for u in _sentences(body))
    start = _first_unit(element)
    first = bool(units) and (units[0] == start or start.startswith(units[0]))
    if element.parenthetical and element.text.strip():
        first = line.startswith(_label(element, True) + ":")
    return _Part(ref, units, first)


def _coalesce(parts: Iterable[_Part]) -> list[_Part]:
    """Parts in element order, the pieces of one element joined into one part."""
    by_ref: dict[int, _Part] = {}
    for part in parts:
        seen = by_ref.get(part.ref)
        if seen is None:
            by_ref[part.ref] = part
        else:
            by_ref[part.ref] = _Part(part.ref, seen.units + part.units, seen.first or part.first)
    return [by_ref[ref] for ref in sorted(by_ref)]


# --------------------------------------------------------------------------- grouping


def _group(scene: Scene, wps: float) -> list[tuple[list[_Part], float]]:
    """The scene's elements grouped into shots: each a list of parts and its seconds."""
    shots: list[tuple[list[_Part], float]] = []
    current: list[_Part] = []
    current_s = 0.0
    pending: list[_Part] = []  # silent elements (and a leading transition) awaiting a shot
    opening = True  # no establishing shot yet: keep room for its hold

    def close() -> None:
        nonlocal current, current_s, opening
        if current:
            if opening:
                current_s += min(ESTABLISHING_S, MAX_SHOT_S - current_s)
                opening = False
            shots.append((current, current_s))
        current, current_s = [], 0.0

    def add(part: _Part, seconds: float) -> None:
        nonlocal pending, current_s
        current.extend([*pending, part])
        pending = []
        current_s += seconds

    def chunk_part(ref: int, chunk: Sequence[_Piece]) -> _Part:
        return _Part(ref, tuple(p.text for p in chunk), chunk[0].first)

    elements = scene.elements
    i = 0
    while i < len(elements):
        element = elements[i]
        kind = element.kind
        if kind is ElementKind.TRANSITION:
            part = _Part(i, (), False)
            if current:
                add(part, 0.0)
                close()
            elif shots:
                shots[-1][0].extend([*pending, part])
                pending = []
            else:
                pending.append(part)
        elif kind in _SILENT or not _units(element):
            pending.append(_Part(i, (), False))
        elif kind is ElementKind.CENTERED:
            close()
            pieces = _pieces(scene, i, wps)
            for start, end in _partition([p.seconds for p in pieces]):
                seconds = sum(p.seconds for p in pieces[start:end])
                shots.append(([*pending, chunk_part(i, pieces[start:end])], seconds))
                pending = []
        elif element.dual == "left" and i + 1 < len(elements) and elements[i + 1].dual == "right":
            close()
            sides = (_pieces(scene, i, wps), _pieces(scene, i + 1, wps))
            groups = max(len(_partition([p.seconds for p in side])) for side in sides)
            spans = [_partition([p.seconds for p in side], groups) for side in sides]
            for g in range(groups):
                longest = 0.0
                for ref, side, (start, end) in zip(
                    (i, i + 1), sides, (s[g] for s in spans), strict=True
                ):
                    if end > start:
                        add(chunk_part(ref, side[start:end]), 0.0)
                        longest = max(longest, sum(p.seconds for p in side[start:end]))
                current_s = longest
                close()
            i += 1
        else:
            pieces = _pieces(scene, i, wps)
            total = sum(p.seconds for p in pieces)
            if total <= MAX_SHOT_S:
                room = MAX_SHOT_S - (ESTABLISHING_S if opening else 0.0)
                if current and current_s + total > room:
                    close()
                add(_Part(i, tuple(p.text for p in pieces), True), total)
            else:
                for start, end in _partition([p.seconds for p in pieces]):
                    close()
                    add(chunk_part(i, pieces[start:end]), sum(p.seconds for p in pieces[start:end]))
        i += 1
    close()
    if pending:
        if shots:
            shots[-1][0].extend(pending)
        else:
            shots.append((pending, 0.0))
    return shots


# --------------------------------------------------------------------------- characters


def _names(scene: Scene, cast: Sequence[str]) -> list[str]:
    return list(
        dict.fromkeys(" ".join(n.split()).upper() for n in (*scene.characters, *cast) if n.strip())
    )


def _mention_at(text: str, name: str) -> int | None:
    """Where ``name`` is first mentioned in ``text`` (see the module docstring), or None."""
    return mention_at(text, name)


def _name_forms(name: str) -> str:
    """A regex alternation of the ways the script writes ``name`` (case-sensitive)."""
    forms = sorted(name_variants(name), key=len, reverse=True)
    return "|".join(r"\s+".join(map(re.escape, f.split())) for f in forms)


def _is_subject(sentence: str, name: str) -> bool:
    pattern = r"^\W*(?:(?i:the|a|an)\s+)?(?:" + _name_forms(name) + r")(?![\w-])"
    return re.match(pattern, sentence) is not None


def _characters(
    text: _Text, scene: Scene, names: Sequence[str], wide: bool, present: Sequence[str]
) -> tuple[ShotCharacter, ...]:
    chosen: dict[str, Prominence] = {}
    for ref in text.refs:
        element = scene.elements[ref]
        if _on_screen_speech(element) and _mentions_speech(text, element):
            chosen.setdefault(element.character or "", "primary")
    opening = _first_sentence(text.action)
    named = sorted(
        ((at, name) for name in names if (at := _mention_at(text.action, name)) is not None),
        key=lambda pair: pair[0],
    )
    for _, name in named:
        if name not in chosen:
            chosen[name] = "primary" if _is_subject(opening, name) else "secondary"
    if wide:
        for name in present:
            chosen.setdefault(name, "background")
    return tuple(ShotCharacter(name=n, prominence=p) for n, p in chosen.items())


def _on_screen_speech(element: ScriptElement) -> bool:
    """A speech whose speaker is seen: not a V.O., O.S. or O.C. voice."""
    return bool(
        element.kind in _SPEECH and element.character and not off_screen(element.extension)
    )


def _mentions_speech(text: _Text, element: ScriptElement) -> bool:
    """Whether the shot's dialogue still holds a line of this speech (it may be cut away)."""
    label = _label(element, False)
    return any(line.startswith((f"{label}:", f"{label} (")) for line in text.dialogue.split("\n"))


def _first_sentence(action: str) -> str:
    units = _sentences(action.split("\n")[0]) if action else []
    return units[0] if units else ""


# --------------------------------------------------------------------------- camera

_EMOTION = re.compile(
    r"\b(tears?|cries|crying|sobs?|sobbing|weeps?|weeping|trembl\w*|whisper\w*|barely audible|"
    r"breaks? down|for the first time|heartbr\w*|choked?|chokes)\b",
    re.I,
)
# Walking, running, crossing… count for a tracking shot only with a person as the subject
# ("She runs", "They walk"), not "water runs off her chin".
_MOTION_VERBS = (
    r"(?:walks?|walking|runs?|running|ran|crosses|crossing|strides?|striding|hurr(?:y|ies)|"
    r"chases?|follows?|paces|marches|sprints?|wanders?)"
)
_PRONOUNS = ("he", "she", "they", "we", "i", "you")
_ENTRY = re.compile(
    r"\b(enters?|entering|arrives?|comes in|shoves? in|bursts? in|sweeps? in|glides? past|"
    r"drives? past|pulls? (?:up|away)|swings? open|steps (?:in|out)|into view)\b",
    re.I,
)
_VERTICAL = re.compile(r"\b(climbs?|climbing|looks up|rises|stands up|gazes up)\b", re.I)


def _prop_named(action: str, props: Sequence[str]) -> bool:
    for prop in props:
        words = re.sub(r"^(the|a|an)\s+", "", prop.strip(), flags=re.I).split()
        if words and re.search(
            r"(?<![\w])" + r"\s+".join(map(re.escape, words)) + r"(?:e?s)?(?![\w])", action, re.I
        ):
            return True
    return False


def _tracking(action: str, names: Sequence[str]) -> bool:
    subjects = [r"(?i:" + "|".join(map(re.escape, _PRONOUNS)) + ")"]
    subjects += [_name_forms(name) for name in names]
    pattern = r"(?<![\w'])(?:" + "|".join(subjects) + r")\s+(?i:\w+ly\s+|then\s+|also\s+)?"
    return re.search(pattern + f"(?i:{_MOTION_VERBS})" + r"(?![\w])", action) is not None


def _movement(text: _Text, names: Sequence[str], emotional: bool, closing: bool) -> CameraMove:
    if emotional or closing:
        return "dolly in"
    if _tracking(text.action, names):
        return "tracking"
    if _ENTRY.search(text.action):
        return "pan"
    if _VERTICAL.search(text.action):
        return "tilt"
    return "static"


def _speakers(text: _Text, scene: Scene) -> list[str]:
    out: list[str] = []
    for ref in text.refs:
        element = scene.elements[ref]
        if _on_screen_speech(element) and element.character not in out:
            if not _units(element):
                continue
            out.append(element.character)
    return out


# --------------------------------------------------------------------------- public API


def breakdown_scene(
    scene: Scene,
    number: int,
    *,
    props: Sequence[str] = (),
    wps: float = WORDS_PER_SECOND,
    cast: Sequence[str] = (),
) -> tuple[Shot, ...]:
    """Break one scene into shots ``{number}A``, ``{number}B``… of at most 8 s each.

    ``props`` are prop names (stage 5 assets) that make a shot an insert and are not sound
    cues; ``cast`` are character names beyond the scene's speakers (stage 5 assets) to find
    in action text. Deterministic: the same scene gives the same shots.
    """
    if wps <= 0:
        raise BadInput(f"words per second must be positive, not {wps}")
    grouped = _group(scene, wps) or [([], 0.0)]
    groups = [parts for parts, _ in grouped]
    names = _names(scene, cast)
    texts = [_render(parts, scene) for parts in groups]
    last_dialogue = max((n for n, t in enumerate(texts) if t.dialogue), default=-1)
    establishing = next((n for n, parts in enumerate(groups) if not _is_title(parts, scene)), None)
    exterior = scene.int_ext in (IntExt.EXT, IntExt.INT_EXT)
    coverage: dict[str, int] = {}
    present: list[str] = []
    shots = []
    for n, ((parts, seconds), text) in enumerate(zip(grouped, texts, strict=True)):
        if not any(p.units for p in parts):
            seconds = ESTABLISHING_S
        speakers = _speakers(text, scene)
        emotional = bool(
            _EMOTION.search(text.action) or _EMOTION.search(" ".join(_PAREN.findall(text.dialogue)))
        )
        title = _is_title(parts, scene)
        if title:
            framing = Framing("title", move="static")
        elif n == establishing:
            move = "crane" if exterior else _movement(text, names, emotional, False)
            framing = Framing("ews" if exterior else "ws", move=move)
        else:
            framing = _camera(text, scene, speakers, props, names, coverage, emotional)
            move = _movement(text, names, emotional, n == last_dialogue)
            framing = replace(framing, move=move)
        for name in speakers:
            coverage[name] = coverage.get(name, 0) + 1
        for name in [*speakers, *(nm for nm in names if _mention_at(text.action, nm) is not None)]:
            if name not in present:
                present.append(name)
        wide = framing.drawn in ("ws", "ews")
        shots.append(
            Shot(
                id=f"{number}{_letters(n)}",
                duration_s=_round(seconds),
                dialogue=text.dialogue,
                action=text.action,
                characters=_characters(text, scene, names, wide, present),
                setting=_setting(scene),
                camera=framing.text(),
                movement=framing.move or "static",
                sfx=_sfx(text.sound, names, props),
                continuity_flags=text.transitions,
                start_frame_only=title,
                element_refs=text.refs,
            )
        )
    return tuple(shots)


def _is_title(parts: Sequence[_Part], scene: Scene) -> bool:
    return any(p.units and scene.elements[p.ref].kind is ElementKind.CENTERED for p in parts)


def _camera(
    text: _Text,
    scene: Scene,
    speakers: Sequence[str],
    props: Sequence[str],
    names: Sequence[str],
    coverage: dict[str, int],
    emotional: bool,
) -> Framing:
    dual = any(scene.elements[r].dual for r in text.refs if scene.elements[r].kind in _SPEECH)
    if dual and len(speakers) > 1:
        return Framing("two")
    named = any(_mention_at(text.action, nm) is not None for nm in names)
    if text.action and _prop_named(text.action, props):
        return Framing("cu" if text.dialogue or named else "insert")
    if text.dialogue:
        if len(speakers) == 2:
            return Framing("two")
        if len(speakers) > 2:
            return Framing("group")
        if not speakers:
            return Framing("ms")
        speaker = speakers[0]
        turn = coverage.get(speaker, 0)
        kind = "cu" if emotional or turn >= 2 else ("ots" if turn == 1 else "ms")
        listener = next((nm for nm in coverage if nm != speaker), None)
        if kind == "ots":
            # Over the shoulder needs someone to look over; alone, the camera moves in.
            if listener:
                return Framing("ots", subject=speaker, over=listener)
            return Framing("cu", subject=speaker)
        return Framing(kind, subject=speaker)
    return Framing("ms" if named else "ws")


def _setting(scene: Scene) -> str:
    """The shot's setting from the heading: ``INT. KITCHEN - NIGHT``."""
    place = " - ".join(part for part in (scene.location, scene.time_of_day) if part)
    if not place:
        return scene.heading
    return f"{scene.int_ext.value}. {place}" if scene.int_ext is not IntExt.NONE else place


def _round(seconds: float) -> float:
    return round(min(MAX_SHOT_S, max(MIN_SHOT_S, seconds)) + 1e-9, 1)


def _letters(index: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA, 27 -> AB… (spreadsheet columns)."""
    out = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        out = chr(ord("A") + rest) + out
    return out


# Caps that are not sound cues: screenplay shorthand (``studio.caps.NOT_PROPS``), initialisms.
_NOT_SOUNDS = NOT_PROPS | ACRONYMS
_AGE = re.compile(r"^\s*\(\s*\d")


def _sfx(action: str, names: Sequence[str], props: Sequence[str]) -> tuple[str, ...]:
    name_words = {w for name in names for w in name.upper().split()}
    prop_words = {w for p in props for w in re.sub(r"[^\w\s'’-]", " ", p.upper()).split()}
    cues: list[str] = []
    for match in CAPS_RUN.finditer(action):
        words = match.group().split()
        if name_words & set(words) or _AGE.match(action[match.end() :]):
            continue
        if set(words) <= prop_words | {"THE", "A", "AN"} and set(words) & prop_words:
            continue
        if set(words) <= _NOT_SOUNDS or set(words) <= EMPHASIS:
            continue
        cue = " ".join(words)
        if cue not in cues:
            cues.append(cue)
    return tuple(cues)


def estimate_scene_seconds(scene: Scene, wps: float = WORDS_PER_SECOND) -> float:
    """Screen time by the page-per-minute rule, independent of the breakdown.

    Lines as printed: heading + blank; action and centered text wrapped at 60 characters +
    blank; a speech is its cue, its parenthetical and lines wrapped at 35 characters + blank
    (dual dialogue: the longer column); a transition + blank. 55 lines make 60 s. Dialogue
    lines are scaled by ``WORDS_PER_SECOND / wps`` (the rule assumes the default pace).
    Sections, synopses and page breaks are not printed.
    """
    if wps <= 0:
        raise BadInput(f"words per second must be positive, not {wps}")
    scale = WORDS_PER_SECOND / wps
    lines = 2.0
    elements = scene.elements
    i = 0
    while i < len(elements):
        element = elements[i]
        kind = element.kind
        if kind in _PICTURE:
            lines += _wrapped(element.text, ACTION_WIDTH) + 1
        elif kind is ElementKind.TRANSITION:
            lines += 2
        elif kind in _SPEECH:
            if element.dual == "left" and i + 1 < len(elements) and elements[i + 1].dual == "right":
                lines += (
                    max(_speech_lines(element, scale), _speech_lines(elements[i + 1], scale)) + 1
                )
                i += 1
            else:
                lines += _speech_lines(element, scale) + 1
        i += 1
    return round(lines * PAGE_SECONDS / PAGE_LINES, 1)


def _wrapped(text: str, width: int) -> int:
    return sum(
        max(1, len(textwrap.wrap(line, width))) for line in text.splitlines() if line.strip()
    )


def _speech_lines(element: ScriptElement, scale: float) -> float:
    cue = 1 if element.character else 0
    paren = _wrapped(element.parenthetical, DIALOGUE_WIDTH) if element.parenthetical else 0
    return cue + paren + _wrapped(element.text, DIALOGUE_WIDTH) * scale


def relabel(shots: Sequence[Shot], number: int) -> tuple[Shot, ...]:
    """The shots with ids ``{number}A``, ``{number}B``… in their order."""
    return tuple(
        shot.model_copy(update={"id": f"{number}{_letters(n)}"}) for n, shot in enumerate(shots)
    )


def _index(shots: Sequence[Shot], shot_id: str) -> int:
    for n, shot in enumerate(shots):
        if shot.id == shot_id:
            return n
    known = ", ".join(s.id for s in shots) or "none"
    raise NotFound(f"there is no shot {shot_id} in this scene (shots: {known})")


def split_shot(shots: Sequence[Shot], shot_id: str, scene: Scene, number: int) -> tuple[Shot, ...]:
    """Split one shot in two at the sentence boundary nearest its middle (by time).

    Both halves keep verbatim text, the original's camera, movement, setting and hand-made
    continuity flags; characters and sound cues are worked out again for each half. The
    durations add up to the original's; the ids are relettered.
    """
    at = _index(shots, shot_id)
    shot = shots[at]
    parts = _parts_of(shot, scene)
    units = _split_units(parts, scene)
    if not units:
        raise BadInput(f"shot {shot_id} holds no script text, so there is nothing to split")
    if len(units) < 2:
        raise BadInput(
            f"shot {shot_id} holds a single sentence, so it cannot be split without cutting "
            "the sentence; merge it instead or edit the script"
        )
    if shot.duration_s < 2 * MIN_SHOT_S:
        raise BadInput(
            f"shot {shot_id} lasts {shot.duration_s:.1f} s; a split needs at least "
            f"{2 * MIN_SHOT_S:.0f} s so that each half lasts {MIN_SHOT_S:.0f} s"
        )
    total = sum(seconds for seconds, _ in units)
    running, best, best_gap = 0.0, 1, math.inf
    for k in range(1, len(units)):
        running += units[k - 1][0]
        gap = abs(running - total / 2)
        if gap < best_gap - 1e-9:
            best, best_gap = k, gap
    left_s = sum(seconds for seconds, _ in units[:best])
    first_s = round(shot.duration_s * left_s / total, 1) if total else shot.duration_s / 2
    first_s = min(max(first_s, MIN_SHOT_S), round(shot.duration_s - MIN_SHOT_S, 1))
    second_s = round(shot.duration_s - first_s, 1)
    left = _coalesce(p for _, group in units[:best] for p in group)
    right = _coalesce(p for _, group in units[best:] for p in group)
    left, right = _place_silent(parts, left, right)
    names = _names(scene, [c.name for c in shot.characters])
    present = list(dict.fromkeys(c.name for s in shots[:at] for c in s.characters))
    halves = []
    for half, seconds in ((left, first_s), (right, second_s)):
        text = _render(half, scene)
        kept = tuple(f for f in shot.continuity_flags if not f.startswith(_TRANSITION_FLAG))
        present = _add_present(present, text, scene, names)
        wide = parse_camera(shot.camera).drawn in ("ws", "ews")
        halves.append(
            shot.model_copy(
                update={
                    "duration_s": seconds,
                    "action": text.action,
                    "dialogue": text.dialogue,
                    "characters": _characters(text, scene, names, wide, present),
                    "sfx": tuple(cue for cue in shot.sfx if _has_word(text.sound, cue)),
                    "continuity_flags": kept + text.transitions,
                    "element_refs": text.refs,
                }
            )
        )
    return relabel([*shots[:at], *halves, *shots[at + 1 :]], number)


def _has_word(text: str, phrase: str) -> bool:
    return re.search(rf"(?<![\w]){re.escape(phrase)}(?![\w])", text) is not None


def _split_units(parts: Sequence[_Part], scene: Scene) -> list[tuple[float, list[_Part]]]:
    """The shot's indivisible units in order, each as (seconds, parts holding it): one
    sentence, or a dual-dialogue pair spoken at once (the longer side's time)."""
    units: list[tuple[float, list[_Part]]] = []
    n = 0
    speaking = [p for p in parts if p.units]
    while n < len(speaking):
        part = speaking[n]
        element = scene.elements[part.ref]
        partner = speaking[n + 1] if n + 1 < len(speaking) else None
        if (
            element.dual == "left"
            and partner is not None
            and scene.elements[partner.ref].dual == "right"
            and partner.ref == part.ref + 1
        ):
            seconds = max(_part_seconds(part, scene), _part_seconds(partner, scene))
            units.append((seconds, [part, partner]))
            n += 2
            continue
        for k, unit in enumerate(part.units):
            piece = _Part(part.ref, (unit,), part.first and k == 0)
            units.append((_part_seconds(piece, scene), [piece]))
        n += 1
    return units


def _part_seconds(part: _Part, scene: Scene) -> float:
    element = scene.elements[part.ref]
    return sum(
        _unit_seconds(element, unit, part.first and k == 0, WORDS_PER_SECOND)
        for k, unit in enumerate(part.units)
    )


def _place_silent(
    parts: Sequence[_Part], left: list[_Part], right: list[_Part]
) -> tuple[list[_Part], list[_Part]]:
    """Put the shot's text-less parts (transitions, sections) on the side their index falls."""
    boundary = max((p.ref for p in left), default=-1)
    for part in parts:
        if part.units:
            continue
        if part.ref <= boundary or not right:
            left.append(part)
        else:
            right.append(part)
    return sorted(left, key=lambda p: p.ref), sorted(right, key=lambda p: p.ref)


def _add_present(present: list[str], text: _Text, scene: Scene, names: Sequence[str]) -> list[str]:
    out = list(present)
    for name in [
        *_speakers(text, scene),
        *(n for n in names if _mention_at(text.action, n) is not None),
    ]:
        if name not in out:
            out.append(name)
    return out


_RANK = {"primary": 0, "secondary": 1, "background": 2}


def merge_shots(shots: Sequence[Shot], shot_id: str, scene: Scene, number: int) -> tuple[Shot, ...]:
    """Merge a shot with the next one, when the two last at most 8 s together.

    Texts are joined in order (a speech or action cut between the two is joined back into
    one line), characters united (the higher prominence wins), camera, movement and setting
    are the first shot's, sound cues and flags the union; the ids are relettered.
    """
    at = _index(shots, shot_id)
    if at + 1 >= len(shots):
        raise BadInput(
            f"shot {shot_id} is the last shot of the scene; there is no next shot to merge it with"
        )
    first, second = shots[at], shots[at + 1]
    seconds = round(first.duration_s + second.duration_s, 1)
    if seconds > MAX_SHOT_S:
        raise BadInput(
            f"merging {first.id} and {second.id} would be {seconds:.1f} s, over the "
            f"{MAX_SHOT_S:.0f} s limit; split or shorten one of them first"
        )
    parts = _coalesce([*_parts_of(first, scene), *_parts_of(second, scene)])
    text = _render(parts, scene)
    characters: dict[str, str] = {}
    for c in (*first.characters, *second.characters):
        if c.name not in characters or _RANK[c.prominence] < _RANK[characters[c.name]]:
            characters[c.name] = c.prominence
    merged = first.model_copy(
        update={
            "duration_s": seconds,
            "action": text.action,
            "dialogue": text.dialogue,
            "characters": tuple(
                ShotCharacter(name=n, prominence=p)  # type: ignore[arg-type]
                for n, p in characters.items()
            ),
            "sfx": tuple(dict.fromkeys((*first.sfx, *second.sfx))),
            "continuity_flags": tuple(
                dict.fromkeys((*first.continuity_flags, *second.continuity_flags))
            ),
            "start_frame_only": first.start_frame_only and second.start_frame_only,
            "element_refs": text.refs,
        }
    )
    return relabel([*shots[:at], merged, *shots[at + 2 :]], number)


_ID = re.compile(r"^([0-9]+)([A-Z]+)$")


_SCREEN_KINDS = frozenset({ElementKind.ACTION, ElementKind.DIALOGUE, ElementKind.CENTERED,
                           ElementKind.LYRICS})


def is_bare(scene: Scene) -> bool:
    """A scene that is only its heading: nothing on screen or said, just the place."""
    return not any(
        e.kind in _SCREEN_KINDS and (e.text.strip() or e.parenthetical) for e in scene.elements
    )


def validate_shots(shots: Sequence[Shot], scene: Scene | None = None) -> list[str]:
    """What is wrong with an (edited) shot list, as sentences; empty when nothing is.

    With its ``scene``: a scene that is only a heading is one establishing shot of the place,
    which has no text to hold (the draft breakdown gives exactly that), so it is valid."""
    problems: list[str] = []
    seen: dict[str, int] = {}
    establishing_only = scene is not None and len(shots) == 1 and is_bare(scene)
    for n, shot in enumerate(shots, 1):
        label = shot.id or f"#{n}"
        if not shot.action.strip() and not shot.dialogue.strip() and not establishing_only:
            problems.append(
                f"Shot {label} has neither action nor dialogue: write what the camera sees "
                "or what is said."
            )
        if shot.duration_s > MAX_SHOT_S:
            problems.append(
                f"Shot {label} lasts {shot.duration_s:.1f} s, over the {MAX_SHOT_S:.0f} s "
                "limit: split it or shorten it."
            )
        elif shot.duration_s <= 0:
            problems.append(f"Shot {label} lasts {shot.duration_s:.1f} s: give it a duration.")
        if shot.id in seen:
            problems.append(
                f"Shot id {shot.id} is used twice (rows {seen[shot.id]} and {n}): ids must be "
                "unique; relabel the shots."
            )
        else:
            seen[shot.id] = n
    match = _ID.match(shots[0].id) if shots else None
    if shots and match is None:
        problems.append(
            f"Shot id {shots[0].id!r} is not a scene number followed by letters (like 3A); "
            "relabel the shots."
        )
    elif match is not None:
        number = match.group(1)
        for n, shot in enumerate(shots):
            expected = f"{number}{_letters(n)}"
            if shot.id != expected:
                problems.append(
                    f"Shot ids are not contiguous: row {n + 1} is {shot.id}, expected "
                    f"{expected}; relabel the shots."
                )
                break
    return problems
