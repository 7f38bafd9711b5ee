"""QA services: measure what was rendered, judge it with the one thresholds file, and record
it in the run log; one of the services :class:`studio.services.Studio` gathers. The metrics, verdicts and the
run log are adapters behind the ``QaEngine`` / ``RunRecorder`` ports (the qa/ package).
"""

from __future__ import annotations

import platform
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from studio import __version__, continuity
from studio.errors import BackendUnavailable, Corrupt, NotFound
from studio.model import AssetKind
from studio.ports import JobInfo, QaEngine, QaVerdict, RunRecorder
from studio.services.planning import PlanningService
from studio.services.production import ProductionService
from studio.services.workspace import Workspace

if TYPE_CHECKING:
    from studio.model import Project, ProjectState, SceneDoc, Shot

SEED_POLICY = "scene seed, per-shot overrides"


@dataclass(frozen=True)
class QaReport:
    """One QA run: its verdict (worst of its parts, with reasons) and every metric row. The
    verdict covers what was rendered; ``not_rendered`` says what was left out (scenes with
    no clip at all, and shots of measured scenes still without a clip)."""

    run_id: str | None
    verdict: QaVerdict
    rows: tuple[dict[str, Any], ...] = field(default_factory=tuple)
    not_rendered: tuple[str, ...] = ()


@dataclass(frozen=True)
class QaProgress:
    """A background QA run (``start_qa``) as the page sees it: ``state`` is "idle" (none
    started in this app), "running", "done" or "failed"; ``done`` of ``total`` steps (a
    shot's clip, a scene's narrative, the recording); ``report`` once done; ``error`` when
    it failed."""

    project_id: str
    state: Literal["idle", "running", "done", "failed"]
    done: int = 0
    total: int = 0
    message: str = ""
    report: QaReport | None = None
    error: str = ""
    started: float = 0.0
    finished: float = 0.0

    @property
    def fraction(self) -> float:
        return min(1.0, self.done / self.total) if self.total else 0.0


Progress = Callable[[int, int, str], None]


class QualityService:
    """Runs QA over a project's rendered scenes: shot lists and prompts from planning, clips
    and jobs from production, metrics from the ``QaEngine`` port, rows to the run log."""

    def __init__(
        self,
        workspace: Workspace,
        planning: PlanningService,
        production: ProductionService,
        *,
        qa_engine: QaEngine | None = None,
        run_log: RunRecorder | None = None,
    ) -> None:
        self._ws = workspace
        self._planning = planning
        self._production = production
        self.settings = workspace.settings
        self.store = workspace.store
        self.qa_engine = qa_engine
        self.run_log = run_log
        # Background runs (start_qa), one per project at a time; the engine measures one
        # run at a time (its caches are per run), so runs for two projects take turns.
        self._tasks = dict[str, QaProgress]()
        self._tasks_lock = threading.Lock()
        self._engine_lock = threading.Lock()

    def _engine(self) -> QaEngine:
        if self.qa_engine is None:
            raise BackendUnavailable("QA metrics are not available in this install")
        return self.qa_engine

    def _judge(self, rows: list[dict[str, Any]], metrics: dict[str, float | None], subject: str, *,
               row_subject: str | None = None, **where: Any) -> QaVerdict:
        verdict = self._engine().evaluate(metrics, subject)
        for name, value in metrics.items():
            rows.append(
                {
                    **where,
                    "subject": row_subject or subject,
                    "name": name,
                    "value": value,
                    "level": verdict.levels.get(name, "PASS"),
                    "reason": verdict.metric_reasons.get(name, ""),
                }
            )
        return verdict

    def run_qa(
        self,
        project_ref: str,
        *,
        narrative: bool = True,
        kind: str = "qa",
        record: bool = True,
        progress: Progress | None = None,
    ) -> QaReport:
        """Measure every rendered shot (coherence, flicker, frozen/black frames, cuts, format,
        bookends, continuity drift) and every rendered scene's narrative metrics; judge each
        part with the thresholds file; record the run. A run's verdict is the worst of its
        parts and covers what was rendered: a scene with no clip yet is "not rendered",
        listed beside the verdict, not in it. ``progress(done, total, message)`` is called
        after each step. The run is opened in the run log when it starts; a run that stops
        on an error is closed as interrupted."""
        engine = self._engine()
        with self._engine_lock:
            return self._run_qa(engine, project_ref, narrative=narrative, kind=kind, record=record, progress=progress)

    def _run_qa(self, engine: QaEngine, project_ref: str, *, narrative: bool, kind: str, record: bool,
                progress: Progress | None) -> QaReport:
        started = time.perf_counter()
        project = self._ws.project(project_ref)
        state = self._ws.state(project.id)
        plan: list[tuple[int, SceneDoc, list[Shot], dict[str, Any]]] = []
        not_rendered: list[str] = []
        for number, doc in enumerate(state.ordered_scenes(), 1):
            shots = list(self._planning.current_shots(state, doc))
            clips = self._production.latest_clips(doc)
            missing = [shot.id for shot in shots if shot.id not in clips]
            if len(missing) == len(shots):
                not_rendered.append(f"Scene {number} ({doc.scene.heading})" if doc.scene.heading else f"Scene {number}")
                continue
            if missing:
                not_rendered.append(f"Scene {number}: shot{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
            plan.append((number, doc, shots, clips))
        recording = record and self.run_log is not None
        measured = sum(shot.id in clips for _, _, shots, clips in plan for shot in shots)
        total = measured + (len(plan) if narrative else 0) + int(recording)
        done = 0

        def step(message: str) -> None:
            nonlocal done
            done += 1
            if progress is not None:
                progress(done, total, message)

        if progress is not None:
            progress(0, total, "starting")
        run_id = self._open_run(project, kind) if recording else None
        try:
            rows: list[dict[str, Any]] = []
            verdicts: list[QaVerdict] = []
            unreadable: list[str] = []  # what could not be decoded besides a shot's own clip
            for number, doc, shots, clips in plan:
                self._measure_scene(engine, state, number, doc, shots, clips, rows, verdicts, unreadable, step)
                if narrative and shots:
                    scene_id = doc.scene.id
                    prompt_sets = self._planning.prompt_sets(project.id, scene_id).prompt_sets
                    scene_metrics = dict(engine.narrative_metrics(doc.scene, shots, prompt_sets))
                    verdicts.append(
                        self._judge(rows, scene_metrics, f"Scene {number}", scope="scene", scene_id=scene_id, shot_id=None)
                    )
                    step(f"scene {number}: narrative")
            verdict = engine.combine(verdicts) if verdicts else QaVerdict("WARN", ("Nothing rendered to measure yet: "
                                                                                   "render a scene's clips first.",))
            if unreadable:
                verdict = QaVerdict(verdict.level, tuple(dict.fromkeys((*verdict.reasons, *unreadable))),
                                    verdict.levels, verdict.metric_reasons)
            if run_id is not None:
                self._record_run(run_id, project, rows, verdict, time.perf_counter() - started, not_rendered)
                step("recorded")
        except BaseException as exc:
            if run_id is not None and self.run_log is not None and hasattr(self.run_log, "interrupt_run"):
                self.run_log.interrupt_run(run_id, f"QA stopped: {str(exc) or type(exc).__name__}")
            raise
        return QaReport(run_id, verdict, tuple(rows), tuple(not_rendered))

    def _measure_scene(self, engine: QaEngine, state: ProjectState, number: int, doc: SceneDoc, shots: list[Shot],
                       clips: dict[str, Any], rows: list[dict[str, Any]], verdicts: list[QaVerdict],
                       unreadable: list[str], step: Callable[[str], None]) -> None:
        scene_id = doc.scene.id
        previous_clip: str | None = None
        for shot in shots:
            clip = clips.get(shot.id)
            if clip is None:
                previous_clip = None
                continue
            path = str(self.store.media_path(clip.media))
            problems: list[str] = []
            try:
                metrics: dict[str, float | None] = dict(engine.clip_metrics(path, duration_s=shot.duration_s))
            except Corrupt as exc:
                # A damaged clip is a finding about this shot, not the end of the run.
                metrics = {"readable": 0.0}
                problems.append(str(exc))
                path = ""
            metrics.pop("frames", None)
            if previous_clip and path:
                metrics["bookend_similarity"] = engine.bookend_similarity(previous_clip, path)
            try:
                drift = self._shot_drift(engine, state, doc, shots, shot)
            except (Corrupt, NotFound) as exc:
                metrics["readable"] = 0.0
                problems.append(str(exc))
                drift = None
            if drift is not None:
                # Across a cut (another framing) a start frame differs from the previous
                # end frame by design, so this has its own, looser limits than the
                # within-shot continuity_drift calibration.
                metrics["start_frame_drift"] = drift
            verdict = self._judge(rows, metrics, f"Shot {shot.id}", scope="shot", scene_id=scene_id, shot_id=shot.id)
            if problems:  # what could not be read goes with the shot's one "cannot be read" finding
                detail = "; ".join(dict.fromkeys(problems))
                verdict = QaVerdict(verdict.level, tuple(f"{r} ({detail})" if "cannot be read" in r else r
                                                         for r in verdict.reasons), verdict.levels, verdict.metric_reasons)
            verdicts.append(verdict)
            previous_clip = path or None
            step(f"shot {shot.id}")
        for name, (value, _method, worst) in self._scene_identity(engine, state, doc, shots, unreadable).items():
            verdicts.append(
                self._judge(rows, {"identity_distance": value}, f"{name} in scene {number} (worst in shot {worst})",
                            scope="character", scene_id=scene_id, shot_id=None, row_subject=name)
            )

    # ------------------------------------------------------------------ in the background

    def start_qa(self, project_ref: str, *, narrative: bool = True) -> QaProgress:
        """Start a QA run of the project in a background thread of this process and return
        its progress at once; while one runs for the project, another click returns that one
        instead of starting a second. Read it with ``qa_progress``."""
        self._engine()  # no engine: say so now, not from the thread
        project = self._ws.project(project_ref)
        with self._tasks_lock:
            current = self._tasks.get(project.id)
            if current is not None and current.state == "running":
                return current
            task = QaProgress(project.id, "running", message="waiting for another QA run to finish"
                              if self._engine_lock.locked() else "starting", started=time.time())
            self._tasks[project.id] = task

        def update(**changes: Any) -> None:
            with self._tasks_lock:
                self._tasks[project.id] = replace(self._tasks[project.id], **changes)

        def work() -> None:
            try:
                report = self.run_qa(project.id, narrative=narrative,
                                     progress=lambda done, total, message: update(done=done, total=total, message=message))
            except Exception as exc:  # noqa: BLE001 - any failure is the run's result, shown on the page
                update(state="failed", error=str(exc) or type(exc).__name__, finished=time.time())
            else:
                update(state="done", report=report, message="done", finished=time.time())

        threading.Thread(target=work, name=f"qa-{project.id}", daemon=True).start()
        return task

    def qa_progress(self, project_ref: str) -> QaProgress:
        """The project's latest background QA run in this app ("idle" when none started)."""
        project = self._ws.project(project_ref)
        with self._tasks_lock:
            return self._tasks.get(project.id) or QaProgress(project.id, "idle")

    def _scene_identity(
        self, engine: QaEngine, state: ProjectState, doc: SceneDoc, shots: Sequence[Shot], unreadable: list[str]
    ) -> dict[str, tuple[float, str, str]]:
        """Each character's identity stability in a scene: its distance to the image key it
        has in this scene (a visual-state key when stage 8 gave one, else the master key),
        measured on the latest (approved) start and end frame of every shot it is in and,
        where the key shows a face, on the faces in the shot's clip; the scene's figure is
        the worst shot's. {name: (distance, method, worst shot id)}."""
        keys = {
            r.asset.name.strip().upper(): (r.asset.name, r.state.image_key or r.asset.image_key)
            for r in continuity.resolve_visual_state(state, doc.scene.id)
            if r.asset.kind is AssetKind.CHARACTER and (r.state.image_key or r.asset.image_key)
        }
        latest: dict[tuple[str, str], str] = {}
        for approved_only in (False, True):  # the newest approved take, else the newest take
            for frame in doc.work.frames:  # later entries are newer takes
                if frame.approved or not approved_only:
                    latest[(frame.shot_id, frame.which)] = frame.media
        clips = self._production.latest_clips(doc)
        out: dict[str, tuple[float, str, str]] = {}
        for shot in shots:
            try:
                pngs = [self.store.get_media(media) for which in ("start", "end")
                        if (media := latest.get((shot.id, which)))]
            except NotFound as exc:
                unreadable.append(f"shot {shot.id}: {exc}")
                pngs = []
            clip = clips.get(shot.id)
            clip_path = str(self.store.media_path(clip.media)) if clip is not None else None
            if not pngs and clip_path is None:
                continue
            for cast in shot.characters:
                key = keys.get(cast.name.strip().upper())
                if key is None:
                    continue
                name, media = key
                try:
                    measured = engine.identity(self.store.get_media(media), pngs, name, clip=clip_path)
                except (Corrupt, NotFound) as exc:
                    unreadable.append(f"{name} in shot {shot.id}: {exc}")
                    continue
                if measured is not None and (name not in out or measured[0] > out[name][0]):
                    out[name] = (measured[0], measured[1], shot.id)
        return out

    def _shot_drift(self, engine: QaEngine, state: ProjectState, doc: SceneDoc, shots: Sequence[Shot], shot: Shot) -> float | None:
        frames = doc.work.frames
        start = next((f for f in reversed(frames) if f.shot_id == shot.id and f.which == "start"), None)
        index = [s.id for s in shots].index(shot.id)
        previous = self._production.previous_end(state, doc, index, shots)
        if start is None or previous is None:
            return None
        return float(engine.drift(self.store.get_media(previous.media), self.store.get_media(start.media)))

    def _open_run(self, project: Project, kind: str) -> str:
        log = self.run_log
        assert log is not None
        jobs = self._production.render_jobs(project.id)
        backends = sorted({j.backend for j in jobs}) or [self.settings.render_backend]
        presets = sorted({j.preset for j in jobs}) or ["fast"]
        probe = self._production.gpu_probe
        snapshot = probe.snapshot() if probe is not None else None
        return log.open_run(
            project_id=project.id,
            branch=project.active_branch,
            kind=kind,
            backend=",".join(backends),
            preset=",".join(presets),
            seed_policy=SEED_POLICY,
            app_version=__version__,
            gpu=snapshot.name if snapshot is not None and snapshot.available else "none",
            versions={"python": platform.python_version(), "studio": __version__},
        )

    def _record_run(
        self, run_id: str, project: Project, rows: list[dict[str, Any]], verdict: QaVerdict, qa_seconds: float,
        not_rendered: list[str],
    ) -> str:
        log = self.run_log
        assert log is not None
        jobs = self._production.render_jobs(project.id)
        for job in jobs:
            log.record_job(run_id, job)
        # Render time per stage, from the jobs: frames are stage 10, clips and cuts 12.
        for stage, name, kinds in ((10, "anchor frames", {"frame"}), (12, "video", {"clip", "assemble"})):
            seconds = sum(j.duration_s or 0.0 for j in jobs if j.kind in kinds)
            if seconds:
                log.record_stage(run_id, stage, name, round(seconds, 3))
        log.record_stage(run_id, 12, "qa", round(qa_seconds, 3))
        log.record_metrics(run_id, rows)
        sampled = [j for j in jobs if j.vram_samples]
        self._record_vram(log, run_id, sampled)
        # The run's peak: measured peaks of its jobs and their samples (0 for a CPU-only run).
        peaks = [r["value"] for r in rows if r["name"] == "peak_vram_mb" and r["value"] is not None]
        peaks += [j.peak_vram_mb for j in jobs if j.peak_vram_mb is not None]
        peaks += [used for j in sampled for _, used in j.vram_samples]
        peak = max(peaks, default=0.0)
        log.close_run(
            run_id,
            {
                "jobs_total": len(jobs),
                "jobs_failed": sum(j.status == "failed" for j in jobs),
                "peak_vram_mb": peak,
                "not_rendered": list(not_rendered),
            },
            verdict=verdict,
        )
        return run_id

    @staticmethod
    def _record_vram(log: RunRecorder, run_id: str, sampled: list[JobInfo]) -> None:
        """VRAM over time per job on the run's clock (t_rel_s 0 = the first job's start): the
        jobs one after another in the order they ran, each at its samples' own spacing, idle
        time between them left out so that a shot re-rendered a day later does not stretch
        the chart into two dots."""

        def began(job: JobInfo) -> float:
            try:
                return datetime.fromisoformat(job.created_at).timestamp() + (job.queue_wait_s or 0.0)
            except ValueError:
                return 0.0

        origin = float(log.run(run_id)["started_ts"]) if sampled else 0.0
        offset = 0.0
        for job in sorted(sampled, key=began):
            for t, used in job.vram_samples:
                log.record_telemetry(run_id, vram_used_mb=used, job_id=job.id, t=origin + offset + t)
            offset += max(job.vram_samples[-1][0], job.duration_s or 0.0)

    def qa_dashboard(self, project_ref: str, *, branch: str | None = None, run_id: str | None = None) -> dict[str, Any]:
        """Everything the QA dashboard charts, as plain rows from the run log: runs, metric
        rows of the chosen (default: latest) run, its jobs and VRAM samples, stage durations,
        P95 shot latency, failure reasons and verdict counts; ``scene_labels`` names each
        scene id as a reviewer reads it ("Scene 2")."""
        if self.run_log is None:
            raise BackendUnavailable("the run log is not available in this install")
        log: Any = self.run_log
        project = self._ws.project(project_ref)
        runs = log.runs(project_id=project.id, branch=branch)
        chosen = run_id or (runs[0]["id"] if runs else None)
        scenes = self._ws.state(project.id).ordered_scenes()
        return {
            "project": project.id,
            "scene_labels": {doc.scene.id: f"Scene {number}" for number, doc in enumerate(scenes, 1)},
            "branch": branch,
            "runs": runs,
            "run_id": chosen,
            "metrics": log.metrics(project_id=project.id, branch=branch) if runs else [],
            "run_metrics": log.metrics(run_id=chosen) if chosen else [],
            "jobs": log.jobs(chosen) if chosen else [],
            "telemetry": log.telemetry(chosen) if chosen else [],
            "stage_durations": log.stage_durations(project.id, branch=branch),
            "p95_shot_latency": log.p95_shot_latency(project.id, branch=branch),
            "failure_reasons": log.failure_reasons(project.id, branch=branch),
            "verdict_counts": log.verdict_counts(project.id, branch=branch),
        }
