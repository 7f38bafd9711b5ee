"""The Streamlit app end to end with AppTest: every page, the main flows, no tracebacks.

Each test gets a fresh data dir (AIUTEUR_HOME = tmp_path); the app builds its Studio on it,
and tests seed or inspect the same SQLite file through a second Studio.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest
from streamlit.util import calc_hash

from studio.config import Settings, load_settings, save_settings
from studio.model import FileRole, InputMode, Stage
from studio.wiring import build_studio

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "streamlit_app.py")
FILE_PAGES = [
    "pages/dashboard.py",
    "pages/stage1_input.py",
    "pages/stage4_script.py",
    "pages/stage5_assets.py",
    "pages/stage6_hub.py",
    "pages/stage7_shots.py",
    "pages/stage8_visual.py",
    "pages/stage9_prompts.py",
    "pages/stage10_frames.py",
    "pages/stage11_confirm.py",
    "pages/stage12_video.py",
    "pages/history.py",
    "pages/vault.py",
    "pages/settings.py",
]
BUILT = (
    Stage.INPUT, Stage.SCRIPT, Stage.ASSETS, Stage.HUB, Stage.SHOTS, Stage.VISUAL_STATE,
    Stage.PROMPTS, Stage.FRAMES, Stage.CONFIRM, Stage.VIDEO,
)
UNBUILT_STAGES = [s for s in Stage if s not in BUILT]
TONE = "Quiet, rain-soaked melancholy with a hopeful last image"


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("AIUTEUR_HOME", str(tmp_path))
    # Tests render in-process (studio.drain_queue); no background worker processes.
    monkeypatch.setenv("AIUTEUR_AUTOSTART_WORKER", "0")
    monkeypatch.syspath_prepend(str(ROOT))  # page scripts import the `pages` package
    yield tmp_path
    st.cache_resource.clear()
    st.cache_data.clear()


@pytest.fixture
def studio(home):
    studio = build_studio(Settings(home=home))
    yield studio
    studio.store.close()


@pytest.fixture
def sample_project(studio):
    project = studio.create_project("The Long Rain")
    studio.import_sample(project.id, studio.list_samples()[0])
    return project


def open_app(project_id: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=30)
    if project_id is not None:
        at.session_state["project_id"] = project_id
    return at.run()


def page_text(at) -> str:
    return "\n".join(
        texts(elements)
        for elements in (at.markdown, at.caption, at.info, at.warning, at.success, at.error)
    )


def assert_ok(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def open_stage_page(at: AppTest, stage: Stage) -> dict:
    """Open a not-yet-built stage page; returns its navigation entry.

    Those pages are callables (one factory, ``url_path=stage-N``). ``AppTest.switch_page``
    only matches file pages, so select the registered page by its url path directly.
    """
    entry = next(
        info for info in at._registered_pages.values()
        if info.get("url_pathname") == f"stage-{int(stage)}"
    )
    at._page_hash = entry["page_script_hash"]
    at.run()
    return entry


def texts(elements) -> str:
    return "\n".join(str(e.value) for e in elements)


# ----------------------------------------------------------------------------- every page


def test_every_page_runs_on_an_empty_home(home):
    at = open_app()
    assert_ok(at)
    assert "Welcome to Aiuteur Studio" in texts(at.subheader)
    for page in FILE_PAGES:
        at.switch_page(page).run()
        assert_ok(at)
        assert not at.error, (page, texts(at.error))
        # The page ran inside streamlit_app.py (sidebar drawn), not as a legacy pages/ script.
        assert "Render queue: pick a project" in texts(at.sidebar.caption), page
    for stage in UNBUILT_STAGES:
        entry = open_stage_page(at, stage)
        assert_ok(at)
        assert f"Stage {int(stage)} — {stage.title}: not built yet" in texts(at.info)
        assert entry["icon"] == ":material/lock:"


def test_project_pages_without_a_project_point_to_the_dashboard(home):
    at = open_app()
    at.switch_page("pages/stage4_script.py").run()
    assert_ok(at)
    assert "Pick or create a project on the Projects page first." in texts(at.info)


def test_every_page_runs_with_the_sample_imported(studio, sample_project):
    at = open_app(sample_project.id)
    assert_ok(at)
    assert texts(at.subheader).count("The Long Rain") == 1
    for page in FILE_PAGES:
        at.switch_page(page).run()
        assert_ok(at)
        assert not at.error, (page, texts(at.error))
    gates = studio.gates(sample_project.id)
    for stage in UNBUILT_STAGES:
        open_stage_page(at, stage)
        assert_ok(at)
        assert "not built yet" in texts(at.info)
        shown = texts(at.info) + texts(at.warning) + texts(at.success)
        assert gates[stage].reason in shown


def test_greyed_stage_pages_show_their_gate(studio, sample_project):
    at = open_app(sample_project.id)
    entry = open_stage_page(at, Stage.ASSETS)
    gate = studio.gates(sample_project.id)[Stage.ASSETS]
    assert not gate.open
    assert entry["icon"] == ":material/lock:"
    assert f"gate closed — {gate.reason}" in texts(at.warning)
    entry = open_stage_page(at, Stage.TREATMENT)  # mode D skips stages 2-3
    assert entry["icon"] == ":material/skip_next:"
    assert "skipped" in texts(at.info)


# ----------------------------------------------------------------------------- flows


def test_new_project_to_hub_flow(studio):
    at = open_app()
    at.text_input(key="new_project_name").input("Rain Test")
    at.button(key="new_project_submit").click().run()
    assert_ok(at)
    project_id = at.session_state["project_id"]
    assert [t.value for t in at.title] == ["Stage 1 — Input"]
    assert studio.project(project_id).name == "Rain Test"

    at.text_area(key="tonal_precision").input(TONE)
    at.text_input(key="target_min").input("2:30")
    at.button(key="save_params").click().run()
    assert_ok(at)
    assert not at.error, texts(at.error)
    params = studio.state(project_id).input.params
    assert params.tonal_precision == TONE and params.target_min_s == 150

    at.button(key="use_sample").click().run()
    assert_ok(at)
    reports = studio.scene_reports(project_id)
    assert reports and f"Imported {len(reports)} scene(s)" in texts(at.success)

    at.switch_page("pages/stage6_hub.py").run()
    assert_ok(at)
    table = at.dataframe[0].value
    assert list(table["No."]) == [r.number for r in reports]
    assert set(table["Status"]) == {"Draft"}
    assert "Scenes are listed read-only as drafts" in texts(at.info)


def test_pasted_screenplay_is_staged_then_imported(studio):
    project = studio.create_project("Pasted")
    text = studio.sample(studio.list_samples()[0])[0].decode("utf-8")
    at = open_app(project.id)
    at.switch_page("pages/stage1_input.py").run()
    at.text_input(key="paste_name").input("rain.fountain")
    at.text_area(key="paste_text").input(text)
    at.button(key="paste_stage").click().run()
    assert_ok(at)
    staging = studio.state(project.id).input.staging
    assert staging.primary is not None and staging.primary.name == "rain.fountain"

    at.button(key="import_staged").click().run()
    assert_ok(at)
    assert not at.error, texts(at.error)
    assert len(studio.state(project.id).scenes) == len(studio.scene_reports(project.id)) > 0


def test_uploads_are_staged_and_bad_files_explained(studio):
    project = studio.create_project("Uploads")
    at = open_app(project.id)
    at.switch_page("pages/stage1_input.py").run()
    at.file_uploader[0].set_value(
        [("notes.txt", b"Mood: wet neon and quiet streets.", "text/plain"),
         ("cover.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00binary", "image/png")]
    )
    at.run()
    at.radio(key="stage_role").set_value(FileRole.CONTEXT).run()
    at.button(key="stage_add").click().run()
    assert_ok(at)
    assert "PNG" in texts(at.error)
    assert "Staged notes.txt" in texts(at.success).replace("\\", "")
    assert not at.file_uploader[0].value  # emptied once staged
    files = studio.state(project.id).input.staging.files
    assert [f.name for f in files] == ["notes.txt"]

    at.text_input(key="tag_notes.txt_").input("mood board").run()
    assert_ok(at)
    assert studio.state(project.id).input.staging.files[0].tag == "mood board"
    at.button(key="remove_notes.txt").click().run()
    assert_ok(at)
    assert studio.state(project.id).input.staging.files == ()


def test_short_tonal_precision_is_rejected_with_a_message(studio):
    project = studio.create_project("Tone")
    at = open_app(project.id)
    at.switch_page("pages/stage1_input.py").run()
    at.text_area(key="tonal_precision").input("moody")
    at.button(key="save_params").click().run()
    assert_ok(at)
    assert "at least 10 characters" in texts(at.error)
    assert studio.state(project.id).input.params is None


def test_stage1_form_follows_the_selected_project(studio):
    first, second = studio.create_project("First"), studio.create_project("Second")
    studio.save_params(first.id, {"tonal_precision": "First project: bright and brisk"})
    studio.save_params(second.id, {"tonal_precision": "Second project: slow and grey", "target_max_s": 600})
    at = open_app(first.id)
    at.switch_page("pages/stage1_input.py").run()
    assert at.text_area(key="tonal_precision").value == "First project: bright and brisk"
    at.text_area(key="tonal_precision").input("an unsaved draft of the tone")
    at.sidebar.selectbox(key="sidebar_project").set_value(second.id).run()
    assert_ok(at)
    assert at.text_area(key="tonal_precision").value == "Second project: slow and grey"
    assert at.text_input(key="target_max").value == "10:00"


def test_modes_a_to_c_need_an_llm(studio):
    project = studio.create_project("Modes")
    at = open_app(project.id)
    at.switch_page("pages/stage1_input.py").run()
    at.radio(key="input_mode").set_value(InputMode.EXPANSION).run()
    assert_ok(at)
    assert "needs an LLM — connect one in Settings (Ollama / LM Studio)" in texts(at.warning)
    assert at.button(key="save_params").disabled


def test_stage4_manual_edit_is_a_commit_then_approve(studio, sample_project):
    pid = sample_project.id
    before = studio.log(pid)
    at = open_app(pid)
    at.switch_page("pages/stage4_script.py").run()
    assert_ok(at)
    fountain = studio.script_fountain(pid)
    assert at.text_area(key="script_text").value == fountain

    edited = fountain.rstrip("\n") + "\n\nThe rain stops, for one breath.\n"
    at.text_area(key="script_text").input(edited)
    at.text_input(key="edit_message").input("short")
    at.button(key="save_edit").click().run()
    assert "at least 10 characters" in texts(at.error)
    assert len(studio.log(pid)) == len(before)

    at.text_input(key="edit_message").input("Let the rain pause at the end")
    at.button(key="preview_edit").click().run()
    assert_ok(at)
    assert "Cost & dependency check" in texts(at.info) + texts(at.warning)
    at.button(key="save_edit").click().run()
    assert_ok(at)
    log = studio.log(pid)
    assert len(log) == len(before) + 1
    assert log[0].message == "Let the rain pause at the end"
    assert "The rain stops, for one breath." in studio.script_fountain(pid)
    assert at.text_input(key="edit_message").value == ""  # ready for the next edit
    assert at.text_area(key="script_text").value == studio.script_fountain(pid)

    at.button(key="approve_script").click().run()
    assert_ok(at)
    assert studio.state(pid).script.approved
    assert "Approved — frozen" in texts(at.success)
    assert at.text_area(key="script_text").disabled

    at.text_input(key="reopen_reason").input("Fix a typo the director spotted")
    at.button(key="reopen_script").click().run()
    assert_ok(at)
    assert not studio.state(pid).script.approved
    assert studio.log(pid)[0].message == "Fix a typo the director spotted"
    assert not at.text_area(key="script_text").disabled


def test_reimport_goes_on_a_new_branch(studio, sample_project):
    pid = sample_project.id
    at = open_app(pid)
    at.switch_page("pages/stage1_input.py").run()
    assert_ok(at)
    at.button(key="use_sample").click().run()
    assert_ok(at)
    assert "new branch" in texts(at.error)
    assert studio.project(pid).active_branch == "main"
    at.text_input(key="import_branch").input("second-draft")
    at.button(key="use_sample").click().run()
    assert_ok(at)
    assert studio.project(pid).active_branch == "second-draft"
    at.text_input(key="import_branch").input("third-draft")
    at.button(key="import_staged").click().run()
    assert_ok(at)
    assert studio.project(pid).active_branch == "third-draft"
    assert {b["name"] for b in studio.branches(pid)} == {"main", "second-draft", "third-draft"}


def test_history_switch_to_an_old_commit_forks(studio, sample_project):
    pid = sample_project.id
    old = studio.log(pid)[-1].id  # the project's first commit: not a branch head
    at = open_app(pid)
    at.switch_page("pages/history.py").run()
    assert_ok(at)
    at.selectbox(key="history_commit").set_value(old)
    at.button(key="history_switch").click().run()
    assert_ok(at)
    project = studio.project(pid)
    assert project.active_branch == f"fork-{old[:7]}"
    assert studio.head(pid) == old
    assert "forked" in texts(at.info)
    assert {b["name"] for b in studio.branches(pid)} == {"main", f"fork-{old[:7]}"}

    main_head = studio.head(pid, "main")
    at.selectbox(key="history_commit").set_value(main_head)
    at.button(key="history_switch").click().run()
    assert_ok(at)
    assert studio.project(pid).active_branch == "main"


def test_create_branch_from_the_header_then_switch(studio, sample_project):
    pid = sample_project.id
    at = open_app(pid)
    at.switch_page("pages/stage4_script.py").run()
    at.text_input(key="hdr_branch_name").input("alt-ending")
    at.button(key="hdr_branch_create").click().run()
    assert_ok(at)
    assert "alt-ending" in {b["name"] for b in studio.branches(pid)}
    at.button(key="hdr_branch_switch").click().run()
    assert_ok(at)
    assert studio.project(pid).active_branch == "alt-ending"

    at.text_input(key="hdr_branch_name").input("bad name!")
    at.button(key="hdr_branch_create").click().run()
    assert_ok(at)
    assert "not allowed" in texts(at.error)


def test_vault_groups_artifacts_and_promotes_assets(studio, sample_project):
    at = open_app(sample_project.id)
    at.switch_page("pages/vault.py").run()
    assert_ok(at)
    assert any("Master script" in e.label for e in at.expander)
    asset = studio.state(sample_project.id).assets.assets[0]
    at.button(key=f"promote_{asset.id}").click().run()
    assert_ok(at)
    assert [a.name for a in studio.global_assets()] == [asset.name]
    at.button(key=f"promote_{asset.id}").click().run()
    assert "already" in texts(at.error)


def test_settings_lists_backend_probes(studio):
    at = open_app()
    at.switch_page("pages/settings.py").run()
    assert_ok(at)
    tables = {tuple(df.value.columns)[0]: df.value for df in at.dataframe}
    assert set(tables["Backend"]["Backend"]) == {p.name for p in studio.doctor()}
    assert str(studio.settings.db_path) in set(tables["Setting"]["Value"])


def test_open_on_a_card_selects_the_project(studio, sample_project):
    empty = studio.create_project("Empty")
    at = open_app()
    at.button(key=f"open_{sample_project.id}").click().run()
    assert_ok(at)
    assert at.session_state["project_id"] == sample_project.id
    assert [t.value for t in at.title] == ["Stage 6 — Script hub"]
    assert at.sidebar.selectbox(key="sidebar_project").value == sample_project.id
    at.switch_page("pages/dashboard.py").run()
    at.button(key=f"open_{empty.id}").click().run()
    assert [t.value for t in at.title] == ["Stage 1 — Input"]


def test_sidebar_picks_the_project_and_shows_its_branch(studio, sample_project):
    other = studio.create_project("Other")
    at = open_app()
    at.sidebar.selectbox(key="sidebar_project").set_value(other.id).run()
    assert_ok(at)
    assert at.session_state["project_id"] == other.id
    assert "Render queue: 0 queued · 0 running · 0 done · 0 failed" in texts(at.sidebar.caption)
    assert "Branch `main`" in texts(at.sidebar.caption)


def test_user_text_is_escaped(studio):
    studio.create_project("**Bold** <b>x [link](mailto:x)")
    at = open_app()
    assert_ok(at)
    shown = texts(at.subheader)
    assert "\\*\\*Bold\\*\\*" in shown and "\\<b\\>" in shown and "\\[link\\]" in shown


def test_no_page_allows_raw_html():
    sources = [ROOT / "streamlit_app.py", *sorted((ROOT / "pages").glob("*.py"))]
    offenders = [p.name for p in sources if "unsafe_allow_html=True" in p.read_text()]
    assert offenders == []


# ----------------------------------------------------------------------------- settings


def test_settings_are_edited_in_the_app_and_kept_in_the_data_dir(home):
    at = open_app()
    at.switch_page("pages/settings.py").run()
    assert_ok(at)
    assert at.selectbox(key="set_render_backend").value == "animatic"
    at.selectbox(key="set_render_backend").set_value("comfyui")
    at.text_input(key="set_comfyui_url").input("http://gpu.lan:8188")
    at.number_input(key="set_price_per_gpu_hour").set_value(0.8)
    at.text_input(key="set_allowed_hosts").input("studio.lan")
    at.button(key="settings_save").click().run()
    assert_ok(at)
    assert not at.error, texts(at.error)
    assert "Settings saved: Render backend, ComfyUI address, Price per GPU-hour, Allowed hosts." in texts(at.success)
    assert (home / "settings.toml").is_file()
    saved = load_settings(home)
    assert (saved.render_backend, saved.comfyui_url, saved.price_per_gpu_hour, saved.allowed_hosts) == (
        "comfyui", "http://gpu.lan:8188", 0.8, ("studio.lan",))
    # The app's Studio now works with them (stage 10's "change it in Settings" is true).
    assert at.session_state["studio"].settings.render_backend == "comfyui"
    assert at.selectbox(key="set_render_backend").value == "comfyui"

    at = open_app()  # a new session (a restart reads the same file)
    at.switch_page("pages/settings.py").run()
    assert at.text_input(key="set_comfyui_url").value == "http://gpu.lan:8188"


def test_a_bad_setting_is_explained_in_words_and_nothing_is_written(home):
    at = open_app()
    at.switch_page("pages/settings.py").run()
    at.text_input(key="set_comfyui_url").input("gpu.lan:8188")
    at.text_input(key="set_allowed_hosts").input("http://evil.example/")
    at.button(key="settings_save").click().run()
    assert_ok(at)
    shown = texts(at.error).replace("\\", "")  # the message is shown Markdown-escaped
    assert "ComfyUI address: must be a web address like http://127.0.0.1:8188" in shown
    assert "Allowed hosts:" in shown
    assert "comfyui_url" not in shown and "Value error" not in shown
    assert not (home / "settings.toml").exists()


def test_a_setting_from_the_environment_wins_and_is_locked_on_the_page(home, monkeypatch):
    monkeypatch.setenv("AIUTEUR_RENDER_BACKEND", "animatic")
    save_settings(home, {"comfyui_url": "http://gpu.lan:8188"})
    (home / "settings.toml").write_text(
        (home / "settings.toml").read_text() + 'render_backend = "comfyui"\n')
    at = open_app()
    at.switch_page("pages/settings.py").run()
    assert_ok(at)
    assert at.session_state["studio"].settings.render_backend == "animatic"  # env beats file
    assert at.selectbox(key="set_render_backend").disabled
    assert "set by `AIUTEUR_RENDER_BACKEND` (environment)" in texts(at.caption)
    assert not at.text_input(key="set_comfyui_url").disabled


def test_project_parameters_errors_use_words_not_field_names(studio):
    project = studio.create_project("Lengths")
    at = open_app(project.id)
    at.switch_page("pages/stage1_input.py").run()
    at.text_area(key="tonal_precision").input(TONE)
    at.text_input(key="target_min").input("5:00")
    at.text_input(key="target_max").input("3:00")
    at.button(key="save_params").click().run()
    assert_ok(at)
    shown = texts(at.error)
    assert "longest target length must not be shorter than the shortest" in shown
    assert "target_max_s" not in shown and "Value error" not in shown


# ----------------------------------------------------------------------------- the URL


def reload_app(query: dict[str, str], url_path: str) -> AppTest:
    """A new browser session opening a URL (F5, a bookmark): its page path and query string
    decide the first run (a page's hash is the hash of its url path, as Streamlit names it)."""
    at = AppTest.from_file(APP, default_timeout=30)
    at.query_params.update(query)
    at._page_hash = calc_hash(url_path)
    at.run()
    assert_ok(at)
    return at


def test_the_url_carries_the_project_branch_and_scene(studio, sample_project):
    pid = sample_project.id
    scenes = [doc.scene for doc in studio.state(pid).ordered_scenes()]
    assert len(scenes) >= 2
    at = open_app()
    at.sidebar.selectbox(key="sidebar_project").set_value(pid).run()
    assert at.query_params == {"project": pid, "branch": "main"}
    at.switch_page("pages/stage7_shots.py").run()
    at.selectbox(key="scene_picker_7").set_value(scenes[1].id).run()
    assert_ok(at)
    assert at.query_params == {"project": pid, "branch": "main", "scene": scenes[1].id}

    # F5 on that URL: a new session comes back to the project and the scene.
    again = reload_app(dict(at.query_params), "stage-7")
    assert "Pick or create a project" not in texts(again.info)
    assert [t.value for t in again.title] == ["Stage 7 — Shot list"]
    assert again.session_state["project_id"] == pid
    assert again.selectbox(key="scene_picker_7").value == scenes[1].id
    assert again.sidebar.selectbox(key="sidebar_project").value == pid
    assert again.query_params == {"project": pid, "branch": "main", "scene": scenes[1].id}


def test_another_project_in_the_sidebar_drops_the_scene_from_the_url(studio, sample_project):
    other = studio.create_project("Other")
    scene = studio.state(sample_project.id).ordered_scenes()[1].scene
    at = reload_app({"project": sample_project.id, "scene": scene.id}, "stage-7")
    assert at.query_params["scene"] == scene.id
    at.sidebar.selectbox(key="sidebar_project").set_value(other.id).run()
    assert_ok(at)
    assert at.query_params == {"project": other.id, "branch": "main"}


def test_an_unknown_project_or_scene_in_the_url_is_said_in_words(studio, sample_project):
    at = reload_app({"project": "no-such-project"}, "stage-7")
    assert "This link names a project that is not in this studio" in texts(at.warning)
    assert "Pick or create a project on the Projects page first." in texts(at.info)
    assert "project" not in at.query_params

    first = studio.state(sample_project.id).ordered_scenes()[0].scene
    at = reload_app({"project": sample_project.id, "scene": "sc-404"}, "stage-7")
    assert "This link names a scene that branch `main` does not have" in texts(at.warning)
    assert at.selectbox(key="scene_picker_7").value == first.id
    assert at.query_params["scene"] == first.id
    at.run()  # said once
    assert "This link names a scene" not in texts(at.warning)


def test_a_link_to_another_branch_offers_the_switch(studio, sample_project):
    pid = sample_project.id
    studio.create_branch(pid, "alt-ending")
    at = reload_app({"project": pid, "branch": "no-such-branch"}, "stage-4")
    assert "This link names branch `no-such-branch`" in texts(at.warning)
    assert at.query_params["branch"] == "main"

    at = reload_app({"project": pid, "branch": "alt-ending"}, "stage-4")
    assert studio.project(pid).active_branch == "main"  # opening a link changes nothing
    assert "This link is for branch `alt-ending`" in texts(at.success)
    at.button(key="hdr_branch_switch").click().run()
    assert_ok(at)
    assert studio.project(pid).active_branch == "alt-ending"
    assert at.query_params["branch"] == "alt-ending"


# ----------------------------------------------------------------------------- messages


def test_the_project_created_message_shows_the_name_literally(studio):
    at = open_app()
    # The "**bold** [x](http://e)" is refused for its "/" (names are file-safe).
    at.text_input(key="new_project_name").input("**bold** [x](mailto:e)")
    at.button(key="new_project_submit").click().run()
    assert_ok(at)
    assert [t.value for t in at.title] == ["Stage 1 — Input"]
    shown = texts(at.success)
    assert "Project “\\*\\*bold\\*\\* \\[x\\]\\(mailto\\:e\\)” created" in shown


def test_finished_renders_are_told_once_in_one_toast(studio):
    from flows import SHORT, lock_phase_a, lock_through_prompts

    project, _ = studio.new_project("Two Rooms", ("two.fountain", SHORT))
    lock_phase_a(studio, project.id)
    lock_through_prompts(studio, project.id, (1,))
    sid = studio.state(project.id).ordered_scenes()[0].scene.id
    studio.set_frame_mode(project.id, sid, "quick")
    jobs = studio.render_frames(project.id, sid)
    assert len(jobs) >= 2  # a shot's start and end frames at least
    at = open_app(project.id)
    assert not at.toast
    studio.drain_queue()
    at.run()
    assert_ok(at)
    toasts = [t.value for t in at.toast]
    assert len(toasts) == 1, toasts
    assert toasts[0].startswith(f"{len(jobs)} renders finished \\({len(jobs)} done\\)")
    assert "start frame" in toasts[0] and "end frame" in toasts[0]
    at.run()
    at.switch_page("pages/stage10_frames.py").run()
    assert_ok(at)
    assert not at.toast  # a rerun or another page does not say it again


def test_slow_studio_actions_show_that_they_run(studio):
    """Import, lock and render enqueue (and the other verbs that can take seconds) run under
    a spinner in ``common.act``, found by the bound verb's name."""
    from pages import common

    assert all(getattr(studio, name).__name__ == name for name in common.SLOW_ACTIONS)
    for name in ("import_staged", "import_sample", "lock_shots", "lock_prompts", "lock_frames",
                 "lock_asset", "render_frames", "confirm_render", "assemble_film"):
        assert common.SLOW_ACTIONS[name].endswith("…"), name


def test_a_reload_during_a_render_shows_the_same_page_and_the_queue(studio):
    from flows import SHORT, lock_phase_a, lock_through_prompts

    project, _ = studio.new_project("Two Rooms", ("two.fountain", SHORT))
    lock_phase_a(studio, project.id)
    lock_through_prompts(studio, project.id, (1,))
    sid = studio.state(project.id).ordered_scenes()[0].scene.id
    studio.set_frame_mode(project.id, sid, "quick")
    jobs = studio.render_frames(project.id, sid)
    at = reload_app({"project": project.id, "branch": "main", "scene": sid}, "stage-10")
    assert [t.value for t in at.title] == ["Stage 10 — Anchor frames"]
    assert f"Render queue: {len(jobs)} queued" in texts(at.sidebar.caption)
    assert len(at.progress) == len(jobs)  # the polling fragment's bars
