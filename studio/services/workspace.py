"""The ground every service stands on: one data dir's settings, store and timeline, and the
project helpers each verb needs (resolve a project, load a state, commit through a gate).

Services receive a :class:`Workspace` and the collaborators they use, explicitly; nothing is
shared through inheritance.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ValidationError

from studio import pipeline
from studio.config import Settings
from studio.errors import GateClosed, NotFound
from studio.model import Project, ProjectState, SceneDoc, Stage
from studio.store import CommitRow, Store
from studio.timeline import Timeline, scene_key


class Workspace:
    """Projects, states and commits of one data dir."""

    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self.timeline = Timeline(store)

    def project(self, ref: str) -> Project:
        row = self.store.project_row(ref)
        return Project(
            id=row["id"],
            name=row["name"],
            created_at=datetime.fromisoformat(row["created_at"]),
            active_branch=row["active_branch"],
        )

    @staticmethod
    def branch(project: Project, branch: str | None) -> str:
        """The branch a verb acts on: the one given, else the project's active branch."""
        return branch or project.active_branch

    def state(self, project_ref: str, ref: str | None = None) -> ProjectState:
        """The state at a branch head or commit (the active branch by default)."""
        project = self.project(project_ref)
        commit = self.timeline.resolve(project.id, ref or project.active_branch)
        return self.timeline.load_state(commit)

    def head(self, project_ref: str, branch: str | None = None) -> str:
        project = self.project(project_ref)
        return self.timeline.head(project.id, self.branch(project, branch))

    def commit(
        self,
        project_ref: str,
        compute: Any,
        message: str,
        *,
        action: str,
        vault: Any = (),
    ) -> CommitRow:
        """One commit on the active branch from ``compute(state) -> changes``
        (:meth:`Timeline.update`: compare-and-swap, nothing written on any error)."""
        project = self.project(project_ref)
        return self.timeline.update(
            project.id, self.branch(project, None), compute, message, action=action, vault=vault
        )

    @staticmethod
    def require(state: ProjectState, stage: Stage, scene_id: str | None = None) -> None:
        gate = pipeline.stage_gate(state, stage, scene_id)
        if not gate.open:
            raise GateClosed(f"stage {int(stage)} ({stage.title}) is not open: {gate.reason}")

    @staticmethod
    def scene_number(state: ProjectState, scene_id: str) -> int:
        for number, doc in enumerate(state.ordered_scenes(), 1):
            if doc.scene.id == scene_id:
                return number
        raise NotFound(f"scene {scene_id!r} does not exist")

    @staticmethod
    def with_scene(state: ProjectState, doc: SceneDoc) -> dict[str, BaseModel]:
        return {scene_key(doc.scene.id): doc}


# Field names of the models people fill in, in the words the pages use.
FIELD_WORDS = {
    "target_min_s": "shortest target length",
    "target_max_s": "longest target length",
    "tonal_precision": "tonal precision",
    "project_type": "project type",
    "content_rating": "content rating",
    "input_mode": "input mode",
    "written_style": "written style",
}


def validation_message(what: str, exc: ValidationError) -> str:
    """A pydantic error as one sentence in words (the first four problems): a validator's own
    message as it is, others after the field's name in words, never "target_max_s: Value
    error"."""
    parts = []
    for error in exc.errors()[:4]:
        message = str(error["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
        if error["type"] in ("value_error", "assertion_error"):
            parts.append(message)
            continue
        names = [str(p) for p in error["loc"] if not isinstance(p, int)]
        where = " ".join(FIELD_WORDS.get(n, n.replace("_", " ")) for n in names) or what
        parts.append(f"{where}: {message.replace('Input should be', 'should be')}")
    return f"invalid {what}: " + "; ".join(parts)
