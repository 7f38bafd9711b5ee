"""Stage 6 — Script hub: every scene with its status, continuity verdict, dependencies,
carry-forward prompts and why it is stale; "Open scene" goes to its shot list."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from pages import common
from studio.model import Stage
from studio.pipeline import SceneStatus

VERDICTS = {
    "Safe": ("green", ":material/check_circle:"),
    "Risky": ("orange", ":material/warning:"),
    "Broken": ("red", ":material/error:"),
}
STATUS_COLOURS = {
    SceneStatus.DRAFT: "gray",
    SceneStatus.SHOTS_LOCKED: "blue",
    SceneStatus.FRAMES_LOCKED: "violet",
    SceneStatus.VIDEO_COMPLETE: "green",
    SceneStatus.OUTDATED: "red",
}

CARDS_PER_PAGE = 25


def asset_label(state, asset_id: str) -> str:
    asset = state.assets.get(asset_id)
    return common.escape_markdown(asset.name if asset else asset_id)


def tag_list(items) -> str:
    """``MIA (wet), ENVELOPE`` from (name, tags) pairs."""
    parts = [
        f"{name} ({', '.join(tags)})" if tags else str(name) for name, tags in items
    ]
    return common.escape_markdown(", ".join(parts)) if parts else "—"


def carry_prompt(studio, project, state, row) -> None:
    """One question per condition tag waiting to enter the scene: carry it or drop it."""
    for asset_id, tag in row.pending_carry:
        name = asset_label(state, asset_id)
        stem = f"{row.scene_id}_{asset_id}_{tag}"
        with st.container(horizontal=True, vertical_alignment="center"):
            st.markdown(
                f":material/help: **{name}** was *{common.escape_markdown(tag)}* when last seen. "
                "Carry it into this scene?",
                width="content",
            )
            if st.button("Carry forward", key=f"carry_{stem}", icon=":material/east:"):
                if common.act(studio.decide_carry, project.id, row.scene_id, asset_id, tag, True) is not None:
                    common.flash(f"'{common.escape_markdown(tag)}' carried into scene {row.number} on {name}.")
                    st.rerun()
            if st.button("Drop", key=f"drop_{stem}", icon=":material/block:"):
                if common.act(studio.decide_carry, project.id, row.scene_id, asset_id, tag, False) is not None:
                    common.flash(f"'{common.escape_markdown(tag)}' dropped for {name} in scene {row.number}.")
                    st.rerun()


def scene_card(studio, project, state, row) -> None:
    with st.container(border=True):
        thumb_col, body_col, open_col = st.columns([1, 4, 1])
        with thumb_col:
            common.show_image(studio, row.thumbnail, missing="No frames yet")
        with body_col:
            colour, icon = VERDICTS.get(row.verdict, ("gray", ":material/help:"))
            status_colour = STATUS_COLOURS.get(row.status, "gray")
            st.markdown(
                f"**{row.number}. {common.escape_markdown(row.heading)}**  \n"
                f":{status_colour}-badge[{row.status}] "
                f":{colour}-badge[{icon} {row.verdict}] "
                f":gray-badge[{row.shots} shot(s)]"
            )
            deps = row.dependencies
            lines = [
                f"**Expected:** {common.escape_markdown(', '.join(deps.expected_characters) or '—')}"
                f" · **Location:** {common.escape_markdown(deps.location or '—')}",
            ]
            if deps.previous_heading:
                lines.append(
                    f"**Previous scene** ({common.escape_markdown(deps.previous_heading)}) "
                    f"ended with: {tag_list(deps.previous_end_state)}"
                )
            if deps.carried_tags:
                lines.append(
                    "**Carried in:** "
                    + common.escape_markdown(", ".join(f"{n} ({t})" for n, t in deps.carried_tags))
                )
            st.caption("  \n".join(lines))
            for reason in row.verdict_reasons:
                st.caption(f"{icon} {common.escape_markdown(reason)}")
            carry_prompt(studio, project, state, row)
        if open_col.button(
            "Open scene", key=f"open_scene_{row.scene_id}", icon=":material/open_in_new:",
            type="primary", width="stretch",
        ):
            st.session_state[common.SCENE_KEY] = row.scene_id
            st.switch_page(common.STAGE7)


studio, project = common.project_page("Stage 6 — Script hub")

gates = common.act(studio.gates, project.id)
state = common.act(studio.state, project.id)
rows = common.act(studio.hub, project.id)
if gates is None or state is None or rows is None:
    st.stop()

gate = gates[Stage.HUB]
if gate.open or gate.locked:
    common.show_gate(gate)
else:
    st.info(
        f"Stage 6 gate closed — {gate.reason}. Scenes are listed read-only as drafts until then.",
        icon=":material/lock:",
    )
    st.page_link(common.STAGE5, label="Stage 5 — Assets & style", icon=common.STAGE_ICONS[Stage.ASSETS])

if not rows:
    st.info("No scenes yet: import a screenplay in stage 1 (mode D).", icon=":material/info:")
    st.page_link(common.STAGE1, label="Stage 1 — Input", icon=":material/input:")
    st.stop()

for row in rows:
    if row.status == SceneStatus.OUTDATED or row.continuity_broken:
        what = "Outdated" if row.status == SceneStatus.OUTDATED else "Continuity broken"
        reasons = "; ".join(row.reasons) or "an earlier change invalidated it"
        st.warning(
            f"Scene {row.number} — {common.escape_markdown(row.heading)}: {what}, "
            f"because {common.escape_markdown(reasons)}. Nothing is blocked: review the scene "
            "and lock it again.",
            icon=":material/warning:",
        )

table = [
    {
        "No.": row.number,
        "Heading": row.heading,
        "Characters": ", ".join(state.scenes[row.scene_id].scene.characters),
        "Status": row.status,
        "Continuity": row.verdict,
        "Shots": row.shots,
    }
    for row in rows
]
st.dataframe(
    pd.DataFrame(table),
    hide_index=True,
    key="hub_scenes",
    column_config={
        "No.": st.column_config.NumberColumn(width="small"),
        "Heading": st.column_config.TextColumn(width="large"),
        "Continuity": st.column_config.TextColumn(
            help="Safe / Risky / Broken: advisory only, it never blocks."
        ),
        "Shots": st.column_config.NumberColumn(width="small"),
    },
)
st.caption(
    "Continuity is advisory: a Broken verdict never blocks. Thumbnails appear once a scene "
    "has anchor frames (stage 10)."
)

st.subheader("Scenes", anchor=False)
shown = rows
if len(rows) > CARDS_PER_PAGE:
    # A card per scene is a dozen elements: a long script shows them a page at a time (the
    # table above lists every scene).
    starts = list(range(0, len(rows), CARDS_PER_PAGE))
    start = st.selectbox(
        "Scenes",
        starts,
        format_func=lambda i: f"{i + 1}–{min(i + CARDS_PER_PAGE, len(rows))} of {len(rows)}",
        key="hub_cards_page",
    )
    shown = rows[start : start + CARDS_PER_PAGE]
for row in shown:
    scene_card(studio, project, state, row)
