"""Stage 9 — Prompt assembly: per shot the frame prompt (anchor frames), the video prompt
(the clip) and the hidden system scaffold; manual edits kept, start-frame-only per shot,
sanity warnings that never block, and the lock."""

from __future__ import annotations

import streamlit as st

from pages import common
from studio.model import Stage
from studio.prompts import PROMPT_LABELS, TARGET_MODELS

AUTO = "auto"
FRAME_MODELS = [k for k, m in TARGET_MODELS.items() if m.role in ("frame", "any")]
VIDEO_MODELS = [AUTO, *(k for k, m in TARGET_MODELS.items() if m.role in ("video", "any"))]
PENDING_KEY = "_prompts_action"
KINDS = {"frame": "frame prompt", "video": "video prompt"}


def queue_start_frame_only(shot_id: str, widget_key: str) -> None:
    """Toggle callback: remember the change; the page body performs it (and shows errors)."""
    st.session_state[PENDING_KEY] = (shot_id, bool(st.session_state.get(widget_key)))


def done(message: str) -> None:
    common.flash(message)
    st.rerun()


def model_help(role: str) -> str:
    return "  \n".join(
        f"**{key}**: {common.escape_markdown(m.note)}"
        for key, m in TARGET_MODELS.items()
        if m.role in (role, "any")
    )


def kept_edit(ps, kind: str) -> None:
    """The assembled prompt changed after the user edited it: show both, let them choose."""
    new, old = getattr(ps, f"{kind}_prompt"), getattr(ps, f"previous_{kind}_edit")
    st.warning(
        f"The assembled {KINDS[kind]} changed after you edited it (its inputs changed). "
        "Both are shown: keep your edit or use the new prompt.",
        icon=":material/difference:",
    )
    new_col, old_col = st.columns(2)
    with new_col:
        st.markdown("**New assembled prompt**")
        st.code(new, language=None, wrap_lines=True)
        if st.button("Use the new prompt", key=f"usenew_{kind}_{scene.id}_{ps.shot_id}",
                     icon=":material/autorenew:", disabled=not editable):
            if common.act(studio.resolve_prompt_edit, project.id, scene.id, ps.shot_id, kind, keep=False) is not None:
                done(f"Shot {ps.shot_id}: the new {KINDS[kind]} is used.")
    with old_col:
        st.markdown("**Your kept edit**")
        st.code(old, language=None, wrap_lines=True)
        if st.button("Keep my edit", key=f"keep_{kind}_{scene.id}_{ps.shot_id}",
                     icon=":material/bookmark:", disabled=not editable):
            if common.act(studio.resolve_prompt_edit, project.id, scene.id, ps.shot_id, kind, keep=True) is not None:
                done(f"Shot {ps.shot_id}: your {KINDS[kind]} edit is kept.")


def prompt_field(ps, kind: str) -> str | None:
    """The label, an "edited" badge and the editable prompt (or the kept-edit chooser)."""
    edited = getattr(ps, f"{kind}_edited")
    badge = " :orange-badge[:material/edit: edited]" if edited else ""
    st.markdown(f"**{PROMPT_LABELS[kind]}**{badge}")
    if getattr(ps, f"previous_{kind}_edit") and not preview:
        kept_edit(ps, kind)
        return None
    return st.text_area(
        PROMPT_LABELS[kind],
        key=f"{kind}_{scene.id}_{ps.shot_id}",
        height=160 if kind == "frame" else 130,
        disabled=not editable,
        label_visibility="collapsed",
    )


def shot_panel(ps, shot, warnings) -> None:
    label = f"Shot {ps.shot_id}"
    if shot is not None:
        label += f" · {shot.duration_s:g} s · {shot.camera or 'camera —'}"
    if ps.frame_edited or ps.video_edited:
        label += " · edited"
    if warnings:
        label += f" · {len(warnings)} warning(s)"
    choose = bool(ps.previous_frame_edit or ps.previous_video_edit) and not preview
    if choose:
        label += " · choose: your edit or the new prompt"
    icon = ":material/difference:" if choose else ":material/warning:" if warnings else ":material/movie:"
    with st.expander(label, icon=icon, expanded=choose):
        for warning in warnings:
            st.warning(
                f"{KINDS[warning.prompt].capitalize()}: {common.escape_markdown(warning.message)}",
                icon=":material/report:",
            )
        frame = prompt_field(ps, "frame")
        video = prompt_field(ps, "video")
        save_col, sfo_col = st.columns([1, 2], vertical_alignment="center")
        if save_col.button("Save edits", key=f"save_prompt_{scene.id}_{ps.shot_id}",
                           icon=":material/save:", disabled=not editable):
            changes = {
                f"{kind}_prompt": text
                for kind, text in (("frame", frame), ("video", video))
                if text is not None and text.strip() != getattr(ps, f"{kind}_prompt")
            }
            if not changes:
                st.info("Nothing changed.", icon=":material/info:")
            elif common.act(studio.edit_prompt, project.id, scene.id, ps.shot_id, **changes) is not None:
                done(f"Shot {ps.shot_id}: prompt edits saved (they survive re-assembly).")
        sfo_key = f"sfo_{scene.id}_{ps.shot_id}"
        sfo_col.toggle(
            "Start frame only",
            key=sfo_key,
            disabled=not editable or shot is None,
            on_change=queue_start_frame_only,
            args=(ps.shot_id, sfo_key),
            help="No end anchor frame: the video model (image-to-video) invents the end state.",
        )
        st.markdown(f"**{PROMPT_LABELS['system']}** · hidden scaffold — not editable")
        st.code(ps.system_prompt, language=None, wrap_lines=True)
        if ps.model_tags:
            st.markdown(" ".join(f":gray-badge[{common.escape_markdown(t)}]" for t in ps.model_tags))


studio, project = common.project_page("Stage 9 — Prompt assembly")
number, scene = common.current_scene(studio, project, Stage.PROMPTS)

pending = st.session_state.pop(PENDING_KEY, None)
if pending is not None:
    shot_id, value = pending
    if common.act(studio.set_start_frame_only, project.id, scene.id, shot_id, value) is not None:
        done(f"Shot {shot_id}: " + ("start frame only." if value else "start and end frames."))
    st.session_state[f"sfo_{scene.id}_{shot_id}"] = not value  # refused: show the saved value

scene_doc = common.act(studio.scene, project.id, scene.id)
if scene_doc is None:
    st.stop()
saved_frame, saved_video = scene_doc.work.frame_model, scene_doc.work.video_model or AUTO
frame_col, video_col = st.columns(2)
frame_model = frame_col.selectbox(
    "Frame model (anchor frames)", FRAME_MODELS, index=FRAME_MODELS.index(saved_frame),
    key=f"frame_model_{scene.id}", help=model_help("frame"),
)
video_model = video_col.selectbox(
    "Video model (clips)", VIDEO_MODELS, index=VIDEO_MODELS.index(saved_video),
    key=f"video_model_{scene.id}", help="**auto**: per shot, the first video model that fits its frames.  \n"
    + model_help("video"),
)
preview = (frame_model, video_model) != (saved_frame, saved_video)

gates = common.act(studio.gates, project.id, scene.id)
view = common.act(
    studio.prompt_sets, project.id, scene.id, frame_model=frame_model, video_model=video_model,
)
shots = common.act(studio.shot_list, project.id, scene.id)
head = common.act(studio.head, project.id)
if gates is None or view is None or shots is None or head is None:
    st.stop()
gate = gates[Stage.PROMPTS]
common.show_gate(gate)
if not gate.open and not gate.locked:
    st.page_link(common.STAGE8, label="Stage 8 — Scene visual state",
                 icon=common.STAGE_ICONS[Stage.VISUAL_STATE])
editable = gate.open and not view.locked and not preview
if view.locked and not preview:
    editable = st.toggle(
        "Edit the locked prompts",
        key=f"prompts_unfreeze_{scene.id}",
        help="An edit after the lock makes the lock stale (the scene shows Outdated): lock again when done.",
    )
if preview:
    st.info(
        f"Preview for {frame_model} / {video_model}: the scene targets {saved_frame} / {saved_video}. "
        "Use these models for the scene to edit and lock its prompts for them.",
        icon=":material/visibility:",
    )
    if st.button("Use these models for this scene", key=f"use_models_{scene.id}",
                 icon=":material/check:", disabled=not gate.open):
        if common.act(studio.set_target_models, project.id, scene.id, frame_model, video_model) is not None:
            done(f"Scene {number} now targets {frame_model} / {video_model}.")

st.caption(
    "Assembled deterministically from the shot list, the scene's visual state and the style. "
    "Your edits are kept when the prompts are re-assembled; the sanity checker only warns."
)
st.markdown(
    f":gray-badge[{len(view.prompt_sets)} shot(s)] "
    + (f":orange-badge[:material/warning: {len(view.warnings)} warning(s)]" if view.warnings
       else ":green-badge[:material/check: no warnings]")
    + (" :green-badge[:material/lock: locked]" if view.locked else "")
)

by_id = {shot.id: shot for shot in shots.shots}
common.seed_widgets(
    "stage9",
    f"{project.id}:{scene.id}:{head}:{frame_model}:{video_model}",
    {
        **{f"frame_{scene.id}_{p.shot_id}": p.frame_prompt for p in view.prompt_sets},
        **{f"video_{scene.id}_{p.shot_id}": p.video_prompt for p in view.prompt_sets},
        **{
            f"sfo_{scene.id}_{p.shot_id}": by_id[p.shot_id].start_frame_only
            for p in view.prompt_sets if p.shot_id in by_id
        },
    },
)
for ps in view.prompt_sets:
    shot_panel(ps, by_id.get(ps.shot_id), [w for w in view.warnings if w.shot_id == ps.shot_id])

conflicts = [p.shot_id for p in view.prompt_sets if p.previous_frame_edit or p.previous_video_edit]
if conflicts and not preview:
    st.info(
        "Choose between your kept edit and the new prompt first (shots "
        + ", ".join(conflicts) + "), then lock.",
        icon=":material/difference:",
    )
if st.button(
    "Lock prompts",
    key="lock_prompts",
    icon=":material/lock:",
    type="primary",
    disabled=not gate.open or view.locked or preview or bool(conflicts),
):
    if common.act(studio.lock_prompts, project.id, scene.id) is not None:
        done(f"Prompts of scene {number} locked.")
if view.locked:
    st.page_link(common.STAGE10, label="Next: stage 10 — Anchor frames", icon=common.STAGE_ICONS[Stage.FRAMES])
