"""Helpers every page shares: the Studio, the selected project, the project header, flash
messages, gate banners and safe rendering of user text.

Pages are typed against the real :class:`studio.services.Studio` facade (the import-linter
contract keeps the store, SQLite and the adapters out of ``pages`` themselves); it is built
once by ``streamlit_app.py`` and handed over in ``st.session_state["studio"]``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

import streamlit as st

from studio.errors import BadInput, StudioError
from studio.model import Project, Scene, Stage
from studio.pipeline import Gate
from studio.services import Studio

T = TypeVar("T")

STUDIO_KEY = "studio"
PROJECT_KEY = "project_id"
FLASH_KEY = "_flash"
NEW_BRANCH_KEY = "_created_branch"
# The place (project, branch, scene) in the URL, so a reload or a bookmark comes back to it.
PLACE_PARAMS = ("project", "branch", "scene")
PLACE_KEY = "_place_in_url"  # what this session last wrote to the URL
LINK_BRANCH_KEY = "_link_branch"  # (project id, branch) a link asked for, offered in the header
LINK_SCENE_KEY = "_link_scene"  # a scene id a link asked for, checked by current_scene

DASHBOARD = "pages/dashboard.py"
HISTORY = "pages/history.py"
VAULT = "pages/vault.py"
SETTINGS = "pages/settings.py"
STAGE1 = "pages/stage1_input.py"
STAGE4 = "pages/stage4_script.py"
STAGE5 = "pages/stage5_assets.py"
STAGE6 = "pages/stage6_hub.py"
STAGE7 = "pages/stage7_shots.py"
STAGE8 = "pages/stage8_visual.py"
STAGE9 = "pages/stage9_prompts.py"
STAGE10 = "pages/stage10_frames.py"
STAGE11 = "pages/stage11_confirm.py"
STAGE12 = "pages/stage12_video.py"
SCENE_KEY = "scene_id"

STAGE_ICONS: dict[Stage, str] = {
    Stage.INPUT: ":material/input:",
    Stage.TREATMENT: ":material/description:",
    Stage.BEATS: ":material/format_list_numbered:",
    Stage.SCRIPT: ":material/article:",
    Stage.ASSETS: ":material/palette:",
    Stage.HUB: ":material/hub:",
    Stage.SHOTS: ":material/view_list:",
    Stage.VISUAL_STATE: ":material/style:",
    Stage.PROMPTS: ":material/edit_note:",
    Stage.FRAMES: ":material/photo_library:",
    Stage.CONFIRM: ":material/price_check:",
    Stage.VIDEO: ":material/movie:",
}
LOCK_ICON = ":material/lock:"
SKIP_ICON = ":material/skip_next:"

# Every character CommonMark lets a backslash escape that could start markup: emphasis,
# code, links, headings, lists, tables, HTML, LaTeX ($), Streamlit directives (:red[..]).
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:=&])")


def escape_markdown(text: object) -> str:
    """``text`` as Markdown that renders literally: markup characters are backslash-escaped,
    lines keep their breaks, leading indentation (a code block in Markdown) is dropped."""
    lines = str(text).replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "  \n".join(_MARKDOWN_SPECIAL.sub(r"\\\1", line.strip()) for line in lines)


def inline_code(text: object) -> str:
    """``text`` as a Markdown code span, which renders literally (backslash escapes would
    show); a backtick inside, the one character that could end it, becomes a quote."""
    return "`" + " ".join(str(text).replace("`", "'").split()) + "`"


def get_studio() -> Studio:
    """The Studio that ``streamlit_app.py`` built (stops the page when there is none)."""
    studio = st.session_state.get(STUDIO_KEY)
    if studio is None:
        st.error(
            "The studio is not open: start the app with `make run` "
            "and check the data dir (AIUTEUR_HOME) is writable."
        )
        st.stop()
    return studio


def select_project(project_id: str | None) -> None:
    if st.session_state.get(PROJECT_KEY) != project_id:
        st.session_state.pop(SCENE_KEY, None)  # scene ids belong to one project
    st.session_state[PROJECT_KEY] = project_id


def restore_place(studio: Studio) -> None:
    """Take the project, branch and scene from the URL when it names a place this session did
    not write there: a reload (F5), a bookmark or a shared link. Call before the sidebar.

    An unknown project or scene is said in words; a branch other than the project's active
    one is offered as a switch in the project header (opening a link changes nothing)."""
    url = {name: st.query_params.get(name) for name in PLACE_PARAMS}
    written = st.session_state.get(PLACE_KEY) or {}
    if not any(value and value != written.get(name) for name, value in url.items()):
        return
    st.session_state[PLACE_KEY] = {**written, **{k: v for k, v in url.items() if v}}
    project_id = url["project"] or st.session_state.get(PROJECT_KEY)
    if not project_id:
        return
    try:
        project = studio.project(project_id)
    except StudioError:
        st.warning(
            f"This link names a project that is not in this studio "
            f"({escape_markdown(project_id)}): pick one in the sidebar or on the Projects page.",
            icon=":material/link_off:",
        )
        return
    if url["project"]:
        select_project(project.id)
    if url["scene"]:
        st.session_state[SCENE_KEY] = url["scene"]
        st.session_state[LINK_SCENE_KEY] = url["scene"]
    branch = url["branch"]
    if branch and branch != project.active_branch:
        try:
            names = {row["name"] for row in studio.branches(project.id)}
        except StudioError:
            names = set()
        if branch in names:
            st.session_state[LINK_BRANCH_KEY] = (project.id, branch)
        else:
            st.warning(
                f"This link names branch {inline_code(branch)}, which "
                f"{escape_markdown(project.name)} does not have: showing branch "
                f"{inline_code(project.active_branch)}.",
                icon=":material/link_off:",
            )


def remember_place(project_id: str | None, branch: str | None, scene_id: str | None) -> None:
    """Put the place in the URL (``?project=…&branch=…&scene=…``) where it is not already."""
    place = {"project": project_id, "branch": branch if project_id else None,
             "scene": scene_id if project_id else None}
    for name, value in place.items():
        if value and st.query_params.get(name) != value:
            st.query_params[name] = value
        elif not value and name in st.query_params:
            del st.query_params[name]
    st.session_state[PLACE_KEY] = {name: value for name, value in place.items() if value}


def remember_scene(scene_id: str) -> None:
    """The scene a page settled on, in the URL beside the project and branch already there."""
    if st.query_params.get("scene") != scene_id:
        st.query_params["scene"] = scene_id
    st.session_state[PLACE_KEY] = {**st.session_state.get(PLACE_KEY, {}), "scene": scene_id}


def current_project() -> Project | None:
    """The project picked in the sidebar or on the dashboard, if it still exists."""
    project_id = st.session_state.get(PROJECT_KEY)
    if not project_id:
        return None
    try:
        return get_studio().project(project_id)
    except StudioError:
        select_project(None)
        return None


def require_project() -> Project:
    """The selected project; otherwise a friendly pointer to the dashboard, and stop."""
    project = current_project()
    if project is None:
        st.info(
            "Pick or create a project on the Projects page first.",
            icon=":material/folder_open:",
        )
        st.page_link(DASHBOARD, label="Go to Projects", icon=":material/dashboard:")
        st.stop()
    return project


def project_page(title: str) -> tuple[Studio, Project]:
    """Open a project page: the studio, the selected project (or stop), title and header."""
    studio = get_studio()
    project = require_project()
    st.title(title, anchor=False)
    project_header(project)
    return studio, project


# The Studio verbs that can take seconds, and what the page says while one runs (a spinner
# Streamlit shows only once the call has taken half a second).
SLOW_ACTIONS: dict[str, str] = {
    "new_project": "Importing the screenplay…",
    "import_screenplay": "Importing the screenplay…",
    "import_staged": "Importing the screenplay…",
    "import_sample": "Importing the sample screenplay…",
    "save_script_text": "Saving the script…",
    "approve_script": "Approving the script…",
    "refresh_assets": "Finding the assets in the script…",
    "generate_image_key": "Drawing the image key…",
    "bulk_image_keys": "Drawing the image keys…",
    "lock_style": "Updating the style lock…",
    "lock_asset": "Updating the asset lock…",
    "lock_shots": "Checking and locking the shot list…",
    "lock_visual_state": "Checking and locking the visual state…",
    "lock_prompts": "Checking and locking the prompts…",
    "lock_frames": "Checking and locking the frames…",
    "render_frames": "Queuing the frame renders…",
    "region_edit": "Queuing the region edit…",
    "confirm_render": "Queuing the clip renders…",
    "assemble_film": "Queuing the film assembly…",
    "switch": "Switching branch…",
}


def act(action: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
    """Run one Studio action; a StudioError becomes an ``st.error`` box and ``None``. A slow
    one (:data:`SLOW_ACTIONS`) shows a spinner while it runs.

    The message is escaped: it often quotes user text (a file or project name)."""
    busy = SLOW_ACTIONS.get(getattr(action, "__name__", ""))
    try:
        if busy is None:
            return action(*args, **kwargs)
        with st.spinner(busy, show_time=True):
            return action(*args, **kwargs)
    except StudioError as exc:
        st.error(escape_markdown(str(exc)), icon=":material/error:")
        return None


def flash(message: str, kind: str = "success") -> None:
    """A message to show once on the next run (after an action that reruns the page)."""
    st.session_state.setdefault(FLASH_KEY, []).append((kind, message))


def show_flash() -> None:
    boxes = {"success": st.success, "info": st.info, "warning": st.warning, "error": st.error}
    for kind, message in st.session_state.pop(FLASH_KEY, []):
        boxes.get(kind, st.info)(message)


def seed_widgets(scope: str, token: str, values: dict[str, Any]) -> None:
    """Load stored values into keyed widgets: all of them when ``token`` changes (another
    project, branch or commit), and any whose state Streamlit dropped (the page was left).

    Setting them through Session State (not ``value=``) makes the browser show them even
    where it still holds the user's earlier input. Call before the widgets are drawn, and
    draw those widgets without a ``value``/``index``/``default`` argument."""
    marker = f"_scope_{scope}"
    fresh = st.session_state.get(marker) != token
    for key, value in values.items():
        if fresh or key not in st.session_state:
            st.session_state[key] = value
    st.session_state[marker] = token


def short(commit_id: str) -> str:
    return commit_id[:7]


def commit_label(commit: Any) -> str:
    """``abc1234 — message`` for selectboxes (their options render as plain text)."""
    message = " ".join(str(commit.message).split())
    if len(message) > 70:
        message = message[:69] + "…"
    return f"{short(commit.id)} — {message}"


def show_gate(gate: Gate) -> None:
    """A one-line banner: the stage's gate, open or closed, and why."""
    label = f"Stage {int(gate.stage)} — {gate.stage.title}"
    if gate.skipped:
        st.info(f"{label}: {gate.reason}", icon=SKIP_ICON)
    elif gate.locked:
        st.success(f"{label}: locked ({gate.reason})", icon=LOCK_ICON)
    elif gate.open:
        reason = gate.reason.removeprefix("open: ")
        st.info(f"{label}: gate open — {reason}", icon=":material/lock_open:")
    else:
        st.warning(f"{label}: gate closed — {gate.reason}", icon=LOCK_ICON)


def gate_icon(stage: Stage, gate: Gate | None) -> str:
    """The navigation icon of a stage page: a lock while its gate is closed."""
    if gate is None:
        return STAGE_ICONS[stage]
    if gate.skipped:
        return SKIP_ICON
    if not gate.open and not gate.locked:
        return LOCK_ICON
    return STAGE_ICONS[stage]


def parse_duration(text: str, what: str) -> int:
    """``"3:30"`` (mm:ss) or ``"210"`` (seconds) -> seconds; ``BadInput`` otherwise."""
    match = re.fullmatch(r"\s*(?:(\d{1,3}):)?(\d{1,5})\s*", text or "")
    if match is None or (match[1] is not None and int(match[2]) >= 60):
        raise BadInput(f"{what} must be minutes:seconds like 3:30 (got {text!r})")
    return int(match[1] or 0) * 60 + int(match[2])


def format_duration(seconds: int) -> str:
    return f"{seconds // 60}:{seconds % 60:02d}"


def current_scene(studio: Studio, project: Project, stage: Stage) -> tuple[int, Scene]:
    """The scene a Phase B page works on, with its 1-based number: the one opened in the
    hub (``session_state["scene_id"]``), else the first; a selectbox switches it.

    Stops the page with a pointer to stage 1 when the project has no scenes."""
    state = act(studio.state, project.id)
    if state is None:
        st.stop()
    scenes = [doc.scene for doc in state.ordered_scenes()]
    if not scenes:
        st.info("No scenes yet: import a screenplay in stage 1 (mode D).", icon=":material/info:")
        st.page_link(STAGE1, label="Stage 1 — Input", icon=STAGE_ICONS[Stage.INPUT])
        st.stop()
    ids = [scene.id for scene in scenes]
    chosen = st.session_state.get(SCENE_KEY)
    linked = st.session_state.pop(LINK_SCENE_KEY, None)
    if chosen not in ids:
        if linked is not None and linked == chosen:
            st.warning(
                f"This link names a scene that branch {inline_code(project.active_branch)} "
                f"does not have ({escape_markdown(chosen)}): showing scene 1.",
                icon=":material/link_off:",
            )
        chosen = ids[0]
        st.session_state[SCENE_KEY] = chosen
    remember_scene(chosen)
    # One widget per page: a picker shared by the pages would keep the previous page's
    # value in the browser while the hub (or another page) changed SCENE_KEY.
    key = f"scene_picker_{int(stage)}"
    shown = key in st.session_state  # the widget is on screen already (this page, last run)
    if shown and st.session_state[key] != chosen:
        st.session_state[key] = chosen
    headings = {scene.id: f"{n}. {scene.heading}" for n, scene in enumerate(scenes, 1)}
    st.selectbox(
        "Scene",
        ids,
        index=0 if shown else ids.index(chosen),  # Session State decides once it is shown
        format_func=lambda sid: headings.get(sid, sid),
        key=key,
        on_change=lambda: st.session_state.update({SCENE_KEY: st.session_state.get(key)}),
    )
    number = ids.index(chosen) + 1
    return number, scenes[number - 1]


def image_format(data: bytes) -> str:
    """The format to hand ``st.image`` for stored image bytes: their own, so Streamlit sends
    them as they are ("auto" re-encodes a PNG without alpha as JPEG on every run)."""
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "PNG"
    if data[:3] == b"\xff\xd8\xff":
        return "JPEG"
    return "auto"


def show_image(studio: Studio, media_id: str | None, caption: str | None = None, *, missing: str = "No image key yet") -> None:
    """A stored image (an image key, a frame) by media id, or a placeholder box."""
    data = act(studio.media_bytes, media_id) if media_id else None
    if data:
        st.image(data, caption=caption, width="stretch", output_format=image_format(data))
        return
    with st.container(border=True, height=140, vertical_alignment="center", horizontal_alignment="center"):
        st.caption(f":material/image: {missing}", text_alignment="center")


def project_header(project: Project) -> None:
    """Project name, active branch, links to the vault and the history, "Create branch"."""
    studio = get_studio()
    name_col, vault_col, history_col, branch_col = st.columns(
        [4, 1.4, 1.6, 1.5], vertical_alignment="center"
    )
    name_col.markdown(
        f":material/movie: **{escape_markdown(project.name)}** · "
        f":material/call_split: branch `{project.active_branch}`"
    )
    vault_col.page_link(VAULT, label="Artifact vault", icon=":material/inventory_2:")
    history_col.page_link(HISTORY, label="Version history", icon=":material/account_tree:")
    with branch_col.popover("Create branch", icon=":material/add:"):
        _create_branch_form(studio, project)
    created = st.session_state.get(NEW_BRANCH_KEY)
    linked = st.session_state.get(LINK_BRANCH_KEY)
    if created and created[0] == project.id:
        _offer_switch(studio, project, created[1], f"Branch `{created[1]}` created. Switch to it now?")
    elif linked and linked[0] == project.id and linked[1] != project.active_branch:
        _offer_switch(
            studio, project, linked[1],
            f"This link is for branch `{linked[1]}`; the project is on branch "
            f"`{project.active_branch}`. Switch to `{linked[1]}`?",
        )
    show_flash()


def _create_branch_form(studio: Studio, project: Project) -> None:
    name = st.text_input("New branch name", key="hdr_branch_name", placeholder="alt-ending")
    commits = act(studio.log, project.id, None, 100) or []
    start = st.selectbox(
        "From commit",
        [c.id for c in commits],
        format_func=lambda cid: commit_label(next(c for c in commits if c.id == cid)),
        key="hdr_branch_from",
        help=f"Commits of branch {project.active_branch}, newest first.",
    )
    if st.button("Create", key="hdr_branch_create", icon=":material/call_split:", type="primary"):
        if act(studio.create_branch, project.id, (name or "").strip(), start) is not None:
            st.session_state[NEW_BRANCH_KEY] = (project.id, (name or "").strip())
            st.rerun()


def _offer_switch(studio: Studio, project: Project, branch: str, question: str) -> None:
    st.success(question, icon=":material/call_split:")
    switch_col, stay_col, _ = st.columns([1, 1, 4])
    label = f"Switch to {escape_markdown(branch)}"
    if switch_col.button(label, key="hdr_branch_switch", type="primary"):
        result = act(studio.switch, project.id, branch)
        if result is not None:
            st.session_state.pop(NEW_BRANCH_KEY, None)
            st.session_state.pop(LINK_BRANCH_KEY, None)
            flash(f"Now on branch `{result.branch}`.")
            st.rerun()
    if stay_col.button("Stay here", key="hdr_branch_stay"):
        st.session_state.pop(NEW_BRANCH_KEY, None)
        st.session_state.pop(LINK_BRANCH_KEY, None)
        st.rerun()
