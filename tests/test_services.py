"""The Studio facade on a real SQLite store in tmp_path: import, edits, branches, vault."""

from __future__ import annotations

from pathlib import Path

import pytest

from studio.config import Settings
from studio.errors import BadInput, BranchRequired, Conflict, GateClosed, NotFound, StudioError
from studio.model import AssetKind, FileRole, InputMode, ProjectParams, Stage
from studio.pipeline import SceneStatus
from studio.wiring import build_studio

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"
SAMPLE = SAMPLES / "the_long_rain.fountain"
SAMPLE_SHEET = SAMPLES / "the_long_rain.assets.json"

TWO_SCENES = b"""Title: Two Rooms

INT. KITCHEN - NIGHT

Mara fills a kettle.

MARA
Are you staying?

EXT. PORCH - CONTINUOUS

Theo stands in the rain.

THEO
(quietly)
Not tonight.
"""


@pytest.fixture
def studio(tmp_path):
    return build_studio(Settings(home=tmp_path / "home"))


@pytest.fixture
def sample_project(studio):
    project, result = studio.new_project(
        "Long Rain",
        (SAMPLE.name, SAMPLE.read_bytes()),
        asset_sheet=(SAMPLE_SHEET.name, SAMPLE_SHEET.read_bytes()),
    )
    assert result is not None
    return project


def footprint(studio) -> tuple[int, int, int, int]:
    """Rows and files that any write would add to."""
    conn = studio.store.conn
    count = lambda table: conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]  # noqa: E731
    media = sum(1 for p in studio.settings.media_dir.rglob("*") if p.is_file())
    return count("objects"), count("commits"), count("reflog"), media


# --------------------------------------------------------------------------- projects


def test_new_project_starts_on_main_with_one_commit(studio):
    project = studio.create_project("My Film")
    assert project.id == "my-film"
    assert project.active_branch == "main"
    assert [c.message for c in studio.log(project.id)] == ["Create project"]
    assert studio.create_project("My Film 2").id == "my-film-2"
    with pytest.raises(Conflict):
        studio.create_project("my film")


@pytest.mark.parametrize("name", ["", "   ", "a/b", "..", "x" * 81, "tab\there", "nul\x00"])
def test_bad_project_names_write_nothing(studio, name):
    before = footprint(studio)
    with pytest.raises(BadInput):
        studio.create_project(name)
    assert footprint(studio) == before
    assert studio.list_projects() == []


def test_listing_projects_reads_no_state(studio, sample_project):
    """The sidebar's listing works from the heads alone: name, branch, scene count, head."""
    state = studio.state(sample_project.id)
    full = {p.id: p for p in studio.list_projects()}[sample_project.id]
    assert full.scenes == len(state.scenes) and full.title == state.script.title
    assert full.head == studio.head(sample_project.id) and 0 <= full.progress < 1
    # Take away every scene document of the head: a listing that loaded the state would fail.
    conn = studio.store.conn
    marks = ", ".join("?" * len(state.scenes))
    tree = studio.timeline.read_tree(studio.store.get_commit(full.head).tree)
    conn.execute(f"DELETE FROM objects WHERE id IN ({marks})", [tree[f"scene/{s}"] for s in state.scenes])
    fresh = build_studio(studio.settings)
    [light] = fresh.list_projects(progress=False)
    assert (light.id, light.name, light.branch, light.head, light.scenes, light.updated_at) == (
        full.id, full.name, full.branch, full.head, full.scenes, full.updated_at
    )
    assert light.progress is None
    with pytest.raises(NotFound):
        fresh.list_projects()  # progress needs the state


def test_sample_import_lands_in_stage_4_and_5(studio, sample_project):
    state = studio.state(sample_project.id)
    assert state.input.submitted and state.input.params.input_mode is InputMode.SCRIPT
    assert state.script is not None and not state.script.approved
    scenes = state.ordered_scenes()
    assert 3 <= len(scenes) <= 5
    characters = {a.name for a in state.assets.assets if a.kind is AssetKind.CHARACTER}
    assert 2 <= len(characters) <= 4
    locations = [a for a in state.assets.assets if a.kind is AssetKind.LOCATION]
    assert locations and all(a.mentions for a in locations)
    # The asset sheet's descriptions were merged into the extracted assets.
    assert any(a.source == "sheet" and a.description for a in state.assets.assets)
    assert [r.status for r in studio.scene_reports(sample_project.id)] == [SceneStatus.DRAFT] * len(scenes)
    gates = studio.gates(sample_project.id)
    assert gates[Stage.SCRIPT].open and not gates[Stage.SCRIPT].locked
    assert gates[Stage.TREATMENT].skipped and gates[Stage.BEATS].skipped
    assert not gates[Stage.ASSETS].open
    primary = state.input.staging.primary
    assert primary is not None and primary.name == SAMPLE.name
    # The import is one commit on top of the project's creation.
    assert [c.action for c in studio.log(sample_project.id)] == ["import", "create"]


def test_bad_screenplay_creates_no_project(studio):
    before = footprint(studio)
    with pytest.raises(BadInput):
        studio.new_project("Prose", ("prose.txt", b"Once upon a time there was a film that was not a screenplay."))
    assert studio.list_projects() == []
    assert footprint(studio) == before


HOSTILE = ["../x.fountain", "/etc/passwd", "a\x00b.fountain", "-rf.fountain", "..", "C:\\evil.fountain"]
BAD_BYTES = {
    "empty": b"",
    "whitespace": b"   \n\n  ",
    "binary": b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4,
    "utf16 without BOM garbage": bytes([0xFF, 0x00, 0xD8, 0x00]) * 50,
}


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_names_are_refused_and_write_nothing(studio, name):
    project = studio.create_project("Guarded")
    before = footprint(studio)
    with pytest.raises(StudioError):
        studio.import_screenplay(project.id, name, TWO_SCENES)
    with pytest.raises(StudioError):
        studio.stage_file(project.id, name, TWO_SCENES)
    assert footprint(studio) == before


@pytest.mark.parametrize("label", list(BAD_BYTES))
def test_bad_files_are_refused_and_write_nothing(studio, label):
    project = studio.create_project("Guarded")
    before = footprint(studio)
    with pytest.raises(BadInput):
        studio.import_screenplay(project.id, "script.fountain", BAD_BYTES[label])
    with pytest.raises(BadInput):
        studio.stage_file(project.id, "script.fountain", BAD_BYTES[label])
    assert footprint(studio) == before


def test_huge_file_is_refused_before_parsing(tmp_path):
    studio = build_studio(Settings(home=tmp_path, max_upload_bytes=4096))
    project = studio.create_project("Small")
    before = footprint(studio)
    with pytest.raises(BadInput, match="limit|large|bytes"):
        studio.import_screenplay(project.id, "big.fountain", TWO_SCENES * 100)
    assert footprint(studio) == before


def test_second_import_needs_a_new_branch(studio, sample_project):
    with pytest.raises(BranchRequired):
        studio.import_screenplay(sample_project.id, "two.fountain", TWO_SCENES)
    result = studio.import_screenplay(sample_project.id, "two.fountain", TWO_SCENES, new_branch="two-rooms")
    assert result.scenes == 2
    assert studio.project(sample_project.id).active_branch == "two-rooms"
    state = studio.state(sample_project.id)
    assert state.script.generation == 2
    main = studio.state(sample_project.id, "main")
    assert len(main.scenes) > 2 and main.script.generation == 1


# --------------------------------------------------------------------------- stage 1


def test_params_validation_and_staging(studio):
    project = studio.create_project("Staged")
    # Messages name the field in words, never as 'target_max_s: Value error, …'.
    with pytest.raises(BadInput, match="the tonal precision must be at least 10 characters long") as short:
        studio.save_params(project.id, {"tonal_precision": "short"})
    with pytest.raises(BadInput, match="the longest target length must not be shorter") as order:
        studio.save_params(project.id, {"tonal_precision": "Dry, deadpan", "target_min_s": 300, "target_max_s": 200})
    with pytest.raises(BadInput, match="the shortest target length must be a whole number") as kind:
        studio.save_params(project.id, {"tonal_precision": "Dry, deadpan", "target_min_s": "soon"})
    for caught in (short, order, kind):
        assert "_" not in str(caught.value) and "Value error" not in str(caught.value)
    studio.save_params(project.id, ProjectParams(tonal_precision="Dry and deadpan comedy", genres=("comedy",)))
    studio.stage_file(project.id, "two.fountain", TWO_SCENES, role=FileRole.PRIMARY)
    studio.stage_file(project.id, "notes.txt", "Café notes: rain, always rain.".encode("cp1252"), tag="research")
    studio.stage_file(project.id, "alt.fountain", TWO_SCENES, role=FileRole.PRIMARY)
    staging = studio.state(project.id).input.staging
    assert [f.name for f in staging.files] == ["two.fountain", "notes.txt", "alt.fountain"]
    assert staging.primary.name == "alt.fountain"  # one Primary at a time
    assert studio.staged_text(project.id, "notes.txt").startswith("Café")
    studio.update_staged_file(project.id, "two.fountain", role=FileRole.PRIMARY)
    studio.update_staged_file(project.id, "alt.fountain", remove=True)
    studio.update_staged_file(project.id, "notes.txt", tag="world bible")
    staging = studio.state(project.id).input.staging
    assert staging.primary.name == "two.fountain"
    assert {f.name: f.tag for f in staging.files} == {"two.fountain": "", "notes.txt": "world bible"}
    with pytest.raises(NotFound):
        studio.update_staged_file(project.id, "missing.txt", remove=True)
    result = studio.import_staged(project.id)
    assert result.scenes == 2 and result.characters == ("MARA", "THEO")
    state = studio.state(project.id)
    assert state.input.params.tonal_precision == "Dry and deadpan comedy"
    assert state.input.params.input_mode is InputMode.SCRIPT
    assert {f.name for f in state.input.staging.files} == {"two.fountain", "notes.txt"}


def test_import_staged_needs_a_primary(studio):
    project = studio.create_project("No primary")
    studio.stage_file(project.id, "two.fountain", TWO_SCENES)
    with pytest.raises(BadInput, match="Primary"):
        studio.import_staged(project.id)


# --------------------------------------------------------------------------- stage 4


def test_script_edit_writes_only_the_changed_scene(studio, sample_project):
    text = studio.script_fountain(sample_project.id)
    state = studio.state(sample_project.id)
    first = state.ordered_scenes()[0].scene
    action = next(e.text for e in first.elements if e.kind.value == "action")
    edited = text.replace(action, action + " Thunder rolls far away.", 1)
    impact = studio.preview_script_edit(sample_project.id, edited)
    assert impact.empty  # nothing is locked yet, so nothing is invalidated
    objects_before = footprint(studio)[0]
    commit = studio.save_script_text(sample_project.id, edited, "Add distant thunder to scene one")
    # One scene object, the script object (it keeps the writer's edited text) and one tree.
    assert footprint(studio)[0] - objects_before == 3
    after = studio.state(sample_project.id)
    assert after.ordered_scenes()[0].scene != first
    assert after.ordered_scenes()[1:] == state.ordered_scenes()[1:]
    assert studio.log(sample_project.id)[0].id == commit.id
    with pytest.raises(BadInput, match="10 characters"):
        studio.save_script_text(sample_project.id, edited, "short")
    with pytest.raises(BadInput, match="nothing changed"):
        studio.save_script_text(sample_project.id, edited, "Same text again, no change")
    with pytest.raises(BadInput):
        studio.save_script_text(sample_project.id, "Just prose with no headings.", "Break the script entirely")


def test_approve_script_locks_stage_4(studio, sample_project):
    studio.approve_script(sample_project.id)
    gates = studio.gates(sample_project.id)
    assert gates[Stage.SCRIPT].locked
    assert gates[Stage.ASSETS].open
    with pytest.raises(Conflict):
        studio.approve_script(sample_project.id)


def test_approve_needs_a_script(studio):
    project = studio.create_project("Empty")
    with pytest.raises(GateClosed):
        studio.approve_script(project.id)


# --------------------------------------------------------------------------- timelines + vault


def test_switch_to_old_commit_forks_and_keeps_history(studio, sample_project):
    first = studio.log(sample_project.id)[-1]
    heads_before = {b["name"]: b["commit_id"] for b in studio.branches(sample_project.id)}
    result = studio.switch(sample_project.id, first.id[:8])
    assert result.forked and result.branch.startswith("fork-")
    heads_after = {b["name"]: b["commit_id"] for b in studio.branches(sample_project.id)}
    assert {k: v for k, v in heads_after.items() if k in heads_before} == heads_before
    assert studio.state(sample_project.id).script is None
    studio.switch(sample_project.id, "main")
    assert studio.state(sample_project.id).script is not None
    graph = studio.graph(sample_project.id)
    assert {n.id for n in graph.nodes} >= {c.id for c in studio.log(sample_project.id)}
    assert studio.fsck() == []


def test_vault_groups_artifacts(studio, sample_project):
    groups = studio.vault(sample_project.id)
    assert groups and all(g.branch == "main" for g in groups)
    script_group = next(g for g in groups if g.stage is Stage.SCRIPT)
    state = studio.state(sample_project.id)
    assert set(script_group.by_scene) == {None, *state.scenes}


def test_promote_to_global(studio, sample_project):
    state = studio.state(sample_project.id)
    character = next(a for a in state.assets.assets if a.kind is AssetKind.CHARACTER)
    promoted = studio.promote_to_global(sample_project.id, character.id)
    assert promoted.name == character.name and promoted.origin_project == sample_project.id
    assert [a.id for a in studio.global_assets()] == [promoted.id]
    with pytest.raises(Conflict):
        studio.promote_to_global(sample_project.id, character.id)
    with pytest.raises(NotFound):
        studio.promote_to_global(sample_project.id, "character-nobody")
    # Another project sees the global library.
    studio.create_project("Other")
    assert studio.global_assets()[0].name == character.name


def test_names_without_latin_letters_promote_to_two_global_assets(studio, sample_project):
    studio.approve_script(sample_project.id)
    for name in ("李", "王"):
        studio.add_asset(sample_project.id, AssetKind.CHARACTER, name)
    ids = {a.name: a.id for a in studio.state(sample_project.id).assets.assets}
    first = studio.promote_to_global(sample_project.id, ids["李"])
    second = studio.promote_to_global(sample_project.id, ids["王"])
    assert first.id != second.id and {a.name for a in studio.global_assets()} == {"李", "王"}


def test_doctor_reports_every_backend_without_raising(studio):
    results = {r.name: r for r in studio.doctor()}
    assert results["store"].state == "ok"
    assert {"llm", "comfyui", "gpu", "ffmpeg", "worker", "embeddings", "chroma"} <= set(results)
    assert results["llm"].state == "not configured" and "ollama" in results["llm"].detail.lower()
    assert results["comfyui"].state == "not configured"


def test_import_on_a_new_branch_is_in_the_vault(studio, sample_project):
    studio.import_screenplay(sample_project.id, "two.fountain", TWO_SCENES, new_branch="two-rooms")
    branches = {g.branch for g in studio.vault(sample_project.id)}
    assert branches == {"main", "two-rooms"}
    only_new = studio.vault(sample_project.id, "two-rooms")
    assert {scene for g in only_new for scene in g.by_scene} == {None, "sc-1", "sc-2"}


def test_approved_script_is_frozen_until_reopened(studio, sample_project):
    text = studio.script_fountain(sample_project.id)
    edited = text.replace("FADE IN:", "FADE IN:\n\nThunder.", 1)
    studio.approve_script(sample_project.id)
    with pytest.raises(GateClosed, match="frozen"):
        studio.save_script_text(sample_project.id, edited, "Add thunder before scene one")
    with pytest.raises(BadInput, match="10 characters"):
        studio.reopen_script(sample_project.id, "typo")
    studio.reopen_script(sample_project.id, "Fix a typo the director spotted")
    assert not studio.gates(sample_project.id)[Stage.SCRIPT].locked
    assert studio.log(sample_project.id)[0].message == "Fix a typo the director spotted"
    studio.save_script_text(sample_project.id, edited, "Add thunder before scene one")
    with pytest.raises(Conflict):
        studio.reopen_script(sample_project.id, "Nothing to reopen here")


def test_import_staged_on_a_new_branch(studio, sample_project):
    studio.stage_file(sample_project.id, "two.fountain", TWO_SCENES, role=FileRole.PRIMARY)
    with pytest.raises(BranchRequired):
        studio.import_staged(sample_project.id)
    result = studio.import_staged(sample_project.id, new_branch="two-rooms")
    assert result.scenes == 2
    assert studio.project(sample_project.id).active_branch == "two-rooms"


# --------------------------------------------------------------------------- one-commit import, limits


def test_new_project_with_script_is_one_transaction(studio):
    """A failure after the project row and its root commit are written (a real SQLite
    trigger refusing the import commit) leaves no project at all."""
    studio.store.conn.execute(
        "CREATE TRIGGER refuse_import BEFORE INSERT ON commits WHEN NEW.action = 'import'"
        " BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
    )
    with pytest.raises(Exception, match="injected failure"):
        studio.new_project("Half", ("two.fountain", TWO_SCENES))
    assert studio.list_projects() == []
    assert studio.store.conn.execute("SELECT COUNT(*) FROM commits").fetchone()[0] == 0
    assert studio.store.conn.execute("SELECT COUNT(*) FROM refs").fetchone()[0] == 0
    studio.store.conn.execute("DROP TRIGGER refuse_import")
    project, result = studio.new_project("Half", ("two.fountain", TWO_SCENES))
    assert result is not None and result.scenes == 2
    assert [c.action for c in studio.log(project.id)] == ["import", "create"]
    assert studio.fsck() == []


def test_a_full_disk_during_new_project_leaves_nothing(studio):
    from studio.errors import DiskFull

    conn = studio.store.conn
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages + 2}")
    with pytest.raises(DiskFull, match=r"^the disk is full: free space in .* and retry; nothing was saved$"):
        studio.new_project("Full", ("the_long_rain.fountain", SAMPLE.read_bytes()))
    assert studio.list_projects() == []
    conn.execute("PRAGMA max_page_count = 1073741823")
    project, _ = studio.new_project("Full", ("the_long_rain.fountain", SAMPLE.read_bytes()))
    assert studio.state(project.id).script is not None


def test_an_empty_project_takes_an_import_and_its_name_says_how(studio):
    empty = studio.create_project("Empty")
    with pytest.raises(Conflict, match="it has no script yet: import one into it, e.g. `studio import empty FILE`"):
        studio.new_project("Empty", ("two.fountain", TWO_SCENES))
    result = studio.import_screenplay(empty.id, "two.fountain", TWO_SCENES)
    assert result.scenes == 2 and studio.state(empty.id).script is not None
    with pytest.raises(Conflict) as caught:
        studio.new_project("Empty", ("two.fountain", TWO_SCENES))
    assert "no script yet" not in str(caught.value)


def _scenes_script(count: int, lines: int = 1) -> bytes:
    body = "\n".join(f"INT. ROOM {n} - DAY\n\n" + "\n\n".join(["Mara waits."] * lines) + "\n" for n in range(count))
    return f"Title: Long\n\n{body}".encode()


@pytest.mark.slow
def test_a_two_thousand_scene_script_is_accepted(studio):
    from studio.bench import feature_screenplay
    from studio.screenplay.limits import MAX_SCENES

    assert MAX_SCENES >= 2000
    project, result = studio.new_project("Epic", ("epic.fountain", feature_screenplay(2000).encode()))
    assert result is not None and result.scenes == 2000
    assert len(studio.state(project.id).scenes) == 2000


def test_a_script_far_over_the_scene_bound_is_refused_before_parsing(studio):
    from studio.errors import TooLarge

    data = _scenes_script(50_000)
    with pytest.raises(TooLarge, match=r"has about 50,000 scenes; a project can have at most 2,000"):
        studio.new_project("Huge", ("huge.fountain", data))
    assert studio.list_projects() == []
    assert studio.store.conn.execute("SELECT COUNT(*) FROM media").fetchone()[0] == 0, "nothing written"


def test_a_script_just_over_the_scene_bound_is_refused_after_parsing(studio):
    from studio.errors import TooLarge

    with pytest.raises(TooLarge, match=r"has 2,001 scenes; a project can have at most 2,000"):
        studio.new_project("Long", ("long.fountain", _scenes_script(2001)))
    assert studio.list_projects() == []


def test_a_script_over_the_byte_bound_is_refused_before_decoding(studio):
    from studio.errors import TooLarge
    from studio.screenplay.limits import MAX_SCRIPT_BYTES

    data = b"INT. ROOM - DAY\n\n" + b"Mara waits. " * (MAX_SCRIPT_BYTES // 12 + 1)
    with pytest.raises(TooLarge, match="a screenplay can be at most 10,000,000 bytes"):
        studio.new_project("Wide", ("wide.fountain", data))
    assert studio.list_projects() == []


def test_listing_projects_again_loads_no_state_until_a_head_moves(studio, monkeypatch):
    project, _ = studio.new_project("Listed", ("two.fountain", TWO_SCENES))
    first = studio.list_projects()
    loads: list[str] = []
    real = studio.timeline.load_state
    monkeypatch.setattr(studio.timeline, "load_state", lambda commit: loads.append(commit) or real(commit))
    assert studio.list_projects() == first and loads == [], "an unchanged project costs one ref read"
    studio.save_params(project.id, {"tonal_precision": "Quiet and wet"})
    (card,) = studio.list_projects()
    assert len(loads) == 1 and card.head == studio.head(project.id) != first[0].head
    studio.switch(project.id, first[0].head)  # an old commit: forks a branch
    (card,) = studio.list_projects()
    assert card.branch != "main" and card.head == first[0].head
