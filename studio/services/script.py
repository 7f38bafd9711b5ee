"""Stage 4: the master script as Fountain, manual edits (with their impact), approve and
reopen; the script hub's reports and the stage gates."""

from __future__ import annotations

from functools import lru_cache

from pydantic import BaseModel

from studio import pipeline
from studio.errors import BadInput, Conflict, GateClosed, NotFound
from studio.model import ProjectState, Scene, SceneDoc, Stage
from studio.pipeline import Gate, Impact, SceneReport
from studio.screenplay import parse_screenplay, same_scenes, to_fountain
from studio.services.workspace import Workspace
from studio.store import CommitRow
from studio.timeline import VaultEntry, diff_states


@lru_cache(maxsize=8)
def _source_scenes(text: str) -> tuple[Scene, ...] | None:
    """The scenes of a stored stage-4 source, or None when it no longer parses. Cached by
    text: stage 4 asks on every page run, and a feature script takes ~0.1 s to parse."""
    try:
        return parse_screenplay(text, name="the script", fountain=True).scenes
    except BadInput:
        return None


class ScriptService:
    """The master script of a project (stage 4) and what it opens."""

    def __init__(self, workspace: Workspace) -> None:
        self._ws = workspace
        self.settings = workspace.settings
        self.store = workspace.store
        self.timeline = workspace.timeline

    def script_fountain(self, project_ref: str, ref: str | None = None) -> str:
        state = self._ws.state(project_ref, ref)
        if state.script is None:
            raise NotFound("this project has no script yet: import one in stage 1 (mode D)")
        scenes = [d.scene for d in state.ordered_scenes()]
        source = state.script.source_text
        # The writer's own text, while it still reads as the scenes the project holds (a
        # generated or otherwise changed script falls back to a regenerated copy).
        stored = _source_scenes(source) if source else None
        if stored is not None and same_scenes(stored, scenes):
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
        state = self._ws.state(project_ref)
        return pipeline.impact(state, self._script_edit(state, text))

    def save_script_text(
        self, project_ref: str, text: str, message: str, *, branch: str | None = None
    ) -> CommitRow:
        """A manual edit of the master script (Fountain text), saved as one commit that writes
        only the scene objects that changed."""
        project = self._ws.project(project_ref)
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
            self._ws.branch(project, branch),
            compute,
            message,
            action="edit_script",
            vault=lambda state: [
                VaultEntry(Stage.SCRIPT, "script", "Manual edit", key="script")
            ],
        )

    def approve_script(self, project_ref: str, *, branch: str | None = None) -> CommitRow:
        """Lock stage 4 ("Approve master script")."""
        project = self._ws.project(project_ref)
        branch_name = self._ws.branch(project, branch)

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
        project = self._ws.project(project_ref)
        message = pipeline.check_guidance(reason, "the reason for reopening")

        def compute(state: ProjectState) -> dict[str, BaseModel]:
            if state.script is None or not state.script.approved:
                raise Conflict("the master script is not approved, so there is nothing to reopen")
            return {"script": state.script.model_copy(update={"approved": False})}

        return self.timeline.update(
            project.id, self._ws.branch(project, branch), compute, message, action="reopen_script"
        )

    def scene_reports(self, project_ref: str, ref: str | None = None) -> list[SceneReport]:
        return pipeline.scene_reports(self._ws.state(project_ref, ref))

    def scene(self, project_ref: str, scene_ref: str | int) -> SceneDoc:
        return self._ws.state(project_ref).scene(scene_ref)

    def gates(self, project_ref: str, scene_id: str | None = None) -> dict[Stage, Gate]:
        return pipeline.gates(self._ws.state(project_ref), scene_id)
