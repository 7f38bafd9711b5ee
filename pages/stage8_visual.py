"""Stage 8 — Scene visual state: the assets a scene needs, as the scene starts with them
(inherited from earlier scenes by default), edits for this scene only, condition tags and
carry-forward decisions, bulk image keys and the lock."""

from __future__ import annotations

import streamlit as st

from pages import common
from studio.model import Stage

SOURCES = {
    "master": ":gray-badge[:material/inventory_2: master]",
    "previous": ":blue-badge[:material/history: previous scene instance]",
    "new": ":green-badge[:material/edit: new in this scene]",
}
COMMON_TAGS = [
    "wet", "bloody", "torn", "muddy", "bruised", "dusty", "burnt", "bandaged",
    "dishevelled", "exhausted", "injured", "snowy", "broken", "dirty",
]


def done(message: str) -> None:
    common.flash(message)
    st.rerun()


def carry_buttons(item, stem: str) -> None:
    name = common.escape_markdown(item.asset.name)
    for tag in item.pending_tags:
        with st.container(horizontal=True, vertical_alignment="center"):
            st.markdown(
                f":material/help: Was *{common.escape_markdown(tag)}* when last seen: carry it "
                "into this scene?",
                width="content",
            )
            if st.button("Carry forward", key=f"vs_carry_{stem}_{tag}", icon=":material/east:",
                         disabled=not editable):
                if common.act(studio.decide_carry, project.id, scene.id, item.asset.id, tag, True) is not None:
                    done(f"'{common.escape_markdown(tag)}' carried on {name}.")
            if st.button("Drop", key=f"vs_drop_{stem}_{tag}", icon=":material/block:",
                         disabled=not editable):
                if common.act(studio.decide_carry, project.id, scene.id, item.asset.id, tag, False) is not None:
                    done(f"'{common.escape_markdown(tag)}' dropped for {name}.")


def asset_card(item) -> bool:
    """One asset as this scene sees it; returns whether it is selected for image keys."""
    stem = f"{scene.id}_{item.asset.id}"
    with st.container(border=True):
        image_col, body_col = st.columns([1, 3])
        with image_col:
            common.show_image(studio, item.state.image_key or item.asset.image_key)
        with body_col:
            picked = st.checkbox(
                f"**{common.escape_markdown(item.asset.name)}** · {item.asset.kind.value}",
                key=f"vs_pick_{stem}",
                disabled=not editable,
                help="Select for “Generate image keys for selected”.",
            )
            st.markdown(SOURCES.get(item.state.source, item.state.source))
            description = st.text_area(
                "Description in this scene", key=f"vs_desc_{stem}", height=90, disabled=not editable
            )
            current = list(item.state.condition_tags)
            tags = st.multiselect(
                "Condition tags",
                list(dict.fromkeys([*COMMON_TAGS, *current, *item.pending_tags])),
                key=f"vs_tags_{stem}",
                accept_new_options=True,
                disabled=not editable,
                placeholder="e.g. wet, torn — or type a new one",
            )
            if item.inherited_tags:
                st.caption(
                    ":material/history: Inherited from earlier scenes: "
                    + common.escape_markdown(", ".join(item.inherited_tags))
                )
            carry_buttons(item, stem)
            if st.button("Save for this scene", key=f"vs_save_{stem}", icon=":material/save:",
                         disabled=not editable):
                changes = {"description": description or "", "condition_tags": list(tags)}
                if common.act(studio.edit_asset_state, project.id, scene.id, item.asset.id, changes) is not None:
                    done(f"{common.escape_markdown(item.asset.name)} saved as a new instance for scene {number}.")
    return picked


studio, project = common.project_page("Stage 8 — Scene visual state")
number, scene = common.current_scene(studio, project, Stage.VISUAL_STATE)

gates = common.act(studio.gates, project.id, scene.id)
resolved = common.act(studio.visual_state, project.id, scene.id)
head = common.act(studio.head, project.id)
if gates is None or resolved is None or head is None:
    st.stop()
gate = gates[Stage.VISUAL_STATE]
common.show_gate(gate)
if not gate.open and not gate.locked:
    st.page_link(common.STAGE7, label="Stage 7 — Shot list", icon=common.STAGE_ICONS[Stage.SHOTS])
editable = gate.open and not gate.locked
if gate.locked:
    editable = st.toggle(
        "Edit the locked visual state",
        key=f"vs_unfreeze_{scene.id}",
        help="Saving an edit after the lock makes this scene Outdated until you lock the "
        "visual state again; the prompts re-assemble from it.",
    )

st.caption(
    "Each asset starts the scene as the previous scene left it (or as the master asset). "
    "Edits here apply to this scene only and are saved as a new scene instance; condition "
    "tags persist into later scenes, which ask whether to carry them."
)
if not resolved:
    st.info("No assets are needed in this scene.", icon=":material/info:")

common.seed_widgets(
    "stage8",
    f"{project.id}:{scene.id}:{head}",
    {
        **{f"vs_desc_{scene.id}_{r.asset.id}": r.state.description for r in resolved},
        **{f"vs_tags_{scene.id}_{r.asset.id}": list(r.state.condition_tags) for r in resolved},
    },
)
selected = [item.asset.id for item in resolved if asset_card(item)]

pending = sum(len(item.pending_tags) for item in resolved)
if pending:
    st.info(
        f"{pending} carry-forward decision(s) pending: decide them before locking.",
        icon=":material/help:",
    )
keys_col, lock_col, _ = st.columns([1.6, 1.2, 2])
if keys_col.button(
    f"Generate image keys for selected ({len(selected)})",
    key="vs_bulk_keys",
    icon=":material/photo_library:",
    disabled=not editable or not selected,
    width="stretch",
):
    if common.act(studio.bulk_image_keys, project.id, scene.id, selected) is not None:
        done(f"Image keys for {len(selected)} asset(s) in scene {number}.")
if lock_col.button(
    "Lock visual state",
    key="vs_lock",
    icon=":material/lock:",
    type="primary",
    disabled=not gate.open or gate.locked or bool(pending),
    width="stretch",
):
    if common.act(studio.lock_visual_state, project.id, scene.id) is not None:
        done(f"Visual state of scene {number} locked.")
if gate.locked:
    st.page_link(common.STAGE9, label="Next: Stage 9 — Prompt assembly",
                 icon=common.STAGE_ICONS[Stage.PROMPTS])
