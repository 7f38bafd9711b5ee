"""Version history: the Story Timelines graph, one-click switch (forks from old commits),
branches and the log of the active branch."""

from __future__ import annotations

import html

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from pages import common

LANE_COLOURS = ["#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2", "#9d755d"]
SELECTED_KEY = "_history_selected"


def _plain(text: str, limit: int = 60) -> str:
    """Commit text for Plotly labels, which understand a little HTML: escape it all."""
    text = " ".join(str(text).split())
    return html.escape(text if len(text) <= limit else text[: limit - 1] + "…")


def history_figure(graph) -> go.Figure:
    """Nodes at (lane, -row), parent edges as lines, messages and branch heads in a column
    to the right (like ``git log --graph``)."""
    place = {node.id: (node.lane, -node.row) for node in graph.nodes}
    edge_x: list[float | None] = []
    edge_y: list[float | None] = []
    for child, parent in graph.edges:
        (x0, y0), (x1, y1) = place[child], place[parent]
        # Leave the child's lane straight down, then bend into the parent's lane.
        edge_x += [x0, x1, x1, None] if x0 == x1 else [x0, x0, x1, None]
        edge_y += [y0, y1, y1, None] if x0 == x1 else [y0, y1 + 0.5, y1, None]
    lanes = max((node.lane for node in graph.nodes), default=0)
    label_x = lanes + 0.7
    active_head = graph.heads.get(graph.active_branch)
    hover = [
        f"<b>{node.short}</b> · {_plain(node.action or 'commit', 30)}<br>"
        f"{_plain(node.message, 90)}<br>{html.escape(node.created_at[:19].replace('T', ' '))}"
        for node in graph.nodes
    ]
    labels = []
    for node in graph.nodes:
        heads = [
            f"<b>[{html.escape(b)}{' ✓' if b == graph.active_branch else ''}]</b>"
            for b in node.branches
        ]
        labels.append(" ".join([*heads, f"{node.short}", _plain(node.message)]))
    ids = [[node.id] for node in graph.nodes]
    figure = go.Figure()
    figure.add_trace(
        go.Scatter(
            x=edge_x, y=edge_y, mode="lines", hoverinfo="skip",
            line={"color": "#9aa0a6", "width": 2},
        )
    )
    figure.add_trace(
        go.Scatter(
            x=[node.lane for node in graph.nodes],
            y=[-node.row for node in graph.nodes],
            mode="markers",
            customdata=ids,
            hovertext=hover,
            hoverinfo="text",
            marker={
                "size": [20 if node.id == active_head else 13 for node in graph.nodes],
                "color": [LANE_COLOURS[node.lane % len(LANE_COLOURS)] for node in graph.nodes],
                "line": {"width": 2, "color": "white"},
            },
        )
    )
    figure.add_trace(
        go.Scatter(
            x=[label_x] * len(graph.nodes),
            y=[-node.row for node in graph.nodes],
            mode="text",
            text=labels,
            textposition="middle right",
            textfont={"size": 13},
            customdata=ids,
            hovertext=hover,
            hoverinfo="text",
        )
    )
    rows = max((node.row for node in graph.nodes), default=0) + 1
    figure.update_layout(
        height=max(220, 38 * rows + 60),
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        showlegend=False,
        dragmode=False,
        xaxis={"visible": False, "range": [-0.5, label_x + 6]},
        yaxis={"visible": False, "range": [-rows + 0.4, 0.6]},
    )
    return figure


def picked_commit(event) -> str | None:
    """The commit id of the clicked node (its customdata), if any."""
    for point in (event or {}).get("selection", {}).get("points", []):
        data = point.get("customdata")
        if isinstance(data, list | tuple):
            data = data[0] if data else None
        if data:
            return str(data)
    return None


def switch_to(project_id: str, commit_id: str) -> None:
    result = common.act(studio.switch, project_id, commit_id)
    if result is None:
        return
    st.session_state.pop(SELECTED_KEY, None)
    if result.forked:
        common.flash(
            f"Commit `{common.short(result.commit)}` is not a branch head, so it was forked: "
            f"you are now on the new branch `{result.branch}` (nothing was overwritten).",
            "info",
        )
    else:
        common.flash(f"Switched to branch `{result.branch}` at `{common.short(result.commit)}`.")
    st.rerun()


studio, project = common.project_page("Version history")

graph = common.act(studio.graph, project.id)
if graph is None:
    st.stop()
nodes = {node.id: node for node in graph.nodes}

st.caption(
    "Every save is a commit. Click a commit, then switch to it: a branch head switches the "
    "branch, an older commit forks a new branch there, so nothing is ever overwritten."
)
event = st.plotly_chart(
    history_figure(graph),
    on_select="rerun",
    selection_mode="points",
    key="history_graph",
    config={"displayModeBar": False, "scrollZoom": False},
)
if graph.truncated:
    st.caption(f"Showing the newest {len(graph.nodes)} commits.")
clicked = picked_commit(event)
if clicked in nodes:
    st.session_state[SELECTED_KEY] = clicked
selected = st.session_state.get(SELECTED_KEY)
if selected in nodes:
    node = nodes[selected]
    info_col, button_col = st.columns([4, 1], vertical_alignment="center")
    info_col.markdown(
        f"Selected `{node.short}` — {common.escape_markdown(node.message)}"
        + (f" (head of {', '.join(f'`{b}`' for b in node.branches)})" if node.branches else "")
    )
    if button_col.button(f"Switch to {node.short}", key="graph_switch", icon=":material/swap_horiz:"):
        switch_to(project.id, node.id)

with st.container(border=True):
    st.markdown("**Switch to a commit** (the same, without the graph)")
    pick_col, go_col = st.columns([4, 1], vertical_alignment="bottom")
    target = pick_col.selectbox(
        "Commit",
        list(nodes),
        format_func=lambda cid: common.commit_label(nodes[cid])
        + (f"  [{', '.join(nodes[cid].branches)}]" if nodes[cid].branches else ""),
        key="history_commit",
    )
    if go_col.button("Switch", key="history_switch", icon=":material/swap_horiz:", type="primary"):
        switch_to(project.id, target)

branches_col, log_col = st.columns([2, 3])
with branches_col:
    st.subheader("Branches", anchor=False)
    branch_rows = common.act(studio.branches, project.id) or []
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "Branch": row["name"],
                    "Head": common.short(row["commit_id"]),
                    "Active": bool(row["active"]),
                    "Created": str(row["created_at"])[:16].replace("T", " "),
                }
                for row in branch_rows
            ]
        ),
        hide_index=True,
        key="history_branches",
    )
with log_col:
    st.subheader(f"Log of `{project.active_branch}`", anchor=False)
    log = common.act(studio.log, project.id) or []
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "Commit": common.short(c.id),
                    "Message": c.message,
                    "Action": c.action,
                    "When": c.created_at[:19].replace("T", " "),
                }
                for c in log
            ]
        ),
        hide_index=True,
        key="history_log",
    )
