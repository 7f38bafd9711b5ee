"""The context manager: what every LLM call of the story engine is told, within a budget.

Pure: it reads a :class:`ProjectState` and what the caller hands it (the style pack, the
text of the staged context files, a token counter) and returns an :class:`AssembledContext`.
No file, database or network is touched here.

* **Global context** goes into every call: the project parameters, the story summary (the
  stage 2 treatment), the beat sheet when there is one, the written and visual style picks,
  the master asset descriptions and the tagged context files of stage 1.
* **Local context** goes only into Phase B calls (stages 6-12): this scene's script, its
  shot list and the previous scene's end state. No call carries another scene's script; the
  previous scene gives only its end state (its last action and line, and the condition of
  the assets it left with).
* **Budget**: a backend's context length minus the reply reserve. Sections are kept in
  :data:`PRIORITY` order while they fit (a section that does not fit is left out and the
  ones after it still get their chance); what was left out is recorded, name and tokens.
  The current scene's script is never cut: if it does not fit on its own,
  :class:`ContextOverflow` says so.
* **Counts** come from an injected counter (the backend's tokenizer where it has one); the
  default, :func:`estimate_tokens`, is an *estimate* (4 characters a token, rounded up).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal

from studio.continuity import last_action_and_dialogue
from studio.errors import BadInput, TooLarge
from studio.model import AssetKind, FileRole, ProjectState, SceneDoc, Stage, StagedFile, StylePack
from studio.screenplay.fountain_out import to_fountain

TokenCounter = Callable[[str], int]
Scope = Literal["global", "local"]

CHARS_PER_TOKEN = 4
ESTIMATE_LABEL = "estimate (4 characters a token)"

# Section names, in the order they are kept when the budget bites (first = kept first). The
# current scene's script is mandatory and is placed before all of them. Context files come
# last, one section each, in staging order.
PARAMS = "project parameters"
SCENE_SCRIPT = "this scene's script"
SHOT_LIST = "this scene's shot list"
PREVIOUS_END = "previous scene's end state"
STYLE = "style"
SUMMARY = "story summary"
BEATS = "beat sheet"
CHARACTERS = "master assets: characters"
LOCATIONS = "master assets: locations"
PROPS = "master assets: props"
CONTEXT_FILE = "context file"
PRIORITY: tuple[str, ...] = (
    PARAMS, SCENE_SCRIPT, SHOT_LIST, PREVIOUS_END, STYLE, SUMMARY, BEATS,
    CHARACTERS, LOCATIONS, PROPS, CONTEXT_FILE,
)
# The order the kept sections are read in: global context first, then the scene's own.
READING_ORDER: tuple[str, ...] = (
    PARAMS, SUMMARY, BEATS, STYLE, CHARACTERS, LOCATIONS, PROPS, CONTEXT_FILE,
    PREVIOUS_END, SCENE_SCRIPT, SHOT_LIST,
)
_ASSET_SECTIONS = {
    AssetKind.CHARACTER: CHARACTERS, AssetKind.LOCATION: LOCATIONS, AssetKind.PROP: PROPS,
}


def estimate_tokens(text: str) -> int:
    """A deterministic *estimate* of a text's tokens: its characters / 4, rounded up. Real
    tokenizers differ (often by 10-30 %); pass the backend's counter where it has one."""
    return -(-len(text) // CHARS_PER_TOKEN)


class ContextOverflow(TooLarge):
    """The current scene's own script does not fit the backend's budget: it is never cut."""


@dataclass(frozen=True)
class Budget:
    """A backend's token budget: its context length less what the reply needs."""

    context_length: int
    reply_reserve: int

    def __post_init__(self) -> None:
        if self.context_length <= 0 or self.reply_reserve < 0:
            raise BadInput("a token budget needs a positive context length and a reply reserve of 0 or more")
        if self.reply_reserve >= self.context_length:
            raise BadInput(
                f"the reply reserve ({self.reply_reserve} tokens) leaves nothing of the "
                f"{self.context_length}-token context: lower it or use a longer context"
            )

    @property
    def available(self) -> int:
        return self.context_length - self.reply_reserve


@dataclass(frozen=True)
class Section:
    """One part of a call's context, as sent: ``text`` starts with its ``## name`` header
    and ``tokens`` is what the counter said of that text."""

    name: str
    scope: Scope
    text: str
    tokens: int


@dataclass(frozen=True)
class LeftOut:
    """A section the budget had no room for."""

    name: str
    tokens: int


@dataclass(frozen=True)
class AssembledContext:
    """The context of one call: sections in reading order, their total, the budget, what
    was left out, and ``digest`` (sha256 of all of it) so a call can be reproduced.

    ``total`` is the sum of the sections' counts; ``text`` joins them with blank lines, which a
    real tokenizer may count as a token or so each (keep a little of the reply reserve for it).
    ``counter`` names what counted: :data:`ESTIMATE_LABEL` for the default estimate."""

    stage: Stage
    scene_id: str | None
    sections: tuple[Section, ...]
    total: int
    budget: int
    left_out: tuple[LeftOut, ...]
    counter: str
    digest: str = field(default="")

    @property
    def text(self) -> str:
        return "\n\n".join(s.text for s in self.sections)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.sections)

    def section(self, name: str) -> Section | None:
        return next((s for s in self.sections if s.name == name), None)


@dataclass(frozen=True)
class _Draft:
    name: str
    scope: Scope
    body: str
    rank: int  # position in PRIORITY (context files share the last rank, in order)


def is_phase_b(stage: Stage | int) -> bool:
    """Phase B is stages 6-12: the calls that work on one scene."""
    return Stage(stage) >= Stage.HUB


def assemble(
    state: ProjectState,
    stage: Stage | int,
    budget: Budget,
    *,
    scene: str | int | None = None,
    style: StylePack | None = None,
    read_file: Callable[[StagedFile], str] | None = None,
    count: TokenCounter = estimate_tokens,
    counter_label: str | None = None,
) -> AssembledContext:
    """The context of a call for ``stage`` (and, in Phase B, ``scene``: an id or 1-based
    number) within ``budget``. ``style`` is the chosen style pack, ``read_file`` gives a
    staged context file's text; ``count`` counts tokens (default :func:`estimate_tokens`)."""
    stage = Stage(stage)
    doc: SceneDoc | None = None
    if is_phase_b(stage):
        if scene is None:
            raise BadInput(f"stage {stage.value} ({stage.title}) works on one scene: say which scene")
        doc = state.scene(scene)
    elif scene is not None:
        raise BadInput(
            f"stage {stage.value} ({stage.title}) is film-wide: its calls carry no scene's context"
        )
    drafts = list(_global_drafts(state, style, read_file))
    if doc is not None:
        drafts += _local_drafts(state, doc)
    sections = [
        (d, Section(d.name, d.scope, text := f"## {d.name}\n{d.body}", count(text))) for d in drafts
    ]
    room = budget.available
    kept: list[tuple[_Draft, Section]] = []
    left_out: list[LeftOut] = []
    for draft, section in sections:
        if draft.name != SCENE_SCRIPT:
            continue
        if section.tokens > room:
            raise ContextOverflow(
                f"scene {doc.scene.id if doc else '?'}'s script is {section.tokens} tokens and the "
                f"budget is {budget.available} ({budget.context_length} context less "
                f"{budget.reply_reserve} for the reply): it is never cut, so use a backend with a "
                f"longer context, a smaller reply reserve, or split the scene"
            )
        room -= section.tokens
        kept.append((draft, section))
    for draft, section in sorted(
        (pair for pair in sections if pair[0].name != SCENE_SCRIPT), key=lambda p: p[0].rank
    ):
        if section.tokens <= room:
            room -= section.tokens
            kept.append((draft, section))
        else:
            left_out.append(LeftOut(section.name, section.tokens))
    order = {name: i for i, name in enumerate(READING_ORDER)}
    positions = {id(d): i for i, d in enumerate(drafts)}
    ordered = tuple(
        s for d, s in sorted(kept, key=lambda p: (order[_kind(p[0].name)], positions[id(p[0])]))
    )
    label = counter_label or (
        ESTIMATE_LABEL if count is estimate_tokens else getattr(count, "__name__", "injected counter")
    )
    assembled = AssembledContext(
        stage=stage,
        scene_id=doc.scene.id if doc else None,
        sections=ordered,
        total=sum(s.tokens for s in ordered),
        budget=budget.available,
        left_out=tuple(left_out),
        counter=label,
    )
    return _with_digest(assembled)


def _kind(name: str) -> str:
    return CONTEXT_FILE if name.startswith(CONTEXT_FILE) else name


def _with_digest(ctx: AssembledContext) -> AssembledContext:
    payload = {
        "stage": int(ctx.stage),
        "scene": ctx.scene_id,
        "budget": ctx.budget,
        "counter": ctx.counter,
        "sections": [[s.name, s.scope, s.text, s.tokens] for s in ctx.sections],
        "left_out": [[o.name, o.tokens] for o in ctx.left_out],
    }
    blob = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    digest = hashlib.sha256(blob.encode("utf-8")).hexdigest()
    return AssembledContext(**{**ctx.__dict__, "digest": digest})


# --------------------------------------------------------------------------- the sections


def _rank(name: str) -> int:
    return PRIORITY.index(_kind(name))


def _draft(name: str, scope: Scope, lines: Iterable[str]) -> _Draft | None:
    body = "\n".join(line for line in lines if line).strip()
    return _Draft(name, scope, body, _rank(name)) if body else None


def _global_drafts(
    state: ProjectState, style: StylePack | None, read_file: Callable[[StagedFile], str] | None
) -> Iterable[_Draft]:
    params = state.input.params
    title = state.script.title if state.script else ""
    lines: list[str] = [f"Title: {title}" if title else ""]
    if params is not None:
        lines += [
            f"Target length: {params.target_min_s}-{params.target_max_s} seconds",
            f"Type: {params.project_type.value}",
            f"Content rating: {params.content_rating.value}",
            f"Genres: {', '.join(params.genres)}" if params.genres else "",
            f"Tonal precision: {params.tonal_precision}",
        ]
    drafts = [_draft(PARAMS, "global", lines)]
    drafts.append(_draft(SUMMARY, "global", [state.treatment.text]))
    beats = state.beats.beats
    drafts.append(_draft(BEATS, "global", (
        f"{i}. {b.text}" + "".join(f"\n   - {sub}" for sub in b.sub_beats)
        for i, b in enumerate(beats, 1)
    )))
    written = params.written_style if params is not None else None
    style_lines = [f"Written style: {written}" if written else ""]
    if style is not None:
        style_lines += [
            f"Visual style: {style.name}" + (f" - {style.description}" if style.description else ""),
            f"Palette: {' '.join(style.palette)}" if style.palette else "",
            f"Lighting: {style.lighting}" if style.lighting else "",
            f"Lens: {style.lens}" if style.lens else "",
            f"Grain: {style.grain}" if style.grain else "",
        ]
    drafts.append(_draft(STYLE, "global", style_lines))
    for kind, name in _ASSET_SECTIONS.items():
        drafts.append(_draft(name, "global", (
            f"- {a.name}: {' '.join(a.description.split())}" if a.description else f"- {a.name}"
            for a in state.assets.assets if a.kind is kind
        )))
    for staged in state.input.staging.files:
        if staged.role is not FileRole.CONTEXT:
            continue
        if read_file is None:
            raise ValueError("the project has staged context files: pass read_file to read them")
        label = f"{CONTEXT_FILE}: {staged.name}" + (f" [{staged.tag}]" if staged.tag else "")
        drafts.append(_draft(label, "global", [read_file(staged)]))
    return [d for d in drafts if d is not None]


def _local_drafts(state: ProjectState, doc: SceneDoc) -> list[_Draft]:
    drafts = [_draft(SCENE_SCRIPT, "local", [to_fountain({}, [doc.scene])])]
    drafts.append(_draft(SHOT_LIST, "local", (
        f"{s.id} ({s.duration_s:g}s, {s.camera or 'camera unset'}, {s.movement})"
        + (f" action: {s.action}" if s.action else "")
        + (f" dialogue: {s.dialogue}" if s.dialogue else "")
        for s in doc.work.shots
    )))
    previous = _previous(state, doc)
    if previous is not None:
        drafts.append(_draft(PREVIOUS_END, "local", _end_state(state, previous)))
    return [d for d in drafts if d is not None]


def _previous(state: ProjectState, doc: SceneDoc) -> SceneDoc | None:
    ids = state.script.scene_ids if state.script else ()
    index = ids.index(doc.scene.id)
    for sid in reversed(ids[:index]):
        if sid in state.scenes:
            return state.scenes[sid]
    return None


def _end_state(state: ProjectState, doc: SceneDoc) -> list[str]:
    """How the previous scene ends: its heading, last action and last line, and the assets'
    condition as its stage 8 visual state left them. Never its script."""
    action, speech = last_action_and_dialogue(doc.scene)
    lines = [f"Scene: {doc.scene.heading}"]
    if action:
        lines.append(f"Last action: {action}")
    if speech:
        lines.append(f"Last line: {speech}")
    names = {a.id: a.name for a in state.assets.assets}
    for asset_state in doc.work.visual_state:
        if asset_state.condition_tags:
            name = names.get(asset_state.asset_id, asset_state.asset_id)
            lines.append(f"{name}: {', '.join(asset_state.condition_tags)}")
    return lines
