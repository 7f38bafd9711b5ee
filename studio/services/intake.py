"""Stage 1 and projects: create and list projects, stage files, import a screenplay (mode D)
with its asset sheet, and the bundled samples."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from studio import pipeline
from studio.errors import BadInput, BranchRequired, Conflict, NotFound
from studio.model import (
    Asset,
    AssetKind,
    AssetsDoc,
    FileRole,
    InputDoc,
    InputMode,
    Project,
    ProjectParams,
    ProjectState,
    SceneDoc,
    Script,
    Stage,
    StagedFile,
    Staging,
    slugify,
)
from studio.screenplay import (
    AssetSheetEntry,
    ParsedScript,
    fountain_source,
    limits,
    parse_asset_sheet,
    parse_screenplay,
)
from studio.services.planning import PlanningService
from studio.services.workspace import Workspace, validation_message
from studio.store import CommitRow
from studio.timeline import SCENE_PREFIX, VaultEntry, diff_states, scene_key
from studio.uploads import check_filename, decode_text

ASSET_SHEET_TAG = "asset sheet"
_NAME_MAX = 80


@dataclass(frozen=True)
class ProjectSummary:
    """A project card on the dashboard."""

    id: str
    name: str
    branch: str
    head: str
    progress: float | None  # None: not asked for (list_projects(progress=False))
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


_Prepared = tuple[str, str, ParsedScript, tuple[AssetSheetEntry, ...], str | None]


@dataclass(frozen=True)
class _ImportPlan:
    """An import, ready to commit: the change, its vault entries, message and result."""

    compute: Callable[[ProjectState], dict[str, BaseModel | None]]
    vault: list[VaultEntry]
    message: str
    result: Callable[[CommitRow], ImportResult]


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


class IntakeService:
    """Projects and stage 1; an import runs stage 5's deterministic extraction (planning)."""

    def __init__(self, workspace: Workspace, planning: PlanningService) -> None:
        self._ws = workspace
        self.settings = workspace.settings
        self.store = workspace.store
        self.timeline = workspace.timeline
        self._planning = planning
        # Immutable facts, kept by the id they derive from: scene counts by tree id,
        # (progress, title) by head commit id.
        self._scene_counts = dict[str, int]()
        self._progress_by_head = dict[str, tuple[float, str]]()

    def create_project(self, name: str) -> Project:
        """A new, empty project on branch ``main``."""
        project_id, cleaned = self._new_project_id(name)
        with self.store.write() as conn:
            self._insert_project(conn, project_id, cleaned)
        return self._ws.project(project_id)

    def _new_project_id(self, name: str) -> tuple[str, str]:
        """A free id for a project named ``name`` (checked), and the cleaned name."""
        cleaned = check_project_name(name)
        base = slugify(cleaned, 40)
        rows = self.store.project_rows()
        taken = {row["id"] for row in rows}
        same = next((row for row in rows if row["name"].lower() == cleaned.lower()), None)
        if same is not None:
            hint = ""
            if self._ws.state(same["id"]).script is None:
                hint = f" (it has no script yet: import one into it, e.g. `studio import {same['id']} FILE`)"
            raise Conflict(f"a project named {cleaned!r} exists already: pick another name{hint}")
        project_id, n = base, 2
        while project_id in taken:
            project_id, n = f"{base}-{n}", n + 1
        return project_id, cleaned

    def _insert_project(self, conn: sqlite3.Connection, project_id: str, name: str) -> CommitRow:
        """The project row and its root commit, inside the caller's write transaction."""
        try:
            self.store.insert_project(conn, project_id, name)
        except sqlite3.IntegrityError as exc:  # a racing create took the name or the id
            raise Conflict(f"a project named {name!r} exists already") from exc
        return self.timeline.create_root(conn, project_id, ProjectState())

    def list_projects(self, *, progress: bool = True) -> list[ProjectSummary]:
        """Every project: active branch, head, scene count, last change; with ``progress``
        also its progress and script title, from the head's state.

        Listing reads no state: one query for the heads, the scene counts by SQLite from the
        head trees (kept per tree id); progress and title are kept per head commit (a commit
        never changes), so only a project that changed since the last listing is loaded.
        ``progress=False`` (the sidebar, on every page run) loads no state at all.
        """
        rows = self.store.project_heads()
        counts = self._scene_counts
        missing = [r["tree"] for r in rows if r["tree"] and r["tree"] not in counts]
        if missing:
            if len(counts) > 4096:
                counts.clear()
            counts.update(self.store.tree_scene_counts(missing, SCENE_PREFIX))
        summaries = []
        for row in rows:
            if row["head"] is None:  # no head on the active branch: the store is damaged
                raise NotFound(
                    f"project {row['id']!r} has no branch {row['active_branch']!r} (run `studio fsck`)"
                )
            done, title = self._progress(row["head"]) if progress else (None, "")
            summaries.append(
                ProjectSummary(
                    id=row["id"],
                    name=row["name"],
                    branch=row["active_branch"],
                    head=row["head"],
                    progress=done,
                    scenes=counts.get(row["tree"], 0),
                    updated_at=row["updated_at"],
                    title=title,
                )
            )
        return summaries

    def _progress(self, head: str) -> tuple[float, str]:
        """(progress, script title) of a head commit, kept per commit id."""
        known = self._progress_by_head.get(head)
        if known is None:
            state = self.timeline.load_state(head)
            known = (pipeline.progress(state), state.script.title if state.script else "")
            if len(self._progress_by_head) > 4096:
                self._progress_by_head.clear()
            self._progress_by_head[head] = known
        return known

    def save_params(
        self, project_ref: str, params: ProjectParams | dict[str, Any], *, branch: str | None = None
    ) -> CommitRow:
        """Validate and save the stage 1 project parameters."""
        project = self._ws.project(project_ref)
        if not isinstance(params, ProjectParams):
            try:
                params = ProjectParams.model_validate(params)
            except ValidationError as exc:
                raise BadInput(validation_message("project parameters", exc)) from exc

        def compute(state: ProjectState) -> dict[str, BaseModel]:
            return {"input": state.input.model_copy(update={"params": params})}

        return self.timeline.update(
            project.id,
            self._ws.branch(project, branch),
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
        project = self._ws.project(project_ref)
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
            self._ws.branch(project, branch),
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
        project = self._ws.project(project_ref)

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
            project.id, self._ws.branch(project, branch), compute, f"{verb} staged file {name}",
            action="stage_file", keys=["input"],
        )

    def staged_text(self, project_ref: str, name: str) -> str:
        state = self._ws.state(project_ref)
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
        project = self._ws.project(project_ref)
        existing = self._ws.state(project.id, self._ws.branch(project, branch))
        if existing.script is not None and not new_branch:
            raise BranchRequired(
                "this branch already has a script: importing another would replace it and "
                "invalidate its scenes; import on a new branch (give a branch name) or a new project"
            )
        plan = self._import_plan(prepared, data, asset_sheet, params)
        if new_branch:
            commit = self.timeline.commit_on_new_branch(
                project.id, self._ws.branch(project, branch), new_branch, plan.compute, plan.message,
                action="import", vault=plan.vault,
            )
            self.store.set_active_branch(project.id, new_branch)
        else:
            commit = self.timeline.update(
                project.id, self._ws.branch(project, branch), plan.compute, plan.message,
                action="import", vault=plan.vault,
            )
        return plan.result(commit)

    def _import_plan(
        self,
        prepared: _Prepared,
        data: bytes,
        asset_sheet: tuple[str, bytes] | None,
        params: ProjectParams | None,
    ) -> _ImportPlan:
        """What an import commits, from a validated screenplay: the media it stages (written
        now: content-addressed, so a file no commit names yet is harmless), the state change
        and the vault entries."""
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
            if sheet_name and sheet_media and asset_sheet:
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
            extracted = after.assets.model_copy(update={"assets": self._planning.extracted_assets(after)})
            return diff_states(state, after.model_copy(update={"assets": extracted}))

        vault = [VaultEntry(Stage.SCRIPT, "script", f"Imported {safe}", key="script")] + [
            VaultEntry(Stage.SCRIPT, "scene", s.heading, key=scene_key(s.id), scene_id=s.id)
            for s in parsed.scenes
        ]

        def result(commit: CommitRow) -> ImportResult:
            return ImportResult(
                commit=commit,
                scenes=len(parsed.scenes),
                characters=parsed.characters,
                locations=parsed.locations,
                assets=len(assets),
                warnings=(*parsed.warnings, *warnings),  # unusual layouts kept as written first
            )

        return _ImportPlan(compute, vault, f"Import screenplay {safe}", result)

    def _prepare_import(
        self, name: str, data: bytes, asset_sheet: tuple[str, bytes] | None
    ) -> _Prepared:
        """Validate a screenplay (and asset sheet) completely before anything is written."""
        safe = check_filename(name)
        limits.check_script_bytes(len(data), safe)  # before decoding: a cheap bound first
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
        """Create a project, importing a screenplay when given.

        One transaction writes the project, its root commit and the import commit: a bad
        file, a full disk or a kill mid-way leaves no project at all, never a named project
        without its script."""
        if script is None:
            return self.create_project(name), None
        check_project_name(name)
        prepared = self._prepare_import(script[0], script[1], asset_sheet)
        project_id, cleaned = self._new_project_id(name)
        plan = self._import_plan(prepared, script[1], asset_sheet, params)
        # The import's documents are computed from the new project's empty state before the
        # write lock is taken; the transaction only writes them.
        changes = plan.compute(ProjectState())
        with self.store.write() as conn:
            root = self._insert_project(conn, project_id, cleaned)
            commit = self.timeline.commit_in(
                conn, project_id, "main", root, changes, plan.message, action="import", vault=plan.vault
            )
        return self._ws.project(project_id), plan.result(commit)

    def import_staged(
        self, project_ref: str, *, branch: str | None = None, new_branch: str | None = None
    ) -> ImportResult:
        """Import the staged Primary file as a screenplay (with a staged asset sheet, if any).

        ``new_branch`` imports on a new branch (required when this branch has a script)."""
        state = self._ws.state(project_ref, branch)
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
        state = self._ws.state(project_ref)
        return self.import_screenplay(
            project_ref, name, data, asset_sheet=sheet, params=state.input.params,
            new_branch=new_branch or None,
        )
