"""The Studio facade: the verbs the UI, the CLI and notebooks call.

Every public method is one user action or one read; each validates its input, raises a
:class:`StudioError` with a sentence a person can act on, and either commits a complete new
state or writes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ValidationError

from studio import pipeline
from studio.cards import PlaceholderCardRenderer
from studio.config import Settings
from studio.errors import BadInput, BranchRequired, Conflict, GateClosed, NotFound, StudioError
from studio.model import (
    Asset,
    AssetKind,
    AssetsDoc,
    FileRole,
    GlobalAsset,
    InputDoc,
    InputMode,
    Project,
    ProjectParams,
    ProjectState,
    Scene,
    SceneDoc,
    Script,
    Stage,
    StagedFile,
    Staging,
    slugify,
)
from studio.pipeline import Gate, Impact, SceneReport
from studio.planning import PlanningServices
from studio.ports import (
    DriftCheck,
    FrameRenderer,
    GpuProbe,
    Probe,
    ProbeResult,
    QaEngine,
    RenderQueue,
    RunRecorder,
)
from studio.production import DEFAULT_PRESETS, ProductionServices
from studio.quality import QualityServices
from studio.screenplay import (
    AssetSheetEntry,
    ParsedScript,
    fountain_source,
    parse_asset_sheet,
    parse_screenplay,
    same_scenes,
    to_fountain,
)
from studio.store import CommitRow, Store
from studio.timeline import (
    GraphData,
    SwitchResult,
    Timeline,
    VaultEntry,
    diff_states,
    scene_key,
)
from studio.uploads import check_filename, decode_text

ASSET_SHEET_TAG = "asset sheet"


def _parse_source(text: str) -> ParsedScript | None:
    """A stored stage-4 source parsed as Fountain, or None when it no longer parses."""
    try:
        return parse_screenplay(text, name="the script", fountain=True)
    except BadInput:
        return None
_NAME_MAX = 80


@dataclass(frozen=True)
class ProjectSummary:
    """A project card on the dashboard."""

    id: str
    name: str
    branch: str
    head: str
    progress: float
    scenes: int
    updated_at: str
    title: str = ""


@dataclass(frozen=True)
class ImportResult:
    commit: CommitRow
    scenes: int
    characters: tuple[str, ...]
    locations: tuple[str, ...]
    assets: int
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class VaultGroup:
    """Artifacts of one branch and stage, grouped by scene (None = film-wide)."""

    branch: str
    stage: Stage
    by_scene: dict[str | None, list[Any]] = field(default_factory=dict)


def check_project_name(name: str) -> str:
    cleaned = " ".join((name or "").split())
    if not cleaned:
        raise BadInput("a project needs a name")
    if len(cleaned) > _NAME_MAX:
        raise BadInput(f"a project name can be at most {_NAME_MAX} characters")
    if any(ord(ch) < 32 or ch in "\x7f" for ch in name):
        raise BadInput("a project name cannot contain control characters")
    if re.search(r"[/\\]", cleaned) or cleaned in {".", ".."}:
        raise BadInput("a project name cannot contain '/' or '\\'")
    return cleaned


def assets_from_script(
    parsed: ParsedScript, sheet: Sequence[AssetSheetEntry] = ()
) -> tuple[tuple[Asset, ...], tuple[str, ...]]:
    """Characters (cues) and locations (headings) of an imported script, merged with an
    optional asset sheet. Returns the assets and warnings for sheet entries that add to it."""
    mentions: dict[tuple[AssetKind, str], list[str]] = {}
    for scene in parsed.scenes:
        for name in scene.characters:
            mentions.setdefault((AssetKind.CHARACTER, name.upper()), []).append(scene.id)
        if scene.location:
            mentions.setdefault((AssetKind.LOCATION, scene.location.upper()), []).append(scene.id)
    assets: dict[tuple[AssetKind, str], Asset] = {}
    for name in parsed.characters:
        key = (AssetKind.CHARACTER, name.upper())
        assets[key] = Asset(
            id=f"character-{slugify(name)}",
            kind=AssetKind.CHARACTER,
            name=name,
            mentions=tuple(dict.fromkeys(mentions.get(key, []))),
        )
    for name in parsed.locations:
        key = (AssetKind.LOCATION, name.upper())
        if key in assets:
            continue
        assets[key] = Asset(
            id=f"location-{slugify(name)}",
            kind=AssetKind.LOCATION,
            name=name,
            mentions=tuple(dict.fromkeys(mentions.get(key, []))),
        )
    warnings: list[str] = []
    for entry in sheet:
        key = (entry.kind, entry.name.upper())
        existing = assets.get(key)
        if existing is not None:
            assets[key] = existing.model_copy(
                update={
                    "description": entry.description,
                    "voice_profile": entry.voice_profile,
                    "source": "sheet",
                }
            )
        else:
            if entry.kind is not AssetKind.PROP:
                warnings.append(
                    f"asset sheet names {entry.kind.value} {entry.name!r}, which the script never mentions"
                )
            assets[key] = Asset(
                id=f"{entry.kind.value}-{slugify(entry.name)}",
                kind=entry.kind,
                name=entry.name,
                description=entry.description,
                voice_profile=entry.voice_profile,
                source="sheet",
            )
    unique: dict[str, Asset] = {}
    for asset in assets.values():
        asset_id, n = asset.id, 2
        while asset_id in unique:
            asset_id, n = f"{asset.id}-{n}", n + 1
        unique[asset_id] = asset.model_copy(update={"id": asset_id})
    return tuple(unique.values()), tuple(warnings)


class Studio(PlanningServices, ProductionServices, QualityServices):
    """One studio over one data dir. Built once by :func:`studio.wiring.build_studio`."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        *,
        probes: Sequence[Probe | Callable[[], ProbeResult]] = (),
        frame_renderer: FrameRenderer | None = None,
        render_queue: RenderQueue | None = None,
        gpu_probe: GpuProbe | None = None,
        presets: Mapping[str, Mapping[str, Any]] | None = None,
        drain_queue: Callable[[], None] | None = None,
        start_worker: Callable[[], int | None] | None = None,
        drift_check: DriftCheck | None = None,
        qa_engine: QaEngine | None = None,
        run_log: RunRecorder | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.timeline = Timeline(store)
        self._probes = list(probes)
        # Without a renderer adapter, image keys are palette placeholder cards.
        self.frame_renderer = frame_renderer or PlaceholderCardRenderer()
        self.render_queue = render_queue
        self.gpu_probe = gpu_probe
        self.presets = presets or DEFAULT_PRESETS
        self.drain_queue = drain_queue
        self.start_worker = start_worker
        # Filled by the QA issue's metric; until then the drift flag says "not measured".
        self.drift_check = drift_check
        self.qa_engine = qa_engine
        self.run_log = run_log

    # ------------------------------------------------------------------ projects

    def create_project(self, name: str) -> Project:
        """A new, empty project on branch ``main``."""
        cleaned = check_project_name(name)
        base = slugify(cleaned, 40)
        taken = {row["id"] for row in self.store.project_rows()}
        if any(row["name"].lower() == cleaned.lower() for row in self.store.project_rows()):
            raise Conflict(f"a project named {cleaned!r} exists already: pick another name")
        project_id, n = base, 2
        while project_id in taken:
            project_id, n = f"{base}-{n}", n + 1
        with self.store.write() as conn:
            try:
                self.store.insert_project(conn, project_id, cleaned)
            except Exception as exc:  # sqlite3.IntegrityError from a racing create
                raise Conflict(f"a project named {cleaned!r} exists already") from exc
            self.timeline.create_root(conn, project_id, ProjectState())
        return self.project(project_id)

    def project(self, ref: str) -> Project:
        row = self.store.project_row(ref)
        return Project(
            id=row["id"],
            name=row["name"],
            created_at=datetime.fromisoformat(row["created_at"]),
            active_branch=row["active_branch"],
        )

    def list_projects(self) -> list[ProjectSummary]:
        summaries = []
        for row in self.store.project_rows():
            branch = row["active_branch"]
            head = self.timeline.head(row["id"], branch)
            state = self.timeline.load_state(head)
            commit = self.store.get_commit(head)
            summaries.append(
                ProjectSummary(
                    id=row["id"],
                    name=row["name"],
                    branch=branch,
                    head=head,
                    progress=pipeline.progress(state),
                    scenes=len(state.scenes),
                    updated_at=commit.created_at,
                    title=state.script.title if state.script else "",
                )
            )
        return summaries

    def _branch(self, project: Project, branch: str | None) -> str:
        return branch or project.active_branch

    def state(self, project_ref: str, ref: str | None = None) -> ProjectState:
        """The state at a branch head or commit (the active branch by default)."""
        project = self.project(project_ref)
        commit = self.timeline.resolve(project.id, ref or project.active_branch)
        return self.timeline.load_state(commit)

    def head(self, project_ref: str, branch: str | None = None) -> str:
        project = self.project(project_ref)
        return self.timeline.head(project.id, self._branch(project, branch))

    # ------------------------------------------------------------------ stage 1

    def save_params(
        self, project_ref: str, params: ProjectParams | dict[str, Any], *, branch: str | None = None
    ) -> CommitRow:
        """Validate and save the stage 1 project parameters."""
        project = self.project(project_ref)
        if not isinstance(params, ProjectParams):
            try:
                params = ProjectParams.model_validate(params)
            except ValidationError as exc:
                raise BadInput(_validation_message("project parameters", exc)) from exc

        def compute(state: ProjectState) -> dict[str, BaseModel]:
            return {"input": state.input.model_copy(update={"params": params})}

        return self.timeline.update(
            project.id,
            self._branch(project, branch),
            compute,
            "Save project parameters",
            action="params",
            keys=["input"],
        )

    def stage_file(
        self,
        project_ref: str,
        name: str,
        data: bytes,
        *,
        role: FileRole = FileRole.CONTEXT,
        tag: str = "",
        branch: str | None = None,
    ) -> CommitRow:
        """Add a file to the staging area (replacing one of the same name).

        Text files are checked (size, binary, encoding) before anything is written.
        """
        project = self.project(project_ref)
        safe = check_filename(name)
        text = decode_text(data, safe, max_bytes=self.settings.max_upload_bytes)
        media = self.store.put_media(text.encode("utf-8"), "text/plain; charset=utf-8")
        staged = StagedFile(name=safe, media=media, size=len(data), role=role, tag=tag.strip())

        def compute(state: ProjectState) -> dict[str, BaseModel]:
            files = [f for f in state.input.staging.files if f.name != safe]
            if role is FileRole.PRIMARY:
                files = [f.model_copy(update={"role": FileRole.CONTEXT}) for f in files]
            files.append(staged)
            staging = Staging(files=tuple(files))
            return {"input": state.input.model_copy(update={"staging": staging})}

        return self.timeline.update(
            project.id,
            self._branch(project, branch),
            compute,
            f"Stage file {safe}",
            action="stage_file",
            keys=["input"],
            vault=[VaultEntry(Stage.INPUT, "staged file", safe, object_id=media)],
        )

    def update_staged_file(
        self,
        project_ref: str,
        name: str,
        *,
        role: FileRole | None = None,
        tag: str | None = None,
        remove: bool = False,
        branch: str | None = None,
    ) -> CommitRow:
        """Mark a staged file Primary, re-tag it, or remove it."""
        project = self.project(project_ref)

        def compute(state: ProjectState) -> dict[str, BaseModel]:
            files = list(state.input.staging.files)
            if not any(f.name == name for f in files):
                raise NotFound(f"no staged file {name!r}")
            if remove:
                files = [f for f in files if f.name != name]
            else:
                updated = []
                for f in files:
                    if f.name == name:
                        changes: dict[str, Any] = {}
                        if role is not None:
                            changes["role"] = role
                        if tag is not None:
                            changes["tag"] = tag.strip()
                        f = f.model_copy(update=changes)
                    elif role is FileRole.PRIMARY:
                        f = f.model_copy(update={"role": FileRole.CONTEXT})
                    updated.append(f)
                files = updated
            return {"input": state.input.model_copy(update={"staging": Staging(files=tuple(files))})}

        verb = "Remove" if remove else "Update"
        return self.timeline.update(
            project.id, self._branch(project, branch), compute, f"{verb} staged file {name}",
            action="stage_file", keys=["input"],
        )

    def staged_text(self, project_ref: str, name: str) -> str:
        state = self.state(project_ref)
        for f in state.input.staging.files:
            if f.name == name:
                return self.store.get_media(f.media).decode("utf-8")
        raise NotFound(f"no staged file {name!r}")

    def import_screenplay(
        self,
        project_ref: str,
        name: str,
        data: bytes,
        *,
        asset_sheet: tuple[str, bytes] | None = None,
        params: ProjectParams | None = None,
        branch: str | None = None,
        new_branch: str | None = None,
    ) -> ImportResult:
        """Mode D: parse a screenplay straight into stage 4 (and its assets into stage 5).

        Everything is validated before anything is written; the import is one commit. A
        branch that already has a script gets a new one only on a new branch.
        """
        prepared = self._prepare_import(name, data, asset_sheet)
        project = self.project(project_ref)
        safe, text, parsed, sheet, sheet_name = prepared
        assets, warnings = assets_from_script(parsed, sheet)
        media = self.store.put_media(text.encode("utf-8"), "text/plain; charset=utf-8")
        sheet_media = (
            self.store.put_media(asset_sheet[1], "application/json") if asset_sheet else None
        )

        def compute(state: ProjectState) -> dict[str, BaseModel | None]:
            chosen = params or state.input.params or ProjectParams(
                tonal_precision="As written in the imported screenplay", input_mode=InputMode.SCRIPT
            )
            chosen = chosen.model_copy(update={"input_mode": InputMode.SCRIPT})
            files = [f for f in state.input.staging.files if f.name not in {safe, sheet_name}]
            files = [f.model_copy(update={"role": FileRole.CONTEXT}) for f in files]
            files.append(StagedFile(name=safe, media=media, size=len(data), role=FileRole.PRIMARY))
            if sheet_name and sheet_media:
                files.append(
                    StagedFile(
                        name=sheet_name, media=sheet_media, size=len(asset_sheet[1]), tag=ASSET_SHEET_TAG
                    )
                )
            generation = state.script.generation + 1 if state.script else 1
            script = Script(
                title=parsed.title,
                title_page=parsed.title_page,
                scene_ids=tuple(s.id for s in parsed.scenes),
                source="import",
                generation=generation,
                source_text=fountain_source(text, safe),
            )
            after = ProjectState(
                input=InputDoc(params=chosen, staging=Staging(files=tuple(files)), submitted=True),
                treatment=state.treatment,
                beats=state.beats,
                script=script,
                assets=AssetsDoc(assets=assets, style_pack=state.assets.style_pack),
                scenes={s.id: SceneDoc(scene=s) for s in parsed.scenes},
            )
            # Stage 5's deterministic extraction runs at import: props from the caps
            # convention and descriptions pre-filled from every mention.
            extracted = after.assets.model_copy(update={"assets": self.extracted_assets(after)})
            return diff_states(state, after.model_copy(update={"assets": extracted}))

        vault = [VaultEntry(Stage.SCRIPT, "script", f"Imported {safe}", key="script")] + [
            VaultEntry(Stage.SCRIPT, "scene", s.heading, key=scene_key(s.id), scene_id=s.id)
            for s in parsed.scenes
        ]
        message = f"Import screenplay {safe}"
        existing = self.state(project.id, self._branch(project, branch))
        if existing.script is not None and not new_branch:
            raise BranchRequired(
                "this branch already has a script: importing another would replace it and "
                "invalidate its scenes; import on a new branch (give a branch name) or a new project"
            )
        if new_branch:
            commit = self.timeline.commit_on_new_branch(
                project.id, self._branch(project, branch), new_branch, compute, message,
                action="import", vault=vault,
            )
            self.store.set_active_branch(project.id, new_branch)
        else:
            commit = self.timeline.update(
                project.id, self._branch(project, branch), compute, message,
                action="import", vault=vault,
            )
        return ImportResult(
            commit=commit,
            scenes=len(parsed.scenes),
            characters=parsed.characters,
            locations=parsed.locations,
            assets=len(assets),
            warnings=(*parsed.warnings, *warnings),  # unusual layouts kept as written first
        )

    def _prepare_import(
        self, name: str, data: bytes, asset_sheet: tuple[str, bytes] | None
    ) -> tuple[str, str, ParsedScript, tuple[AssetSheetEntry, ...], str | None]:
        """Validate a screenplay (and asset sheet) completely before anything is written."""
        safe = check_filename(name)
        text = decode_text(data, safe, max_bytes=self.settings.max_upload_bytes)
        parsed = parse_screenplay(text, name=safe)
        sheet: tuple[AssetSheetEntry, ...] = ()
        sheet_name = None
        if asset_sheet is not None:
            sheet_name = check_filename(asset_sheet[0])
            decode_text(asset_sheet[1], sheet_name, max_bytes=self.settings.max_upload_bytes)
            sheet = parse_asset_sheet(asset_sheet[1], sheet_name)
        return safe, text, parsed, sheet, sheet_name

    def new_project(
        self,
        name: str,
        script: tuple[str, bytes] | None = None,
        *,
        asset_sheet: tuple[str, bytes] | None = None,
        params: ProjectParams | None = None,
    ) -> tuple[Project, ImportResult | None]:
        """Create a project, importing a screenplay when given; a bad file creates nothing."""
        check_project_name(name)
        if script is not None:
            self._prepare_import(script[0], script[1], asset_sheet)
        project = self.create_project(name)
        if script is None:
            return project, None
        result = self.import_screenplay(
            project.id, script[0], script[1], asset_sheet=asset_sheet, params=params
        )
        return self.project(project.id), result

    def import_staged(
        self, project_ref: str, *, branch: str | None = None, new_branch: str | None = None
    ) -> ImportResult:
        """Import the staged Primary file as a screenplay (with a staged asset sheet, if any).

        ``new_branch`` imports on a new branch (required when this branch has a script)."""
        state = self.state(project_ref, branch)
        primary = state.input.staging.primary
        if primary is None:
            raise BadInput("mark one staged file as Primary (the screenplay) before importing")
        sheet = next(
            (f for f in state.input.staging.files if f.tag.lower() == ASSET_SHEET_TAG), None
        )
        sheet_arg = (sheet.name, self.store.get_media(sheet.media)) if sheet else None
        return self.import_screenplay(
            project_ref,
            primary.name,
            self.store.get_media(primary.media),
            asset_sheet=sheet_arg,
            params=state.input.params,
            branch=branch,
            new_branch=new_branch or None,
        )

    # ------------------------------------------------------------------ stage 4

    def script_fountain(self, project_ref: str, ref: str | None = None) -> str:
        state = self.state(project_ref, ref)
        if state.script is None:
            raise NotFound("this project has no script yet: import one in stage 1 (mode D)")
        scenes = [d.scene for d in state.ordered_scenes()]
        source = state.script.source_text
        # The writer's own text, while it still reads as the scenes the project holds (a
        # generated or otherwise changed script falls back to a regenerated copy).
        stored = _parse_source(source) if source else None
        if stored is not None and same_scenes(stored.scenes, scenes):
            return source
        return to_fountain(state.script.title_page, scenes)

    def _script_edit(self, state: ProjectState, text: str) -> ProjectState:
        if state.script is None:
            raise NotFound("this project has no script yet: import one in stage 1 (mode D)")
        parsed = parse_screenplay(text, name="the edited script", fountain=True)
        old_ids = list(state.script.scene_ids)
        used = {int(sid[3:]) for sid in state.scenes if sid[3:].isdigit()}
        next_number = max(used, default=0) + 1
        scenes: dict[str, SceneDoc] = {}
        order: list[str] = []
        for index, scene in enumerate(parsed.scenes):
            # Scenes keep their id by position, so their Phase B work stays attached and an
            # edit shows up as an edit of that scene (Outdated), not as a new scene.
            if index < len(old_ids):
                scene_id = old_ids[index]
            else:
                scene_id, next_number = f"sc-{next_number}", next_number + 1
            scene = scene.model_copy(update={"id": scene_id})
            old = state.scenes.get(scene_id)
            scenes[scene_id] = (
                old.model_copy(update={"scene": scene}) if old else SceneDoc(scene=scene)
            )
            order.append(scene_id)
        script = state.script.model_copy(
            update={
                "title": parsed.title,
                "title_page": parsed.title_page,
                "scene_ids": tuple(order),
                "source_text": text.replace("\r\n", "\n").replace("\r", "\n"),
            }
        )
        return state.model_copy(update={"script": script, "scenes": scenes})

    def preview_script_edit(self, project_ref: str, text: str) -> Impact:
        """What saving this edit would invalidate (the cost & dependency warning)."""
        state = self.state(project_ref)
        return pipeline.impact(state, self._script_edit(state, text))

    def save_script_text(
        self, project_ref: str, text: str, message: str, *, branch: str | None = None
    ) -> CommitRow:
        """A manual edit of the master script (Fountain text), saved as one commit that writes
        only the scene objects that changed."""
        project = self.project(project_ref)
        message = pipeline.check_guidance(message, "the edit description")
        if len(text.encode("utf-8")) > self.settings.max_upload_bytes:
            raise BadInput("the edited script is larger than the upload limit")

        def compute(state: ProjectState) -> dict[str, BaseModel | None]:
            if state.script is not None and state.script.approved:
                raise GateClosed(
                    "the master script is approved (frozen): reopen it for editing with a "
                    "reason, or branch from a commit before the approval"
                )
            changes = diff_states(state, self._script_edit(state, text))
            if not changes:
                raise BadInput("nothing changed: the script is the same as the saved one")
            return changes

        return self.timeline.update(
            project.id,
            self._branch(project, branch),
            compute,
            message,
            action="edit_script",
            vault=lambda state: [
                VaultEntry(Stage.SCRIPT, "script", "Manual edit", key="script")
            ],
        )

    def approve_script(self, project_ref: str, *, branch: str | None = None) -> CommitRow:
        """Lock stage 4 ("Approve master script")."""
        project = self.project(project_ref)
        branch_name = self._branch(project, branch)

        def compute(state: ProjectState) -> dict[str, BaseModel]:
            gate = pipeline.stage_gate(state, Stage.SCRIPT)
            if not gate.open:
                raise GateClosed(f"stage 4 is not open: {gate.reason}")
            if state.script is None or not state.scenes:
                raise GateClosed("there is no script to approve yet")
            if state.script.approved:
                raise Conflict("the master script is approved already")
            return {"script": state.script.model_copy(update={"approved": True})}

        return self.timeline.update(
            project.id, branch_name, compute, "Approve master script", action="approve_script",
            vault=[VaultEntry(Stage.SCRIPT, "approved script", "Approved master script", key="script")],
        )

    def reopen_script(self, project_ref: str, reason: str, *, branch: str | None = None) -> CommitRow:
        """Unfreeze an approved script for editing; the reason (>= 10 chars) is the commit
        message. Scenes whose text then changes become Outdated, later ones continuity-broken."""
        project = self.project(project_ref)
        message = pipeline.check_guidance(reason, "the reason for reopening")

        def compute(state: ProjectState) -> dict[str, BaseModel]:
            if state.script is None or not state.script.approved:
                raise Conflict("the master script is not approved, so there is nothing to reopen")
            return {"script": state.script.model_copy(update={"approved": False})}

        return self.timeline.update(
            project.id, self._branch(project, branch), compute, message, action="reopen_script"
        )

    # ------------------------------------------------------------------ hub + gates

    def scene_reports(self, project_ref: str, ref: str | None = None) -> list[SceneReport]:
        return pipeline.scene_reports(self.state(project_ref, ref))

    def scene(self, project_ref: str, scene_ref: str | int) -> SceneDoc:
        return self.state(project_ref).scene(scene_ref)

    def gates(self, project_ref: str, scene_id: str | None = None) -> dict[Stage, Gate]:
        return pipeline.gates(self.state(project_ref), scene_id)

    # ------------------------------------------------------------------ timelines

    def log(self, project_ref: str, ref: str | None = None, limit: int | None = None) -> list[CommitRow]:
        project = self.project(project_ref)
        return self.timeline.log(project.id, ref or project.active_branch, limit)

    def branches(self, project_ref: str) -> list[dict[str, Any]]:
        project = self.project(project_ref)
        return [
            {**row, "active": row["name"] == project.active_branch}
            for row in self.store.ref_rows(project.id)
        ]

    def create_branch(self, project_ref: str, name: str, from_ref: str | None = None) -> str:
        project = self.project(project_ref)
        return self.timeline.create_branch(project.id, name, from_ref or project.active_branch)

    def switch(self, project_ref: str, ref: str) -> SwitchResult:
        project = self.project(project_ref)
        return self.timeline.switch(project.id, ref)

    def graph(self, project_ref: str, limit: int = 200) -> GraphData:
        project = self.project(project_ref)
        return self.timeline.graph(project.id, project.active_branch, limit)

    def reflog(self, project_ref: str, ref: str | None = None) -> list[dict[str, Any]]:
        return self.store.reflog(self.project(project_ref).id, ref)

    # ------------------------------------------------------------------ vault + global assets

    def vault(self, project_ref: str, branch: str | None = None) -> list[VaultGroup]:
        """The Artifact Vault: every artifact grouped by branch -> stage -> scene."""
        project = self.project(project_ref)
        groups: dict[tuple[str, int], VaultGroup] = {}
        for row in self.store.artifact_rows(project.id, branch):
            key = (row["branch"], row["stage"])
            group = groups.setdefault(key, VaultGroup(row["branch"], Stage(row["stage"])))
            group.by_scene.setdefault(row["scene_id"], []).append(row)
        return [groups[k] for k in sorted(groups)]

    def promote_to_global(self, project_ref: str, asset_id: str) -> GlobalAsset:
        """Copy a project asset into the global library, usable by every project."""
        project = self.project(project_ref)
        state = self.state(project.id)
        asset = state.assets.get(asset_id)
        if asset is None:
            raise NotFound(f"no asset {asset_id!r} in this project")
        global_id = f"{asset.kind.value}-{slugify(asset.name)}"
        row = {
            "id": global_id,
            "kind": asset.kind.value,
            "name": asset.name,
            "description": asset.description,
            "image_key": asset.image_key,
            "origin_project": project.id,
            "origin_branch": project.active_branch,
        }
        if not self.store.insert_global_asset(row):
            raise Conflict(f"the global library already has {asset.kind.value} {asset.name!r}")
        return next(a for a in self.global_assets() if a.id == global_id)

    def global_assets(self) -> list[GlobalAsset]:
        return [
            GlobalAsset(
                id=r["id"],
                kind=AssetKind(r["kind"]),
                name=r["name"],
                description=r["description"],
                image_key=r["image_key"],
                origin_project=r["origin_project"],
                origin_branch=r["origin_branch"],
                created_at=datetime.fromisoformat(r["created_at"]),
            )
            for r in self.store.global_asset_rows()
        ]

    def media_bytes(self, media_id: str) -> bytes:
        """The bytes of a stored media file (an image key, a staged file, a frame)."""
        if not re.fullmatch(r"[0-9a-f]{64}", media_id or ""):
            raise BadInput("not a media id")
        return self.store.get_media(media_id)

    # ------------------------------------------------------------------ samples

    def list_samples(self) -> list[str]:
        """Bundled sample screenplays (file names), for the demo and 'use the sample'."""
        folder = self.settings.samples_dir
        if not folder.is_dir():
            return []
        return sorted(
            p.name for p in folder.iterdir() if p.suffix in {".fountain", ".txt"} and p.is_file()
        )

    def sample(self, name: str) -> tuple[bytes, tuple[str, bytes] | None]:
        """A sample's bytes and, when one sits beside it, its JSON asset sheet."""
        if name not in self.list_samples():
            raise NotFound(f"no bundled sample {name!r}")
        path = self.settings.samples_dir / name
        sheet_path = path.with_suffix(".assets.json")
        sheet = (sheet_path.name, sheet_path.read_bytes()) if sheet_path.is_file() else None
        return path.read_bytes(), sheet

    def import_sample(
        self, project_ref: str, name: str, *, new_branch: str | None = None
    ) -> ImportResult:
        """Import a bundled sample screenplay (with its asset sheet) into a project."""
        data, sheet = self.sample(name)
        state = self.state(project_ref)
        return self.import_screenplay(
            project_ref, name, data, asset_sheet=sheet, params=state.input.params,
            new_branch=new_branch or None,
        )

    # ------------------------------------------------------------------ health

    def doctor(self) -> list[ProbeResult]:
        """Probe every backend; a probe that itself fails reports 'down', never raises."""
        results = [self._probe_store()]
        for probe in self._probes:
            try:
                results.append(probe.probe() if isinstance(probe, Probe) else probe())
            except StudioError as exc:
                results.append(ProbeResult(getattr(probe, "name", "backend"), "down", str(exc)))
        return results

    def _probe_store(self) -> ProbeResult:
        try:
            version = self.store.schema_version()
            return ProbeResult(
                "store", "ok", f"SQLite WAL at {self.settings.db_path} (schema v{version})", True
            )
        except Exception as exc:  # the probe reports, never raises
            return ProbeResult("store", "down", str(exc))

    def fsck(self) -> list[str]:
        return self.store.fsck()


def _validation_message(what: str, exc: ValidationError) -> str:
    parts = []
    for error in exc.errors()[:4]:
        where = ".".join(str(p) for p in error["loc"]) or what
        parts.append(f"{where}: {error['msg']}")
    return f"invalid {what}: " + "; ".join(parts)


__all__ = [
    "ImportResult",
    "ProjectSummary",
    "Studio",
    "VaultGroup",
    "check_project_name",
    "Scene",
]
