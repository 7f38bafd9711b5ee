"""Continuity rules of stages 6 and 8, as pure functions over a :class:`ProjectState`.

**Visual state (stage 8).** The assets a scene needs are its characters (speakers and
characters named in the action), its location and the props it mentions. Each asset starts
the scene in one of three states:

- *new*: the user saved a state for this scene (``SceneWork.visual_state``);
- *previous*: otherwise, if the asset appeared in an earlier scene, the final state of its
  last appearance (scene N+1 defaults to the final state of scene N, even across scenes
  the asset skips);
- *master*: otherwise the stage 5 master asset.

A description is what the script has established up to and including the scene: the
sentences of a master description that only later scenes' action lines hold (stage 5
pre-fills it from every mention) are left out, so scene 1's Margit is not "soaked through"
from scene 4. An inherited description that came from the script follows the same rule in
each scene; a saved state's description, and one inherited from it, is kept as saved.

**Condition tags** (wet, bloody, torn…) travel with the asset, but a tag *set* in a scene is
only offered to the next appearance, never applied silently. A tag is set in scene N when
the user added it to N's saved state, or, for a character whose state in N was not edited,
when :func:`suggest_condition_tags` reads it in N's action lines (she gets soaked on the
bridge). In the next appearance the offered tag is *pending* until the user decides
(``SceneWork.carry_decisions``): carried, it becomes part of the state and stays there in
later scenes without asking again; dropped, it is gone and not offered again; undecided, it
stays pending and is offered again further on. A carry=False decision also drops a tag the
asset already had. A saved state is authoritative: its tags are the scene's tags.

**Continuity-risk verdict (stage 6, advisory: it never blocks or edits).**

- *Broken*: the scene is Outdated or continuity-broken by the invalidation cascade
  (``pipeline.scene_reports``): its script, an earlier scene or the script generation
  changed after one of its locks.
- *Risky*: a carry-forward decision is pending; a saved state drops a tag the asset
  carried in without a decision; a heading marked CONTINUOUS / MOMENTS LATER / SAME that
  moves to another location while nobody present at the end of the previous scene comes
  along, or stays in the same location while a character present at its end vanishes
  without an exit; the time of day running backwards (NIGHT, then DAY) without LATER,
  NEXT…, FLASHBACK… in the heading.
- *Safe*: none of these.

Different locations under CONTINUOUS are normal (a character walks from the kitchen into
the hall), so only a location change that nobody carries over is flagged.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Literal

from studio.assets import action_paragraphs, mentions_name, prop_mentioned, split_sentences
from studio.errors import NotFound
from studio.model import (
    Asset,
    AssetKind,
    AssetState,
    ElementKind,
    ProjectState,
    Scene,
    SceneDoc,
)
from studio.names import display_name
from studio.pipeline import scene_reports

# --------------------------------------------------------------------------- condition tags

CONDITION_WORDS: dict[str, str] = {
    # wet
    "wet": "wet", "soaked": "wet", "soaking": "wet", "drenched": "wet", "dripping": "wet",
    "sodden": "wet", "rain-soaked": "wet", "waterlogged": "wet", "soaked to the skin": "wet",
    "dripping wet": "wet", "sopping": "wet",
    # bloody
    "bloody": "bloody", "bloodied": "bloody", "bleeding": "bloody", "blood-stained": "bloody",
    "bloodstained": "bloody", "blood-soaked": "bloody", "covered in blood": "bloody",
    "spattered with blood": "bloody",
    # torn
    "torn": "torn", "ripped": "torn", "shredded": "torn", "tattered": "torn",
    # muddy
    "muddy": "muddy", "mud-caked": "muddy", "mud-spattered": "muddy", "mud-streaked": "muddy",
    "caked in mud": "muddy", "covered in mud": "muddy",
    # others
    "bruised": "bruised", "black eye": "bruised", "swollen": "bruised",
    "burned": "burned", "burnt": "burned", "scorched": "burned", "singed": "burned",
    "dusty": "dusty", "dust-covered": "dusty", "covered in dust": "dusty",
    "dishevelled": "dishevelled", "disheveled": "dishevelled", "rumpled": "dishevelled",
    "tousled": "dishevelled", "unkempt": "dishevelled",
    "injured": "injured", "wounded": "injured", "limping": "injured", "bandaged": "injured",
    "sweaty": "sweaty", "sweating": "sweaty", "sweat-soaked": "sweaty",
    "snow-covered": "snowy", "snowy": "snowy",
    "dirty": "dirty", "grimy": "dirty", "filthy": "dirty", "soot-stained": "dirty",
    "sooty": "dirty",
}  # fmt: skip
_CONDITION_RE = re.compile(
    r"(?<![\w-])("
    + "|".join(re.escape(w) for w in sorted(CONDITION_WORDS, key=len, reverse=True))
    + r")(?![\w-])",
    re.IGNORECASE,
)
_NEGATIONS = {"not", "no", "never", "without"}
_PRONOUN = re.compile(r"\b(?:she|he|her|him|his|hers|they|them|their)\b", re.IGNORECASE)


def condition_tags_in(text: str) -> tuple[str, ...]:
    """Canonical condition tags named in ``text``, in order, skipping negated ones
    ('not wet', 'no longer bleeding')."""
    tags: list[str] = []
    for match in _CONDITION_RE.finditer(text):
        before = re.findall(r"[a-z]+", text[: match.start()].lower())[-3:]
        if _NEGATIONS.intersection(before):
            continue
        tags.append(CONDITION_WORDS[match.group(1).lower()])
    return tuple(dict.fromkeys(tags))


def _sentences_about(scene: Scene, name: str) -> Iterator[str]:
    """Action sentences about a character: those naming them, and the sentences right after
    one that does which use a personal pronoun (she, his, them…) and name no other speaker
    of the scene. A sentence naming two characters starts no such chain: its pronouns are
    ambiguous."""
    others = [c for c in scene.characters if c.upper() != name.upper()]
    for paragraph in action_paragraphs(scene):
        following = False
        for sentence in split_sentences(paragraph):
            named = mentions_name(sentence, name)
            other = any(mentions_name(sentence, o) for o in others)
            if named or (following and not other and _PRONOUN.search(sentence)):
                yield sentence
                following = not other
            else:
                following = False


def suggest_condition_tags(scene: Scene, character: str) -> tuple[str, ...]:
    """Condition tags the action lines give ``character`` in ``scene`` (see
    :func:`_sentences_about` for which sentences count), in order of appearance.

    In the sample's bridge scene 'Mia hunches over the letter… The rain pours over her… By
    the time she looks up she is SOAKED TO THE SKIN' gives Mia ``("wet",)``.
    """
    tags: list[str] = []
    for sentence in _sentences_about(scene, character):
        tags.extend(condition_tags_in(sentence))
    return tuple(dict.fromkeys(tags))


# --------------------------------------------------------------------------- visual state


@dataclass(frozen=True)
class ResolvedAsset:
    """An asset as a scene starts with it (stage 8).

    ``state.condition_tags`` are the tags it has; ``inherited_tags`` those of them that came
    from earlier scenes; ``pending_tags`` the tags offered from its previous appearance that
    wait for a carry-forward decision (not applied yet).
    """

    asset: Asset
    state: AssetState
    inherited_tags: tuple[str, ...]
    pending_tags: tuple[str, ...]


@dataclass(frozen=True)
class _Track:
    """One asset in one scene, with what it hands on to its next appearance."""

    resolved: ResolvedAsset
    scene_number: int
    persisting: tuple[str, ...]  # kept into the next appearance without asking
    set_here: tuple[str, ...]  # set in this scene: offered to the next appearance
    dropped_silently: tuple[str, ...] = ()  # carried-in tags a saved state left out undecided
    saved_description: bool = False  # the description comes from a saved state, not the script

    @property
    def offered_next(self) -> tuple[str, ...]:
        return _unique(
            t for t in (*self.set_here, *self.resolved.pending_tags) if t not in self.persisting
        )

    @property
    def end_tags(self) -> tuple[str, ...]:
        return _unique((*self.persisting, *self.set_here))


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def scene_assets(state: ProjectState, scene: Scene) -> tuple[Asset, ...]:
    """The assets ``scene`` needs: speakers, then characters named in the action, then its
    location, then the props it mentions (by the asset's mentions or in its action lines),
    then the assets the user picked into the scene (``SceneWork.extra_assets``)."""
    assets = state.assets.assets
    paragraphs = action_paragraphs(scene)
    characters = [a for a in assets if a.kind is AssetKind.CHARACTER]
    by_name = {a.name.upper(): a for a in characters}
    needed: list[Asset] = [by_name[c.upper()] for c in scene.characters if c.upper() in by_name]
    needed += [a for a in characters if any(mentions_name(p, a.name) for p in paragraphs)]
    needed += [
        a
        for a in assets
        if a.kind is AssetKind.LOCATION
        and scene.location
        and a.name.upper() == scene.location.upper()
    ]
    needed += [
        a
        for a in assets
        if a.kind is AssetKind.PROP
        and (scene.id in a.mentions or any(prop_mentioned(p, a.name) for p in paragraphs))
    ]
    # Assets the user brought into the scene in stage 8 (a global one, one from an earlier
    # scene, a scene-only one) although its text does not name them.
    doc = state.scenes.get(scene.id)
    if doc is not None and doc.work.extra_assets:
        by_id = {a.id: a for a in assets}
        needed += [by_id[i] for i in doc.work.extra_assets if i in by_id]
    return tuple(dict.fromkeys(needed))


def _scene_sentences(scene: Scene) -> frozenset[str]:
    return frozenset(s for p in action_paragraphs(scene) for s in split_sentences(p))


def _resolve(
    asset: Asset, doc: SceneDoc, number: int, prev: _Track | None, established: str
) -> _Track:
    """``established`` is the master description as far as the script has got (see the
    module docstring)."""
    work = doc.work
    saved = next((s for s in work.visual_state if s.asset_id == asset.id), None)
    decisions = {d.tag: d.carry for d in work.carry_decisions if d.asset_id == asset.id}
    if prev is None:
        offered: tuple[str, ...] = ()
        incoming: tuple[str, ...] = ()
        default = AssetState(
            asset_id=asset.id,
            source="master",
            description=established,
            image_key=asset.image_key,
        )
    else:
        offered = prev.offered_next
        kept = [t for t in prev.persisting if decisions.get(t) is not False]
        incoming = _unique((*kept, *(t for t in offered if decisions.get(t) is True)))
        before = prev.resolved.state
        default = AssetState(
            asset_id=asset.id,
            source="previous",
            description=before.description if prev.saved_description else established,
            condition_tags=incoming,
            image_key=before.image_key,
        )
    if saved is None:
        suggested = (
            suggest_condition_tags(doc.scene, asset.name)
            if asset.kind is AssetKind.CHARACTER
            else ()
        )
        resolved = ResolvedAsset(
            asset=asset,
            state=default,
            inherited_tags=incoming,
            pending_tags=tuple(t for t in offered if t not in decisions),
        )
        return _Track(
            resolved,
            number,
            persisting=incoming,
            set_here=tuple(t for t in suggested if t not in incoming),
            saved_description=prev.saved_description if prev else False,
        )
    tags = saved.condition_tags
    same = (saved.description, tags, saved.image_key) == (
        default.description,
        default.condition_tags,
        default.image_key,
    )
    inherited = tuple(t for t in tags if t in incoming or t in offered)
    resolved = ResolvedAsset(
        asset=asset,
        state=saved if same else saved.model_copy(update={"source": "new"}),
        inherited_tags=inherited,
        pending_tags=tuple(t for t in offered if t not in decisions and t not in tags),
    )
    dropped = tuple(
        t for t in (prev.persisting if prev else ()) if t not in tags and t not in decisions
    )
    return _Track(
        resolved,
        number,
        persisting=inherited,
        set_here=tuple(t for t in tags if t not in inherited),
        dropped_silently=dropped,
        saved_description=True,
    )


def _locate(state: ProjectState, scene_id: str) -> tuple[list[SceneDoc], int]:
    """Scenes in order and the 0-based index of ``scene_id`` (an id or a 1-based number)."""
    ordered = state.ordered_scenes()
    target = state.scene(scene_id).scene.id
    for index, doc in enumerate(ordered):
        if doc.scene.id == target:
            return ordered, index
    raise NotFound(f"scene {scene_id!r} does not exist")


def _established_at(
    description: str, number: int, first: Mapping[str, int], last: Mapping[str, int]
) -> str:
    """The master ``description`` as far as the script has got at scene ``number``
    (1-based), from the index of the first and the last scene each action sentence appears
    in: a sentence is kept once a scene up to this one holds it, and left out while only
    later scenes do (what the frozensets of every earlier and later scene said, in O(1))."""
    sentences = split_sentences(description)
    kept = [s for s in sentences if first.get(s, number) < number or last.get(s, -1) < number]
    return description if len(kept) == len(sentences) else " ".join(kept)


@dataclass(frozen=True)
class _Walked:
    """Every scene resolved in order: per scene index its tracks, each asset's last track
    before it, and the previous scene's tracks."""

    ordered: list[SceneDoc]
    index_of: dict[str, int]
    tracks: list[dict[str, _Track]]
    last: list[dict[str, _Track]]
    previous: list[dict[str, _Track]]


# The walks of the last few state objects (frozen; the timeline hands out one per commit):
# the hub asks for every scene's resolution, which walked the script from the start each time
# (a 1,000-scene hub took minutes).
_WALKS: list[tuple[ProjectState, _Walked]] = []


def _walk_all(state: ProjectState) -> _Walked:
    for known, walked in _WALKS:
        if known is state:
            return walked
    ordered = state.ordered_scenes()
    first: dict[str, int] = {}
    last_seen: dict[str, int] = {}
    for index, doc in enumerate(ordered):
        for sentence in _scene_sentences(doc.scene):
            first.setdefault(sentence, index)
            last_seen[sentence] = index
    all_tracks: list[dict[str, _Track]] = []
    lasts: list[dict[str, _Track]] = []
    previouses: list[dict[str, _Track]] = []
    last: dict[str, _Track] = {}
    previous: dict[str, _Track] = {}
    for number, doc in enumerate(ordered, 1):
        tracks = {
            asset.id: _resolve(
                asset,
                doc,
                number,
                last.get(asset.id),
                _established_at(asset.description, number, first, last_seen),
            )
            for asset in scene_assets(state, doc.scene)
        }
        all_tracks.append(tracks)
        lasts.append(dict(last))
        previouses.append(previous)
        last.update(tracks)
        previous = tracks
    index_of = {doc.scene.id: index for index, doc in enumerate(ordered)}
    walked = _Walked(ordered, index_of, all_tracks, lasts, previouses)
    _WALKS.insert(0, (state, walked))
    del _WALKS[4:]
    return walked


def _walk(
    state: ProjectState, scene_id: str
) -> tuple[list[SceneDoc], int, dict[str, _Track], dict[str, _Track], dict[str, _Track]]:
    """Resolve every scene up to ``scene_id`` in order. Returns the scenes, the index, this
    scene's tracks, each asset's last track before it, and the previous scene's tracks
    (shared with later calls on the same state: read them, never change them)."""
    walked = _walk_all(state)
    index = walked.index_of.get(scene_id)
    if index is None:  # a 1-based number, or no such scene (NotFound)
        _, index = _locate(state, scene_id)
    return walked.ordered, index, walked.tracks[index], walked.last[index], walked.previous[index]


def resolve_visual_state(state: ProjectState, scene_id: str) -> tuple[ResolvedAsset, ...]:
    """The assets ``scene_id`` needs, each in the state it starts the scene with (see the
    module docstring for the inheritance and carry-forward rules)."""
    _, _, tracks, _, _ = _walk(state, scene_id)
    return tuple(track.resolved for track in tracks.values())


def pending_carry_forward(state: ProjectState, scene_id: str) -> tuple[tuple[str, str], ...]:
    """(asset id, tag) pairs the hub asks about: 'Carry forward "wet" for Mia?'."""
    return tuple(
        (item.asset.id, tag)
        for item in resolve_visual_state(state, scene_id)
        for tag in item.pending_tags
    )


# --------------------------------------------------------------------------- dependencies


@dataclass(frozen=True)
class SceneDependencies:
    """The hub's 'Scene dependencies' summary.

    ``previous_end_state`` lists each asset of the previous scene with the tags it ends
    that scene with; ``carried_tags`` are (asset name, tag) pairs this scene inherits;
    ``pending`` are (asset id, tag) pairs waiting for a carry-forward decision, ready to
    become :class:`~studio.model.CarryDecision` values.
    """

    expected_characters: tuple[str, ...]
    location: str
    previous_heading: str | None
    previous_end_state: tuple[tuple[str, tuple[str, ...]], ...]
    carried_tags: tuple[tuple[str, str], ...]
    pending: tuple[tuple[str, str], ...]


def scene_dependencies(state: ProjectState, scene_id: str) -> SceneDependencies:
    """Who and where the scene expects at its start, and what the previous scene left."""
    ordered, index, tracks, _, previous = _walk(state, scene_id)
    scene = ordered[index].scene
    resolved = [t.resolved for t in tracks.values()]
    names = [r.asset.name for r in resolved if r.asset.kind is AssetKind.CHARACTER]
    known = {n.upper() for n in names}
    names += [c for c in scene.characters if c.upper() not in known]
    before = ordered[index - 1].scene if index else None
    return SceneDependencies(
        expected_characters=_unique(names),
        location=scene.location or scene.heading,
        previous_heading=before.heading if before else None,
        previous_end_state=tuple((t.resolved.asset.name, t.end_tags) for t in previous.values()),
        carried_tags=tuple((r.asset.name, tag) for r in resolved for tag in r.inherited_tags),
        pending=tuple((r.asset.id, tag) for r in resolved for tag in r.pending_tags),
    )


# --------------------------------------------------------------------------- verdict

Verdict = Literal["Safe", "Risky", "Broken"]

_CONTINUOUS = re.compile(r"\b(?:CONTINUOUS|MOMENTS LATER|SECONDS LATER|SAME(?: TIME)?)\b")
_TIME_JUMP = re.compile(
    r"\b(?:LATER|NEXT|FOLLOWING|FLASHBACK|FLASH BACK|DREAM|PRESENT|DAYS|WEEKS|MONTHS|YEARS|"
    r"TOMORROW|AGO|\d{4})\b"
)
_TIME_RANK = {
    "DAWN": 0, "SUNRISE": 0, "MORNING": 1, "DAY": 2, "NOON": 2, "MIDDAY": 2,
    "AFTERNOON": 3, "DUSK": 4, "SUNSET": 4, "EVENING": 4, "TWILIGHT": 4,
    "NIGHT": 5, "MIDNIGHT": 5,
}  # fmt: skip
_EXIT = re.compile(
    r"\b(?:exits?|leaves|departs|disappears|vanishes|walks out|runs out|storms out|"
    r"heads out|hurries out|slips out|steps out|walks away|runs off|out the door|"
    r"out of the room)\b",
    re.IGNORECASE,
)


def _time_rank(scene: Scene) -> int | None:
    for word in re.findall(r"[A-Z]+", scene.time_of_day.upper()):
        if word in _TIME_RANK:
            return _TIME_RANK[word]
    return None


def _present_at_end(scene: Scene, state: ProjectState, tail: int = 3) -> list[str]:
    """Characters speaking or named in the scene's last ``tail`` elements."""
    content = [e for e in scene.elements if e.kind in (ElementKind.ACTION, ElementKind.DIALOGUE)][
        -tail:
    ]
    names = list(scene.characters) + [
        a.name for a in state.assets.assets if a.kind is AssetKind.CHARACTER
    ]
    present: list[str] = []
    for element in content:
        if element.kind is ElementKind.DIALOGUE and element.character:
            present.append(element.character.upper())
        else:
            present += [n.upper() for n in names if mentions_name(element.text, n)]
    return list(dict.fromkeys(present))


def _exits(scene: Scene, name: str) -> bool:
    return any(_EXIT.search(s) for s in _sentences_about(scene, name))


def continuity_verdict(state: ProjectState, scene_id: str) -> tuple[Verdict, tuple[str, ...]]:
    """Safe / Risky / Broken with one sentence per reason (rules in the module docstring).
    Advisory only: the hub shows it, nothing is blocked."""
    ordered, index, tracks, last, _ = _walk(state, scene_id)
    scene = ordered[index].scene
    broken: list[str] = []
    report = next(r for r in scene_reports(state) if r.scene_id == scene.id)
    if report.outdated:
        broken.append("This scene is Outdated: review its work and lock it again.")
    if report.continuity_broken:
        broken.append(
            "Continuity broken: an earlier scene changed after this scene was locked; "
            "check the hand-off from the previous scene and lock it again."
        )
    broken += [f"{reason[:1].upper()}{reason[1:]}." for reason in report.reasons]

    risky: list[str] = []
    for track in tracks.values():
        name = display_name(track.resolved.asset.name)
        earlier = last.get(track.resolved.asset.id)
        where = f"scene {earlier.scene_number}" if earlier else "an earlier scene"
        for tag in track.resolved.pending_tags:
            risky.append(
                f"{name} was {tag} at the end of {where}: decide whether to carry '{tag}' "
                "into this scene."
            )
        for tag in track.dropped_silently:
            risky.append(
                f"{name} was {tag} in {where}, but this scene's saved visual state drops "
                f"'{tag}' without a carry-forward decision."
            )

    if index:
        before = ordered[index - 1].scene
        heading = scene.heading.upper()
        here = {c.upper() for c in scene.characters} | {
            t.resolved.asset.name.upper()
            for t in tracks.values()
            if t.resolved.asset.kind is AssetKind.CHARACTER
        }
        at_end = _present_at_end(before, state)
        marker = _CONTINUOUS.search(heading)
        if marker:
            same_place = before.location.upper() == scene.location.upper()
            if not same_place and at_end and not here.intersection(at_end):
                risky.append(
                    f"The heading says {marker.group()}, but scene {index} ends at "
                    f"{display_name(before.location)} and nobody from it is in {display_name(scene.location)}."
                )
            if same_place:
                for name in at_end:
                    if name not in here and not _exits(before, name):
                        risky.append(
                            f"{display_name(name)} is there when scene {index} ends but is missing "
                            "from this continuous scene without an exit."
                        )
        rank_before, rank_now = _time_rank(before), _time_rank(scene)
        if (
            not marker
            and rank_before is not None
            and rank_now is not None
            and rank_now < rank_before
            and not _TIME_JUMP.search(heading)
        ):
            risky.append(
                f"Scene {index} is at {before.time_of_day} and this one at {scene.time_of_day} "
                "with no LATER or NEXT DAY in the heading: time seems to run backwards."
            )

    if broken:
        return "Broken", tuple(broken + risky)
    if risky:
        return "Risky", tuple(risky)
    return "Safe", ()


# --------------------------------------------------------------------------- rearview mirror


def last_action_and_dialogue(scene: Scene) -> tuple[str | None, str | None]:
    """The scene's last action paragraph and last speech ('NAME: line'), for the rearview
    mirror of the next scene. Whitespace is collapsed; inline parentheticals stay."""
    action = next(
        (
            e.text
            for e in reversed(scene.elements)
            if e.kind is ElementKind.ACTION and e.text.strip()
        ),
        None,
    )
    speech = next(
        (e for e in reversed(scene.elements) if e.kind is ElementKind.DIALOGUE and e.text.strip()),
        None,
    )
    line = f"{speech.character or '?'}: {' '.join(speech.text.split())}" if speech else None
    return (" ".join(action.split()) if action else None), line
