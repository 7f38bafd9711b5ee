"""``parse_screenplay``: a Fountain or plain-text screenplay into ``Scene`` values.

The classifier (``classify.py``) reads the Fountain lines; this module folds its flat
element list into scenes (one ``ScriptElement`` per speech), converts a printed plain-text
layout to Fountain first, and reports malformed input as ``BadInput`` naming the line.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Literal

from studio.errors import BadInput
from studio.headings import split_heading
from studio.model import ElementKind, Scene, ScriptElement
from studio.screenplay import limits
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
)
from studio.screenplay.cues import _head
from studio.screenplay.plain import _plain_to_fountain, looks_like_plain_layout, plain_to_fountain

_NO_HEADINGS = (
    "no scene headings found (INT./EXT. LOCATION - TIME, e.g. INT. KITCHEN - DAY, "
    "or a heading forced with a leading '.')"
)


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
    limits.precheck_scenes(text, name)  # a far-too-long script is refused before parsing
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
    limits.check_scenes(len(scenes), name)

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
            if self.speech.dual == "right":
                self._mark_left()
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

    def _mark_left(self) -> None:
        """The speech right before a ``^`` speech is its left side: when a lyric split that
        speech in parts, the last part (the one next to the right side) is."""
        body = self.body
        last = next(
            (i for i in range(len(body) - 1, -1, -1) if body[i].kind is ElementKind.DIALOGUE), None
        )
        if last is None:
            return
        index = last - 1
        while (
            index >= 0
            and body[index].kind in (ElementKind.DIALOGUE, ElementKind.LYRICS)
            and body[index].character == body[last].character
        ):
            if body[index].dual == "left":  # the same speech, before its lyric
                body[index] = body[index].model_copy(update={"dual": None})
            index -= 1
        body[last] = body[last].model_copy(update={"dual": "left"})

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
                kind=ElementKind.LYRICS,
                text=text,
                character=singer,
                line=self.line_of(element.line),
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
