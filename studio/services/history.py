"""Story Timelines as the UI sees them: log, branches, switch, graph, reflog; the Artifact
Vault, the global asset library and stored media."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from studio.errors import BadInput, Conflict, NotFound
from studio.model import (
    AssetKind,
    GlobalAsset,
    Stage,
    slugify,
)
from studio.services.workspace import Workspace
from studio.store import CommitRow
from studio.timeline import GraphData, SwitchResult


@dataclass(frozen=True)
class VaultGroup:
    """Artifacts of one branch and stage, grouped by scene (None = film-wide)."""

    branch: str
    stage: Stage
    by_scene: dict[str | None, list[Any]] = field(default_factory=dict)


class HistoryService:
    """Commits, branches and the artifacts they index."""

    def __init__(self, workspace: Workspace) -> None:
        self._ws = workspace
        self.settings = workspace.settings
        self.store = workspace.store
        self.timeline = workspace.timeline

    def log(self, project_ref: str, ref: str | None = None, limit: int | None = None) -> list[CommitRow]:
        project = self._ws.project(project_ref)
        return self.timeline.log(project.id, ref or project.active_branch, limit)

    def branches(self, project_ref: str) -> list[dict[str, Any]]:
        project = self._ws.project(project_ref)
        return [
            {**row, "active": row["name"] == project.active_branch}
            for row in self.store.ref_rows(project.id)
        ]

    def create_branch(self, project_ref: str, name: str, from_ref: str | None = None) -> str:
        project = self._ws.project(project_ref)
        return self.timeline.create_branch(project.id, name, from_ref or project.active_branch)

    def switch(self, project_ref: str, ref: str) -> SwitchResult:
        project = self._ws.project(project_ref)
        return self.timeline.switch(project.id, ref)

    def graph(self, project_ref: str, limit: int = 200) -> GraphData:
        project = self._ws.project(project_ref)
        return self.timeline.graph(project.id, project.active_branch, limit)

    def reflog(self, project_ref: str, ref: str | None = None) -> list[dict[str, Any]]:
        return self.store.reflog(self._ws.project(project_ref).id, ref)

    def vault(self, project_ref: str, branch: str | None = None) -> list[VaultGroup]:
        """The Artifact Vault: every artifact grouped by branch -> stage -> scene."""
        project = self._ws.project(project_ref)
        groups: dict[tuple[str, int], VaultGroup] = {}
        for row in self.store.artifact_rows(project.id, branch):
            key = (row["branch"], row["stage"])
            group = groups.setdefault(key, VaultGroup(row["branch"], Stage(row["stage"])))
            group.by_scene.setdefault(row["scene_id"], []).append(row)
        return [groups[k] for k in sorted(groups)]

    def promote_to_global(self, project_ref: str, asset_id: str) -> GlobalAsset:
        """Copy a project asset into the global library, usable by every project."""
        project = self._ws.project(project_ref)
        state = self._ws.state(project.id)
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
