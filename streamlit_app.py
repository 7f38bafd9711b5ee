"""Aiuteur Studio: ``streamlit run streamlit_app.py``.

Builds the Studio once per data dir, draws the sidebar (project, branch, backends, render
queue) and hands over to ``st.navigation``: our folder is called ``pages/``, so without an
explicit navigation Streamlit's legacy auto-discovery would take over.

Every page gets a ``url_path`` that differs from its file name on purpose: until the first
``st.navigation`` call of a process Streamlit still routes by the legacy ``pages/`` names,
and a matching name would run that page file alone, without this script (no Studio, no
sidebar). With distinct paths such a request falls through to this script. (``make run``
starts the app through ``app_server.py``, which also spares a fresh server's first request
the "Page not found" box of that legacy routing.)

The URL carries the place, ``?project=…&branch=…&scene=…`` (``pages.common.restore_place`` /
``remember_place``), so a reload or a bookmark comes back to the same page, project and scene.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict

import streamlit as st

from pages import common
from pages.placeholder import stage_placeholder
from studio.config import load_settings
from studio.errors import StudioError
from studio.model import Stage
from studio.pipeline import Gate
from studio.services import Studio
from studio.wiring import build_studio

BUILT_STAGES: dict[Stage, str] = {
    Stage.INPUT: common.STAGE1,
    Stage.SCRIPT: common.STAGE4,
    Stage.ASSETS: common.STAGE5,
    Stage.HUB: common.STAGE6,
    Stage.SHOTS: common.STAGE7,
    Stage.VISUAL_STATE: common.STAGE8,
    Stage.PROMPTS: common.STAGE9,
    Stage.FRAMES: common.STAGE10,
    Stage.CONFIRM: common.STAGE11,
    Stage.VIDEO: common.STAGE12,
}
QA_DASHBOARD = "pages/qa_dashboard.py"
ACTIVE_JOBS = ("queued", "waiting_vram", "running")
QUEUE_POLL_S = 3
QUEUE_SEEN_KEY = "_queue_active"
QUEUE_TOASTS_KEY = "_queue_toasts"
QUEUE_SYNCED_KEY = "_queue_synced"
PROBE_ICONS = {
    "ok": ":material/check_circle:",
    "down": ":material/error:",
    "no gpu": ":material/memory:",
    "not configured": ":material/radio_button_unchecked:",
    "not installed": ":material/block:",
}

st.set_page_config(page_title="Aiuteur Studio", page_icon=":material/movie:", layout="wide")


@st.cache_resource(show_spinner="Opening the studio…")
def open_studio(home: str, settings_key: str) -> Studio:
    """One Studio per data dir and settings for the whole server: keyed by the home path and
    the settings in force, so settings saved on the Settings page open a Studio that uses
    them at the next run."""
    settings = load_settings(home)
    studio = build_studio(settings, autostart_worker=settings.autostart_worker)
    if studio.start_worker is not None:
        studio.start_worker()  # the render worker runs beside the app from the start
    return studio


@st.cache_data(ttl=30, show_spinner=False)
def backend_status(home: str, _studio: Studio) -> list[dict]:
    """Backend probes, refreshed at most every 30 s (they may touch the network).

    Plain dicts: st.cache_data pickles its values, and a dev-mode module reload would make
    cached ProbeResult instances unpicklable."""
    return [{**asdict(probe), "ok": probe.ok} for probe in _studio.doctor()]


def start_studio() -> Studio | None:
    try:
        settings = load_settings()
        studio = open_studio(str(settings.home), settings.model_dump_json())
    except (StudioError, OSError, ValueError) as exc:
        st.error(f"The studio could not open its data dir: {exc}", icon=":material/error:")
        studio = None
    st.session_state[common.STUDIO_KEY] = studio
    return studio


def project_picker(studio: Studio) -> None:
    """The sidebar project selector, kept in step with ``session_state["project_id"]``; the
    selection (project, branch, scene) goes into the URL."""
    try:
        projects = studio.list_projects(progress=False)  # reads no project state
    except StudioError as exc:
        st.error(str(exc))
        return
    ids = [p.id for p in projects]
    selected = st.session_state.get(common.PROJECT_KEY)
    if selected not in ids:
        selected = None
        common.select_project(None)
    current = next((p for p in projects if p.id == selected), None)
    common.remember_place(
        selected, current.branch if current else None, st.session_state.get(common.SCENE_KEY)
    )
    if not projects:
        st.caption("No projects yet: create one on the Projects page.")
        return
    # Pages change the selection by setting PROJECT_KEY and rerunning; align the widget
    # before it is drawn (a widget's state cannot change after it is instantiated).
    if st.session_state.get("sidebar_project") != selected:
        st.session_state["sidebar_project"] = selected
    names = {p.id: p.name for p in projects}
    st.selectbox(
        "Project",
        ids,
        index=None,
        format_func=lambda pid: names.get(pid, pid),
        key="sidebar_project",
        placeholder="Choose a project",
        on_change=lambda: common.select_project(st.session_state.get("sidebar_project")),
    )
    if current is not None:
        st.caption(f":material/call_split: Branch `{current.branch}` · {current.scenes} scene(s)")


def sidebar_status(studio: Studio) -> None:
    probes = backend_status(str(studio.settings.home), studio)
    ok = sum(p["ok"] for p in probes)
    with st.expander(f"Backends: {ok} of {len(probes)} ok", icon=":material/dns:"):
        for probe in probes:
            icon = PROBE_ICONS.get(probe["state"], ":material/help:")
            marker = " (active)" if probe["active"] else ""
            st.caption(f"{icon} **{probe['name']}**: {probe['state']}{marker}")
    queue_summary(studio)


def job_name(job) -> str:
    if job.scene_id == "film":
        return "The film"
    if job.kind == "assemble":
        return "Scene cut"
    if job.kind == "frame" and job.which:
        return f"Shot {job.shot_id} {job.which} frame"
    return f"Shot {job.shot_id} {job.kind}"


def finished_toast(jobs: list) -> tuple[str, str]:
    """One toast for every job that finished since the last look: what finished, and how."""
    icon = (":material/check_circle:" if all(job.status == "done" for job in jobs)
            else ":material/error:")
    if len(jobs) == 1:
        return common.escape_markdown(f"{job_name(jobs[0])}: {jobs[0].status}"), icon
    counts = Counter(job.status for job in jobs)
    how = ", ".join(f"{n} {status}" for status, n in counts.items())
    names = ", ".join(job_name(job) for job in jobs[:3]) + (", …" if len(jobs) > 3 else "")
    return common.escape_markdown(f"{len(jobs)} renders finished ({how}): {names}"), icon


def finished_jobs(jobs: list) -> tuple[list[tuple[str, str]], bool]:
    """The toast for the jobs that left the queue since the last look (none, or one that
    names them all), and whether any job is still in flight; remembers what is in flight now
    (per browser session), so a rerun does not say it again."""
    by_id = {job.id: job for job in jobs}
    active = {job.id: job_name(job) for job in jobs if job.status in ACTIVE_JOBS}
    seen = st.session_state.get(QUEUE_SEEN_KEY, {})
    st.session_state[QUEUE_SEEN_KEY] = active
    finished = [by_id[job_id] for job_id in seen if job_id not in active and job_id in by_id]
    return ([finished_toast(finished)] if finished else []), bool(active)


def queue_counts(studio: Studio, project_id: str) -> None:
    """Counts and running jobs of the selected project, polled while jobs are in flight."""
    try:
        jobs = studio.render_jobs(project_id)
    except StudioError as exc:
        st.caption(f":material/queue: Render queue: unavailable ({common.escape_markdown(exc)})")
        return
    toasts, busy = finished_jobs(jobs)
    if toasts:
        bring_in(studio, project_id)
    if toasts and not busy:
        # The last job finished while polling: rerun the whole app so the page shows the
        # result; the toasts wait in Session State for that run.
        st.session_state[QUEUE_TOASTS_KEY] = toasts
        st.rerun()
    for body, icon in toasts:
        st.toast(body, icon=icon)
    counts = Counter(job.status for job in jobs)
    queued = counts["queued"] + counts["waiting_vram"]
    st.caption(
        f":material/queue: Render queue: {queued} queued · {counts['running']} running · "
        f"{counts['done']} done · {counts['failed']} failed"
    )
    for job in jobs:
        if job.status == "running":
            st.progress(min(max(job.progress, 0.0), 1.0), text=common.escape_markdown(job_name(job)))


def bring_in(studio: Studio, project_id: str) -> None:
    """Bring finished renders into the project: where completions are reported (a job left
    the queue) and once per session and project (for jobs that finished while no one looked),
    never on every page view. ``sync_renders`` is idempotent and writes nothing when nothing
    is new."""
    st.session_state.setdefault(QUEUE_SYNCED_KEY, set()).add(project_id)
    try:
        with st.spinner("Bringing in finished renders…"):
            studio.sync_renders(project_id)
    except StudioError as exc:
        st.toast(f"Finished renders could not be brought in: {exc}", icon=":material/error:")


def queue_summary(studio: Studio) -> None:
    """The sidebar's render queue: a toast when a job finishes (on any page), then counts."""
    for body, icon in st.session_state.pop(QUEUE_TOASTS_KEY, []):
        st.toast(body, icon=icon)
    project_id = st.session_state.get(common.PROJECT_KEY)
    if not project_id:
        st.session_state.pop(QUEUE_SEEN_KEY, None)
        st.caption(":material/queue: Render queue: pick a project to see its jobs")
        return
    try:
        toasts, busy = finished_jobs(studio.render_jobs(project_id))
    except StudioError:
        toasts, busy = [], False
    if toasts or project_id not in st.session_state.get(QUEUE_SYNCED_KEY, set()):
        bring_in(studio, project_id)
    for body, icon in toasts:  # a full run draws the page afresh: no rerun needed
        st.toast(body, icon=icon)
    st.fragment(queue_counts, run_every=QUEUE_POLL_S if busy else None)(studio, project_id)


def stage_gates(studio: Studio | None) -> dict[Stage, Gate]:
    project_id = st.session_state.get(common.PROJECT_KEY)
    if studio is None or not project_id:
        return {}
    try:
        # Per-scene stages (7-12) show the gate of the scene opened in the hub.
        return studio.gates(project_id, st.session_state.get(common.SCENE_KEY))
    except StudioError:
        return {}


def stage_page(stage: Stage, gates: dict[Stage, Gate]) -> st.Page:
    """A stage's navigation entry; a lock icon while its gate is closed."""
    gate = gates.get(stage)
    title = f"{int(stage)} · {stage.title}"
    tooltip = gate.reason if gate else None
    if stage in BUILT_STAGES:
        icon = common.gate_icon(stage, gate)
        return st.Page(
            BUILT_STAGES[stage], title=title, icon=icon, url_path=f"stage-{int(stage)}", help=tooltip
        )
    icon = common.gate_icon(stage, gate) if gate else common.LOCK_ICON
    return st.Page(
        stage_placeholder(stage),
        title=f"{title} (not built)",
        icon=icon,
        url_path=f"stage-{int(stage)}",
        help=tooltip,
    )


studio = start_studio()
if studio is not None:
    common.restore_place(studio)  # a reload or a bookmark: the place named in the URL
with st.sidebar:
    st.markdown("#### :material/movie_edit: Aiuteur Studio")
    if studio is not None:
        project_picker(studio)
        sidebar_status(studio)

gates = stage_gates(studio)
navigation = st.navigation(
    {
        "Studio": [
            st.Page(
                common.DASHBOARD, title="Projects", icon=":material/dashboard:",
                url_path="projects", default=True,
            ),
            st.Page(
                common.HISTORY, title="Version history", icon=":material/account_tree:",
                url_path="version-history",
            ),
            st.Page(
                common.VAULT, title="Artifact vault", icon=":material/inventory_2:",
                url_path="artifact-vault",
            ),
            st.Page(
                QA_DASHBOARD, title="QA dashboard", icon=":material/monitoring:",
                url_path="qa-dashboard",
            ),
            st.Page(
                common.SETTINGS, title="Settings", icon=":material/settings:",
                url_path="studio-settings",
            ),
        ],
        "Phase A": [stage_page(stage, gates) for stage in Stage if stage <= Stage.ASSETS],
        "Phase B": [stage_page(stage, gates) for stage in Stage if stage >= Stage.HUB],
    },
    expanded=True,
)
navigation.run()
