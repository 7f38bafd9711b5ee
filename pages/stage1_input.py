"""Stage 1 — Input: project parameters, the file staging area and the mode D import."""

from __future__ import annotations

import streamlit as st

from pages import common
from studio.errors import StudioError
from studio.model import ContentRating, FileRole, InputMode, ProjectParams, ProjectType

MODES = {
    InputMode.EXPANSION: "A — Expansion: 1–3 paragraphs grow into a story",
    InputMode.CONDENSATION: "B — Condensation: a long text (100+ pages) is condensed",
    InputMode.TRANSFORMATION: "C — Transformation: a source plus a twist",
    InputMode.SCRIPT: "D — Script import: a finished screenplay goes straight to stage 4",
}
ROLES = {FileRole.PRIMARY: "Primary (the screenplay)", FileRole.CONTEXT: "Context"}
GENRES = [
    "drama", "thriller", "comedy", "horror", "science fiction", "fantasy", "romance",
    "mystery", "noir", "western", "documentary", "animation",
]
PENDING_KEY = "_staging_action"


def queue_staging_action(action: str, name: str, widget_key: str | None = None) -> None:
    """Widget callback: remember what to do; the page body performs it (and shows errors)."""
    value = st.session_state.get(widget_key) if widget_key else None
    st.session_state[PENDING_KEY] = (action, name, value)


def report_import(result) -> None:
    common.flash(
        f"Imported {result.scenes} scene(s), {len(result.characters)} character(s), "
        f"{len(result.locations)} location(s) and {result.assets} asset(s) "
        f"(commit `{common.short(result.commit.id)}`)."
    )
    for warning in result.warnings:
        common.flash(common.escape_markdown(warning), "warning")
    st.rerun()


studio, project = common.project_page("Stage 1 — Input")

pending = st.session_state.pop(PENDING_KEY, None)
if pending is not None:
    action, file_name, value = pending
    if action == "remove":
        common.act(studio.update_staged_file, project.id, file_name, remove=True)
    elif action == "role":
        common.act(studio.update_staged_file, project.id, file_name, role=value)
    elif action == "tag":
        common.act(studio.update_staged_file, project.id, file_name, tag=value or "")

state = common.act(studio.state, project.id)
if state is None:
    st.stop()
# Defaults for the form of a project without saved parameters (not validated: empty tone).
params = state.input.params or ProjectParams.model_construct(tonal_precision="")
common.seed_widgets(
    "stage1",
    f"{project.id}:{project.active_branch}",
    {
        "input_mode": params.input_mode,
        "target_min": common.format_duration(params.target_min_s),
        "target_max": common.format_duration(params.target_max_s),
        "project_type": params.project_type,
        "content_rating": params.content_rating,
        "genres": list(params.genres),
        "tonal_precision": params.tonal_precision,
    },
)

if state.script is not None:
    st.success(
        f"Input submitted: a screenplay with {len(state.scenes)} scene(s) is in stage 4.",
        icon=":material/task_alt:",
    )
    link_script, link_hub, _ = st.columns([1, 1, 3])
    link_script.page_link(common.STAGE4, label="Master script", icon=":material/article:")
    link_hub.page_link(common.STAGE6, label="Script hub", icon=":material/hub:")

# ---------------------------------------------------------------- parameters

st.subheader("Project parameters", anchor=False)
mode = st.radio(
    "Input mode",
    list(MODES),
    format_func=MODES.get,
    key="input_mode",
)
needs_llm = mode != InputMode.SCRIPT
if needs_llm:
    st.warning(
        f"Mode {mode.value} needs an LLM — connect one in Settings (Ollama / LM Studio). "
        "Until then only mode D (script import) can be submitted.",
        icon=":material/smart_toy:",
    )
    st.page_link(common.SETTINGS, label="Settings", icon=":material/settings:")

with st.form("params_form"):
    shortest_col, longest_col, type_col, rating_col = st.columns(4)
    shortest = shortest_col.text_input("Shortest length (mm:ss)", key="target_min")
    longest = longest_col.text_input("Longest length (mm:ss)", key="target_max")
    project_type = type_col.selectbox(
        "Project type",
        list(ProjectType),
        format_func=lambda t: t.value.capitalize(),
        key="project_type",
    )
    rating = rating_col.select_slider("Content rating", list(ContentRating), key="content_rating")
    genres = st.multiselect(
        "Genres",
        list(dict.fromkeys([*GENRES, *params.genres])),
        accept_new_options=True,
        key="genres",
    )
    tonal = st.text_area(
        "Tonal precision",
        key="tonal_precision",
        placeholder="e.g. Quiet, rain-soaked melancholy; restrained performances; a hopeful last image.",
        help="How the film should feel, in your words (at least 10 characters).",
    )
    save = st.form_submit_button(
        "Save parameters", key="save_params", icon=":material/save:", type="primary",
        disabled=needs_llm,
    )
if save:

    def collect() -> dict:
        return {
            "target_min_s": common.parse_duration(shortest, "the shortest length"),
            "target_max_s": common.parse_duration(longest, "the longest length"),
            "project_type": project_type,
            "content_rating": rating,
            "genres": tuple(genres),
            "tonal_precision": tonal,
            "input_mode": mode,
            "written_style": params.written_style,
        }

    commit = common.act(lambda: studio.save_params(project.id, collect()))
    if commit is not None:
        common.flash(f"Parameters saved (commit `{common.short(commit.id)}`).")
        st.rerun()

# ---------------------------------------------------------------- staging area

st.subheader("Files", anchor=False)
staging = state.input.staging
add_as = st.radio(
    "Add new files as",
    list(ROLES),
    index=0 if staging.primary is None else 1,
    format_func=ROLES.get,
    key="stage_role",
    horizontal=True,
)
uploader_round = st.session_state.get("_uploader_round", 0)
uploads = st.file_uploader(
    "Screenplay (Fountain or plain text) and context files",
    accept_multiple_files=True,
    key=f"stage_uploads_{uploader_round}",  # a new key empties the uploader once staged
    max_upload_size=max(1, studio.settings.max_upload_bytes // (1024 * 1024)),
)
if st.button("Add to staging", key="stage_add", icon=":material/upload_file:", disabled=not uploads):
    for upload in uploads or []:
        try:
            studio.stage_file(project.id, upload.name, upload.getvalue(), role=add_as)
            common.flash(f"Staged {common.escape_markdown(upload.name)}.")
        except StudioError as exc:
            common.flash(common.escape_markdown(str(exc)), "error")
    st.session_state["_uploader_round"] = uploader_round + 1
    st.rerun()

with st.expander("Paste a screenplay", icon=":material/content_paste:"):
    paste_name = st.text_input("File name", "pasted.fountain", key="paste_name")
    paste_text = st.text_area("Screenplay text (Fountain or plain text)", key="paste_text", height=220)
    if st.button("Add pasted text to staging", key="paste_stage", icon=":material/post_add:"):
        staged = common.act(
            studio.stage_file, project.id, paste_name, (paste_text or "").encode("utf-8"), role=add_as
        )
        if staged is not None:
            common.flash(f"Staged {common.escape_markdown(paste_name)}.")
            st.rerun()

if not staging.files:
    st.caption("No files staged yet. Upload or paste a screenplay, or use the bundled sample.")
for staged_file in staging.files:
    with st.container(border=True):
        name_col, role_col, tag_col, remove_col = st.columns(
            [3, 2, 2, 1], vertical_alignment="center"
        )
        name_col.markdown(
            f":material/draft: **{common.escape_markdown(staged_file.name)}** · "
            f"{staged_file.size:,} bytes"
        )
        role_key = f"role_{staged_file.name}_{staged_file.role.value}"
        role_col.selectbox(
            "Role",
            list(ROLES),
            index=list(ROLES).index(staged_file.role),
            format_func=ROLES.get,
            key=role_key,
            label_visibility="collapsed",
            on_change=queue_staging_action,
            args=("role", staged_file.name, role_key),
        )
        tag_key = f"tag_{staged_file.name}_{staged_file.tag}"
        tag_col.text_input(
            "Tag",
            staged_file.tag,
            key=tag_key,
            placeholder="tag (e.g. asset sheet)",
            label_visibility="collapsed",
            on_change=queue_staging_action,
            args=("tag", staged_file.name, tag_key),
        )
        remove_col.button(
            "Remove",
            key=f"remove_{staged_file.name}",
            icon=":material/delete:",
            on_click=queue_staging_action,
            args=("remove", staged_file.name),
        )

st.caption(
    "Mode D imports the Primary file; a staged JSON file tagged “asset sheet” pre-defines "
    "characters, locations and props."
)
has_script = common.act(studio.state, project.id)
has_script = has_script is not None and has_script.script is not None
new_branch = None
if has_script:
    st.info(
        "This branch already has a script. Importing another replaces it and invalidates its "
        "scenes, so the import goes on a new branch.",
        icon=":material/call_split:",
    )
    new_branch = st.text_input("New branch name", key="import_branch", placeholder="e.g. new-draft")
import_col, sample_col = st.columns(2)
if import_col.button(
    "Import screenplay (mode D)",
    key="import_staged",
    icon=":material/file_download:",
    type="primary",
    disabled=needs_llm or staging.primary is None,
):
    result = common.act(studio.import_staged, project.id, new_branch=new_branch or None)
    if result is not None:
        report_import(result)

samples = common.act(studio.list_samples) or []
if samples:
    sample = samples[0]
    if len(samples) > 1:
        sample = sample_col.selectbox("Sample", samples, key="sample_name")
    if sample_col.button(
        f"Use the bundled sample ({common.escape_markdown(sample)})",
        key="use_sample",
        icon=":material/auto_stories:",
        disabled=needs_llm,
    ):
        result = common.act(studio.import_sample, project.id, sample, new_branch=new_branch or None)
        if result is not None:
            report_import(result)
