"""QA dashboard: the run log of the selected project as charts — VRAM over time per job,
coherence per shot, identity drift per character, stage durations, P95 shot latency, failure
reasons, verdict counts — with branch and run filters, "Run QA now" (in the background, with
its progress; the run appears when it is done), the verdict beside what was not rendered,
and a shot's frames opened from a point of the coherence chart (or from the shot picker)."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import streamlit as st

from pages import common

LEVEL_COLOURS = {"PASS": "#2e7d32", "WARN": "#f9a825", "FAIL": "#c62828"}
LEVEL_BADGES = {"PASS": "green", "WARN": "orange", "FAIL": "red"}
LEVEL_ICONS = {"PASS": ":material/check_circle:", "WARN": ":material/warning:", "FAIL": ":material/error:"}
OPEN_KEY = "qa_open_shot"
SEEN_KEY = "_qa_seen_point"
MAX_REASONS = 20
WATCH_KEY = "_qa_watching"  # the background run this session started and waits for
POLL_S = 1
METRIC_COLUMNS = ["scope", "subject", "name", "value", "level", "reason"]


def chart(fig, key: str, **kwargs):
    fig.update_layout(margin={"l": 10, "r": 10, "t": 40, "b": 10}, height=320)
    return st.plotly_chart(fig, key=key, width="stretch", **kwargs)


def run_state(run: dict) -> str:
    """PASS / WARN / FAIL, or "interrupted" (closed by a crash or an error) or "running"."""
    if run.get("state") == "interrupted":
        return "interrupted"
    return run.get("verdict") or "running"


def run_label(run: dict) -> str:
    started = str(run.get("started_at") or "")[:19].replace("T", " ")
    return f"{started} · {run.get('kind')} · {run.get('branch')} · {run_state(run)}"


def progress_panel() -> None:
    """The background run of this project: its progress while it runs (this fragment reruns
    every second), then the page reruns once to show the new run."""
    task = common.act(studio.qa_progress, project.id)
    if task is None:
        return
    watching = st.session_state.get(WATCH_KEY)
    if task.state == "running":
        text = f"Measuring the rendered clips… {task.done} of {task.total or '?'} — {task.message}"
        st.progress(task.fraction, text=common.escape_markdown(text))
        st.caption("You can leave this page: the run goes on and is recorded when it is done.")
        if watching is None:  # started by another session (or before a refresh): follow it
            st.session_state[WATCH_KEY] = task.started
        return
    if watching is not None and watching == task.started:
        st.session_state.pop(WATCH_KEY, None)
        if task.state == "failed":
            common.flash(f"The QA run stopped: {common.escape_markdown(task.error)}", "error")
        else:
            common.flash("The QA run is done: its verdict is below.")
        st.session_state.pop(run_key, None)  # show the new run (the latest)
        st.session_state.pop(OPEN_KEY, None)
        st.rerun()


def show_verdict(level: str, reasons: list[str], what: str) -> None:
    st.badge(f"{what}: {level}", icon=LEVEL_ICONS.get(level), color=LEVEL_BADGES.get(level, "gray"))
    shown = list(reasons)[:MAX_REASONS]
    if shown:
        st.markdown("\n".join(f"- {common.escape_markdown(reason)}" for reason in shown))
    if len(reasons) > MAX_REASONS:
        st.caption(f"… and {len(reasons) - MAX_REASONS} more (see the metric table).")


def vram_chart(board: dict) -> None:
    if not board["telemetry"]:
        st.info("No VRAM samples: none of these renders ran on a GPU (the CPU animatic and a ComfyUI server started with --cpu use none).", icon=":material/memory:")
        return
    frame = pd.DataFrame(board["telemetry"])
    frame["job"] = frame["job_id"].fillna("(between jobs)")
    fig = px.line(frame, x="t_rel_s", y="vram_used_mb", color="job", markers=True,
                  title="VRAM over time per job", labels={"t_rel_s": "s since run start", "vram_used_mb": "VRAM (MB)"})
    chart(fig, "qa_vram")


def coherence_chart(board: dict) -> None:
    rows = [r for r in board["run_metrics"] if r["scope"] == "shot" and r["name"] == "ssim_mean"]
    if not rows:
        st.info("No coherence figures in this run: nothing was rendered when it ran.", icon=":material/info:")
        return
    frame = pd.DataFrame(rows)
    fig = px.bar(frame, x="subject", y="value", color="level", color_discrete_map=LEVEL_COLOURS,
                 custom_data=["scene_id", "shot_id"], title="Coherence per shot (mean frame-to-frame SSIM)",
                 labels={"subject": "shot", "value": "SSIM"})
    event = chart(fig, "qa_coherence", on_select="rerun", selection_mode="points")
    points = event.get("selection", {}).get("points", []) if event else []
    picked = tuple(points[0].get("customdata") or ())[:2] if points else None
    # The selection stays in the widget's state across reruns: act on a new click only, so
    # the shot picker below can still open another shot.
    if picked and len(picked) == 2 and picked != st.session_state.get(SEEN_KEY):
        st.session_state[OPEN_KEY] = picked
    st.session_state[SEEN_KEY] = picked
    st.caption("Click a bar to open that shot's frames below.")


def identity_chart(board: dict) -> None:
    rows = [r for r in board["run_metrics"] if r["scope"] == "character" and r["name"] == "identity_distance"]
    if not rows:
        st.info("No identity figures in this run: no character was large enough in its anchor frames to "
                "compare with its image key, or nothing was rendered.", icon=":material/face:")
        return
    frame = pd.DataFrame(rows)  # the run's rows come in scene order
    labels = board.get("scene_labels") or {}
    frame["scene"] = [labels.get(sid, sid) for sid in frame["scene_id"]]
    fig = px.line(frame, x="scene", y="value", color="subject", markers=True, hover_data=["level", "reason"],
                  title="Identity drift per character across scenes",
                  labels={"value": "distance to the image key", "subject": "character"})
    chart(fig, "qa_identity")


def stage_chart(board: dict) -> None:
    rows = [r for r in board["stage_durations"] if r.get("duration_s") is not None]
    if not rows:
        st.info("No stage durations recorded yet.", icon=":material/timer:")
        return
    frame = pd.DataFrame(rows)
    fig = px.bar(frame, x="name", y="duration_s", color="kind", barmode="group", title="Stage durations",
                 labels={"name": "stage", "duration_s": "seconds"})
    chart(fig, "qa_stages")


def latency_chart(board: dict) -> None:
    if not board["p95_shot_latency"]:
        st.info("No finished shot jobs recorded yet: no latency to show.", icon=":material/speed:")
        return
    frame = pd.DataFrame(board["p95_shot_latency"])
    frame["run"] = frame["run_started_at"].astype(str).str[:19].str.replace("T", " ")
    fig = px.bar(frame, x="run", y=["p50_latency_s", "p95_latency_s"], barmode="group",
                 title="Shot latency per run (queue wait + render)", labels={"value": "seconds", "variable": ""})
    chart(fig, "qa_latency")


def jobs_chart(board: dict) -> None:
    if not board["jobs"]:
        st.info("No render jobs recorded with this run.", icon=":material/queue:")
        return
    frame = pd.DataFrame(board["jobs"]).groupby(["kind", "status"], as_index=False).size()
    fig = px.bar(frame, x="kind", y="size", color="status", title="Render jobs of this run",
                 labels={"size": "jobs", "kind": "job kind"})
    chart(fig, "qa_jobs")


def failure_chart(board: dict) -> None:
    if not board["failure_reasons"]:
        st.success("No failed jobs in the run log.", icon=":material/check_circle:")
        return
    fig = px.bar(pd.DataFrame(board["failure_reasons"]), x="failure_class", y="jobs", title="Failure reasons",
                 labels={"failure_class": "failure class", "jobs": "failed jobs"})
    chart(fig, "qa_failures")


def verdict_chart(board: dict) -> None:
    fig = px.bar(pd.DataFrame(board["verdict_counts"]), x="verdict", y="runs", color="verdict",
                 color_discrete_map=LEVEL_COLOURS, title="Verdicts of the runs")
    chart(fig, "qa_verdicts")


def shot_frames(board: dict) -> None:
    """The fallback to a chart click: pick a measured shot, open its frames."""
    shots = sorted({(r["scene_id"], r["shot_id"]) for r in board["run_metrics"] if r["scope"] == "shot" and r["shot_id"]})
    if not shots:
        return
    labels = {shot: next(r["subject"] for r in board["run_metrics"] if (r["scene_id"], r["shot_id"]) == shot) for shot in shots}
    pick_col, open_col = st.columns([4, 1], vertical_alignment="bottom")
    shot = pick_col.selectbox("Shot", shots, format_func=lambda s: labels.get(s, str(s)), key="qa_shot_pick")
    if open_col.button("Open frames", key="qa_open_frames", icon=":material/photo_library:", width="stretch"):
        st.session_state[OPEN_KEY] = shot
    opened = st.session_state.get(OPEN_KEY)
    if not opened:
        return
    scene_id, shot_id = opened
    doc = common.act(studio.scene, project.id, scene_id)
    if doc is None:
        return
    st.markdown(f"**Frames of {common.escape_markdown(labels.get(tuple(opened), shot_id))}**")
    cols = st.columns(2)
    for col, which in zip(cols, ("start", "end"), strict=True):
        frame = next((f for f in reversed(doc.work.frames) if f.shot_id == shot_id and f.which == which), None)
        with col:
            common.show_image(studio, frame.media if frame else None, f"{which} frame",
                              missing=f"No {which} frame for this shot")


studio, project = common.project_page("QA dashboard")

branches = common.act(studio.branches, project.id) or []
branch = st.selectbox("Branch", [None, *(b["name"] for b in branches)], key="qa_branch",
                      format_func=lambda name: "All branches" if name is None else name)
run_key = f"qa_run_{branch or '*'}"

task = common.act(studio.qa_progress, project.id)
running = task is not None and task.state == "running"
if st.button("Run QA now", key="qa_run_now", icon=":material/fact_check:", type="primary", disabled=running,
             help="QA is running: its progress is below." if running else
             "Measures every rendered shot and scene in the background, judges it and records the run."):
    started = common.act(studio.start_qa, project.id)
    if started is not None:
        st.session_state[WATCH_KEY] = started.started
        st.rerun()
st.fragment(progress_panel, run_every=POLL_S if running else None)()

board = common.act(studio.qa_dashboard, project.id, branch=branch, run_id=st.session_state.get(run_key))
if board is None:
    st.stop()
run_ids = [run["id"] for run in board["runs"]]
if not run_ids:
    if not running:
        st.info("No QA runs yet for this project: press **Run QA now** (or run `studio qa`).", icon=":material/info:")
    st.stop()
if st.session_state.get(run_key) not in run_ids:
    st.session_state.pop(run_key, None)
    board = common.act(studio.qa_dashboard, project.id, branch=branch)
    if board is None:
        st.stop()
runs = {run["id"]: run for run in board["runs"]}
st.selectbox("Run", list(runs), key=run_key, format_func=lambda rid: run_label(runs[rid]))
run = runs[board["run_id"]]

st.subheader("Verdict", anchor=False)
verdict_col, missing_col = st.columns([3, 2])
with verdict_col:
    show_verdict(run_state(run), run.get("reasons") or [], "Run verdict")
with missing_col:
    missing = list((run.get("fields") or {}).get("not_rendered") or [])
    if missing:
        st.markdown("**Not rendered** — not in the verdict:")
        st.markdown("\n".join(f"- {common.escape_markdown(item)}" for item in missing))
    else:
        st.caption("Every scene was rendered when this run measured it.")

st.subheader("Shots", anchor=False)
left, right = st.columns(2)
with left:
    coherence_chart(board)
with right:
    vram_chart(board)
shot_frames(board)

st.subheader("Characters", anchor=False)
identity_chart(board)

st.subheader("Pipeline", anchor=False)
left, right = st.columns(2)
with left:
    stage_chart(board)
    jobs_chart(board)
    failure_chart(board)
with right:
    latency_chart(board)
    verdict_chart(board)

st.subheader("Metrics of this run", anchor=False)
if board["run_metrics"]:
    st.dataframe(pd.DataFrame(board["run_metrics"])[METRIC_COLUMNS], hide_index=True)
