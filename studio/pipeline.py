"""Pipeline rules as pure functions over a :class:`ProjectState`.

Stage gates (SPEC §3): a stage opens only when the stage it depends on is locked. Scene
statuses and the invalidation cascade (SPEC §4) are *derived*, not stored: every Phase B lock
records what it was built on (:class:`LockRecord`), and a later change that no longer matches
shows up as Outdated or continuity-broken. That keeps a one-scene edit a one-object write.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from studio.model import (
    MIN_GUIDANCE_CHARS,
    InputMode,
    LockRecord,
    ProjectState,
    SceneDoc,
    Stage,
)
from studio.objects import canonical_json, document_id, sha256_hex

# --------------------------------------------------------------------------- fingerprints


LOCK_LEVELS = ("shot list", "visual state", "prompts", "frames", "render confirmation", "video")

# scene_hash by (id(doc), level), holding the doc so its id cannot be reused while cached. A
# SceneDoc is frozen and the timeline hands out one object per stored document, so the gates
# and the hub, which fingerprint every scene several times per page run, hash each scene once
# (a 1,000-scene project spent 3 s a page run here).
_SCENE_HASHES: dict[tuple[int, str], tuple[SceneDoc, str]] = {}
_SCENE_HASHES_MAX = 50_000


def _parts(doc: SceneDoc, names: Sequence[str]) -> dict[str, object]:
    """What a scene's locks are built on, part by part (see :func:`scene_hash`); only the
    parts named (the scene reports hash every lock of every scene on each page run)."""
    work = doc.work
    parts: dict[str, object] = {}
    if "script" in names:
        data = doc.scene.model_dump(mode="json", exclude={"line"})
        for element in data["elements"]:
            element.pop("line", None)
        parts["script"] = data
    if "shot list" in names:
        parts["shot list"] = [s.model_dump(mode="json", exclude={"start_frame_only"}) for s in work.shots]
    if "visual state" in names:
        visual: dict[str, object] = {
            "visual": [v.model_dump(mode="json") for v in work.visual_state],
            "carry": [c.model_dump(mode="json") for c in work.carry_decisions],
        }
        if work.extra_assets:  # absent from older locks' fingerprints, which stay valid
            visual["extra_assets"] = list(work.extra_assets)
        parts["visual state"] = visual
    if "prompts" in names:
        parts["prompts"] = {
            "prompts": [p.model_dump(mode="json") for p in work.prompts],
            "start_frame_only": [s.id for s in work.shots if s.start_frame_only],
            "targets": [work.frame_model, work.video_model],
        }
    if "frames" in names:
        parts["frames"] = [f.model_dump(mode="json") for f in work.frames]
    return parts


# The parts each lock level covers, in order.
_COVERS = {
    "shot list": ("script", "shot list"),
    "visual state": ("script", "shot list", "visual state"),
    "prompts": ("script", "shot list", "visual state", "prompts"),
    "frames": ("script", "shot list", "visual state", "prompts"),
    "render confirmation": ("script", "shot list", "visual state", "prompts", "frames"),
    "video": ("script", "shot list", "visual state", "prompts", "frames"),
}


def scene_hash(doc: SceneDoc, level: str = "shot list") -> str:
    """Fingerprint of what a scene lock at ``level`` is built on (memoised per document
    object: see :func:`_scene_hash` for what it covers)."""
    key = (id(doc), level)
    cached = _SCENE_HASHES.get(key)
    if cached is not None and cached[0] is doc:
        return cached[1]
    value = _scene_hash(doc, level)
    if len(_SCENE_HASHES) >= _SCENE_HASHES_MAX:
        _SCENE_HASHES.clear()
    _SCENE_HASHES[key] = (doc, value)
    return value


def _scene_hash(doc: SceneDoc, level: str) -> str:
    """Fingerprint of what a scene lock at ``level`` is built on.

    Every lock covers the scene's script content and shot list; from the visual state up it
    also covers the per-scene asset states and carry-forward answers, from the prompts up the
    saved prompt sets, from the render confirmation up the frames. An edit of any of these
    after the lock makes that lock (and the ones above it) stale. Source line numbers are left
    out, so an edit in scene 2 does not look like an edit of scene 5 merely because lines
    shifted; the per-shot start-frame-only tag (a stage 9 choice) is left out of the shot
    list and counted with the prompts.
    """
    if level not in _COVERS:
        raise ValueError(f"unknown lock level {level!r}")
    covers = _COVERS[level]
    parts = _parts(doc, covers)
    data: dict[str, object] = {"scene": parts["script"], "shots": parts["shot list"]}
    if "visual state" in covers:
        data.update(parts["visual state"])  # type: ignore[arg-type]
    if "prompts" in covers:
        data.update(parts["prompts"])  # type: ignore[arg-type]
    if "frames" in covers:
        data["frames"] = parts["frames"]
    return sha256_hex(canonical_json(data))


def part_hashes(doc: SceneDoc, level: str = "shot list") -> dict[str, str]:
    """One fingerprint per part a lock at ``level`` covers: a stale lock names what changed."""
    parts = _parts(doc, _COVERS[level])
    return {name: sha256_hex(canonical_json(parts[name])) for name in _COVERS[level]}


def upstream_hashes(scenes: Sequence[SceneDoc]) -> list[str]:
    """For each scene, a fingerprint of every scene before it (continuity depends on them)."""
    result: list[str] = []
    running = sha256_hex(b"start")
    for doc in scenes:
        result.append(running)
        running = sha256_hex((running + scene_hash(doc)).encode())
    return result


def lock_record(
    state: ProjectState, scene_id: str, message: str = "", level: str = "shot list"
) -> LockRecord:
    """The record a Phase B lock of ``scene_id`` at ``level`` stores: what it was built on."""
    ordered = state.ordered_scenes()
    ups = upstream_hashes(ordered)
    for doc, upstream in zip(ordered, ups, strict=True):
        if doc.scene.id == scene_id:
            generation = state.script.generation if state.script else 0
            return LockRecord(
                scene_hash=scene_hash(doc, level),
                upstream_hash=upstream,
                generation=generation,
                commit_message=message,
                parts=part_hashes(doc, level),
            )
    raise KeyError(scene_id)


# --------------------------------------------------------------------------- scene statuses


class SceneStatus(StrEnum):
    DRAFT = "Draft"
    SHOTS_LOCKED = "Shot list locked"
    FRAMES_LOCKED = "Frames locked"
    VIDEO_COMPLETE = "Video complete"
    OUTDATED = "Outdated"


@dataclass(frozen=True)
class SceneReport:
    """A scene as the hub shows it: status, the lock level reached, and why it is stale."""

    scene_id: str
    number: int
    heading: str
    status: SceneStatus
    level: SceneStatus
    outdated: bool
    continuity_broken: bool
    reasons: tuple[str, ...] = ()


def _were(lock_names: Sequence[str]) -> str:
    """'the shot list was', 'the visual state and prompts were'."""
    plural = len(lock_names) > 1 or lock_names[0] in ("prompts", "frames")
    return f"the {_and(lock_names)} {'were' if plural else 'was'}"


def _and(items: Sequence[str]) -> str:
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _changed_parts(doc: SceneDoc, name: str, lock: LockRecord) -> tuple[str, ...]:
    """The parts of the scene that differ from what a stale lock recorded (empty when the
    lock predates per-part fingerprints)."""
    if not lock.parts:
        return ()
    now = part_hashes(doc, name)
    return tuple(part for part in _COVERS[name] if lock.parts.get(part) != now[part])


def _stale_reasons(stale: Sequence[tuple[str, str]]) -> list[str]:
    """One short sentence per kind of change: [(what changed, lock name)] in lock order ->
    'the shot list changed after the visual state and prompts were locked'."""
    grouped: dict[str, list[str]] = {}
    for what, name in stale:
        grouped.setdefault(what, []).append(name)
    return [f"{what} changed after {_were(names)} locked" for what, names in grouped.items()]


def _locks(doc: SceneDoc) -> list[tuple[str, LockRecord]]:
    work = doc.work
    pairs = [
        ("shot list", work.shots_lock),
        ("visual state", work.visual_lock),
        ("prompts", work.prompts_lock),
        ("frames", work.frames_lock),
        ("render confirmation", work.render_confirmed),
        ("video", work.video_lock),
    ]
    return [(name, lock) for name, lock in pairs if lock is not None]


def lock_level(doc: SceneDoc) -> SceneStatus:
    """The furthest milestone a scene's locks reached, ignoring staleness."""
    work = doc.work
    if work.video_lock is not None:
        return SceneStatus.VIDEO_COMPLETE
    if work.frames_lock is not None:
        return SceneStatus.FRAMES_LOCKED
    if work.shots_lock is not None:
        return SceneStatus.SHOTS_LOCKED
    return SceneStatus.DRAFT


def scene_reports(state: ProjectState) -> list[SceneReport]:
    """Status of every scene in script order, with the invalidation cascade applied.

    - global: work locked on an older script generation is Outdated (the script was
      regenerated, which SPEC forces onto a new branch);
    - local: a scene whose own content changed since a lock is Outdated; a scene whose
      earlier scenes changed since its locks is continuity-broken.
    A Draft scene has nothing to invalidate, so it is never Outdated or broken.

    Memoised for the last few state objects (frozen, one per commit from the timeline): the
    gates of one page run ask for the reports of the same state ten times.
    """
    for cached_state, cached in _REPORTS:
        if cached_state is state:
            return list(cached)
    reports = _scene_reports(state)
    _REPORTS.insert(0, (state, tuple(reports)))
    del _REPORTS[4:]
    return reports


_REPORTS: list[tuple[ProjectState, tuple[SceneReport, ...]]] = []


def _scene_reports(state: ProjectState) -> list[SceneReport]:
    ordered = state.ordered_scenes()
    generation = state.script.generation if state.script else 0
    reports: list[SceneReport] = []
    for number, (doc, upstream) in enumerate(zip(ordered, upstream_hashes(ordered), strict=True), 1):
        reasons: list[str] = []
        outdated = broken = False
        regenerated: list[str] = []
        changed: list[tuple[str, str]] = []
        upstream_changed: list[str] = []
        for name, lock in _locks(doc):
            if lock.generation != generation:
                regenerated.append(name)
            elif lock.scene_hash != scene_hash(doc, name):
                parts = _changed_parts(doc, name, lock)
                what = "the " + _and(parts) if parts else "this scene"
                changed.append((what.replace("the script", "the scene's script"), name))
            elif lock.upstream_hash != upstream:
                upstream_changed.append(name)
        if regenerated:
            outdated = True
            reasons.append(f"the script was regenerated after {_were(regenerated)} locked")
        if changed:
            outdated = True
            reasons += _stale_reasons(changed)
        if upstream_changed:
            broken = True
            reasons.append(f"an earlier scene changed after {_were(upstream_changed)} locked")
        level = lock_level(doc)
        status = SceneStatus.OUTDATED if outdated else level
        reports.append(
            SceneReport(
                scene_id=doc.scene.id,
                number=number,
                heading=doc.scene.heading,
                status=status,
                level=level,
                outdated=outdated,
                continuity_broken=broken,
                reasons=tuple(dict.fromkeys(reasons)),
            )
        )
    return reports


@dataclass(frozen=True)
class Impact:
    """What a change would invalidate: shown in the cost & dependency warning before saving."""

    outdated: tuple[str, ...] = ()
    continuity_broken: tuple[str, ...] = ()
    locks_lost: int = 0
    shots: int = 0
    frames: int = 0
    clips: int = 0
    notes: tuple[str, ...] = field(default_factory=tuple)
    # What the change throws away for good (a deleted shot's script text, its prompts and
    # frames): a page asks for a confirmation when this is not empty, as when work goes stale.
    lost: tuple[str, ...] = field(default_factory=tuple)

    @property
    def empty(self) -> bool:
        return not (self.outdated or self.continuity_broken)

    def summary(self) -> str:
        if self.empty:
            return "Nothing downstream is invalidated by this change."
        parts = []
        if self.outdated:
            parts.append(f"{len(self.outdated)} scene(s) become Outdated")
        if self.continuity_broken:
            parts.append(f"{len(self.continuity_broken)} later scene(s) get continuity broken")
        work = f"{self.shots} shots, {self.frames} frames, {self.clips} clips affected"
        return "; ".join(parts) + f" ({work})."


def impact(before: ProjectState, after: ProjectState) -> Impact:
    """Scenes a change newly makes Outdated or continuity-broken, and the work they hold."""
    old = {r.scene_id: r for r in scene_reports(before)}
    outdated: list[str] = []
    broken: list[str] = []
    shots = frames = clips = locks = 0
    for report in scene_reports(after):
        previous = old.get(report.scene_id)
        newly_outdated = report.outdated and not (previous and previous.outdated)
        newly_broken = report.continuity_broken and not (previous and previous.continuity_broken)
        if newly_outdated:
            outdated.append(report.scene_id)
        if newly_broken:
            broken.append(report.scene_id)
        if newly_outdated or newly_broken:
            work = after.scenes[report.scene_id].work
            shots += len(work.shots)
            frames += len(work.frames)
            clips += len(work.clips)
            locks += len(_locks(after.scenes[report.scene_id]))
    return Impact(tuple(outdated), tuple(broken), locks, shots, frames, clips)


# --------------------------------------------------------------------------- stage gates


@dataclass(frozen=True)
class Gate:
    """Whether a stage is open, whether it is locked, and a sentence saying why."""

    stage: Stage
    open: bool
    locked: bool
    reason: str
    skipped: bool = False


def _mode(state: ProjectState) -> InputMode | None:
    params = state.input.params
    return params.input_mode if params else None


def stage_locked(state: ProjectState, stage: Stage, scene_id: str | None = None) -> bool:
    """Whether ``stage`` is locked (for per-scene stages: for ``scene_id``, not stale)."""
    if stage is Stage.INPUT:
        return state.input.submitted and state.input.params is not None
    if stage is Stage.TREATMENT:
        return state.treatment.locked
    if stage is Stage.BEATS:
        return state.beats.confirmed
    if stage is Stage.SCRIPT:
        return state.script is not None and state.script.approved
    if stage is Stage.ASSETS:
        assets = state.assets
        return bool(assets.assets) and all(a.locked for a in assets.assets) and assets.style_locked
    if stage is Stage.HUB:
        return stage_locked(state, Stage.ASSETS)
    if scene_id is None or scene_id not in state.scenes:
        return False
    doc = state.scenes[scene_id]
    work = doc.work
    name, lock = {
        Stage.SHOTS: ("shot list", work.shots_lock),
        Stage.VISUAL_STATE: ("visual state", work.visual_lock),
        Stage.PROMPTS: ("prompts", work.prompts_lock),
        Stage.FRAMES: ("frames", work.frames_lock),
        Stage.CONFIRM: ("render confirmation", work.render_confirmed),
        Stage.VIDEO: ("video", work.video_lock),
    }[stage]
    # A lock counts while what it was built on is unchanged; a stale lock above it does not
    # undo it (editing a scene's visual state leaves its shot list locked).
    generation = state.script.generation if state.script else 0
    return (
        lock is not None
        and lock.generation == generation
        and lock.scene_hash == scene_hash(doc, name)
    )


# Which stage a stage waits for. Mode D (script import) skips stages 2-3.
_DEPENDS: dict[Stage, Stage] = {
    Stage.TREATMENT: Stage.INPUT,
    Stage.BEATS: Stage.TREATMENT,
    Stage.SCRIPT: Stage.BEATS,
    Stage.ASSETS: Stage.SCRIPT,
    Stage.HUB: Stage.ASSETS,
    Stage.SHOTS: Stage.HUB,
    Stage.VISUAL_STATE: Stage.SHOTS,
    Stage.PROMPTS: Stage.VISUAL_STATE,
    Stage.FRAMES: Stage.PROMPTS,
    Stage.CONFIRM: Stage.FRAMES,
    Stage.VIDEO: Stage.CONFIRM,
}

_LOCK_WORDS: dict[Stage, str] = {
    Stage.INPUT: "the project parameters and input are submitted",
    Stage.TREATMENT: "a treatment is chosen and locked",
    Stage.BEATS: "the beat sheet is confirmed",
    Stage.SCRIPT: "the master script is approved",
    Stage.ASSETS: "every asset and the visual style are locked",
    Stage.HUB: "every asset and the visual style are locked",
    Stage.SHOTS: "this scene's shot list is locked",
    Stage.VISUAL_STATE: "this scene's visual state is locked",
    Stage.PROMPTS: "this scene's prompts are locked",
    Stage.FRAMES: "this scene's anchor frames are locked",
    Stage.CONFIRM: "the render is confirmed",
}


def dependency(state: ProjectState, stage: Stage) -> Stage | None:
    """The stage ``stage`` waits for, honouring mode D's skip of stages 2-3."""
    if stage is Stage.INPUT:
        return None
    if stage is Stage.SCRIPT and _mode(state) is InputMode.SCRIPT:
        return Stage.INPUT
    return _DEPENDS[stage]


def stage_gate(state: ProjectState, stage: Stage, scene_id: str | None = None) -> Gate:
    """Is ``stage`` open (its dependency locked)? Per-scene stages need ``scene_id``."""
    if stage in (Stage.TREATMENT, Stage.BEATS) and _mode(state) is InputMode.SCRIPT:
        return Gate(stage, False, False, "skipped: the screenplay was imported (mode D)", True)
    locked = stage_locked(state, stage, scene_id)
    needed = dependency(state, stage)
    if needed is None:
        return Gate(stage, True, locked, "always open")
    if stage.per_scene and scene_id is None:
        if not stage_locked(state, Stage.HUB):
            return Gate(stage, False, False, f"opens when {_LOCK_WORDS[Stage.HUB]} (stage 5)")
        return Gate(stage, False, False, "choose a scene in the Script hub (stage 6)")
    if stage.per_scene and scene_id is not None:
        report = next((r for r in scene_reports(state) if r.scene_id == scene_id), None)
        if report is None:
            return Gate(stage, False, False, f"scene {scene_id} does not exist")
    if stage_locked(state, needed, scene_id):
        return Gate(stage, True, locked, f"open: {_LOCK_WORDS[needed]}")
    # The hub is locked by stage 5's locks, so name the stage where the user acts.
    acting = Stage.ASSETS if needed is Stage.HUB else needed
    return Gate(stage, False, False, f"opens when {_LOCK_WORDS[needed]} (stage {int(acting)})")


def gates(state: ProjectState, scene_id: str | None = None) -> dict[Stage, Gate]:
    return {stage: stage_gate(state, stage, scene_id) for stage in Stage}


def progress(state: ProjectState) -> float:
    """0..1: film-wide stages locked plus the share of scenes with complete video."""
    film = [Stage.INPUT, Stage.SCRIPT, Stage.ASSETS]
    if _mode(state) is not InputMode.SCRIPT:
        film[1:1] = [Stage.TREATMENT, Stage.BEATS]
    done = sum(stage_locked(state, s) for s in film)
    reports = scene_reports(state)
    scene_score = 0.0
    weights = {
        SceneStatus.DRAFT: 0.0,
        SceneStatus.SHOTS_LOCKED: 0.34,
        SceneStatus.FRAMES_LOCKED: 0.67,
        SceneStatus.VIDEO_COMPLETE: 1.0,
        SceneStatus.OUTDATED: 0.0,
    }
    if reports:
        scene_score = sum(weights[r.status] for r in reports) / len(reports)
    return round((done + scene_score * len(film)) / (2 * len(film)), 3)


# --------------------------------------------------------------------------- branching rules


def needs_new_branch(state: ProjectState, action: str) -> str | None:
    """Why ``action`` must go on a new branch, or None.

    Regenerating the script after the beat sheet was edited (the beat sheet differs from the
    one the script was written from) would silently overwrite the script every Phase B
    artifact was built on, so it forks (SPEC §4, mandatory branch).
    """
    if action != "regenerate_script" or state.script is None:
        return None
    if not state.beats.beats:
        return None
    if state.script.beats_basis != document_id(state.beats):
        return (
            "the beat sheet was edited after the script was written: regenerating the script "
            "must go on a new branch (give a branch name)"
        )
    return None


def beat_sheet_stale(state: ProjectState) -> bool:
    """Stage 3 flag 'Not up to date with current script': the script has moved on."""
    return (
        state.script is not None
        and bool(state.beats.beats)
        and state.script.beats_basis != document_id(state.beats)
    )


def check_guidance(text: str, what: str = "guidance") -> str:
    """Guidance text doubles as the commit message; SPEC asks for at least 10 characters."""
    from studio.errors import BadInput

    cleaned = " ".join(text.split())
    if len(cleaned) < MIN_GUIDANCE_CHARS:
        raise BadInput(
            f"{what} must be at least {MIN_GUIDANCE_CHARS} characters (it becomes the commit "
            f"message); got {len(cleaned)}"
        )
    return cleaned
