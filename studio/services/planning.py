"""Phase B planning services (stages 5-9): assets and style lock, the script hub, shot lists,
scene visual state and prompt assembly. One of the services :class:`studio.services.Studio`
gathers.

Everything here is deterministic and works with no LLM; reads return drafts (a breakdown, an
assembled prompt set) when nothing is saved yet, and gates govern only locking and saving.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from studio import assets as asset_rules
from studio import breakdown, continuity, pipeline, prompts
from studio.errors import BadInput, Conflict, GateClosed, NotFound
from studio.model import (
    Asset,
    AssetKind,
    AssetState,
    CarryDecision,
    Changes,
    ProjectState,
    PromptSet,
    Scene,
    SceneDoc,
    Shot,
    Stage,
    StylePack,
    slugify,
)
from studio.ports import FrameRenderer, FrameSpec
from studio.services.workspace import Workspace
from studio.store import CommitRow
from studio.timeline import VaultEntry, scene_key


class AssetChanges(Changes):
    """A partial edit of a master asset (stage 5)."""

    name: str | None = None
    description: str | None = None
    voice_profile: str | None = None


class AssetStateChanges(Changes):
    """A per-scene edit of an asset (stage 8): saved as a new scene instance."""

    description: str | None = None
    condition_tags: tuple[str, ...] | None = None


@dataclass(frozen=True)
class HubRow:
    """One scene in the script hub (stage 6)."""

    number: int
    scene_id: str
    heading: str
    status: str
    continuity_broken: bool
    reasons: tuple[str, ...]
    verdict: str
    verdict_reasons: tuple[str, ...]
    dependencies: continuity.SceneDependencies
    pending_carry: tuple[tuple[str, str], ...]
    thumbnail: str | None
    shots: int


@dataclass(frozen=True)
class ShotListView:
    """A scene's shot list: saved, or the deterministic draft when none is saved."""

    scene_id: str
    number: int
    shots: tuple[Shot, ...]
    saved: bool
    locked: bool
    problems: tuple[str, ...]
    total_s: float


@dataclass(frozen=True)
class Rearview:
    """What the previous scene ended on (stage 7's rearview mirror)."""

    previous_heading: str | None
    last_action: str | None
    last_dialogue: str | None
    last_frame: str | None


@dataclass(frozen=True)
class PromptView:
    """A scene's prompt sets with the sanity checker's warnings (never blocking)."""

    scene_id: str
    prompt_sets: tuple[PromptSet, ...]
    warnings: tuple[prompts.PromptWarning, ...]
    locked: bool
    frame_model: str
    video_model: str | None


class PlanningService:
    """Stages 5-9 over a :class:`Workspace`; image keys come from ``frame_renderer``."""

    def __init__(self, workspace: Workspace, frame_renderer: FrameRenderer) -> None:
        self._ws = workspace
        self.settings = workspace.settings
        self.store = workspace.store
        self.timeline = workspace.timeline
        self.frame_renderer = frame_renderer

    # ------------------------------------------------------------------ helpers

    @staticmethod
    def _props(state: ProjectState) -> list[str]:
        return [a.name for a in state.assets.assets if a.kind is AssetKind.PROP]

    def _breakdown(self, state: ProjectState, doc: SceneDoc, number: int) -> tuple[Shot, ...]:
        """The deterministic draft; the cast lets characters who do not speak in this scene
        be found in its action lines."""
        cast = [a.name for a in state.assets.assets if a.kind is AssetKind.CHARACTER]
        return tuple(
            breakdown.breakdown_scene(doc.scene, number, props=self._props(state), cast=cast)
        )

    # ------------------------------------------------------------------ stage 5

    def style_packs(self) -> tuple[StylePack, ...]:
        """The visual style packs in ``data/styles/``."""
        return asset_rules.load_style_packs(self.settings.styles_dir)

    def style_pack(self, pack_id: str | None) -> StylePack | None:
        if pack_id is None:
            return None
        for pack in self.style_packs():
            if pack.id == pack_id:
                return pack
        raise NotFound(f"no style pack {pack_id!r}: choose one of the packs in data/styles/")

    def extracted_assets(self, state: ProjectState) -> tuple[Asset, ...]:
        """Characters (cues), locations (headings) and props (caps heuristic), each with a
        description pre-filled from every mention; merged with the saved assets so user edits
        and locks survive."""
        scenes = [d.scene for d in state.ordered_scenes()]
        existing = state.assets.assets
        names = {a.name.upper() for a in existing if a.kind is not AssetKind.PROP}
        extracted: list[Asset] = list(existing)
        for name, mentions in asset_rules.extract_props(scenes, exclude=names):
            extracted.append(
                Asset(
                    id=f"prop-{slugify(name)}",
                    kind=AssetKind.PROP,
                    name=name,
                    mentions=tuple(mentions),
                )
            )
        filled = []
        for asset in extracted:
            if not asset.description:
                description = asset_rules.describe_from_mentions(scenes, asset)
                asset = asset.model_copy(update={"description": description})
            filled.append(asset)
        return asset_rules.merge_extracted(existing, filled)

    def refresh_assets(self, project_ref: str) -> CommitRow:
        """Run the deterministic extraction again (stage 5); keeps edits, locks, image keys."""

        def compute(state: ProjectState) -> dict[str, BaseModel]:
            self._ws.require(state, Stage.ASSETS)
            assets = self.extracted_assets(state)
            if assets == state.assets.assets:
                raise Conflict("the asset list is up to date with the script")
            return {"assets": state.assets.model_copy(update={"assets": assets})}

        return self._ws.commit(project_ref, compute, "Extract assets from the script", action="assets")

    def _edit_assets(
        self, project_ref: str, message: str, action: str, change: Any, vault: Sequence[VaultEntry] = ()
    ) -> CommitRow:
        def compute(state: ProjectState) -> dict[str, BaseModel]:
            self._ws.require(state, Stage.ASSETS)
            return {"assets": change(state)}

        return self._ws.commit(project_ref, compute, message, action=action, vault=vault)

    def _replace_asset(self, state: ProjectState, asset_id: str, **updates: Any) -> Any:
        asset = state.assets.get(asset_id)
        if asset is None:
            raise NotFound(f"no asset {asset_id!r} in this project")
        new = asset.model_copy(update=updates)
        assets = tuple(new if a.id == asset_id else a for a in state.assets.assets)
        return state.assets.model_copy(update={"assets": assets})

    def edit_asset(self, project_ref: str, asset_id: str, changes: AssetChanges | dict[str, Any]) -> CommitRow:
        """Edit a master asset's name, description or voice profile (unlocked assets only)."""
        if not isinstance(changes, AssetChanges):
            try:
                changes = AssetChanges.model_validate(changes)
            except ValidationError as exc:
                raise BadInput(f"invalid asset edit: {exc.errors()[0]['msg']}") from exc
        updates = {k: v for k, v in changes.model_dump(exclude_unset=True).items() if v is not None}
        if "name" in updates and not str(updates["name"]).strip():
            raise BadInput("an asset needs a name")

        def change(state: ProjectState) -> Any:
            asset = state.assets.get(asset_id)
            if asset is not None and asset.locked:
                raise GateClosed(f"{asset.name} is locked: unlock it to edit")
            return self._replace_asset(state, asset_id, **updates)

        return self._edit_assets(project_ref, f"Edit asset {asset_id}", "edit_asset", change)

    def add_asset(self, project_ref: str, kind: AssetKind | str, name: str, description: str = "") -> CommitRow:
        """Add an asset the extraction missed (a prop, usually)."""
        kind = AssetKind(kind)
        cleaned = " ".join(name.split())
        if not cleaned:
            raise BadInput("an asset needs a name")

        def change(state: ProjectState) -> Any:
            asset_id = f"{kind.value}-{slugify(cleaned)}"
            if state.assets.get(asset_id) is not None:
                raise Conflict(f"there is already a {kind.value} called {cleaned!r}")
            asset = Asset(id=asset_id, kind=kind, name=cleaned, description=description.strip(), source="manual")
            return state.assets.model_copy(update={"assets": state.assets.assets + (asset,)})

        return self._edit_assets(project_ref, f"Add {kind.value} {cleaned}", "edit_asset", change)

    def generate_image_key(self, project_ref: str, asset_id: str) -> CommitRow:
        """Render an asset's image key in the chosen style through the FrameRenderer port."""
        state = self._ws.state(project_ref)
        self._ws.require(state, Stage.ASSETS)
        asset = state.assets.get(asset_id)
        if asset is None:
            raise NotFound(f"no asset {asset_id!r} in this project")
        if asset.locked:
            raise GateClosed(f"{asset.name} is locked: unlock it to make a new image key")
        style = self.style_pack(state.assets.style_pack)
        if style is None:
            raise GateClosed("choose a visual style first: image keys are drawn in the style")
        media = self._render_card(asset.kind.value, asset.name, asset.description, style, asset.id)

        def change(current: ProjectState) -> Any:
            return self._replace_asset(current, asset_id, image_key=media)

        vault = [VaultEntry(Stage.ASSETS, "image key", asset.name, object_id=media)]
        return self._edit_assets(
            project_ref, f"Image key for {asset.name}", "image_key", change, vault
        )

    def _render_card(self, kind: str, title: str, description: str, style: StylePack, asset_id: str,
                     condition_tags: Sequence[str] = ()) -> str:
        # A character's card is drawn in the colour its panels use (one table, by asset id):
        # QA's identity check compares the frames against this key.
        extra = {"colour": asset_rules.character_colour(asset_id), "condition_tags": ",".join(condition_tags)} if kind == "character" else {}
        spec = FrameSpec(
            kind=kind,  # type: ignore[arg-type]
            title=title,
            prompt=f"{description} | {style.name}: {', '.join(style.tags)}",
            width=512,
            height=512,
            palette=style.palette,
            extra=extra,
        )
        return self.store.put_media(self.frame_renderer.render_frame(spec), "image/png")

    def lock_asset(self, project_ref: str, asset_id: str, locked: bool = True) -> CommitRow:
        """Lock (or unlock) an asset. Locking needs an image key."""

        def change(state: ProjectState) -> Any:
            asset = state.assets.get(asset_id)
            if asset is None:
                raise NotFound(f"no asset {asset_id!r} in this project")
            if locked and not asset.image_key:
                raise GateClosed(f"{asset.name} has no image key yet: generate one before locking")
            if asset.locked == locked:
                raise Conflict(f"{asset.name} is {'locked' if locked else 'unlocked'} already")
            return self._replace_asset(state, asset_id, locked=locked)

        verb = "Lock" if locked else "Unlock"
        return self._edit_assets(project_ref, f"{verb} asset {asset_id}", "lock_asset", change)

    def choose_style(self, project_ref: str, pack_id: str) -> CommitRow:
        pack = self.style_pack(pack_id)
        assert pack is not None

        def change(state: ProjectState) -> Any:
            if state.assets.style_locked:
                raise GateClosed("the visual style is locked: unlock it to choose another")
            return state.assets.model_copy(update={"style_pack": pack.id})

        return self._edit_assets(project_ref, f"Choose visual style {pack.name}", "style", change)

    def lock_style(self, project_ref: str, locked: bool = True) -> CommitRow:
        def change(state: ProjectState) -> Any:
            if locked and not state.assets.style_pack:
                raise GateClosed("choose a visual style before locking it")
            if state.assets.style_locked == locked:
                raise Conflict(f"the visual style is {'locked' if locked else 'unlocked'} already")
            return state.assets.model_copy(update={"style_locked": locked})

        verb = "Lock" if locked else "Unlock"
        return self._edit_assets(project_ref, f"{verb} the visual style", "style", change)

    # ------------------------------------------------------------------ stage 6

    def hub(self, project_ref: str) -> list[HubRow]:
        """The script hub: status, continuity verdict, dependencies and carry-forward prompts."""
        state = self._ws.state(project_ref)
        rows = []
        for report, doc in zip(pipeline.scene_reports(state), state.ordered_scenes(), strict=True):
            verdict, verdict_reasons = continuity.continuity_verdict(state, doc.scene.id)
            end_frames = [f for f in doc.work.frames if f.which == "end"]
            rows.append(
                HubRow(
                    number=report.number,
                    scene_id=doc.scene.id,
                    heading=doc.scene.heading,
                    status=report.status.value,
                    continuity_broken=report.continuity_broken,
                    reasons=report.reasons,
                    verdict=verdict,
                    verdict_reasons=tuple(verdict_reasons),
                    dependencies=continuity.scene_dependencies(state, doc.scene.id),
                    pending_carry=tuple(continuity.pending_carry_forward(state, doc.scene.id)),
                    thumbnail=end_frames[-1].media if end_frames else None,
                    shots=len(doc.work.shots),
                )
            )
        return rows

    def decide_carry(self, project_ref: str, scene_ref: str | int, asset_id: str, tag: str, carry: bool) -> CommitRow:
        """Answer the carry-forward prompt for one condition tag entering a scene."""
        state = self._ws.state(project_ref)
        doc = state.scene(scene_ref)
        pending = continuity.pending_carry_forward(state, doc.scene.id)
        decided = {(d.asset_id, d.tag) for d in doc.work.carry_decisions}
        if (asset_id, tag) not in set(pending) | decided:
            raise NotFound(f"no condition tag {tag!r} of {asset_id} is waiting to be carried into this scene")
        key = scene_key(doc.scene.id)

        def compute(current: ProjectState) -> dict[str, BaseModel]:
            scene_doc = current.scenes[doc.scene.id]
            kept = tuple(
                d for d in scene_doc.work.carry_decisions if (d.asset_id, d.tag) != (asset_id, tag)
            )
            decision = CarryDecision(asset_id=asset_id, tag=tag, carry=carry)
            work = scene_doc.work.model_copy(update={"carry_decisions": kept + (decision,)})
            return {key: scene_doc.model_copy(update={"work": work})}

        verb = "Carry" if carry else "Drop"
        return self._ws.commit(
            project_ref, compute, f"{verb} '{tag}' on {asset_id} into {doc.scene.heading}", action="carry"
        )

    # ------------------------------------------------------------------ stage 7

    def shot_list(self, project_ref: str, scene_ref: str | int, ref: str | None = None) -> ShotListView:
        """The saved shot list, or the deterministic draft breakdown when none is saved."""
        state = self._ws.state(project_ref, ref)
        doc = state.scene(scene_ref)
        number = self._ws.scene_number(state, doc.scene.id)
        saved = bool(doc.work.shots)
        shots = doc.work.shots if saved else self._breakdown(state, doc, number)
        return ShotListView(
            scene_id=doc.scene.id,
            number=number,
            shots=tuple(shots),
            saved=saved,
            locked=pipeline.stage_locked(state, Stage.SHOTS, doc.scene.id),
            problems=tuple(breakdown.validate_shots(shots, doc.scene)),
            total_s=round(sum(s.duration_s for s in shots), 1),
        )

    def current_shots(self, state: ProjectState, doc: SceneDoc) -> tuple[Shot, ...]:
        if doc.work.shots:
            return doc.work.shots
        return self._breakdown(state, doc, self._ws.scene_number(state, doc.scene.id))

    def _save_shots(
        self, project_ref: str, scene_ref: str | int, make: Any, message: str, action: str, *, lock: bool = False
    ) -> CommitRow:
        scene_id = self._ws.state(project_ref).scene(scene_ref).scene.id

        def compute(state: ProjectState) -> dict[str, BaseModel]:
            self._ws.require(state, Stage.SHOTS, scene_id)
            doc = state.scenes[scene_id]
            number = self._ws.scene_number(state, scene_id)
            shots = tuple(make(state, doc, number))
            problems = breakdown.validate_shots(shots, doc.scene)
            if problems:
                raise BadInput("the shot list has problems: " + "; ".join(problems[:4]))
            work = doc.work.model_copy(update={"shots": shots})
            new_doc = doc.model_copy(update={"work": work})
            if lock:
                probe = state.model_copy(update={"scenes": {**state.scenes, scene_id: new_doc}})
                record = pipeline.lock_record(probe, scene_id, message, "shot list")
                new_doc = new_doc.model_copy(
                    update={"work": work.model_copy(update={"shots_lock": record})}
                )
            return {scene_key(scene_id): new_doc}

        vault = [VaultEntry(Stage.SHOTS, "shot list", message, key=scene_key(scene_id), scene_id=scene_id)]
        return self._ws.commit(project_ref, compute, message, action=action, vault=vault)

    def save_shots(
        self, project_ref: str, scene_ref: str | int, shots: Sequence[Shot | dict[str, Any]], message: str = ""
    ) -> CommitRow:
        """Save an edited shot list (the editable table). Validated; ids re-lettered."""
        try:
            parsed = [s if isinstance(s, Shot) else Shot.model_validate(_clean_row(s)) for s in shots]
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(p) for p in error["loc"])
            raise BadInput(f"shot list: {where}: {error['msg']}") from exc
        if not parsed:
            raise BadInput("a shot list needs at least one shot")

        def make(state: ProjectState, doc: SceneDoc, number: int) -> Sequence[Shot]:
            return breakdown.relabel(parsed, number)

        text = message.strip() or "Edit shot list"
        return self._save_shots(project_ref, scene_ref, make, text, "edit_shots")

    def split_shot(self, project_ref: str, scene_ref: str | int, shot_id: str) -> CommitRow:
        def make(state: ProjectState, doc: SceneDoc, number: int) -> Sequence[Shot]:
            return breakdown.split_shot(self.current_shots(state, doc), shot_id, doc.scene, number)

        return self._save_shots(project_ref, scene_ref, make, f"Split shot {shot_id}", "split_shot")

    def merge_shots(self, project_ref: str, scene_ref: str | int, shot_id: str) -> CommitRow:
        def make(state: ProjectState, doc: SceneDoc, number: int) -> Sequence[Shot]:
            return breakdown.merge_shots(self.current_shots(state, doc), shot_id, doc.scene, number)

        return self._save_shots(project_ref, scene_ref, make, f"Merge shot {shot_id} with the next", "merge_shots")

    def reset_shots(self, project_ref: str, scene_ref: str | int) -> CommitRow:
        """Replace the saved shot list with a fresh deterministic breakdown."""

        def make(state: ProjectState, doc: SceneDoc, number: int) -> Sequence[Shot]:
            return self._breakdown(state, doc, number)

        return self._save_shots(project_ref, scene_ref, make, "Reset shot list to the breakdown", "edit_shots")

    def lock_shots(self, project_ref: str, scene_ref: str | int) -> CommitRow:
        """Lock the scene's shot list (saving the draft first when none is saved)."""

        def make(state: ProjectState, doc: SceneDoc, number: int) -> Sequence[Shot]:
            if pipeline.stage_locked(state, Stage.SHOTS, doc.scene.id):
                raise Conflict("the shot list is locked already")
            return self.current_shots(state, doc)

        return self._save_shots(project_ref, scene_ref, make, "Lock shot list", "lock_shots", lock=True)

    def rearview(self, project_ref: str, scene_ref: str | int) -> Rearview:
        """The previous scene's last action, last line of dialogue and last frame."""
        state = self._ws.state(project_ref)
        doc = state.scene(scene_ref)
        ordered = state.ordered_scenes()
        index = [d.scene.id for d in ordered].index(doc.scene.id)
        if index == 0:
            return Rearview(None, None, None, None)
        previous = ordered[index - 1]
        action, dialogue = continuity.last_action_and_dialogue(previous.scene)
        ends = [f for f in previous.work.frames if f.which == "end"]
        return Rearview(previous.scene.heading, action, dialogue, ends[-1].media if ends else None)

    # ------------------------------------------------------------------ stage 8

    def visual_state(self, project_ref: str, scene_ref: str | int) -> tuple[continuity.ResolvedAsset, ...]:
        state = self._ws.state(project_ref)
        return tuple(continuity.resolve_visual_state(state, state.scene(scene_ref).scene.id))

    def edit_asset_state(
        self, project_ref: str, scene_ref: str | int, asset_id: str, changes: AssetStateChanges | dict[str, Any]
    ) -> CommitRow:
        """Change an asset for this scene only: saved as a new scene instance."""
        if not isinstance(changes, AssetStateChanges):
            try:
                changes = AssetStateChanges.model_validate(changes)
            except ValidationError as exc:
                raise BadInput(f"invalid scene asset edit: {exc.errors()[0]['msg']}") from exc
        scene_id = self._ws.state(project_ref).scene(scene_ref).scene.id

        def compute(state: ProjectState) -> dict[str, BaseModel]:
            self._ws.require(state, Stage.VISUAL_STATE, scene_id)
            resolved = {r.asset.id: r for r in continuity.resolve_visual_state(state, scene_id)}
            if asset_id not in resolved:
                raise NotFound(f"{asset_id} is not needed in this scene")
            current = resolved[asset_id].state
            tags = changes.condition_tags
            if tags is not None:
                tags = tuple(dict.fromkeys(t.strip().lower() for t in tags if t.strip()))
            new_state = AssetState(
                asset_id=asset_id,
                source="new",
                description=changes.description if changes.description is not None else current.description,
                condition_tags=tags if tags is not None else current.condition_tags,
                image_key=current.image_key,
            )
            doc = state.scenes[scene_id]
            others = tuple(s for s in doc.work.visual_state if s.asset_id != asset_id)
            work = doc.work.model_copy(update={"visual_state": others + (new_state,)})
            return {scene_key(scene_id): doc.model_copy(update={"work": work})}

        return self._ws.commit(project_ref, compute, f"Scene instance of {asset_id}", action="visual_state")

    def bulk_image_keys(self, project_ref: str, scene_ref: str | int, asset_ids: Sequence[str]) -> CommitRow:
        """Image keys for the selected assets as they are in this scene (one commit)."""
        state = self._ws.state(project_ref)
        scene_id = state.scene(scene_ref).scene.id
        self._ws.require(state, Stage.VISUAL_STATE, scene_id)
        style = self.style_pack(state.assets.style_pack)
        if style is None:
            raise GateClosed("choose a visual style first: image keys are drawn in the style")
        resolved = {r.asset.id: r for r in continuity.resolve_visual_state(state, scene_id)}
        missing = [a for a in asset_ids if a not in resolved]
        if missing or not asset_ids:
            raise BadInput(f"pick assets needed in this scene (unknown: {', '.join(missing) or 'none picked'})")
        keys = {}
        for asset_id in asset_ids:
            item = resolved[asset_id]
            description = " ".join([item.state.description, *item.state.condition_tags]).strip()
            keys[asset_id] = self._render_card(item.asset.kind.value, item.asset.name, description, style, asset_id,
                                               item.state.condition_tags)

        def compute(current: ProjectState) -> dict[str, BaseModel]:
            now = {r.asset.id: r for r in continuity.resolve_visual_state(current, scene_id)}
            doc = current.scenes[scene_id]
            states = {s.asset_id: s for s in doc.work.visual_state}
            for asset_id, media in keys.items():
                base = states.get(asset_id) or now[asset_id].state
                states[asset_id] = base.model_copy(update={"image_key": media})
            work = doc.work.model_copy(update={"visual_state": tuple(states.values())})
            return {scene_key(scene_id): doc.model_copy(update={"work": work})}

        vault = [
            VaultEntry(Stage.VISUAL_STATE, "image key", f"{resolved[a].asset.name} in this scene",
                       scene_id=scene_id, object_id=media)
            for a, media in keys.items()
        ]
        return self._ws.commit(
            project_ref, compute, f"Image keys for {len(keys)} asset(s) in this scene", action="image_key",
            vault=vault,
        )

    def lock_visual_state(self, project_ref: str, scene_ref: str | int) -> CommitRow:
        scene_id = self._ws.state(project_ref).scene(scene_ref).scene.id

        def compute(state: ProjectState) -> dict[str, BaseModel]:
            self._ws.require(state, Stage.VISUAL_STATE, scene_id)
            if pipeline.stage_locked(state, Stage.VISUAL_STATE, scene_id):
                raise Conflict("the visual state is locked already")
            pending = continuity.pending_carry_forward(state, scene_id)
            if pending:
                asset_id, tag = pending[0]
                raise GateClosed(
                    f"decide whether to carry '{tag}' on {asset_id} into this scene first "
                    f"({len(pending)} decision(s) pending)"
                )
            doc = state.scenes[scene_id]
            # The resolved state is derived (master -> previous scene -> this scene's edits),
            # so only the lock is recorded; saving the resolved copies would turn inherited
            # states into this scene's own edits and hide tags the text sets.
            record = pipeline.lock_record(state, scene_id, "Lock visual state", "visual state")
            work = doc.work.model_copy(update={"visual_lock": record})
            return {scene_key(scene_id): doc.model_copy(update={"work": work})}

        def vault(state: ProjectState) -> list[VaultEntry]:
            # What the lock fixes, in words: each asset as it is in this scene.
            shown = [
                r.asset.name + (f" ({', '.join(r.state.condition_tags)})" if r.state.condition_tags else "")
                for r in continuity.resolve_visual_state(state, scene_id)
            ]
            label = "Visual state: " + ("; ".join(shown) if shown else "no assets in this scene")
            return [VaultEntry(Stage.VISUAL_STATE, "visual state", label[:300], key=scene_key(scene_id),
                               scene_id=scene_id)]

        return self._ws.commit(project_ref, compute, "Lock scene visual state", action="lock_visual", vault=vault)

    # ------------------------------------------------------------------ stage 9

    def _prompt_assets(self, state: ProjectState, scene_id: str) -> list[prompts.PromptAsset]:
        return [
            prompts.PromptAsset(
                asset_id=r.asset.id,
                kind=r.asset.kind.value,
                name=r.asset.name,
                description=r.state.description,  # what the script established so far
                condition_tags=tuple(r.state.condition_tags),
            )
            for r in continuity.resolve_visual_state(state, scene_id)
        ]

    @staticmethod
    def _shot_assets(shot: Shot, scene: Scene, assets: Sequence[prompts.PromptAsset]) -> list[prompts.PromptAsset]:
        """The assets a shot shows: its characters, the scene's location, props it names."""
        in_shot = {c.name.upper() for c in shot.characters}
        text = f"{shot.action} {shot.dialogue}".lower()
        chosen = []
        for asset in assets:
            if asset.kind == AssetKind.CHARACTER.value and asset.name.upper() in in_shot:
                chosen.append(asset)
            elif asset.kind == AssetKind.LOCATION.value and asset.name.upper() == scene.location.upper():
                chosen.append(asset)
            elif asset.kind == AssetKind.PROP.value and asset.name.split()[-1].lower() in text:
                chosen.append(asset)
        return chosen

    def _assemble(
        self, state: ProjectState, scene_id: str, frame_model: str, video_model: str | None
    ) -> tuple[tuple[PromptSet, ...], tuple[prompts.PromptWarning, ...]]:
        doc = state.scenes[scene_id]
        shots = self.current_shots(state, doc)
        style = self.style_pack(state.assets.style_pack)
        assets = self._prompt_assets(state, scene_id)
        by_shot = {shot.id: self._shot_assets(shot, doc.scene, assets) for shot in shots}
        sets = prompts.assemble_scene(
            shots, doc.scene, style, by_shot,
            frame_model=frame_model, video_model=video_model, saved=doc.work.prompts,
        )
        warnings = [
            warning
            for shot, prompt_set in zip(shots, sets, strict=True)
            for warning in prompts.check_prompt_set(
                prompt_set, shot, style=style, assets=by_shot[shot.id],
                frame_model=frame_model, video_model=video_model,
            )
        ]
        return sets, tuple(warnings)

    def prompt_sets(
        self,
        project_ref: str,
        scene_ref: str | int,
        *,
        frame_model: str | None = None,
        video_model: str | None = None,
        ref: str | None = None,
    ) -> PromptView:
        """Assembled prompt sets for every shot (manual edits kept) and sanity warnings.

        The target models are the scene's saved ones unless given (``video_model="auto"``
        picks per shot); other targets are a read-only preview."""
        state = self._ws.state(project_ref, ref)
        doc = state.scene(scene_ref)
        frame = frame_model or doc.work.frame_model
        video = doc.work.video_model if video_model is None else video_model
        video = None if video == "auto" else video
        _check_targets(frame, video)
        sets, warnings = self._assemble(state, doc.scene.id, frame, video)
        return PromptView(
            scene_id=doc.scene.id,
            prompt_sets=sets,
            warnings=warnings,
            locked=pipeline.stage_locked(state, Stage.PROMPTS, doc.scene.id),
            frame_model=frame,
            video_model=video,
        )

    def set_target_models(
        self, project_ref: str, scene_ref: str | int, frame_model: str, video_model: str | None
    ) -> CommitRow:
        """Choose the image and video models a scene's prompts are assembled for."""
        video = None if video_model in (None, "auto") else video_model
        _check_targets(frame_model, video)
        scene_id = self._ws.state(project_ref).scene(scene_ref).scene.id

        def compute(state: ProjectState) -> dict[str, BaseModel]:
            self._ws.require(state, Stage.PROMPTS, scene_id)
            doc = state.scenes[scene_id]
            if (doc.work.frame_model, doc.work.video_model) == (frame_model, video):
                raise Conflict("those are the scene's target models already")
            work = doc.work.model_copy(update={"frame_model": frame_model, "video_model": video})
            return {scene_key(scene_id): doc.model_copy(update={"work": work})}

        return self._ws.commit(
            project_ref, compute, f"Target {frame_model} / {video or 'auto'}", action="targets"
        )

    def _save_prompts(self, project_ref: str, scene_ref: str | int, change: Any, message: str, action: str, *, lock: bool = False) -> CommitRow:
        scene_id = self._ws.state(project_ref).scene(scene_ref).scene.id

        def compute(state: ProjectState) -> dict[str, BaseModel]:
            self._ws.require(state, Stage.PROMPTS, scene_id)
            doc = state.scenes[scene_id]
            sets, _ = self._assemble(state, scene_id, doc.work.frame_model, doc.work.video_model)
            new_sets, shots = change(state, doc, sets)
            work = doc.work.model_copy(update={"prompts": tuple(new_sets), "shots": tuple(shots)})
            new_doc = doc.model_copy(update={"work": work})
            if lock:
                if pipeline.stage_locked(state, Stage.PROMPTS, scene_id):
                    raise Conflict("the prompts are locked already")
                probe = state.model_copy(update={"scenes": {**state.scenes, scene_id: new_doc}})
                record = pipeline.lock_record(probe, scene_id, message, "prompts")
                new_doc = new_doc.model_copy(update={"work": work.model_copy(update={"prompts_lock": record})})
            return {scene_key(scene_id): new_doc}

        vault = [VaultEntry(Stage.PROMPTS, "prompt sets", message, key=scene_key(scene_id), scene_id=scene_id)]
        return self._ws.commit(project_ref, compute, message, action=action, vault=vault)

    def edit_prompt(
        self,
        project_ref: str,
        scene_ref: str | int,
        shot_id: str,
        *,
        frame_prompt: str | None = None,
        video_prompt: str | None = None,
    ) -> CommitRow:
        """A manual edit of a shot's frame or video prompt (kept across re-assembly)."""
        if frame_prompt is None and video_prompt is None:
            raise BadInput("nothing to change: give a frame or a video prompt")

        def change(state: ProjectState, doc: SceneDoc, sets: tuple[PromptSet, ...]) -> Any:
            if shot_id not in {p.shot_id for p in sets}:
                raise NotFound(f"no shot {shot_id} in this scene")
            new_sets = [
                prompts.apply_edit(p, frame_prompt=frame_prompt, video_prompt=video_prompt)
                if p.shot_id == shot_id else p
                for p in sets
            ]
            return new_sets, self.current_shots(state, doc)

        return self._save_prompts(project_ref, scene_ref, change, f"Edit prompts of shot {shot_id}", "edit_prompt")

    def resolve_prompt_edit(
        self, project_ref: str, scene_ref: str | int, shot_id: str, prompt: str, *, keep: bool
    ) -> CommitRow:
        """Answer a kept-edit conflict: keep the user's earlier edit, or use the newly
        assembled prompt (which is then no longer marked edited)."""
        if prompt not in ("frame", "video"):
            raise BadInput("prompt must be 'frame' or 'video' (the system prompt is not editable)")

        def change(state: ProjectState, doc: SceneDoc, sets: tuple[PromptSet, ...]) -> Any:
            target = next((p for p in sets if p.shot_id == shot_id), None)
            if target is None:
                raise NotFound(f"no shot {shot_id} in this scene")
            previous = getattr(target, f"previous_{prompt}_edit")
            if previous is None:
                raise Conflict(f"shot {shot_id}'s {prompt} prompt has no kept edit to resolve")
            if keep:
                resolved = target.model_copy(
                    update={f"{prompt}_prompt": previous, f"{prompt}_edited": True,
                            f"previous_{prompt}_edit": None}
                )
            else:
                resolved = target.model_copy(
                    update={f"{prompt}_edited": False, f"previous_{prompt}_edit": None}
                )
            new_sets = [resolved if p.shot_id == shot_id else p for p in sets]
            return new_sets, self.current_shots(state, doc)

        verb = "Keep my edit of" if keep else "Use the new"
        return self._save_prompts(
            project_ref, scene_ref, change, f"{verb} the {prompt} prompt of shot {shot_id}", "edit_prompt"
        )

    def set_start_frame_only(self, project_ref: str, scene_ref: str | int, shot_id: str, value: bool) -> CommitRow:
        """Tag a shot as start-frame-only (image-to-video: no end anchor frame)."""

        def change(state: ProjectState, doc: SceneDoc, sets: tuple[PromptSet, ...]) -> Any:
            shots = self.current_shots(state, doc)
            if shot_id not in {s.id for s in shots}:
                raise NotFound(f"no shot {shot_id} in this scene")
            shots = tuple(s.model_copy(update={"start_frame_only": value}) if s.id == shot_id else s for s in shots)
            probe = state.model_copy(
                update={"scenes": {**state.scenes, doc.scene.id: doc.model_copy(update={"work": doc.work.model_copy(update={"shots": shots})})}}
            )
            new_sets, _ = self._assemble(probe, doc.scene.id, doc.work.frame_model, doc.work.video_model)
            return new_sets, shots

        label = "start-frame-only" if value else "start and end frames"
        return self._save_prompts(project_ref, scene_ref, change, f"Shot {shot_id}: {label}", "start_frame_only")

    def lock_prompts(self, project_ref: str, scene_ref: str | int) -> CommitRow:
        def change(state: ProjectState, doc: SceneDoc, sets: tuple[PromptSet, ...]) -> Any:
            conflicts = [p.shot_id for p in sets if p.previous_frame_edit or p.previous_video_edit]
            if conflicts:
                raise GateClosed(
                    "resolve the kept manual edits first (shots "
                    + ", ".join(conflicts)
                    + "): the assembled prompts changed after you edited them"
                )
            return sets, self.current_shots(state, doc)

        return self._save_prompts(project_ref, scene_ref, change, "Lock prompts", "lock_prompts", lock=True)


def _check_targets(frame_model: str, video_model: str | None) -> None:
    models = prompts.TARGET_MODELS
    frames = [k for k, m in models.items() if m.role in ("frame", "any")]
    videos = [k for k, m in models.items() if m.role in ("video", "any")]
    if frame_model not in frames:
        raise BadInput(f"unknown target model {frame_model!r} for frames: choose from {', '.join(frames)}")
    if video_model is not None and video_model not in videos:
        raise BadInput(f"unknown target model {video_model!r} for clips: choose from auto, {', '.join(videos)}")


def _clean_row(row: dict[str, Any]) -> dict[str, Any]:
    """A data-editor row -> Shot fields (characters as 'NAME (prominence)' text allowed)."""
    data = {k: v for k, v in row.items() if v is not None and k in Shot.model_fields}
    characters = data.get("characters")
    if isinstance(characters, str):
        parsed = []
        for part in characters.split(","):
            part = part.strip()
            if not part:
                continue
            name, _, rest = part.partition("(")
            prominence = rest.rstrip(")").strip() or "primary"
            parsed.append({"name": name.strip(), "prominence": prominence})
        data["characters"] = parsed
    for key in ("sfx", "continuity_flags", "element_refs"):
        if isinstance(data.get(key), str):
            data[key] = [p.strip() for p in data[key].split(",") if p.strip()]
    return data
