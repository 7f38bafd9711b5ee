"""``studio demo``: the bundled sample from import to an assembled animatic film, offline.

Walks every stage through the same Studio methods the app calls: import (mode D), approve
the script, image keys and locks (stage 5), per scene shot list, visual state and prompts
(7-9), anchor frames in Quick mode (10), confirm & render (11), review (12), then cuts the
scenes into one film. Carry-forward questions are answered "carry" (the sample's Mia stays
wet after the bridge), which is what a director of that script would choose.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from studio.errors import BackendUnavailable, StudioError
from studio.model import slugify

if TYPE_CHECKING:
    from studio.services import Studio

DEMO_STYLE = "neo-noir"


@dataclass(frozen=True)
class DemoResult:
    project_id: str
    scenes: int
    shots: int
    film: Path
    scene_files: tuple[Path, ...]
    failed_jobs: tuple[str, ...]
    qa_verdict: str | None = None
    qa_run: str | None = None



def lock_phase_a(studio: Studio, pid: str, style: str) -> None:
    """Approve the script, draw and lock every asset's image key, lock the style."""
    studio.approve_script(pid)
    studio.choose_style(pid, style)
    for asset in studio.state(pid).assets.assets:
        studio.generate_image_key(pid, asset.id)
        studio.lock_asset(pid, asset.id)
    studio.lock_style(pid)


def plan_every_scene(studio: Studio, pid: str) -> list[str]:
    """Lock every scene's shot list, visual state (carrying each condition tag forward)
    and prompts, in script order; returns the scene ids."""
    scenes = [d.scene.id for d in studio.state(pid).ordered_scenes()]
    for number, scene_id in enumerate(scenes, 1):
        studio.lock_shots(pid, scene_id)
        for asset_id, tag in studio.hub(pid)[number - 1].pending_carry:
            studio.decide_carry(pid, scene_id, asset_id, tag, True)
        studio.lock_visual_state(pid, scene_id)
        studio.lock_prompts(pid, scene_id)
    return scenes

def _drain(studio: Studio) -> None:
    if studio.drain_queue is None:
        raise BackendUnavailable("the render worker is not available: install the render extras")
    studio.drain_queue()


def run_demo(
    studio: Studio,
    *,
    out_dir: Path | None = None,
    preset: str = "fast",
    say: Callable[[str], None] = lambda _m: None,
) -> DemoResult:
    """Import the sample and render it with the animatic backend; returns where it is."""
    samples = studio.list_samples()
    if not samples:
        raise StudioError(f"no bundled sample in {studio.settings.samples_dir}")
    sample = "the_long_rain.fountain" if "the_long_rain.fountain" in samples else samples[0]
    data, sheet = studio.sample(sample)
    taken = {p.name.lower() for p in studio.list_projects()}
    name, n = "The Long Rain (demo)", 2
    while name.lower() in taken:
        name, n = f"The Long Rain (demo {n})", n + 1
    project, _ = studio.new_project(name, (sample, data), asset_sheet=sheet)
    pid = project.id
    say(f"imported {sample} as project {pid}")

    lock_phase_a(studio, pid, DEMO_STYLE)
    say("stage 5: assets and style locked")

    scenes = plan_every_scene(studio, pid)
    shots = 0
    for scene_id in scenes:
        studio.set_frame_mode(pid, scene_id, "quick")
        shots += len(studio.shot_list(pid, scene_id).shots)
    say(f"stages 7-9: {len(scenes)} scenes, {shots} shots planned")

    # Anchor frames scene by scene: each scene's first start frame continues from the
    # previous scene's last approved frame, so the previous scene is finished first.
    for scene_id in scenes:
        studio.render_frames(pid, scene_id, preset=preset, backend="animatic")
        _drain(studio)
        studio.sync_renders(pid)
        for row in studio.frames_view(pid, scene_id).rows:
            studio.approve_frame(pid, scene_id, row.shot.id, "start")
            if row.needs_end:
                studio.approve_frame(pid, scene_id, row.shot.id, "end")
        studio.lock_frames(pid, scene_id)
    say("stage 10: anchor frames rendered and approved")

    for scene_id in scenes:
        studio.confirm_render(pid, scene_id, backend="animatic", preset=preset)
    _drain(studio)
    studio.sync_renders(pid)  # brings clips in and queues each scene's assembly
    _drain(studio)
    studio.sync_renders(pid)
    state = studio.state(pid)
    failed = tuple(j.id for j in studio.render_jobs(pid) if j.status == "failed")
    if failed:
        raise StudioError(f"{len(failed)} render job(s) failed; see `studio qa` and the worker log")
    for scene_id in scenes:
        studio.review_scene(pid, scene_id, "success", "Demo: accepted as rendered")
    say("stages 11-12: clips rendered, scenes cut together and approved")

    film_job = studio.assemble_film(pid)
    _drain(studio)
    film_src = studio.film_output(pid, film_job.id)
    target = Path(out_dir) if out_dir else studio.settings.exports_dir / pid
    target.mkdir(parents=True, exist_ok=True)
    film = target / f"{slugify(project.name).replace('-', '_')}_film.mp4"
    shutil.copyfile(film_src, film)
    scene_files = []
    state = studio.state(pid)
    for number, doc in enumerate(state.ordered_scenes(), 1):
        if doc.work.assembled:
            path = target / f"{slugify(project.name).replace('-', '_')}_Sc{number:02d}.mp4"
            path.write_bytes(studio.media_bytes(doc.work.assembled))
            scene_files.append(path)
    say(f"film: {film}")
    qa = None
    if studio.qa_engine is not None:
        qa = studio.run_qa(pid, kind="demo")
        say(f"QA: {qa.verdict.level} ({len(qa.rows)} metrics in run {qa.run_id})")
    return DemoResult(
        pid, len(scenes), shots, film, tuple(scene_files), (),
        qa_verdict=qa.verdict.level if qa else None, qa_run=qa.run_id if qa else None,
    )
