"""Projects dashboard: a card per project, and "+ New project"."""

from __future__ import annotations

import streamlit as st

from pages import common

studio = common.get_studio()

title_col, new_col = st.columns([5, 1], vertical_alignment="bottom")
title_col.title("Projects", anchor=False)
common.show_flash()
projects = common.act(studio.list_projects) or []

with new_col.popover("New project", icon=":material/add:", type="primary", width="stretch"):
    with st.form("new_project_form", border=False):
        name = st.text_input("Project name", key="new_project_name", placeholder="The Long Rain")
        create = st.form_submit_button(
            "Create project", key="new_project_submit", icon=":material/add:", type="primary"
        )
    if create:
        project = common.act(studio.create_project, name or "")
        if project is not None:
            common.select_project(project.id)
            common.flash(
                f"Project “{common.escape_markdown(project.name)}” created. Set its parameters, "
                "then import a script."
            )
            st.switch_page(common.STAGE1)

if not projects:
    with st.container(border=True):
        st.subheader(":material/waving_hand: Welcome to Aiuteur Studio", anchor=False)
        st.markdown(
            "Turn a screenplay into a shot-by-shot pre-visualised film, on this machine.\n\n"
            "1. Create a project with **New project** (top right).\n"
            "2. In **Stage 1 — Input**, set the project parameters and import a screenplay "
            "(Fountain or plain text), paste one, or use the bundled sample.\n"
            "3. Review and approve it in **Stage 4 — Master script**, then follow the scenes "
            "in the **Script hub**."
        )
        st.caption("Everything is stored in the data dir; see Settings for where it lives.")

columns = st.columns(3)
for index, summary in enumerate(projects):
    with columns[index % 3].container(border=True):
        st.subheader(common.escape_markdown(summary.name), anchor=False)
        if summary.title:
            st.caption(f":material/article: {common.escape_markdown(summary.title)}")
        st.markdown(
            f":material/call_split: `{summary.branch}` · :material/movie: {summary.scenes} scene(s)"
        )
        st.caption(f":material/schedule: Updated {summary.updated_at[:16].replace('T', ' ')}")
        st.progress(min(max(summary.progress, 0.0), 1.0), text=f"{summary.progress:.0%} done")
        if st.button("Open", key=f"open_{summary.id}", icon=":material/open_in_new:"):
            common.select_project(summary.id)
            st.switch_page(common.STAGE6 if summary.scenes else common.STAGE1)
