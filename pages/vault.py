"""Artifact vault: every artifact by branch -> stage -> scene, the project's assets with
"Promote to global", and the global asset library."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from pages import common

KIND_ICONS = {
    "character": ":material/person:",
    "location": ":material/location_on:",
    "prop": ":material/category:",
}


GALLERY_MAX = 12  # media shown per stage and scene; the table lists every artifact


def artifact_table(items: list) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "Kind": item.kind,
                "Label": item.label,
                "Commit": common.short(item.commit_id),
                "Created": str(item.created_at)[:19].replace("T", " "),
                "GPU-s": item.cost_gpu_s,
                "File": item.file_name if item.media_id else "",
            }
            for item in items
        ]
    )


def media_loader(media_id: str):
    """Deferred download data: the file is read when the button is clicked, not per run."""
    return lambda: studio.media_bytes(media_id)


def media_card(item, scene_label: str) -> None:
    """A thumbnail (image key, frame), a player (clip, scene cut) or a file, and its
    download button."""
    with st.container(border=True):
        if item.is_image or item.is_video:
            data = common.act(studio.media_bytes, item.media_id)
            if data and item.is_image:
                st.image(data, width="stretch", output_format=common.image_format(data))
            elif data:
                st.video(data, format=item.mime)
        else:
            st.caption(f":material/description: {common.escape_markdown(item.mime or 'file')}")
        st.caption(
            f"**{common.escape_markdown(item.label)}** · {common.escape_markdown(item.kind)}  \n"
            f"{common.escape_markdown(scene_label)} · `{common.short(item.commit_id)}`"
        )
        st.download_button(
            "Download",
            data=media_loader(item.media_id),
            file_name=item.file_name,
            mime=item.mime,
            key=f"vault_dl_{item.id}",
            icon=":material/download:",
            on_click="ignore",
        )


def stage_section(group, scene_names: dict) -> None:
    items = group.items
    with st.expander(
        f"Stage {int(group.stage)} — {group.stage.title} ({len(items)})",
        icon=common.STAGE_ICONS[group.stage],
    ):
        for scene_id, rows in group.by_scene.items():
            label = "Film-wide" if scene_id is None else scene_names.get(
                scene_id, f"Scene {scene_id} (not on the active branch)"
            )
            media = [item for item in reversed(rows) if item.media_id]
            if media:
                st.markdown(f"**{common.escape_markdown(label)}**")
                shown = media[:GALLERY_MAX]
                for start in range(0, len(shown), 4):
                    for column, item in zip(st.columns(4), shown[start : start + 4], strict=False):
                        with column:
                            media_card(item, label)
                if len(media) > len(shown):
                    st.caption(f"The newest {len(shown)} of {len(media)} files; the table lists them all.")
        table = [(scene_id, item) for scene_id, rows in group.by_scene.items() for item in rows]
        frame = artifact_table([item for _, item in table])
        frame.insert(0, "Scene", [
            "Film-wide" if scene_id is None else scene_names.get(scene_id, str(scene_id))
            for scene_id, _ in table
        ])
        st.dataframe(frame, hide_index=True, key=f"vault_table_{group.branch}_{int(group.stage)}")


studio, project = common.project_page("Artifact vault")

groups = common.act(studio.vault, project.id)
state = common.act(studio.state, project.id)
branch_rows = common.act(studio.branches, project.id)
if groups is None or state is None or branch_rows is None:
    st.stop()
scene_names = {
    doc.scene.id: f"Scene {n} — {doc.scene.heading}"
    for n, doc in enumerate(state.ordered_scenes(), 1)
}

st.subheader("Artifacts", anchor=False)
with_artifacts = {group.branch for group in groups}
# Every branch that produced something has a tab: the active branch first, then in order of
# creation (a branch deleted since keeps its tab while its artifacts are indexed).
branches = [project.active_branch] if project.active_branch in with_artifacts else []
branches += [row["name"] for row in branch_rows if row["name"] in with_artifacts and row["name"] not in branches]
branches += sorted(with_artifacts - set(branches))
if not branches:
    st.caption("Nothing generated yet: artifacts appear here as stages produce them.")
else:
    st.caption(
        "What each branch produced, by stage and scene: image keys and frames as thumbnails, "
        "clips and scene cuts to play, every file to download."
    )
    counts = {b: sum(len(g.items) for g in groups if g.branch == b) for b in branches}
    labels = [f"{common.escape_markdown(branch)} ({counts[branch]})" for branch in branches]
    for tab, branch in zip(st.tabs(labels), branches, strict=True):
        with tab:
            for group in (g for g in groups if g.branch == branch):
                stage_section(group, scene_names)

st.subheader("Project assets", anchor=False)
assets = state.assets.assets
if not assets:
    st.caption("No assets yet: they are extracted from the script when it is imported.")
for asset in assets:
    with st.container(border=True):
        info_col, button_col = st.columns([3, 1], vertical_alignment="center")
        icon = KIND_ICONS.get(asset.kind.value, ":material/category:")
        lock = " · :material/lock: locked" if asset.locked else ""
        info_col.markdown(
            f"{icon} **{common.escape_markdown(asset.name)}** · {asset.kind.value} · "
            f"{len(asset.mentions)} scene(s){lock}"
        )
        if asset.description:
            info_col.caption(common.escape_markdown(asset.description))
        if button_col.button("Promote to global", key=f"promote_{asset.id}", icon=":material/public:"):
            promoted = common.act(studio.promote_to_global, project.id, asset.id)
            if promoted is not None:
                common.flash(
                    f"{common.escape_markdown(promoted.name)} is now in the global asset library."
                )
                st.rerun()

st.subheader("Global asset library", anchor=False)
library = common.act(studio.global_assets) or []
if not library:
    st.caption("Empty: promote a project asset to make it usable in every project.")
else:
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "Kind": a.kind.value,
                    "Name": a.name,
                    "Description": a.description,
                    "From project": a.origin_project or "",
                    "Branch": a.origin_branch or "",
                    "Added": a.created_at.strftime("%Y-%m-%d %H:%M"),
                }
                for a in library
            ]
        ),
        hide_index=True,
        key="global_assets",
    )
