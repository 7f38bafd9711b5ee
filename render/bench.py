"""``studio bench render``: the animatic and scene assembly against their ffmpeg floors.

Figures, measured in one run in a temporary folder:

* animatic speed, in seconds of video per wall-second, rendering N 8-second shots (a static
  two-shot, a dolly in, a pan with an entrance, a rainy crane) at 1280x720@24 and 854x480@24,
  against ffmpeg encoding the very same frames (pre-rendered, held in memory, piped the same
  way with the same libx264 settings): the floor. Goal: >= 0.6x the floor. ffmpeg's own
  ``testsrc2`` source is timed too, as a reference for the machine.
* assembling 20 clips with ``render.post.concat`` against ``ffmpeg -f concat -c copy`` run
  directly (goal <= 1.2x), and against MoviePy's concatenation when MoviePy is importable
  (goal: ours >= 100x faster); a note says when it is not.

* queue dispatch (:func:`bench_queue`): N small keyframe jobs through the real SQLite
  queue and an in-process worker to a ComfyBackend talking to the loopback ComfyUI double
  (``tests/comfy_loopback.py`` of the checkout, 127.0.0.1 only, no per-node delay, a fake GPU
  probe with room to spare): the worker's own overhead per job (goal <= 20 ms) and the idle
  gap between one job's render and the next (goal <= 100 ms). Benches run from a checkout;
  skipped, with a note, where the double or its recorded ``object_info.json`` is missing
  (an installed wheel has no ``tests/``).

* the first job after a ComfyUI restart (:func:`bench_restart`): a keyframe through
  ``ComfyBackend`` with the client's default timings (1 s polls, a 15 s silence limit)
  right after the loopback double restarted (queue, history and every socket gone), against
  the same job on a warm server. Goal: <= 0.5 s (it took the 15 s silence limit while the
  client waited for an end marker its dropped socket had missed).

``extra`` merges further figures in. Timing lives here and in closing notes, never in
pass/fail tests.
"""

from __future__ import annotations

import math
import os
import shutil
import statistics
import subprocess
import tempfile
import time
import tomllib
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from render.animatic import AnimaticBackend, _ShotRender
from render.post import X264_ARGS, RawEncoder, concat, ffmpeg_exe, ffmpeg_version, run_ffmpeg
from studio.model import RenderCharacter, RenderSpec, Shot, ShotCharacter, StylePack
from studio.ports import GpuSnapshot

_STYLE_FILE = Path(__file__).resolve().parents[1] / "data" / "styles" / "neo-noir.toml"


def _style() -> StylePack:
    try:
        data = tomllib.loads(_STYLE_FILE.read_text(encoding="utf-8"))
        return StylePack(id="neo-noir", name=data["name"], palette=tuple(data["palette"]),
                         lighting=data.get("lighting", ""), lens=data.get("lens", ""),
                         grain=data.get("grain", ""), tags=tuple(data.get("tags", ())))
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return StylePack(id="neo-noir", name="Neo-Noir",
                         palette=("#0B0E14", "#1C2B3A", "#3E6A7A", "#C8553D", "#E8B04A", "#D9D4C7"))


_SHOTS = (
    # (shot id, camera, movement, heading, action, dialogue, cast)
    ("1D", "2-SHOT", "static", "INT. UMBRELLA SHOP - NIGHT", "",
     "OSKAR: We close at six. It is five fifty-eight.\nMIA: Then I'm early.",
     (("OSKAR", "primary"), ("MIA", "primary"))),
    ("1L", "CU", "dolly in", "INT. UMBRELLA SHOP - DAY",
     "Oskar looks at the envelope and does not touch it.", "OSKAR: Put it away. Letters keep.",
     (("OSKAR", "primary"), ("MIA", "secondary"))),
    ("1C", "MS", "pan", "INT. UMBRELLA SHOP - DAY",
     "The door bell jangles. Wind and rain shove in first, then Mia enters.", "",
     (("MIA", "primary"),)),
    ("2A", "EWS", "crane", "EXT. HARBOUR BRIDGE - DUSK",
     "Rain falls so hard it bounces off the railings. The streetlights stutter on, one by one.", "",
     (("MIA", "background"),)),
)


def bench_specs(count: int, width: int, height: int, duration_s: float = 8.0, seed: int = 7) -> list[RenderSpec]:
    """``count`` clip specs cycling through representative shots."""
    style = _style()
    cast = (RenderCharacter(name="OSKAR", colour="#66a182"),
            RenderCharacter(name="MIA", colour="#edae49", condition_tags=("wet",)))
    specs = []
    for n in range(count):
        sid, camera, movement, heading, action, dialogue, who = _SHOTS[n % len(_SHOTS)]
        sid = f"{n + 1}{sid[1:]}" if n >= len(_SHOTS) else sid
        int_ext, rest = heading.split(". ", 1)
        location, tod = rest.rsplit(" - ", 1)
        shot = Shot(id=sid, duration_s=duration_s, camera=camera, movement=movement,  # type: ignore[arg-type]
                    action=action, dialogue=dialogue, setting=heading,
                    characters=tuple(ShotCharacter(name=c, prominence=p) for c, p in who))  # type: ignore[arg-type]
        specs.append(RenderSpec(
            kind="clip", project_id="bench", scene_id="sc-1", shot_id=sid, seed=seed, width=width,
            height=height, fps=24, duration_s=duration_s, start_s=n * duration_s, shot=shot,
            scene_heading=heading, int_ext=int_ext, location=location, time_of_day=tod,
            style=style, characters=cast,
        ))
    return specs


def _noop(*_: object) -> None:
    return None


def _never() -> bool:
    return False


def _time_animatic(specs: Sequence[RenderSpec], work: Path) -> tuple[float, list[Path]]:
    backend = AnimaticBackend()
    clips = []
    started = time.perf_counter()
    for i, spec in enumerate(specs):
        out = backend.run(spec, work / f"job{i}", _noop, _never)
        clips.append(next(p for p in out.files if p.suffix == ".mp4"))
    return time.perf_counter() - started, clips


def _time_floor(specs: Sequence[RenderSpec], work: Path) -> float:
    """ffmpeg alone: the same frames, pre-rendered in memory, piped with the same settings."""
    total = 0.0
    for spec in specs:
        shot = _ShotRender.build(spec)
        frames = [f.copy() for f in shot.frames()]
        int(sum(int(f[0, 0, 0]) for f in frames))  # touch every buffer before timing
        started = time.perf_counter()
        enc = RawEncoder(work / "floor.mp4", shot.layout.width, shot.layout.height, spec.fps)
        for frame in frames:
            enc.write(frame)
        enc.close()
        total += time.perf_counter() - started
        del frames
    return total


def _time_testsrc(width: int, height: int, seconds: float, work: Path) -> float:
    started = time.perf_counter()
    run_ffmpeg(["-loglevel", "error", "-f", "lavfi", "-i",
                f"testsrc2=size={width}x{height}:rate=24:duration={seconds:g}",
                *X264_ARGS, "-f", "mp4", "-y", str(work / "testsrc.mp4")], timeout=600)
    return time.perf_counter() - started


def _direct_concat(clips: Sequence[Path], out: Path) -> float:
    listing = out.with_suffix(".txt")
    listing.write_text("".join(f"file '{c}'\n" for c in clips), encoding="utf-8")
    argv = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", "-f", "concat",
            "-safe", "0", "-i", str(listing), "-c", "copy", "-movflags", "+faststart", "-y", str(out)]
    started = time.perf_counter()
    subprocess.run(argv, check=True, timeout=600)  # noqa: S603 - argv list, our own files
    return time.perf_counter() - started


def _moviepy_concat(clips: Sequence[Path], out: Path) -> tuple[float | None, str]:
    try:
        try:
            from moviepy import VideoFileClip, concatenate_videoclips  # type: ignore[import-not-found]
        except ImportError:
            from moviepy.editor import VideoFileClip, concatenate_videoclips  # type: ignore[import-not-found,no-redef]
        import moviepy  # type: ignore[import-not-found]
    except ImportError:
        return None, "MoviePy is not installed here: its figure is skipped"
    opened = [VideoFileClip(str(c)) for c in clips]
    started = time.perf_counter()
    try:
        final = concatenate_videoclips(opened)
        final.write_videofile(str(out), codec="libx264", preset="veryfast", fps=24, audio=False,
                              ffmpeg_params=["-crf", "23", "-pix_fmt", "yuv420p"], logger=None)
    finally:
        for clip in opened:
            clip.close()
    return time.perf_counter() - started, f"MoviePy {getattr(moviepy, '__version__', '?')}"


# --------------------------------------------------------------------------- queue dispatch

QUEUE_DISPATCH_GOAL_MS = 20.0
QUEUE_GAP_GOAL_MS = 100.0


class _BigGpu:
    """A GPU probe that always has room (the benchmark times the queue, not the card)."""

    def snapshot(self) -> GpuSnapshot:
        return GpuSnapshot(available=True, name="benchmark GPU (fake probe)", total_mb=81_920.0,
                           free_mb=81_920.0)


class _TimedBackend:
    """A backend proxy recording when each ``run`` began and ended. Time spent in the
    worker's own callbacks (progress writes, cancel checks) while the backend runs is
    counted as the worker's, not the backend's."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = getattr(inner, "name", "comfyui")
        self.needs_gpu = getattr(inner, "needs_gpu", None)
        # (monotonic start, monotonic end, wall-clock start, seconds spent in callbacks)
        self.runs: list[tuple[float, float, float, float]] = []

    def run(self, spec: RenderSpec, out_dir: Path, progress: Callable[..., Any],
            cancelled: Callable[[], bool]) -> Any:
        in_callbacks = [0.0]

        def timed(fn: Callable[..., Any]) -> Callable[..., Any]:
            def call(*args: Any, **kwargs: Any) -> Any:
                began = time.monotonic()
                try:
                    return fn(*args, **kwargs)
                finally:
                    in_callbacks[0] += time.monotonic() - began
            return call

        wall, began = time.time(), time.monotonic()
        try:
            return self.inner.run(spec, out_dir, timed(progress), timed(cancelled))
        finally:
            self.runs.append((began, time.monotonic(), wall, in_callbacks[0]))


def _percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (no interpolation: a figure that was measured)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


def _ms_stats(seconds: Sequence[float]) -> dict[str, Any]:
    if not seconds:
        return {"count": 0, "median_ms": None, "p95_ms": None, "max_ms": None}
    return {
        "count": len(seconds),
        "median_ms": round(statistics.median(seconds) * 1000, 2),
        "p95_ms": round(_percentile(seconds, 95) * 1000, 2),
        "max_ms": round(max(seconds) * 1000, 2),
    }


def _stamp(iso: str | None) -> float | None:
    return datetime.fromisoformat(iso).timestamp() if iso else None


# The loopback ComfyUI is a test double: it lives in the checkout's tests/, never in the
# package, and the bench loads it from there (the tests import the same module by name).
LOOPBACK_PATH = Path(__file__).resolve().parents[1] / "tests" / "comfy_loopback.py"


def _loopback_double() -> Any | None:
    """The ``comfy_loopback`` module of this checkout's tests, or None outside a checkout."""
    import importlib.util
    import sys

    if "comfy_loopback" in sys.modules:
        return sys.modules["comfy_loopback"]
    if not LOOPBACK_PATH.is_file():
        return None
    spec = importlib.util.spec_from_file_location("comfy_loopback", LOOPBACK_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["comfy_loopback"] = module
    spec.loader.exec_module(module)
    return module


def bench_queue(jobs: int = 20, *, poll_s: float | None = None) -> dict[str, Any]:
    """Queue dispatch against the loopback ComfyUI: ``jobs`` keyframes (256x256, preset
    fast, distinct seeds) enqueued on a fresh ``studio.db``, then one in-process worker
    (``run_worker(..., once=True)``) takes them all. ``poll_s`` overrides the worker's poll
    interval (None: its default). Returns the figures, or ``{"skipped": why}`` when the
    recorded ``object_info.json`` the double serves is not on this machine."""
    from render.comfy import ComfyBackend
    from render.worker import WorkerOptions, open_queue, run_worker
    from studio.config import Settings

    loopback = _loopback_double()
    if loopback is None:
        return {"jobs": jobs, "skipped": f"{LOOPBACK_PATH} is missing (benches run from a "
                "source checkout), so the loopback ComfyUI cannot start"}
    if not loopback.OBJECT_INFO_PATH.is_file():
        return {"jobs": jobs, "skipped": f"{loopback.OBJECT_INFO_PATH} is missing, so the "
                "loopback ComfyUI cannot start"}
    running = loopback.running
    default_poll = WorkerOptions().poll_s
    options = WorkerOptions() if poll_s is None else WorkerOptions(poll_s=poll_s)
    size = 256
    with tempfile.TemporaryDirectory(prefix="studio-bench-queue-") as tmp, \
            running(node_delay=0.0, gpu=True) as server:
        settings = Settings(home=Path(tmp), llm_backend="offline", comfyui_url=server.url)
        queue = open_queue(settings)
        backend = ComfyBackend(server.url)
        timed = _TimedBackend(backend)
        try:
            for i in range(jobs):
                queue.enqueue(RenderSpec(
                    kind="frame", project_id="bench", scene_id="sc-1", shot_id=f"Q{i + 1}",
                    which="start", seed=1000 + i, width=size, height=size, preset="fast",
                    prompts={"frame": f"a lighthouse keeper at dusk, take {i + 1}"},
                ), backend="comfyui")
            began = time.monotonic()
            run_worker(settings, {"comfyui": timed}, _BigGpu(), once=True, queue=queue,
                       options=options)
            wall = time.monotonic() - began
            records = queue.records("bench")
        finally:
            backend.client.close()
            queue.close()
        server_runs = sorted(
            (server.started_at[pid], server.finished_at[pid])
            for pid in server.started if pid in server.finished_at
        )
    done = [r for r in records if r.status == "done"]
    runs = sorted(timed.runs)
    inside = sum(end - start - cb for start, end, _, cb in runs)
    # Per job: claimed -> finished on the queue's clock (ms stamps) minus its time in the
    # backend. Runs pair with records in queue order when every job ran exactly once.
    per_job: list[float] = []
    record_gaps: list[float] = []
    if len(done) == len(records) == len(runs):
        for record, (start, end, _, cb) in zip(records, runs, strict=True):
            claimed, finished = _stamp(record.claimed_at), _stamp(record.finished_at)
            if claimed is not None and finished is not None:
                per_job.append(max(0.0, finished - claimed - (end - start - cb)))
        for prev, nxt in zip(records, records[1:], strict=False):
            finished, started = _stamp(prev.finished_at), _stamp(nxt.started_at)
            if finished is not None and started is not None:
                record_gaps.append(max(0.0, started - finished))
    gaps = [b[0] - a[1] for a, b in zip(runs, runs[1:], strict=False)]
    server_gaps = [b[0] - a[1] for a, b in zip(server_runs, server_runs[1:], strict=False)]
    mean_s = (wall - inside) / max(1, jobs)
    dispatch = {"mean_ms": round(mean_s * 1000, 2), **_ms_stats(per_job),
                "goal": f"<= {QUEUE_DISPATCH_GOAL_MS:g} ms", "ok": mean_s * 1000 <= QUEUE_DISPATCH_GOAL_MS}
    gap = _ms_stats(gaps)
    gap.update(
        goal=f"<= {QUEUE_GAP_GOAL_MS:g} ms at p95",
        ok=bool(gaps) and gap["p95_ms"] <= QUEUE_GAP_GOAL_MS,
        records_median_ms=_ms_stats(record_gaps)["median_ms"],
        records_max_ms=_ms_stats(record_gaps)["max_ms"],
    )
    if options.poll_s == default_poll:
        note = ("not on the path between queued jobs: the worker claims the next job as soon "
                "as one ends and waits a poll only when none is runnable")
    else:
        note = "used only when no job is runnable"
    return {
        "jobs": jobs,
        "job": f"keyframe {size}x{size} fast",
        "done": len(done),
        "worker_wall_s": round(wall, 3),
        "backend_s": round(inside, 3),
        "dispatch": dispatch,
        "gap": gap,
        "server_gap": _ms_stats(server_gaps),
        "worker": {"poll_s": options.poll_s, "default_poll_s": default_poll, "poll_note": note},
    }


RESTART_GOAL_S = 0.5


def bench_restart(restarts: int = 3) -> dict[str, Any]:
    """The first job after each of ``restarts`` restarts of the loopback ComfyUI, and the
    same job on a warm server; ``{"skipped": why}`` outside a checkout."""
    from render.comfy import ComfyBackend

    loopback = _loopback_double()
    if loopback is None or not loopback.OBJECT_INFO_PATH.is_file():
        return {"restarts": restarts, "skipped": "the loopback ComfyUI double (tests/comfy_loopback.py "
                "and its recorded object_info.json) is not in this checkout"}
    with tempfile.TemporaryDirectory(prefix="studio-bench-restart-") as tmp, \
            loopback.running(node_delay=0.0, gpu=True) as server:
        backend = ComfyBackend(server.url)  # the client's default timings

        def job(n: int) -> float:
            spec = RenderSpec(kind="frame", project_id="bench", scene_id="sc-1", shot_id=f"R{n}",
                              which="start", seed=5000 + n, width=256, height=256, preset="fast",
                              prompts={"frame": f"a lighthouse keeper at dusk, take {n}"})
            began = time.monotonic()
            backend.run(spec, Path(tmp) / f"job{n}", _noop, _never)
            return time.monotonic() - began

        try:
            job(0)  # object_info read, socket open: what a worker has after its first job
            steady = [job(1 + i) for i in range(max(1, restarts))]
            after = []
            for i in range(max(1, restarts)):
                server.restart()
                after.append(job(100 + i))
        finally:
            backend.client.close()
    worst = max(after)
    return {
        "restarts": len(after),
        "first_after_restart_s": [round(t, 3) for t in after],
        "max_s": round(worst, 3),
        "steady_median_s": round(statistics.median(steady), 3),
        "client": {"poll_interval_s": backend.client.poll_interval, "silence_s": backend.client.silence_s},
        "goal": f"<= {RESTART_GOAL_S:g} s",
        "ok": worst <= RESTART_GOAL_S,
    }


def bench_render(
    *,
    shots: int = 4,
    duration_s: float = 8.0,
    sizes: Sequence[tuple[int, int]] = ((1280, 720), (854, 480)),
    concat_clips: int = 20,
    repeats: int = 3,
    moviepy: bool = True,
    queue_jobs: int = 20,
    restarts: int = 3,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run the render benchmark (``queue_jobs=0`` leaves the queue figures out,
    ``restarts=0`` the ComfyUI restart figure); ``extra`` is merged in."""
    figures: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "ffmpeg": ffmpeg_version(), "opencv": cv2.__version__,
                    "numpy": np.__version__},
        "animatic": {},
    }
    if queue_jobs > 0:
        figures["queue"] = bench_queue(queue_jobs)
    if restarts > 0:
        figures["comfy_restart"] = bench_restart(restarts)
    with tempfile.TemporaryDirectory(prefix="studio-bench-render-") as tmp:
        work = Path(tmp)
        last_clips: list[Path] = []
        for width, height in sizes:
            specs = bench_specs(shots, width, height, duration_s)
            video_s = shots * duration_s
            anim_times, floor_times = [], []
            for r in range(max(1, repeats)):
                run_dir = work / f"{width}x{height}-{r}"
                run_dir.mkdir()
                wall, clips = _time_animatic(specs, run_dir)
                anim_times.append(wall)
                floor_times.append(_time_floor(specs, run_dir))
                last_clips = clips
            anim = statistics.median(anim_times)
            floor = statistics.median(floor_times)
            testsrc = _time_testsrc(width, height, video_s, work)
            figures["animatic"][f"{width}x{height}"] = {
                "shots": shots, "video_s": video_s, "frames": round(video_s * 24),
                "animatic_wall_s": round(anim, 3), "animatic_x_realtime": round(video_s / anim, 2),
                "floor_wall_s": round(floor, 3), "floor_x_realtime": round(video_s / floor, 2),
                "ratio_to_floor": round(floor / anim, 2), "goal": ">= 0.6", "ok": floor / anim >= 0.6,
                "testsrc2_x_realtime": round(video_s / testsrc, 2),
            }
        # scene assembly: 20 clips (the last size's animatic clips, cycled, as separate files)
        assembly = work / "assembly"
        assembly.mkdir()
        clips = []
        for i in range(concat_clips):
            target = assembly / f"clip{i:02d}.mp4"
            shutil.copyfile(last_clips[i % len(last_clips)], target)
            clips.append(target)
        ours_t, direct_t = [], []
        result = None
        for r in range(max(1, repeats)):
            started = time.perf_counter()
            result = concat(clips, assembly / f"ours{r}.mp4", roots=[assembly])
            ours_t.append(time.perf_counter() - started)
            direct_t.append(_direct_concat(clips, assembly / f"direct{r}.mp4"))
        ours, direct = statistics.median(ours_t), statistics.median(direct_t)
        assembled = {
            "clips": concat_clips, "video_s": round(result.duration_s, 2) if result else None,
            "size": f"{sizes[-1][0]}x{sizes[-1][1]}", "stream_copy": bool(result and result.stream_copy),
            "ours_s": round(ours, 3), "ffmpeg_concat_copy_s": round(direct, 3),
            "ratio_to_ffmpeg": round(ours / direct, 2), "goal": "<= 1.2", "ok": ours / direct <= 1.2,
        }
        if moviepy:
            mp_time, note = _moviepy_concat(clips, assembly / "moviepy.mp4")
            assembled["moviepy_note"] = note
            if mp_time is not None:
                assembled["moviepy_s"] = round(mp_time, 2)
                assembled["moviepy_over_ours"] = round(mp_time / ours, 1)
                assembled["moviepy_goal"] = ">= 100x"
                assembled["moviepy_ok"] = mp_time / ours >= 100
        figures["concat"] = assembled
    figures.update(extra or {})
    return figures


def format_figures(figures: dict[str, Any]) -> str:
    """The figures as the CLI prints them."""
    m = figures.get("machine", {})
    lines = [f"render benchmark ({m.get('cpus')} CPUs, ffmpeg {m.get('ffmpeg')}, OpenCV {m.get('opencv')})"]
    for size, f in figures.get("animatic", {}).items():
        lines.append(
            f"  animatic {size}@24: {f['animatic_x_realtime']}x realtime ({f['shots']} shots, "
            f"{f['video_s']:g} s of video in {f['animatic_wall_s']} s); ffmpeg alone on the same frames "
            f"{f['floor_x_realtime']}x -> {f['ratio_to_floor']}x the floor (goal {f['goal']}: "
            f"{'ok' if f['ok'] else 'MISSED'}); ffmpeg testsrc2 {f['testsrc2_x_realtime']}x"
        )
    c = figures.get("concat")
    if c:
        lines.append(
            f"  assemble {c['clips']} clips ({c['video_s']} s, {c['size']}, "
            f"{'stream copy' if c['stream_copy'] else 're-encoded'}): {c['ours_s']} s vs ffmpeg -f concat "
            f"-c copy {c['ffmpeg_concat_copy_s']} s -> {c['ratio_to_ffmpeg']}x (goal {c['goal']}: "
            f"{'ok' if c['ok'] else 'MISSED'})"
        )
        if "moviepy_s" in c:
            lines.append(
                f"  {c['moviepy_note']}: {c['moviepy_s']} s -> ours is {c['moviepy_over_ours']}x faster "
                f"(goal {c['moviepy_goal']}: {'ok' if c['moviepy_ok'] else 'MISSED'})"
            )
        elif "moviepy_note" in c:
            lines.append(f"  {c['moviepy_note']}")
    q = figures.get("queue")
    if q:
        lines.extend(_format_queue(q))
    r = figures.get("comfy_restart")
    if r:
        lines.append(_format_restart(r))
    for key, value in figures.items():
        if key not in ("machine", "animatic", "concat", "queue", "comfy_restart"):
            lines.append(f"  {key}: {value}")
    return "\n".join(lines)


def _format_queue(q: dict[str, Any]) -> list[str]:
    if "skipped" in q:
        return [f"  queue dispatch: skipped — {q['skipped']}"]
    d, g = q["dispatch"], q["gap"]
    w = q["worker"]
    poll = (
        f"worker poll {w['poll_s']:g} s (the default)"
        if w["poll_s"] == w["default_poll_s"]
        else f"worker poll set to {w['poll_s']:g} s for this run (default {w['default_poll_s']:g} s)"
    )
    lines = [
        f"  queue dispatch: {q['jobs']} {q['job']} jobs through SQLite + an in-process worker to "
        f"ComfyBackend -> loopback ComfyUI at 127.0.0.1 (no node delay, fake GPU probe); "
        f"{q['done']}/{q['jobs']} done in {q['worker_wall_s']} s, {q['backend_s']} s of it inside "
        f"backend.run",
        f"    dispatch overhead per job: {d['mean_ms']} ms ((worker wall - time in backend.run) / "
        f"{q['jobs']}, start-up and shut-down included); per job (claimed -> finished minus its "
        f"backend.run): median {d['median_ms']} ms, p95 {d['p95_ms']} ms, max {d['max_ms']} ms "
        f"(goal {d['goal']}: {'ok' if d['ok'] else 'MISSED'})",
        f"    idle gap between jobs (one backend.run ends -> the next begins, {g['count']} gaps): "
        f"median {g['median_ms']} ms, p95 {g['p95_ms']} ms, max {g['max_ms']} ms (goal {g['goal']}: "
        f"{'ok' if g['ok'] else 'MISSED'}); queue records finished_at -> next started_at: median "
        f"{g['records_median_ms']} ms, max {g['records_max_ms']} ms",
    ]
    s = q.get("server_gap")
    if s:
        lines.append(
            f"    ComfyUI idle between prompts (the server's view: adds the client's download, "
            f"upload, preflight and queue round trips): median {s['median_ms']} ms, p95 "
            f"{s['p95_ms']} ms, max {s['max_ms']} ms"
        )
    lines.append(f"    {poll}: {w['poll_note']}")
    return lines


def _format_restart(r: dict[str, Any]) -> str:
    if "skipped" in r:
        return f"  first job after a ComfyUI restart: skipped — {r['skipped']}"
    c = r["client"]
    return (
        f"  first job after a ComfyUI restart (keyframe 256x256 through ComfyBackend -> loopback "
        f"ComfyUI, client defaults: {c['poll_interval_s']:g} s polls, {c['silence_s']:g} s silence "
        f"limit): max {r['max_s']} s over {r['restarts']} restarts {r['first_after_restart_s']}; "
        f"the same job on a warm server {r['steady_median_s']} s (goal {r['goal']}: "
        f"{'ok' if r['ok'] else 'MISSED'})"
    )
