"""Stage 8 — Scene visual state: the assets a scene needs, as the scene starts with them
(inherited from earlier scenes by default), edits for this scene only, condition tags and
carry-forward decisions, bulk image keys, the asset drawer (bring a global-library asset, one
from an earlier scene or a new scene-only one into the scene) and the lock."""

from __future__ import annotations

import streamlit as st

from pages import common
from studio.model import AssetKind, Stage

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
            if item.asset.id in picked_ids and st.button(
                "Take out of this scene", key=f"vs_unpick_{stem}", icon=":material/remove:",
                disabled=not editable, help="You brought it in from the asset drawer.",
            ):
                if common.act(studio.unpick_scene_asset, project.id, scene.id, item.asset.id) is not None:
                    done(f"{common.escape_markdown(item.asset.name)} taken out of scene {number}.")
            if st.button("Save for this scene", key=f"vs_save_{stem}", icon=":material/save:",
                         disabled=not editable):
                changes = {"description": description or "", "condition_tags": list(tags)}
                if common.act(studio.edit_asset_state, project.id, scene.id, item.asset.id, changes) is not None:
                    done(f"{common.escape_markdown(item.asset.name)} saved as a new instance for scene {number}.")
    return picked


def drawer_section(drawer) -> None:
    """Bring an asset the scene's text does not name into the scene."""
    with st.expander("Asset drawer — bring an asset into this scene", icon=":material/inventory_2:"):
        library_tab, project_tab, new_tab = st.tabs(["Global library", "This project", "New for this scene"])
        with library_tab:
            library = {g.id: g for g in drawer.global_assets}
            if not library:
                st.caption("The global library has nothing this scene lacks: promote an asset in "
                           "the Vault of any project to use it here.")
            else:
                pick = st.selectbox(
                    "Global asset", list(library), key="vs_drawer_global", disabled=not editable,
                    format_func=lambda i: f"{library[i].name} · {library[i].kind.value}",
                )
                if pick is not None:
                    st.caption(common.escape_markdown(library[pick].description or "No description."))
                if st.button("Use in this scene", key="vs_drawer_global_add", icon=":material/public:",
                             disabled=not editable or pick is None):
                    if common.act(studio.pick_global_asset, project.id, scene.id, pick) is not None:
                        done(f"{common.escape_markdown(library[pick].name)} from the global library is in scene {number}.")
        with project_tab:
            earlier = {a.id: (a, "earlier scene") for a in drawer.earlier_assets}
            earlier.update({a.id: (a, "not in a scene yet") for a in drawer.other_assets})
            if not earlier:
                st.caption("Every asset of this project is in this scene already.")
            else:
                pick = st.selectbox(
                    "Asset", list(earlier), key="vs_drawer_project", disabled=not editable,
                    format_func=lambda i: f"{earlier[i][0].name} · {earlier[i][0].kind.value} ({earlier[i][1]})",
                )
                if st.button("Bring into this scene", key="vs_drawer_project_add", icon=":material/east:",
                             disabled=not editable or pick is None):
                    if common.act(studio.pick_scene_asset, project.id, scene.id, pick) is not None:
                        done(f"{common.escape_markdown(earlier[pick][0].name)} is in scene {number}.")
        with new_tab:
            kind = st.selectbox("Kind", list(AssetKind), key="vs_drawer_kind", disabled=not editable,
                                format_func=lambda k: k.value.capitalize())
            name = st.text_input("Name", key="vs_drawer_name", disabled=not editable,
                                 placeholder="e.g. ROPE LADDER")
            description = st.text_area("Description", key="vs_drawer_description", height=80,
                                       disabled=not editable)
            st.caption("A scene-only asset: its image key is drawn in the film's style and it is "
                       "locked, so stage 5 stays locked.")
            if st.button("Make it for this scene", key="vs_drawer_new", icon=":material/add:",
                         disabled=not editable):
                if common.act(studio.add_scene_asset, project.id, scene.id, kind, name or "",
                              description or "") is not None:
                    done(f"{common.escape_markdown(name)} made for scene {number}.")


studio, project = common.project_page("Stage 8 — Scene visual state")
number, scene = common.current_scene(studio, project, Stage.VISUAL_STATE)

gates = common.act(studio.gates, project.id, scene.id)
resolved = common.act(studio.visual_state, project.id, scene.id)
head = common.act(studio.head, project.id)
drawer = common.act(studio.asset_drawer, project.id, scene.id)
if gates is None or resolved is None or head is None or drawer is None:
    st.stop()
picked_ids = set(drawer.picked)
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
drawer_section(drawer)

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
