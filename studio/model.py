"""The domain model: every entity of the 12 stages, as frozen pydantic values.

Documents here are what commits store: each is serialised to canonical JSON and addressed by
its sha256 (see ``studio.objects``). A project state is a tree of such documents, one per
stage document and one per scene, so editing one scene writes one new scene object.
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import IntEnum, StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

MIN_GUIDANCE_CHARS = 10


class Frozen(BaseModel):
    """Base for immutable values: unknown fields are an error, nothing mutates in place."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Changes(BaseModel):
    """Base for partial edits (the ``…Changes`` pattern): only the fields a user sent."""

    model_config = ConfigDict(extra="forbid")


NonEmpty = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


# --------------------------------------------------------------------------- stages


class Stage(IntEnum):
    """The 12 stages; Phase A (1-5) is film-wide, Phase B (6-12) runs per scene."""

    INPUT = 1
    TREATMENT = 2
    BEATS = 3
    SCRIPT = 4
    ASSETS = 5
    HUB = 6
    SHOTS = 7
    VISUAL_STATE = 8
    PROMPTS = 9
    FRAMES = 10
    CONFIRM = 11
    VIDEO = 12

    @property
    def title(self) -> str:
        return STAGE_TITLES[self]

    @property
    def per_scene(self) -> bool:
        return self >= Stage.SHOTS


STAGE_TITLES: dict[Stage, str] = {
    Stage.INPUT: "Input",
    Stage.TREATMENT: "Treatment",
    Stage.BEATS: "Beat sheet",
    Stage.SCRIPT: "Master script",
    Stage.ASSETS: "Assets & style",
    Stage.HUB: "Script hub",
    Stage.SHOTS: "Shot list",
    Stage.VISUAL_STATE: "Scene visual state",
    Stage.PROMPTS: "Prompt assembly",
    Stage.FRAMES: "Anchor frames",
    Stage.CONFIRM: "Cost & VRAM gate",
    Stage.VIDEO: "Video & review",
}


# --------------------------------------------------------------------------- stage 1


class ProjectType(StrEnum):
    NARRATIVE_SHORT = "narrative short"
    COMMERCIAL_TRAILER = "commercial/trailer"
    AUDIO_VISUALS = "visuals for audio"


class ContentRating(StrEnum):
    G = "G"
    PG = "PG"
    PG13 = "PG-13"
    M = "M"


class InputMode(StrEnum):
    """Stage 1 modes: A expansion, B condensation, C transformation, D script skip."""

    EXPANSION = "A"
    CONDENSATION = "B"
    TRANSFORMATION = "C"
    SCRIPT = "D"


class ProjectParams(Frozen):
    """Stage 1 project parameters. Tonal precision is the one free-text field SPEC requires."""

    target_min_s: int = Field(default=180, ge=5, le=4 * 3600)
    target_max_s: int = Field(default=300, ge=5, le=4 * 3600)
    project_type: ProjectType = ProjectType.NARRATIVE_SHORT
    content_rating: ContentRating = ContentRating.PG
    genres: tuple[NonEmpty, ...] = ()
    tonal_precision: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=MIN_GUIDANCE_CHARS, max_length=2000)
    ]
    input_mode: InputMode = InputMode.SCRIPT
    written_style: str | None = None

    @field_validator("target_max_s")
    @classmethod
    def _range_ordered(cls, value: int, info) -> int:
        low = info.data.get("target_min_s")
        if low is not None and value < low:
            raise ValueError("the longest target length must not be shorter than the shortest")
        return value


class FileRole(StrEnum):
    PRIMARY = "primary"
    CONTEXT = "context"


class StagedFile(Frozen):
    """A file in the stage 1 staging area; its bytes live in the media store."""

    name: NonEmpty
    media: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=0)
    role: FileRole = FileRole.CONTEXT
    tag: str = ""


class Staging(Frozen):
    """The staging area: several files, at most one of them Primary."""

    files: tuple[StagedFile, ...] = ()

    @field_validator("files")
    @classmethod
    def _one_primary(cls, files: tuple[StagedFile, ...]) -> tuple[StagedFile, ...]:
        if sum(f.role is FileRole.PRIMARY for f in files) > 1:
            raise ValueError("only one staged file can be Primary")
        names = [f.name for f in files]
        if len(names) != len(set(names)):
            raise ValueError("staged file names must be unique")
        return files

    @property
    def primary(self) -> StagedFile | None:
        return next((f for f in self.files if f.role is FileRole.PRIMARY), None)


class InputDoc(Frozen):
    """Stage 1 as a whole: parameters, staged files, and whether the input was submitted."""

    params: ProjectParams | None = None
    staging: Staging = Staging()
    submitted: bool = False


# --------------------------------------------------------------------------- stages 2-3


class TreatmentVariant(Frozen):
    id: NonEmpty
    angle: Literal["tone", "ending", "chronology"]
    text: str


class Treatment(Frozen):
    variants: tuple[TreatmentVariant, ...] = ()
    chosen: str | None = None
    text: str = ""
    locked: bool = False


class Beat(Frozen):
    id: NonEmpty
    text: NonEmpty
    source_passage: str = ""
    sub_beats: tuple[str, ...] = ()


class BeatSheet(Frozen):
    """Stage 3. ``confirmed`` is the structural lock that opens stage 4."""

    beats: tuple[Beat, ...] = ()
    confirmed: bool = False

    @field_validator("beats")
    @classmethod
    def _unique_ids(cls, beats: tuple[Beat, ...]) -> tuple[Beat, ...]:
        ids = [b.id for b in beats]
        if len(ids) != len(set(ids)):
            raise ValueError("beat ids must be unique")
        return beats


# --------------------------------------------------------------------------- stage 4


class ElementKind(StrEnum):
    ACTION = "action"
    DIALOGUE = "dialogue"
    TRANSITION = "transition"
    CENTERED = "centered"
    LYRICS = "lyrics"
    PAGE_BREAK = "page_break"
    SECTION = "section"
    SYNOPSIS = "synopsis"


class ScriptElement(Frozen):
    """One element of a scene body.

    Dialogue elements carry their speaker, the cue extension ((V.O.), (CONT'D)), the
    parenthetical that precedes the line and, for dual dialogue, which side it sits on.
    ``line`` is the 1-based source line, kept so errors and the UI can point at it.
    """

    kind: ElementKind
    text: str = ""
    character: str | None = None
    extension: str | None = None
    parenthetical: str | None = None
    dual: Literal["left", "right"] | None = None
    line: int = 0


class IntExt(StrEnum):
    INT = "INT"
    EXT = "EXT"
    INT_EXT = "INT/EXT"
    NONE = ""


class Scene(Frozen):
    """A scene of the master script: heading parts, body elements, who is in it."""

    id: str = Field(pattern=r"^sc-[0-9a-z]{1,32}$")
    heading: NonEmpty
    int_ext: IntExt = IntExt.NONE
    location: str = ""
    time_of_day: str = ""
    scene_number: str | None = None
    elements: tuple[ScriptElement, ...] = ()
    characters: tuple[str, ...] = ()
    line: int = 0

    @property
    def dialogue_count(self) -> int:
        return sum(e.kind is ElementKind.DIALOGUE for e in self.elements)


ScriptSource = Literal["import", "llm", "manual"]


class Script(Frozen):
    """Stage 4 document: title page and scene order. Scene bodies are their own objects.

    ``beats_basis`` is the id of the beat sheet object the script was written from (None for
    an imported script); ``generation`` counts full (re)generations, so Phase B work made on
    an older generation can be recognised as invalidated. ``source_text`` is the writer's own
    text (imported or saved in stage 4), notes, boneyard and title order included; empty for a
    generated script.
    """

    title: str = ""
    title_page: dict[str, str] = Field(default_factory=dict)
    scene_ids: tuple[str, ...] = ()
    approved: bool = False
    source: ScriptSource = "import"
    beats_basis: str | None = None
    generation: int = 1
    source_text: str = ""


# --------------------------------------------------------------------------- stage 5


class AssetKind(StrEnum):
    CHARACTER = "character"
    LOCATION = "location"
    PROP = "prop"


class Asset(Frozen):
    """A master asset (stage 5): a character, location or prop with its image key."""

    id: str = Field(pattern=r"^(character|location|prop)-[0-9a-z-]{1,64}$")
    kind: AssetKind
    name: NonEmpty
    description: str = ""
    mentions: tuple[str, ...] = ()
    image_key: str | None = None
    locked: bool = False
    source: Literal["script", "sheet", "global", "manual", "llm"] = "script"
    voice_profile: str | None = None


class StylePack(Frozen):
    """A visual style from ``data/styles/``: what every frame prompt of the film carries."""

    id: str = Field(pattern=r"^[0-9a-z-]{1,48}$")
    name: NonEmpty
    description: str = ""
    palette: tuple[Annotated[str, StringConstraints(pattern=r"^#[0-9a-fA-F]{6}$")], ...] = ()
    lighting: str = ""
    lens: str = ""
    grain: str = ""
    tags: tuple[str, ...] = ()


class AssetsDoc(Frozen):
    """Stage 5 document: the master assets and the locked visual style."""

    assets: tuple[Asset, ...] = ()
    style_pack: str | None = None
    style_locked: bool = False
    # Assets the user deleted (id -> None) or merged into another (id -> the survivor's id):
    # a new extraction from the script does not bring them back.
    retired: dict[str, str | None] = Field(default_factory=dict)

    def get(self, asset_id: str) -> Asset | None:
        return next((a for a in self.assets if a.id == asset_id), None)


class AssetState(Frozen):
    """A scene instance of an asset (stage 8) with its condition tags (wet, bloody, torn…)."""

    asset_id: NonEmpty
    source: Literal["master", "previous", "new"] = "master"
    description: str = ""
    condition_tags: tuple[str, ...] = ()
    image_key: str | None = None


# --------------------------------------------------------------------------- stages 7-12


class ShotCharacter(Frozen):
    name: NonEmpty
    prominence: Literal["primary", "secondary", "background"] = "primary"


CameraMove = Literal["static", "pan", "tilt", "dolly in", "dolly out", "tracking", "crane"]
MAX_SHOT_S = 8.0


class Shot(Frozen):
    """An 8-second shot (stage 7).

    ``camera`` is the framing (WS, MS, CU, OTS, INSERT…, optionally with an angle),
    ``movement`` the camera move the renderer animates. ``element_refs`` are the indices of
    the scene elements the shot's text comes from (an element split at sentence boundaries,
    or a long dual-dialogue pair, appears in several consecutive shots; transitions,
    sections and synopses are referenced by the shot they sit next to), so nothing is lost
    and nothing invented.
    """

    id: str = Field(pattern=r"^[0-9]+[A-Z]+$")
    duration_s: float = Field(gt=0, le=MAX_SHOT_S)
    dialogue: str = ""
    action: str = ""
    characters: tuple[ShotCharacter, ...] = ()
    setting: str = ""
    camera: str = ""
    movement: CameraMove = "static"
    sfx: tuple[str, ...] = ()
    continuity_flags: tuple[str, ...] = ()
    start_frame_only: bool = False
    element_refs: tuple[int, ...] = ()


class PromptSet(Frozen):
    """Stage 9 prompts for one shot: frame prompt -> anchor frames, video prompt -> clip."""

    shot_id: NonEmpty
    frame_prompt: str
    video_prompt: str
    system_prompt: str
    frame_edited: bool = False
    video_edited: bool = False
    model_tags: tuple[str, ...] = ()
    basis: str = ""
    # When an upstream change re-assembles a prompt the user had edited, the old edit is
    # kept here so the user sees both and chooses.
    previous_frame_edit: str | None = None
    previous_video_edit: str | None = None


class CarryDecision(Frozen):
    """The user's answer to 'carry this condition tag into this scene?' (stage 6/8)."""

    asset_id: NonEmpty
    tag: NonEmpty
    carry: bool


class Frame(Frozen):
    """An anchor frame (stage 10), with the job and manifest that made it."""

    shot_id: NonEmpty
    which: Literal["start", "end"]
    media: str
    seed: int
    approved: bool = False
    job_id: str | None = None
    manifest: str | None = None
    backend: str = "animatic"
    region_prompt: str | None = None


class Clip(Frozen):
    """A rendered clip (stage 12)."""

    shot_id: NonEmpty
    media: str
    duration_s: float = Field(gt=0)
    seed: int
    manifest: str | None = None
    version: int = 1


class ReviewNote(Frozen):
    """A stage 12 verdict and where it routed the scene."""

    verdict: Literal["success", "visual", "narrative", "audio"]
    note: str = ""
    routed_to: int
    shot_id: str | None = None


class LockRecord(Frozen):
    """What a scene lock was built on, so later edits can be recognised as invalidating it.

    ``scene_hash`` fingerprints this scene's script content and shot list, ``upstream_hash`` the content of
    every earlier scene, ``generation`` the script generation.
    """

    scene_hash: str
    upstream_hash: str
    generation: int
    commit_message: str = ""
    # The fingerprint of each part the lock covers ("script", "shot list"…), so a stale
    # lock can say which part changed; empty on locks recorded before parts were kept.
    parts: dict[str, str] = Field(default_factory=dict)


class SceneWork(Frozen):
    """Phase B work on one scene: shot list, visual state, prompts, frames, clips + locks."""

    shots: tuple[Shot, ...] = ()
    shots_lock: LockRecord | None = None
    visual_state: tuple[AssetState, ...] = ()
    # Assets the user brought into this scene in stage 8 although the scene's text does not
    # name them (a global asset, one from an earlier scene, or a scene-only one).
    extra_assets: tuple[str, ...] = ()
    carry_decisions: tuple[CarryDecision, ...] = ()
    visual_lock: LockRecord | None = None
    prompts: tuple[PromptSet, ...] = ()
    frame_model: str = "flux"
    video_model: str | None = None  # None: per shot, the first video model that fits it
    prompts_lock: LockRecord | None = None
    frame_mode: Literal["quick", "control"] | None = None
    seed: int | None = None  # scene-level seed; None derives one from the scene id
    seed_overrides: dict[str, int] = Field(default_factory=dict)  # per-shot seeds
    assembled: str | None = None  # media id of the scene cut together from its clips
    review: tuple[ReviewNote, ...] = ()
    frames: tuple[Frame, ...] = ()
    frames_lock: LockRecord | None = None
    render_confirmed: LockRecord | None = None
    clips: tuple[Clip, ...] = ()
    video_lock: LockRecord | None = None


class SceneDoc(Frozen):
    """One scene object of the tree: the script text of the scene and its Phase B work."""

    scene: Scene
    work: SceneWork = SceneWork()


class ProjectState(Frozen):
    """A whole project state: what one commit's tree holds, decoded."""

    input: InputDoc = InputDoc()
    treatment: Treatment = Treatment()
    beats: BeatSheet = BeatSheet()
    script: Script | None = None
    assets: AssetsDoc = AssetsDoc()
    scenes: dict[str, SceneDoc] = Field(default_factory=dict)

    def ordered_scenes(self) -> list[SceneDoc]:
        """Scenes in script order (the tree itself is unordered)."""
        if self.script is None:
            return []
        return [self.scenes[sid] for sid in self.script.scene_ids if sid in self.scenes]

    def scene(self, ref: str | int) -> SceneDoc:
        """A scene by 1-based number or id."""
        from studio.errors import NotFound

        ordered = self.ordered_scenes()
        if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
            index = int(ref) - 1
            if 0 <= index < len(ordered):
                return ordered[index]
            raise NotFound(f"scene {ref} does not exist: this script has {len(ordered)} scenes")
        for doc in ordered:
            if doc.scene.id == ref:
                return doc
        raise NotFound(f"scene {ref!r} does not exist")


# --------------------------------------------------------------------------- records


class Project(Frozen):
    id: str
    name: str
    created_at: datetime
    active_branch: str = "main"


class Commit(Frozen):
    """A Story Timelines commit: the tree it points at, its parents, the user's guidance."""

    id: str
    project_id: str
    tree: str
    parents: tuple[str, ...]
    message: str
    action: str = ""
    created_at: datetime


class Branch(Frozen):
    name: str
    head: str
    created_at: datetime | None = None


class ReflogEntry(Frozen):
    ref: str
    old: str | None
    new: str
    message: str
    at: datetime


class ArtifactRecord(Frozen):
    """An entry of the Artifact Vault index: grouped by branch -> stage -> scene."""

    id: int
    project_id: str
    branch: str
    stage: Stage
    scene_id: str | None
    kind: str
    label: str
    object_id: str
    commit_id: str
    created_at: datetime
    cost_gpu_s: float = 0.0


class GlobalAsset(Frozen):
    """An asset in the cross-project global library."""

    id: str
    kind: AssetKind
    name: str
    description: str
    image_key: str | None
    origin_project: str | None
    origin_branch: str | None
    created_at: datetime


# --------------------------------------------------------------------------- render records


class JobStatus(StrEnum):
    QUEUED = "queued"
    WAITING_VRAM = "waiting_vram"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


class RenderJob(Frozen):
    """A render job as the durable queue persists it."""

    id: str
    project_id: str
    scene_id: str
    shot_id: str | None = None
    kind: Literal["frame", "clip", "assemble"]
    backend: Literal["animatic", "comfyui"] = "animatic"
    preset: str = "fast"
    status: JobStatus = JobStatus.QUEUED
    idempotency_key: str
    attempts: int = 0
    failure_class: str | None = None
    created_at: datetime


class Manifest(Frozen):
    """Reproducibility record written beside every output."""

    output: str
    seed: int
    preset: str
    workflow_hash: str | None = None
    models: tuple[str, ...] = ()
    backend: str
    versions: dict[str, str] = Field(default_factory=dict)
    prompts: dict[str, str] = Field(default_factory=dict)
    inputs: dict[str, str] = Field(default_factory=dict)
    timings_s: dict[str, float] = Field(default_factory=dict)
    peak_vram_mb: float | None = None


class RenderCharacter(Frozen):
    """A character as a renderer draws it: name, colour, prominence, condition tags."""

    name: NonEmpty
    colour: str = Field(default="#c0504d", pattern=r"^#[0-9a-fA-F]{6}$")
    prominence: Literal["primary", "secondary", "background"] = "primary"
    condition_tags: tuple[str, ...] = ()
    image_key_path: str | None = None


RenderKind = Literal["frame", "clip", "assemble", "card"]


class PostSpec(Frozen):
    """Opt-in post-processing of a clip once it has rendered (a preset's extras, chosen in
    stage 11): frame interpolation to ``interpolate_fps``, an upscale by ``upscale``."""

    interpolate_fps: int | None = Field(default=None, ge=2, le=240)
    upscale: float | None = Field(default=None, gt=1, le=4)


class RenderSpec(Frozen):
    """Everything a backend needs for one render job, built by the studio and executed by
    a worker process; the worker never reads the project store.

    ``inputs`` maps a role to an absolute file path: ``reference`` (the previous shot's end
    frame, for continuity), ``start_frame`` / ``end_frame`` (a clip's anchors), ``mask``
    (a region edit), ``clip_0``, ``clip_1``… (scene assembly, in order).
    """

    kind: RenderKind
    project_id: str
    scene_id: str
    shot_id: str | None = None
    which: Literal["start", "end"] | None = None
    preset: str = "fast"
    seed: int = Field(ge=0)
    width: int = Field(default=1280, ge=64, le=8192)
    height: int = Field(default=720, ge=64, le=8192)
    fps: int = Field(default=24, ge=1, le=120)
    duration_s: float = Field(default=0.0, ge=0)
    start_s: float = Field(default=0.0, ge=0, description="the shot's start within its scene")
    shot: Shot | None = None
    scene_heading: str = ""
    int_ext: str = ""
    location: str = ""
    time_of_day: str = ""
    # The scene's action lines (what is seen; the first 2,000 characters): the animatic
    # takes the setting, weather and props from them when a shot's own action is silent.
    scene_action: str = Field(default="", max_length=2000)
    style: StylePack | None = None
    characters: tuple[RenderCharacter, ...] = ()
    prompts: dict[str, str] = Field(default_factory=dict)
    inputs: dict[str, str] = Field(default_factory=dict)
    region_prompt: str | None = None
    post: PostSpec | None = None
    # Assembly: the seconds the shot list expects of each ``clip_N`` input, by role; a
    # clip much shorter than that (a truncated render) is refused, not cut in silently.
    expected_s: dict[str, float] = Field(default_factory=dict)


# --------------------------------------------------------------------------- helpers

_SLUG_RE = re.compile(r"[^0-9a-z]+")


def slugify(text: str, limit: int = 48) -> str:
    """Lower-case ascii slug for ids ('Café Noir' -> 'caf-noir'); never empty."""
    import unicodedata

    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = _SLUG_RE.sub("-", ascii_text.lower()).strip("-")[:limit].strip("-")
    return slug or "x"
