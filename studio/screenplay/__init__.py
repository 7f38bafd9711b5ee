"""Screenplay import (stage 1 mode D) and export: Fountain or plain text in, scenes out.

Parsing is fountain-py's (https://fountain.io/syntax); this module turns its flat element
list into ``Scene`` values (one ``ScriptElement`` per speech), normalises plain-text
screenplays printed in the usual indented layout to Fountain first, and reports malformed
input as ``BadInput`` naming the line. ``to_fountain`` writes scenes back as Fountain that
parses to the same scenes again.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Literal

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError, field_validator

from studio.errors import BadInput
from studio.model import AssetKind, ElementKind, IntExt, NonEmpty, Scene, ScriptElement
from studio.screenplay.classify import (
    ACTION,
    BONEYARD,
    CENTERED,
    CHARACTER,
    DIALOGUE,
    HEADING,
    HEADING_RE,
    LYRICS,
    NOTE,
    PAGE_BREAK,
    PARENTHETICAL,
    SECTION,
    SYNOPSIS,
    TRANSITION,
    Classified,
    Element,
    classify,
    classify_title_page,
    cue_parts,
    is_transition,
)
from studio.uploads import decode_text

ASSET_SHEET_MAX_BYTES = 2 * 1024 * 1024

_NO_HEADINGS = (
    "no scene headings found (INT./EXT. LOCATION - TIME, e.g. INT. KITCHEN - DAY, "
    "or a heading forced with a leading '.')"
)



# --------------------------------------------------------------------------- headings

_HEADING_RE = re.compile(
    r"^\s*(?P<prefix>INT\.?\s*/\s*EXT|EXT\.?\s*/\s*INT|I\s*/\s*E|E\s*/\s*I|INT|EXT|EST)"
    r"(?:\s*\.|\s)\s*(?P<rest>.*)$",
    re.IGNORECASE | re.DOTALL,
)
_TIME_SEPARATOR = re.compile(r"\s+[-\u2013\u2014]+\s+")


def split_heading(heading: str) -> tuple[IntExt, str, str]:
    """Split a scene heading into (INT/EXT, location, time of day).

    ``INT. KITCHEN - NIGHT`` gives ``(INT, "KITCHEN", "NIGHT")``; ``I/E`` and ``INT./EXT.``
    give ``INT_EXT``, ``EST`` gives ``EXT``; a forced heading without a prefix
    (``FLASHBACK - 1999``) gives ``NONE``. The time is whatever follows the last `` - ``.
    """
    match = _HEADING_RE.match(heading)
    if match is None:
        int_ext, rest = IntExt.NONE, heading.strip()
    else:
        prefix = re.sub(r"[\s.]", "", match["prefix"]).upper()
        int_ext = {"INT": IntExt.INT, "EXT": IntExt.EXT, "EST": IntExt.EXT}.get(
            prefix, IntExt.INT_EXT
        )
        rest = match["rest"].strip()
    separators = list(_TIME_SEPARATOR.finditer(rest))
    if not separators:
        return int_ext, rest.rstrip(" .-"), ""
    last = separators[-1]
    return int_ext, rest[: last.start()].strip(), rest[last.end() :].strip()


# --------------------------------------------------------------------------- parsing


@dataclass(frozen=True)
class ParsedScript:
    """A parsed screenplay: title page, scenes in order, who speaks and where.

    ``characters`` are canonical upper-case names without extensions, ``locations`` the
    location parts of the headings; both in order of first appearance, without repeats.
    """

    title: str
    title_page: dict[str, str]
    scenes: tuple[Scene, ...]
    characters: tuple[str, ...]
    locations: tuple[str, ...]
    warnings: tuple[str, ...] = ()


def parse_screenplay(
    text: str, *, name: str = "screenplay", fountain: bool = False
) -> ParsedScript:
    """Parse a Fountain or plain-text screenplay into scenes, or raise ``BadInput``.

    Scenes get ids ``sc-1``, ``sc-2``… in order. Content before the first heading (``FADE
    IN:``, an opening image) goes into the first scene. Notes and boneyard are dropped,
    emphasis markers stripped. Errors name ``name`` and the line: an unclosed ``/*``, a
    title page that never ends, text with no scene headings. Unusual layouts that were kept
    as written (chained dual dialogue) are listed in ``ParsedScript.warnings``.
    ``fountain=True`` reads the text as Fountain whatever its layout (stage 4's editor).
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n").removeprefix("\ufeff")
    if not text.strip():
        raise BadInput(f"{name} is empty: {_NO_HEADINGS}")
    line_map: list[int] | None = None
    if not fountain and _reads_as_plain_layout(text, name):
        text, line_map = _plain_to_fountain(text)

    def line_of(fountain_line: int) -> int:
        """The line of the uploaded file that a line of the Fountain text came from."""
        if line_map is None or not line_map:
            return fountain_line
        return line_map[min(max(fountain_line, 1), len(line_map)) - 1]

    try:
        document = classify(text)
    except BadInput as exc:
        line = re.match(r"line (\d+): (.*)", str(exc), re.DOTALL)
        if line is None:
            raise BadInput(f"{name}: {exc}") from None
        raise BadInput(f"{name}: line {line_of(int(line[1]))}: {line[2]}") from None

    assembler = _Assembler(line_of)
    for element in document.elements:
        assembler.add(element)
    scenes = assembler.finish()
    if not scenes:
        raise _no_headings_error(document, text, line_of, name)

    title_page = document.title_page
    characters = _unique(c for scene in scenes for c in scene.characters)
    locations = _unique(scene.location for scene in scenes if scene.location)
    title = _plain_title(title_page.get("title", "")) or _title_from_name(name)
    return ParsedScript(
        title, title_page, tuple(scenes), characters, locations, tuple(document.warnings)
    )


def fountain_source(text: str, name: str) -> str:
    """The Fountain text of an uploaded screenplay: the writer's own text (``\\n`` line
    ends), or for a printed plain-text layout its conversion to Fountain."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").removeprefix("\ufeff")
    return plain_to_fountain(text) if _reads_as_plain_layout(text, name) else text


def _reads_as_plain_layout(text: str, name: str) -> bool:
    """Whether to convert ``text`` from the printed layout: never for a ``.fountain`` file or
    a text with Fountain markup (a title page, forced elements, notes, boneyard)."""
    if PurePath(name).suffix.lower() == ".fountain":
        return False
    if _FOUNTAIN_MARKUP.search(_head(text)) or classify_title_page(text):
        return False
    return looks_like_plain_layout(text)


_FOUNTAIN_MARKUP = re.compile(r"^(?:[ \t]*(?:\[\[|/\*|@\S|>.*<$|~\S)|\.[^\W_]|[#=]\S|!\S)", re.M)


def _no_headings_error(
    document: Classified, text: str, line_of: Callable[[int], int], name: str
) -> BadInput:
    """The ``BadInput`` for a text in which no scene heading was found, pointing at a line."""
    visible = [e for e in document.elements if e.kind not in (NOTE, BONEYARD)]
    if document.title_page:
        block = _title_block(text)
        swallowed = next(((n, s) for n, s in block if HEADING_RE.match(s)), None)
        if swallowed is not None:
            return BadInput(
                f"{name}: line {line_of(swallowed[0])}: the title page never ends: the heading "
                f"{swallowed[1]!r} is indented, so it was read as part of a title page field; "
                "end the title page with an empty line and start the script at the left margin"
            )
        if not visible:
            last = block[-1][0] if block else 1
            return BadInput(
                f"{name}: line {line_of(last)}: the title page never ends: it runs to the end of "
                f"the file and no screenplay follows it; {_NO_HEADINGS}. Put an empty line after "
                "the title page, then the first scene heading"
            )
    cue = next((e for e in visible if e.kind == CHARACTER), None)
    if cue is not None:
        return BadInput(
            f"{name}: line {line_of(cue.line)}: dialogue for {_canonical(cue.text)} comes before "
            f"any scene heading; {_NO_HEADINGS}. Add a heading above it"
        )
    if visible:
        return BadInput(
            f"{name}: line {line_of(visible[0].line)}: {_NO_HEADINGS}; the text from this "
            "line on reads as prose, not a screenplay. Start each scene with a heading"
        )
    return BadInput(f"{name}: {_NO_HEADINGS}: the file holds only notes and comments")


def _title_block(text: str) -> list[tuple[int, str]]:
    """(line number, stripped text) of the title page lines: the first block of lines."""
    block: list[tuple[int, str]] = []
    for number, raw in enumerate(text.split("\n"), 1):
        if raw.strip():
            block.append((number, raw.strip()))
        elif block:
            break
    return block


@dataclass
class _Speech:
    """A speech being collected: the cue and the lines (parenthetical or not) under it."""

    character: str
    extension: str | None
    dual: Literal["left", "right"] | None
    line: int
    last_line: int
    parts: list[tuple[bool, str]] = field(default_factory=list)

    def add(self, is_parenthetical: bool, text: str, line: int) -> None:
        self.parts.append((is_parenthetical, text))
        self.last_line = line

    def element(self) -> ScriptElement:
        """One dialogue element; a lone leading parenthetical gets its own field."""
        parts = self.parts
        parenthetical = None
        # Several parentheticals, or one mid-speech, stay inline in the text so their
        # position is kept (the model has room for one, before the line).
        if [i for i, (is_paren, _) in enumerate(parts) if is_paren] == [0]:
            parenthetical, parts = parts[0][1], parts[1:]
        return ScriptElement(
            kind=ElementKind.DIALOGUE,
            text="\n".join(text for _, text in parts),
            character=self.character,
            extension=self.extension,
            parenthetical=parenthetical,
            dual=self.dual,
            line=self.line,
        )


_SIMPLE_KINDS = {
    ACTION: ElementKind.ACTION,
    TRANSITION: ElementKind.TRANSITION,
    CENTERED: ElementKind.CENTERED,
    LYRICS: ElementKind.LYRICS,
    PAGE_BREAK: ElementKind.PAGE_BREAK,
    SECTION: ElementKind.SECTION,
    SYNOPSIS: ElementKind.SYNOPSIS,
}


class _Assembler:
    """Folds the classifier's flat element list into scenes of ``ScriptElement`` values."""

    def __init__(self, line_of: Callable[[int], int]) -> None:
        self.line_of = line_of
        self.preamble: list[ScriptElement] = []
        self.headings: list[Element] = []
        self.bodies: list[list[ScriptElement]] = []
        self.speech: _Speech | None = None
        self.last_cue: _Speech | None = None
        self.lyric_end = -1

    @property
    def body(self) -> list[ScriptElement]:
        return self.bodies[-1] if self.bodies else self.preamble

    def add(self, element: Element) -> None:
        kind = element.kind
        if kind in (NOTE, BONEYARD):
            return  # ignored by design; they do not end a speech either
        if kind == CHARACTER:
            self._close()
            self.speech = self._open(element)
        elif kind in (DIALOGUE, PARENTHETICAL):
            self._speech_line(element)
        elif kind == HEADING:
            self._close()
            self.headings.append(element)
            self.bodies.append([])
        elif kind == LYRICS:
            self._lyric(element)
        elif kind in _SIMPLE_KINDS:
            self._close()
            text = "" if kind == PAGE_BREAK else _plain(element.text)
            if kind == ACTION and not text.strip():
                return
            self.body.append(
                ScriptElement(kind=_SIMPLE_KINDS[kind], text=text, line=self.line_of(element.line))
            )

    def _open(self, cue: Element) -> _Speech:
        extension = cue.meta.get("extension")
        dual = cue.meta.get("dual")
        speech = _Speech(
            character=_canonical(_plain(cue.text)),
            extension=extension if isinstance(extension, str) and extension else None,
            dual=dual if dual in ("left", "right") else None,  # type: ignore[arg-type]
            line=self.line_of(cue.line),
            last_line=cue.line,
        )
        self.last_cue = speech
        return speech

    def _speech_line(self, element: Element) -> None:
        is_paren = element.kind == PARENTHETICAL
        if self.speech is None:
            if self.last_cue is None:  # cannot come out of the classifier; keep it as action
                self.body.append(
                    ScriptElement(
                        kind=ElementKind.ACTION,
                        text=_plain(element.text),
                        line=self.line_of(element.line),
                    )
                )
                return
            # Dialogue resuming after a lyric in the same block: a new speech, same speaker.
            cue = self.last_cue
            self.speech = _Speech(
                cue.character, cue.extension, None, self.line_of(element.line), element.line
            )
        self.speech.add(is_paren, _plain(element.text), element.line + element.text.count("\n"))

    def _lyric(self, element: Element) -> None:
        """Lyrics; sung inside a speech block they carry the singer as ``character``."""
        singer = None
        text = _plain(element.text)
        if self.speech is not None and element.line == self.speech.last_line + 1:
            singer = self.speech.character
            if not self.speech.parts:
                self.speech = None  # the cue only introduced the song
        elif self.speech is None and element.line == self.lyric_end + 1 and self.body:
            previous = self.body[-1]
            if previous.kind is ElementKind.LYRICS:
                # Consecutive ~lines are one lyric element, as they are one block on the page.
                self.body[-1] = previous.model_copy(update={"text": f"{previous.text}\n{text}"})
                self.lyric_end = element.line
                return
        self._close()
        self.body.append(
            ScriptElement(
                kind=ElementKind.LYRICS, text=text, character=singer, line=self.line_of(element.line)
            )
        )
        self.lyric_end = element.line

    def _close(self) -> None:
        if self.speech is not None:
            self.body.append(self.speech.element())
            self.speech = None

    def finish(self) -> list[Scene]:
        self._close()
        scenes = []
        for index, (heading, body) in enumerate(zip(self.headings, self.bodies, strict=True), 1):
            if index == 1:
                body = self.preamble + body
            heading_text = _plain(heading.text)
            int_ext, location, time_of_day = split_heading(heading_text)
            number = heading.meta.get("scene_number")
            speakers = (
                e.character
                for e in body
                if e.character and e.kind in (ElementKind.DIALOGUE, ElementKind.LYRICS)
            )
            scenes.append(
                Scene(
                    id=f"sc-{index}",
                    heading=heading_text,
                    int_ext=int_ext,
                    location=location,
                    time_of_day=time_of_day,
                    scene_number=number if isinstance(number, str) else None,
                    elements=tuple(body),
                    characters=_unique(speakers),
                    line=self.line_of(heading.line),
                )
            )
        return scenes


_ESCAPES = {"\\\\": "\x00", "\\*": "\x01", "\\_": "\x02"}


def _plain(text: str) -> str:
    """Text without emphasis markers (``*x*``, ``**x**``, ``_x_``); ``\\*`` stays a ``*``."""
    for escape, mark in _ESCAPES.items():
        text = text.replace(escape, mark)
    for _ in range(3):  # nested markers such as _**TITLE**_
        text = _EMPHASIS.sub(r"\2", text)
    return text.replace("\x00", "\\").replace("\x01", "*").replace("\x02", "_")


def same_scenes(a: Sequence[Scene], b: Sequence[Scene]) -> bool:
    """Whether two scene lists hold the same script, ignoring ids and source line numbers."""
    skip = {"id": True, "line": True, "elements": {"__all__": {"line"}}}
    return len(a) == len(b) and all(
        x.model_dump(exclude=skip) == y.model_dump(exclude=skip) for x, y in zip(a, b, strict=True)
    )


def _canonical(name: str) -> str:
    """A character's canonical name: upper case, single spaces, no dual-dialogue caret."""
    return " ".join(name.replace("^", " ").split()).upper()


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    """The items in first-seen order without repeats."""
    return tuple(dict.fromkeys(items))


_EMPHASIS = re.compile(r"(\*{1,3}|_)(?=\S)(.+?)(?<=\S)\1")
_NOTE = re.compile(r"\[\[.*?\]\]", re.DOTALL)


def _plain_title(value: str) -> str:
    """A title-page value as plain text: no notes, no emphasis markers, one line."""
    value = _NOTE.sub("", value)
    for _ in range(3):  # nested markers such as _**TITLE**_
        value = _EMPHASIS.sub(r"\2", value)
    return " ".join(value.split())


def _title_from_name(name: str) -> str:
    stem = PurePath(name).stem if "." in name else name
    return " ".join(stem.replace("_", " ").split()) or "Untitled"


# --------------------------------------------------------------------------- cues


def _cue_parts(line: str) -> tuple[str, str] | None:
    """(name, extensions) when ``line`` has the shape of a cue in any alphabet, else None."""
    return cue_parts(line)


def _looks_like_cue(line: str) -> bool:
    """Whether the classifier would read ``line`` as a cue (given a line under it)."""
    return cue_parts(line) is not None and not is_transition(line)


_HEAD_LINES = 300


def _head(text: str) -> str:
    """The top of ``text``: what layout guesses look at, so lines far below cannot change them."""
    return "\n".join(text.split("\n", _HEAD_LINES)[:_HEAD_LINES])


# --------------------------------------------------------------------------- writing


def to_fountain(title_page: dict[str, str], scenes: Sequence[Scene]) -> str:
    """Write a title page and scenes as Fountain that parses back to the same scenes.

    Headings, cues and transitions are forced (``.``, ``@``, ``>``) only when fountain-py
    would not recognise them; action lines that would read as something else get ``!``;
    emphasis characters in text are escaped so they stay literal.
    """
    out: list[str] = []
    for key, value in title_page.items():
        lines = [line.strip() for line in value.split("\n") if line.strip()]
        if not lines:
            continue  # an empty key with no indented value would end the title page
        label = " ".join(word[:1].upper() + word[1:] for word in key.split())
        if len(lines) == 1:
            out.append(f"{label}: {lines[0]}")
        else:
            out.append(f"{label}:")
            out.extend(f"    {line}" for line in lines)
    if out:
        out.append("")
    for index, scene in enumerate(scenes):
        elements = list(scene.elements)
        if index == 0:
            # Elements that stood before the first heading in the source go back there.
            lead = 0
            while lead < len(elements) and 0 < elements[lead].line < scene.line:
                lead += 1
            for element in elements[:lead]:
                out.extend(_element_lines(element, document_start=not out))
                out.append("")
            elements = elements[lead:]
        out.append(_heading_line(scene))
        out.append("")
        for element in elements:
            out.extend(_element_lines(element, document_start=False))
            out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


def _escape(text: str) -> str:
    """Escape the characters fountain-py reads as emphasis, so they stay literal."""
    return text.replace("\\", "\\\\").replace("*", "\\*").replace("_", "\\_")


def _one_line(text: str) -> str:
    """Text for a one-line Fountain element: lines joined by a space, inner spacing kept."""
    return " ".join(line.strip() for line in text.split("\n") if line.strip())


def _heading_line(scene: Scene) -> str:
    heading = _escape(_one_line(scene.heading))
    if not HEADING_RE.match(heading):
        heading = "." + heading
    if scene.scene_number:
        heading += f" #{scene.scene_number}#"
    return heading


def _element_lines(element: ScriptElement, *, document_start: bool) -> list[str]:
    """The Fountain lines of one element (no surrounding empty lines)."""
    kind = element.kind
    if kind is ElementKind.ACTION:
        return _action_lines(element.text, document_start=document_start)
    if kind is ElementKind.DIALOGUE:
        return _speech_lines(element)
    if kind is ElementKind.TRANSITION:
        return [_transition_line(element.text)]
    if kind is ElementKind.CENTERED:
        return [f"> {_escape(line.strip())} <" for line in element.text.split("\n") if line.strip()]
    if kind is ElementKind.LYRICS:
        lyrics = [f"~{_escape(line.strip())}" for line in element.text.split("\n") if line.strip()]
        return (
            [_cue_line(element.character, None, right=False, bare=False)]
            if element.character
            else []
        ) + lyrics
    if kind is ElementKind.PAGE_BREAK:
        return ["==="]
    if kind is ElementKind.SECTION:
        return [f"# {_escape(_one_line(element.text))}"]
    return [f"= {_escape(_one_line(element.text))}"]  # synopsis


def _transition_line(text: str) -> str:
    line = _escape(_one_line(text))
    natural = is_transition(line) and not HEADING_RE.match(line)
    return line if natural else f"> {line}"


def _action_lines(text: str, *, document_start: bool) -> list[str]:
    """Action text, forcing with ``!`` each line fountain-py would read as something else."""
    lines = text.split("\n")
    out = []
    for index, raw in enumerate(lines):
        line = _escape(raw.rstrip())
        stripped = line.strip()
        if not stripped:
            out.append("")
            continue
        last = index == len(lines) - 1
        if (
            stripped[0] in "!@#=~>."
            or stripped.startswith(("[[", "/*"))
            or HEADING_RE.match(stripped)
            or is_transition(stripped)
            or (not last and _looks_like_cue(stripped))
            or (document_start and index == 0 and ":" in stripped)  # would open a title page
        ):
            line = "!" + line
        out.append(line)
    return out


def _cue_line(name: str, extension: str | None, *, right: bool, bare: bool) -> str:
    """A character cue, forced with ``@`` unless fountain-py recognises it as written."""
    extension = (extension or "").strip()
    if extension and not (extension.startswith("(") and extension.endswith(")")):
        extension = f"({extension})"
    cue = f"{_one_line(name)} {extension}" if extension else _one_line(name)
    natural = (
        not bare
        and _looks_like_cue(cue)
        and not HEADING_RE.match(cue)
        and not is_transition(cue)
    )
    caret = "^" if right else ""
    return f"{cue}{caret}" if natural else f"@{cue}{caret}"


def _speech_lines(element: ScriptElement) -> list[str]:
    body: list[str] = []
    if element.parenthetical:
        paren = _one_line(element.parenthetical)
        body.append(
            _escape(paren if paren.startswith("(") and paren.endswith(")") else f"({paren})")
        )
    if element.text:
        # An empty line inside a speech is written as two spaces, which keeps the block open.
        body.extend(_escape(line.strip()) or "  " for line in element.text.split("\n"))
    elif not body:
        # A cue needs a line under it; a line of spaces is an empty line of the speech.
        body.append("  ")
    # A cue is natural only when its next line reads as dialogue; otherwise force it.
    first = body[0].strip() if body else ""
    bare = not first
    cue = _cue_line(
        element.character or "", element.extension, right=element.dual == "right", bare=bare
    )
    return [cue, *body]


# --------------------------------------------------------------------------- plain text

_PLAIN_MIN_LINES = 6
_DEEP_INDENT = 8
_FURNITURE = re.compile(
    r"^(?:\d{1,4}[A-Z]?\.?|\(MORE\)|\(?CONTINUED\)?:?|\(CONT['\u2019]?D\))$", re.IGNORECASE
)
_CONTD = re.compile(r"\s*\(CONT['\u2019]?D\)", re.IGNORECASE)
_NUMBERED_HEADING = re.compile(r"^(?P<num>\d+[A-Z]?)\.?\s+(?P<heading>.+?)(?:\s+(?P=num)\.?)?$")
_CREDIT = re.compile(
    r"^(?:(?:original\s+)?(?:screenplay|story|written|teleplay)\s+)?by$", re.IGNORECASE
)


@dataclass(frozen=True)
class _Row:
    indent: int
    text: str
    line: int


def looks_like_plain_layout(text: str) -> bool:
    """Whether ``text`` is a screenplay in the printed, indented layout rather than Fountain.

    Printed layout indents cues (~20-40 columns), parentheticals and dialogue (~10-25);
    Fountain does not indent. A quarter of the lines indented by 8+ columns beyond the
    left margin, with at least two indented upper-case cues, decides it.
    """
    rows = [row for row in _rows(_head(text)) if row.text]
    if len(rows) < _PLAIN_MIN_LINES:
        return False
    deep = [row for row in rows if row.indent >= _DEEP_INDENT]
    cues = [row for row in deep if row.indent >= 15 and _cue_parts(row.text) is not None]
    return len(deep) >= 0.25 * len(rows) and len(cues) >= 2


def plain_to_fountain(text: str) -> str:
    """Rewrite a plain-text screenplay in the printed layout as Fountain.

    Headings at the margin stay headings (scene numbers on either side become ``#n#``),
    indented upper-case cues become ``@CUE`` with their dialogue and parentheticals
    unwrapped, right-aligned ``…TO:`` lines become transitions, indented upper-case lines
    alone become centered text, and a centered title block becomes the title page. Page
    numbers, ``(MORE)``, ``CONTINUED`` and ``(CONT'D)`` markers are dropped; a speech split
    by a page break is joined again.
    """
    return _plain_to_fountain(text)[0]


def _rows(text: str) -> list[_Row]:
    """Lines with their indentation measured from the text's left margin."""
    raw = [line.replace("\f", "").expandtabs(8).rstrip() for line in text.split("\n")]
    indents = [len(line) - len(line.lstrip()) for line in raw]
    margin = min((i for i, line in zip(indents, raw, strict=True) if line), default=0)
    return [
        _Row(i - margin if line else 0, line.strip(), n)
        for n, (i, line) in enumerate(zip(indents, raw, strict=True), 1)
    ]


class _PlainWriter:
    """Collects Fountain lines with the plain-text line each one came from."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.sources: list[int] = []

    def emit(self, line: str, source: int) -> None:
        self.lines.append(line)
        self.sources.append(source)

    def blank(self, source: int) -> None:
        if self.lines and self.lines[-1] != "":
            self.emit("", source)


def _plain_to_fountain(text: str) -> tuple[str, list[int]]:
    """``plain_to_fountain`` plus, for each Fountain line, its line in ``text``."""
    rows = _rows(text)
    out = _PlainWriter()
    index = _plain_title_page(rows, out)
    after_blank = True
    while index < len(rows):
        row = rows[index]
        if not row.text:
            after_blank = True
            index += 1
            continue
        if _FURNITURE.match(row.text):
            index += 1
            continue
        if after_blank and _starts_speech(rows, index):
            index = _plain_speech(rows, index, out)
        elif _plain_heading(row.text) is not None and _ends_paragraph(rows, index):
            out.blank(row.line)
            out.emit(_plain_heading(row.text) or row.text, row.line)
            out.blank(row.line)
            index += 1
        elif _ends_paragraph(rows, index) and _is_plain_transition(row):
            out.blank(row.line)
            out.emit(_transition_line(row.text), row.line)
            out.blank(row.line)
            index += 1
        elif (
            _ends_paragraph(rows, index)
            and row.indent >= 15
            and row.text.upper() == row.text
            and any(c.isalpha() for c in row.text)
        ):
            out.blank(row.line)
            out.emit(f"> {_escape(row.text)} <", row.line)
            out.blank(row.line)
            index += 1
        else:
            index = _plain_action(rows, index, out)
        after_blank = False
    return "\n".join(out.lines) + "\n", out.sources + [rows[-1].line if rows else 1]


_FADE_IN = re.compile(r"^FADE\s+IN\b", re.IGNORECASE)


def _ends_paragraph(rows: list[_Row], index: int) -> bool:
    return index + 1 >= len(rows) or not rows[index + 1].text


def _is_plain_transition(row: _Row) -> bool:
    if is_transition(row.text):
        return True
    upper = row.text.upper() == row.text and any(c.isalpha() for c in row.text)
    return (
        upper
        and row.indent >= 25
        and (row.text.endswith(":") or row.text.rstrip(".").endswith(("OUT", "BLACK")))
    )


def _plain_heading(text: str) -> str | None:
    """The Fountain heading line for a printed heading (``12 INT. HOUSE - DAY 12``), or None."""
    if HEADING_RE.match(text):
        return _escape(text)
    match = _NUMBERED_HEADING.match(text)
    if match and HEADING_RE.match(match["heading"]):
        return f"{_escape(match['heading'])} #{match['num']}#"
    return None


def _starts_speech(rows: list[_Row], index: int) -> bool:
    """An indented upper-case cue directly followed by less indented dialogue."""
    row = rows[index]
    if row.indent < 12 or _cue_parts(row.text) is None or _is_plain_transition(row):
        return False
    if index + 1 >= len(rows):
        return False
    following = rows[index + 1]
    return bool(following.text) and following.indent >= 5 and following.indent < row.indent


def _plain_cue(text: str) -> str:
    parts = _cue_parts(_CONTD.sub("", text))
    name, extension = parts if parts else (text, "")
    return f"{name} {extension}".strip()


def _plain_speech(rows: list[_Row], index: int, out: _PlainWriter) -> int:
    """Write one speech as Fountain; return the index of the row after it."""
    cue_row = rows[index]
    cue = _plain_cue(cue_row.text)
    name = cue.split("(")[0].strip()
    out.blank(cue_row.line)
    out.emit(f"@{cue}", cue_row.line)
    words: list[str] = []
    words_line = cue_row.line

    def flush() -> None:
        if words:
            out.emit(_escape(" ".join(words)), words_line)
            words.clear()

    index += 1
    while index < len(rows) and rows[index].text:
        row = rows[index]
        if row.text.upper() == "(MORE)":
            # A page break inside the speech: skip the page furniture and the repeated cue.
            following = index + 1
            while following < len(rows) and (
                not rows[following].text or _FURNITURE.match(rows[following].text)
            ):
                following += 1
            if (
                following < len(rows)
                and _plain_cue(rows[following].text).split("(")[0].strip() == name
            ):
                index = following + 1
                continue
            index += 1
            break
        if _FURNITURE.match(row.text):
            index += 1
            continue
        if row.text.startswith("("):
            flush()
            paren = [row.text]
            while not paren[-1].endswith(")") and index + 1 < len(rows) and rows[index + 1].text:
                index += 1
                paren.append(rows[index].text)
            out.emit(_escape(" ".join(paren)), row.line)
        else:
            if not words:
                words_line = row.line
            words.append(row.text)
        index += 1
    flush()
    out.blank(rows[index - 1].line)
    return index


def _plain_action(rows: list[_Row], index: int, out: _PlainWriter) -> int:
    """Write one action paragraph, unwrapped to one line; return the next row's index."""
    first = rows[index]
    words = []
    while index < len(rows) and rows[index].text:
        if not _FURNITURE.match(rows[index].text):
            words.append(rows[index].text)
        index += 1
    out.blank(first.line)
    for line in _action_lines(" ".join(words), document_start=not out.lines):
        out.emit(line, first.line)
    out.blank(first.line)
    return index


def _plain_title_page(rows: list[_Row], out: _PlainWriter) -> int:
    """Write a centered title block as a Fountain title page; return where the script starts."""
    stop = 0
    while stop < len(rows):
        row = rows[stop]
        if row.text and (
            _plain_heading(row.text) is not None
            or is_transition(row.text)
            or _FADE_IN.match(row.text)
            or _starts_speech(rows, stop)
        ):
            break
        stop += 1
    block = [row for row in rows[:stop] if row.text and not _FURNITURE.match(row.text)]
    if stop >= len(rows) or not block or block[0].indent < 10:
        return 0
    fields: dict[str, list[_Row]] = {"Title": [block[0]]}
    rest = block[1:]
    if rest and _CREDIT.match(rest[0].text):
        fields["Credit"] = [rest[0]]
        rest = rest[1:]
        if rest:
            fields["Author"] = [rest[0]]
            rest = rest[1:]
    notes = [row for row in rest if row.indent >= 10]
    contact = [row for row in rest if row.indent < 10]
    if notes:
        fields["Notes"] = notes
    if contact:
        fields["Contact"] = contact
    for key, values in fields.items():
        if len(values) == 1:
            out.emit(f"{key}: {values[0].text}", values[0].line)
        else:
            out.emit(f"{key}:", values[0].line)
            for row in values:
                out.emit(f"    {row.text}", row.line)
    out.emit("", block[-1].line)
    return stop


# --------------------------------------------------------------------------- asset sheet


class AssetSheetEntry(BaseModel):
    """One asset pre-defined by an uploaded JSON asset sheet (stage 1 mode D)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: NonEmpty
    kind: AssetKind
    description: str = ""
    voice_profile: str | None = None

    @field_validator("kind", mode="before")
    @classmethod
    def _kind_any_case(cls, value: object) -> object:
        # "Character" and " PROP " are what people type; the enum values are lower case.
        return value.strip().lower() if isinstance(value, str) else value


class _AssetSheet(BaseModel):
    model_config = ConfigDict(extra="forbid")

    assets: list[AssetSheetEntry]


_ENTRIES = TypeAdapter(list[AssetSheetEntry])


def parse_asset_sheet(data: bytes, name: str) -> tuple[AssetSheetEntry, ...]:
    """Parse a JSON asset sheet: ``{"assets": [...]}`` or a bare list of assets.

    Each asset has ``name``, ``kind`` (character, location, prop), optional
    ``description`` and ``voice_profile``. Invalid JSON, a wrong shape, unknown fields and
    repeated assets raise ``BadInput`` naming the file and where the problem is.
    """
    text = decode_text(data, name, max_bytes=ASSET_SHEET_MAX_BYTES)
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadInput(
            f"{name} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        ) from None
    try:
        if isinstance(raw, list):
            entries = _ENTRIES.validate_python(raw)
        elif isinstance(raw, dict):
            entries = _AssetSheet.model_validate(raw).assets
        else:
            raise BadInput(
                f'{name}: an asset sheet is a JSON object {{"assets": [...]}} or a list of assets'
            )
    except ValidationError as exc:
        problems = [
            _describe_error(error, bare_list=isinstance(raw, list)) for error in exc.errors()
        ]
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise BadInput(
            f"{name}: the asset sheet is invalid: {'; '.join(problems[:3])}{more}"
        ) from None
    seen: set[tuple[AssetKind, str]] = set()
    for entry in entries:
        key = (entry.kind, entry.name.casefold())
        if key in seen:
            raise BadInput(
                f"{name}: the {entry.kind.value} {entry.name!r} is listed twice: keep one entry"
            )
        seen.add(key)
    return tuple(entries)


def _describe_error(error: dict, *, bare_list: bool) -> str:
    """'assets[2].kind: Input should be …' from one pydantic error."""
    path = ""
    for part in ("assets", *error["loc"]) if bare_list else error["loc"]:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return f"{path or 'the sheet'}: {error['msg']}"
