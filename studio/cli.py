"""The ``studio`` command line: the same services as the UI (SPEC §6).

Every command takes ``--home DIR`` and ``--json``; it prints human text by default and one
JSON object with ``--json``, and exits non-zero with a one-line reason on failure.

Only the standard library and :mod:`studio.errors` load at start-up (``studio --help`` stays
fast): the studio, its models and pydantic are imported by the commands that use them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from studio.errors import BadInput, StudioError

if TYPE_CHECKING:
    from studio.services import Studio

Handler = Callable[["Studio", argparse.Namespace], tuple[Any, str]]


def _jsonable(value: Any) -> Any:
    from pydantic import BaseModel

    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if is_dataclass(value) and not isinstance(value, type):
        return _jsonable(asdict(value))
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


# --------------------------------------------------------------------------- commands


def _read_limited(path: Path, limit: int) -> bytes:
    """A file's bytes, refusing (before reading) one larger than the upload limit."""
    size = path.stat().st_size
    if size > limit:
        raise BadInput(f"{path.name} is {size:,} bytes, over the {limit:,}-byte limit")
    return path.read_bytes()


def cmd_doctor(studio: Studio, args: argparse.Namespace) -> tuple[Any, str]:
    results = studio.doctor()
    lines = [f"data dir: {studio.settings.home}"]
    for r in results:
        mark = "*" if r.active else " "
        lines.append(f"{mark} {r.name:<11} {r.state:<15} {r.detail}")
    return {"home": str(studio.settings.home), "probes": results}, "\n".join(lines)


def _script_args(studio: Studio, args: argparse.Namespace) -> tuple[tuple[str, bytes] | None, tuple[str, bytes] | None]:
    """The ``--script`` / ``--assets`` files as (name, bytes), checked before anything runs."""
    script_path: Path | None = args.script
    sheet_path: Path | None = args.assets
    if script_path is not None and not script_path.is_file():
        raise BadInput(f"no screenplay file at {script_path}")
    if sheet_path is not None and not sheet_path.is_file():
        raise BadInput(f"no asset sheet file at {sheet_path}")
    limit = studio.settings.max_upload_bytes
    script = (script_path.name, _read_limited(script_path, limit)) if script_path else None
    sheet = (sheet_path.name, _read_limited(sheet_path, limit)) if sheet_path else None
    return script, sheet


def _import_report(name: str, result: Any) -> tuple[dict[str, Any], str]:
    payload = {
        "commit": result.commit.id,
        "scenes": result.scenes,
        "characters": result.characters,
        "locations": result.locations,
        "assets": result.assets,
        "warnings": result.warnings,
    }
    text = (
        f"imported {name}: {result.scenes} scenes, "
        f"{len(result.characters)} characters ({', '.join(result.characters)}), "
        f"{len(result.locations)} locations"
    )
    text += "".join(f"\nwarning: {w}" for w in result.warnings)
    return payload, text


def cmd_new(studio: Studio, args: argparse.Namespace) -> tuple[Any, str]:
    script, sheet = _script_args(studio, args)
    project, result = studio.new_project(args.name, script, asset_sheet=sheet)
    payload: dict[str, Any] = {"project": project}
    text = f"created project {project.name} ({project.id}) on branch main"
    if script is not None and result is not None:
        payload["import"], imported = _import_report(script[0], result)
        text += "\n" + imported
    return payload, text


def cmd_import(studio: Studio, args: argparse.Namespace) -> tuple[Any, str]:
    """A screenplay into an existing project (one with no script yet, or onto --branch)."""
    script, sheet = _script_args(studio, args)
    assert script is not None  # a required argument
    project = studio.project(args.project)
    result = studio.import_screenplay(project.id, script[0], script[1], asset_sheet=sheet, new_branch=args.branch)
    payload, text = _import_report(script[0], result)
    branch = args.branch or project.active_branch
    return {"project": project.id, "branch": branch, "import": payload}, f"{text}\non branch {branch} of {project.name}"


def cmd_projects(studio: Studio, args: argparse.Namespace) -> tuple[Any, str]:
    projects = studio.list_projects()
    if not projects:
        return {"projects": []}, "no projects yet: `studio new NAME --script FILE` creates one"
    lines = [f"{'ID':<24} {'NAME':<28} {'BRANCH':<16} {'SCENES':>6} PROGRESS"]
    for p in projects:
        lines.append(f"{p.id:<24} {p.name[:28]:<28} {p.branch:<16} {p.scenes:>6} {p.progress:>7.0%}")
    return {"projects": projects}, "\n".join(lines)


def cmd_log(studio: Studio, args: argparse.Namespace) -> tuple[Any, str]:
    project = studio.project(args.project)
    commits = studio.log(project.id, args.ref, args.limit)
    lines = [f"{c.id[:10]}  {c.created_at[:19]}  {c.action or 'commit':<14} {c.message}" for c in commits]
    payload = {
        "project": project.id,
        "ref": args.ref or project.active_branch,
        "commits": [
            {
                "id": c.id,
                "parents": c.parents,
                "message": c.message,
                "action": c.action,
                "created_at": c.created_at,
            }
            for c in commits
        ],
    }
    return payload, "\n".join(lines)


def cmd_branch(studio: Studio, args: argparse.Namespace) -> tuple[Any, str]:
    project = studio.project(args.project)
    if args.name is None:
        rows = studio.branches(project.id)
        lines = [f"{'*' if r['active'] else ' '} {r['name']:<24} {r['commit_id'][:10]}" for r in rows]
        return {"project": project.id, "branches": rows}, "\n".join(lines)
    commit = studio.create_branch(project.id, args.name, args.from_ref)
    return (
        {"project": project.id, "branch": args.name, "commit": commit},
        f"created branch {args.name} at {commit[:10]} (switch with `studio switch {project.id} {args.name}`)",
    )


def cmd_switch(studio: Studio, args: argparse.Namespace) -> tuple[Any, str]:
    project = studio.project(args.project)
    result = studio.switch(project.id, args.ref)
    text = f"switched to branch {result.branch} at {result.commit[:10]}"
    if result.forked:
        text += f" (forked: {args.ref} is not a branch head, so nothing is overwritten)"
    return {"project": project.id, **asdict(result)}, text


def cmd_scenes(studio: Studio, args: argparse.Namespace) -> tuple[Any, str]:
    project = studio.project(args.project)
    state = studio.state(project.id)
    reports = studio.scene_reports(project.id)
    rows = []
    lines = [f"{'#':>3} {'STATUS':<17} {'HEADING':<44} CHARACTERS"]
    for report, doc in zip(reports, state.ordered_scenes(), strict=True):
        scene = doc.scene
        row = {
            "number": report.number,
            "id": scene.id,
            "heading": scene.heading,
            "int_ext": scene.int_ext.value,
            "location": scene.location,
            "time_of_day": scene.time_of_day,
            "characters": scene.characters,
            "status": report.status.value,
            "continuity_broken": report.continuity_broken,
            "reasons": report.reasons,
        }
        rows.append(row)
        flag = " (continuity broken)" if report.continuity_broken else ""
        lines.append(
            f"{report.number:>3} {report.status.value:<17} {scene.heading[:44]:<44} "
            f"{', '.join(scene.characters)}{flag}"
        )
    if not rows:
        lines = ["no scenes yet: import a screenplay (`studio new NAME --script FILE`)"]
    return {"project": project.id, "branch": project.active_branch, "scenes": rows}, "\n".join(lines)


def cmd_shots(studio: Studio, args: argparse.Namespace) -> tuple[Any, str]:
    project = studio.project(args.project)
    view = studio.shot_list(project.id, args.scene)
    state = "locked" if view.locked else ("saved" if view.saved else "draft (deterministic breakdown)")
    lines = [f"scene {view.number} shot list: {len(view.shots)} shots, {view.total_s:.1f} s, {state}"]
    for shot in view.shots:
        who = ", ".join(f"{c.name} ({c.prominence})" for c in shot.characters)
        lines.append(f"{shot.id:>5} {shot.duration_s:>4.1f}s {shot.camera:<10} {shot.movement:<9} {who}")
        if shot.action:
            lines.append(f"        action: {shot.action}")
        if shot.dialogue:
            lines.append(f"        dialogue: {shot.dialogue}")
    lines.extend(f"problem: {p}" for p in view.problems)
    payload = {
        "project": project.id,
        "scene": view.scene_id,
        "number": view.number,
        "status": state,
        "total_s": view.total_s,
        "shots": view.shots,
        "problems": view.problems,
    }
    return payload, "\n".join(lines)


def cmd_prompts(studio: Studio, args: argparse.Namespace) -> tuple[Any, str]:
    project = studio.project(args.project)
    view = studio.prompt_sets(
        project.id, args.scene, frame_model=args.frame_model, video_model=args.video_model
    )
    lines = [f"prompt sets for {len(view.prompt_sets)} shots ({'locked' if view.locked else 'draft'})"]
    for ps in view.prompt_sets:
        lines += [
            f"[{ps.shot_id}] frame prompt (drives the anchor frames, {view.frame_model}):",
            f"    {ps.frame_prompt}",
            f"[{ps.shot_id}] video prompt (drives the clip, {view.video_model or 'auto'}):",
            f"    {ps.video_prompt}",
        ]
    lines.extend(f"warning [{w.shot_id} {w.prompt}]: {w.message}" for w in view.warnings)
    payload = {
        "project": project.id,
        "scene": view.scene_id,
        "frame_model": view.frame_model,
        "video_model": view.video_model,
        "locked": view.locked,
        "prompt_sets": view.prompt_sets,
        "warnings": view.warnings,
    }
    return payload, "\n".join(lines)


def cmd_render(studio: Studio, args: argparse.Namespace) -> tuple[Any, str]:
    """Queue what the project is ready for: anchor frames where frames are open, clips where
    the render is confirmable. With --wait, render in this process and bring results in."""
    from studio.model import Stage

    project = studio.project(args.project)
    state = studio.state(project.id)
    scenes = [state.scene(args.scene).scene.id] if args.scene else [d.scene.id for d in state.ordered_scenes()]
    jobs = []
    skipped = []
    for scene_id in scenes:
        gates = studio.gates(project.id, scene_id)
        if gates[Stage.CONFIRM].open and not gates[Stage.CONFIRM].locked:
            jobs += studio.confirm_render(project.id, scene_id, backend=args.backend, preset=args.preset)
        elif gates[Stage.FRAMES].open and not gates[Stage.FRAMES].locked:
            if studio.scene(project.id, scene_id).work.frame_mode is None:
                studio.set_frame_mode(project.id, scene_id, "quick")
            jobs += studio.render_frames(project.id, scene_id, backend=args.backend, preset=args.preset)
        else:
            skipped.append(f"{scene_id}: {gates[Stage.FRAMES].reason}")
    brought = 0
    if args.wait and jobs:
        if studio.drain_queue is None:
            raise BadInput("no render worker is available in this install")
        studio.drain_queue()
        brought = studio.sync_renders(project.id)
        studio.drain_queue()
        brought += studio.sync_renders(project.id)
    final = {j.id: j for j in studio.render_jobs(project.id)}
    rows = [final.get(j.id, j) for j in jobs]
    lines = [_job_line(j) for j in rows]
    lines += [f"skipped {s}" for s in skipped]
    if not jobs:
        lines.insert(0, "nothing to render: lock the shot lists, visual states and prompts first")
    payload = {"project": project.id, "jobs": rows, "skipped": skipped, "brought_in": brought}
    return payload, "\n".join(lines)


def _job_line(job: Any) -> str:
    """One render job: a failed or waiting job says why (its failure class and message)."""
    line = f"{job.id[:10]} {job.kind:<8} {job.scene_id:<8} {job.shot_id or '':<6} {job.status}"
    if job.status == "failed":
        return f"{line} ({job.failure_class or 'error'}): {job.message}"
    if job.status == "waiting_vram" and job.message:
        return f"{line}: {job.message}"
    return line


def cmd_worker(studio: Studio, args: argparse.Namespace) -> tuple[Any, str]:
    from studio.wiring import run_worker

    done = run_worker(studio.settings, once=args.once)
    return {"stopped": True, "jobs": done}, f"worker stopped ({done} job(s) taken to an end)"


def cmd_demo(studio: Studio, args: argparse.Namespace) -> tuple[Any, str]:
    from studio.demo import run_demo

    say = (lambda m: None) if getattr(args, "json", False) else (lambda m: print(f"demo: {m}", flush=True))
    result = run_demo(studio, out_dir=args.out, preset=args.preset, say=say)
    text = (
        f"rendered {result.scenes} scenes / {result.shots} shots with the CPU animatic\n"
        f"film: {result.film}\n" + "".join(f"scene: {p}\n" for p in result.scene_files)
        + (f"QA: {result.qa_verdict} (run {result.qa_run}; `studio qa` and the QA dashboard show it)\n"
           if result.qa_verdict else "")
    )
    return result, text.rstrip()


def cmd_qa(studio: Studio, args: argparse.Namespace) -> tuple[Any, str] | tuple[Any, str, int]:
    project = studio.project(args.project)
    report = studio.run_qa(project.id, narrative=not args.no_narrative)
    lines = [f"QA {report.verdict.level} for {project.name} (run {report.run_id or 'not recorded'})"]
    lines += [f"  - {reason}" for reason in report.verdict.reasons[:40]]
    if report.not_rendered:
        lines.append("Not rendered (not in the verdict): " + "; ".join(report.not_rendered))
    by_subject: dict[str, list[str]] = {}
    for row in report.rows:
        value = row["value"]
        shown = "—" if value is None else f"{value:.3g}"
        by_subject.setdefault(row["subject"], []).append(f"{row['name']}={shown}{'' if row['level'] == 'PASS' else ' ' + row['level']}")
    lines += [f"{subject}: " + ", ".join(values) for subject, values in by_subject.items()]
    payload = {
        "project": project.id,
        "run_id": report.run_id,
        "verdict": report.verdict.level,
        "reasons": report.verdict.reasons,
        "not_rendered": report.not_rendered,
        "metrics": report.rows,
    }
    code = 2 if args.strict and report.verdict.level == "FAIL" else 0
    return payload, "\n".join(lines), code


def cmd_fsck(studio: Studio, args: argparse.Namespace) -> tuple[Any, str]:
    temp = studio.clean_temp_media(remove=not args.dry_run)
    verb = "found" if args.dry_run else "removed"
    notes = []
    if temp.orphans:
        notes.append(
            f"{verb} {len(temp.orphans)} orphan temp file(s) in media/ left by an interrupted write"
            f" ({temp.size:,} bytes)"
        )
    if temp.young:
        notes.append(f"left {len(temp.young)} temp file(s) younger than a minute alone (a write may be running)")
    problems = studio.fsck()
    if problems:
        raise StudioError(f"fsck found {len(problems)} problem(s): {problems[0]}")
    payload = {
        "ok": True,
        "problems": [],
        "temp_files": {
            verb: [str(p) for p in temp.orphans],
            "young": [str(p) for p in temp.young],
            "bytes": temp.size,
        },
    }
    return payload, "\n".join([*notes, "store is sound: every object, commit and ref checks out"])


def cmd_bench(studio: Studio | None, args: argparse.Namespace) -> tuple[Any, str]:
    """Benchmarks work in their own temporary folders: no studio (and no data dir) needed."""
    from studio import bench

    if args.name == "fidelity":
        from studio.screenplay import fidelity

        return fidelity.bench()
    if args.name in ("render", "qa"):
        from studio import wiring
        from studio.config import load_settings

        settings = load_settings(getattr(args, "home", None))
        return (wiring.bench_render if args.name == "render" else wiring.bench_qa)(settings)
    if args.name == "pages":
        from studio import wiring

        figures = bench.bench_pages(wiring.build_studio, scenes=args.scenes or 1000, shots_per_scene=args.shots)
        return figures, bench.format_page_figures(figures)
    figures = bench.bench_store(scenes=args.scenes or 100, shots_per_scene=args.shots, log_commits=args.commits)
    figures.update(bench.bench_import(repeats=args.imports))
    return figures, bench.format_figures(figures)


# --------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--home", type=Path, default=argparse.SUPPRESS, help="data dir (AIUTEUR_HOME)")
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print one JSON object")
    parser = argparse.ArgumentParser(
        prog="studio", description="Aiuteur Studio: story to film, locally.", parents=[common]
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, handler: Handler, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text, parents=[common])
        p.set_defaults(handler=handler)
        return p

    add("doctor", cmd_doctor, "probe every backend and say what is active")
    p = add("new", cmd_new, "create a project; with --script, import a screenplay (mode D)")
    p.add_argument("name")
    p.add_argument("--script", type=Path, help="Fountain or plain-text screenplay")
    p.add_argument("--assets", type=Path, help="optional JSON asset sheet")
    p = add("import", cmd_import, "import a screenplay into an existing project (one with no script yet)")
    p.add_argument("project")
    p.add_argument("script", type=Path, help="Fountain or plain-text screenplay")
    p.add_argument("--assets", type=Path, help="optional JSON asset sheet")
    p.add_argument("--branch", default=None, help="import on this new branch (when the project has a script)")
    add("projects", cmd_projects, "list projects (id, name, branch, progress)")
    p = add("log", cmd_log, "Story Timelines history of a branch")
    p.add_argument("project")
    p.add_argument("ref", nargs="?", help="branch or commit (default: the active branch)")
    p.add_argument("--limit", type=int, default=None)
    p = add("branch", cmd_branch, "list branches, or create NAME from --from COMMIT")
    p.add_argument("project")
    p.add_argument("name", nargs="?")
    p.add_argument("--from", dest="from_ref", help="commit or branch to branch from")
    p = add("switch", cmd_switch, "switch to a branch, or fork a new branch at an old commit")
    p.add_argument("project")
    p.add_argument("ref")
    p = add("scenes", cmd_scenes, "the script hub: scenes with their statuses")
    p.add_argument("project")
    p = add("shots", cmd_shots, "a scene's shot list (the deterministic draft until one is saved)")
    p.add_argument("project")
    p.add_argument("scene", help="scene number (1-based) or id")
    p = add("prompts", cmd_prompts, "a scene's prompt sets: frame, video and system prompts")
    p.add_argument("project")
    p.add_argument("scene", help="scene number (1-based) or id")
    p.add_argument("--frame-model", default="flux", help="target image model (flux, sdxl, animatic)")
    p.add_argument(
        "--video-model", default=None,
        help="target video model (default: per shot, wan2.2-flf2v or wan2.2-i2v for start-frame-only)",
    )
    p = add(
        "fsck", cmd_fsck,
        "re-hash every object and check every ref and parent; remove orphan media/.tmp-* files"
        " older than a minute (left by a crash mid-write)",
    )
    p.add_argument("--dry-run", action="store_true", help="only report orphan temp files, remove nothing")
    p = add("render", cmd_render, "queue anchor frames or clips for what each scene is ready for")
    p.add_argument("project")
    p.add_argument("--scene", help="one scene (number or id); default: every scene")
    p.add_argument("--backend", choices=["animatic", "comfyui"], default=None)
    p.add_argument("--preset", default="fast")
    p.add_argument("--wait", action="store_true", help="render here and bring the results in")
    p = add("worker", cmd_worker, "run the render worker in the foreground (SIGTERM or Ctrl-C stops it cleanly)")
    p.add_argument("--once", action="store_true", help="stop when the queue is empty")
    p = add("qa", cmd_qa, "QA verdicts and metrics of what was rendered, recorded in the run log")
    p.add_argument("project")
    p.add_argument("--strict", action="store_true", help="exit non-zero when the verdict is FAIL")
    p.add_argument("--no-narrative", action="store_true", help="skip the MiniLM narrative metrics")
    p = add("demo", cmd_demo, "the bundled sample from import to an assembled animatic film, offline")
    p.add_argument("--out", type=Path, default=None, help="where to put the film (default: exports/)")
    p.add_argument("--preset", default="fast")
    p = add("bench", cmd_bench, "print benchmark figures (store, render, qa, fidelity, pages)")
    p.add_argument("name", choices=["store", "render", "qa", "fidelity", "pages"])
    p.add_argument("--scenes", type=int, default=None, help="scenes (default: store 100, pages 1000)")
    p.add_argument("--shots", type=int, default=8, help="shots per scene")
    p.add_argument("--commits", type=int, default=10_000, help="commits in the log benchmark")
    p.add_argument("--imports", type=int, default=3, help="runs of the feature-import benchmark")
    p.set_defaults(needs_studio=False)
    return parser


def _one_line(exc: BaseException) -> str:
    text = str(exc)
    return text.splitlines()[0] if text.strip() else type(exc).__name__


def _quiet_stdout() -> None:
    """Point stdout at /dev/null: its reader is gone, and the interpreter's final flush
    must not fail again (and print a BrokenPipeError) on the way out."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _fail(as_json: bool, name: str, reason: str) -> int:
    print(f"studio: {reason}", file=sys.stderr)  # first: stdout may be a closed pipe
    if as_json:
        print(json.dumps({"ok": False, "error": name, "message": reason}))
    return 1


def _run(args: argparse.Namespace) -> int:
    from studio.config import load_settings
    from studio.wiring import build_studio

    as_json = getattr(args, "json", False)
    studio = build_studio(load_settings(getattr(args, "home", None))) if getattr(args, "needs_studio", True) else None
    result = args.handler(studio, args)
    payload, text = result[0], result[1]
    exit_code = result[2] if len(result) > 2 else 0
    if as_json:
        body = _jsonable(payload)
        if isinstance(body, dict):
            body = {"ok": True, **body}
        print(json.dumps(body, ensure_ascii=False, default=str))
    else:
        print(text)
    return exit_code


def main(argv: Sequence[str] | None = None) -> int:
    try:
        try:
            return _main(argv)
        finally:
            sys.stdout.flush()  # a closed pipe is found here (help, errors), not at exit
    except BrokenPipeError:
        # `studio … | head`: the reader stopped reading; stop as quietly as cat does.
        _quiet_stdout()
        return 141  # 128 + SIGPIPE, what a shell reports for a writer whose pipe closed


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    as_json = getattr(args, "json", False)
    try:
        return _run(args)
    except BrokenPipeError:
        raise
    except StudioError as exc:
        return _fail(as_json, type(exc).__name__, _one_line(exc))
    except KeyboardInterrupt:
        print("studio: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:
        from studio.sqlite import is_disk_full

        if is_disk_full(exc):
            home = getattr(args, "home", None) or os.environ.get("AIUTEUR_HOME") or "the data dir"
            return _fail(as_json, "DiskFull", f"the disk is full: free space in {home} and retry; nothing was saved")
        where = f" ({exc.filename})" if exc.filename else ""
        return _fail(as_json, type(exc).__name__, f"{exc.strerror or exc}{where}")


if __name__ == "__main__":
    sys.exit(main())
