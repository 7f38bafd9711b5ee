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


def artifact_table(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "Kind": row["kind"],
                "Label": row["label"],
                "Commit": common.short(row["commit_id"]),
                "Created": str(row["created_at"])[:19].replace("T", " "),
                "GPU-s": row.get("cost_gpu_s") or 0.0,
            }
            for row in rows
        ]
    )


studio, project = common.project_page("Artifact vault")

groups = common.act(studio.vault, project.id)
state = common.act(studio.state, project.id)
if groups is None or state is None:
    st.stop()
scene_names = {
    doc.scene.id: f"Scene {n} — {doc.scene.heading}"
    for n, doc in enumerate(state.ordered_scenes(), 1)
}

st.subheader("Artifacts", anchor=False)
branches = list(dict.fromkeys(group.branch for group in groups))
if not branches:
    st.caption("Nothing generated yet: artifacts appear here as stages produce them.")
else:
    for tab, branch in zip(st.tabs(branches), branches, strict=True):
        with tab:
            for group in (g for g in groups if g.branch == branch):
                count = sum(len(rows) for rows in group.by_scene.values())
                with st.expander(
                    f"Stage {int(group.stage)} — {group.stage.title} ({count})",
                    icon=common.STAGE_ICONS[group.stage],
                ):
                    for scene_id, rows in group.by_scene.items():
                        label = "Film-wide" if scene_id is None else scene_names.get(
                            scene_id, f"Scene {scene_id} (not on the active branch)"
                        )
                        st.markdown(f"**{common.escape_markdown(label)}**")
                        st.dataframe(artifact_table(rows), hide_index=True)

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
