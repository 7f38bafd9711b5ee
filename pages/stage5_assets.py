"""Stage 5 — Assets & style: the visual style pack, every character, location and prop with
an editable description and an image key (drawn, or the user's own reference image), delete
and merge for entries the extraction got wrong, characters the action introduces without a
line, and the locks that open Phase B."""

from __future__ import annotations

import numpy as np
import streamlit as st

from pages import common
from studio.model import AssetKind, Stage

KINDS = {
    AssetKind.CHARACTER: ("Characters", ":material/person:"),
    AssetKind.LOCATION: ("Locations", ":material/location_on:"),
    AssetKind.PROP: ("Props", ":material/category:"),
}

SOURCES = {
    "script": "from the script",
    "sheet": "from the asset sheet",
    "global": "from the global library",
    "manual": "added by hand",
    "llm": "proposed by the LLM",
}


def palette_strip(palette: tuple[str, ...], size: int = 44) -> np.ndarray:
    """The pack's palette as one row of colour squares (an RGB image, no HTML needed)."""
    rgb = [[int(colour[i : i + 2], 16) for i in (1, 3, 5)] for colour in palette]
    strip = np.repeat(np.array(rgb, dtype=np.uint8), size, axis=0)  # one column per colour
    return np.broadcast_to(strip, (size, *strip.shape)).copy()


def done(message: str) -> None:
    common.flash(message)
    st.rerun()


def style_section(studio, project, state, packs, editable: bool) -> None:
    st.subheader("Visual style", anchor=False)
    if not packs:
        st.warning("No style packs found in data/styles/.", icon=":material/palette:")
        return
    by_id = {pack.id: pack for pack in packs}
    chosen = state.assets.style_pack
    locked = state.assets.style_locked
    pick_col, choose_col, lock_col = st.columns([3, 1, 1], vertical_alignment="bottom")
    pick = pick_col.selectbox(
        "Style pack",
        list(by_id),
        format_func=lambda pid: by_id[pid].name + (" (chosen)" if pid == chosen else ""),
        key="style_pick",
        disabled=locked,
    )
    if choose_col.button(
        "Choose style",
        key="choose_style",
        icon=":material/palette:",
        disabled=not editable or locked or pick == chosen,
        width="stretch",
    ):
        if common.act(studio.choose_style, project.id, pick) is not None:
            done(f"Visual style: {common.escape_markdown(by_id[pick].name)}.")
    if locked:
        if lock_col.button("Unlock style", key="unlock_style", icon=":material/lock_open:",
                           disabled=not editable, width="stretch"):
            if common.act(studio.lock_style, project.id, False) is not None:
                done("Visual style unlocked.")
    elif lock_col.button(
        "Lock style",
        key="lock_style",
        icon=":material/lock:",
        type="primary",
        disabled=not editable or chosen is None,
        help=None if chosen else "Choose a style first.",
        width="stretch",
    ):
        if common.act(studio.lock_style, project.id, True) is not None:
            done("Visual style locked.")

    pack = by_id.get(pick)
    if pack is None:
        return
    with st.container(border=True):
        status = ":material/lock: locked" if locked and pack.id == chosen else (
            "chosen" if pack.id == chosen else "preview — not chosen yet"
        )
        st.markdown(f"**{common.escape_markdown(pack.name)}** · {status}")
        if pack.palette:
            st.image(palette_strip(pack.palette), caption=" · ".join(pack.palette))
        st.caption(common.escape_markdown(pack.description))
        st.caption(
            f"**Lighting:** {common.escape_markdown(pack.lighting)}  \n"
            f"**Lens:** {common.escape_markdown(pack.lens)}  \n"
            f"**Texture:** {common.escape_markdown(pack.grain)}"
        )
        st.caption("Tags: " + " · ".join(common.escape_markdown(tag) for tag in pack.tags))


def manage_row(studio, project, asset, assets, editable: bool) -> None:
    """Upload a reference image, merge into another entry, delete."""
    frozen = asset.locked or not editable
    upload_col, merge_col, delete_col = st.columns(3)
    with upload_col.popover("Upload reference", icon=":material/upload:", disabled=frozen,
                            width="stretch", help="Use your own picture as the image key."):
        picture = st.file_uploader("PNG, JPEG or WebP, at most 20 MB", type=["png", "jpg", "jpeg", "webp"],
                                   key=f"upload_{asset.id}")
        if st.button("Use as image key", key=f"use_upload_{asset.id}", icon=":material/image:",
                     disabled=picture is None):
            if common.act(studio.upload_image_key, project.id, asset.id, picture.name, picture.getvalue()) is not None:
                done(f"Your reference image is now the image key of {common.escape_markdown(asset.name)}.")
    same_kind = {a.id: a.name for a in assets if a.kind == asset.kind and a.id != asset.id}
    with merge_col.popover("Merge into…", icon=":material/merge:", disabled=frozen or not same_kind,
                           width="stretch", help="Two entries that are the same thing: this one goes, "
                           "its mentions and scene states move to the one you pick."):
        into = st.selectbox("Keep", list(same_kind), format_func=lambda i: same_kind[i],
                            key=f"merge_into_{asset.id}")
        if st.button(f"Merge {asset.name} into it", key=f"merge_{asset.id}", icon=":material/merge:",
                     type="primary", disabled=into is None):
            if common.act(studio.merge_assets, project.id, asset.id, into) is not None:
                done(f"{common.escape_markdown(asset.name)} merged into {common.escape_markdown(same_kind[into])}.")
    with delete_col.popover("Delete", icon=":material/delete:", disabled=frozen, width="stretch",
                            help="For an entry the extraction got wrong: it need not be locked."):
        st.caption("It leaves every scene, and a new extraction does not bring it back.")
        if st.button(f"Delete {asset.name}", key=f"delete_{asset.id}", icon=":material/delete:",
                     type="primary"):
            if common.act(studio.delete_asset, project.id, asset.id) is not None:
                done(f"{common.escape_markdown(asset.name)} deleted.")


def suggestions_section(studio, project, editable: bool) -> None:
    """Characters the action introduces who never speak, offered one click away."""
    suggested = common.act(studio.suggested_assets, project.id) or ()
    if not suggested:
        return
    with st.container(border=True):
        st.markdown(":material/person_add: **Characters in the action with no lines** — add the "
                    "ones the film needs:")
        for asset in suggested:
            with st.container(horizontal=True, vertical_alignment="center"):
                st.markdown(f"**{common.escape_markdown(asset.name)}** — "
                            f"{common.escape_markdown(asset.description or '')}", width="stretch")
                if st.button("Add", key=f"suggest_{asset.id}", icon=":material/add:", disabled=not editable):
                    if common.act(studio.add_asset, project.id, "character", asset.name) is not None:
                        done(f"Added character {common.escape_markdown(asset.name)}.")


def asset_card(studio, project, asset, scene_numbers: dict[str, int], editable: bool, assets=()) -> None:
    with st.container(border=True):
        image_col, body_col = st.columns([1, 3])
        with image_col:
            common.show_image(studio, asset.image_key)
        with body_col:
            badges = f"**{common.escape_markdown(asset.name)}**"
            badges += " · :green-badge[:material/lock: locked]" if asset.locked else " · :orange-badge[unlocked]"
            badges += f" · :gray-badge[{SOURCES.get(asset.source, asset.source)}]"
            st.markdown(badges)
            scenes = sorted(scene_numbers[s] for s in asset.mentions if s in scene_numbers)
            st.caption(
                "Mentioned in scene(s) " + ", ".join(str(n) for n in scenes)
                if scenes else "Not mentioned in the script (added by hand)."
            )
            frozen = asset.locked or not editable
            description = st.text_area(
                "Description", key=f"desc_{asset.id}", height=90, disabled=frozen
            )
            changes = {"description": description or ""}
            if asset.kind == AssetKind.CHARACTER:
                voice = st.text_input(
                    "Voice profile (metadata only)",
                    key=f"voice_{asset.id}",
                    disabled=frozen,
                    placeholder="e.g. low, dry, quick; warms slowly",
                )
                changes["voice_profile"] = voice or ""
            save_col, key_col, lock_col = st.columns(3)
            if save_col.button("Save", key=f"save_{asset.id}", icon=":material/save:",
                               disabled=frozen, width="stretch"):
                if common.act(studio.edit_asset, project.id, asset.id, changes) is not None:
                    done(f"Saved {common.escape_markdown(asset.name)}.")
            if key_col.button(
                "Generate image key" if not asset.image_key else "New image key",
                key=f"imagekey_{asset.id}",
                icon=":material/image:",
                disabled=frozen,
                help="Draws the asset in the chosen visual style.",
                width="stretch",
            ):
                if common.act(studio.generate_image_key, project.id, asset.id) is not None:
                    done(f"New image key for {common.escape_markdown(asset.name)}.")
            if asset.locked:
                if lock_col.button("Unlock", key=f"unlock_{asset.id}", icon=":material/lock_open:",
                                   disabled=not editable, width="stretch"):
                    if common.act(studio.lock_asset, project.id, asset.id, False) is not None:
                        done(f"{common.escape_markdown(asset.name)} unlocked.")
            elif lock_col.button(
                "Lock asset",
                key=f"lock_{asset.id}",
                icon=":material/lock:",
                disabled=not editable or not asset.image_key,
                help=None if asset.image_key else "Generate an image key first.",
                width="stretch",
            ):
                if common.act(studio.lock_asset, project.id, asset.id, True) is not None:
                    done(f"{common.escape_markdown(asset.name)} locked.")
            manage_row(studio, project, asset, assets, editable)


def add_asset_form(studio, project, editable: bool) -> None:
    with st.popover("Add asset", icon=":material/add:", disabled=not editable):
        kind = st.selectbox(
            "Kind", list(KINDS), format_func=lambda k: k.value.capitalize(), key="add_kind"
        )
        name = st.text_input("Name", key="add_name", placeholder="e.g. GIRL, or the JETTY",
                             help="A character who never speaks, an object the action names: the "
                             "scenes that name it and a description are filled in from the script.")
        description = st.text_area("Description", key="add_description", height=90)
        if st.button("Add", key="add_asset", icon=":material/add:", type="primary"):
            added = common.act(studio.add_asset, project.id, kind, name or "", description or "")
            if added is not None:
                done(f"Added {kind.value} {common.escape_markdown(name)}.")


studio, project = common.project_page("Stage 5 — Assets & style")

gates = common.act(studio.gates, project.id)
state = common.act(studio.state, project.id)
head = common.act(studio.head, project.id)
packs = common.act(studio.style_packs) or ()
if gates is None or state is None or head is None:
    st.stop()
gate = gates[Stage.ASSETS]
common.show_gate(gate)
if state.script is None:
    st.info("There is no script yet: import a screenplay in stage 1 (mode D).", icon=":material/info:")
    st.page_link(common.STAGE1, label="Stage 1 — Input", icon=common.STAGE_ICONS[Stage.INPUT])
    st.stop()
editable = gate.open

assets = state.assets.assets
locked_count = sum(a.locked for a in assets)
all_done = bool(assets) and locked_count == len(assets) and state.assets.style_locked
st.progress(
    (locked_count + state.assets.style_locked) / (len(assets) + 1),
    text=f"{locked_count} of {len(assets)} asset(s) locked · style "
    + ("locked" if state.assets.style_locked else "not locked"),
)
if all_done:
    st.success("Every asset and the visual style are locked: the script hub (stage 6) is open.",
               icon=":material/task_alt:")
    st.page_link(common.STAGE6, label="Script hub", icon=common.STAGE_ICONS[Stage.HUB])

common.seed_widgets(
    "stage5",
    f"{project.id}:{head}",
    {
        "style_pick": state.assets.style_pack or (packs[0].id if packs else None),
        **{f"desc_{a.id}": a.description for a in assets},
        **{f"voice_{a.id}": a.voice_profile or "" for a in assets if a.kind == AssetKind.CHARACTER},
    },
)

style_section(studio, project, state, packs, editable)

st.subheader("Assets", anchor=False)
with st.container(horizontal=True, vertical_alignment="center"):
    if st.button("Re-run extraction", key="refresh_assets", icon=":material/manage_search:",
                 disabled=not editable):
        if common.act(studio.refresh_assets, project.id) is not None:
            done("Assets extracted again from the script (your edits and locks are kept).")
    add_asset_form(studio, project, editable)
    missing_keys = studio.image_keys_estimate(project.id)
    if st.button(f"Image keys for all ({missing_keys.count})", key="all_image_keys",
                 icon=":material/photo_library:", disabled=not editable or missing_keys.count == 0,
                 help="Draws an image key for every unlocked asset that has none."):
        if common.act(studio.generate_missing_image_keys, project.id) is not None:
            done(f"Image keys drawn for {missing_keys.count} assets.")
if missing_keys.count:
    st.caption(f"Image keys for all: {missing_keys.describe()}.")
st.caption(
    "Extraction is deterministic: characters from dialogue cues, locations from scene headings, "
    "props from capitalised objects in the action, each description pre-filled from its "
    "mentions. Add what it misses (a character with no lines, an object written in lower "
    "case); delete or merge what it got wrong — an entry need not be locked to be gone. An "
    "LLM, when connected, would add props the heuristic misses and richer descriptions; none "
    "is needed to go on."
)
suggestions_section(studio, project, editable)
if not editable:
    st.caption(f":material/lock: Editing opens when the gate does: {common.escape_markdown(gate.reason)}.")

scene_numbers = {doc.scene.id: n for n, doc in enumerate(state.ordered_scenes(), 1)}
for kind, (label, icon) in KINDS.items():
    of_kind = [a for a in assets if a.kind == kind]
    if not of_kind:
        continue
    st.markdown(f"#### {icon} {label} ({sum(a.locked for a in of_kind)}/{len(of_kind)} locked)")
    for asset in of_kind:
        asset_card(studio, project, asset, scene_numbers, editable, assets)
