"""A line classifier for the Fountain syntax (https://fountain.io/syntax).

``classify`` turns Fountain text into a title page and a flat list of ``Element`` values
(one per heading, action paragraph, cue, parenthetical, dialogue run, transition, note,
boneyard…), with the 1-based line each one starts on. It follows the spec where other
parsers guess:

- a character cue is a line whose letters (any script) are all upper case, with an empty
  line before it and a non-empty line after it; digits, punctuation (``’ … , & /``) and
  emoji are allowed, extensions in parentheses, ``@`` forces one; a line with no letter is
  never a cue. Whatever line follows a cue is dialogue, even ``RUN.`` in capitals;
- scene headings start with INT, EXT, EST, INT./EXT., I/E, I./E. (any case) with an empty
  line before and after, or are forced with ``.``;
- transitions are upper case ending in ``TO:`` (or ``FADE IN:``, ``FADE OUT.``, ``FADE TO
  BLACK.``…) between empty lines, or forced with ``>``;
- a title page key may be any word in any case, values continue on indented lines;
- ``/* … */`` is removed; where it fills whole lines it counts as an empty line (so the
  paragraphs around it stay apart), except inside a speech, which it does not end;
- ``[[ … ]]`` is removed, leaving one space between the words around it; a ``[[`` that is
  not closed before an empty line is ordinary text.

Nothing is dropped: an unusual layout (chained dual dialogue, a dual caret with nothing to
pair with) is kept as written and reported in ``Classified.warnings``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from studio.errors import BadInput

# Element kinds, named after the spec's element names.
HEADING = "scene_heading"
ACTION = "action"
CHARACTER = "character"
PARENTHETICAL = "parenthetical"
DIALOGUE = "dialogue"
TRANSITION = "transition"
CENTERED = "centered"
SECTION = "section"
SYNOPSIS = "synopsis"
NOTE = "note"
BONEYARD = "boneyard"
PAGE_BREAK = "page_break"
LYRICS = "lyrics"


@dataclass
class Element:
    """One Fountain element; ``meta`` holds scene_number, extension, dual, depth, forced."""

    kind: str
    text: str
    line: int
    meta: dict[str, object] = field(default_factory=dict)


@dataclass
class Classified:
    title_page: dict[str, str]
    elements: list[Element]
    warnings: list[str]


# The spec's prefixes (INT, EXT, EST, INT./EXT, INT/EXT, I/E; I./E. as well), then a period
# or a space. ``EXT/INT`` and ``E/I`` are not among them: the peers read those as action.
HEADING_RE = re.compile(
    r"^(?:INT\.?\s*/\s*EXT|I\.?\s*/\s*E|INT|EXT|EST)(?:\.|\s|$)",
    re.IGNORECASE,
)
# Not a heading by the spec, but never a character name either (``EXT/INT. PORCH``).
_HEADING_LIKE = re.compile(r"^(?:EXT\.?\s*/\s*INT|E\.?\s*/\s*I)(?:\.|\s|$)", re.IGNORECASE)
_FORCED_HEADING = re.compile(r"^\.(?=[^\W_])")
_SCENE_NUMBER = re.compile(r"\s*#([\w.\-]+)#\s*$")
_TRANSITION_WORDS = re.compile(
    r"^(?:.*\bTO:|FADE\s+IN[.:]|FADE\s+OUT[.:]?|FADE\s+TO\s+BLACK[.:]?|CUT\s+TO\s+BLACK[.:]?|"
    r"SMASH\s+TO\s+BLACK[.:]?|FADE\s+TO\s+WHITE[.:]?|IRIS\s+OUT[.:]?)$"
)
_CENTERED = re.compile(r"^>\s*(.*?)\s*<$", re.DOTALL)
_PAGE_BREAK = re.compile(r"^={3,}\s*$")
_EXTENSIONS = re.compile(r"(?:\s*\([^()]*\))+\s*$")
_TITLE_KEY = re.compile(r"^(?P<key>[^\W\d_][\w \-'.]{0,40}?)\s*:\s*(?P<value>.*)$")
_PARENTHETICAL = re.compile(r"^\(.*\)$", re.DOTALL)


def has_letters(text: str) -> bool:
    return any(c.isalpha() for c in text)


def is_upper(text: str) -> bool:
    """No lower-case letter and at least one letter (cased or not): ``ZOË``, ``李 (V.O.)``."""
    return has_letters(text) and not any(c.islower() for c in text)


def cue_parts(line: str) -> tuple[str, str] | None:
    """(name, extensions) when ``line`` has the shape of a natural cue, else None.

    Only the name (what precedes the parentheses) must be upper case: ``EVE (cont'd)``.
    """
    text = line.strip()
    if text.endswith("^"):
        text = text[:-1].rstrip()
    match = _EXTENSIONS.search(text)
    extension = match.group(0).strip() if match else ""
    name = text[: match.start()].strip() if match else text
    if not name or not is_upper(name) or name[0] in "!.>#=~[(":
        return None
    if HEADING_RE.match(name) or _HEADING_LIKE.match(name) or name.startswith("/*"):
        return None
    return name, extension


def is_transition(line: str) -> bool:
    text = line.strip()
    return is_upper(text) and bool(_TRANSITION_WORDS.match(text))


# --------------------------------------------------------------------------- markup removal


@dataclass
class _Line:
    number: int
    raw: str  # the line without notes and boneyard
    blank: bool  # empty, or filled by a boneyard
    only_markup: bool  # held only a note: transparent for the blank-line rules
    spaces: bool = False  # two or more spaces and nothing else: an empty line of a speech
    boneyard: bool = False  # held only boneyard: an empty line, except inside a speech
    attached: list[Element] = field(default_factory=list)  # notes/boneyard found on it


def _remove_markup(lines: list[str], first_number: int) -> list[_Line]:
    """Lines with ``/* */`` and closed ``[[ ]]`` removed, the removed parts as elements."""
    text = "\n".join(lines)
    out_chars: list[str] = []
    found: list[Element] = []
    boneyard_lines: set[int] = set()
    note_lines: set[int] = set()
    note_starts: set[int] = set()
    i = 0
    n = len(text)
    line_no = first_number
    while i < n:
        # Copy plain text up to the next possible marker in one piece.
        nxt = _next_marker(text, i)
        if nxt > i:
            chunk = text[i:nxt]
            out_chars.append(chunk)
            line_no += chunk.count("\n")
            i = nxt
            if i >= n:
                break
        if text.startswith("/*", i):
            end = text.find("*/", i + 2)
            if end < 0:
                raise BadInput(
                    f"line {line_no}: boneyard opened with /* is never closed: close it with */ "
                    "or delete the /*"
                )
            body = text[i + 2 : end]
            found.append(Element(BONEYARD, body.strip(), line_no))
            for k in range(body.count("\n") + 1):
                boneyard_lines.add(line_no + k)
            i = end + _gap(out_chars, text, end + 2)
            out_chars.extend("\n" * body.count("\n"))
            line_no += body.count("\n")
            continue
        if text.startswith("[[", i):
            end = text.find("]]", i + 2)
            body = text[i + 2 : end] if end >= 0 else ""
            # A note may hold lines of spaces but no truly empty line; unclosed, it is text.
            if end >= 0 and not re.search(r"\n\n", body):
                found.append(Element(NOTE, body.strip(), line_no))
                note_starts.add(line_no)
                for k in range(body.count("\n") + 1):
                    note_lines.add(line_no + k)
                i = end + _gap(out_chars, text, end + 2)
                out_chars.extend("\n" * body.count("\n"))
                line_no += body.count("\n")
                continue
        ch = text[i]
        if ch == "\n":
            line_no += 1
        out_chars.append(ch)
        i += 1
    cleaned = "".join(out_chars).split("\n")
    result = []
    for offset, raw in enumerate(cleaned):
        number = first_number + offset
        original = lines[offset] if offset < len(lines) else ""
        stripped = raw.strip()
        had_text = bool(original.strip())
        by_boneyard = number in boneyard_lines and had_text and not stripped
        # A line that held only a note is transparent; one that held a boneyard is empty.
        inside_note = number in note_lines and number not in note_starts
        by_note = (
            number in note_lines and (had_text or inside_note) and not stripped and not by_boneyard
        )
        spaces = (
            not stripped
            and len(original) >= 2
            and not original.strip()
            and number not in boneyard_lines
            and not by_note
        )
        result.append(
            _Line(number, raw.rstrip(), not stripped and not by_note, by_note, spaces, by_boneyard)
        )
    for element in found:
        # A note or boneyard inside a line of text is part of that line, not an element.
        target = result[element.line - first_number]
        if not target.raw.strip():
            target.attached.append(element)
    return result


def _next_marker(text: str, start: int) -> int:
    """Where the next ``/*`` or ``[[`` starts at or after ``start`` (``len(text)`` if none)."""
    ends = [k for k in (text.find("/*", start), text.find("[[", start)) if k >= 0]
    return min(ends) if ends else len(text)


def _gap(out_chars: list[str], text: str, after_index: int) -> int:
    """Mend the spacing where a note or boneyard was cut out; return how far to skip.

    ``waits[[x]] for`` and ``waits [[x]] for`` both give ``waits for``; ``a[[x]]b`` gives
    ``a b`` (the note stood between two words).
    """
    before = out_chars[-1][-1] if out_chars else "\n"  # pieces are never empty
    after = text[after_index] if after_index < len(text) else "\n"
    if not before.isspace() and not after.isspace() and after not in ".,;:!?)'\"":
        out_chars.append(" ")
    elif before == " " and after == " ":
        return 3  # the closing marker and one of the two spaces
    return 2


# --------------------------------------------------------------------------- title page


def _title_page(lines: list[str]) -> tuple[dict[str, str], int]:
    """The title page (lower-case keys, in order) and the index of the first body line."""
    start = 0
    while start < len(lines) and not lines[start].strip():
        start += 1
    if start >= len(lines):
        return {}, 0
    first = _TITLE_KEY.match(lines[start])
    if first is None or lines[start][:1].isspace():
        return {}, 0
    following = lines[start + 1] if start + 1 < len(lines) else ""
    continued = bool(following.strip()) and (
        following[:1].isspace() or _TITLE_KEY.match(following) is not None
    )
    if not first["value"].strip() and not continued:
        return {}, 0  # ``FADE IN:`` alone is not a title page
    if is_transition(lines[start].strip()) or HEADING_RE.match(lines[start]):
        return {}, 0
    fields: dict[str, list[str]] = {}
    key = ""
    index = start
    while index < len(lines) and lines[index].strip():
        line = lines[index]
        match = None if line[:1].isspace() else _TITLE_KEY.match(line)
        if match is not None:
            key = " ".join(match["key"].lower().split())
            fields.setdefault(key, [])
            if match["value"].strip():
                fields[key].append(match["value"].strip())
        else:
            fields.setdefault(key, []).append(line.strip())
        index += 1
    return {k: "\n".join(v) for k, v in fields.items()}, index


# --------------------------------------------------------------------------- body


def classify(text: str) -> Classified:
    """Classify Fountain ``text`` (``\\n`` line ends) into a title page and elements.

    Raises ``BadInput`` (with a line number) only for a ``/*`` that is never closed.
    """
    all_lines = text.split("\n")
    title_page, body_start = _title_page(all_lines)
    lines = _remove_markup(all_lines[body_start:], body_start + 1)
    return _Classifier(lines, title_page).run()


class _Classifier:
    def __init__(self, lines: list[_Line], title_page: dict[str, str]) -> None:
        self.lines = lines
        self.out: list[Element] = []
        self.warnings: list[str] = []
        self.title_page = title_page
        self.last_speech_cue: Element | None = None  # cue of the speech just ended

    def run(self) -> Classified:
        # Paragraphs: runs of non-blank lines; note-only lines are transparent.
        index = 0
        blank_before = True
        while index < len(self.lines):
            line = self.lines[index]
            if line.blank:
                self.out.extend(line.attached)
                blank_before = True
                index += 1
                continue
            if line.only_markup:
                self.out.extend(line.attached)
                index += 1
                continue
            end = index
            while end < len(self.lines) and not self.lines[end].blank:
                end += 1
            if blank_before and self._is_cue(line.raw.strip()):
                # Inside a speech a line of spaces keeps the block open (Fountain), and so
                # does a line that held only boneyard: cutting a line out of a speech
                # does not end it.
                def inside(line: _Line) -> bool:
                    return not line.blank or line.spaces or line.boneyard

                while end < len(self.lines) and inside(self.lines[end]):
                    end += 1
                while end - 1 > index and (self.lines[end - 1].blank):
                    end -= 1
                if (
                    end == index + 1
                    and index + 1 < len(self.lines)
                    and self.lines[index + 1].spaces
                ):
                    end += 1  # a cue over a line of spaces: a speech with no words yet
            paragraph = self.lines[index:end]
            self._paragraph(paragraph, blank_before)
            blank_before = False
            index = end
        return Classified(self.title_page, self.out, self.warnings)

    # One paragraph: lines between empty lines.
    def _paragraph(self, paragraph: list[_Line], blank_before: bool) -> None:
        content = [
            line for line in paragraph if not line.only_markup and (not line.blank or line.spaces)
        ]
        first = content[0].raw.strip()
        alone = len(content) == 1
        speech_cue = self.last_speech_cue
        self.last_speech_cue = None
        if blank_before and not alone and self._is_cue(first):
            self._speech(paragraph, speech_cue)
            return
        if blank_before and alone and first.startswith("@") and len(first) > 1:
            # A forced cue with no dialogue under it is not a character: it is action, as
            # written (``@NAME (40s, boots) waits at the top.``), without the ``@``.
            for line in paragraph:
                self.out.extend(line.attached)
            self.out.append(Element(ACTION, first[1:].strip(), content[0].number))
            return
        pending: list[_Line] = []

        def flush() -> None:
            if pending:
                text = "\n".join(_action_text(line.raw) for line in pending if not line.only_markup)
                for line in pending:
                    self.out.extend(line.attached)
                self.out.append(Element(ACTION, text.strip("\n"), pending[0].number))
                pending.clear()

        for position, line in enumerate(paragraph):
            if line.only_markup:
                if pending:
                    pending.append(line)
                else:
                    self.out.extend(line.attached)
                continue
            stripped = line.raw.strip()
            single = alone and blank_before
            element = self._single_line(stripped, line.number, single, position == 0)
            if element is None:
                pending.append(line)
                continue
            flush()
            self.out.extend(line.attached)
            self.out.append(element)
        flush()

    def _single_line(
        self, stripped: str, number: int, alone: bool, first_of_paragraph: bool
    ) -> Element | None:
        """The element a line is on its own (markup, or a heading/transition between empty
        lines), or None when it is part of an action paragraph."""
        if _PAGE_BREAK.match(stripped):
            return Element(PAGE_BREAK, "", number)
        if stripped.startswith("#"):
            depth = len(stripped) - len(stripped.lstrip("#"))
            return Element(SECTION, stripped[depth:].strip(), number, {"depth": depth})
        if stripped.startswith("=") and not stripped.startswith("=="):
            return Element(SYNOPSIS, stripped[1:].strip(), number)
        if stripped.startswith("~"):
            return Element(LYRICS, stripped[1:].strip(), number)
        centered = _CENTERED.match(stripped)
        if centered:
            return Element(CENTERED, centered.group(1), number)
        if stripped.startswith(">"):
            return Element(TRANSITION, stripped[1:].strip(), number, {"forced": True})
        if stripped.startswith("!"):
            return None
        if first_of_paragraph and _FORCED_HEADING.match(stripped) and alone:
            return _heading(stripped[1:], number, forced=True)
        if alone and HEADING_RE.match(stripped):
            return _heading(stripped, number, forced=False)
        if alone and is_transition(stripped):
            return Element(TRANSITION, stripped, number)
        return None

    @staticmethod
    def _is_cue(first: str) -> bool:
        if first.startswith("@"):
            return len(first) > 1
        return cue_parts(first) is not None and not is_transition(first)

    def _speech(self, paragraph: list[_Line], previous_cue: Element | None) -> None:
        cue_line = paragraph[0]
        cue_text = cue_line.raw.strip()
        if cue_text.startswith("@"):
            cue_text = cue_text[1:].strip()
        dual = cue_text.endswith("^")
        if dual:
            cue_text = cue_text[:-1].rstrip()
        match = _EXTENSIONS.search(cue_text)
        name = cue_text[: match.start()].strip() if match else cue_text
        extension = match.group(0).strip() if match else ""
        cue = Element(CHARACTER, name, cue_line.number, {"extension": extension})
        self.out.extend(cue_line.attached)
        if dual:
            if previous_cue is None:
                self.warnings.append(
                    f"line {cue_line.number}: {name} is marked as dual dialogue (^) but no "
                    "speech stands right before it to pair with: kept as an ordinary speech"
                )
            elif previous_cue.meta.get("dual") == "right":
                self.warnings.append(
                    f"line {cue_line.number}: {name} chains a third speech onto dual dialogue "
                    "(^ after a ^): Fountain pairs two; all speeches are kept, this one as an "
                    "ordinary speech after the pair"
                )
            else:
                previous_cue.meta["dual"] = "left"
                cue.meta["dual"] = "right"
        self.out.append(cue)
        dialogue: list[str] = []
        dialogue_line = 0

        def flush() -> None:
            if dialogue:
                self.out.append(Element(DIALOGUE, "\n".join(dialogue).strip("\n"), dialogue_line))
                dialogue.clear()

        for line in paragraph[1:]:
            if line.only_markup:
                self.out.extend(line.attached)
                continue
            stripped = line.raw.strip()
            self.out.extend(line.attached)
            if not stripped:
                # A line of spaces inside a speech is an empty line of the speech.
                if dialogue and line.spaces:
                    dialogue.append("")
                continue
            if stripped.startswith("~"):
                flush()
                self.out.append(Element(LYRICS, stripped[1:].strip(), line.number))
            elif _PARENTHETICAL.match(stripped):
                flush()
                self.out.append(Element(PARENTHETICAL, stripped, line.number))
            else:
                if not dialogue:
                    dialogue_line = line.number
                dialogue.append(stripped)
        flush()
        self.last_speech_cue = cue


def _action_text(raw: str) -> str:
    stripped = raw.strip()
    return stripped[1:] if stripped.startswith("!") else stripped


def _heading(text: str, number: int, *, forced: bool) -> Element:
    meta: dict[str, object] = {"forced": forced}
    match = _SCENE_NUMBER.search(text)
    if match:
        meta["scene_number"] = match.group(1)
        text = text[: match.start()]
    return Element(HEADING, text.strip(), number, meta)


def classify_title_page(text: str) -> dict[str, str]:
    """Only the title page of ``text`` (empty when it has none)."""
    return _title_page(text.split("\n")[:200])[0]
