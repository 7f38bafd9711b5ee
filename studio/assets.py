"""Stage 5, deterministic part: props from the script, descriptions from mentions, style packs.

Characters (cues) and locations (headings) come from the screenplay import
(``services.assets_from_script``); this module adds the props, pre-fills every asset's
description from what the script says about it, merges a re-run of extraction into the
assets a user already edited, and loads the visual style packs of ``data/styles/``.
Everything here is a pure function of its input, so re-running it gives the same result.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path

from pydantic import ValidationError

from studio.caps import (
    NOT_PROPS,
    SOUNDS,
    mentions_name,
    name_pattern,
    name_variants,
    title_case,
)
from studio.errors import BadInput
from studio.model import Asset, AssetKind, ElementKind, Scene, StylePack, slugify

# A character's colour in every picture of it (image key card, panels, clips): distinct and
# readable on dark and light backdrops. One table, so the key and the frames agree.
CHARACTER_COLOURS = ("#d1495b", "#edae49", "#00798c", "#66a182", "#8d6a9f", "#e07a5f", "#3d5a80", "#c9a227")


def character_colour(asset_id: str) -> str:
    """The stable colour of a character asset, from its id."""
    digest = int(hashlib.sha256(asset_id.encode()).hexdigest()[:8], 16)
    return CHARACTER_COLOURS[digest % len(CHARACTER_COLOURS)]

# --------------------------------------------------------------------------- text helpers

_ABBREVIATIONS = {"mr", "mrs", "ms", "dr", "st", "jr", "sr", "prof", "mt", "no", "vs"}
# A sentence ends at . ! ? (or an ellipsis), optionally followed by closing quotes,
# brackets or emphasis marks, then whitespace and something that can start a sentence.
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"'\u201d\u2019)*_]*\s+(?=[A-Z0-9\"'\u201c\u2018(*_])")


_LAST_WORD = re.compile(r"[A-Za-z]+\.$")


def split_sentences(text: str) -> list[str]:
    """Split action text into sentences (whitespace collapsed); 'Mr. Brandt' stays whole."""
    return list(_sentences(text))


@lru_cache(maxsize=65_536)
def _sentences(text: str) -> tuple[str, ...]:
    """:func:`split_sentences`, cached: extraction splits every paragraph once per asset."""
    flat = _flat(text)
    sentences: list[str] = []
    start = 0
    for match in _SENTENCE_END.finditer(flat):
        before = flat[start : match.start()].rstrip("\"'\u201d\u2019)*_")
        last_word = _LAST_WORD.findall(before)
        if last_word and last_word[0][:-1].lower() in _ABBREVIATIONS:
            continue
        sentences.append(flat[start : match.end()].strip())
        start = match.end()
    tail = flat[start:].strip()
    if tail:
        sentences.append(tail)
    return tuple(sentences)


_ACTION = ElementKind.ACTION
# id(scene) -> (scene, its action paragraphs). Scenes are frozen and each entry holds its
# scene, so an id is never reused while its entry lives. Extraction reads every scene's
# paragraphs once per asset: hundreds of times for a feature.
_PARAGRAPHS: dict[int, tuple[Scene, tuple[str, ...], str, str]] = {}
_PARAGRAPHS_MAX = 8192


def action_paragraphs(scene: Scene) -> list[str]:
    """The scene's action paragraphs in order (dialogue is what is said, not what is seen)."""
    return list(_paragraphs(scene))


def _action(scene: Scene) -> tuple[Scene, tuple[str, ...], str, str]:
    """(scene, its action paragraphs, their whitespace-collapsed text joined by newlines,
    that text lower-cased, or '' where lower-casing does not find every case-insensitive
    match of an ASCII word), cached."""
    cached = _PARAGRAPHS.get(id(scene))
    if cached is not None and cached[0] is scene:
        return cached
    found = tuple(e.text for e in scene.elements if e.kind is _ACTION and e.text.strip())
    text = "\n".join(_flat(p) for p in found)
    lower = text.lower()
    # Exact for ASCII words unless a character lower-cases to several (the text shifts) or
    # is one of the two that re.IGNORECASE matches with an ASCII letter they do not
    # lower-case to (dotless i, long s).
    if len(lower) != len(text) or "\u0131" in text or "\u017f" in text:
        lower = ""
    entry = (scene, found, text, lower)
    if len(_PARAGRAPHS) >= _PARAGRAPHS_MAX:
        _PARAGRAPHS.clear()
    _PARAGRAPHS[id(scene)] = entry
    return entry


def _paragraphs(scene: Scene) -> tuple[str, ...]:
    return _action(scene)[1]


def _may_contain(scene: Scene, head: re.Pattern[str], word: str) -> bool:
    """False only when no action sentence of the scene can contain a case-insensitive match
    of ``head`` (the pattern of the plain word ``word``): a quick test before the sentences."""
    _, _, text, lower = _action(scene)
    if lower and word.isascii():
        return word.lower() in lower
    return head.search(text) is not None


@lru_cache(maxsize=65_536)
def _flat(text: str) -> str:
    """Whitespace collapsed, as :func:`split_sentences` sees a paragraph."""
    return " ".join(text.split())


_ARTICLES = {"a", "an", "the"}
_DEFINITE = r"(?:the|his|her|their|its|my|your|our|this|that)"


def head_noun(name: str) -> str:
    """The last word of a prop name, lower-cased: 'Red Umbrella' -> 'umbrella'."""
    words = re.findall(r"[A-Za-z][A-Za-z'\-]*", name)
    return words[-1].lower() if words else name.lower()


# Words that can follow a noun phrase's head: prepositions, conjunctions, pronouns,
# determiners, auxiliaries and particles. A head noun followed by any other word that does
# not look like a verb is a modifier of a longer noun ('the ticket machine').
_AFTER_HEAD = {
    "of", "in", "on", "at", "to", "from", "with", "by", "for", "over", "under", "into",
    "onto", "out", "off", "up", "down", "across", "along", "around", "through", "above",
    "below", "behind", "beside", "between", "against", "toward", "towards", "away", "back",
    "inside", "outside", "near", "like", "as", "about", "after", "before", "upon", "beneath",
    "and", "or", "but", "so", "then", "while", "when", "that", "which", "who", "whose",
    "he", "she", "it", "they", "we", "i", "you", "him", "her", "them", "us", "me",
    "a", "an", "the", "his", "their", "its", "my", "your", "our", "this",
    "is", "was", "are", "were", "has", "had", "have", "can", "could", "will", "would",
    "may", "might", "must", "shall", "should", "do", "did", "does", "still", "again", "too",
    "now", "here", "there", "open", "shut", "closed", "instead", "once", "twice", "not",
    "never", "just", "only", "all", "slowly", "gently",
}  # fmt: skip
_FOLLOWER = re.compile(r"\s+([A-Za-z][\w'-]*)")
_VERB_ENDING = re.compile(r"(?:s|ed|ing)$")


def _ends_phrase(text: str, end: int) -> bool:
    """Whether the noun phrase ends at ``end``: punctuation or the end of the text follows,
    or a word from :data:`_AFTER_HEAD`, or a verb-looking word (-s, -ed, -ing)."""
    follower = _FOLLOWER.match(text, end)
    if follower is None:
        return True
    word = follower.group(1).lower()
    return word in _AFTER_HEAD or bool(_VERB_ENDING.search(word))


def prop_mentioned(text: str, name: str) -> bool:
    """Whether ``text`` refers to the prop ``name``.

    Either the whole name appears (any case, a leading article ignored: 'THE LETTER' matches
    'letter'), or its head noun, singular, follows a *definite* determiner or possessive with
    at most three words between ('the furled red umbrella', 'her envelope'). An indefinite
    'a broken black umbrella' introduces some other umbrella, so it does not count. In both
    cases the noun phrase must end there (:func:`_ends_phrase`): in 'the umbrella shop' or
    'the ticket machine' the head noun only modifies another noun.
    """
    head, patterns, _ = _prop_patterns(name)
    # Every match of either pattern contains the head noun: text without it has no match.
    if head.search(text) is None:
        return False
    return any(
        _ends_phrase(text, match.end()) for pattern in patterns for match in pattern.finditer(text)
    )


@lru_cache(maxsize=4096)
def _prop_patterns(name: str) -> tuple[re.Pattern[str], tuple[re.Pattern[str], ...], str]:
    """The head noun's pattern, the two phrase patterns of :func:`prop_mentioned` (compiled
    once) and the head noun itself."""
    words = name.split()
    while len(words) > 1 and words[0].lower() in _ARTICLES:
        words = words[1:]
    noun = head_noun(" ".join(words))
    phrase = r"\s+".join(re.escape(w) for w in words)
    head = re.escape(noun)
    patterns = (
        rf"(?<![\w-]){phrase}(?![\w-])",
        rf"(?<![\w-]){_DEFINITE}\s+(?:[\w'-]+\s+){{0,3}}?{head}(?![\w-])",
    )
    return re.compile(head, re.IGNORECASE), tuple(re.compile(p, re.IGNORECASE) for p in patterns), noun


# --------------------------------------------------------------------------- props

_DETERMINERS = {
    "a", "an", "the", "his", "her", "their", "its", "my", "your", "our",
    "this", "that", "these", "those", "some", "another", "each", "every",
    "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "several", "many",
}  # fmt: skip
_PLURAL_DETERMINERS = {
    "these", "those", "some", "several", "many",
    "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
}  # fmt: skip
# Function words inside a caps run mean a shouted sentence ('A SHOT RINGS OUT'), not a name.
_FUNCTION_WORDS = {
    "THE", "AND", "BUT", "WITH", "FROM", "INTO", "ONTO", "THROUGH", "OUT", "OFF", "OVER",
    "UNDER", "FOR", "THEN", "ACROSS", "AWAY", "DOWN", "SHE", "HER", "HIS", "HIM", "THEY",
}  # fmt: skip
_TOKEN = re.compile(r"[A-Za-z][A-Za-z'\u2019\-]*|\S")
_AGE_NOTE = re.compile(r"\s*\(\s*(?:\d|early|mid|late)", re.IGNORECASE)


def _is_caps_word(token: str) -> bool:
    letters = re.sub(r"[^A-Za-z]", "", token)
    return token[:1].isalpha() and len(letters) >= 3 and letters.isupper()


def _is_plain_word(token: str) -> bool:
    return token[:1].isalpha() and not token.isupper()


def _base(word: str) -> str:
    """A caps word without a possessive: "OSKAR'S" -> 'OSKAR'."""
    return re.sub(r"['\u2019]S$", "", word.upper())


def _caps_props(text: str, not_props: set[str], characters: set[tuple[str, ...]]) -> list[str]:
    """Caps runs of one action paragraph that the prop rule accepts, in order."""
    tokens = [(m.group(), m.start(), m.end()) for m in _TOKEN.finditer(text)]
    found: list[str] = []
    i = 0
    while i < len(tokens):
        if not _is_caps_word(tokens[i][0]):
            i += 1
            continue
        j = i
        while j + 1 < len(tokens) and _is_caps_word(tokens[j + 1][0]):
            j += 1
        run = [t[0] for t in tokens[i : j + 1]]
        after = text[tokens[j][2] :]
        i = j + 1
        # Look back over at most three plain (adjective-like) words for a determiner.
        between, k, determiner = 0, i - len(run) - 1, None
        while k >= 0 and between <= 3:
            word = tokens[k][0]
            if not word[:1].isalpha():
                break
            if word.lower() in _DETERMINERS or re.search(r"['\u2019]s$", word):
                determiner = word.lower()
                break
            if not _is_plain_word(word):
                break
            between, k = between + 1, k - 1
        if determiner is None or between > 3:
            continue
        phrase = " ".join(run)
        if run[0].upper() in NOT_PROPS or phrase.upper() in not_props:
            continue
        if _FUNCTION_WORDS.intersection(w.upper() for w in run):
            continue
        words = tuple(_base(w) for w in run)
        if any(words[: len(c)] == c for c in characters) or _AGE_NOTE.match(after):
            continue  # a character (or an introduction like 'a WAITER (30s)')
        if len(run) == 1 and run[0] in SOUNDS:
            continue
        verb_like = re.search(r"(?:S|ED|ING)$", run[0])
        after_of = tokens[i - len(run) - 1][0].lower() == "of"
        if (
            len(run) == 1
            and between
            and verb_like
            and not after_of
            and determiner not in _PLURAL_DETERMINERS
        ):
            continue  # 'The door bell JANGLES': a subject noun phrase, then a sound verb
        found.append(phrase)
    return found


def extract_props(
    scenes: Sequence[Scene], *, exclude: Iterable[str] = ()
) -> list[tuple[str, tuple[str, ...]]]:
    """Props the script introduces, with the ids of the scenes that mention them.

    Screenplay convention writes a key prop in CAPS where it first appears, as the object
    of a noun phrase: 'She lays a small pink CLAIM TICKET', 'a RED UMBRELLA', 'a cream
    ENVELOPE'. Sounds are in caps too, but as verbs: 'The door bell JANGLES', 'thunder
    CRACKS'. So a prop is a run of caps words (each of at least three letters) that

    - follows a determiner or possessive (a, the, her, two, Mia's…), with at most three
      ordinary words between ('a small pink'),
    - is not a character (a run starting with a cue name: 'OSKAR BRANDT', "OSKAR'S"; or
      any run followed by an age note such as 'a WAITER (30s)'), not a location of a
      heading, not a name in ``exclude``, not screenplay vocabulary (INT, CONT'D, POV,
      CUT…), not onomatopoeia (BANG, CRASH…) and not part of a shouted sentence (a
      sentence all in caps, or a run holding a function word: 'a SHOT RINGS OUT');
    - and, when it is a single word ending in S/ED/ING with words between it and a singular
      determiner, is read as a sound verb after its subject ('The bell JANGLES') instead,
      unless 'of' comes right before it ('a pair of SCISSORS').

    Known limits: a two-letter prop ('a TV') is missed, as is a plural after singular words
    ('a few old BOOKS' reads as a sound); a caps word stressed for emphasis after a
    determiner is taken for a prop. The LLM pass of stage 5 and the user's edits cover these.

    A prop keeps being mentioned after its introduction in lower case: from the scene that
    introduced it on, a scene counts as a mention when :func:`prop_mentioned` finds it
    ('the red umbrella', 'the envelope'). Names are title-cased ('Red Umbrella'), in order
    of first introduction. Only action lines are read: dialogue is heard, not seen.
    """
    not_props = {name.upper() for name in exclude}
    characters = {tuple(name.upper().split()) for name in exclude if name.split()}
    # A person the action introduces with an age note ('A GIRL (8)') stays a person when a
    # later scene writes 'The GIRL waits' without one.
    for introduced_name in _introduced_people(scenes):
        not_props.add(introduced_name)
        characters.add(tuple(introduced_name.split()))
    for scene in scenes:
        not_props.update(c.upper() for c in scene.characters)
        characters.update(tuple(c.upper().split()) for c in scene.characters if c.split())
        if scene.location:
            not_props.add(scene.location.upper())

    introduced: dict[str, int] = {}  # upper-case name -> index of the introducing scene
    for index, scene in enumerate(scenes):
        for paragraph in _paragraphs(scene):
            for sentence in _sentences(paragraph):
                letters = re.sub(r"[^A-Za-z]", "", sentence)
                if letters.isupper():
                    continue  # a line all in caps is shouted or forced, not an introduction
                for phrase in _caps_props(sentence, not_props, characters):
                    introduced.setdefault(phrase.upper(), index)

    paragraphs = [_paragraphs(scene) for scene in scenes]
    result: list[tuple[str, tuple[str, ...]]] = []
    for phrase, first in introduced.items():
        head, _, noun = _prop_patterns(phrase)
        mentions = [
            scene.id
            for index, scene in enumerate(scenes)
            if index == first
            or (
                index > first
                and _may_contain(scene, head, noun)
                and any(prop_mentioned(p, phrase) for p in paragraphs[index])
            )
        ]
        result.append((title_case(phrase), tuple(mentions)))
    return result


def props_as_assets(
    scenes: Sequence[Scene], *, exclude: Iterable[str] = (), limit_chars: int = 600
) -> tuple[Asset, ...]:
    """:func:`extract_props` as prop assets, descriptions pre-filled from their mentions."""
    assets: list[Asset] = []
    for name, mentions in extract_props(scenes, exclude=exclude):
        asset = Asset(id=f"prop-{slugify(name)}", kind=AssetKind.PROP, name=name, mentions=mentions)
        description = describe_from_mentions(scenes, asset, limit_chars=limit_chars)
        assets.append(asset.model_copy(update={"description": description}))
    return tuple(assets)


# --------------------------------------------------------------------------- descriptions

_NEW_SUBJECT = re.compile(r"^(?:he|she|they|we|i|you|his|her|their|its)\b", re.IGNORECASE)


def _character_sentences(scenes: Sequence[Scene], name: str) -> list[str]:
    pattern = name_pattern(name)
    forms = name_variants(name)
    return [
        sentence
        for scene in scenes
        # A sentence naming the character holds one of its forms as written.
        if any(form in _action(scene)[2] for form in forms)
        for paragraph in _paragraphs(scene)
        for sentence in _sentences(paragraph)
        if pattern.search(sentence)
    ]


def _location_sentences(scenes: Sequence[Scene], name: str) -> list[str]:
    """Each scene at the location: its first action sentence, then the following ones of that
    paragraph up to the first that names a character (characters get their own
    descriptions)."""
    found: list[str] = []
    for scene in scenes:
        if scene.location.upper() != name.upper():
            continue
        paragraphs = _paragraphs(scene)
        if not paragraphs:
            continue
        for number, sentence in enumerate(_sentences(paragraphs[0])):
            if number and any(mentions_name(sentence, c) for c in scene.characters):
                break
            found.append(sentence)
    return found


def _prop_sentences(scenes: Sequence[Scene], name: str) -> list[str]:
    """Sentences naming the prop, plus the sentences right after its caps introduction that
    go on describing it ('a RED UMBRELLA. Silk canopy the colour of a postbox.') up to one
    that starts with a new subject (He, She, a character's name)."""
    caps = re.compile(rf"(?<![\w-]){re.escape(name.upper())}(?![\w-])")
    head, _, noun = _prop_patterns(name)
    found: list[str] = []
    for scene in scenes:
        if not _may_contain(scene, head, noun):
            continue  # no sentence names the prop, so none goes on describing it
        subjects: re.Pattern[str] | None = None
        for paragraph in _paragraphs(scene):
            # A paragraph without the head noun has no sentence naming the prop, so none
            # that goes on describing it either.
            if head.search(_flat(paragraph)) is None:
                continue
            describing = False
            for sentence in _sentences(paragraph):
                if prop_mentioned(sentence, name):
                    found.append(sentence)
                    describing = bool(caps.search(sentence))
                    continue
                if not describing:
                    continue
                # Only a sentence that may go on describing needs the new-subject check.
                if subjects is None:
                    subjects = _subject_pattern(scene.characters)
                if _NEW_SUBJECT.match(sentence) or subjects.match(sentence):
                    describing = False
                else:
                    found.append(sentence)
    return found


@lru_cache(maxsize=4096)
def _subject_pattern(characters: tuple[str, ...]) -> re.Pattern[str]:
    """A sentence that starts with one of these characters' names (any :func:`name_variants`
    form, ending at a word boundary); never matches when there are none."""
    forms = [re.escape(form) for c in characters for form in name_variants(c)]
    if not forms:
        return re.compile(r"(?!)")
    return re.compile("(?:" + "|".join(rf"{form}\b" for form in forms) + ")")


def _trim(sentences: Iterable[str], limit: int) -> str:
    """Join sentences, stopping before the one that would pass ``limit`` characters."""
    out = ""
    for sentence in sentences:
        candidate = f"{out} {sentence}".strip()
        if len(candidate) > limit:
            if not out:
                cut = sentence[: max(limit - 1, 0)].rsplit(" ", 1)[0]
                return cut.rstrip(" ,;:-") + "\u2026"
            break
        out = candidate
    return out


def describe_from_mentions(scenes: Sequence[Scene], asset: Asset, *, limit_chars: int = 600) -> str:
    """A description pre-filled from every mention of ``asset`` in the action lines.

    Characters: the sentences naming them (full name or first name, see
    :func:`name_variants`). Locations: the opening sentences of each scene set there.
    Props: the sentences naming them (:func:`prop_mentioned`) and the ones describing them
    right after their caps introduction. Sentences are deduplicated, kept in script order,
    joined with spaces and cut at a sentence boundary so the text fits ``limit_chars``.
    """
    if asset.kind is AssetKind.CHARACTER:
        sentences = _character_sentences(scenes, asset.name)
    elif asset.kind is AssetKind.LOCATION:
        sentences = _location_sentences(scenes, asset.name)
    else:
        sentences = _prop_sentences(scenes, asset.name)
    unique = dict.fromkeys(s for s in sentences if s)
    return _trim(unique, limit_chars)


# --------------------------------------------------------------------------- merge


def merge_extracted(existing: Sequence[Asset], extracted: Sequence[Asset]) -> tuple[Asset, ...]:
    """Fold a fresh extraction into the current assets without losing a user's work.

    An existing asset (matched by id) keeps its name, description, lock, image key, voice
    profile and source; only its mentions are refreshed from the script. The one exception
    is an *empty*, unlocked description, which nobody wrote: it takes the fresh pre-fill.
    Assets extraction no longer finds are kept (they may be manual or from a sheet), and
    new ones are appended in extraction order.
    """
    fresh = {asset.id: asset for asset in extracted}
    merged: list[Asset] = []
    for asset in existing:
        new = fresh.pop(asset.id, None)
        if new is None:
            merged.append(asset)
            continue
        update: dict[str, object] = {"mentions": new.mentions}
        if not asset.description.strip() and not asset.locked and new.description:
            update["description"] = new.description
        merged.append(asset.model_copy(update=update))
    merged.extend(fresh.values())
    return tuple(merged)


# --------------------------------------------------------------------------- style packs


def _field(loc: tuple[int | str, ...]) -> str:
    name = str(loc[0]) if loc else "?"
    if len(loc) > 1 and isinstance(loc[1], int):
        return f"{name} (item {loc[1] + 1})"
    return name


def load_style_packs(folder: Path) -> tuple[StylePack, ...]:
    """Every ``*.toml`` style pack in ``folder``, sorted by id (the file name's stem).

    A pack file holds ``name``, ``description``, ``palette`` (``#rrggbb`` strings),
    ``lighting``, ``lens``, ``grain`` and ``tags``. A file that is not TOML or does not
    validate raises :class:`BadInput` naming the file and the field, so a broken pack is
    fixed rather than silently skipped.
    """
    if not folder.is_dir():
        raise BadInput(f"style pack folder {folder} does not exist")
    packs: list[StylePack] = []
    for path in sorted(folder.glob("*.toml")):
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
            raise BadInput(f"style pack {path.name} is not valid TOML: {error}") from None
        stated = data.pop("id", path.stem)
        if stated != path.stem:
            raise BadInput(
                f"style pack {path.name}: field 'id' is {stated!r} but a pack's id is its file "
                f"name; remove the field or rename the file to {stated}.toml"
            )
        try:
            packs.append(StylePack(id=path.stem, **data))
        except ValidationError as error:
            first = error.errors()[0]
            where = _field(first["loc"])
            if first["type"] == "string_pattern_mismatch" and where.startswith("palette"):
                why = f"{first['input']!r} is not a #rrggbb hex colour"
            elif first["type"] == "string_pattern_mismatch" and where == "id":
                why = "the file name must be lower-case letters, digits and dashes"
            elif first["type"] == "extra_forbidden":
                why = "unknown field (expected name, description, palette, lighting, lens, grain, tags)"
            else:
                why = first["msg"].lower()
            raise BadInput(f"style pack {path.name}: field '{where}': {why}") from None
    return tuple(packs)


# --------------------------------------------------------------------------- user assets


def asset_id(kind: AssetKind, name: str) -> str:
    """The id an asset the user adds gets: ``{kind}-{slug}``. A name with no Latin letters
    or digits (``李``, ``Ωμέγα`` after its accents) gets a slug from its characters' code
    points, so two such names do not share the empty slug."""
    slug = slugify(name)
    letters = re.sub(r"[^a-z0-9]", "", slug)
    if not letters or (slug == "x" and name.strip().lower() != "x"):
        slug = "u" + hashlib.sha256(" ".join(name.split()).casefold().encode()).hexdigest()[:12]
    return f"{kind.value}-{slug}"


def scene_mentions(scene: Scene, kind: AssetKind, name: str) -> bool:
    """Whether ``scene`` names an asset the user added: a character in a cue or the action
    lines (a GIRL who never speaks), a location in its heading, an object in its action."""
    if kind is AssetKind.CHARACTER:
        return any(c.upper() == name.upper() for c in scene.characters) or any(
            mentions_name(p, name) for p in action_paragraphs(scene)
        )
    if kind is AssetKind.LOCATION:
        return bool(scene.location) and scene.location.upper() == name.upper()
    return any(prop_mentioned(p, name) for p in action_paragraphs(scene))


def mentions_of(scenes: Sequence[Scene], kind: AssetKind, name: str) -> tuple[str, ...]:
    """The ids of the scenes that name an added asset (see :func:`scene_mentions`)."""
    return tuple(scene.id for scene in scenes if scene_mentions(scene, kind, name))


_INTRODUCED = re.compile(
    r"(?<![\w'-])(?i:an?|the|two|three|some|his|her|their)\s+(?:[a-z][\w'-]*\s+){0,2}?"
    r"(?P<name>[A-Z][A-Z'\u2019-]{2,}(?:\s+[A-Z][A-Z'\u2019-]{2,}){0,2})\s*\(\s*(?:\d|early|mid|late)",
)


def suggest_characters(scenes: Sequence[Scene], known: Iterable[str]) -> list[tuple[str, tuple[str, ...]]]:
    """Characters the action introduces but who never speak ('A GIRL (8) skips along the
    jetty'), with the scenes that name them; names in ``known`` are left out. These are
    offered to the user in stage 5, not added on their own: a caps word with an age note is
    a person nearly always, but only the user knows whether the film needs them."""
    taken = {name.upper() for name in known}
    for scene in scenes:
        taken.update(c.upper() for c in scene.characters)
    return [
        (name, mentions_of(scenes, AssetKind.CHARACTER, name))
        for name in _introduced_people(scenes)
        if name not in taken
    ]


def _introduced_people(scenes: Sequence[Scene]) -> list[str]:
    """Caps names the action introduces with an age note ('A GIRL (8)', 'two MEN (40s)')."""
    found: dict[str, None] = {}
    for scene in scenes:
        for paragraph in action_paragraphs(scene):
            for match in _INTRODUCED.finditer(paragraph):
                name = " ".join(match.group("name").upper().split())
                if name.split()[0] not in NOT_PROPS:
                    found.setdefault(name)
    return list(found)


# --------------------------------------------------------------------------- reference images

MAX_IMAGE_BYTES = 20 * 1024 * 1024


def check_reference_upload(name: str, data: bytes) -> str:
    """The checks a reference image passes before it is decoded: a safe single file name
    (``uploads.check_filename``), not empty, at most 20 MB. Returns the name as messages
    show it; decoding (format, pixel limits, a decompression bomb) is the
    ``ReferenceImages`` adapter's job."""
    from studio.uploads import _human, _show, check_filename

    check_filename(name)
    shown = _show(name)
    if not data:
        raise BadInput(f"{shown} is empty: choose the image file itself")
    if len(data) > MAX_IMAGE_BYTES:
        raise BadInput(
            f"{shown} is {_human(len(data))}, over the {_human(MAX_IMAGE_BYTES)} limit for a "
            "reference image: export it smaller (a 1024-pixel JPEG is plenty)"
        )
    return shown
