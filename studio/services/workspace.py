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


# How a field is named to a user (a field not listed is named from its words: "frame_model"
# -> "frame model"; a trailing "_s" reads as "in seconds").
FIELD_WORDS = {
    "target_min_s": "the shortest target length",
    "target_max_s": "the longest target length",
    "tonal_precision": "the tonal precision",
    "project_type": "the project type",
    "content_rating": "the content rating",
    "genres": "the genres",
    "input_mode": "the input mode",
    "written_style": "the written style",
    "duration_s": "the duration (seconds)",
    "characters": "the characters",
    "movement": "the camera movement",
    "camera": "the camera",
    "sfx": "the sound cues",
    "continuity_flags": "the continuity flags",
    "element_refs": "the script references",
    "name": "the name",
    "description": "the description",
    "voice_profile": "the voice profile",
    "condition_tags": "the condition tags",
    "prominence": "the prominence",
}


def _word(name: str) -> str:
    if name in FIELD_WORDS:
        return FIELD_WORDS[name]
    if name.endswith("_s"):
        return "the " + name[:-2].replace("_", " ") + " (seconds)"
    return "the " + name.replace("_", " ")


def _label(loc: tuple[int | str, ...], what: str) -> str:
    """('characters', 0, 'name') -> 'the name in item 1 of the characters'."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text = f"item {part + 1} of {text or 'the list'}"
        else:
            text = _word(str(part)) if not text else f"{_word(str(part))} in {text}"
    return text or what


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def field_problem(error: Any, what: str) -> str:
    """One pydantic error as words: 'the longest target length must be at least 5', never
    'target_max_s: Value error'."""
    label = _label(tuple(error.get("loc", ())), what)
    kind = error.get("type", "")
    ctx = error.get("ctx") or {}
    msg = str(error.get("msg", "is not valid"))
    if kind == "value_error" or kind == "assertion_error":
        reason = str(ctx.get("error") or msg.split(", ", 1)[-1])
        return reason[:1].lower() + reason[1:]
    limits = {
        "greater_than_equal": ("must be at least", "ge"),
        "greater_than": ("must be more than", "gt"),
        "less_than_equal": ("must be at most", "le"),
        "less_than": ("must be less than", "lt"),
    }
    if kind in limits:
        words, key = limits[kind]
        return f"{label} {words} {_number(ctx.get(key))}"
    simple = {
        "missing": "is missing",
        "int_parsing": "must be a whole number",
        "int_type": "must be a whole number",
        "int_from_float": "must be a whole number",
        "float_parsing": "must be a number",
        "float_type": "must be a number",
        "bool_parsing": "must be yes or no",
        "bool_type": "must be yes or no",
        "string_type": "must be text",
        "string_pattern_mismatch": "is not in the expected form",
        "tuple_type": "must be a list",
        "list_type": "must be a list",
    }
    if kind == "extra_forbidden":
        return f"there is no setting called {str(error['loc'][-1])!r} here" if error.get("loc") else msg
    if kind in simple:
        return f"{label} {simple[kind]}"
    if kind == "string_too_short":
        least = ctx.get("min_length", 1)
        return f"{label} is empty" if least == 1 else f"{label} must be at least {least} characters long"
    if kind == "string_too_long":
        return f"{label} must be at most {ctx.get('max_length')} characters long"
    if kind in ("enum", "literal_error"):
        return f"{label} must be one of {ctx.get('expected', 'the listed choices')}"
    return f"{label}: {msg[:1].lower()}{msg[1:]}"


def validation_message(what: str, exc: ValidationError) -> str:
    """A pydantic error as one sentence in words (the first four problems)."""
    parts = list(dict.fromkeys(field_problem(error, what) for error in exc.errors()[:4]))
    return f"invalid {what}: " + "; ".join(parts)
