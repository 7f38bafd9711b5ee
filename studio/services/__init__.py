"""The Studio facade: the verbs the UI, the CLI and notebooks call.

Each area of the product is a service that receives its collaborators explicitly (InvokeAI's
``Invoker(services)``): intake, script, history, planning (stages 5-9), production (stages
10-12), quality (QA) and health, all standing on one :class:`Workspace`. The facade builds
them once and only gathers them; each flat verb below is the same method of the service that
owns it, so the pages and the CLI keep calling ``studio.split_shot(...)``.

Every verb is one user action or one read; each validates its input, raises a
:class:`StudioError` with a sentence a person can act on, and either commits a complete new
state or writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from studio.cards import PlaceholderCardRenderer
from studio.config import Settings
from studio.model import Scene
from studio.ports import (
    DriftCheck,
    FrameRenderer,
    GpuProbe,
    Probe,
    ProbeResult,
    QaEngine,
    ReferenceImages,
    RenderQueue,
    RunRecorder,
)
from studio.services.health import HealthService, SettingField
from studio.services.history import HistoryService, VaultGroup, VaultItem
from studio.services.intake import (
    ASSET_SHEET_TAG,
    ImportResult,
    IntakeService,
    ProjectSummary,
    assets_from_script,
    check_project_name,
)
from studio.services.planning import AssetChanges, AssetStateChanges, PlanningService
from studio.services.production import ProductionService
from studio.services.quality import QualityService
from studio.services.script import ScriptService
from studio.services.story import StoryService
from studio.services.workspace import Workspace
from studio.store import Store


class _Verb:
    """A facade verb: looks up the same method on the service that owns it (a descriptor, so
    ``studio.split_shot`` is the bound ``PlanningService.split_shot`` with its signature)."""

    def __init__(self, service: str, method: Callable[..., Any]) -> None:
        self.service = service
        self.method = method
        self.__doc__ = method.__doc__

    def __set_name__(self, owner: type, name: str) -> None:
        if name != self.method.__name__:
            raise TypeError(f"verb {name} must be named like {self.method.__qualname__}")

    def __get__(self, studio: Any, owner: type | None = None) -> Any:
        if studio is None:
            return self
        return getattr(getattr(studio, self.service), self.method.__name__)


class Studio:
    """One studio over one data dir. Built once by :func:`studio.wiring.build_studio`."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        *,
        presets: Mapping[str, Mapping[str, Any]],
        probes: Sequence[Probe | Callable[[], ProbeResult]] = (),
        frame_renderer: FrameRenderer | None = None,
        reference_images: ReferenceImages | None = None,
        render_queue: RenderQueue | None = None,
        gpu_probe: GpuProbe | None = None,
        drain_queue: Callable[[], None] | None = None,
        start_worker: Callable[[], int | None] | None = None,
        drift_check: DriftCheck | None = None,
        qa_engine: QaEngine | None = None,
        run_log: RunRecorder | None = None,
    ) -> None:
        self.workspace = Workspace(settings, store)
        self.settings = settings
        self.store = store
        self.timeline = self.workspace.timeline
        # Without a renderer adapter, image keys are palette placeholder cards.
        self.planning = PlanningService(
            self.workspace, frame_renderer or PlaceholderCardRenderer(), reference_images
        )
        self.production = ProductionService(
            self.workspace,
            self.planning,
            presets=presets,
            render_queue=render_queue,
            gpu_probe=gpu_probe,
            drain_queue=drain_queue,
            start_worker=start_worker,
            drift_check=drift_check,
        )
        self.quality = QualityService(
            self.workspace, self.planning, self.production, qa_engine=qa_engine, run_log=run_log
        )
        self.intake = IntakeService(self.workspace, self.planning)
        self.script = ScriptService(self.workspace)
        self.story = StoryService(self.workspace, self.planning)
        self.history = HistoryService(self.workspace)
        self.health = HealthService(self.workspace, probes)
        # What the app shell and notebooks read besides the verbs.
        self.presets = presets
        self.drain_queue = drain_queue
        self.start_worker = start_worker
        self.qa_engine = qa_engine

    # Workspace
    project = _Verb("workspace", Workspace.project)
    state = _Verb("workspace", Workspace.state)
    head = _Verb("workspace", Workspace.head)

    # IntakeService
    create_project = _Verb("intake", IntakeService.create_project)
    list_projects = _Verb("intake", IntakeService.list_projects)
    save_params = _Verb("intake", IntakeService.save_params)
    stage_file = _Verb("intake", IntakeService.stage_file)
    update_staged_file = _Verb("intake", IntakeService.update_staged_file)
    staged_text = _Verb("intake", IntakeService.staged_text)
    import_screenplay = _Verb("intake", IntakeService.import_screenplay)
    new_project = _Verb("intake", IntakeService.new_project)
    import_staged = _Verb("intake", IntakeService.import_staged)
    list_samples = _Verb("intake", IntakeService.list_samples)
    sample = _Verb("intake", IntakeService.sample)
    import_sample = _Verb("intake", IntakeService.import_sample)

    # ScriptService
    script_fountain = _Verb("script", ScriptService.script_fountain)
    preview_script_edit = _Verb("script", ScriptService.preview_script_edit)
    save_script_text = _Verb("script", ScriptService.save_script_text)
    approve_script = _Verb("script", ScriptService.approve_script)
    reopen_script = _Verb("script", ScriptService.reopen_script)
    scene_reports = _Verb("script", ScriptService.scene_reports)
    scene = _Verb("script", ScriptService.scene)
    gates = _Verb("script", ScriptService.gates)

    # StoryService
    context_for = _Verb("story", StoryService.context_for)

    # HistoryService
    log = _Verb("history", HistoryService.log)
    branches = _Verb("history", HistoryService.branches)
    create_branch = _Verb("history", HistoryService.create_branch)
    switch = _Verb("history", HistoryService.switch)
    graph = _Verb("history", HistoryService.graph)
    reflog = _Verb("history", HistoryService.reflog)
    vault = _Verb("history", HistoryService.vault)
    promote_to_global = _Verb("history", HistoryService.promote_to_global)
    global_assets = _Verb("history", HistoryService.global_assets)
    media_bytes = _Verb("history", HistoryService.media_bytes)

    # PlanningService
    style_packs = _Verb("planning", PlanningService.style_packs)
    style_pack = _Verb("planning", PlanningService.style_pack)
    extracted_assets = _Verb("planning", PlanningService.extracted_assets)
    refresh_assets = _Verb("planning", PlanningService.refresh_assets)
    edit_asset = _Verb("planning", PlanningService.edit_asset)
    add_asset = _Verb("planning", PlanningService.add_asset)
    suggested_assets = _Verb("planning", PlanningService.suggested_assets)
    delete_asset = _Verb("planning", PlanningService.delete_asset)
    merge_assets = _Verb("planning", PlanningService.merge_assets)
    upload_image_key = _Verb("planning", PlanningService.upload_image_key)
    generate_image_key = _Verb("planning", PlanningService.generate_image_key)
    generate_missing_image_keys = _Verb("planning", PlanningService.generate_missing_image_keys)
    lock_asset = _Verb("planning", PlanningService.lock_asset)
    choose_style = _Verb("planning", PlanningService.choose_style)
    lock_style = _Verb("planning", PlanningService.lock_style)
    hub = _Verb("planning", PlanningService.hub)
    decide_carry = _Verb("planning", PlanningService.decide_carry)
    shot_list = _Verb("planning", PlanningService.shot_list)
    save_shots = _Verb("planning", PlanningService.save_shots)
    split_shot = _Verb("planning", PlanningService.split_shot)
    merge_shots = _Verb("planning", PlanningService.merge_shots)
    add_shot = _Verb("planning", PlanningService.add_shot)
    delete_shot = _Verb("planning", PlanningService.delete_shot)
    move_shot = _Verb("planning", PlanningService.move_shot)
    preview_shot_edit = _Verb("planning", PlanningService.preview_shot_edit)
    reset_shots = _Verb("planning", PlanningService.reset_shots)
    lock_shots = _Verb("planning", PlanningService.lock_shots)
    rearview = _Verb("planning", PlanningService.rearview)
    visual_state = _Verb("planning", PlanningService.visual_state)
    edit_asset_state = _Verb("planning", PlanningService.edit_asset_state)
    asset_drawer = _Verb("planning", PlanningService.asset_drawer)
    pick_scene_asset = _Verb("planning", PlanningService.pick_scene_asset)
    pick_global_asset = _Verb("planning", PlanningService.pick_global_asset)
    add_scene_asset = _Verb("planning", PlanningService.add_scene_asset)
    unpick_scene_asset = _Verb("planning", PlanningService.unpick_scene_asset)
    bulk_image_keys = _Verb("planning", PlanningService.bulk_image_keys)
    lock_visual_state = _Verb("planning", PlanningService.lock_visual_state)
    prompt_sets = _Verb("planning", PlanningService.prompt_sets)
    set_target_models = _Verb("planning", PlanningService.set_target_models)
    edit_prompt = _Verb("planning", PlanningService.edit_prompt)
    resolve_prompt_edit = _Verb("planning", PlanningService.resolve_prompt_edit)
    set_start_frame_only = _Verb("planning", PlanningService.set_start_frame_only)
    lock_prompts = _Verb("planning", PlanningService.lock_prompts)

    # ProductionService
    scene_seed = _Verb("production", ProductionService.scene_seed)
    shot_seed = _Verb("production", ProductionService.shot_seed)
    set_seed = _Verb("production", ProductionService.set_seed)
    set_frame_mode = _Verb("production", ProductionService.set_frame_mode)
    frames_view = _Verb("production", ProductionService.frames_view)
    frame_drift = _Verb("production", ProductionService.frame_drift)
    render_frames = _Verb("production", ProductionService.render_frames)
    region_edit = _Verb("production", ProductionService.region_edit)
    approve_frame = _Verb("production", ProductionService.approve_frame)
    lock_frames = _Verb("production", ProductionService.lock_frames)
    render_jobs = _Verb("production", ProductionService.render_jobs)
    cancel_job = _Verb("production", ProductionService.cancel_job)
    sync_renders = _Verb("production", ProductionService.sync_renders)
    latest_clips = _Verb("production", ProductionService.latest_clips)
    assemble_film = _Verb("production", ProductionService.assemble_film)
    film_output = _Verb("production", ProductionService.film_output)
    render_estimate = _Verb("production", ProductionService.render_estimate)
    frames_estimate = _Verb("production", ProductionService.frames_estimate)
    image_keys_estimate = _Verb("production", ProductionService.image_keys_estimate)
    confirm_render = _Verb("production", ProductionService.confirm_render)
    suggest_route = _Verb("production", ProductionService.suggest_route)
    review_scene = _Verb("production", ProductionService.review_scene)

    # QualityService
    run_qa = _Verb("quality", QualityService.run_qa)
    start_qa = _Verb("quality", QualityService.start_qa)
    qa_progress = _Verb("quality", QualityService.qa_progress)
    qa_dashboard = _Verb("quality", QualityService.qa_dashboard)

    # HealthService
    doctor = _Verb("health", HealthService.doctor)
    fsck = _Verb("health", HealthService.fsck)
    settings_fields = _Verb("health", HealthService.settings_fields)
    save_settings = _Verb("health", HealthService.save_settings)
    clean_temp_media = _Verb("health", HealthService.clean_temp_media)


__all__ = [
    "ASSET_SHEET_TAG",
    "AssetChanges",
    "AssetStateChanges",
    "ImportResult",
    "ProjectSummary",
    "Scene",
    "SettingField",
    "Studio",
    "VaultGroup",
    "VaultItem",
    "Workspace",
    "assets_from_script",
    "check_project_name",
]
