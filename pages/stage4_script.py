"""Stage 4 — Master script: the formatted screenplay, manual edits, approval."""

from __future__ import annotations

import streamlit as st

from pages import common
from studio.model import ElementKind, ScriptElement, Stage

SCENES_INLINE = 25  # above this many scenes the reader shows one scene at a time


def render_element(element: ScriptElement) -> None:
    """One script element in screenplay layout. User text is escaped, never raw HTML.

    Kinds are compared with ``==`` (they are str enums): the Studio is cached across
    Streamlit's module reloads, so its values may come from an older ElementKind class."""
    text = common.escape_markdown(element.text)
    if element.kind == ElementKind.DIALOGUE:
        cue = common.escape_markdown(
            " ".join(filter(None, [element.character or "", element.extension or ""]))
        )
        _, speech, _ = st.columns([1, 2, 1])
        speech.markdown(f"**{cue}**", text_alignment="center")
        if element.parenthetical:
            paren = common.escape_markdown(element.parenthetical)
            speech.markdown(f"*{paren}*", text_alignment="center")
        speech.markdown(text)
    elif element.kind == ElementKind.TRANSITION:
        st.markdown(f"**{text}**", text_alignment="right")
    elif element.kind == ElementKind.CENTERED:
        st.markdown(text, text_alignment="center")
    elif element.kind == ElementKind.LYRICS:
        _, lyrics, _ = st.columns([1, 2, 1])
        lyrics.markdown(f"*{text}*")
    elif element.kind == ElementKind.PAGE_BREAK:
        st.divider()
    elif element.kind in (ElementKind.SECTION, ElementKind.SYNOPSIS):
        st.caption(text)
    elif text:
        st.markdown(text)


def render_screenplay(state) -> None:
    scenes = state.ordered_scenes()
    if state.script.title:
        st.markdown(f"### {common.escape_markdown(state.script.title)}", text_alignment="center")
    shown = scenes
    if len(scenes) > SCENES_INLINE:
        number = st.number_input("Scene", 1, len(scenes), 1, key="script_scene")
        shown = [scenes[number - 1]]
    for doc in shown:
        scene = doc.scene
        number = scenes.index(doc) + 1
        with st.container(border=True):
            st.markdown(f"**{number}. {common.escape_markdown(scene.heading)}**")
            for element in scene.elements:
                render_element(element)


studio, project = common.project_page("Stage 4 — Master script")

gates = common.act(studio.gates, project.id)
state = common.act(studio.state, project.id)
if gates is None or state is None:
    st.stop()
gate = gates[Stage.SCRIPT]
common.show_gate(gate)

if state.script is None:
    st.info("There is no script yet: import a screenplay in stage 1 (mode D).", icon=":material/info:")
    st.page_link(common.STAGE1, label="Stage 1 — Input", icon=":material/input:")
    st.stop()

approved = state.script.approved
if approved:
    st.success("Approved — frozen.", icon=":material/lock:")
    with st.expander("Reopen for editing", icon=":material/lock_open:"):
        st.caption(
            "Scenes whose text you then change become Outdated and later scenes get a "
            "continuity warning. The reason becomes the commit message."
        )
        reason = st.text_input("Why reopen? (at least 10 characters)", key="reopen_reason")
        if st.button("Reopen the script", key="reopen_script", icon=":material/lock_open:"):
            commit = common.act(studio.reopen_script, project.id, reason or "")
            if commit is not None:
                common.flash(f"Reopened for editing (commit `{common.short(commit.id)}`).")
                st.rerun()
elif st.button(
    "Approve master script",
    key="approve_script",
    icon=":material/verified:",
    type="primary",
    disabled=not gate.open,
    help="Freezes the script; stage 5 (assets & style) opens.",
):
    commit = common.act(studio.approve_script, project.id)
    if commit is not None:
        common.flash(f"Approved — frozen (commit `{common.short(commit.id)}`).")
        st.rerun()

read_tab, edit_tab = st.tabs(["Screenplay", "Edit"], key="script_tabs", on_change="rerun")
with read_tab:
    st.caption(
        f"{len(state.scenes)} scene(s) · "
        f"{sum(d.scene.dialogue_count for d in state.scenes.values())} speeches"
    )
    render_screenplay(state)

with edit_tab:
    if approved:
        st.info("The approved script is frozen: reopen it (above) or branch from an earlier commit.")
    head = common.act(studio.head, project.id) or ""
    fountain = common.act(studio.script_fountain, project.id) or ""
    common.seed_widgets(
        "stage4", f"{project.id}:{head}", {"script_text": fountain, "edit_message": ""}
    )
    text = st.text_area("Fountain source", height=480, key="script_text", disabled=approved)
    message = st.text_input(
        "Describe your edit (at least 10 characters; it becomes the commit message)",
        key="edit_message",
        disabled=approved,
        placeholder="e.g. Tighten the dialogue on the bridge",
    )
    preview_col, save_col, _ = st.columns([1, 1, 3])
    if preview_col.button(
        "Preview impact", key="preview_edit", icon=":material/preview:", disabled=approved
    ):
        impact = common.act(studio.preview_script_edit, project.id, text or "")
        if impact is not None:
            show = st.info if impact.empty else st.warning
            show(f"Cost & dependency check: {impact.summary()}", icon=":material/account_tree:")
    if save_col.button(
        "Save edit", key="save_edit", icon=":material/save:", type="primary", disabled=approved
    ):
        commit = common.act(studio.save_script_text, project.id, text or "", message or "")
        if commit is not None:
            common.flash(f"Edit saved as commit `{common.short(commit.id)}`: {common.escape_markdown(commit.message)}")
            st.rerun()
