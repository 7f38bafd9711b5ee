"""Plain-text screenplays in the printed, indented layout: detection and conversion to
Fountain (``looks_like_plain_layout``, ``plain_to_fountain``)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from studio.screenplay.classify import (
    HEADING_RE,
    is_transition,
)
from studio.screenplay.cues import _cue_parts, _head
from studio.screenplay.fountain_out import _action_lines, _escape, _transition_line

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
