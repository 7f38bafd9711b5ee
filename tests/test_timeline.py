"""studio.timeline: Story Timelines (SPEC §4) on a real Store in tmp_path."""

from __future__ import annotations

import sqlite3

import pytest

from studio import graph as dag
from studio.errors import BadInput, BranchMoved, BranchRequired, Conflict, Corrupt, NotFound
from studio.model import Beat, BeatSheet, ProjectState, Scene, SceneDoc, Script, Stage, Treatment
from studio.objects import document_id
from studio.store import Store
from studio.timeline import Timeline, VaultEntry, diff_states, scene_key

SCENES = 20


def scene_doc(scene_id: str, heading: str = "INT. ROOM - DAY") -> SceneDoc:
    return SceneDoc(scene=Scene(id=scene_id, heading=heading))


def twenty_scenes() -> ProjectState:
    ids = tuple(f"sc-{n}" for n in range(1, SCENES + 1))
    return ProjectState(
        script=Script(title="Twenty", scene_ids=ids),
        scenes={sid: scene_doc(sid, f"INT. ROOM {sid.upper()} - DAY") for sid in ids},
    )


def snapshot(store: Store, project_id: str) -> dict:
    """Everything a write could touch, for 'nothing was written' checks."""

    def count(table: str) -> int:
        return store.conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]

    return {
        "objects": count("objects"),
        "commits": count("commits"),
        "artifacts": count("artifacts"),
        "refs": store.refs(project_id),
        "reflog": store.reflog(project_id),
        "active": store.project_row(project_id)["active_branch"],
    }


def object_kinds(store: Store) -> dict[str, set[str]]:
    kinds: dict[str, set[str]] = {}
    for object_id, kind in store.conn.execute("SELECT id, kind FROM objects"):
        kinds.setdefault(kind, set()).add(object_id)
    return kinds


def tree_of(timeline: Timeline, commit_id: str) -> dict[str, str]:
    return timeline.read_tree(timeline.store.get_commit(commit_id).tree)


def commit_n(timeline: Timeline, project_id: str, branch: str, n: int, tag: str) -> list[str]:
    """``n`` commits on ``branch``, each editing scene sc-1; returns their ids, oldest first."""
    ids = []
    for i in range(n):
        doc = scene_doc("sc-1", f"INT. {tag.upper()} {i}")
        ids.append(timeline.commit(project_id, branch, {"scene/sc-1": doc}, f"{tag} edit {i}").id)
    return ids


@pytest.fixture
def big(make_project) -> str:
    """A project whose root commit holds a 20-scene script."""
    return make_project("big", twenty_scenes())


# --------------------------------------------------------------------------- commits


def test_root_commit_holds_the_whole_state(timeline, big):
    head = timeline.head(big, "main")
    assert timeline.load_state(head) == twenty_scenes()
    root = timeline.store.get_commit(head)
    assert root.parents == () and root.action == "create"
    assert len(tree_of(timeline, head)) == 5 + SCENES  # input, treatment, beats, assets, script


def test_one_scene_edit_writes_one_scene_object_and_one_tree(store, timeline, big):
    before_kinds = object_kinds(store)
    before = snapshot(store, big)
    old_head = timeline.head(big, "main")

    commit = timeline.commit(big, "main", {"scene/sc-7": scene_doc("sc-7", "EXT. NEW")}, "rewrite seven")

    after = snapshot(store, big)
    after_kinds = object_kinds(store)
    assert after["objects"] == before["objects"] + 2
    assert after_kinds["doc"] - before_kinds["doc"] == {tree_of(timeline, commit.id)["scene/sc-7"]}
    assert after_kinds["tree"] - before_kinds["tree"] == {commit.tree}
    assert after["commits"] == before["commits"] + 1
    assert len(after["reflog"]) == len(before["reflog"]) + 1
    assert commit.parents == (old_head,)
    assert timeline.head(big, "main") == commit.id


def test_full_state_update_of_one_scene_also_writes_two_objects(store, timeline, big):
    before = snapshot(store, big)

    def retitle(state: ProjectState):
        edited = state.scenes["sc-3"].model_copy(update={"scene": scene_doc("sc-3", "EXT. ROOF").scene})
        return diff_states(state, state.model_copy(update={"scenes": {**state.scenes, "sc-3": edited}}))

    timeline.update(big, "main", retitle, "move scene three to the roof")
    assert snapshot(store, big)["objects"] == before["objects"] + 2


def test_unchanged_documents_keep_their_object_ids(timeline, big):
    old_head = timeline.head(big, "main")
    commit = timeline.commit(big, "main", {"scene/sc-7": scene_doc("sc-7", "EXT. NEW")}, "rewrite seven")
    old, new = tree_of(timeline, old_head), tree_of(timeline, commit.id)
    assert old.keys() == new.keys()
    assert {k for k in old if old[k] != new[k]} == {"scene/sc-7"}
    assert new["scene/sc-7"] == document_id(scene_doc("sc-7", "EXT. NEW"))


def test_committing_identical_content_writes_no_objects(store, timeline, big):
    state = twenty_scenes()
    before = snapshot(store, big)
    commit = timeline.commit(big, "main", {"scene/sc-2": state.scenes["sc-2"]}, "no-op save")
    after = snapshot(store, big)
    assert after["objects"] == before["objects"]
    assert after["commits"] == before["commits"] + 1
    assert commit.tree == store.get_commit(commit.parents[0]).tree


def test_removing_a_document_drops_its_entry(timeline, big):
    commit = timeline.commit(big, "main", {"scene/sc-20": None}, "cut the last scene")
    assert "scene/sc-20" not in tree_of(timeline, commit.id)
    assert "sc-20" not in timeline.load_state(commit.id).scenes


def test_diff_states_lists_only_what_changed():
    before = twenty_scenes()
    after = before.model_copy(
        update={"scenes": {**before.scenes, "sc-4": scene_doc("sc-4", "EXT. CHANGED")}}
    )
    assert diff_states(before, after) == {"scene/sc-4": scene_doc("sc-4", "EXT. CHANGED")}
    assert diff_states(before, before) == {}
    removed = before.model_copy(update={"scenes": {k: v for k, v in before.scenes.items() if k != "sc-9"}})
    assert diff_states(before, removed) == {"scene/sc-9": None}


def test_load_documents_reads_only_what_is_asked(timeline, big):
    head = timeline.head(big, "main")
    docs = timeline.load_documents(head, ["scene/sc-1", "scene/sc-99", "script"])
    assert docs["scene/sc-1"] == twenty_scenes().scenes["sc-1"]
    assert docs["scene/sc-99"] is None
    assert docs["script"] == twenty_scenes().script


def test_a_commit_needs_a_message(store, timeline, project):
    before = snapshot(store, project)
    for message in ("", "   "):
        with pytest.raises(BadInput, match="message"):
            timeline.commit(project, "main", {"scene/sc-1": scene_doc("sc-1")}, message)
    assert snapshot(store, project) == before


def test_unknown_document_keys_are_rejected_and_nothing_is_written(store, timeline, project):
    before = snapshot(store, project)
    with pytest.raises(NotFound, match="unknown document"):
        timeline.update(project, "main", lambda s: {"bogus": Treatment()}, "write a bogus key")
    assert snapshot(store, project) == before


def test_commit_on_a_missing_branch_is_not_found(timeline, project):
    with pytest.raises(NotFound, match="no branch"):
        timeline.commit(project, "nope", {"scene/sc-1": scene_doc("sc-1")}, "on a ghost branch")


def test_vault_entries_are_indexed_with_their_commit(store, timeline, project):
    vault = [VaultEntry(Stage.SHOTS, "shot_list", "Scene 1 shots", key="scene/sc-1", scene_id="sc-1")]
    commit = timeline.commit(project, "main", {"scene/sc-1": scene_doc("sc-1")}, "shots", vault=vault)
    (row,) = store.artifact_rows(project)
    assert row["commit_id"] == commit.id
    assert row["object_id"] == tree_of(timeline, commit.id)["scene/sc-1"]
    assert (row["branch"], row["stage"], row["scene_id"]) == ("main", int(Stage.SHOTS), "sc-1")


# --------------------------------------------------------------------------- update failures


def test_expected_head_mismatch_raises_branch_moved_and_writes_nothing(store, timeline, project):
    stale = timeline.head(project, "main")
    commit_n(timeline, project, "main", 1, "other tab")
    before = snapshot(store, project)
    with pytest.raises(BranchMoved, match="reload"):
        timeline.commit(
            project, "main", {"scene/sc-2": scene_doc("sc-2")}, "edit from a stale view",
            expected_head=stale,
        )
    assert snapshot(store, project) == before


def test_compute_that_raises_writes_nothing(store, timeline, project):
    before = snapshot(store, project)

    def broken(state: ProjectState):
        raise ValueError("the model returned garbage")

    with pytest.raises(ValueError, match="garbage"):
        timeline.update(project, "main", broken, "try a broken edit")
    assert snapshot(store, project) == before


def test_lost_race_is_retried_on_the_new_head(open_store, store, timeline, project):
    # Another writer (its own Store on the same file) commits while we compute.
    rival = Timeline(open_store())
    calls: list[int] = []
    rival_commits: list[str] = []

    def count_scenes(state: ProjectState):
        calls.append(len(state.scenes))
        if not rival_commits:
            rival_commits.append(
                rival.commit(project, "main", {"scene/sc-r": scene_doc("sc-r")}, "rival edit").id
            )
        return {"scene/sc-mine": scene_doc("sc-mine")}

    commit = timeline.update(project, "main", count_scenes, "my edit, after the rival")
    assert calls == [0, 1], "recomputed on the rival's state"
    assert commit.parents == (rival_commits[0],)
    assert set(timeline.load_state(commit.id).scenes) == {"sc-r", "sc-mine"}
    assert [r["new"] for r in store.reflog(project, "main")][-2:] == [rival_commits[0], commit.id]
    assert store.fsck() == []


def test_lost_race_with_expected_head_is_branch_moved(open_store, store, timeline, project):
    rival = Timeline(open_store())
    head = timeline.head(project, "main")

    def edit(state: ProjectState):
        rival.commit(project, "main", {"scene/sc-r": scene_doc("sc-r")}, "rival edit")
        return {"scene/sc-mine": scene_doc("sc-mine")}

    with pytest.raises(BranchMoved):
        timeline.update(project, "main", edit, "my edit", expected_head=head)
    assert "sc-mine" not in timeline.load_state(timeline.head(project, "main")).scenes
    assert len(store.project_commits(project)) == 2, "root + the rival's commit only"


# --------------------------------------------------------------------------- branches


def test_branch_from_any_commit(store, timeline, project):
    root = timeline.head(project, "main")
    first, second = commit_n(timeline, project, "main", 2, "main")
    assert timeline.create_branch(project, "by-id", first) == first
    assert timeline.create_branch(project, "by-prefix", root[:8]) == root
    assert timeline.create_branch(project, "by-name", "main") == second
    assert timeline.create_branch(project, "from-branch", "by-id") == first
    assert store.refs(project) == {
        "main": second, "by-id": first, "by-prefix": root, "by-name": second, "from-branch": first,
    }
    for name in ("by-id", "by-prefix", "by-name", "from-branch"):
        (entry,) = store.reflog(project, name)
        assert entry["old"] is None and entry["new"] == store.refs(project)[name]
    # Branching moves nothing else.
    assert [r["new"] for r in store.reflog(project, "main")] == [root, first, second]


def test_branches_diverge_independently(timeline, project):
    root = timeline.head(project, "main")
    timeline.create_branch(project, "alt", root)
    (on_alt,) = commit_n(timeline, project, "alt", 1, "alt")
    assert timeline.head(project, "main") == root
    (on_main,) = commit_n(timeline, project, "main", 1, "main")
    assert timeline.head(project, "alt") == on_alt
    assert timeline.store.get_commit(on_alt).parents == timeline.store.get_commit(on_main).parents


def test_branch_from_unknown_ref_is_not_found(store, timeline, project):
    with pytest.raises(NotFound):
        timeline.create_branch(project, "x", "deadbeef")
    with pytest.raises(NotFound):
        timeline.create_branch(project, "x", "no-such-branch")
    assert list(store.refs(project)) == ["main"]


@pytest.mark.parametrize(
    "name",
    ["../x", "-x", "", " ", "a b", "x" * 100, "a..b", ".hidden", "feat/x", "tab\tx", "ünï"],
)
def test_bad_branch_names_are_rejected(store, timeline, project, name):
    before = snapshot(store, project)
    with pytest.raises(BadInput, match="branch name"):
        timeline.create_branch(project, name, "main")
    assert snapshot(store, project) == before


@pytest.mark.parametrize("name", ["feature", "v1.2", "Fix_2", "a", "x" * 63, "2nd-try"])
def test_good_branch_names_are_accepted(timeline, project, name):
    assert timeline.create_branch(project, name, "main") == timeline.head(project, "main")


def test_duplicate_branch_is_a_conflict(store, timeline, project):
    timeline.create_branch(project, "alt", "main")
    commit_n(timeline, project, "main", 1, "main")
    before = snapshot(store, project)
    with pytest.raises(Conflict, match="already exists"):
        timeline.create_branch(project, "alt", "main")
    with pytest.raises(Conflict):
        timeline.create_branch(project, "main", "alt")
    assert snapshot(store, project) == before


def test_resolve_accepts_names_ids_and_prefixes(timeline, project):
    root = timeline.head(project, "main")
    assert timeline.resolve(project, "main") == root
    assert timeline.resolve(project, root) == root
    assert timeline.resolve(project, root[:4]) == root
    with pytest.raises(NotFound):
        timeline.resolve(project, root[:3])  # too short to be a prefix
    with pytest.raises(NotFound):
        timeline.resolve(project, root.upper())


# --------------------------------------------------------------------------- switch


def test_switch_to_a_branch_head(store, timeline, project):
    timeline.create_branch(project, "alt", "main")
    refs = store.refs(project)
    result = timeline.switch(project, "alt")
    assert (result.branch, result.commit, result.forked) == ("alt", refs["alt"], False)
    assert store.project_row(project)["active_branch"] == "alt"
    assert timeline.switch(project, "main").branch == "main"
    assert store.refs(project) == refs


def test_switch_to_a_commit_that_is_a_head_switches_to_that_branch(store, timeline, project):
    (tip,) = commit_n(timeline, project, "main", 1, "main")
    timeline.create_branch(project, "alt", "main")
    commit_n(timeline, project, "main", 1, "main more")
    result = timeline.switch(project, tip[:10])
    assert (result.branch, result.commit, result.forked) == ("alt", tip, False)


def test_switch_to_an_old_commit_forks_and_never_moves_refs(store, timeline, project):
    root = timeline.head(project, "main")
    first, _second = commit_n(timeline, project, "main", 2, "main")
    timeline.create_branch(project, "alt", "main")
    refs = store.refs(project)
    reflog = store.reflog(project)

    result = timeline.switch(project, first)

    assert result.forked and result.commit == first
    assert result.branch == f"fork-{first[:7]}"
    after = store.refs(project)
    assert {k: after[k] for k in refs} == refs, "existing branches did not move"
    assert after[result.branch] == first
    assert store.reflog(project)[: len(reflog)] == reflog
    assert store.project_row(project)["active_branch"] == result.branch
    assert timeline.load_state(first) == timeline.load_state(timeline.head(project, result.branch))

    # Switching there again, while the fork still points at it, reuses the fork.
    again = timeline.switch(project, first[:12])
    assert (again.branch, again.forked) == (result.branch, False)
    # By prefix works too, and forks root the same way.
    assert timeline.switch(project, root[:6]).branch == f"fork-{root[:7]}"


def test_second_fork_at_the_same_commit_gets_a_suffix(store, timeline, project):
    root = timeline.head(project, "main")
    commit_n(timeline, project, "main", 1, "main")
    first_fork = timeline.switch(project, root)
    assert first_fork.branch == f"fork-{root[:7]}"
    commit_n(timeline, project, first_fork.branch, 1, "fork work")  # the fork moves on
    refs = store.refs(project)

    second = timeline.switch(project, root)

    assert second.forked and second.branch == f"fork-{root[:7]}-2"
    after = store.refs(project)
    assert {k: after[k] for k in refs} == refs
    assert after[second.branch] == root
    commit_n(timeline, project, second.branch, 1, "more fork work")
    assert timeline.switch(project, root).branch == f"fork-{root[:7]}-3"


def test_switch_to_unknown_ref_is_not_found(store, timeline, project):
    before = snapshot(store, project)
    with pytest.raises(NotFound):
        timeline.switch(project, "nowhere")
    assert snapshot(store, project) == before


# --------------------------------------------------------------------------- log + graph


def test_log_is_newest_first_and_limited(timeline, project):
    root = timeline.head(project, "main")
    ids = commit_n(timeline, project, "main", 5, "main")
    log = timeline.log(project, "main")
    assert [c.id for c in log] == [*reversed(ids), root]
    assert [c.message for c in log[:2]] == ["main edit 4", "main edit 3"]
    assert all(c.parents == (n.id,) for c, n in zip(log, log[1:], strict=False))
    assert [c.id for c in timeline.log(project, "main", limit=2)] == ids[:-3:-1]
    assert [c.id for c in timeline.log(project, ids[1])] == [ids[1], ids[0], root]
    assert timeline.log(project, "main", limit=0) == []


def test_log_of_a_branch_includes_the_shared_history(timeline, project):
    root = timeline.head(project, "main")
    (shared,) = commit_n(timeline, project, "main", 1, "shared")
    timeline.create_branch(project, "alt", "main")
    alt = commit_n(timeline, project, "alt", 2, "alt")
    commit_n(timeline, project, "main", 2, "main only")
    assert [c.id for c in timeline.log(project, "alt")] == [alt[1], alt[0], shared, root]


def test_log_through_merges_lists_both_sides_once_in_topological_order(store, timeline, project):
    root = timeline.head(project, "main")
    timeline.create_branch(project, "alt", "main")
    alt = commit_n(timeline, project, "alt", 2, "alt")
    main = commit_n(timeline, project, "main", 2, "main")
    tree = store.get_commit(main[-1]).tree
    with store.write() as conn:
        merge = store.insert_commit(conn, project, tree, [main[-1], alt[-1]], "merge alt", "merge")
        assert store.move_ref(conn, project, "main", main[-1], merge.id, "merge")
    log = timeline.log(project, "main")
    commits = store.project_commits(project)
    assert [c.id for c in log] == dag.topo_order([merge.id], lambda c: commits[c].parents)
    # Reversed DFS post-order: the merged-in side is listed right under the merge.
    assert [c.id for c in log] == [merge.id, alt[1], alt[0], main[1], main[0], root]
    assert log == [store.get_commit(c.id) for c in log]
    assert log[0].parents == (main[-1], alt[-1])
    assert [c.id for c in timeline.log(project, "main", limit=3)] == [merge.id, alt[1], alt[0]]


def test_load_state_reads_every_document_and_caches_them(store, timeline, make_project):
    state = twenty_scenes()
    project = make_project("q", state)
    head = timeline.head(project, "main")
    assert timeline.load_state(head) == state
    entries = tree_of(timeline, head)
    assert set(timeline._models) >= set(entries.values())
    # Cached models are the ones handed out again; a partial load reads only its keys.
    again = timeline.load_state(head)
    assert again.scenes["sc-1"] is timeline.load_state(head).scenes["sc-1"]
    some = timeline.load_documents(head, [scene_key("sc-2"), "nothing-here", "script"])
    assert some == {
        scene_key("sc-2"): state.scenes["sc-2"], "nothing-here": None, "script": state.script
    }


def test_load_state_of_a_damaged_document_is_corrupt_or_missing(store, make_project):
    project = make_project("q", twenty_scenes())
    fresh = Timeline(store)
    head = fresh.head(project, "main")
    entries = tree_of(fresh, head)
    conn = sqlite3.connect(store.db_path, isolation_level=None)
    broken = entries[scene_key("sc-3")]
    conn.execute("UPDATE objects SET data = ? WHERE id = ?", (b'{"scene": 3}', broken))
    with pytest.raises(Corrupt, match="scene/sc-3"):
        Timeline(store).load_state(head)
    conn.execute("PRAGMA foreign_keys = OFF")
    conn.execute("DELETE FROM objects WHERE id = ?", (entries[scene_key("sc-4")],))
    conn.close()
    with pytest.raises(NotFound, match="missing"):
        Timeline(store).load_documents(head, [scene_key("sc-4")])


def test_graph_nodes_edges_and_heads_agree(store, timeline, project):
    root = timeline.head(project, "main")
    main = commit_n(timeline, project, "main", 3, "main")
    timeline.create_branch(project, "alt", main[0])
    alt = commit_n(timeline, project, "alt", 2, "alt")
    timeline.create_branch(project, "tag-like", "main")

    data = timeline.graph(project, "main")

    commits = store.project_commits(project)
    ids = [n.id for n in data.nodes]
    assert sorted(ids) == sorted(commits) and len(ids) == 1 + 3 + 2
    assert data.heads == store.refs(project)
    assert data.active_branch == "main" and not data.truncated
    assert set(data.edges) == {(c, p) for c in commits for p in commits[c].parents}
    position = {n.id: n.row for n in data.nodes}
    assert [n.row for n in data.nodes] == list(range(len(ids)))
    assert all(position[c] < position[p] for c, p in data.edges), "children above parents"
    for node in data.nodes:
        assert set(node.branches) == {b for b, h in data.heads.items() if h == node.id}
        assert node.parents == commits[node.id].parents
        assert node.short == node.id[:7] and node.lane >= 0
    # The newest branch tip is on top, and its first-parent chain runs down one lane.
    assert data.nodes[0].id == alt[-1]
    lanes = {n.id: n.lane for n in data.nodes}
    chain = dag.first_parent_chain(alt[-1], lambda c: commits[c].parents)
    assert {lanes[c] for c in chain} == {0}
    assert {lanes[c] for c in main[1:]} == {1}, "main's own commits get the next lane"
    assert root == data.nodes[-1].id


def test_graph_puts_the_most_recently_moved_branch_on_top(timeline, project):
    timeline.create_branch(project, "alt", "main")
    commit_n(timeline, project, "alt", 1, "alt")
    (main_tip,) = commit_n(timeline, project, "main", 1, "main")
    assert timeline.graph(project, "main").nodes[0].id == main_tip


def test_graph_limit_truncates_and_keeps_edges_inside(timeline, project):
    commit_n(timeline, project, "main", 6, "main")
    data = timeline.graph(project, "main", limit=3)
    assert data.truncated and len(data.nodes) == 3
    shown = {n.id for n in data.nodes}
    assert all(c in shown and p in shown for c, p in data.edges)
    assert len(data.edges) == 2


# --------------------------------------------------------------------------- mandatory branch


def edited_beats_state() -> ProjectState:
    """A script written from one beat sheet, after which the beat sheet was edited."""
    written_from = BeatSheet(beats=(Beat(id="b1", text="She leaves."),), confirmed=True)
    edited = BeatSheet(beats=(Beat(id="b1", text="She stays."),), confirmed=True)
    return ProjectState(
        beats=edited,
        script=Script(title="T", source="llm", beats_basis=document_id(written_from)),
        scenes={"sc-1": scene_doc("sc-1")},
    )


def regenerate(state: ProjectState):
    script = state.script.model_copy(
        update={"beats_basis": document_id(state.beats), "generation": state.script.generation + 1}
    )
    return {"script": script, "scene/sc-1": scene_doc("sc-1", "EXT. REGENERATED")}


def test_regenerating_the_script_after_a_beat_edit_requires_a_branch(store, timeline, make_project):
    project = make_project("m", edited_beats_state())
    before = snapshot(store, project)
    with pytest.raises(BranchRequired, match="new branch"):
        timeline.update(project, "main", regenerate, "regenerate from the new beats",
                        action="regenerate_script")
    with pytest.raises(BranchRequired):
        timeline.commit(project, "main", regenerate(edited_beats_state()), "regenerate again",
                        action="regenerate_script")
    assert snapshot(store, project) == before


def test_commit_on_new_branch_leaves_the_original_branch_untouched(store, timeline, make_project):
    project = make_project("m", edited_beats_state())
    main_head = timeline.head(project, "main")
    main_reflog = store.reflog(project, "main")

    commit = timeline.commit_on_new_branch(
        project, "main", "regen-1", regenerate, "regenerate from the new beats",
        action="regenerate_script",
    )

    assert timeline.head(project, "main") == main_head
    assert store.reflog(project, "main") == main_reflog
    assert timeline.head(project, "regen-1") == commit.id
    assert commit.parents == (main_head,) and commit.action == "regenerate_script"
    state = timeline.load_state(commit.id)
    assert state.script.beats_basis == document_id(state.beats)
    assert state.scenes["sc-1"].scene.heading == "EXT. REGENERATED"
    assert timeline.load_state(main_head) == edited_beats_state()
    # On the new branch the script now matches its beats, so regenerating needs no branch.
    timeline.update(project, "regen-1", regenerate, "regenerate once more", action="regenerate_script")
    assert store.fsck() == []


def test_commit_on_new_branch_refuses_bad_or_taken_names(store, timeline, make_project):
    project = make_project("m", edited_beats_state())
    timeline.create_branch(project, "taken", "main")
    before = snapshot(store, project)
    with pytest.raises(Conflict, match="already exists"):
        timeline.commit_on_new_branch(project, "main", "taken", regenerate, "regenerate here")
    with pytest.raises(BadInput):
        timeline.commit_on_new_branch(project, "main", "../up", regenerate, "regenerate here")
    assert snapshot(store, project) == before


def test_regenerating_from_unchanged_beats_stays_on_the_branch(store, timeline, make_project):
    beats = BeatSheet(beats=(Beat(id="b1", text="She leaves."),), confirmed=True)
    state = ProjectState(beats=beats, script=Script(beats_basis=document_id(beats)))
    project = make_project("m", state)
    commit = timeline.update(project, "main", regenerate, "regenerate the same script",
                             action="regenerate_script")
    assert timeline.head(project, "main") == commit.id


def test_scene_key_prefix():
    assert scene_key("sc-1") == "scene/sc-1"
