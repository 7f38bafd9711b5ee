"""``studio bench store``: figures for the store on a synthetic 100-scene / 800-shot project;
``studio bench pages``: seconds per page rerun on the sample and on a 1,000-scene project.

Measures, on a fresh store in a temporary dir: the median time to commit a one-scene edit
and what such a commit writes, the time to switch branch, and the time to list a long log.
Then the time to import a 190-scene feature into a new project (and the whole ``studio new
--script`` command) and to run ``studio --help``, each in a fresh process.
Timing lives here and in the closing notes, never in pass/fail tests.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from studio.config import Settings
from studio.errors import StudioError
from studio.model import (
    ElementKind,
    InputDoc,
    ProjectParams,
    ProjectState,
    Scene,
    SceneDoc,
    Script,
    ScriptElement,
    Shot,
    ShotCharacter,
    Stage,
)
from studio.objects import canonical_json
from studio.services import Studio
from studio.store import Store
from studio.timeline import Timeline, diff_states, scene_key


def synthetic_state(scenes: int, shots_per_scene: int) -> ProjectState:
    """A project state with ``scenes`` scenes of ``shots_per_scene`` shots each."""
    docs: dict[str, SceneDoc] = {}
    for n in range(1, scenes + 1):
        elements = tuple(
            ScriptElement(kind=ElementKind.ACTION, text=f"Action line {i} of scene {n}: rain on glass.")
            for i in range(6)
        ) + tuple(
            ScriptElement(kind=ElementKind.DIALOGUE, character="MARA", text=f"Line {i} in scene {n}.")
            for i in range(4)
        )
        shots = tuple(
            Shot(
                id=f"{n}{chr(65 + s % 26)}" + ("" if s < 26 else chr(65 + s // 26)),
                duration_s=6.0,
                action=f"Shot {s} of scene {n}.",
                dialogue="",
                characters=(ShotCharacter(name="MARA"),),
                setting=f"LOCATION {n}",
                camera="MS",
            )
            for s in range(shots_per_scene)
        )
        scene = Scene(id=f"sc-{n}", heading=f"INT. LOCATION {n} - NIGHT", elements=elements, characters=("MARA",))
        docs[scene.id] = SceneDoc(scene=scene).model_copy(
            update={"work": SceneDoc(scene=scene).work.model_copy(update={"shots": shots})}
        )
    script = Script(title="Bench", scene_ids=tuple(docs), source="import")
    params = ProjectParams(tonal_precision="Quiet, rain-soaked noir")
    return ProjectState(input=InputDoc(params=params, submitted=True), script=script, scenes=docs)


def _git(git: str, *args: str, **options: Any) -> subprocess.CompletedProcess[bytes]:
    options.setdefault("stdout", subprocess.PIPE)
    # An argv list, no shell; git is the one shutil.which found.
    return subprocess.run([git, *args], check=True, stderr=subprocess.PIPE, **options)  # noqa: S603


def build_git_history(git: str, repo: Path, commits: int, scenes: int) -> Path:
    """A git repository of ``commits`` linear commits, each changing one scene file (like a
    one-scene edit), written in one go by ``git fast-import`` (one pack, no commit-graph)."""
    _git(git, "init", "-q", str(repo))
    lines: list[str] = []
    for n in range(commits):
        message = f"Edit {n}"
        body = f'{{"scene": "sc-{1 + n % scenes}", "edit": {n}}}\n'
        lines += [
            "commit refs/heads/main",
            f"mark :{n + 1}",
            f"committer Bench <bench@example.invalid> {1_700_000_000 + n} +0000",
            f"data {len(message.encode())}",
            message,
        ]
        if n:
            lines.append(f"from :{n}")
        lines += [f"M 100644 inline scenes/sc-{1 + n % scenes}.json", f"data {len(body.encode())}"]
        lines.append(body)
    _git(git, "fast-import", "--quiet", input="\n".join(lines).encode() + b"\n", cwd=repo)
    return repo


def time_git_log(git: str, repo: Path, commits: int, *, read: bool = True) -> float:
    """Milliseconds for ``git log --format=%H%x09%s main`` (the full listing) to run, its
    output read back through a pipe (checked to hold every commit) or, with ``read=False``,
    sent to /dev/null (git's best case: nobody reads it)."""
    start = time.perf_counter()
    out = {} if read else {"stdout": subprocess.DEVNULL}
    done = _git(git, "-C", str(repo), "log", "--format=%H%x09%s", "main", **out)
    elapsed = (time.perf_counter() - start) * 1000
    if read:
        assert done.stdout.count(b"\n") == commits
    return elapsed


def _table_bytes(store: Store) -> tuple[int, int]:
    row = store.conn.execute("SELECT COUNT(*), COALESCE(SUM(size), 0) FROM objects").fetchone()
    return int(row[0]), int(row[1])


def bench_store(scenes: int = 100, shots_per_scene: int = 8, log_commits: int = 10_000) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="studio-bench-") as tmp:
        home = Path(tmp)
        settings = Settings(home=home)
        store = Store(settings.db_path, settings.media_dir)
        studio = Studio(settings, store, presets={})  # the store bench renders nothing
        project = studio.create_project("Bench")
        base = synthetic_state(scenes, shots_per_scene)
        studio.timeline.commit(project.id, "main", diff_states(ProjectState(), base), "Synthetic project")

        # One-scene edits: each commit rewrites one scene object, one tree, one commit.
        edit_ms: list[float] = []
        objects_per_commit: list[int] = []
        bytes_per_commit: list[int] = []
        for i in range(60):
            scene_id = f"sc-{1 + (i * 37) % scenes}"
            key = scene_key(scene_id)
            count0, size0 = _table_bytes(store)
            start = time.perf_counter()

            def compute(state: ProjectState, key: str = key, i: int = i) -> dict[str, SceneDoc]:
                doc = state.scenes[key.split("/", 1)[1]]
                shots = list(doc.work.shots)
                shots[0] = shots[0].model_copy(update={"action": f"Edited action #{i}."})
                return {key: doc.model_copy(update={"work": doc.work.model_copy(update={"shots": tuple(shots)})})}

            commit = studio.timeline.update(project.id, "main", compute, f"Edit shot in {scene_id}", keys=[key])
            edit_ms.append((time.perf_counter() - start) * 1000)
            count1, size1 = _table_bytes(store)
            commit_row_bytes = len(
                canonical_json([commit.id, commit.tree, list(commit.parents), commit.message, commit.created_at])
            )
            objects_per_commit.append(count1 - count0)
            bytes_per_commit.append(size1 - size0 + commit_row_bytes)

        # Branch switch between two heads whose trees differ (alt forks 30 edits back), with
        # the state loaded after each switch. Warm: the same Studio throughout. Cold: each
        # switch opens a fresh Store and Timeline on the database file (a new connection with
        # an empty SQLite page cache, no decoded objects or models), as a new process would;
        # the time includes opening them. The OS file cache stays warm, as it does for git.
        studio.create_branch(project.id, "alt", studio.log(project.id)[30].id)
        switch_ms: list[float] = []
        for i in range(20):
            start = time.perf_counter()
            studio.switch(project.id, "alt" if i % 2 == 0 else "main")
            studio.state(project.id)
            switch_ms.append((time.perf_counter() - start) * 1000)
        cold_switch_ms: list[float] = []
        for i in range(20):
            start = time.perf_counter()
            cold_store = Store(settings.db_path, settings.media_dir)
            cold_timeline = Timeline(cold_store)
            switched = cold_timeline.switch(project.id, "alt" if i % 2 == 0 else "main")
            cold_timeline.load_state(switched.commit)
            cold_switch_ms.append((time.perf_counter() - start) * 1000)
            cold_store.close()

        # Context assembly (studio.context): a Phase B call's context for every scene, through
        # the facade (state load, sections, counts, budget, hash).
        context_ms: list[float] = []
        for number in range(1, scenes + 1):
            start = time.perf_counter()
            studio.context_for(project.id, Stage.SHOTS, number)
            context_ms.append((time.perf_counter() - start) * 1000)

        # A long log: append commits straight through the store (same rows a commit writes).
        log_project = studio.create_project("Bench log")
        head = studio.timeline.head(log_project.id, "main")
        tree = store.get_commit(head).tree
        with store.write() as conn:
            parent = head
            for n in range(log_commits - 1):
                row = store.insert_commit(conn, log_project.id, tree, [parent], f"Edit {n}", "edit")
                parent = row.id
            store.move_ref(conn, log_project.id, "main", head, parent, "bench: bulk history")
        # The same length of history in git, listed by `git log` in the same run, interleaved
        # with ours so both see the same machine load.
        git = shutil.which("git")
        git_repo = build_git_history(git, home / "git", log_commits, scenes) if git else None
        log_ms: list[float] = []
        fresh_log_ms: list[float] = []
        git_log_ms: list[float] = []
        git_devnull_ms: list[float] = []
        # The previous listing is dropped before each timer starts: freeing its rows is not
        # part of making the next one.
        entries: list[Any] = []
        for _ in range(7):
            if git and git_repo:
                git_log_ms.append(time_git_log(git, git_repo, log_commits))
                git_devnull_ms.append(time_git_log(git, git_repo, log_commits, read=False))
            entries = []
            start = time.perf_counter()
            entries = studio.log(log_project.id)
            log_ms.append((time.perf_counter() - start) * 1000)
            assert len(entries) == log_commits
            entries = []
            start = time.perf_counter()
            fresh_store = Store(settings.db_path, settings.media_dir)
            entries = Timeline(fresh_store).log(log_project.id, "main")
            fresh_log_ms.append((time.perf_counter() - start) * 1000)
            fresh_store.close()
            assert len(entries) == log_commits
        problems = store.fsck()
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
        return {
            "project": {"scenes": scenes, "shots": scenes * shots_per_scene},
            "commit_one_scene_edit_ms_median": round(statistics.median(edit_ms), 2),
            "commit_one_scene_edit_ms_p95": round(sorted(edit_ms)[int(len(edit_ms) * 0.95) - 1], 2),
            "objects_per_edit_commit": statistics.median(objects_per_commit),
            "bytes_per_edit_commit": int(statistics.median(bytes_per_commit)),
            "switch_branch_ms_median": round(statistics.median(switch_ms), 2),
            "switch_branch_cold_ms_median": round(statistics.median(cold_switch_ms), 2),
            "log_commits": log_commits,
            "log_ms_median": round(statistics.median(log_ms), 2),
            "log_fresh_store_ms_median": round(statistics.median(fresh_log_ms), 2),
            "git_log_ms_median": round(statistics.median(git_log_ms), 2) if git_log_ms else None,
            "git_log_devnull_ms_median": (
                round(statistics.median(git_devnull_ms), 2) if git_devnull_ms else None
            ),
            "fsck_problems": len(problems),
            "context_ms_median": round(statistics.median(context_ms), 2),
            "context_ms_max": round(max(context_ms), 2),
            "load_average_1min": round(load, 2) if load is not None else None,
            "cpus": os.cpu_count(),
        }


def _import_lines(figures: dict[str, Any]) -> list[str]:
    if "import_feature_s_median" not in figures:
        return []
    return [
        f"  import a {figures['import_scenes']}-scene feature ({figures['import_script']},"
        f" {figures['import_bytes']:,} bytes) into a new project: median"
        f" {figures['import_feature_s_median']} s (fresh process each)   target <= 1 s",
        f"    the whole `studio new NAME --script` command (new process, imports, data dir):"
        f" median {figures.get('cli_new_feature_s_median')} s",
        f"  studio --help in a new process: median {figures['cli_help_s_median']} s   target <= 0.3 s",
    ]


def format_figures(figures: dict[str, Any]) -> str:
    p = figures["project"]
    return "\n".join(
        [
            f"store benchmark on a synthetic {p['scenes']}-scene / {p['shots']}-shot project",
            f"  commit a one-scene edit: median {figures['commit_one_scene_edit_ms_median']} ms"
            f" (p95 {figures['commit_one_scene_edit_ms_p95']} ms)   target <= 10 ms",
            f"  written per such commit: {figures['objects_per_edit_commit']} objects"
            f" (scene + tree; the commit is a row) and {figures['bytes_per_edit_commit']:,} bytes",
            f"  switch branch and load its state: median {figures['switch_branch_ms_median']} ms"
            f" (cold: fresh Store + Timeline per switch {figures['switch_branch_cold_ms_median']}"
            " ms)   target cold <= 20 ms",
            "    (cold = each switch opens a new Store and Timeline on the file: a new SQLite"
            " connection, no decoded objects or models; the OS file cache stays warm)",
            f"  list a {figures['log_commits']:,}-commit log: median {figures['log_ms_median']} ms"
            f" (fresh Store per listing {figures['log_fresh_store_ms_median']} ms)",
            f"  git log --format=%H%x09%s over {figures['log_commits']:,} commits (same run): "
            + (
                f"median {figures['git_log_ms_median']} ms read through a pipe,"
                f" {figures.get('git_log_devnull_ms_median')} ms to /dev/null"
                "   target: ours <= git"
                if figures["git_log_ms_median"] is not None
                else "git not found, not measured"
            ),
            f"  fsck problems: {figures['fsck_problems']}",
            *(
                [f"  assemble a stage 7 call's context (each scene): median"
                 f" {figures['context_ms_median']} ms (max {figures['context_ms_max']} ms)"
                 "   target <= 20 ms"]
                if "context_ms_median" in figures
                else []
            ),
            *_import_lines(figures),
            f"  machine: {figures.get('cpus')} CPUs, 1-minute load average"
            f" {figures.get('load_average_1min')} at the end (timings grow with it)",
        ]
    )


# --------------------------------------------------------------------------- import figures

_PEOPLE = (
    "MARA", "OSKAR", "JONAS", "ELENA", "TOMAS", "IDA", "VIKTOR", "LENA", "FELIX", "NORA",
    "ARNE", "SOFIA", "PAVEL", "HANNA", "RUDI", "GRETA",
)
_PLACES = (
    ("INT.", "UMBRELLA REPAIR SHOP"), ("EXT.", "HARBOUR WALL"), ("INT.", "TRAM DEPOT"),
    ("EXT.", "MARKET SQUARE"), ("INT.", "MARA'S FLAT - KITCHEN"), ("INT.", "POLICE STATION"),
    ("EXT.", "RAILWAY BRIDGE"), ("INT.", "NIGHT FERRY - CABIN"), ("EXT.", "CEMETERY"),
    ("INT.", "HOTEL LOBBY"), ("EXT.", "ROOFTOP"), ("INT.", "HOSPITAL CORRIDOR"),
    ("EXT.", "FOREST ROAD"), ("INT.", "RADIO STUDIO"), ("INT./EXT.", "OSKAR'S CAR"),
)
_TIMES = ("DAY", "NIGHT", "DUSK", "MORNING", "CONTINUOUS", "LATER")


def feature_screenplay(scenes: int = 190) -> str:
    """A feature-length Fountain screenplay (190 scenes is about 110 pages): title page,
    headings over a dozen locations, action, dialogue with parentheticals, transitions."""
    lines = ["Title: THE BENCH FEATURE", "Author: studio bench", "", "FADE IN:", ""]
    for n in range(scenes):
        int_ext, place = _PLACES[n % len(_PLACES)]
        a, b = _PEOPLE[n % len(_PEOPLE)], _PEOPLE[(n * 7 + 3) % len(_PEOPLE)]
        if a == b:
            b = _PEOPLE[(n + 1) % len(_PEOPLE)]
        lines += [f"{int_ext} {place} - {_TIMES[n % len(_TIMES)]}", ""]
        lines += [
            f"Rain streaks the glass. {a.title()} ({20 + n % 50}) waits by the door with a RED UMBRELLA"
            f" folded under one arm, counting the seconds on a cheap wristwatch. Scene {n + 1}.",
            "",
            f"{b.title()} comes in out of the weather, shakes off a long grey coat and drops a brown"
            " paper PARCEL on the table between them.",
            "",
        ]
        for turn in range(4):
            speaker = a if turn % 2 == 0 else b
            lines.append(speaker)
            if turn == 1:
                lines.append("(quietly)")
            lines += [f"Line {turn + 1} of scene {n + 1}: the last tram leaves at ten, and we are on it.", ""]
        lines += [f"{a.title()} unties the string. Inside: a brass KEY and a ferry ticket dated 1994.", ""]
        if n % 9 == 8:
            lines += ["CUT TO:", ""]
    lines += ["FADE OUT.", ""]
    return "\n".join(lines)


_FEATURE = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "fountain-peers" / "nyousefi" / "Big Fish.fountain"

# Run in a fresh interpreter per measurement: no warm caches, as a user's `studio new` runs.
_TIME_IMPORT = """
import sys, tempfile, time
from pathlib import Path
from studio.config import Settings
from studio.services import Studio
from studio.store import Store
data = Path(sys.argv[1]).read_bytes()
with tempfile.TemporaryDirectory(prefix="studio-bench-import-") as tmp:
    settings = Settings(home=Path(tmp))
    store = Store(settings.db_path, settings.media_dir)
    studio = Studio(settings, store, presets={})
    start = time.perf_counter()
    _, result = studio.new_project("Feature", (Path(sys.argv[1]).name, data))
    print(time.perf_counter() - start, result.scenes)
    store.close()
"""


def bench_import(repeats: int = 3, script: Path | None = None) -> dict[str, Any]:
    """Seconds to import a feature screenplay into a new project (``studio new NAME
    --script``'s work, median of ``repeats``, each in a fresh process on a fresh data dir)
    and to run ``studio --help`` in a new process. The feature is Big Fish (190 scenes,
    from the Fountain peer suite) where the repository has it, else a synthetic 190-scene
    feature (:func:`feature_screenplay`)."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    with tempfile.TemporaryDirectory(prefix="studio-bench-import-") as tmp:
        path = script or (_FEATURE if _FEATURE.is_file() else None)
        if path is None:
            path = Path(tmp) / "feature.fountain"
            path.write_text(feature_screenplay(190), encoding="utf-8")
        import_s: list[float] = []
        scenes = 0
        for _ in range(repeats):
            done = subprocess.run(  # noqa: S603 - this interpreter, our own code, no shell
                [sys.executable, "-c", _TIME_IMPORT, str(path)],
                check=True, capture_output=True, text=True, env=env,
            )
            seconds, count = done.stdout.split()
            import_s.append(float(seconds))
            scenes = int(count)
        # The whole command as a user runs it: interpreter, imports, data dir, import.
        cli_s: list[float] = []
        for n in range(repeats):
            start = time.perf_counter()
            subprocess.run(  # noqa: S603 - this interpreter, our own module, no shell
                [sys.executable, "-m", "studio.cli", "new", "Feature", "--script", str(path),
                 "--home", str(Path(tmp) / f"home-{n}")],
                check=True, stdout=subprocess.DEVNULL, env=env,
            )
            cli_s.append(time.perf_counter() - start)
        size = path.stat().st_size
        name = path.name
    help_s: list[float] = []
    for _ in range(5):
        start = time.perf_counter()
        subprocess.run(  # noqa: S603 - this interpreter, our own module, no shell
            [sys.executable, "-m", "studio.cli", "--help"], check=True, stdout=subprocess.DEVNULL, env=env
        )
        help_s.append(time.perf_counter() - start)
    return {
        "import_script": name,
        "import_scenes": scenes,
        "import_bytes": size,
        "import_feature_s_median": round(statistics.median(import_s), 3),
        "cli_new_feature_s_median": round(statistics.median(cli_s), 3),
        "cli_help_s_median": round(statistics.median(help_s), 3),
    }


# --------------------------------------------------------------------------- pages

PAGE_TARGETS_S = {"sample": 0.5, "large": 1.0}


def _sample_project(studio: Studio) -> tuple[str, str]:
    """The bundled sample as a filmmaker leaves it mid-way: Phase A locked, every scene
    planned to its prompts, scene 1's anchor frames, clips and scene cut rendered (CPU
    animatic); returns (project id, scene 1's id)."""
    name = "the_long_rain.fountain"
    data, sheet = studio.sample(name if name in studio.list_samples() else studio.list_samples()[0])
    project, _ = studio.new_project("The Long Rain", (name, data), asset_sheet=sheet)
    pid = project.id
    from studio.demo import lock_phase_a, plan_every_scene

    lock_phase_a(studio, pid, "neo-noir")
    first = plan_every_scene(studio, pid)[0]
    if studio.drain_queue is not None:
        studio.set_frame_mode(pid, first, "quick")
        studio.render_frames(pid, first, backend="animatic")
        studio.drain_queue()
        studio.sync_renders(pid)
        for row in studio.frames_view(pid, first).rows:
            studio.approve_frame(pid, first, row.shot.id, "start")
            if row.needs_end:
                studio.approve_frame(pid, first, row.shot.id, "end")
        studio.lock_frames(pid, first)
        studio.confirm_render(pid, first, backend="animatic")
        for _ in range(2):  # the clips, then the scene cut queued once they are in
            studio.drain_queue()
            studio.sync_renders(pid)
    return pid, first


def bench_pages(
    build: Any, scenes: int = 1000, shots_per_scene: int = 8, reruns: int = 3
) -> dict[str, Any]:
    """Seconds per AppTest rerun of every page, on the sample (rendered part-way) and on a
    synthetic ``scenes``-scene project, each in a data dir of its own with a second project
    beside it (the sidebar lists every project). ``build(settings)`` makes the Studio that
    prepares them (the wiring, for the animatic renders); the pages are timed in a child
    process, ``python -m pages.bench``, from the checkout (the core never imports Streamlit).
    """
    root = Path(__file__).resolve().parents[1]
    if not (root / "streamlit_app.py").exists() or not (root / "pages" / "bench.py").exists():
        raise StudioError("the page benchmark runs from a checkout (streamlit_app.py and pages/ not found)")
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="studio-bench-pages-") as tmp:
        for label in ("sample", "large"):
            home = Path(tmp) / label
            settings = Settings(home=home, autostart_worker=False)
            studio = build(settings)
            start = time.perf_counter()
            if label == "sample":
                pid, scene_id = _sample_project(studio)
                studio.create_project("Bench: another project")
            else:
                studio.create_project("Bench: another project")
                project = studio.create_project(f"Bench {scenes} scenes")
                base = synthetic_state(scenes, shots_per_scene)
                studio.timeline.commit(project.id, "main", diff_states(ProjectState(), base), "Synthetic project")
                pid, scene_id = project.id, "sc-1"
            prepare_s = time.perf_counter() - start
            scene_count = len(studio.state(pid).scenes)
            studio.store.close()
            env = {**os.environ, "AIUTEUR_HOME": str(home), "AIUTEUR_AUTOSTART_WORKER": "0",
                   "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))}
            # argv list, no shell: this interpreter and a module of this checkout.
            done = subprocess.run(  # noqa: S603
                [sys.executable, "-m", "pages.bench", str(home), pid, scene_id, str(reruns)],
                cwd=root, env=env, capture_output=True, check=False,
            )
            if done.returncode != 0:
                tail = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
                raise StudioError(f"the page benchmark failed: {tail[0]}")
            pages = json.loads(done.stdout.decode().strip().splitlines()[-1])
            results[label] = {
                "project": pid,
                "scenes": scene_count,
                "prepare_s": round(prepare_s, 1),
                "pages": pages,
            }
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    results["load_average_1min"] = round(load, 2) if load is not None else None
    results["cpus"] = os.cpu_count()
    return results


def format_page_figures(figures: dict[str, Any]) -> str:
    lines = []
    for label in ("sample", "large"):
        block = figures[label]
        target = PAGE_TARGETS_S[label]
        what = "the sample (scene 1 rendered)" if label == "sample" else f"a {block['scenes']}-scene project"
        lines.append(f"page reruns on {what} (prepared in {block['prepare_s']} s), target <= {target} s")
        worst = 0.0
        for page, row in block["pages"].items():
            if page == "(first run)":
                lines.append(f"  first run of the app (cold Studio): {row['first_s']:.2f} s")
                continue
            worst = max(worst, row["max_s"])
            mark = "" if row["max_s"] <= target else "   over target"
            error = f"   ERROR {row['error']}" if row["error"] else ""
            lines.append(
                f"  {page:<26} median {row['median_s']:.3f} s  max {row['max_s']:.3f} s"
                f"  (on opening {row['first_s']:.3f} s){mark}{error}"
            )
        lines.append(f"  slowest rerun: {worst:.3f} s")
    lines.append(
        f"  machine: {figures.get('cpus')} CPUs, 1-minute load average {figures.get('load_average_1min')}"
        " at the end (timings grow with it)"
    )
    return "\n".join(lines)
