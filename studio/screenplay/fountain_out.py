"""``to_fountain``: scenes written back as Fountain that parses to the same scenes.

Headings, cues and transitions are forced (``.``, ``@``, ``>``) only when the classifier
would not read them as written; action lines that would read as something else get ``!``.
"""

from __future__ import annotations

from collections.abc import Sequence

from studio.model import ElementKind, Scene, ScriptElement
from studio.screenplay.classify import (
    HEADING_RE,
    is_transition,
)
from studio.screenplay.cues import _looks_like_cue


def to_fountain(title_page: dict[str, str], scenes: Sequence[Scene]) -> str:
    """Write a title page and scenes as Fountain that parses back to the same scenes.

    Headings, cues and transitions are forced (``.``, ``@``, ``>``) only when the classifier
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
    """Escape the characters Fountain reads as emphasis, so they stay literal."""
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
    """Action text, forcing with ``!`` each line the classifier would read as something else."""
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
    """A character cue, forced with ``@`` unless the classifier reads it as written."""
    extension = (extension or "").strip()
    if extension and not (extension.startswith("(") and extension.endswith(")")):
        extension = f"({extension})"
    cue = f"{_one_line(name)} {extension}" if extension else _one_line(name)
    natural = (
        not bare and _looks_like_cue(cue) and not HEADING_RE.match(cue) and not is_transition(cue)
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
