"""Stage 10 — Anchor frames: the required Quick / Control choice, rendering, approval (start
before end in Control), the rearview mirror with ghost overlay and flicker, region edits,
the continuity-drift flag and the lock."""

from __future__ import annotations

import io

import numpy as np
import streamlit as st
from PIL import Image, UnidentifiedImageError

from pages import common
from studio.errors import StudioError
from studio.model import Stage

ACTIVE = ("queued", "waiting_vram", "running")
POLL_S = 2
PENDING_KEY = "_frames_mode_action"
MODES = {
    "quick": (
        "Quick (bulk)",
        "Render every missing anchor frame at once, then review and approve them in any order.",
    ),
    "control": (
        "Control (sequential)",
        "One frame at a time, in shot order: each start frame is approved before its end "
        "frame is made, so every frame continues from an approved one.",
    ),
}
WHICH = {"start": "Start frame", "end": "End frame"}


def done(message: str, kind: str = "success") -> None:
    common.flash(message, kind)
    st.rerun()


def queue_mode(widget_key: str) -> None:
    """Radio callback: remember the choice; the page body performs it (and shows errors)."""
    st.session_state[PENDING_KEY] = st.session_state.get(widget_key)


def decode(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data)).convert("RGB")


@st.cache_data(max_entries=64, show_spinner=False)
def ghost_overlay(previous_id: str, current_id: str, _studio) -> np.ndarray:
    """The two frames blended 50/50 (media ids are content hashes: a safe cache key)."""
    current = decode(_studio.media_bytes(current_id))
    previous = decode(_studio.media_bytes(previous_id)).resize(current.size)
    blend = (np.asarray(current, dtype=np.uint16) + np.asarray(previous, dtype=np.uint16)) // 2
    return blend.astype(np.uint8)


def rectangle_mask(size: tuple[int, int], x: float, y: float, w: float, h: float) -> bytes:
    """A PNG mask of ``size`` (white = change) from a rectangle given in percent."""
    width, height = size
    mask = np.zeros((height, width), dtype=np.uint8)
    left, top = int(width * x / 100), int(height * y / 100)
    right, bottom = int(width * min(x + w, 100) / 100), int(height * min(y + h, 100) / 100)
    mask[top:bottom, left:right] = 255
    out = io.BytesIO()
    Image.fromarray(mask, "L").save(out, "PNG")
    return out.getvalue()


def mask_preview(frame: Image.Image, mask_png: bytes) -> np.ndarray:
    """The frame with the masked region tinted red, to check the mask before sending it."""
    mask = Image.open(io.BytesIO(mask_png)).convert("L").resize(frame.size)
    pixels = np.asarray(frame, dtype=np.float32)
    alpha = (np.asarray(mask, dtype=np.float32) / 255.0)[..., None] * 0.45
    tinted = pixels * (1 - alpha) + np.array([230.0, 40.0, 40.0]) * alpha
    return tinted.astype(np.uint8)


def png(pixels: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "PNG")
    return out.getvalue()


@st.cache_data(max_entries=256, show_spinner=False)
def rectangle_edit(media_id: str, x: float, y: float, w: float, h: float, _studio) -> tuple[bytes, bytes]:
    """(mask PNG, preview PNG) of a rectangle on a stored frame, kept per frame and
    rectangle (media ids are content hashes): every frame of the page has a region editor,
    and decoding and tinting each one on every run made stage 10 take seconds."""
    image = decode(_studio.media_bytes(media_id))
    mask = rectangle_mask(image.size, x, y, w, h)
    return mask, png(mask_preview(image, mask))


def job_monitor(watched: tuple[str, ...]) -> None:
    """Frame jobs in flight with their progress; when one finishes, bring it in and rerun."""
    jobs = common.act(studio.render_jobs, project.id, scene.id)
    if jobs is None:
        return
    by_id = {job.id: job for job in jobs}
    if any(job_id in by_id and by_id[job_id].status not in ACTIVE for job_id in watched):
        common.act(studio.sync_renders, project.id)
        st.rerun()
    active = [job for job in jobs if job.status in ACTIVE and job.kind == "frame"]
    if not active:
        return
    st.markdown(f"**Rendering** :gray-badge[{len(active)} frame job(s)]")
    for job in active:
        status = "waiting for VRAM" if job.status == "waiting_vram" else job.status
        text = f"Shot {job.shot_id} frame: {status}"
        if job.message and job.message != job.status:
            text += f" — {job.message}"
        st.progress(min(max(job.progress, 0.0), 1.0), text=common.escape_markdown(text))
    if any(job.status == "queued" for job in active):
        st.caption(
            "Queued jobs wait for the render worker: the app starts one in the background "
            "(or run `studio worker`). You can leave this page; the sidebar shows progress."
        )


def frame_status(frame) -> str:
    if frame is None:
        return ":gray-badge[:material/hide_image: not rendered]"
    if frame.approved:
        return ":green-badge[:material/check: approved]"
    return ":orange-badge[:material/pending: awaiting approval]"


def frame_actions(row, which: str, frame) -> None:
    """Approve / Reject / Re-render for one frame; Control approves start before end."""
    shot_id = row.shot.id
    stem = f"{scene.id}_{shot_id}_{which}"
    start_ok = row.start is not None and row.start.approved
    blocked_end = which == "end" and view.mode == "control" and not start_ok
    with st.container(horizontal=True):
        if st.button("Approve", key=f"fr_approve_{stem}", icon=":material/check:", type="primary",
                     disabled=not editable or frame is None or frame.approved or blocked_end,
                     help="Control mode: approve the start frame first." if blocked_end else None):
            if common.act(studio.approve_frame, project.id, scene.id, shot_id, which) is not None:
                done(f"Shot {shot_id}: {which} frame approved.")
        if st.button("Reject", key=f"fr_reject_{stem}", icon=":material/close:",
                     disabled=not editable or frame is None,
                     help="Withdraw the approval; then re-render or edit a region."):
            if common.act(studio.approve_frame, project.id, scene.id, shot_id, which, False) is not None:
                done(f"Shot {shot_id}: {which} frame rejected.", "info")
        label = "Re-render" if frame is not None else "Render"
        if st.button(label, key=f"fr_rerender_{stem}", icon=":material/refresh:",
                     disabled=not editable or blocked_end):
            jobs = common.act(studio.render_frames, project.id, scene.id, shot_id=shot_id, which=which,
                              preset=preset, variation=frame is not None)
            if jobs is not None:
                take = "a new take (new seed) of the" if frame is not None else "the"
                done(f"Shot {shot_id}: {take} {which} frame is queued.")


def rearview(index: int, row) -> None:
    """The start frame against the frame it continues from: ghost overlay and flicker."""
    if index > 0:
        before = view.rows[index - 1]
        previous = before.end if before.needs_end else before.start
        previous_id = previous.media if previous else None
        label = f"shot {before.shot.id}'s {'end' if before.needs_end else 'start'} frame"
    else:
        previous_id = rear.last_frame
        label = "the previous scene's last frame"
    with st.expander(f"Rearview mirror — against {label}", icon=":material/compare:"):
        if index == 0 and rear.previous_heading is None:
            st.caption("This is the first shot of the first scene: nothing comes before it.")
            return
        if previous_id is None or row.start is None:
            st.caption(f"Render this start frame and {label} to compare them.")
            return
        ghost_col, flicker_col = st.columns(2)
        with ghost_col:
            st.image(ghost_overlay(previous_id, row.start.media, studio), width="stretch",
                     caption="Ghost overlay: both frames at 50%")
        with flicker_col:
            flip = st.toggle("Flicker: show the previous frame", key=f"fr_flicker_{scene.id}_{row.shot.id}",
                             help="Toggle back and forth: anything that jumps is a continuity break.")
            shown = previous_id if flip else row.start.media
            common.show_image(studio, shown, f"Previous: {label}" if flip else "This start frame")


def region_edit(row, which: str, frame) -> None:
    """Re-render part of a frame: a mask (uploaded, or a rectangle) and a prompt."""
    stem = f"{scene.id}_{row.shot.id}_{which}"
    with st.expander(f"Region edit — {WHICH[which].lower()}", icon=":material/format_shapes:"):
        source = st.radio("Mask", ["rectangle", "upload"], key=f"fr_mask_src_{stem}", horizontal=True,
                          format_func={"rectangle": "Rectangle", "upload": "Upload a PNG mask"}.get,
                          disabled=not editable)
        mask: bytes | None = None
        if source == "rectangle":
            cols = st.columns(4)
            x, y, w, h = (
                col.number_input(f"{name} %", 0.0, 100.0, value=default, step=5.0, key=f"fr_{name}_{stem}",
                                 disabled=not editable)
                for col, name, default in zip(cols, ("x", "y", "w", "h"), (25.0, 25.0, 50.0, 50.0), strict=True)
            )
            if w > 0 and h > 0:
                try:
                    mask, preview = rectangle_edit(frame.media, x, y, w, h, studio)
                except StudioError as exc:
                    st.error(common.escape_markdown(str(exc)), icon=":material/error:")
                    return
                st.image(preview, width="stretch", caption="Red: the region that changes", output_format="PNG")
        else:
            upload = st.file_uploader("Mask PNG (white = change, black = keep)", type=["png"],
                                      key=f"fr_mask_file_{stem}", disabled=not editable)
            mask = upload.getvalue() if upload is not None else None
            data = common.act(studio.media_bytes, frame.media) if mask is not None else None
            if data is None:
                mask = None
            else:
                try:
                    st.image(mask_preview(decode(data), mask), width="stretch", caption="Red: the region that changes")
                except (UnidentifiedImageError, OSError, ValueError):
                    st.error("That mask is not a readable PNG image.", icon=":material/error:")
                    mask = None
        prompt = st.text_input("What the region should show", key=f"fr_region_prompt_{stem}",
                               disabled=not editable, placeholder="e.g. a red umbrella, closed")
        if st.button("Edit region", key=f"fr_region_{stem}", icon=":material/auto_fix_high:",
                     disabled=not editable or mask is None):
            job = common.act(studio.region_edit, project.id, scene.id, row.shot.id, which, mask, prompt or "",
                             preset=preset)
            if job is not None:
                done(f"Shot {row.shot.id}: region edit of the {which} frame queued.")


def frame_panel(row, which: str, frame) -> None:
    st.markdown(f"**{WHICH[which]}** {frame_status(frame)}")
    common.show_image(studio, frame.media if frame else None, missing="Not rendered yet")
    if frame is not None and frame.region_prompt:
        st.caption(f":material/auto_fix_high: Region edit: {common.escape_markdown(frame.region_prompt)}")
    frame_actions(row, which, frame)
    if frame is not None:
        region_edit(row, which, frame)


def drift_badge(value: float | None) -> str:
    if value is None:
        return " :gray-badge[:material/difference: continuity drift: not measured]"
    colour = "green" if value < 0.25 else ("orange" if value < 0.5 else "red")
    return f" :{colour}-badge[:material/difference: continuity drift {value:.2f}]"


def shot_row(index: int, row) -> None:
    shot = row.shot
    rendering = sum(job.status in ACTIVE for job in row.jobs)
    with st.container(border=True):
        st.markdown(
            f"**Shot {common.escape_markdown(shot.id)}** · {shot.duration_s:g} s · "
            f"{common.escape_markdown(shot.camera or 'camera —')} · {shot.movement} "
            + (":green-badge[:material/check_circle: complete]" if row.complete else "")
            + (f" :blue-badge[:material/hourglass_top: rendering {rendering}]" if rendering else "")
            + drift_badge(drift.get(shot.id))
        )
        if shot.action:
            st.caption(common.escape_markdown(shot.action))
        start_col, end_col = st.columns(2)
        with start_col:
            frame_panel(row, "start", row.start)
        with end_col:
            if row.needs_end:
                frame_panel(row, "end", row.end)
            else:
                st.markdown("**End frame** :gray-badge[start frame only]")
                st.info(
                    "No end frame (start frame only): the video model invents how the shot ends.",
                    icon=":material/skip_next:",
                )
        rearview(index, row)


studio, project = common.project_page("Stage 10 — Anchor frames")
number, scene = common.current_scene(studio, project, Stage.FRAMES)

pending = st.session_state.pop(PENDING_KEY, None)
if pending is not None:
    if common.act(studio.set_frame_mode, project.id, scene.id, pending) is not None:
        done(f"Scene {number}: {MODES[pending][0]} mode.")

gates = common.act(studio.gates, project.id, scene.id)
view = common.act(studio.frames_view, project.id, scene.id)
rear = common.act(studio.rearview, project.id, scene.id)
head = common.act(studio.head, project.id)
if gates is None or view is None or rear is None or head is None:
    st.stop()
gate = gates[Stage.FRAMES]
common.show_gate(gate)
if not gate.open and not gate.locked:
    st.page_link(common.STAGE9, label="Stage 9 — Prompt assembly", icon=common.STAGE_ICONS[Stage.PROMPTS])
    st.stop()
editable = gate.open and not view.locked

mode_key = f"frame_mode_{scene.id}"
common.seed_widgets("stage10", f"{project.id}:{scene.id}:{head}", {mode_key: view.mode})
st.radio(
    "Frame mode — choose one to start",
    list(MODES),
    key=mode_key,
    format_func=lambda mode: MODES[mode][0],
    captions=[MODES[mode][1] for mode in MODES],
    horizontal=True,
    disabled=not editable,
    on_change=queue_mode,
    args=(mode_key,),
)
if view.mode is None:
    st.info("Choose Quick or Control to start rendering anchor frames.", icon=":material/touch_app:")
    st.stop()

st.caption(
    "Each start frame continues from the frame before it (the previous shot's end frame, or "
    "the previous scene's last frame); each end frame predicts the shot's last moment from "
    f"its start frame. Backend: **{common.escape_markdown(studio.settings.render_backend)}** "
    "(change it in Settings)."
)
approved = sum(row.complete for row in view.rows)
render_col, preset_col, stats_col = st.columns([1.6, 1, 2], vertical_alignment="bottom")
preset = preset_col.selectbox("Preset", list(studio.presets), key=f"fr_preset_{scene.id}",
                              disabled=not editable, help="Frame size and VRAM; Fast is plenty for anchors.")
batch = None
if view.mode == "control":
    nxt = view.next_control
    label = f"Render next: {nxt[0]} {nxt[1]}" if nxt else "Every frame is approved"
else:
    # What the bulk render will queue and cost, before it runs (the same frames it renders).
    batch = common.act(studio.frames_estimate, project.id, scene.id, preset=preset)
    missing = batch.count if batch is not None else 0
    nxt = None
    label = f"Render frames ({missing} to make)" if missing else "Render frames"
pending_review = view.mode == "control" and nxt is not None and any(
    row.shot.id == nxt[0] and getattr(row, nxt[1]) is not None for row in view.rows
)
if render_col.button(
    label, key=f"fr_render_{scene.id}", icon=":material/photo_camera:", type="primary", width="stretch",
    disabled=not editable or (view.mode == "control" and (nxt is None or pending_review))
    or (view.mode == "quick" and approved == len(view.rows)),
    help="Control: review the frame below first (approve it to move on)." if pending_review else None,
):
    jobs = common.act(studio.render_frames, project.id, scene.id, preset=preset)
    if jobs is not None:
        queued = sum(job.status in ACTIVE for job in jobs)
        done(f"{queued} frame job(s) queued." if queued else "Nothing new to render: every frame is in.",
             "success" if queued else "info")
stats_col.markdown(
    f":gray-badge[{len(view.rows)} shot(s)] :green-badge[{approved} complete] "
    + (":green-badge[:material/lock: locked]" if view.locked else "")
)
if view.mode == "quick" and batch is not None and batch.count and editable:
    st.caption(":material/payments: Before you render: " + common.escape_markdown(batch.describe()) + ".")

watched = tuple(job.id for row in view.rows for job in row.jobs if job.status in ACTIVE)
st.fragment(job_monitor, run_every=POLL_S if watched else None)(watched)

drift = common.act(studio.frame_drift, project.id, scene.id) or {}
for index, row in enumerate(view.rows):
    shot_row(index, row)

if editable and approved < len(view.rows):
    st.caption(f"{len(view.rows) - approved} shot(s) still need approved frames before the lock.")
if st.button(
    "Lock anchor frames", key=f"fr_lock_{scene.id}", icon=":material/lock:", type="primary",
    disabled=not editable or approved < len(view.rows),
    help="Every start frame (and every end frame but start-frame-only shots) approved. Opens stage 11.",
):
    if common.act(studio.lock_frames, project.id, scene.id) is not None:
        done(f"Anchor frames of scene {number} locked.")
if view.locked:
    st.page_link(common.STAGE11, label="Next: Stage 11 — Cost & VRAM gate", icon=common.STAGE_ICONS[Stage.CONFIRM])
