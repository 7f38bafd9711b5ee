"""Stage 7 — Shot list: the scene cut into ≤8-second shots, an editable table, split, merge,
add, delete and move (each previewing what it makes outdated before it is confirmed), the
rearview mirror onto the previous scene, and the lock."""

from __future__ import annotations

from typing import get_args

import pandas as pd
import streamlit as st

from pages import common
from studio.model import CameraMove, Stage

STATUS = {
    "locked": ":green-badge[:material/lock: locked]",
    "saved": ":blue-badge[:material/save: saved]",
    "draft": ":gray-badge[:material/edit: draft breakdown — not saved yet]",
}


def shot_row(shot) -> dict:
    """A shot as a table row: characters, SFX and continuity flags as comma text."""
    return {
        "id": shot.id,
        "duration_s": shot.duration_s,
        "camera": shot.camera,
        "movement": shot.movement,
        "characters": ", ".join(f"{c.name} ({c.prominence})" for c in shot.characters),
        "setting": shot.setting,
        "action": shot.action,
        "dialogue": shot.dialogue,
        "sfx": ", ".join(shot.sfx),
        "continuity_flags": ", ".join(shot.continuity_flags),
    }


def edited_rows(shots, table: pd.DataFrame) -> list[dict]:
    """The edited table back as shot dicts; fields the table does not show (element refs,
    start-frame-only) are kept from the shot in the same row."""
    cells = table.astype(object).where(table.notna(), None).to_dict("records")
    return [{**shot.model_dump(mode="json"), **row} for shot, row in zip(shots, cells, strict=True)]


def rearview(rear) -> None:
    with st.expander("Rearview mirror — how the previous scene ended", icon=":material/history:"):
        if rear.previous_heading is None:
            st.caption("This is the first scene: nothing comes before it.")
            return
        text_col, frame_col = st.columns([3, 1])
        text_col.markdown(f"**{common.escape_markdown(rear.previous_heading)}**")
        text_col.markdown(
            f"**Last action:** {common.escape_markdown(rear.last_action or '—')}  \n"
            f"**Last dialogue:** {common.escape_markdown(rear.last_dialogue or '—')}"
        )
        with frame_col:
            common.show_image(studio, rear.last_frame, "Last frame", missing="No end frame yet (stage 10)")


def done(message: str) -> None:
    common.flash(message)
    st.rerun()


VERBS = {
    "split": ("Split", "split_shot"),
    "merge": ("Merge with next", "merge_shots"),
    "add": ("Add shot", "add_shot"),
    "delete": ("Delete", "delete_shot"),
    "move": ("Move", "move_shot"),
}
PENDING = "shots_pending"


def risky(impact) -> bool:
    """Whether a shot list change needs a confirmation: it makes work outdated or drops
    prompts, frames, clips or script text (re-lettering alone does not)."""
    return not impact.empty or bool(impact.lost)


def run_op(op: str, shot_id: str | None, args: dict) -> None:
    """Apply one shot list operation through its Studio verb."""
    if op == "split":
        result = common.act(studio.split_shot, project.id, scene.id, shot_id)
        message = f"Shot {shot_id} split."
    elif op == "merge":
        result = common.act(studio.merge_shots, project.id, scene.id, shot_id)
        message = f"Shot {shot_id} merged with the next."
    elif op == "add":
        result = common.act(studio.add_shot, project.id, scene.id, args["action"], after=shot_id,
                            duration_s=args["duration_s"])
        message = f"Shot added after {shot_id}." if shot_id else "Shot added at the end."
    elif op == "delete":
        result = common.act(studio.delete_shot, project.id, scene.id, shot_id)
        message = f"Shot {shot_id} deleted."
    else:
        result = common.act(studio.move_shot, project.id, scene.id, shot_id, args["position"])
        message = f"Shot {shot_id} moved to position {args['position']}."
    if result is not None:
        st.session_state.pop(PENDING, None)
        if op == "add":
            st.session_state["shot_add_clear"] = True  # empty the text box on the next run
        done(message)


def ask(op: str, shot_id: str | None, args: dict) -> None:
    """Preview an operation; apply it at once when it invalidates nothing, else keep it
    pending until the user confirms it below."""
    # (a lambda: the new shot's "action" text would collide with act()'s first parameter)
    impact = common.act(lambda: studio.preview_shot_edit(project.id, scene.id, op, shot_id, **args))
    if impact is None:
        return
    if not risky(impact):
        run_op(op, shot_id, args)
        return
    st.session_state[PENDING] = {"op": op, "shot_id": shot_id, "args": args, "scene": scene.id,
                                 "head": head, "impact": impact}


def pending_box() -> None:
    """The invalidation preview of the pending operation, with Confirm and Cancel."""
    pending = st.session_state.get(PENDING)
    if not pending:
        return
    if (pending["scene"], pending["head"]) != (scene.id, head):
        st.session_state.pop(PENDING, None)  # the scene or the list changed meanwhile
        return
    impact = pending["impact"]
    label = VERBS[pending["op"]][0]
    target = f" shot {common.escape_markdown(pending['shot_id'])}" if pending["shot_id"] else ""
    with st.container(border=True):
        st.warning(
            f"**{label}{target}** — cost & dependency check: "
            f"{common.escape_markdown(impact.summary())}",
            icon=":material/account_tree:",
        )
        for note in impact.lost:
            st.markdown(f"- :material/delete_forever: {common.escape_markdown(note)}")
        for note in impact.notes:
            st.markdown(f"- {common.escape_markdown(note)}")
        confirm_col, cancel_col, _ = st.columns([1, 1, 3])
        if confirm_col.button(f"Confirm: {label.lower()}", key="shots_confirm", type="primary",
                              icon=":material/check:", width="stretch"):
            run_op(pending["op"], pending["shot_id"], pending["args"])
        if cancel_col.button("Cancel", key="shots_cancel", icon=":material/close:", width="stretch"):
            st.session_state.pop(PENDING, None)
            st.rerun()


studio, project = common.project_page("Stage 7 — Shot list")
number, scene = common.current_scene(studio, project, Stage.SHOTS)

gates = common.act(studio.gates, project.id, scene.id)
view = common.act(studio.shot_list, project.id, scene.id)
rear = common.act(studio.rearview, project.id, scene.id)
head = common.act(studio.head, project.id)
if gates is None or view is None or rear is None or head is None:
    st.stop()
gate = gates[Stage.SHOTS]
common.show_gate(gate)
if not gate.open and not gate.locked:
    st.page_link(common.STAGE5, label="Stage 5 — Assets & style", icon=common.STAGE_ICONS[Stage.ASSETS])
editable = gate.open and not view.locked
if view.locked:
    editable = st.toggle(
        "Edit the locked shot list",
        key=f"shots_unfreeze_{scene.id}",
        help="Saving an edit makes this scene Outdated until you lock it again.",
    )

rearview(rear)

status = "locked" if view.locked else "saved" if view.saved else "draft"
st.markdown(
    f"{STATUS[status]} :gray-badge[{len(view.shots)} shot(s)] "
    f":gray-badge[:material/timer: {view.total_s:g} s]"
)
for problem in view.problems:
    st.error(common.escape_markdown(problem), icon=":material/rule:")

table = st.data_editor(
    pd.DataFrame([shot_row(shot) for shot in view.shots]),
    key=f"shots_{scene.id}_{head[:12]}",  # a new commit starts a clean edit state
    hide_index=True,
    num_rows="fixed",
    disabled=True if not editable else ["id"],
    column_config={
        "id": st.column_config.TextColumn("Shot", width="small", help="Re-lettered on save."),
        "duration_s": st.column_config.NumberColumn(
            "Seconds", min_value=0.5, max_value=8.0, step=0.1, format="%.1f", required=True,
            help="At most 8 seconds per shot.",
        ),
        "camera": st.column_config.TextColumn("Camera", help="Framing: WS, MS, CU, OTS, INSERT…"),
        "movement": st.column_config.SelectboxColumn(
            "Movement", options=list(get_args(CameraMove)), required=True
        ),
        "characters": st.column_config.TextColumn(
            "Characters", width="medium", help="NAME (primary|secondary|background), comma separated."
        ),
        "setting": st.column_config.TextColumn("Setting", width="small"),
        "action": st.column_config.TextColumn("Action", width="large"),
        "dialogue": st.column_config.TextColumn("Dialogue (verbatim)", width="large"),
        "sfx": st.column_config.TextColumn("SFX", help="Comma separated."),
        "continuity_flags": st.column_config.TextColumn("Continuity flags", help="Comma separated."),
    },
)
st.caption(
    "The draft is a deterministic breakdown: shots are cut from the scene's own action and "
    "dialogue at sentence boundaries, nothing invented. With an LLM connected, editing one "
    "field (say the action) would also regenerate the fields that depend on it (camera, "
    "characters, continuity flags); without one, edit them yourself."
)

message_col, save_col = st.columns([4, 1], vertical_alignment="bottom")
message = message_col.text_input(
    "Describe your edit (the commit message)", key="shots_message", disabled=not editable,
    placeholder="e.g. Hold the wide shot longer",
)
if save_col.button("Save shot list", key="save_shots", icon=":material/save:", type="primary",
                   disabled=not editable, width="stretch"):
    rows = edited_rows(view.shots, table)
    if common.act(studio.save_shots, project.id, scene.id, rows, message or "") is not None:
        done(f"Shot list of scene {number} saved.")

pick_col, split_col, merge_col, delete_col, reset_col, lock_col = st.columns(
    [1.2, 1, 1.3, 1, 1.4, 1.4], vertical_alignment="bottom"
)
shot_ids = [shot.id for shot in view.shots]
shot_id = pick_col.selectbox("Shot", shot_ids, key="shot_pick", disabled=not editable)
if split_col.button("Split", key="split_shot", icon=":material/call_split:", disabled=not editable,
                    width="stretch", help="Cut the shot in two at a sentence boundary."):
    ask("split", shot_id, {})
if merge_col.button("Merge with next", key="merge_shot", icon=":material/merge:",
                    disabled=not editable, width="stretch",
                    help="Join the shot and the next one (at most 8 seconds together)."):
    ask("merge", shot_id, {})
if delete_col.button("Delete", key="delete_shot", icon=":material/delete:", disabled=not editable,
                     width="stretch", help="Remove the shot (a scene keeps at least one). Its "
                     "script text leaves the film: the preview says what is lost."):
    ask("delete", shot_id, {})
if reset_col.button("Reset to breakdown", key="reset_shots", icon=":material/restart_alt:",
                    disabled=not editable, width="stretch"):
    if common.act(studio.reset_shots, project.id, scene.id) is not None:
        done(f"Shot list of scene {number} reset to the deterministic breakdown.")
if lock_col.button("Lock shot list", key="lock_shots", icon=":material/lock:", type="primary",
                   disabled=not gate.open or view.locked, width="stretch",
                   help="Locks the saved list (the draft breakdown when none is saved): save table "
                   "edits first. Opens stage 8 for this scene."):
    if common.act(studio.lock_shots, project.id, scene.id) is not None:
        done(f"Shot list of scene {number} locked.")

if st.session_state.pop("shot_add_clear", False):
    st.session_state.pop("shot_add_action", None)
with st.expander("Add or move a shot", icon=":material/low_priority:", expanded=False):
    add_col, move_col = st.columns(2)
    with add_col:
        new_action = st.text_area(
            "What the new shot shows", key="shot_add_action", height=80, disabled=not editable,
            placeholder="e.g. INSERT: the claim ticket, rain-spotted, in her hand.",
        )
        new_seconds = st.number_input("Seconds", min_value=0.5, max_value=8.0, value=3.0, step=0.5,
                                      key="shot_add_seconds", disabled=not editable)
        if st.button(f"Add after {shot_id}" if shot_id else "Add shot", key="add_shot",
                     icon=":material/add:", disabled=not editable):
            ask("add", shot_id, {"action": new_action or "", "duration_s": float(new_seconds)})
    with move_col:
        position = st.number_input(
            "New position", min_value=1, max_value=max(len(shot_ids), 1), value=1, step=1,
            key="shot_move_position", disabled=not editable,
            help="1 is the first shot. Ids are re-lettered in the new order; each shot's "
            "prompts, frames and clips follow it.",
        )
        if st.button(f"Move {shot_id} to position {int(position)}" if shot_id else "Move",
                     key="move_shot", icon=":material/swap_vert:", disabled=not editable):
            ask("move", shot_id, {"position": int(position)})

if editable:
    pending_box()

if view.locked:
    st.page_link(common.STAGE8, label="Next: Stage 8 — Scene visual state",
                 icon=common.STAGE_ICONS[Stage.VISUAL_STATE])
