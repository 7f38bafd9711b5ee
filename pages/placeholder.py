"""The page of a stage that is not built yet: says so, and shows the stage's gate.

One module for every such stage; :func:`stage_placeholder` makes a distinct page function
per stage, so ``st.Page`` gets one callable (and one unique ``url_path``) each.
"""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from pages import common
from studio.model import Stage


def render_placeholder(stage: Stage) -> None:
    """The body of a not-yet-built stage page."""
    studio = common.get_studio()
    st.title(f"Stage {int(stage)} — {stage.title}", anchor=False)
    project = common.current_project()
    if project is not None:
        common.project_header(project)
    st.info(
        f"Stage {int(stage)} — {stage.title}: not built yet",
        icon=":material/construction:",
    )
    if project is None:
        st.caption("Pick or create a project on the Projects page to see this stage's gate.")
        st.page_link(common.DASHBOARD, label="Go to Projects", icon=":material/dashboard:")
        return
    gates = common.act(studio.gates, project.id)
    if gates is not None:
        common.show_gate(gates[stage])
    if stage.per_scene:
        st.caption("Phase B stages run scene by scene: pick a scene in the Script hub (stage 6).")
        st.page_link(common.STAGE6, label="Script hub", icon=common.STAGE_ICONS[Stage.HUB])


def stage_placeholder(stage: Stage) -> Callable[[], None]:
    """A page function for ``stage``, named after it (Streamlit keys pages by function)."""

    def page() -> None:
        render_placeholder(stage)

    page.__name__ = f"stage_{int(stage)}_{stage.name.lower()}"
    page.__qualname__ = page.__name__
    return page
