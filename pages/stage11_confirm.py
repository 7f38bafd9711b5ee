"""Stage 11 — Cost & VRAM gate (the confirmation gate): every shot with its frame pair and
prompt snapshots, and the cost of rendering the scene (GPU-seconds per backend, peak VRAM
against the card, wall time, money) — nothing renders before "Confirm & render"."""

from __future__ import annotations

import base64
import io

import pandas as pd
import streamlit as st
from PIL import Image

from pages import common
from studio.errors import StudioError
from studio.model import Stage
from studio.prompts import PROMPT_LABELS

BACKENDS = {
    "animatic": "animatic — CPU storyboard animatic (no GPU)",
    "comfyui": "comfyui — generated video on a GPU (ComfyUI server)",
}
THUMB = (192, 108)
ROW_HEIGHT = 64


@st.cache_data(max_entries=256, show_spinner=False)
def thumbnail(media_id: str, _studio) -> str:
    """A small PNG of a frame as a data URI for the table (media ids are content hashes)."""
    image = Image.open(io.BytesIO(_studio.media_bytes(media_id))).convert("RGB")
    image.thumbnail(THUMB)
    out = io.BytesIO()
    image.save(out, "PNG")
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode("ascii")


def frame_uri(frame) -> str | None:
    if frame is None:
        return None
    try:
        return thumbnail(frame.media, studio)
    except (StudioError, OSError, ValueError):
        return None


def duration(seconds: float) -> str:
    """``45 s``, ``12:05 min`` or ``2:03:10 h``."""
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60}:{whole % 60:02d} min"
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d} h"


def cost_panel(estimate) -> None:
    gpu_total = sum(estimate.gpu_seconds.values())
    price = studio.settings.price_per_gpu_hour
    gpu_col, vram_col, wall_col, money_col = st.columns(4)
    gpu_col.metric("GPU-seconds", f"{gpu_total:,.0f}", border=True,
                   help="Estimated GPU time of all clips, per backend below.")
    if estimate.peak_vram_mb:
        card = f"{estimate.card_vram_mb / 1024:.1f} GiB card" if estimate.card_vram_mb else "no GPU seen"
        vram_col.metric("Peak VRAM", f"{estimate.peak_vram_mb / 1024:.1f} GiB", delta=card,
                        delta_color="normal" if estimate.fits else "inverse", delta_arrow="off", border=True)
    else:
        vram_col.metric("Peak VRAM", "none", delta="CPU only", delta_color="off", delta_arrow="off", border=True)
    wall_col.metric("Wall time", duration(estimate.wall_seconds), border=True,
                    help="Roughly how long the clips take to render one after another.")
    if estimate.money is not None:
        money_col.metric("Money", f"{estimate.money:,.2f}", delta=f"at {price:g} per GPU-hour",
                         delta_color="off", delta_arrow="off", border=True)
    else:
        money_col.metric("Money", "—", delta="no price set", delta_color="off", delta_arrow="off", border=True)
    st.markdown(
        " ".join(
            f":gray-badge[:material/memory: {common.escape_markdown(name)}: {seconds:,.0f} GPU-s]"
            for name, seconds in estimate.gpu_seconds.items()
        )
        + f" :gray-badge[{estimate.shots} shot(s)] :gray-badge[{estimate.frame_pairs} frame pair(s)]"
        f" :gray-badge[:material/timer: {estimate.clip_seconds:g} s of video]"
    )
    models: dict[str, list[str]] = {}
    for cost in estimate.per_shot:
        models.setdefault(f"{cost.model} ({cost.frames})", []).append(cost.shot_id)
    if estimate.backend != "animatic" and models:
        st.caption(
            ":material/movie: What will run: "
            + "; ".join(
                f"{common.escape_markdown(model)} for shot(s) {common.escape_markdown(', '.join(ids))}"
                for model, ids in models.items()
            )
            + ". A start+end-frame shot always runs the first-last-frame model."
        )
    if estimate.post:
        st.caption(
            ":material/auto_awesome: After each clip: " + common.escape_markdown(", ".join(estimate.post))
            + " (on the CPU: adds wall time, no GPU-seconds)."
        )
    if estimate.card_vram_mb is None:
        no_gpu = (
            "**No GPU seen**: no NVIDIA driver answers on this machine and no ComfyUI server "
            "reports its card (`/system_stats`). The animatic backend renders on the CPU and "
            "needs none; for ComfyUI start its server and set "
            "`AIUTEUR_COMFYUI_URL=http://127.0.0.1:8188` before starting the app."
        )
        if estimate.peak_vram_mb:
            st.info(no_gpu, icon=":material/memory:")
        else:
            st.caption(":material/memory: " + no_gpu)
    if estimate.money is None:
        st.caption(
            ":material/payments: To see the cost in money, set your price per GPU-hour in "
            "Settings (or `AIUTEUR_PRICE_PER_GPU_HOUR=0.80` before starting the app)."
        )


def shot_table(view, estimate) -> None:
    prompts = {shot_id: (frame, video) for shot_id, frame, video in estimate.prompts}
    rows = []
    for row in view.rows:
        frame_prompt, video_prompt = prompts.get(row.shot.id, ("", ""))
        rows.append({
            "shot": row.shot.id,
            "seconds": row.shot.duration_s,
            "camera": row.shot.camera,
            "start": frame_uri(row.start),
            "end": frame_uri(row.end) if row.needs_end else None,
            "frames": ("start + end" if row.needs_end else "start only")
            + ("" if row.complete else " (not approved)"),
            "frame_prompt": frame_prompt,
            "video_prompt": video_prompt,
        })
    st.dataframe(
        pd.DataFrame(rows),
        key=f"confirm_table_{scene.id}",
        hide_index=True,
        row_height=ROW_HEIGHT,
        height=min(ROW_HEIGHT * len(rows) + 40, 900),
        column_config={
            "shot": st.column_config.TextColumn("Shot", width="small"),
            "seconds": st.column_config.NumberColumn("Seconds", format="%.1f", width="small"),
            "camera": st.column_config.TextColumn("Camera", width="small"),
            "start": st.column_config.ImageColumn("Start frame", width=110),
            "end": st.column_config.ImageColumn("End frame", width=110),
            "frames": st.column_config.TextColumn("Frames"),
            "frame_prompt": st.column_config.TextColumn(PROMPT_LABELS["frame"], width="medium"),
            "video_prompt": st.column_config.TextColumn(PROMPT_LABELS["video"], width="medium"),
        },
    )
    with st.expander("Prompt snapshots (full text)", icon=":material/edit_note:"):
        for shot_id, frame_prompt, video_prompt in estimate.prompts:
            st.markdown(f"**Shot {common.escape_markdown(shot_id)}**")
            frame_col, video_col = st.columns(2)
            frame_col.caption(PROMPT_LABELS["frame"])
            frame_col.code(frame_prompt, language=None, wrap_lines=True)
            video_col.caption(PROMPT_LABELS["video"])
            video_col.code(video_prompt, language=None, wrap_lines=True)


studio, project = common.project_page("Stage 11 — Cost & VRAM gate")
number, scene = common.current_scene(studio, project, Stage.CONFIRM)

gates = common.act(studio.gates, project.id, scene.id)
view = common.act(studio.frames_view, project.id, scene.id)
if gates is None or view is None:
    st.stop()
gate = gates[Stage.CONFIRM]
common.show_gate(gate)
if not gate.open and not gate.locked:
    st.page_link(common.STAGE10, label="Stage 10 — Anchor frames", icon=common.STAGE_ICONS[Stage.FRAMES])
    st.stop()

backends = list(BACKENDS)
default_backend = studio.settings.render_backend
presets = list(studio.presets)
backend_col, preset_col = st.columns(2)
backend = backend_col.selectbox(
    "Backend", backends, index=backends.index(default_backend) if default_backend in backends else 0,
    format_func=BACKENDS.get, key=f"confirm_backend_{scene.id}", disabled=gate.locked,
)
preset = preset_col.selectbox(
    "Preset", presets, key=f"confirm_preset_{scene.id}", disabled=gate.locked,
    format_func=lambda name: f"{name} — {studio.presets[name]['width']}×{studio.presets[name]['height']}",
    help="Resolution, steps and VRAM need; an out-of-memory failure retries once at the next lower preset.",
)
suggested = studio.presets.get(preset, {})
fps = int(suggested.get("fps", 24))
interp_col, upscale_col = st.columns(2)
interpolate = interp_col.checkbox(
    f"Interpolate to {2 * fps} fps", value=bool(suggested.get("interpolation")),
    key=f"confirm_interp_{scene.id}_{preset}", disabled=gate.locked,
    help="After each clip renders: motion-compensated frame interpolation (ffmpeg minterpolate, "
    "on the CPU; slow). If it fails or runs out of memory the clip is kept as rendered.",
)
upscale = upscale_col.checkbox(
    "Upscale 2×", value=bool(suggested.get("upscale")),
    key=f"confirm_upscale_{scene.id}_{preset}", disabled=gate.locked,
    help="After each clip renders: a 2× lanczos upscale (ffmpeg, on the CPU). If it fails the clip "
    "is kept as rendered. Each step is recorded in the clip's manifest.",
)
estimate = common.act(studio.render_estimate, project.id, scene.id, backend=backend, preset=preset,
                      interpolate=interpolate, upscale=upscale)
if estimate is None:
    st.stop()

st.subheader("Cost", anchor=False)
cost_panel(estimate)
st.subheader("Shots", anchor=False)
shot_table(view, estimate)

blocked = None
if gate.locked:
    blocked = "This scene's render is confirmed already: its clips are in the render queue."
elif not estimate.fits:
    card = f"{estimate.card_vram_mb:,.0f} MiB" if estimate.card_vram_mb else "no GPU seen"
    blocked = (
        f"The render does not fit: it needs {estimate.peak_vram_mb:,.0f} MiB of VRAM at peak "
        f"({card}). Pick a lower preset, the animatic backend, or a bigger card."
    )
if blocked and not gate.locked:
    st.warning(blocked, icon=":material/block:")
if st.button(
    "Confirm & render", key=f"confirm_render_{scene.id}", icon=":material/play_circle:", type="primary",
    disabled=blocked is not None, help=blocked or "Locks this confirmation and queues one clip per shot.",
):
    jobs = common.act(studio.confirm_render, project.id, scene.id, backend=backend, preset=preset,
                      interpolate=interpolate, upscale=upscale)
    if jobs is not None:
        common.flash(f"Render confirmed: {len(jobs)} clip job(s) queued for scene {number}.")
        st.rerun()
if gate.locked:
    st.success("Confirmed: the clips render in the background — follow them in stage 12.",
               icon=":material/check_circle:")
    st.page_link(common.STAGE12, label="Next: Stage 12 — Video & review", icon=common.STAGE_ICONS[Stage.VIDEO])
