"""Stage 12 — Video & review: the scene's render jobs (live, cancellable), the scene cut with
shot markers and its clips, issue routing (success → hub, visual → anchor frames, narrative
or audio → shot list) with a failure-attribution helper, and the film once every scene is done."""

from __future__ import annotations

from collections import Counter

import pandas as pd
import streamlit as st

from pages import common
from studio.model import Stage
from studio.pipeline import SceneStatus

ACTIVE = ("queued", "waiting_vram", "running")
POLL_S = 2
QA_DASHBOARD = "pages/qa_dashboard.py"
QA_ICONS = {"PASS": ":material/check_circle:", "WARN": ":material/warning:", "FAIL": ":material/error:"}
NO_ROUTE = "none"  # "Suggest a route" read the note and found nothing to go on
ROUTE_PAGES = {6: common.STAGE6, 7: common.STAGE7, 10: common.STAGE10}
VERDICTS = {
    "success": ("Success", ":material/check_circle:", "the video is approved; back to the hub"),
    "visual": ("Visual issue", ":material/image:", "back to stage 10 — anchor frames (their prompts: stage 9)"),
    "narrative": ("Narrative issue", ":material/menu_book:", "back to stage 7 — shot list"),
    "audio": ("Audio issue", ":material/graphic_eq:", "back to stage 7 — shot list"),
}
STATUS_ICONS = {
    "queued": "⏳", "waiting_vram": "⏸", "running": "▶", "done": "✓", "failed": "✗", "cancelled": "⊘",
}


def timecode(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 60}:{whole % 60:02d}"


def jump_to(seconds: float) -> None:
    """Marker callback: the player starts at this shot."""
    st.session_state[f"player_start_{scene.id}"] = seconds


def job_label(job) -> str:
    if job.scene_id == "film":
        return "film assembly"
    if job.kind == "assemble":
        return "scene cut"
    return f"{job.kind} {job.shot_id or ''}".strip()


def job_monitor(watched: tuple[str, ...]) -> None:
    """The scene's jobs, live: progress, cancel; a finished job is brought in (then rerun)."""
    jobs = common.act(studio.render_jobs, project.id, scene.id)
    film_jobs = common.act(studio.render_jobs, project.id, "film")
    if jobs is None or film_jobs is None:
        return
    by_id = {job.id: job for job in [*jobs, *film_jobs]}
    if any(job_id in by_id and by_id[job_id].status not in ACTIVE for job_id in watched):
        common.act(studio.sync_renders, project.id)
        st.rerun()
    active = [job for job in [*jobs, *film_jobs] if job.status in ACTIVE]
    for job in active:
        bar_col, cancel_col = st.columns([5, 1], vertical_alignment="bottom")
        status = "waiting for VRAM" if job.status == "waiting_vram" else job.status
        text = f"{job_label(job)}: {status}" + (
            f" — {job.message}" if job.message and job.message != job.status else ""
        )
        bar_col.progress(min(max(job.progress, 0.0), 1.0), text=common.escape_markdown(text))
        if cancel_col.button("Cancel", key=f"cancel_{job.id}", icon=":material/cancel:", width="stretch"):
            if common.act(studio.cancel_job, job.id) is not None:
                common.flash(f"Cancelled: {job_label(job)}.", "info")
                st.rerun()
    if any(job.status == "queued" for job in active):
        st.caption(
            "Queued jobs wait for the render worker: the app starts one in the background "
            "(or run `studio worker`). You can leave this page; the sidebar shows progress."
        )
    if not jobs:
        st.caption("No render jobs for this scene yet.")
        return
    counts = Counter(job.status for job in jobs)
    st.caption(" · ".join(f"{count} {status}" for status, count in sorted(counts.items())))
    with st.expander(f"All render jobs of this scene ({len(jobs)})", icon=":material/list:"):
        st.dataframe(
            pd.DataFrame([
                {
                    "job": job_label(job),
                    "status": f"{STATUS_ICONS.get(job.status, '')} {job.status}",
                    "progress": job.progress,
                    "backend": job.backend,
                    "preset": job.preset,
                    "attempts": job.attempts,
                    "message": job.message + (f" ({job.failure_class})" if job.failure_class else ""),
                    "updated": job.updated_at[:19].replace("T", " "),
                }
                for job in jobs
            ]),
            hide_index=True,
            column_config={
                "progress": st.column_config.ProgressColumn("Progress", min_value=0.0, max_value=1.0),
                "message": st.column_config.TextColumn("Message", width="large"),
            },
        )


def player(doc, shots) -> None:
    clips = {clip.shot_id: clip for clip in doc.work.clips}  # the latest clip of each shot
    if not doc.work.assembled:
        count = sum(shot.id in clips for shot in shots)
        if shots and count == len(shots):
            st.info("Every shot has its clip: the scene is being cut together (see the render jobs).",
                    icon=":material/movie:")
        else:
            st.info(
                f"The scene is cut together once every shot has its clip ({count} of {len(shots)} in).",
                icon=":material/movie:",
            )
    else:
        markers, start = [], 0.0
        for shot in shots:
            markers.append((shot, start))
            start += clips[shot.id].duration_s if shot.id in clips else shot.duration_s
        st.markdown(":material/bookmarks: **Shot markers** — click one to start the player there")
        with st.container(horizontal=True):
            for shot, at in markers:
                st.button(
                    f"{shot.id} · {timecode(at)}", key=f"marker_{scene.id}_{shot.id}",
                    on_click=jump_to, args=(at,), help=shot.action[:200] or None,
                )
        data = common.act(studio.media_bytes, doc.work.assembled)
        if data:
            st.video(data, start_time=st.session_state.get(f"player_start_{scene.id}", 0.0))
    shot_clips = [clips[shot.id] for shot in shots if shot.id in clips]
    if not shot_clips:
        return
    with st.expander(f"Clips of the shots ({len(shot_clips)})", icon=":material/video_library:"):
        for first in range(0, len(shot_clips), 3):
            for col, clip in zip(st.columns(3), shot_clips[first:first + 3], strict=False):
                data = common.act(studio.media_bytes, clip.media)
                if data:
                    col.video(data)
                col.caption(f"Shot {common.escape_markdown(clip.shot_id)} · v{clip.version} · "
                            f"{clip.duration_s:g} s · seed {clip.seed}")


def review(doc, shots) -> None:
    note_key, suggest_key = f"review_note_{scene.id}", f"review_suggest_{scene.id}"
    note = st.text_area("Review note", key=note_key, height=90,
                        placeholder="e.g. Theo's coat changes colour between 2B and 2C")
    shot_id = st.selectbox("About shot (optional)", [None, *(shot.id for shot in shots)],
                           key=f"review_shot_{scene.id}",
                           format_func=lambda sid: "the whole scene" if sid is None else f"shot {sid}")
    if st.button("Suggest a route", key=f"review_suggest_btn_{scene.id}", icon=":material/alt_route:",
                 help="Reads the note and proposes where the problem was made."):
        if (note or "").strip():
            st.session_state[suggest_key] = studio.suggest_route(note) or NO_ROUTE
        else:
            st.session_state.pop(suggest_key, None)
            st.warning("Write a review note first: the suggestion is read from it.", icon=":material/edit:")
    suggested = st.session_state.get(suggest_key)
    if suggested in VERDICTS:
        title, icon, where = VERDICTS[suggested]
        st.info(f"Suggested: **{title}** — {where}. The choice is yours.", icon=icon)
    elif suggested == NO_ROUTE:
        st.info("No route suggested: the note does not say what is wrong (or that all is well). "
                "Name what you see — the picture, the story or the sound — or choose below.",
                icon=":material/help:")
    locked = gate.locked
    reasons = {
        "success": "This scene's video is approved already." if locked
        else None if doc.work.assembled else "The scene is not cut together yet: wait for its clips.",
    }
    cols = st.columns(len(VERDICTS))
    for col, (verdict, (title, icon, where)) in zip(cols, VERDICTS.items(), strict=True):
        reason = reasons.get(verdict)
        if col.button(title, key=f"review_{verdict}_{scene.id}", icon=icon, width="stretch",
                      type="primary" if verdict == suggested else "secondary",
                      disabled=reason is not None, help=reason or where.capitalize() + "."):
            result = common.act(studio.review_scene, project.id, scene.id, verdict, note or "", shot_id)
            if result is not None:
                st.session_state.pop(suggest_key, None)
                common.flash(f"Scene {number}: {title.lower()} — {where}.")
                st.switch_page(ROUTE_PAGES[result.routed_to])
    if doc.work.review:
        with st.expander(f"Earlier reviews ({len(doc.work.review)})", icon=":material/history:"):
            for item in reversed(doc.work.review):
                title = VERDICTS.get(item.verdict, (item.verdict,))[0]
                about = f" · shot {item.shot_id}" if item.shot_id else ""
                st.markdown(f"**{title}** → stage {item.routed_to}{common.escape_markdown(about)}  \n"
                            + common.escape_markdown(item.note or "(no note)"))


def qa_summary() -> None:
    """The latest QA run of this branch: its verdict and what it says about this scene."""
    board = common.act(studio.qa_dashboard, project.id, branch=project.active_branch)
    if board is not None and board["runs"]:
        run = board["runs"][0]
        level = "interrupted" if run.get("state") == "interrupted" else run.get("verdict") or "running"
        st.badge(f"Latest QA run: {level}", icon=QA_ICONS.get(level), color={"PASS": "green", "FAIL": "red"}.get(level, "orange"))
        rows = [r for r in board["run_metrics"] if r.get("scene_id") == scene.id and r["level"] != "PASS"]
        # one line per problem and shot (SSIM and warp error both mean an unstable image), worst first
        lines: dict[tuple[str, str], tuple[str, str]] = {}
        for r in sorted(rows, key=lambda r: r["level"] != "FAIL"):
            reason = r["reason"] or r["name"]
            lines.setdefault((r.get("subject") or "", reason.split(" (")[0].split(". ")[0]), (r["level"], reason))
        if lines:
            st.markdown("\n".join(f"- {level} · {common.escape_markdown(subject)}: {common.escape_markdown(reason)}"
                                   for (subject, _), (level, reason) in list(lines.items())[:20]))
        elif run.get("state") == "interrupted":
            st.caption("That run was interrupted before it finished: run QA again.")
        elif scene.id not in {r.get("scene_id") for r in board["run_metrics"]}:
            st.caption("This scene was not rendered when that run measured: it is not in its verdict.")
        else:
            st.caption("Nothing flagged for this scene in that run.")
    elif board is not None:
        st.caption("No QA run yet for this branch.")
    st.page_link(QA_DASHBOARD, label="QA dashboard", icon=":material/monitoring:")


def film(film_jobs) -> None:
    rows = common.act(studio.hub, project.id)
    if rows is None:
        return
    complete = sum(row.status == SceneStatus.VIDEO_COMPLETE for row in rows)
    ready = bool(rows) and complete == len(rows)
    st.caption(f"{complete} of {len(rows)} scene(s) have an approved video: the film is cut together "
               "from every scene's cut, in script order.")
    if st.button("Assemble the film", key="assemble_film", icon=":material/theaters:", type="primary",
                 disabled=not ready, help=None if ready else "Approve every scene's video first."):
        job = common.act(studio.assemble_film, project.id)
        if job is not None:
            common.flash("The film is being assembled." if job.status in ACTIVE else "The film is assembled.")
            st.rerun()
    latest = max(film_jobs, key=lambda job: job.created_at, default=None)
    if latest is None or not ready:
        return
    if latest.status == "failed":
        st.error(f"The film assembly failed: {common.escape_markdown(latest.message)}", icon=":material/error:")
    elif latest.status == "done":
        path = common.act(studio.film_output, project.id, latest.id)
        if path is not None:
            st.video(str(path))
            st.download_button(
                "Download the film", data=path.read_bytes, file_name=path.name, mime="video/mp4",
                key="download_film", icon=":material/download:", on_click="ignore",
            )


studio, project = common.project_page("Stage 12 — Video & review")
number, scene = common.current_scene(studio, project, Stage.VIDEO)

gates = common.act(studio.gates, project.id, scene.id)
doc = common.act(studio.scene, project.id, scene.id)
shot_view = common.act(studio.shot_list, project.id, scene.id)
jobs = common.act(studio.render_jobs, project.id, scene.id)
film_jobs = common.act(studio.render_jobs, project.id, "film")
if gates is None or doc is None or shot_view is None or jobs is None or film_jobs is None:
    st.stop()
gate = gates[Stage.VIDEO]
common.show_gate(gate)
if not gate.open and not gate.locked:
    st.page_link(common.STAGE11, label="Stage 11 — Cost & VRAM gate", icon=common.STAGE_ICONS[Stage.CONFIRM])
    st.stop()

st.subheader("Render jobs", anchor=False)
watched = tuple(job.id for job in [*jobs, *film_jobs] if job.status in ACTIVE)
st.fragment(job_monitor, run_every=POLL_S if watched else None)(watched)
st.subheader("Scene cut", anchor=False)
player(doc, shot_view.shots)
st.subheader("QA", anchor=False)
qa_summary()
st.subheader("Review", anchor=False)
review(doc, shot_view.shots)
st.subheader("The film", anchor=False)
film(film_jobs)
