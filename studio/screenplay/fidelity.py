"""Import fidelity against the Fountain peer suites (``studio bench fidelity``).

The peers are other parsers' test material, copied into ``tests/fixtures/fountain-peers``:
screenplain's ``.html`` and ``.fdx`` renderings of its ``.fountain`` files, and nyousefi's
OCUnit assertions (``XTests.m``) on the element list of its ``.fountain`` files. Each
expected element becomes a ``Check``; the checks are compared with what this importer reads
and counted per element type. Where a peer disagrees with the Fountain spec
(fountain.io/syntax), the spec decides: such a check carries the reason in ``deviation`` and
is counted apart, never as a match.
"""

from __future__ import annotations

import difflib
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

from studio.errors import BadInput
from studio.model import ElementKind
from studio.screenplay.classify import CENTERED, CHARACTER, Element, classify
from studio.screenplay.parse import parse_screenplay

PEERS = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "fountain-peers"

#: Element types as the report names them, in report order.
TYPES = (
    "scene heading",
    "scene number",
    "action",
    "character",
    "parenthetical",
    "dialogue",
    "dual",
    "transition",
    "centered",
    "section",
    "synopsis",
    "note",
    "boneyard",
    "page break",
    "lyric",
    "title page",
)
_OURS = {
    "scene_heading": "scene heading",
    "action": "action",
    "character": "character",
    "parenthetical": "parenthetical",
    "dialogue": "dialogue",
    "transition": "transition",
    "centered": "centered",
    "section": "section",
    "synopsis": "synopsis",
    "note": "note",
    "boneyard": "boneyard",
    "page_break": "page break",
    "lyrics": "lyric",
}


@dataclass(frozen=True)
class Check:
    """One expected fact from a peer: an element of ``type`` (with ``text``) at its place."""

    suite: str
    file: str
    type: str
    expected: str
    got: str
    passed: bool
    deviation: str = ""  # why the spec overrules the peer here (then it is not a match)
    invented: bool = False  # an element we read that the peer does not have at all


@dataclass
class Report:
    checks: list[Check] = field(default_factory=list)
    speeches_expected: int = 0
    speeches_kept: int = 0

    def per_type(self) -> list[tuple[str, int, int, int, int]]:
        """(type, matched, expected, rule-decided, invented) for each type that has checks;
        rule-decided checks are counted in neither matched nor expected, invented elements
        (ours, absent from the peer) apart."""
        rows = []
        for kind in TYPES:
            mine = [c for c in self.checks if c.type == kind]
            if mine:
                counted = [c for c in mine if not c.deviation and not c.invented]
                decided = sum(bool(c.deviation) for c in mine)
                invented = sum(c.invented for c in mine)
                rows.append((kind, sum(c.passed for c in counted), len(counted), decided, invented))
        return rows

    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.passed and not c.deviation]


def norm(text: str) -> str:
    """Text as compared: no emphasis markers or escapes, spacing collapsed, case folded."""
    return " ".join(re.sub(r"[*_\\]", "", text).split()).casefold()


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8-sig").replace("\r\n", "\n").replace("\r", "\n")


# --------------------------------------------------------------------------- our reading


@dataclass(frozen=True)
class Flat:
    type: str
    text: str
    dual: str = ""
    scene_number: str = ""
    depth: int = 0
    line: int = 0
    last_line: int = 0


def ours(text: str) -> list[Flat]:
    """This importer's element list for ``text``, in the report's vocabulary."""
    return [_flat(e) for e in classify(text).elements]


def _flat(element: Element) -> Flat:
    text = element.text
    if element.kind == CHARACTER:
        extension = str(element.meta.get("extension") or "")
        text = f"{text} {extension}".strip()
    return Flat(
        _OURS[element.kind],
        text,
        str(element.meta.get("dual") or ""),
        str(element.meta.get("scene_number") or ""),
        int(element.meta.get("depth") or 0),  # type: ignore[call-overload]
        element.line,
        element.line + element.text.count("\n"),
    )


# --------------------------------------------------------------------------- screenplain


class _Html(HTMLParser):
    """screenplain's HTML body as a list of ``Flat`` elements."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[Flat] = []
        self.stack: list[tuple[str, str]] = []  # (tag, class)
        self.buffer: list[str] | None = None
        self.kind = ""
        self.dual = ""
        self.skip = 0
        self.number = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        cls = dict(attrs).get("class") or ""
        if tag == "br":
            if self.buffer is not None:
                self.buffer.append("\n")
            return
        self.stack.append((tag, cls))
        if "page-break" in cls.split():
            self.out.append(Flat("page break", ""))
        if tag == "div" and cls in ("left", "right"):
            self.dual = cls
        if tag == "span" and cls in ("scnuml", "scnumr"):
            self.skip += 1
            self.buffer_number = cls == "scnuml"
            return
        kind = ""
        if tag in ("h1", "h2", "h3", "h4", "h5"):
            kind = "section"
        elif tag == "h6":
            kind, self.number = "scene heading", ""
        elif tag == "span" and cls.endswith("-synopsis"):
            kind = "synopsis"
        elif tag == "p":
            parent = next((c for t, c in reversed(self.stack[:-1]) if t == "div"), "")
            if cls == "character":
                kind = "character"
            elif cls == "parenthetical":
                kind = "parenthetical"
            elif "centered" in parent.split():
                kind = "centered"
            elif "action" in parent.split():
                kind = "action"
            else:
                kind = "dialogue"
        elif tag == "div" and "transition" in cls.split():
            kind = "transition"
        if kind:
            self.kind, self.buffer = kind, []

    def handle_endtag(self, tag: str) -> None:
        if tag == "br":
            return
        opened = self.stack.pop() if self.stack else ("", "")
        if tag == "span" and opened[1] in ("scnuml", "scnumr"):
            self.skip -= 1
            return
        if tag == "div" and opened[1] in ("left", "right"):
            self.dual = ""
        if self.buffer is not None and tag in (
            "h1",
            "h2",
            "h3",
            "h4",
            "h5",
            "h6",
            "p",
            "span",
            "div",
        ):
            text = "".join(self.buffer).replace("\xa0", " ")
            dual = self.dual if self.kind == "character" else ""
            depth = int(tag[1]) if self.kind == "section" else 0
            self.out.append(Flat(self.kind, text, dual, self.number, depth))
            self.buffer = None

    def handle_data(self, data: str) -> None:
        if self.skip:
            if getattr(self, "buffer_number", False):
                self.number = data.strip()
            return
        if self.buffer is not None:
            self.buffer.append(data)


def screenplain_html(text: str) -> list[Flat]:
    parser = _Html()
    parser.feed(text)
    return _merge_dialogue(parser.out)


def screenplain_fdx(text: str) -> list[Flat]:
    types = {
        "Scene Heading": "scene heading",
        "Action": "action",
        "Character": "character",
        "Parenthetical": "parenthetical",
        "Dialogue": "dialogue",
        "Transition": "transition",
    }
    out: list[Flat] = []
    root = ET.fromstring(text)

    def walk(node: ET.Element, dual: bool) -> None:
        side = 0
        for child in node:
            if child.tag == "DualDialogue":
                walk(child, True)
            elif child.tag == "Paragraph" and child.get("Type"):
                kind = types.get(child.get("Type", ""), "action")
                if kind == "action" and child.get("Alignment") == "Center":
                    kind = "centered"
                body = "".join(t.text or "" for t in child.iter("Text"))
                mark = ""
                if dual and kind == "character":
                    mark, side = ("left", 1) if side == 0 else ("right", 2)
                out.append(Flat(kind, body, mark))
            else:
                walk(child, dual)

    walk(root, False)
    return _merge_dialogue(out)


def _merge_dialogue(items: list[Flat]) -> list[Flat]:
    """Consecutive dialogue paragraphs of one speech are one dialogue element."""
    merged: list[Flat] = []
    for item in items:
        if item.type == "dialogue" and merged and merged[-1].type == "dialogue":
            merged[-1] = Flat("dialogue", f"{merged[-1].text}\n{item.text}")
        else:
            merged.append(item)
    return merged


def _merge_centered(items: list[Flat]) -> list[Flat]:
    merged: list[Flat] = []
    for item in items:
        previous = merged[-1] if merged else None
        if (
            item.type == "centered"
            and previous is not None
            and previous.type == "centered"
            and item.line == previous.last_line + 1  # the next line, not the next block
        ):
            merged[-1] = Flat(
                "centered", f"{previous.text}\n{item.text}", line=previous.line, last_line=item.line
            )
        else:
            merged.append(item)
    return merged


def _key(item: Flat) -> tuple[str, str]:
    return (item.type, norm(item.text))


def _deviation_screenplain(expected: Flat, got: Flat | None) -> str:
    """Where screenplain disagrees with the Fountain spec (README of the peer suites)."""
    if (
        expected.type == "action"
        and norm(expected.text) == "fade in:"
        and got
        and got.type == "transition"
    ):
        return (
            "FADE IN: between empty lines is a transition here, as FADE OUT. is; screenplain "
            "reads it as action (the spec names no rule for it)"
        )
    if (
        expected.type == "action"
        and got is not None
        and got.type == "transition"
        and norm(got.text) == norm(expected.text)
        and not norm(expected.text).endswith("to:")
    ):
        return (
            f"{expected.text.strip()} between empty lines is a transition (FADE OUT., CUT TO "
            "BLACK., FADE TO BLACK.: nyousefi's TransitionTests agree); screenplain reads action"
        )
    if expected.type == "scene heading" and re.match(r"^\.\s", expected.text):
        return (
            "'. X' is not a forced heading: the spec forces with a period before a letter or digit"
        )
    return ""


def compare_sequence(
    suite: str,
    name: str,
    expected: list[Flat],
    got: list[Flat],
    deviation: Callable[[Flat, Flat | None], str],
) -> list[Check]:
    """Align two element lists and check each expected element (type and text), its dual
    side and scene number."""
    keys_expected = [_key(e) for e in expected]
    keys_got = [_key(g) for g in got]
    matcher = difflib.SequenceMatcher(None, keys_expected, keys_got, autojunk=False)
    partner: dict[int, int] = {}
    for block in matcher.get_matching_blocks():
        for offset in range(block.size):
            partner[block.a + offset] = block.b + offset
    # Unmatched expected elements: show what stands at that place in ours.
    nearest: dict[int, int] = {}
    for tag, a0, a1, b0, b1 in matcher.get_opcodes():
        if tag in ("replace", "delete"):
            for index in range(a0, a1):
                if b0 + index - a0 < b1:
                    nearest[index] = b0 + index - a0
    checks = []
    covered = set(partner.values())
    for index, item in enumerate(expected):
        mate = partner.get(index)
        other = got[mate] if mate is not None else got[nearest[index]] if index in nearest else None
        passed = mate is not None
        shown = f"{other.type}: {other.text!r}" if other else "(nothing)"
        decided = "" if passed else deviation(item, other)
        if decided and index in nearest:
            covered.add(nearest[index])  # our reading of that element, decided by the rule
        checks.append(
            Check(suite, name, item.type, f"{item.type}: {item.text!r}", shown, passed, decided)
        )
        if item.type == "character" and (item.dual or (other is not None and other.dual)):
            ok = passed and other is not None and other.dual == item.dual
            checks.append(
                Check(suite, name, "dual", item.dual or "none", other.dual if other else "", ok)
            )
        if item.type == "scene heading" and item.scene_number:
            ok = passed and other is not None and other.scene_number == item.scene_number
            checks.append(
                Check(
                    suite,
                    name,
                    "scene number",
                    item.scene_number,
                    other.scene_number if other else "",
                    ok,
                )
            )
    # What we read that the peer has nowhere: an invented element is a disagreement too.
    for index, item in enumerate(got):
        if index not in covered:
            shown = f"{item.type}: {item.text!r}"
            checks.append(Check(suite, name, item.type, "(nothing)", shown, False, invented=True))
    return checks


def screenplain_checks(root: Path = PEERS) -> Iterable[tuple[str, Path, list[Check]]]:
    for folder in ("screenplain-tests", "screenplain-examples"):
        for source in sorted((root / folder).glob("*.fountain")):
            text = read(source)
            # screenplain renders consecutive centered lines as one block, as we do dialogue.
            mine = _merge_centered([f for f in ours(text) if f.type not in ("note", "boneyard")])
            for suffix, reader in ((".html", screenplain_html), (".fdx", screenplain_fdx)):
                oracle = source.with_suffix(suffix)
                if not oracle.exists():
                    continue
                expected = reader(read(oracle))
                got = mine
                if suffix == ".fdx":  # Final Draft XML has no page-break, section, synopsis
                    got = [f for f in mine if f.type not in ("page break", "section", "synopsis")]
                suite = f"screenplain{suffix}"
                yield (
                    suite,
                    source,
                    compare_sequence(suite, source.name, expected, got, _deviation_screenplain),
                )


# --------------------------------------------------------------------------- nyousefi

_NYOUSEFI_TYPES = {
    "Scene Heading": "scene heading",
    "Action": "action",
    "Character": "character",
    "Dialogue": "dialogue",
    "Parenthetical": "parenthetical",
    "Transition": "transition",
    "Section Heading": "section",
    "Synopsis": "synopsis",
    "Comment": "note",
    "Boneyard": "boneyard",
    "Page Break": "page break",
    "Lyrics": "lyric",
}
_METHOD = re.compile(r"^- \(void\)(test\w+)\s*\{(.*?)^\}", re.M | re.S)
_SOURCE = re.compile(r'(?:loadTestFile:@"([^"]+)"|pathForResource:@"([^"]+)" ofType:@"(\w+)")')


@dataclass(frozen=True)
class Assertion:
    """One nyousefi assertion: at ``index``, the element is (or is not) ``value``."""

    test: str
    index: int
    what: str  # type, not-type, text, scene-number, centered, dual, depth
    value: str


def nyousefi_assertions(source: str) -> list[Assertion]:
    """The element assertions of one ``XTests.m`` file, in order."""
    found: list[Assertion] = []
    for test, body in _METHOD.findall(source):
        found.extend(_title_assertions(test, body))
        found.extend(_description_assertions(test, body))
        index = -1
        loop: list[int] = []
        variables = dict(re.findall(r'NSString \*(\w+) = @"((?:[^"\\]|\\.)*)";', body))
        for statement in re.split(r";\s*\n", body):
            statement = statement.strip()
            if m := re.search(r"\bindex = (\d+)", statement):
                index = int(m[1])
            if m := re.search(r"indexes\[\] = \{([\d,\s]+)\}", statement):
                loop = [int(i) for i in m[1].split(",")]
            targets = loop if "element." in statement else [index]
            checks: list[tuple[str, str]] = []
            if m := re.search(r'elementTypeAtIndex:index\], @"([^"]+)"', statement):
                checks.append(("type", m[1]))
            if m := re.search(r'elementType, @"([^"]+)"', statement):
                checks.append(("type", m[1]))
            if m := re.search(
                r'STAssertFalse\(\[\[self elementTypeAtIndex:index\] isEqualToString:@"([^"]+)"',
                statement,
            ):
                checks.append(("not-type", m[1]))
            if m := re.search(
                r'STAssertTrue\(\[\[self elementTypeAtIndex:index\] isEqualToString:@"([^"]+)"',
                statement,
            ):
                checks.append(("type", m[1]))
            if m := re.search(
                r'elementTextAtIndex:index\], (?:@"((?:[^"\\]|\\.)*)"|(\w+))', statement
            ):
                checks.append(("text", m[1] if m[1] is not None else variables.get(m[2], "")))
            if m := re.search(r"sceneNumberForElementAtIndex:index\], (\w+)", statement):
                checks.append(("scene-number", variables.get(m[1], "")))
            if m := re.search(
                r"sectionDepthOfElementAtIndex:index\], \(?\w*\)?\s*(\d+)", statement
            ):
                checks.append(("depth", m[1]))
            if "element.isCentered" in statement:
                checks.append(("centered", "yes"))
            if "element.isDualDialogue" in statement:
                checks.append(("dual", "yes"))
            for what, value in checks:
                for target in targets:
                    found.append(Assertion(test, target, what, value))
    return found


def _unescape(literal: str) -> str:
    return literal.replace("\\n", "\n").replace('\\"', '"').replace("\\t", "\t")


def _title_assertions(test: str, body: str) -> list[Assertion]:
    """Title page assertions: the number of fields, one field's position, lines and value."""
    found = []
    if m := re.search(r"expectedNumberOfElements = (\d+);", body):
        found.append(Assertion(test, -1, "title-count", m[1]))
    field = re.search(r'titlePage\)\[(\d+)\]\[@"([^"]+)"\]', body)
    count = re.search(r"expectedCount = (\d+);", body)
    value = re.search(r'STAssertEqualObjects\(\w+Value, @"((?:[^"\\]|\\.)*)"', body)
    if field and count and value:
        found.append(
            Assertion(test, int(field[1]), "title-field", f"{field[2]}|{count[1]}|{value[1]}")
        )
    if m := re.search(r'expectedString = @"((?:[^"\\]|\\.)*)";.*stringFromTitlePage', body, re.S):
        loaded = _SOURCE.search(body)
        own = f"{loaded[2]}.{loaded[3]}" if loaded and loaded[2] else ""
        found.append(Assertion(test, -1, "title-string", f"{own}\x00{_unescape(m[1])}"))
    return found


def _description_assertions(test: str, body: str) -> list[Assertion]:
    """``[elements[i] description]`` == ``"Type: text"`` on a script given as a string."""
    string = re.search(r'NSString \*string = @"((?:[^"\\]|\\.)*)";', body)
    if string is None or "description]" not in body:
        return []
    pairs = re.findall(
        r'actualString = \[elements\[(\d+)\] description\];\s*expectedString = @"((?:[^"\\]|\\.)*)";',
        body,
    )
    return [
        Assertion(test, int(i), "describe", f"{_unescape(string[1])}\x00{_unescape(text)}")
        for i, text in pairs
    ]


def _describe(item: Flat) -> str:
    """nyousefi's ``-description`` of an element: ``Type: text``, centered as Action."""
    if item.type == "centered":
        return f"Action (centered): {item.text}"
    return f"{_nyousefi_type(item)}: {item.text}"


def _nyousefi_type(item: Flat) -> str:
    """Our element's type in nyousefi's names; centered text is "Action" there."""
    if item.type == "centered":
        return "Action"
    return next((k for k, v in _NYOUSEFI_TYPES.items() if v == item.type), item.type)


_ALL_DIGIT_CUE = re.compile(r"^\d+(?:\s*\([^()]*\))*$")
_DIGIT_CUE_REASON = (
    "an all-digit line such as '23 (O.S.)' is not a cue: the spec requires a character name "
    "to contain at least one letter (the test's own name says so; its assertion expects a "
    "Character)"
)
_TRAILING_SPACE_REASON = (
    "'CUT TO:' with trailing spaces is a transition: the spaces are invisible on the page "
    "and the spec's rule (upper case, ending in TO:, empty lines around) is met by the text"
)


def _nyousefi_view(mine: list[Flat]) -> list[tuple[Flat, str]]:
    """Our elements as nyousefi's list indexes them, each with the deviation that applies.

    nyousefi reads an all-digit cue as a Character plus Dialogue where the spec reads one
    action paragraph; the view splits that paragraph the same way so that the indexes after
    it still point at the same elements, and marks both parts as spec-decided.
    """
    view: list[tuple[Flat, str]] = []
    for item in mine:
        lines = item.text.split("\n")
        if item.type == "action" and len(lines) > 1 and _ALL_DIGIT_CUE.match(lines[0].strip()):
            view.append((item, _DIGIT_CUE_REASON))
            view.append((Flat("action", "\n".join(lines[1:])), _DIGIT_CUE_REASON))
        else:
            view.append((item, ""))
    return view


def _deviation_nyousefi(assertion: Assertion, got: Flat | None, reason: str) -> str:
    if reason:
        return reason
    if assertion.test == "testNotTransitionWithTrailingSpaces" and got and got.type == "transition":
        return _TRAILING_SPACE_REASON
    return ""


def nyousefi_checks(root: Path = PEERS) -> Iterable[tuple[str, Path, list[Check]]]:
    folder = root / "nyousefi"
    for tests in sorted(folder.glob("*Tests.m")):
        source = tests.read_text(encoding="utf-8")
        match = _SOURCE.search(source)
        if match is None:
            continue
        stem = match[1] or match[2]
        suffix = match[3] or "fountain"
        fountain = folder / f"{stem}.{suffix}"
        if not fountain.exists():
            continue
        text = read(fountain)
        view = _nyousefi_view(ours(text))
        title_page = classify(text).title_page
        checks = []
        for assertion in nyousefi_assertions(source):
            if assertion.what == "title-string":  # may load a file of its own
                own, expected = assertion.value.split("\x00", 1)
                page = classify(read(folder / own)).title_page if own else title_page
                checks.append(
                    _judge_whole(
                        Assertion(assertion.test, -1, assertion.what, expected), tests.name, page
                    )
                )
                continue
            if assertion.what.startswith("title") or assertion.what == "describe":
                checks.append(_judge_whole(assertion, tests.name, title_page))
                continue
            got, reason = view[assertion.index] if 0 <= assertion.index < len(view) else (None, "")
            kind, expected, shown, passed = _judge(assertion, got)
            checks.append(
                Check(
                    "nyousefi",
                    f"{tests.name}:{assertion.test}[{assertion.index}]",
                    kind,
                    expected,
                    shown,
                    passed,
                    "" if passed else _deviation_nyousefi(assertion, got, reason),
                )
            )
        yield "nyousefi", fountain, checks


def _judge_whole(assertion: Assertion, file: str, title_page: dict[str, str]) -> Check:
    """A title page or whole-script assertion."""
    where = f"{file}:{assertion.test}"
    if assertion.what == "title-count":
        got = str(len(title_page))
        return Check(
            "nyousefi",
            where,
            "title page",
            f"{assertion.value} fields",
            f"{got} fields",
            got == assertion.value,
        )
    if assertion.what == "title-field":
        key, count, value = assertion.value.split("|", 2)
        keys = list(title_page)
        lines = title_page.get(key, "").split("\n") if key in title_page else []
        got = f"{key} at {keys.index(key) if key in keys else -1}, {len(lines)} lines, {lines[:1]}"
        ok = (
            key in keys
            and keys.index(key) == assertion.index
            and str(len(lines)) == count
            and norm(lines[0]) == norm(_unescape(value))
        )
        return Check(
            "nyousefi",
            where,
            "title page",
            f"{key} at {assertion.index}, {count} lines, {value!r}",
            got,
            ok,
        )
    if assertion.what == "title-string":
        rendered = "".join(
            f"{key[:1].upper()}{key[1:]}: {value}\n" for key, value in title_page.items()
        )
        return Check(
            "nyousefi",
            where,
            "title page",
            repr(assertion.value),
            repr(rendered),
            rendered == assertion.value,
        )
    script, expected = assertion.value.split("\x00", 1)
    elements = ours(script)
    item = elements[assertion.index] if assertion.index < len(elements) else None
    got = _describe(item) if item else "(no element)"
    kind = _NYOUSEFI_TYPES.get(
        expected.split(":")[0], "centered" if "centered" in expected else "action"
    )
    deviation = ""
    if expected == "Action: FADE IN:" and got == "Transition: FADE IN:":
        deviation = (
            "FADE IN: between empty lines is a transition here, as FADE OUT. is; nyousefi reads "
            "it as action (the spec names no rule for it)"
        )
    ok = norm(got) == norm(expected)
    return Check(
        "nyousefi", f"{where}[{assertion.index}]", kind, expected, got, ok, "" if ok else deviation
    )


def _judge(assertion: Assertion, got: Flat | None) -> tuple[str, str, str, bool]:
    """(report type, expected, what we have, passed) for one nyousefi assertion."""
    shown = f"{got.type}: {got.text!r}" if got else "(no element)"
    what, value = assertion.what, assertion.value
    if what in ("type", "not-type"):
        kind = _NYOUSEFI_TYPES.get(value, value)
        ok = got is not None and _nyousefi_type(got) == value
        return kind, ("" if what == "type" else "not ") + value, shown, ok == (what == "type")
    if what == "text":
        kind = got.type if got else "action"
        expected = value.replace("\\n", "\n").replace('\\"', '"')
        return kind, repr(expected), shown, got is not None and norm(got.text) == norm(expected)
    if what == "scene-number":
        return (
            "scene number",
            value,
            got.scene_number if got else "",
            bool(got) and got.scene_number == value,
        )  # type: ignore[union-attr]
    if what == "depth":
        return (
            "section",
            f"depth {value}",
            f"depth {got.depth if got else 0}",
            bool(got) and str(got.depth) == value,
        )  # type: ignore[union-attr]
    if what == "centered":
        return (
            "centered",
            "centered",
            shown,
            got is not None and got.type == CENTERED.replace("_", " "),
        )
    return (
        "dual",
        "dual dialogue",
        shown + (f" [{got.dual}]" if got else ""),
        bool(got and got.dual),
    )


# --------------------------------------------------------------------------- speeches


def speech_checks(root: Path = PEERS) -> tuple[int, int]:
    """(speeches expected, speeches kept) through the whole importer: every cue screenplain
    renders must come out of ``parse_screenplay`` as a dialogue element, in order."""
    expected_total = kept = 0
    for folder in ("screenplain-tests", "screenplain-examples"):
        for source in sorted((root / folder).glob("*.fountain")):
            oracle = source.with_suffix(".html")
            if not oracle.exists():
                continue
            expected = [
                norm(re.sub(r"\s*\(.*$", "", f.text))
                for f in screenplain_html(read(oracle))
                if f.type == "character"
            ]
            if not expected:
                continue
            text = read(source)
            try:
                parsed = parse_screenplay(text, name=source.name)
            except BadInput:
                # A fragment with no scene heading is refused by design; give it one so its
                # speeches can be counted.
                parsed = parse_screenplay(f".FRAGMENT\n\n{text}", name=source.name)
            got = [
                norm(e.character or "")
                for scene in parsed.scenes
                for e in scene.elements
                if e.kind is ElementKind.DIALOGUE
            ]
            matcher = difflib.SequenceMatcher(None, expected, got, autojunk=False)
            expected_total += len(expected)
            kept += sum(block.size for block in matcher.get_matching_blocks())
    return expected_total, kept


def measure(root: Path = PEERS) -> Report:
    report = Report()
    for _suite, _path, checks in (*screenplain_checks(root), *nyousefi_checks(root)):
        report.checks.extend(checks)
    report.speeches_expected, report.speeches_kept = speech_checks(root)
    return report


def format_report(report: Report) -> str:
    lines = [
        f"{'element type':<16}{'matched':>9}{'expected':>10}{'agreement':>11}"
        f"{'invented':>10}{'rule-decided':>14}"
    ]
    total_ok = total = total_invented = 0
    for kind, ok, expected, deviations, invented in report.per_type():
        share = f"{100 * ok / expected:.1f} %" if expected else "-"
        lines.append(f"{kind:<16}{ok:>9}{expected:>10}{share:>11}{invented:>10}{deviations:>14}")
        total_ok, total = total_ok + ok, total + expected
        total_invented += invented
    lines.append(
        f"{'all':<16}{total_ok:>9}{total:>10}{100 * total_ok / max(total, 1):>9.1f} %"
        f"{total_invented:>10}"
    )
    lines.append(
        f"speeches kept (parse_screenplay vs screenplain cues): "
        f"{report.speeches_kept}/{report.speeches_expected}"
    )
    failures = report.failures()
    if failures:
        lines.append("disagreements:")
        lines.extend(
            f"  {c.suite} {c.file}: expected {c.expected}, got {c.got}" for c in failures[:40]
        )
    deviations = [c for c in report.checks if c.deviation]
    if deviations:
        lines.append(
            "decided against the peer by the Fountain spec or the importer's stated rules:"
        )
        lines.extend(
            f"  {c.suite} {c.file}: {c.expected} -> {c.got}: {c.deviation}" for c in deviations
        )
    return "\n".join(lines)


def bench(root: Path = PEERS) -> tuple[dict[str, object], str]:
    """``studio bench fidelity``: figures per element type and the printed table."""
    if not (root / "README.md").exists():
        raise BadInput(
            f"the Fountain peer suites are not at {root}: run the fidelity bench from a checkout "
            "of the repository (they live in tests/fixtures/fountain-peers)"
        )
    report = measure(root)
    figures: dict[str, object] = {
        kind: {"matched": ok, "expected": expected, "rule_decided": decided, "invented": invented}
        for kind, ok, expected, decided, invented in report.per_type()
    }
    figures["speeches"] = {"kept": report.speeches_kept, "expected": report.speeches_expected}
    figures["disagreements"] = len(report.failures())
    return figures, format_report(report)
