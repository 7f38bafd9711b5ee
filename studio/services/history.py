"""Story Timelines as the UI sees them: log, branches, switch, graph, reflog; the Artifact
Vault, the global asset library and stored media."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from studio.assets import asset_id as asset_id_of
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

MEDIA_SUFFIXES = {
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/webp": ".webp",
    "video/mp4": ".mp4",
    "application/json": ".json",
}


@dataclass(frozen=True)
class VaultItem:
    """One artifact of the vault: what made it, where, and its media file when it is one
    (an image key, a frame, a clip, a scene cut, a staged file) for showing and download."""

    id: int
    branch: str
    stage: Stage
    scene_id: str | None
    kind: str
    label: str
    commit_id: str
    created_at: str
    cost_gpu_s: float = 0.0
    media_id: str | None = None
    mime: str | None = None

    @property
    def is_image(self) -> bool:
        return bool(self.media_id and self.mime and self.mime.startswith("image/"))

    @property
    def is_video(self) -> bool:
        return bool(self.media_id and self.mime and self.mime.startswith("video/"))

    @property
    def file_name(self) -> str:
        """A download name: the label as a slug and the media's suffix."""
        mime = (self.mime or "").split(";")[0].strip()
        suffix = MEDIA_SUFFIXES.get(mime, ".txt" if mime.startswith("text/") else ".bin")
        return f"{slugify(self.label, 60) or self.kind.replace(' ', '-')}-{self.commit_id[:7]}{suffix}"


@dataclass(frozen=True)
class VaultGroup:
    """Artifacts of one branch and stage, grouped by scene (None = film-wide)."""

    branch: str
    stage: Stage
    by_scene: dict[str | None, list[VaultItem]] = field(default_factory=dict)

    @property
    def items(self) -> list[VaultItem]:
        return [item for items in self.by_scene.values() for item in items]


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
        """The Artifact Vault: every artifact grouped by branch -> stage -> scene, each with
        its media file (id and type) where the artifact is one."""
        project = self._ws.project(project_ref)
        rows = self.store.artifact_rows(project.id, branch)
        mimes = self.store.media_mimes(row["object_id"] for row in rows)
        groups: dict[tuple[str, int], VaultGroup] = {}
        for row in rows:
            key = (row["branch"], row["stage"])
            group = groups.setdefault(key, VaultGroup(row["branch"], Stage(row["stage"])))
            mime = mimes.get(row["object_id"])
            item = VaultItem(
                id=row["id"],
                branch=row["branch"],
                stage=Stage(row["stage"]),
                scene_id=row["scene_id"],
                kind=row["kind"],
                label=row["label"],
                commit_id=row["commit_id"],
                created_at=row["created_at"],
                cost_gpu_s=float(row.get("cost_gpu_s") or 0.0),
                media_id=row["object_id"] if mime is not None else None,
                mime=mime,
            )
            group.by_scene.setdefault(row["scene_id"], []).append(item)
        return [groups[k] for k in sorted(groups)]

    def promote_to_global(self, project_ref: str, asset_id: str) -> GlobalAsset:
        """Copy a project asset into the global library, usable by every project."""
        project = self._ws.project(project_ref)
        state = self._ws.state(project.id)
        asset = state.assets.get(asset_id)
        if asset is None:
            raise NotFound(f"no asset {asset_id!r} in this project")
        global_id = asset_id_of(asset.kind, asset.name)  # as stage 5 names it: 李 and 王 differ
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
