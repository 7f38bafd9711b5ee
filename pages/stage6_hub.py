"""Stage 6 — Script hub: every scene with its status, continuity verdict and why it is stale."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from pages import common
from studio.model import Stage

studio, project = common.project_page("Stage 6 — Script hub")

gates = common.act(studio.gates, project.id)
state = common.act(studio.state, project.id)
reports = common.act(studio.scene_reports, project.id)
if gates is None or state is None or reports is None:
    st.stop()

gate = gates[Stage.HUB]
if gate.open or gate.locked:
    common.show_gate(gate)
else:
    st.info(
        f"Stage 6 gate closed — {gate.reason}. Scenes are listed read-only as drafts until then.",
        icon=":material/lock:",
    )

if not reports:
    st.info("No scenes yet: import a screenplay in stage 1 (mode D).", icon=":material/info:")
    st.page_link(common.STAGE1, label="Stage 1 — Input", icon=":material/input:")
    st.stop()

rows = []
for report in reports:
    scene = state.scenes[report.scene_id].scene
    rows.append(
        {
            "No.": report.number,
            "Heading": scene.heading,
            "INT/EXT": scene.int_ext.value or "—",
            "Location": scene.location,
            "Time of day": scene.time_of_day,
            "Characters": ", ".join(scene.characters),
            "Status": report.status.value,
            "Continuity": "Broken" if report.continuity_broken else "Safe",
            "Thumbnail": "no frames yet",
        }
    )
st.dataframe(
    pd.DataFrame(rows),
    hide_index=True,
    key="hub_scenes",
    column_config={
        "No.": st.column_config.NumberColumn(width="small"),
        "Heading": st.column_config.TextColumn(width="large"),
        "Thumbnail": st.column_config.TextColumn(
            help="The last end frame of the scene, once anchor frames exist (stage 10)."
        ),
    },
)
st.caption(
    "Continuity is advisory: a Broken verdict never blocks. Thumbnails appear once a scene "
    "has anchor frames (stage 10)."
)

for report in reports:
    if report.outdated or report.continuity_broken:
        what = "Outdated" if report.outdated else "Continuity broken"
        reasons = "; ".join(report.reasons) or "an earlier change invalidated it"
        st.warning(
            f"Scene {report.number} — {common.escape_markdown(report.heading)}: {what}, "
            f"because {common.escape_markdown(reasons)}.",
            icon=":material/warning:",
        )
