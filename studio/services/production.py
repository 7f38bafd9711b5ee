"""Production services (stages 10-12): anchor frames, the cost & VRAM gate, video and review.
One of the services :class:`studio.services.Studio` gathers.

Rendering is asynchronous: these services build :class:`RenderSpec` jobs and hand them to the
durable render queue (a port; ``render/`` implements it); a worker process renders them and
publishes outputs with a done marker; :meth:`sync_renders` brings finished outputs into the
project as a commit. Nothing renders before "Confirm & render" (stage 11) except anchor
frames, which are cheap by design.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from studio import continuity, pipeline
from studio.assets import action_paragraphs, character_colour
from studio.errors import BackendUnavailable, BadInput, Conflict, GateClosed, NotFound
from studio.model import (
    AssetKind,
    Clip,
    Frame,
    PostSpec,
    ProjectState,
    RenderCharacter,
    RenderSpec,
    ReviewNote,
    SceneDoc,
    Shot,
    Stage,
)
from studio.objects import canonical_json, sha256_hex
from studio.ports import DriftCheck, GpuProbe, GpuSnapshot, JobInfo, RenderQueue
from studio.services.planning import PlanningService
from studio.services.workspace import Workspace
from studio.store import CommitRow
from studio.timeline import VaultEntry, scene_key

FrameMode = Literal["quick", "control"]


ROUTES = {"success": 6, "visual": 10, "narrative": 7, "audio": 7}


@dataclass(frozen=True)
class ShotFrames:
    """Stage 10 row: a shot's anchor frames and the jobs making them."""

    shot: Shot
    start: Frame | None
    end: Frame | None
    needs_end: bool
    jobs: tuple[JobInfo, ...] = ()

    @property
    def complete(self) -> bool:
        start_ok = self.start is not None and self.start.approved
        end_ok = not self.needs_end or (self.end is not None and self.end.approved)
        return start_ok and end_ok


@dataclass(frozen=True)
class FramesView:
    scene_id: str
    mode: FrameMode | None
    rows: tuple[ShotFrames, ...]
    locked: bool
    next_control: tuple[str, str] | None  # (shot id, which) Control mode renders next


@dataclass(frozen=True)
class ShotCost:
    """One clip of the stage 11 estimate: the frames it starts from decide the model."""

    shot_id: str
    frames: str  # "start + end" or "start only"
    model: str
    seconds: float
    gpu_seconds: float
    vram_mb: float


@dataclass(frozen=True)
class BatchEstimate:
    """What a bulk action will queue, before it runs: Quick-mode anchor frames (stage 10),
    every missing image key (stage 5)."""

    what: str
    count: int
    backend: str
    preset: str
    gpu_seconds: float
    peak_vram_mb: float
    wall_seconds: float
    money: float | None

    def describe(self) -> str:
        """One line for the page, e.g. ``6 anchor frames on comfyui (fast): ~36 GPU-s, ...``."""
        if self.count == 0:
            return f"no {self.what} to make"
        if self.gpu_seconds == 0:
            cost = f"CPU only, about {self.wall_seconds:,.0f} s"
        else:
            cost = f"about {self.gpu_seconds:,.0f} GPU-seconds, {self.peak_vram_mb / 1024:.1f} GiB of VRAM"
            if self.money is not None:
                cost += f", {self.money:,.2f} at the set price"
        return f"{self.count} {self.what} on {self.backend} ({self.preset}): {cost}"


@dataclass(frozen=True)
class CostEstimate:
    """Stage 11: what rendering a scene will cost, before anything renders."""

    scene_id: str
    backend: str
    preset: str
    shots: int
    frame_pairs: int
    clip_seconds: float
    gpu_seconds: dict[str, float]
    peak_vram_mb: float
    card_vram_mb: float | None
    fits: bool
    wall_seconds: float
    money: float | None
    prompts: tuple[tuple[str, str, str], ...] = field(default_factory=tuple)
    per_shot: tuple[ShotCost, ...] = ()
    post: tuple[str, ...] = ()  # the post-processing steps chosen, in words


# Measured: the animatic draws a panel in well under a second and renders several times
# realtime (``studio bench render``); the figures the estimates use for the CPU path.
ANIMATIC_FRAME_S = 0.5
ANIMATIC_REALTIME = 3.0
# The end-frame mode runs Wan 2.2 14B first-last-frame whatever the preset (render/comfy.py).
END_FRAME_MODEL = "wan2.2-a14b flf2v"


def post_steps(interpolate: bool, upscale: bool, fps: int) -> tuple[str, ...]:
    steps = []
    if interpolate:
        steps.append(f"interpolate to {2 * fps} fps")
    if upscale:
        steps.append("upscale 2x")
    return tuple(steps)


class ProductionService:
    """Stages 10-12 over a :class:`Workspace`, reading shot lists and prompts from
    :class:`PlanningService` and rendering through the ``RenderQueue`` port."""

    def __init__(
        self,
        workspace: Workspace,
        planning: PlanningService,
        *,
        presets: Mapping[str, Mapping[str, Any]],
        render_queue: RenderQueue | None = None,
        gpu_probe: GpuProbe | None = None,
        drain_queue: Callable[[], None] | None = None,
        start_worker: Callable[[], int | None] | None = None,
        drift_check: DriftCheck | None = None,
    ) -> None:
        self._ws = workspace
        self._planning = planning
        self.settings = workspace.settings
        self.store = workspace.store
        self.timeline = workspace.timeline
        self.presets = presets
        self.render_queue = render_queue
        self.gpu_probe = gpu_probe
        self.drain_queue = drain_queue
        self.start_worker = start_worker
        self.drift_check = drift_check
        # Drift of (previous frame, start frame) media pairs: content hashes, so a measured
        # pair never changes (stage 10 showed every shot's drift, measured on each page run).
        self._drift = dict[tuple[str, str], float]()
        self._drift_by = drift_check  # the check that measured them (a new one starts afresh)

    # ------------------------------------------------------------------ helpers

    def _queue(self) -> RenderQueue:
        if self.render_queue is None:
            raise BackendUnavailable("the render queue is not configured")
        return self.render_queue

    def _preset(self, name: str) -> Mapping[str, Any]:
        try:
            return self.presets[name]
        except KeyError:
            raise BadInput(f"no preset {name!r}: choose one of {', '.join(self.presets)}") from None

    @staticmethod
    def scene_seed(project_id: str, doc: SceneDoc) -> int:
        """The scene-level seed: chosen by the user, or derived from the scene's id."""
        if doc.work.seed is not None:
            return doc.work.seed
        return int(sha256_hex(f"{project_id}:{doc.scene.id}".encode())[:8], 16) % (2**31)

    def shot_seed(self, project_id: str, doc: SceneDoc, shot_id: str) -> int:
        return doc.work.seed_overrides.get(shot_id, self.scene_seed(project_id, doc))

    def set_seed(
        self, project_ref: str, scene_ref: str | int, seed: int | None, *, shot_id: str | None = None
    ) -> CommitRow:
        """Set the scene-level seed (every shot renders with it), or override one shot's
        seed; ``None`` goes back to the derived scene seed / the scene seed."""
        if seed is not None and not 0 <= seed < 2**31:
            raise BadInput("a seed is a whole number from 0 to 2147483647")
        scene_id = self._ws.state(project_ref).scene(scene_ref).scene.id

        def compute(state: ProjectState) -> dict[str, BaseModel]:
            doc = state.scenes[scene_id]
            if shot_id is None:
                work = doc.work.model_copy(update={"seed": seed})
            else:
                if shot_id not in {s.id for s in self._planning.current_shots(state, doc)}:
                    raise NotFound(f"no shot {shot_id} in this scene")
                overrides = dict(doc.work.seed_overrides)
                if seed is None:
                    overrides.pop(shot_id, None)
                else:
                    overrides[shot_id] = seed
                work = doc.work.model_copy(update={"seed_overrides": overrides})
            return {scene_key(scene_id): doc.model_copy(update={"work": work})}

        target = f"shot {shot_id}" if shot_id else "the scene"
        return self._ws.commit(project_ref, compute, f"Seed of {target}: {seed if seed is not None else 'default'}", action="seed")

    def _characters(self, state: ProjectState, scene_id: str) -> tuple[RenderCharacter, ...]:
        characters = []
        for resolved in continuity.resolve_visual_state(state, scene_id):
            asset = resolved.asset
            if asset.kind is not AssetKind.CHARACTER:
                continue
            image = resolved.state.image_key or asset.image_key
            characters.append(
                RenderCharacter(
                    name=asset.name,
                    colour=character_colour(asset.id),
                    condition_tags=tuple(resolved.state.condition_tags),
                    image_key_path=str(self.store.media_path(image)) if image else None,
                )
            )
        return tuple(characters)

    def _spec(
        self,
        project_id: str,
        state: ProjectState,
        doc: SceneDoc,
        shot: Shot,
        *,
        kind: Literal["frame", "clip"],
        which: Literal["start", "end"] | None,
        preset: str,
        inputs: dict[str, str],
        prompts_by_shot: Mapping[str, Any],
        start_s: float,
        region_prompt: str | None = None,
    ) -> RenderSpec:
        size = self._preset(preset)
        prompt_set = prompts_by_shot.get(shot.id)
        prompts = (
            {"frame": prompt_set.frame_prompt, "video": prompt_set.video_prompt,
             "system": prompt_set.system_prompt}
            if prompt_set is not None else {}
        )
        return RenderSpec(
            kind=kind,
            project_id=project_id,
            scene_id=doc.scene.id,
            shot_id=shot.id,
            which=which,
            preset=preset,
            seed=self.shot_seed(project_id, doc, shot.id),
            width=int(size["width"]),
            height=int(size["height"]),
            fps=int(size.get("fps", 24)),
            duration_s=shot.duration_s,
            start_s=start_s,
            shot=shot,
            scene_heading=doc.scene.heading,
            int_ext=doc.scene.int_ext.value,
            location=doc.scene.location,
            time_of_day=doc.scene.time_of_day,
            scene_action=scene_action(doc.scene),
            style=self._planning.style_pack(state.assets.style_pack),
            characters=self._characters(state, doc.scene.id),
            prompts=prompts,
            inputs=inputs,
            region_prompt=region_prompt,
        )

    def _enqueue(self, spec: RenderSpec, backend: str) -> JobInfo:
        # The same request from two tabs (same spec) is one job.
        key = sha256_hex(canonical_json([backend, spec.model_dump(mode="json")]))
        job = self._queue().enqueue(spec, backend=backend, idempotency_key=key)
        if self.start_worker is not None:
            self.start_worker()
        return job

    def _media_path(self, media_id: str | None) -> str | None:
        return str(self.store.media_path(media_id)) if media_id else None

    @staticmethod
    def _latest(frames: Sequence[Frame], shot_id: str, which: str) -> Frame | None:
        found = [f for f in frames if f.shot_id == shot_id and f.which == which]
        return found[-1] if found else None

    def previous_end(self, state: ProjectState, doc: SceneDoc, index: int, shots: Sequence[Shot]) -> Frame | None:
        """The frame a shot's start continues from: the previous shot's end (or start, for a
        start-frame-only shot), or the previous scene's last one."""
        frames = doc.work.frames
        if index > 0:
            prev = shots[index - 1]
            return self._latest(frames, prev.id, "start" if prev.start_frame_only else "end")
        ordered = state.ordered_scenes()
        position = [d.scene.id for d in ordered].index(doc.scene.id)
        if position == 0:
            return None
        before = ordered[position - 1]
        approved = [f for f in before.work.frames if f.approved]
        return approved[-1] if approved else None

    # ------------------------------------------------------------------ stage 10

    def set_frame_mode(self, project_ref: str, scene_ref: str | int, mode: FrameMode) -> CommitRow:
        """Stage 10 starts with a required choice: Quick (bulk) or Control (sequential)."""
        if mode not in ("quick", "control"):
            raise BadInput("frame mode must be 'quick' or 'control'")
        scene_id = self._ws.state(project_ref).scene(scene_ref).scene.id

        def compute(state: ProjectState) -> dict[str, BaseModel]:
            self._ws.require(state, Stage.FRAMES, scene_id)
            doc = state.scenes[scene_id]
            work = doc.work.model_copy(update={"frame_mode": mode})
            return {scene_key(scene_id): doc.model_copy(update={"work": work})}

        return self._ws.commit(project_ref, compute, f"Frame mode: {mode}", action="frame_mode")

    def frames_view(self, project_ref: str, scene_ref: str | int) -> FramesView:
        state = self._ws.state(project_ref)
        doc = state.scene(scene_ref)
        shots = self._planning.current_shots(state, doc)
        jobs = self.render_jobs(project_ref, doc.scene.id) if self.render_queue else []
        rows = []
        next_control: tuple[str, str] | None = None
        for shot in shots:
            start = self._latest(doc.work.frames, shot.id, "start")
            end = self._latest(doc.work.frames, shot.id, "end")
            row = ShotFrames(
                shot=shot,
                start=start,
                end=end,
                needs_end=not shot.start_frame_only,
                jobs=tuple(j for j in jobs if j.shot_id == shot.id and j.kind == "frame"),
            )
            rows.append(row)
            if next_control is None and not row.complete:
                if start is None or not start.approved:
                    next_control = (shot.id, "start")
                else:
                    next_control = (shot.id, "end")
        return FramesView(
            scene_id=doc.scene.id,
            mode=doc.work.frame_mode,
            rows=tuple(rows),
            locked=pipeline.stage_locked(state, Stage.FRAMES, doc.scene.id),
            next_control=next_control,
        )

    def frame_drift(self, project_ref: str, scene_ref: str | int) -> dict[str, float | None]:
        """Per shot, the continuity drift of its start frame against the frame it continues
        from; None where there is nothing to compare or no drift check is configured."""
        state = self._ws.state(project_ref)
        doc = state.scene(scene_ref)
        shots = self._planning.current_shots(state, doc)
        result: dict[str, float | None] = {}
        for index, shot in enumerate(shots):
            start = self._latest(doc.work.frames, shot.id, "start")
            previous = self.previous_end(state, doc, index, shots)
            if self.drift_check is None or start is None or previous is None:
                result[shot.id] = None
                continue
            pair = (previous.media, start.media)
            if self._drift_by is not self.drift_check:
                self._drift.clear()
                self._drift_by = self.drift_check
            if pair not in self._drift:
                if len(self._drift) > 10_000:
                    self._drift.clear()
                self._drift[pair] = round(
                    float(self.drift_check.drift(self.store.get_media(previous.media), self.store.get_media(start.media))), 3
                )
            result[shot.id] = self._drift[pair]
        return result

    def render_frames(
        self,
        project_ref: str,
        scene_ref: str | int,
        *,
        shot_id: str | None = None,
        which: Literal["start", "end"] | None = None,
        backend: str | None = None,
        preset: str = "fast",
        variation: bool = False,
    ) -> list[JobInfo]:
        """Queue anchor frames. Quick: every missing frame at once. Control: only the next
        one in order (a start frame is approved before its end frame is made).

        ``variation`` (with ``shot_id``) asks for a different take of a shot that already has
        frames: the same inputs and seed always give the same frame, so the shot gets a new
        seed of its own (recorded, so the take stays reproducible)."""
        project = self._ws.project(project_ref)
        if variation:
            if shot_id is None:
                raise BadInput("a new variation is asked for one shot: give the shot id")
            state = self._ws.state(project.id)
            doc = state.scene(scene_ref)
            takes = sum(f.shot_id == shot_id for f in doc.work.frames)
            seed = (self.shot_seed(project.id, doc, shot_id) + 7919 * (takes + 1)) % (2**31)
            self.set_seed(project.id, doc.scene.id, seed, shot_id=shot_id)
        state = self._ws.state(project.id)
        doc = state.scene(scene_ref)
        self._ws.require(state, Stage.FRAMES, doc.scene.id)
        mode = doc.work.frame_mode
        if mode is None:
            raise GateClosed("choose a frame mode first: Quick (bulk) or Control (sequential)")
        backend = backend or self.settings.render_backend
        shots = self._planning.current_shots(state, doc)
        view = self.frames_view(project.id, doc.scene.id)
        prompts_by_shot = {p.shot_id: p for p in self._planning.prompt_sets(project.id, doc.scene.id).prompt_sets}
        wanted: list[tuple[int, Shot, str]] = []
        if shot_id is not None:
            index = next((i for i, s in enumerate(shots) if s.id == shot_id), None)
            if index is None:
                raise NotFound(f"no shot {shot_id} in this scene")
            kinds = [which] if which else (["start", "end"] if not shots[index].start_frame_only else ["start"])
            wanted = [(index, shots[index], k) for k in kinds]
        elif mode == "control":
            if view.next_control is None:
                raise Conflict("every frame of this scene is approved")
            next_shot, next_which = view.next_control
            index = next(i for i, s in enumerate(shots) if s.id == next_shot)
            wanted = [(index, shots[index], next_which)]
        else:
            for index, (shot, row) in enumerate(zip(shots, view.rows, strict=True)):
                if row.start is None or not row.start.approved:
                    wanted.append((index, shot, "start"))
                if row.needs_end and (row.end is None or not row.end.approved):
                    wanted.append((index, shot, "end"))
        jobs = []
        starts = _start_times(shots)
        for index, shot, kind in wanted:
            if kind == "end" and shot.start_frame_only:
                raise BadInput(f"shot {shot.id} is start-frame-only: it has no end frame")
            inputs: dict[str, str] = {}
            if kind == "start":
                previous = self.previous_end(state, doc, index, shots)
                if previous is not None:
                    inputs["reference"] = self._media_path(previous.media) or ""
            else:
                start = self._latest(doc.work.frames, shot.id, "start")
                if mode == "control" and (start is None or not start.approved):
                    raise GateClosed(f"approve shot {shot.id}'s start frame before its end frame (Control mode)")
                if start is not None:
                    inputs["reference"] = self._media_path(start.media) or ""
            spec = self._spec(
                project.id, state, doc, shot, kind="frame", which=kind, preset=preset,
                inputs={k: v for k, v in inputs.items() if v}, prompts_by_shot=prompts_by_shot,
                # The same timing as the shot's clip spec, so the clip recognises its anchors.
                start_s=starts[shot.id],
            )
            jobs.append(self._enqueue(spec, backend))
        return jobs

    def region_edit(
        self, project_ref: str, scene_ref: str | int, shot_id: str, which: Literal["start", "end"],
        mask_png: bytes, prompt: str, *, backend: str | None = None, preset: str = "fast",
    ) -> JobInfo:
        """Re-render part of a frame: a mask (white = change) and a prompt for that region."""
        if not mask_png.startswith(b"\x89PNG"):
            raise BadInput("the mask must be a PNG image (white where the frame should change)")
        if len(prompt.strip()) < 3:
            raise BadInput("describe what the masked region should show")
        project = self._ws.project(project_ref)
        state = self._ws.state(project.id)
        doc = state.scene(scene_ref)
        self._ws.require(state, Stage.FRAMES, doc.scene.id)
        shots = self._planning.current_shots(state, doc)
        shot = next((s for s in shots if s.id == shot_id), None)
        if shot is None:
            raise NotFound(f"no shot {shot_id} in this scene")
        frame = self._latest(doc.work.frames, shot_id, which)
        if frame is None:
            raise NotFound(f"shot {shot_id} has no {which} frame to edit yet")
        mask = self.store.put_media(mask_png, "image/png")
        prompts_by_shot = {p.shot_id: p for p in self._planning.prompt_sets(project.id, doc.scene.id).prompt_sets}
        spec = self._spec(
            project.id, state, doc, shot, kind="frame", which=which, preset=preset,
            inputs={"image": self._media_path(frame.media) or "", "mask": self._media_path(mask) or ""},
            prompts_by_shot=prompts_by_shot, start_s=_start_times(shots)[shot_id],
            region_prompt=prompt.strip(),
        )
        return self._enqueue(spec, backend or self.settings.render_backend)

    def approve_frame(
        self, project_ref: str, scene_ref: str | int, shot_id: str, which: Literal["start", "end"],
        approved: bool = True,
    ) -> CommitRow:
        scene_id = self._ws.state(project_ref).scene(scene_ref).scene.id

        def compute(state: ProjectState) -> dict[str, BaseModel]:
            self._ws.require(state, Stage.FRAMES, scene_id)
            doc = state.scenes[scene_id]
            frame = self._latest(doc.work.frames, shot_id, which)
            if frame is None:
                raise NotFound(f"shot {shot_id} has no {which} frame yet: render it first")
            if approved and which == "end" and doc.work.frame_mode == "control":
                start = self._latest(doc.work.frames, shot_id, "start")
                if start is None or not start.approved:
                    raise GateClosed(f"approve shot {shot_id}'s start frame first (Control mode)")
            frames = tuple(
                f.model_copy(update={"approved": approved}) if f is frame else f for f in doc.work.frames
            )
            work = doc.work.model_copy(update={"frames": frames})
            return {scene_key(scene_id): doc.model_copy(update={"work": work})}

        verb = "Approve" if approved else "Reject"
        return self._ws.commit(project_ref, compute, f"{verb} {which} frame of {shot_id}", action="approve_frame")

    def lock_frames(self, project_ref: str, scene_ref: str | int) -> CommitRow:
        scene_id = self._ws.state(project_ref).scene(scene_ref).scene.id

        def compute(state: ProjectState) -> dict[str, BaseModel]:
            self._ws.require(state, Stage.FRAMES, scene_id)
            if pipeline.stage_locked(state, Stage.FRAMES, scene_id):
                raise Conflict("the anchor frames are locked already")
            doc = state.scenes[scene_id]
            shots = self._planning.current_shots(state, doc)
            missing = []
            for shot in shots:
                start = self._latest(doc.work.frames, shot.id, "start")
                end = self._latest(doc.work.frames, shot.id, "end")
                if start is None or not start.approved:
                    missing.append(f"{shot.id} start")
                if not shot.start_frame_only and (end is None or not end.approved):
                    missing.append(f"{shot.id} end")
            if missing:
                raise GateClosed("approve every anchor frame first: missing " + ", ".join(missing[:6]))
            record = pipeline.lock_record(state, scene_id, "Lock anchor frames", "frames")
            work = doc.work.model_copy(update={"frames_lock": record})
            return {scene_key(scene_id): doc.model_copy(update={"work": work})}

        vault = [VaultEntry(Stage.FRAMES, "anchor frames", "Locked anchor frames", key=scene_key(scene_id), scene_id=scene_id)]
        return self._ws.commit(project_ref, compute, "Lock anchor frames", action="lock_frames", vault=vault)

    # ------------------------------------------------------------------ jobs -> project

    def render_jobs(self, project_ref: str, scene_id: str | None = None) -> list[JobInfo]:
        project = self._ws.project(project_ref)
        jobs = self._queue().jobs(project.id)
        return [j for j in jobs if scene_id is None or j.scene_id == scene_id]

    def cancel_job(self, job_id: str) -> JobInfo:
        return self._queue().cancel(job_id)

    def sync_renders(self, project_ref: str) -> int:
        """Bring finished render outputs into the project (one commit); returns how many."""
        project = self._ws.project(project_ref)
        done = [j for j in self._queue().jobs(project.id) if j.status == "done" and j.outputs]
        if not done:
            return 0
        ingested = 0

        def is_new(doc: SceneDoc, job: JobInfo) -> bool:
            known = {f.job_id for f in doc.work.frames} | {c.manifest for c in doc.work.clips}
            seen = job.id in known or f"job:{job.id}" in known
            # An identical request is one job (idempotency), so a scene cut again from
            # unchanged clips gets the earlier assembly back.
            return not seen or (job.kind == "assemble" and doc.work.assembled is None)

        current = self._ws.state(project.id)
        fresh = sum(1 for j in done if (d := current.scenes.get(j.scene_id)) is not None and is_new(d, j))

        artifacts: list[VaultEntry] = []  # what the commit brings in, for the vault

        def compute(state: ProjectState) -> dict[str, BaseModel]:
            nonlocal ingested
            changes: dict[str, BaseModel] = {}
            artifacts.clear()  # a lost race computes again
            ingested = 0
            for job in done:
                doc = changes.get(scene_key(job.scene_id)) or state.scenes.get(job.scene_id)
                if doc is None or not is_new(doc, job):
                    continue
                updated = self._ingest(project.id, doc, job)
                if updated is not None:
                    changes[scene_key(job.scene_id)] = updated
                    ingested += 1
                    artifacts.extend(render_artifact(job, updated))
            if not changes:
                raise _NothingNew
            return changes

        try:
            self._ws.commit(
                project.id, compute, f"Bring in {fresh} finished render(s)", action="renders",
                vault=lambda _state: list(artifacts),
            )
        except _NothingNew:
            return 0
        self._queue_assembly(project.id)
        return ingested

    def _ingest(self, project_id: str, doc: SceneDoc, job: JobInfo) -> SceneDoc | None:
        paths = [Path(p) for p in job.outputs]
        work = doc.work
        if job.kind == "frame":
            png = next((p for p in paths if p.suffix == ".png"), None)
            if png is None or job.shot_id is None:
                return None
            media = self.store.put_media(png.read_bytes(), "image/png")
            which = job.which or ("end" if png.stem.endswith("_end") else "start")
            frame = Frame(
                shot_id=job.shot_id, which=which, media=media,
                seed=self.shot_seed(project_id, doc, job.shot_id), job_id=job.id,
                manifest=job.manifest, backend=job.backend, region_prompt=job.region_prompt,
            )
            return doc.model_copy(update={"work": work.model_copy(update={"frames": work.frames + (frame,)})})
        if job.kind == "clip":
            mp4 = next((p for p in paths if p.suffix == ".mp4"), None)
            if mp4 is None or job.shot_id is None:
                return None
            media = self.store.put_media(mp4.read_bytes(), "video/mp4")
            shot = next((s for s in work.shots if s.id == job.shot_id), None)
            version = 1 + sum(c.shot_id == job.shot_id for c in work.clips)
            clip = Clip(
                shot_id=job.shot_id, media=media, duration_s=shot.duration_s if shot else 1.0,
                seed=self.shot_seed(project_id, doc, job.shot_id), manifest=f"job:{job.id}", version=version,
            )
            return doc.model_copy(update={"work": work.model_copy(update={"clips": work.clips + (clip,)})})
        if job.kind == "assemble":
            mp4 = next((p for p in paths if p.suffix == ".mp4"), None)
            if mp4 is None:
                return None
            media = self.store.put_media(mp4.read_bytes(), "video/mp4")
            clips = work.clips
            if f"job:{job.id}" not in {c.manifest for c in clips}:
                clips += (Clip(shot_id="scene", media=media, duration_s=1.0, seed=0, manifest=f"job:{job.id}"),)
            return doc.model_copy(update={"work": work.model_copy(update={"assembled": media, "clips": clips})})
        return None

    def latest_clips(self, doc: SceneDoc) -> dict[str, Clip]:
        clips: dict[str, Clip] = {}
        for clip in doc.work.clips:
            if clip.shot_id != "scene":
                clips[clip.shot_id] = clip
        return clips

    def _queue_assembly(self, project_id: str) -> None:
        """Once every shot of a confirmed scene has a clip, cut the scene together."""
        state = self._ws.state(project_id)
        for doc in state.ordered_scenes():
            if doc.work.render_confirmed is None or doc.work.assembled is not None:
                continue
            shots = self._planning.current_shots(state, doc)
            clips = self.latest_clips(doc)
            if not shots or any(s.id not in clips for s in shots):
                continue
            spec = RenderSpec(
                kind="assemble", project_id=project_id, scene_id=doc.scene.id, seed=0,
                inputs={f"clip_{i}": str(self.store.media_path(clips[s.id].media)) for i, s in enumerate(shots)},
                # What the shot list expects of each clip: a truncated one is refused.
                expected_s={f"clip_{i}": s.duration_s for i, s in enumerate(shots)},
                prompts={f"label_clip_{i}": f"shot {s.id}" for i, s in enumerate(shots)},
                scene_heading=doc.scene.heading,
            )
            self._enqueue(spec, "animatic")

    def assemble_film(self, project_ref: str) -> JobInfo:
        """Cut every scene's assembled video into one film, in script order."""
        project = self._ws.project(project_ref)
        state = self._ws.state(project.id)
        scenes = state.ordered_scenes()
        missing = [str(n) for n, d in enumerate(scenes, 1) if not d.work.assembled]
        if not scenes or missing:
            raise GateClosed("every scene needs its assembled video first (missing: scenes " + ", ".join(missing) + ")")
        spec = RenderSpec(
            kind="assemble", project_id=project.id, scene_id="film", seed=0,
            inputs={f"clip_{i}": str(self.store.media_path(d.work.assembled)) for i, d in enumerate(scenes) if d.work.assembled},
            expected_s={
                f"clip_{i}": round(sum(s.duration_s for s in self._planning.current_shots(state, d)), 3)
                for i, d in enumerate(scenes)
            },
            prompts={f"label_clip_{i}": f"scene {i + 1}" for i in range(len(scenes))},
            scene_heading=state.script.title if state.script else project.name,
        )
        return self._enqueue(spec, "animatic")

    def film_output(self, project_ref: str, job_id: str) -> Path:
        """The published film file of a finished film-assembly job."""
        job = next((j for j in self.render_jobs(project_ref, "film") if j.id == job_id), None)
        if job is None:
            raise NotFound(f"no film job {job_id}")
        if job.status != "done":
            raise Conflict(f"the film is not ready: job {job_id} is {job.status} {job.message}".strip())
        mp4 = next((Path(p) for p in job.outputs if p.endswith(".mp4")), None)
        if mp4 is None:
            raise NotFound("the film job published no video")
        return mp4

    # ------------------------------------------------------------------ stage 11

    def _money(self, gpu_seconds: float) -> float | None:
        price = self.settings.price_per_gpu_hour
        return round(gpu_seconds / 3600 * price, 2) if price is not None else None

    def render_estimate(
        self, project_ref: str, scene_ref: str | int, *, backend: str | None = None, preset: str = "fast",
        interpolate: bool = False, upscale: bool = False,
    ) -> CostEstimate:
        """GPU-seconds, peak VRAM against the card, wall time and money for a scene's clips:
        per shot, for the model that shot will really run — a start+end-frame shot runs the
        first-last-frame model, a start-frame-only shot the preset's image-to-video model."""
        state = self._ws.state(project_ref)
        doc = state.scene(scene_ref)
        backend = backend or self.settings.render_backend
        shots = self._planning.current_shots(state, doc)
        table = self._preset(preset)
        clip_seconds = round(sum(s.duration_s for s in shots), 1)
        pairs = sum(not s.start_frame_only for s in shots)
        per_shot = []
        for shot in shots:
            end_frame = not shot.start_frame_only
            if backend == "animatic":
                model, rate, vram = "animatic (CPU)", 0.0, 0.0
            elif end_frame:
                model = END_FRAME_MODEL
                rate = float(table.get("clip_end_frame_gpu_s_per_s", table["clip_gpu_s_per_s"]))
                vram = float(table.get("clip_end_frame_vram_mb", table["clip_vram_mb"]))
            else:
                model = f"{table.get('video_model', 'video model')} i2v"
                rate, vram = float(table["clip_gpu_s_per_s"]), float(table["clip_vram_mb"])
            per_shot.append(ShotCost(
                shot_id=shot.id, frames="start + end" if end_frame else "start only", model=model,
                seconds=shot.duration_s, gpu_seconds=round(shot.duration_s * rate, 1), vram_mb=vram,
            ))
        if backend == "animatic":
            gpu = {"animatic (CPU)": 0.0}
            peak = 0.0
            wall = clip_seconds / ANIMATIC_REALTIME
        else:
            gpu_s = sum(c.gpu_seconds for c in per_shot)
            gpu = {backend: round(gpu_s, 1)}
            peak = max((c.vram_mb for c in per_shot), default=0.0)
            wall = gpu_s
        snapshot = self.gpu_probe.snapshot() if self.gpu_probe else GpuSnapshot(available=False)
        card = snapshot.total_mb if snapshot.available else None
        fits = peak == 0 or (card is not None and peak <= card)
        view = self._planning.prompt_sets(project_ref, doc.scene.id)
        prompts = tuple((p.shot_id, p.frame_prompt, p.video_prompt) for p in view.prompt_sets)
        return CostEstimate(
            scene_id=doc.scene.id, backend=backend, preset=preset, shots=len(shots), frame_pairs=pairs,
            clip_seconds=clip_seconds, gpu_seconds=gpu, peak_vram_mb=peak, card_vram_mb=card,
            fits=fits, wall_seconds=round(wall, 1), money=self._money(sum(gpu.values())), prompts=prompts,
            per_shot=tuple(per_shot), post=post_steps(interpolate, upscale, int(table.get("fps", 24))),
        )

    def _batch(self, what: str, count: int, backend: str, preset: str) -> BatchEstimate:
        table = self._preset(preset)
        if backend == "animatic":
            gpu_s, vram, wall = 0.0, 0.0, count * ANIMATIC_FRAME_S
        else:
            gpu_s = count * float(table["frame_gpu_s"])
            vram, wall = (float(table["frame_vram_mb"]) if count else 0.0), gpu_s
        return BatchEstimate(
            what=what, count=count, backend=backend, preset=preset, gpu_seconds=round(gpu_s, 1),
            peak_vram_mb=vram, wall_seconds=round(wall, 1), money=self._money(gpu_s),
        )

    def frames_estimate(
        self, project_ref: str, scene_ref: str | int, *, backend: str | None = None, preset: str = "fast"
    ) -> BatchEstimate:
        """What Quick mode's bulk "render every frame" queues (the same frames
        :meth:`render_frames` would: each missing or unapproved start frame, and end frame
        where the shot has one), before it runs."""
        view = self.frames_view(project_ref, scene_ref)
        count = 0
        for row in view.rows:
            count += row.start is None or not row.start.approved
            count += row.needs_end and (row.end is None or not row.end.approved)
        return self._batch("anchor frames", count, backend or self.settings.render_backend, preset)

    def image_keys_estimate(self, project_ref: str) -> BatchEstimate:
        """What making every missing image key (stage 5) costs: the cards are drawn by the
        frame renderer in this process (the CPU animatic), one per unlocked asset without one."""
        state = self._ws.state(project_ref)
        count = sum(1 for a in state.assets.assets if not a.locked and a.image_key is None)
        return self._batch("image keys", count, "animatic", "fast")

    def confirm_render(
        self, project_ref: str, scene_ref: str | int, *, backend: str | None = None, preset: str = "fast",
        interpolate: bool = False, upscale: bool = False,
    ) -> list[JobInfo]:
        """"Confirm & render": lock the confirmation and queue a clip for every shot.

        ``interpolate`` / ``upscale`` (opt-in; a preset may suggest them) post-process each
        clip after it renders: interpolation to twice the preset's frame rate, a 2x upscale.
        The worker records each step in the clip's manifest and keeps the clip as rendered
        when a step fails (out of memory included)."""
        project = self._ws.project(project_ref)
        state = self._ws.state(project.id)
        doc = state.scene(scene_ref)
        scene_id = doc.scene.id
        self._ws.require(state, Stage.CONFIRM, scene_id)
        backend = backend or self.settings.render_backend

        def compute(current: ProjectState) -> dict[str, BaseModel]:
            self._ws.require(current, Stage.CONFIRM, scene_id)
            scene_doc = current.scenes[scene_id]
            record = pipeline.lock_record(current, scene_id, "Confirm & render", "render confirmation")
            work = scene_doc.work.model_copy(update={"render_confirmed": record, "assembled": None})
            return {scene_key(scene_id): scene_doc.model_copy(update={"work": work})}

        extras = post_steps(interpolate, upscale, int(self._preset(preset).get("fps", 24)))
        label = ", ".join([backend, preset, *extras])
        self._ws.commit(project.id, compute, f"Confirm & render ({label})", action="confirm_render")
        post = (
            PostSpec(
                interpolate_fps=2 * int(self._preset(preset).get("fps", 24)) if interpolate else None,
                upscale=2.0 if upscale else None,
            )
            if interpolate or upscale else None
        )
        state = self._ws.state(project.id)
        doc = state.scenes[scene_id]
        shots = self._planning.current_shots(state, doc)
        prompts_by_shot = {p.shot_id: p for p in self._planning.prompt_sets(project.id, scene_id).prompt_sets}
        starts = _start_times(shots)
        jobs = []
        for index, shot in enumerate(shots):
            start = self._latest(doc.work.frames, shot.id, "start")
            end = self._latest(doc.work.frames, shot.id, "end")
            inputs = {"start_frame": self._media_path(start.media) if start else None}
            if not shot.start_frame_only and end is not None:
                inputs["end_frame"] = self._media_path(end.media)
            # A clip continues from the previous shot of its scene. The first shot of a scene
            # starts on a cut: given the previous scene's last frame, the animatic opened the
            # scene on that frame (a one-frame flash of the previous scene in the cut).
            previous = self.previous_end(state, doc, index, shots) if index > 0 else None
            if previous is not None:
                inputs["reference"] = self._media_path(previous.media)
            spec = self._spec(
                project.id, state, doc, shot, kind="clip", which=None, preset=preset,
                inputs={k: v for k, v in inputs.items() if v}, prompts_by_shot=prompts_by_shot,
                start_s=starts[shot.id],
            )
            if post is not None:
                spec = spec.model_copy(update={"post": post})
            jobs.append(self._enqueue(spec, backend))
        return jobs

    # ------------------------------------------------------------------ stage 12

    def suggest_route(self, note: str) -> Literal["success", "visual", "narrative", "audio"] | None:
        """Failure-attribution helper: which stage a reviewer's note most likely points at,
        or None when the note does not say (no signal, or an approval that also names a
        problem). "Success" only for praise with no problem word in it: "looks like a park,
        no water" names what the picture shows and that it is wrong, so it is a visual issue."""
        import re

        # What a reviewer's note says, word by word (whole words, any case). A problem word
        # ("no", "wrong", "should", "but"...) means something is amiss, so a note that has one is
        # never read as an approval; an approval needs a word of praise and no problem word.
        route_words = {
            "audio": r"audio|sounds?|sfx|music|voices?|lip[- ]?sync\w*|lips?|sync\w*|volume|loud|quiet|silen\w+|mute\w*",
            "narrative": r"story|plot|script|dialogue|lines?|beats?|pacing|pace|order|sequence|missing shots?|"
                         r"too (?:long|short|early|late|slow|fast)|timing|ending|beginning",
            "visual": r"faces?|identity|colou?rs?|flicker\w*|style|frames?|costumes?|coat|dress|hair|clothes|wardrobe|"
                      r"wet|dry|props?|light\w*|dark\w*|bright\w*|shadows?|drift\w*|looks?(?: like)?|background|"
                      r"setting|location|place|sky|water|sea|ocean|river|lake|rain\w*|snow|park|lawn|grass|trees?|"
                      r"street|room|jetty|pier|boat|car|night|day|sun\w*|blur\w*|glitch\w*|warp\w*|morph\w*|"
                      r"jitter\w*|artefacts?|artifacts?|camera|framing|composition|angle|image|picture|off-model",
        }
        praise_words = r"good|great|lovely|perfect|approved?|fine|nice|excellent|beautiful|love|works|ok|okay|spot on|ship it|yes"
        problem_words = (r"no|not|never|nothing|none|wrong|missing|miss\w*|lacks?|lacking|without|instead|should|"
                         r"shouldn't|too|off|bad|ugly|broken|problem\w*|issues?|fix\w*|but|however|\w+n't|cannot|fails?|failed|weird|"
                         r"strange|odd|mismatch\w*|different|changes?|jumps?|pops?|less|more|needs?")
        # Praise that reads like a problem word: "no notes", "nothing to fix".
        all_clear = r"no (?:notes?|problems?|issues?|complaints?|changes?)|nothing (?:wrong|to (?:fix|change))"

        def count(pattern: str, text: str) -> int:
            return len(re.findall(rf"(?<![\w'-])(?:{pattern})(?![\w'-])", text))

        text = " ".join(note.lower().replace("’", "'").split())
        clear = count(all_clear, text)
        text = re.sub(all_clear, " ", text)
        scores = {k: count(pattern, text) for k, pattern in route_words.items()}
        praise, problem = count(praise_words, text) + clear, count(problem_words, text)
        if problem == 0 and praise > 0:
            return "success"
        best = max(scores, key=lambda k: scores[k])  # ties: audio, then narrative, then visual
        if scores[best] == 0:
            return None
        if problem == 0 and sorted(scores.values())[-2] == scores[best]:
            return None  # two kinds named, nothing said to be wrong: cannot tell
        return best  # type: ignore[return-value]

    def review_scene(
        self, project_ref: str, scene_ref: str | int,
        verdict: Literal["success", "visual", "narrative", "audio"], note: str = "",
        shot_id: str | None = None,
    ) -> ReviewNote:
        """Stage 12 issue routing: success -> hub (video locked); visual -> back to anchor
        frames (10); narrative or audio -> back to the shot list (7)."""
        if verdict not in ROUTES:
            raise BadInput("verdict must be success, visual, narrative or audio")
        scene_id = self._ws.state(project_ref).scene(scene_ref).scene.id
        review = ReviewNote(verdict=verdict, note=note.strip(), routed_to=ROUTES[verdict], shot_id=shot_id)

        def compute(state: ProjectState) -> dict[str, BaseModel]:
            doc = state.scenes[scene_id]
            work = doc.work
            if doc.work.render_confirmed is None:
                raise GateClosed("nothing to review yet: confirm and render the scene first (stage 11)")
            updates: dict[str, Any] = {"review": work.review + (review,)}
            if verdict == "success":
                if work.assembled is None:
                    raise GateClosed("the scene is not cut together yet: wait for its clips")
                updates["video_lock"] = pipeline.lock_record(state, scene_id, "Video approved", "video")
            elif verdict == "visual":
                updates.update(frames_lock=None, render_confirmed=None, video_lock=None, assembled=None)
            else:
                updates.update(
                    shots_lock=None, visual_lock=None, prompts_lock=None, frames_lock=None,
                    render_confirmed=None, video_lock=None, assembled=None,
                )
            return {scene_key(scene_id): doc.model_copy(update={"work": work.model_copy(update=updates)})}

        message = f"Review: {verdict}" + (f" — {note.strip()}" if note.strip() else "")
        self._ws.commit(project_ref, compute, message[:200], action="review")
        return review


class _NothingNew(Exception):
    """Internal: every finished job was brought in already."""


def render_artifact(job: JobInfo, doc: SceneDoc) -> list[VaultEntry]:
    """The vault entry of a render just brought into ``doc``: a frame, a clip or a scene cut,
    indexed by its media file (GPU-seconds for the GPU backends; the animatic is CPU)."""
    work = doc.work
    cost = float(job.duration_s or 0.0) if job.backend != "animatic" else 0.0
    if job.kind == "frame" and work.frames and work.frames[-1].job_id == job.id:
        frame = work.frames[-1]
        label = f"Shot {frame.shot_id} {frame.which} frame" + (" (region edit)" if job.region_prompt else "")
        return [VaultEntry(Stage.FRAMES, "frame", label, scene_id=doc.scene.id, object_id=frame.media, cost_gpu_s=cost)]
    if job.kind == "clip" and work.clips and work.clips[-1].manifest == f"job:{job.id}":
        clip = work.clips[-1]
        return [VaultEntry(Stage.VIDEO, "clip", f"Shot {clip.shot_id} clip v{clip.version}",
                           scene_id=doc.scene.id, object_id=clip.media, cost_gpu_s=cost)]
    if job.kind == "assemble" and work.assembled:
        return [VaultEntry(Stage.VIDEO, "scene cut", f"Scene cut: {doc.scene.heading}",
                           scene_id=doc.scene.id, object_id=work.assembled)]
    return []


def _start_times(shots: Sequence[Shot]) -> dict[str, float]:
    starts: dict[str, float] = {}
    total = 0.0
    for shot in shots:
        starts[shot.id] = round(total, 3)
        total += shot.duration_s
    return starts


def scene_action(scene: Any) -> str:
    """The scene's action lines as one text, cut at a word to the 2,000 characters a
    render spec carries (the setting, weather and props are named early in a scene)."""
    text = " ".join(" ".join(action_paragraphs(scene)).split())
    if len(text) <= 2000:
        return text
    return text[:2000].rsplit(" ", 1)[0]
