"""Phase B planning services (stages 5-9): assets and style lock, the script hub, shot lists,
scene visual state and prompt assembly. One of the services :class:`studio.services.Studio`
gathers.

Everything here is deterministic and works with no LLM; reads return drafts (a breakdown, an
assembled prompt set) when nothing is saved yet, and gates govern only locking and saving.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from pydantic import BaseModel, ValidationError

from studio import assets as asset_rules
from studio import breakdown, continuity, pipeline, prompts
from studio.errors import BackendUnavailable, BadInput, Conflict, GateClosed, NotFound
from studio.model import (
    Asset,
    AssetKind,
    AssetsDoc,
    AssetState,
    CarryDecision,
    Changes,
    GlobalAsset,
    ProjectState,
    PromptSet,
    Scene,
    SceneDoc,
    Shot,
    Stage,
    StylePack,
    slugify,
)
from studio.names import clean_name, name_problem
from studio.ports import FrameRenderer, FrameSpec, ReferenceImages
from studio.screenplay import limits
from studio.services.workspace import Workspace, validation_message
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
class ShotEdit:
    """A shot list change: the new shots and, for each old shot id whose shot survives,
    its new id (its prompts, frames, clips and seed follow it; the work of a shot that has
    no new id is dropped). ``renamed`` None: ids are kept as they are (table edits)."""

    shots: tuple[Shot, ...]
    renamed: dict[str, str] | None = None
    dropped: tuple[Shot, ...] = ()  # deleted shots: their script text leaves the film


@dataclass(frozen=True)
class AssetDrawer:
    """Stage 8's asset drawer: what can be brought into a scene its text does not name."""

    global_assets: tuple[GlobalAsset, ...]
    earlier_assets: tuple[Asset, ...]
    other_assets: tuple[Asset, ...]
    picked: tuple[str, ...]


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

    def __init__(
        self,
        workspace: Workspace,
        frame_renderer: FrameRenderer,
        reference_images: ReferenceImages | None = None,
    ) -> None:
        self._ws = workspace
        self.reference_images = reference_images
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
        retired = state.assets.retired
        for name, mentions in asset_rules.extract_props(scenes, exclude=names):
            if f"prop-{slugify(name)}" in retired:
                continue  # the user deleted it or merged it into another asset
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
                raise BadInput(validation_message("asset edit", exc)) from exc
        updates = {k: v for k, v in changes.model_dump(exclude_unset=True).items() if v is not None}
        if "name" in updates:
            updates["name"] = _check_asset_name(str(updates["name"]))

        def change(state: ProjectState) -> Any:
            asset = state.assets.get(asset_id)
            if asset is not None and asset.locked:
                raise GateClosed(f"{asset.name} is locked: unlock it to edit")
            if asset is not None and "name" in updates:
                twin = next(
                    (a for a in state.assets.assets if a.id != asset_id and a.kind is asset.kind
                     and a.name.casefold() == updates["name"].casefold()),
                    None,
                )
                if twin is not None:
                    raise Conflict(
                        f"there is already a {asset.kind.value} called {twin.name!r}: merge the two "
                        "instead of giving them one name"
                    )
            return self._replace_asset(state, asset_id, **updates)

        return self._edit_assets(project_ref, f"Edit asset {asset_id}", "edit_asset", change)

    def _new_asset(self, state: ProjectState, kind: AssetKind, name: str, description: str,
                   source: str = "manual") -> Asset:
        """An asset the user adds: its id from its name (a clear message when the name
        collides with another's id), its mentions and description from the script."""
        new_id = asset_rules.asset_id(kind, name)
        existing = state.assets.get(new_id)
        if existing is not None:
            if existing.name.casefold() == name.casefold():
                raise Conflict(f"there is already a {kind.value} called {existing.name!r}")
            raise Conflict(
                f"{name!r} and the {kind.value} {existing.name!r} would get the same id "
                f"({new_id}), as names that differ only in accents, case or punctuation do: "
                f"choose a name that differs in its letters, or use {existing.name!r}"
            )
        twin = next((a for a in state.assets.assets if a.kind is kind and a.name.casefold() == name.casefold()), None)
        if twin is not None:
            raise Conflict(f"there is already a {kind.value} called {twin.name!r}")
        scenes = [d.scene for d in state.ordered_scenes()]
        asset = Asset(
            id=new_id,
            kind=kind,
            name=name,
            description=description.strip(),
            mentions=asset_rules.mentions_of(scenes, kind, name),
            source=source,  # type: ignore[arg-type]
        )
        if not asset.description:
            asset = asset.model_copy(update={"description": asset_rules.describe_from_mentions(scenes, asset)})
        return asset

    @staticmethod
    def _with_asset(assets: AssetsDoc, asset: Asset) -> AssetsDoc:
        retired = {k: v for k, v in assets.retired.items() if k != asset.id}
        return assets.model_copy(update={"assets": assets.assets + (asset,), "retired": retired})

    def add_asset(self, project_ref: str, kind: AssetKind | str, name: str, description: str = "") -> CommitRow:
        """Add an asset the extraction missed: a character who never speaks (a GIRL in the
        action lines), a named object (the jetty), a location. The scenes that name it and
        a description from those mentions are filled in from the script."""
        kind = _asset_kind(kind)
        cleaned = _check_asset_name(name)

        def change(state: ProjectState) -> Any:
            return self._with_asset(state.assets, self._new_asset(state, kind, cleaned, description))

        return self._edit_assets(project_ref, f"Add {kind.value} {cleaned}", "edit_asset", change)

    def suggested_assets(self, project_ref: str) -> tuple[Asset, ...]:
        """Characters the action introduces who never speak ('A GIRL (8)…'), offered in
        stage 5 for the user to add; none is added on its own."""
        state = self._ws.state(project_ref)
        scenes = [d.scene for d in state.ordered_scenes()]
        known = [a.name for a in state.assets.assets if a.kind is AssetKind.CHARACTER]
        suggestions = []
        for name, mentions in asset_rules.suggest_characters(scenes, known):
            asset_id = asset_rules.asset_id(AssetKind.CHARACTER, name)
            if asset_id in state.assets.retired or state.assets.get(asset_id) is not None:
                continue
            asset = Asset(id=asset_id, kind=AssetKind.CHARACTER, name=name, mentions=mentions, source="script")
            suggestions.append(asset.model_copy(update={"description": asset_rules.describe_from_mentions(scenes, asset)}))
        return tuple(suggestions)

    def _retire(self, state: ProjectState, asset_id: str, into: str | None) -> dict[str, BaseModel]:
        """Changes that remove ``asset_id`` from the project: from the master list and from
        every scene's states, carry decisions and picks, which move to ``into`` if given."""
        victim = state.assets.get(asset_id)
        assert victim is not None
        survivor = state.assets.get(into) if into else None
        changes: dict[str, BaseModel] = {}
        for doc in state.ordered_scenes():
            needed = {a.id for a in continuity.scene_assets(state, doc.scene)}
            work = doc.work
            states = [v for v in work.visual_state if v.asset_id != asset_id]
            carry = [c for c in work.carry_decisions if c.asset_id != asset_id]
            extra = [a for a in work.extra_assets if a != asset_id]
            shots = work.shots
            if survivor is not None:
                have = {v.asset_id for v in states}
                states += [v.model_copy(update={"asset_id": survivor.id}) for v in work.visual_state
                           if v.asset_id == asset_id and survivor.id not in have]
                decided = {(c.asset_id, c.tag) for c in carry}
                carry += [c.model_copy(update={"asset_id": survivor.id}) for c in work.carry_decisions
                          if c.asset_id == asset_id and (survivor.id, c.tag) not in decided]
                if asset_id in needed and survivor.id not in needed and survivor.id not in extra:
                    extra.append(survivor.id)  # the survivor stands where the merged one stood
                if victim.kind is AssetKind.CHARACTER:
                    shots = tuple(
                        shot.model_copy(update={"characters": tuple(dict.fromkeys(
                            c.model_copy(update={"name": survivor.name}) if c.name.upper() == victim.name.upper() else c
                            for c in shot.characters
                        ))})
                        for shot in shots
                    )
            new_work = work.model_copy(update={
                "visual_state": tuple(states), "carry_decisions": tuple(carry),
                "extra_assets": tuple(extra), "shots": shots,
            })
            if new_work != work:
                changes[scene_key(doc.scene.id)] = doc.model_copy(update={"work": new_work})
        assets = tuple(a for a in state.assets.assets if a.id != asset_id)
        if survivor is not None:
            update: dict[str, Any] = {"mentions": tuple(dict.fromkeys((*survivor.mentions, *victim.mentions)))}
            if not survivor.locked:
                if not survivor.description.strip():
                    update["description"] = victim.description
                if not survivor.image_key:
                    update["image_key"] = victim.image_key
            merged = survivor.model_copy(update=update)
            assets = tuple(merged if a.id == survivor.id else a for a in assets)
        retired = {**state.assets.retired, asset_id: into}
        changes["assets"] = state.assets.model_copy(update={"assets": assets, "retired": retired})
        return changes

    def delete_asset(self, project_ref: str, asset_id: str) -> CommitRow:
        """Delete an asset the extraction got wrong (a sound taken for a prop): it leaves
        the lock gate and every scene, and a new extraction does not bring it back."""

        def compute(state: ProjectState) -> dict[str, BaseModel]:
            self._ws.require(state, Stage.ASSETS)
            asset = state.assets.get(asset_id)
            if asset is None:
                raise NotFound(f"no asset {asset_id!r} in this project")
            if asset.locked:
                raise GateClosed(f"{asset.name} is locked: unlock it before deleting it")
            return self._retire(state, asset_id, None)

        return self._ws.commit(project_ref, compute, f"Delete asset {asset_id}", action="delete_asset")

    def merge_assets(self, project_ref: str, asset_id: str, into: str) -> CommitRow:
        """Merge two entries that are the same character, place or prop: ``asset_id`` goes,
        its mentions, scene states, carry decisions and shot-list appearances move to
        ``into`` (which keeps its own name, description and image key)."""
        if asset_id == into:
            raise BadInput("choose two different assets to merge")

        def compute(state: ProjectState) -> dict[str, BaseModel]:
            self._ws.require(state, Stage.ASSETS)
            victim, survivor = state.assets.get(asset_id), state.assets.get(into)
            for ref, found in ((asset_id, victim), (into, survivor)):
                if found is None:
                    raise NotFound(f"no asset {ref!r} in this project")
            assert victim is not None and survivor is not None
            if victim.kind is not survivor.kind:
                raise BadInput(
                    f"{victim.name} is a {victim.kind.value} and {survivor.name} a {survivor.kind.value}: "
                    "only two assets of one kind can be the same thing"
                )
            if victim.locked:
                raise GateClosed(f"{victim.name} is locked: unlock it before merging it into {survivor.name}")
            return self._retire(state, asset_id, into)

        return self._ws.commit(project_ref, compute, f"Merge asset {asset_id} into {into}", action="merge_assets")

    def _unlocked_asset(self, project_ref: str, asset_id: str, doing: str) -> tuple[ProjectState, Asset]:
        """The state and the asset to change in stage 5: it exists and is unlocked (else a
        message)."""
        state = self._ws.state(project_ref)
        self._ws.require(state, Stage.ASSETS)
        asset = state.assets.get(asset_id)
        if asset is None:
            raise NotFound(f"no asset {asset_id!r} in this project")
        if asset.locked:
            raise GateClosed(f"{asset.name} is locked: unlock it to {doing}")
        return state, asset

    def upload_image_key(self, project_ref: str, asset_id: str, filename: str, data: bytes) -> CommitRow:
        """Use the user's own reference image as an asset's image key (checked to be a real
        PNG, JPEG or WebP picture, re-encoded as PNG)."""
        shown = asset_rules.check_reference_upload(filename, data)
        if self.reference_images is None:
            raise BackendUnavailable(
                "reading reference images needs the image adapter: start the studio with "
                "`make run` or `studio`, which wire it"
            )
        png = self.reference_images.to_image_key(data, shown)
        _, asset = self._unlocked_asset(project_ref, asset_id, "give it a new image key")
        media = self.store.put_media(png, "image/png")

        def change(current: ProjectState) -> Any:
            found = current.assets.get(asset_id)
            if found is not None and found.locked:
                raise GateClosed(f"{found.name} is locked: unlock it to give it a new image key")
            return self._replace_asset(current, asset_id, image_key=media)

        vault = [VaultEntry(Stage.ASSETS, "image key", f"{asset.name} (your reference)", object_id=media)]
        return self._edit_assets(
            project_ref, f"Reference image for {asset.name}", "image_key", change, vault
        )

    def generate_image_key(self, project_ref: str, asset_id: str) -> CommitRow:
        """Render an asset's image key in the chosen style through the FrameRenderer port."""
        state, asset = self._unlocked_asset(project_ref, asset_id, "make a new image key")
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

    def generate_missing_image_keys(self, project_ref: str) -> CommitRow:
        """Draw an image key for every unlocked asset that has none, in one commit (the
        stage 5 bulk action; its cost is ``image_keys_estimate``, shown before it runs)."""
        state = self._ws.state(project_ref)
        self._ws.require(state, Stage.ASSETS)
        style = self.style_pack(state.assets.style_pack)
        if style is None:
            raise GateClosed("choose a visual style first: image keys are drawn in the style")
        missing = [a for a in state.assets.assets if not a.locked and a.image_key is None]
        if not missing:
            raise Conflict("every unlocked asset has an image key already")
        drawn = {
            a.id: self._render_card(a.kind.value, a.name, a.description, style, a.id) for a in missing
        }

        def change(current: ProjectState) -> Any:
            assets = current.assets
            for asset_id, media in drawn.items():
                found = assets.get(asset_id)
                if found is not None and not found.locked and found.image_key is None:
                    assets = assets.model_copy(update={"assets": tuple(
                        a.model_copy(update={"image_key": media}) if a.id == asset_id else a
                        for a in assets.assets
                    )})
            return assets

        names = {a.id: a.name for a in missing}
        vault = [VaultEntry(Stage.ASSETS, "image key", names[i], object_id=m) for i, m in drawn.items()]
        return self._edit_assets(
            project_ref, f"Image keys for {len(drawn)} assets", "image_key", change, vault
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

    def _shot_edit(self, state: ProjectState, scene_id: str, make: Any) -> tuple[SceneDoc, ShotEdit]:
        """The scene after a shot list change (validated; nothing saved)."""
        self._ws.require(state, Stage.SHOTS, scene_id)
        doc = state.scenes[scene_id]
        number = self._ws.scene_number(state, scene_id)
        made = make(state, doc, number)
        edit = made if isinstance(made, ShotEdit) else ShotEdit(tuple(made))
        problems = breakdown.validate_shots(edit.shots, doc.scene)
        if problems:
            raise BadInput("the shot list has problems: " + "; ".join(problems[:4]))
        others = sum(len(d.work.shots) for key, d in state.scenes.items() if key != scene_id)
        limits.check_shots(others + len(edit.shots))
        work = doc.work.model_copy(update={"shots": edit.shots})
        if edit.renamed is not None:
            work = _follow_shots(work, edit.renamed)
        return doc.model_copy(update={"work": work}), edit

    def _save_shots(
        self, project_ref: str, scene_ref: str | int, make: Any, message: str, action: str, *, lock: bool = False
    ) -> CommitRow:
        scene_id = self._ws.state(project_ref).scene(scene_ref).scene.id

        def compute(state: ProjectState) -> dict[str, BaseModel]:
            new_doc, _ = self._shot_edit(state, scene_id, make)
            if lock:
                probe = state.model_copy(update={"scenes": {**state.scenes, scene_id: new_doc}})
                record = pipeline.lock_record(probe, scene_id, message, "shot list")
                new_doc = new_doc.model_copy(
                    update={"work": new_doc.work.model_copy(update={"shots_lock": record})}
                )
            return {scene_key(scene_id): new_doc}

        vault = [VaultEntry(Stage.SHOTS, "shot list", message, key=scene_key(scene_id), scene_id=scene_id)]
        return self._ws.commit(project_ref, compute, message, action=action, vault=vault)

    def save_shots(
        self, project_ref: str, scene_ref: str | int, shots: Sequence[Shot | dict[str, Any]], message: str = ""
    ) -> CommitRow:
        """Save an edited shot list (the editable table). Validated; ids re-lettered."""
        parsed = []
        for n, row in enumerate(shots, 1):
            try:
                parsed.append(row if isinstance(row, Shot) else Shot.model_validate(_clean_row(row)))
            except ValidationError as exc:
                raise BadInput(validation_message(f"shot in row {n}", exc)) from exc
        if not parsed:
            raise BadInput("a shot list needs at least one shot")

        def make(state: ProjectState, doc: SceneDoc, number: int) -> Sequence[Shot]:
            return breakdown.relabel(parsed, number)

        text = message.strip() or "Edit shot list"
        return self._save_shots(project_ref, scene_ref, make, text, "edit_shots")

    # One maker per shot list operation: (state, doc, number) -> ShotEdit. Ids are always
    # re-lettered in order (2A, 2B…), as a split does; each surviving shot's work follows it.

    def _split_op(self, shot_id: str) -> Any:
        def make(state: ProjectState, doc: SceneDoc, number: int) -> ShotEdit:
            shots = self.current_shots(state, doc)
            _refuse_hand_made(shots, [shot_id], "split")
            new = breakdown.split_shot(shots, shot_id, doc.scene, number)
            at = _position(shots, shot_id)
            renamed = {s.id: new[n + (n > at)].id for n, s in enumerate(shots)}
            return ShotEdit(new, renamed)

        return make

    def _merge_op(self, shot_id: str) -> Any:
        def make(state: ProjectState, doc: SceneDoc, number: int) -> ShotEdit:
            shots = self.current_shots(state, doc)
            at = _position(shots, shot_id)
            _refuse_hand_made(shots, [s.id for s in shots[at : at + 2]], "merge")
            new = breakdown.merge_shots(shots, shot_id, doc.scene, number)
            renamed = {s.id: new[n - (n > at)].id for n, s in enumerate(shots) if n != at + 1}
            return ShotEdit(new, renamed)

        return make

    def _add_op(self, after: str | None, action: str, dialogue: str, duration_s: float, camera: str) -> Any:
        def make(state: ProjectState, doc: SceneDoc, number: int) -> ShotEdit:
            shots = list(self.current_shots(state, doc))
            at = len(shots) if after in (None, "") else _position(shots, str(after)) + 1
            neighbour = shots[at - 1] if at else (shots[0] if shots else None)
            try:
                shot = Shot(
                    id=f"{number}Z",
                    duration_s=duration_s,
                    action=action.strip(),
                    dialogue=dialogue.strip(),
                    camera=camera.strip() or "INSERT",
                    setting=neighbour.setting if neighbour else "",
                )
            except ValidationError as exc:
                raise BadInput(validation_message("new shot", exc)) from exc
            if not shot.action and not shot.dialogue:
                raise BadInput("the new shot needs an action (what the camera sees) or a line of dialogue")
            new = breakdown.relabel([*shots[:at], shot, *shots[at:]], number)
            renamed = {s.id: new[n + (n >= at)].id for n, s in enumerate(shots)}
            return ShotEdit(new, renamed)

        return make

    def _delete_op(self, shot_id: str) -> Any:
        def make(state: ProjectState, doc: SceneDoc, number: int) -> ShotEdit:
            shots = list(self.current_shots(state, doc))
            at = _position(shots, shot_id)
            if len(shots) == 1:
                raise BadInput(
                    f"shot {shot_id} is the only shot of scene {number}: a scene needs at least one "
                    "shot, so edit this one instead of deleting it"
                )
            new = breakdown.relabel([*shots[:at], *shots[at + 1 :]], number)
            renamed = {s.id: new[n - (n > at)].id for n, s in enumerate(shots) if n != at}
            return ShotEdit(new, renamed, dropped=(shots[at],))

        return make

    def _move_op(self, shot_id: str, position: int) -> Any:
        def make(state: ProjectState, doc: SceneDoc, number: int) -> ShotEdit:
            shots = list(self.current_shots(state, doc))
            at = _position(shots, shot_id)
            if not 1 <= int(position) <= len(shots):
                raise BadInput(f"a shot of this scene can move to positions 1 to {len(shots)}, not {position}")
            if int(position) == at + 1:
                raise Conflict(f"shot {shot_id} is at position {position} already")
            order = [s for n, s in enumerate(shots) if n != at]
            order.insert(int(position) - 1, shots[at])
            new = breakdown.relabel(order, number)
            renamed = {old.id: new[order.index(old)].id for old in shots}
            return ShotEdit(new, renamed)

        return make

    def _shot_op(self, op: str, shot_id: str | None, **args: Any) -> tuple[Any, str, str]:
        """(maker, commit message, action) of a shot list operation."""
        if op != "add" and not shot_id:
            raise BadInput("choose a shot")
        if op == "split":
            return self._split_op(str(shot_id)), f"Split shot {shot_id}", "split_shot"
        if op == "merge":
            return self._merge_op(str(shot_id)), f"Merge shot {shot_id} with the next", "merge_shots"
        if op == "add":
            where = f"after {shot_id}" if shot_id else "at the end"
            maker = self._add_op(shot_id, args.get("action", ""), args.get("dialogue", ""),
                                 float(args.get("duration_s", 3.0)), args.get("camera", ""))
            return maker, f"Add a shot {where}", "add_shot"
        if op == "delete":
            return self._delete_op(str(shot_id)), f"Delete shot {shot_id}", "delete_shot"
        if op == "move":
            position = int(args.get("position", 0))
            return self._move_op(str(shot_id), position), f"Move shot {shot_id} to position {position}", "move_shot"
        raise BadInput(f"unknown shot list operation {op!r}: split, merge, add, delete or move")

    def preview_shot_edit(
        self, project_ref: str, scene_ref: str | int, op: str, shot_id: str | None = None, **args: Any
    ) -> pipeline.Impact:
        """What a shot list operation (split, merge, add, delete, move) would make outdated,
        before it is confirmed: scenes that become Outdated or continuity-broken, with the
        work they hold, and in ``notes`` the shots whose prompts, frames or clips go or
        follow them under a new id, and script lines that would leave the film."""
        state = self._ws.state(project_ref)
        doc = state.scene(scene_ref)
        make, _, _ = self._shot_op(op, shot_id, **args)
        new_doc, edit = self._shot_edit(state, doc.scene.id, make)
        after = state.model_copy(update={"scenes": {**state.scenes, doc.scene.id: new_doc}})
        impact = pipeline.impact(state, after)
        lost, notes = _shot_notes(doc, edit)
        return replace(impact, notes=tuple(notes), lost=tuple(lost))

    def split_shot(self, project_ref: str, scene_ref: str | int, shot_id: str) -> CommitRow:
        make, message, action = self._shot_op("split", shot_id)
        return self._save_shots(project_ref, scene_ref, make, message, action)

    def merge_shots(self, project_ref: str, scene_ref: str | int, shot_id: str) -> CommitRow:
        make, message, action = self._shot_op("merge", shot_id)
        return self._save_shots(project_ref, scene_ref, make, message, action)

    def add_shot(
        self, project_ref: str, scene_ref: str | int, action: str, *, after: str | None = None,
        dialogue: str = "", duration_s: float = 3.0, camera: str = "",
    ) -> CommitRow:
        """Add a shot the breakdown did not cut (an insert, a cutaway) after ``after`` (at
        the end when None); the shots after it are re-lettered and keep their work."""
        make, message, kind = self._shot_op(
            "add", after, action=action, dialogue=dialogue, duration_s=duration_s, camera=camera
        )
        return self._save_shots(project_ref, scene_ref, make, message, kind)

    def delete_shot(self, project_ref: str, scene_ref: str | int, shot_id: str) -> CommitRow:
        """Delete a shot (refused for a scene's only shot); its prompts, frames and clips go."""
        make, message, action = self._shot_op("delete", shot_id)
        return self._save_shots(project_ref, scene_ref, make, message, action)

    def move_shot(self, project_ref: str, scene_ref: str | int, shot_id: str, position: int) -> CommitRow:
        """Move a shot to ``position`` (1-based); ids are re-lettered in the new order and
        each shot's prompts, frames and clips follow it."""
        make, message, action = self._shot_op("move", shot_id, position=position)
        return self._save_shots(project_ref, scene_ref, make, message, action)

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
                raise BadInput(validation_message("scene asset edit", exc)) from exc
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

    def asset_drawer(self, project_ref: str, scene_ref: str | int) -> AssetDrawer:
        """What stage 8 can bring into a scene its text does not name: the global library
        (assets promoted in any project), this project's assets seen in earlier scenes,
        and its other assets."""
        state = self._ws.state(project_ref)
        doc = state.scene(scene_ref)
        here = {a.id for a in continuity.scene_assets(state, doc.scene)}
        # Earlier scenes by the assets' recorded mentions and picks (not by reading every
        # earlier scene again: the page runs this on each rerun, on long scripts too).
        before: set[str] = set()
        picked_before: set[str] = set()
        for earlier_doc in state.ordered_scenes():
            if earlier_doc.scene.id == doc.scene.id:
                break
            before.add(earlier_doc.scene.id)
            picked_before.update(earlier_doc.work.extra_assets)
        earlier = {
            a.id: a for a in state.assets.assets
            if a.id not in here and (a.id in picked_before or before.intersection(a.mentions))
        }
        others = tuple(a for a in state.assets.assets if a.id not in here and a.id not in earlier)
        names = {(a.kind, a.name.casefold()) for a in state.assets.assets if a.id in here}
        library = tuple(
            g for g in _global_assets(self.store)
            if g.id not in here and (g.kind, g.name.casefold()) not in names
        )
        return AssetDrawer(library, tuple(earlier.values()), others, doc.work.extra_assets)

    def _pick_into_scene(self, project_ref: str, scene_ref: str | int, message: str,
                         make: Any) -> CommitRow:
        """Bring an asset into a scene: ``make(state) -> (asset id, the asset to add to the
        project or None)``; the scene's visual state must be editable."""
        scene_id = self._ws.state(project_ref).scene(scene_ref).scene.id

        def compute(state: ProjectState) -> dict[str, BaseModel]:
            self._ws.require(state, Stage.VISUAL_STATE, scene_id)
            asset_id, new_asset = make(state)
            changes: dict[str, BaseModel] = {}
            if new_asset is not None:
                changes["assets"] = self._with_asset(state.assets, new_asset)
                state = state.model_copy(update={"assets": changes["assets"]})
            doc = state.scenes[scene_id]
            if asset_id in {a.id for a in continuity.scene_assets(state, doc.scene)}:
                name = state.assets.get(asset_id).name  # type: ignore[union-attr]
                raise Conflict(f"{name} is in this scene already")
            work = doc.work.model_copy(update={"extra_assets": doc.work.extra_assets + (asset_id,)})
            changes[scene_key(scene_id)] = doc.model_copy(update={"work": work})
            return changes

        return self._ws.commit(project_ref, compute, message, action="visual_state")

    def _keyed(self, state: ProjectState, asset: Asset) -> Asset:
        """An asset added from stage 8, with an image key (drawn in the style when it has
        none) and locked, so the stage 5 gate stays locked."""
        if not asset.image_key:
            style = self.style_pack(state.assets.style_pack)
            if style is None:
                raise GateClosed("choose a visual style first: image keys are drawn in the style")
            media = self._render_card(asset.kind.value, asset.name, asset.description, style, asset.id)
            asset = asset.model_copy(update={"image_key": media})
        return asset.model_copy(update={"locked": True})

    def pick_scene_asset(self, project_ref: str, scene_ref: str | int, asset_id: str) -> CommitRow:
        """Bring one of this project's assets (say, one from an earlier scene) into a scene
        whose text does not name it."""

        def make(state: ProjectState) -> tuple[str, Asset | None]:
            if state.assets.get(asset_id) is None:
                raise NotFound(f"no asset {asset_id!r} in this project")
            return asset_id, None

        return self._pick_into_scene(project_ref, scene_ref, f"Bring {asset_id} into the scene", make)

    def pick_global_asset(self, project_ref: str, scene_ref: str | int, global_id: str) -> CommitRow:
        """Use a global-library asset (promoted in any project) in this scene: it joins
        this project's assets, with its image key, and enters the scene."""
        found = next((g for g in _global_assets(self.store) if g.id == global_id), None)
        if found is None:
            raise NotFound(f"the global library has no asset {global_id!r}")

        def make(state: ProjectState) -> tuple[str, Asset | None]:
            if state.assets.get(found.id) is not None:
                return found.id, None  # already in the project: only the scene needs it
            twin = next((a for a in state.assets.assets
                         if a.kind is found.kind and a.name.casefold() == found.name.casefold()), None)
            if twin is not None:
                raise Conflict(
                    f"this project has its own {found.kind.value} {twin.name!r}: pick it from this "
                    "project's assets instead"
                )
            asset = Asset(id=found.id, kind=found.kind, name=found.name, description=found.description,
                          image_key=found.image_key, source="global")
            return found.id, self._keyed(state, asset)

        return self._pick_into_scene(project_ref, scene_ref, f"Use global asset {found.name} in the scene", make)

    def add_scene_asset(self, project_ref: str, scene_ref: str | int, kind: AssetKind | str, name: str,
                        description: str = "") -> CommitRow:
        """Make an asset for this scene only (an image key is drawn in the style and it is
        locked, so the stage 5 gate stays locked)."""
        kind = _asset_kind(kind)
        cleaned = _check_asset_name(name)

        def make(state: ProjectState) -> tuple[str, Asset | None]:
            asset = self._new_asset(state, kind, cleaned, description)
            return asset.id, self._keyed(state, asset)

        return self._pick_into_scene(project_ref, scene_ref, f"Scene-only {kind.value} {cleaned}", make)

    def unpick_scene_asset(self, project_ref: str, scene_ref: str | int, asset_id: str) -> CommitRow:
        """Take an asset picked into a scene out of it again (assets its text names stay)."""
        scene_id = self._ws.state(project_ref).scene(scene_ref).scene.id

        def compute(state: ProjectState) -> dict[str, BaseModel]:
            self._ws.require(state, Stage.VISUAL_STATE, scene_id)
            doc = state.scenes[scene_id]
            if asset_id not in doc.work.extra_assets:
                raise NotFound(f"{asset_id} was not picked into this scene (its text names it, or it is not here)")
            work = doc.work.model_copy(update={
                "extra_assets": tuple(a for a in doc.work.extra_assets if a != asset_id),
                "visual_state": tuple(v for v in doc.work.visual_state if v.asset_id != asset_id),
            })
            return {scene_key(scene_id): doc.model_copy(update={"work": work})}

        return self._ws.commit(project_ref, compute, f"Take {asset_id} out of the scene", action="visual_state")

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
        # An asset picked into the scene in stage 8 that no shot names is in every shot.
        shown = {a.asset_id for chosen in by_shot.values() for a in chosen}
        extra = [a for a in assets if a.asset_id in doc.work.extra_assets and a.asset_id not in shown]
        if extra:
            by_shot = {shot_id: [*chosen, *extra] for shot_id, chosen in by_shot.items()}
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


def _asset_kind(kind: AssetKind | str) -> AssetKind:
    try:
        return AssetKind(kind)
    except ValueError:
        raise BadInput(
            f"{str(kind)!r} is not a kind of asset: choose character, location or prop"
        ) from None


def _check_asset_name(name: str) -> str:
    problem = name_problem(name, "an asset name")
    if problem:
        raise BadInput(problem)
    return clean_name(name)


def _follow_shots(work: Any, renamed: dict[str, str]) -> Any:
    """A scene's per-shot work after its shots were re-lettered: each entry follows its shot
    to the new id; the entries of a shot that is gone are dropped."""
    def keep(items: Sequence[Any]) -> tuple[Any, ...]:
        return tuple(i.model_copy(update={"shot_id": renamed[i.shot_id]}) for i in items if i.shot_id in renamed)

    return work.model_copy(update={
        "prompts": keep(work.prompts),
        "frames": keep(work.frames),
        "clips": keep(work.clips),
        "seed_overrides": {renamed[k]: v for k, v in work.seed_overrides.items() if k in renamed},
        "review": tuple(
            r.model_copy(update={"shot_id": renamed.get(r.shot_id)}) if r.shot_id else r for r in work.review
        ),
    })


def _shot_notes(doc: SceneDoc, edit: ShotEdit) -> tuple[list[str], list[str]]:
    """The preview's sentences about this scene's own shots: (what is lost, other notes)."""
    work = doc.work
    lost: list[str] = []
    notes: list[str] = []
    held: dict[str, list[str]] = {}
    for what, items in (("prompts", work.prompts), ("frames", work.frames), ("clips", work.clips)):
        for item in items:
            held.setdefault(item.shot_id, [])
            if what not in held[item.shot_id]:
                held[item.shot_id].append(what)
    renamed = edit.renamed or {}
    if edit.renamed is not None:
        for shot_id, what in held.items():
            if shot_id not in renamed:
                lost.append(f"Shot {shot_id}'s {_and(what)} are dropped.")
    for shot in edit.dropped:
        text = " ".join(part for part in (shot.action, shot.dialogue) if part.strip())
        if text:
            shown = text if len(text) <= 120 else text[:117].rstrip() + "…"
            lost.append(f"Shot {shot.id}'s script text leaves the film: “{shown}”")
    moved = [(old, new) for old, new in renamed.items() if old != new]
    if moved:
        pairs = ", ".join(f"{old} → {new}" for old, new in moved[:6])
        more = f" and {len(moved) - 6} more" if len(moved) > 6 else ""
        follow = "; their prompts, frames and clips follow them" if any(old in held for old, _ in moved) else ""
        notes.append(f"Shots are re-lettered: {pairs}{more}{follow}.")
    if work.shots_lock is not None:
        notes.append("This scene's shot list is locked: the change makes it Outdated until you lock it again.")
    return lost, notes


def _and(items: Sequence[str]) -> str:
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _global_assets(store: Any) -> list[GlobalAsset]:
    from datetime import datetime

    return [
        GlobalAsset(
            id=r["id"], kind=AssetKind(r["kind"]), name=r["name"], description=r["description"],
            image_key=r["image_key"], origin_project=r["origin_project"],
            origin_branch=r["origin_branch"], created_at=datetime.fromisoformat(r["created_at"]),
        )
        for r in store.global_asset_rows()
    ]


def _position(shots: Sequence[Shot], shot_id: str) -> int:
    for n, shot in enumerate(shots):
        if shot.id == shot_id:
            return n
    known = ", ".join(s.id for s in shots) or "none"
    raise NotFound(f"there is no shot {shot_id} in this scene (shots: {known})")


def _refuse_hand_made(shots: Sequence[Shot], ids: Sequence[str], verb: str) -> None:
    """Split and merge re-cut the script text a shot holds; a shot added by hand holds none."""
    for shot in shots:
        if shot.id in ids and not shot.element_refs and (shot.action.strip() or shot.dialogue.strip()):
            raise BadInput(
                f"shot {shot.id} was added by hand and holds no script text, so it cannot be "
                f"{'split' if verb == 'split' else 'merged'}: edit it in the table, or delete it"
            )
