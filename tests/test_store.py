"""studio.store: migrations, SQLite settings, content addressing, CAS refs, reflog, fsck.

The two ``slow`` tests hammer one database file from several processes: four writers
racing 1000 commits onto one branch, and a committing child killed with SIGKILL 100 times.
"""

from __future__ import annotations

import json
import os
import pickle
import random
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import FrozenInstanceError
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from studio import graph as dag
from studio.errors import Corrupt, NotFound, StudioError
from studio.model import Scene, SceneDoc
from studio.objects import canonical_json, sha256_hex
from studio.sqlite import SqliteFile
from studio.store import (
    MIGRATIONS,
    SCHEMA_VERSION,
    CommitRow,
    Store,
    commit_rows,
    ensure_ok,
    parse_parents,
)
from studio.timeline import Timeline

REPO = Path(__file__).resolve().parents[1]
HEX64 = re.compile(r"^[0-9a-f]{64}$")


def scene_doc(scene_id: str, heading: str = "INT. ROOM - DAY") -> SceneDoc:
    return SceneDoc(scene=Scene(id=scene_id, heading=heading))


def counter_doc(scene_id: str, count: int) -> SceneDoc:
    return scene_doc(scene_id, f"COUNT {count}")


def count_of(doc: SceneDoc | None) -> int:
    return int(doc.scene.heading.split()[1]) if doc is not None else 0


def count_rows(store: Store, table: str) -> int:
    return store.conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


def raw_connect(store: Store) -> sqlite3.Connection:
    """A plain connection with foreign keys off, for breaking the store on purpose."""
    conn = sqlite3.connect(store.db_path, isolation_level=None)
    conn.execute("PRAGMA foreign_keys = OFF")
    return conn


def parents_of(store: Store, project_id: str):
    commits = store.project_commits(project_id)
    return commits, (lambda c: commits[c].parents)


# --------------------------------------------------------------------------- migrations


def test_migrations_are_applied_at_open(store):
    assert SCHEMA_VERSION == len(MIGRATIONS) == store.schema_version()
    versions = [r[0] for r in store.conn.execute("SELECT version FROM migrations ORDER BY version")]
    assert versions == list(range(1, SCHEMA_VERSION + 1))
    tables = set(store.db.table_names())
    assert {"projects", "objects", "commits", "refs", "reflog", "media", "artifacts"} <= tables


def test_reopening_is_idempotent(open_store, store, timeline, project):
    head = timeline.head(project, "main")
    store.close()
    for _ in range(3):
        again = open_store()
        assert again.migrate() == SCHEMA_VERSION
        assert again.schema_version() == SCHEMA_VERSION
        assert count_rows(again, "migrations") == SCHEMA_VERSION
        assert again.get_ref(project, "main") == head, "reopening keeps the data"
        again.close()


def test_two_stores_on_one_file_share_data(open_store):
    first, second = open_store(), open_store()
    with first.write() as conn:
        object_id = first.put_object(conn, "doc", {"hello": "world"})
        # Readers on the other Store are not blocked by the open write transaction.
        assert second.schema_version() == SCHEMA_VERSION
        assert not second.has_object(object_id)
    assert second.get_object(object_id) == {"hello": "world"}
    assert count_rows(second, "migrations") == SCHEMA_VERSION


def test_concurrent_first_opens_migrate_once(open_store):
    # Eight threads open the same brand-new file at once; BEGIN IMMEDIATE serialises them.
    start = threading.Barrier(8)
    errors: list[BaseException] = []
    versions: list[int] = []

    def open_one() -> None:
        try:
            start.wait()
            opened = open_store()
            versions.append(opened.schema_version())
            opened.close()
        except BaseException as exc:  # collected and reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert versions == [SCHEMA_VERSION] * 8
    assert count_rows(open_store(), "migrations") == SCHEMA_VERSION


def test_opening_an_up_to_date_file_takes_no_write_lock(open_store, store):
    # Another process holds the write lock; a store opening the migrated file only reads.
    other = sqlite3.connect(store.db_path, isolation_level=None, timeout=0)
    other.execute("BEGIN IMMEDIATE")
    try:
        opened = Store(store.db_path, store.media_dir, busy_timeout_ms=0)
        assert opened.schema_version() == SCHEMA_VERSION
        opened.close()
    finally:
        other.execute("ROLLBACK")
        other.close()


def test_only_a_file_missing_migrations_is_migrated_under_the_write_lock(tmp_path):
    one = [["CREATE TABLE a (x)"]]
    two = [*one, ["CREATE TABLE b (y)"]]
    first = SqliteFile(tmp_path / "t.db", name="t", error=StudioError)
    assert first.migrate("m", one) == 1
    other = sqlite3.connect(tmp_path / "t.db", isolation_level=None, timeout=0)
    other.execute("BEGIN IMMEDIATE")
    locked = SqliteFile(tmp_path / "t.db", name="t", busy_timeout_ms=0, error=StudioError)
    assert locked.migrate("m", one) == 1, "up to date: read only, no lock needed"
    with pytest.raises(StudioError, match="busy"):
        locked.migrate("m", two)
    other.execute("ROLLBACK")
    other.close()
    assert locked.migrate("m", two) == 2
    assert {r[0] for r in locked.conn.execute("SELECT name FROM sqlite_master")} >= {"a", "b"}
    assert [r[0] for r in locked.conn.execute("SELECT version FROM m ORDER BY version")] == [1, 2]
    first.close()
    locked.close()


def test_connection_settings(store):
    conn = store.conn
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == store.busy_timeout_ms > 0
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    assert conn.isolation_level is None, "transactions are ours (BEGIN IMMEDIATE), not sqlite3's"


def test_each_thread_gets_its_own_connection(store):
    seen: list[sqlite3.Connection] = []
    thread = threading.Thread(target=lambda: (seen.append(store.conn), store.close()))
    thread.start()
    thread.join()
    assert seen and seen[0] is not store.conn


def test_write_is_an_immediate_transaction(store):
    with store.write() as conn:
        assert conn.in_transaction
        # A second connection cannot start writing while we hold the RESERVED lock.
        other = sqlite3.connect(store.db_path, isolation_level=None, timeout=0)
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("BEGIN IMMEDIATE")
        other.close()
    assert not store.conn.in_transaction


def test_write_rolls_back_on_error(store):
    with pytest.raises(RuntimeError), store.write() as conn:
        store.put_object(conn, "doc", {"n": 1})
        raise RuntimeError("boom")
    assert count_rows(store, "objects") == 0
    assert not store.conn.in_transaction


# --------------------------------------------------------------------------- objects


def test_objects_are_content_addressed_and_stored_once(store):
    doc = {"b": [1, 2, {"z": None, "a": "é"}], "a": 1}
    with store.write() as conn:
        first = store.put_object(conn, "doc", doc)
        second = store.put_object(conn, "doc", dict(reversed(list(doc.items()))))
    assert first == second == sha256_hex(canonical_json(doc))
    assert HEX64.match(first)
    assert count_rows(store, "objects") == 1
    assert store.has_object(first)
    assert store.get_object(first) == doc
    data, size = store.conn.execute("SELECT data, size FROM objects WHERE id = ?", (first,)).fetchone()
    assert bytes(data) == canonical_json(doc) and size == len(canonical_json(doc))


def test_canonical_json_is_compact_sorted_utf8():
    assert canonical_json({"b": 1, "a": [True, None, "é"]}) == '{"a":[true,null,"é"],"b":1}'.encode()


def test_different_documents_get_different_ids(store):
    with store.write() as conn:
        ids = {store.put_object(conn, "doc", {"n": n}) for n in range(50)}
    assert len(ids) == 50 == count_rows(store, "objects")


def test_object_bytes_reads_many_objects_in_one_call(store):
    with store.write() as conn:
        ids = [store.put_object(conn, "doc", {"n": n}) for n in range(3)]
    found = store.object_bytes([*ids, "0" * 64, ids[0]])
    assert found == {i: canonical_json({"n": n}) for n, i in enumerate(ids)}
    assert store.object_bytes([]) == {}
    with store.write() as conn:
        many = [store.put_object(conn, "doc", {"n": n}) for n in range(2000)]
    assert store.object_bytes(many) == {i: canonical_json({"n": n}) for n, i in enumerate(many)}


def test_missing_object_is_not_found(store):
    with pytest.raises(NotFound, match="missing"):
        store.get_object("0" * 64)
    assert not store.has_object("0" * 64)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.text(max_size=6), json_values, min_size=1, max_size=8), st.randoms())
def test_object_id_does_not_depend_on_key_order(doc, rnd):
    items = list(doc.items())
    rnd.shuffle(items)
    assert canonical_json(dict(items)) == canonical_json(doc)
    assert json.loads(canonical_json(doc)) == doc


# --------------------------------------------------------------------------- media


def test_media_put_get_round_trip(store):
    data = os.urandom(4096)
    media_id = store.put_media(data, "image/png")
    assert media_id == sha256_hex(data)
    assert store.get_media(media_id) == data
    assert store.media_path(media_id).read_bytes() == data
    assert store.media_path(media_id).is_relative_to(store.media_dir)
    row = store.conn.execute("SELECT size, mime FROM media WHERE id = ?", (media_id,)).fetchone()
    assert row == (4096, "image/png")


def test_media_is_stored_once_and_published_atomically(store):
    ids = [store.put_media(b"same bytes") for _ in range(3)]
    ids += [store.put_media(bytes([n]) * 100) for n in range(20)]
    assert len(set(ids)) == 21 == count_rows(store, "media")
    files = [p for p in store.media_dir.rglob("*") if p.is_file()]
    assert len(files) == 21
    assert not [p for p in store.media_dir.rglob(".tmp-*")], "no temp files left behind"
    assert store.fsck() == []


def test_missing_media_is_not_found(store):
    with pytest.raises(NotFound, match="missing"):
        store.get_media("ab" * 32)


# --------------------------------------------------------------------------- refs (CAS) + reflog


def make_commits(store: Store, project_id: str, n: int) -> list[str]:
    """``n`` loose commits (no ref moves), each with its own tree."""
    ids = []
    with store.write() as conn:
        for i in range(n):
            tree = store.put_object(conn, "tree", {"entries": {}, "n": i})
            ids.append(store.insert_commit(conn, project_id, tree, [], f"loose commit {i}").id)
    return ids


def test_move_branch_with_the_expected_head_moves_and_logs(store, timeline, project):
    root = timeline.head(project, "main")
    (new,) = make_commits(store, project, 1)
    assert store.move_branch(project, "main", root, new, "test: move")
    assert store.get_ref(project, "main") == new
    last = store.reflog(project, "main")[-1]
    assert (last["old"], last["new"], last["message"]) == (root, new, "test: move")


def test_move_branch_with_a_stale_head_fails_and_logs_nothing(store, timeline, project):
    root = timeline.head(project, "main")
    a, b = make_commits(store, project, 2)
    before = store.reflog(project)
    assert not store.move_branch(project, "main", a, b, "stale")
    assert store.get_ref(project, "main") == root
    assert store.reflog(project) == before


def test_create_with_expected_none_fails_when_the_branch_exists(store, timeline, project):
    root = timeline.head(project, "main")
    (other,) = make_commits(store, project, 1)
    before = store.reflog(project)
    assert not store.move_branch(project, "main", None, other, "recreate")
    assert store.get_ref(project, "main") == root
    assert store.reflog(project) == before
    assert store.move_branch(project, "feature", None, other, "create")
    assert store.refs(project) == {"main": root, "feature": other}
    assert store.reflog(project, "feature")[0]["old"] is None


def test_moving_a_branch_that_does_not_exist_fails(store, project):
    (other,) = make_commits(store, project, 1)
    assert not store.move_branch(project, "ghost", other, other, "nope")
    assert store.get_ref(project, "ghost") is None
    assert store.reflog(project, "ghost") == []


def test_a_ref_cannot_point_at_an_unknown_commit(store, timeline, project):
    root = timeline.head(project, "main")
    with pytest.raises(sqlite3.IntegrityError):
        store.move_branch(project, "main", root, "f" * 64, "dangling")
    assert store.get_ref(project, "main") == root
    assert len(store.reflog(project, "main")) == 1


def test_a_ref_move_rolls_back_with_its_transaction(store, timeline, project):
    root = timeline.head(project, "main")
    (other,) = make_commits(store, project, 1)
    with pytest.raises(RuntimeError), store.write() as conn:
        assert store.move_ref(conn, project, "main", root, other, "rolled back")
        raise RuntimeError("abort after the move")
    assert store.get_ref(project, "main") == root
    assert len(store.reflog(project, "main")) == 1


def test_reflog_is_append_only_and_equals_the_successful_moves(store, timeline, project):
    rng = random.Random(7)
    commits = make_commits(store, project, 12)
    heads = dict(store.refs(project))
    expected = [("main", None, heads["main"])]
    snapshot = None
    for step in range(200):
        name = rng.choice(["main", "feature", "draft"])
        new = rng.choice(commits)
        # Half the time pass the real head, otherwise a guess that may be stale or None.
        guess = heads.get(name) if rng.random() < 0.5 else rng.choice([None, *commits])
        moved = store.move_branch(project, name, guess, new, f"step {step}")
        assert moved == (guess == heads.get(name)), (name, guess, heads.get(name))
        if moved:
            expected.append((name, guess, new))
            heads[name] = new
        if step == 100:
            snapshot = store.reflog(project)
    rows = store.reflog(project)
    assert [(r["ref"], r["old"], r["new"]) for r in rows] == expected
    assert rows[: len(snapshot)] == snapshot, "earlier reflog rows never change"
    assert [r["id"] for r in rows] == sorted(r["id"] for r in rows)
    assert store.refs(project) == heads
    for name in heads:
        mine = store.reflog(project, name)
        assert mine[0]["old"] is None
        assert all(a["new"] == b["old"] for a, b in zip(mine, mine[1:], strict=False))
        assert mine[-1]["new"] == heads[name]


# --------------------------------------------------------------------------- fsck


@pytest.fixture
def history(store, timeline, project):
    """A small sound history: three commits on main, a branch, and one media file."""
    timeline.commit(project, "main", {"scene/sc-1": scene_doc("sc-1")}, "add scene one")
    timeline.commit(project, "main", {"scene/sc-2": scene_doc("sc-2")}, "add scene two")
    timeline.create_branch(project, "alt", "main")
    timeline.commit(project, "alt", {"scene/sc-1": scene_doc("sc-1", "EXT. ALT")}, "alt scene one")
    media_id = store.put_media(b"frame bytes", "image/png")
    assert store.fsck() == []
    assert store.integrity_check() == "ok"
    return {"media": media_id, "head": timeline.head(project, "main")}


def test_fsck_is_clean_on_a_sound_store(store, history):
    assert store.fsck() == []
    ensure_ok(store.fsck())


def test_fsck_catches_a_tampered_object(store, timeline, project, history):
    entries = timeline.read_tree(store.get_commit(history["head"]).tree)
    victim = entries["scene/sc-2"]
    with raw_connect(store) as conn:
        conn.execute(
            "UPDATE objects SET data = ? WHERE id = ?",
            (canonical_json({"scene": {"id": "sc-2", "heading": "TAMPERED"}}), victim),
        )
    problems = store.fsck()
    assert problems == [f"object {victim[:12]} does not match its hash"]
    with pytest.raises(Corrupt, match="does not match its hash"):
        ensure_ok(problems)


def test_fsck_catches_a_tampered_commit(store, history):
    with raw_connect(store) as conn:
        conn.execute("UPDATE commits SET message = 'rewritten' WHERE id = ?", (history["head"],))
    assert store.fsck() == [f"commit {history['head'][:12]} does not match its hash"]


def test_fsck_catches_a_commit_with_a_missing_parent(store, project, history):
    commits, parents = parents_of(store, project)
    root = dag.first_parent_chain(history["head"], parents)[-1]
    child = next(c for c in commits if commits[c].parents == (root,))
    with raw_connect(store) as conn:
        conn.execute("DELETE FROM commits WHERE id = ?", (root,))
    assert store.fsck() == [f"commit {child[:12]} -> missing parent {root[:12]}"]


def test_fsck_catches_a_commit_with_a_missing_tree(store, history):
    tree = store.get_commit(history["head"]).tree
    with raw_connect(store) as conn:
        conn.execute("DELETE FROM objects WHERE id = ?", (tree,))
    assert store.fsck() == [f"commit {history['head'][:12]} -> missing tree {tree[:12]}"]


def test_fsck_catches_a_ref_to_a_missing_commit(store, project, history):
    with raw_connect(store) as conn:
        conn.execute("UPDATE refs SET commit_id = ? WHERE name = 'alt'", ("e" * 64,))
    assert store.fsck() == [f"branch alt of {project} -> missing commit {'e' * 12}"]


def test_fsck_catches_a_tree_entry_to_a_missing_object(store, timeline, history):
    entries = timeline.read_tree(store.get_commit(history["head"]).tree)
    victim = entries["scene/sc-2"]
    with raw_connect(store) as conn:
        conn.execute("DELETE FROM objects WHERE id = ?", (victim,))
    problems = store.fsck()
    assert problems
    assert all(f"entry scene/sc-2 -> missing object {victim[:12]}" in p for p in problems)


def test_fsck_catches_a_missing_media_file(store, history):
    store.media_path(history["media"]).unlink()
    assert store.fsck() == [f"media {history['media'][:12]} is indexed but its file is missing"]


def test_fsck_catches_a_corrupted_media_file(store, history):
    store.media_path(history["media"]).write_bytes(b"bit rot")
    assert store.fsck() == [f"media {history['media'][:12]} does not match its hash"]


def test_fsck_reports_every_problem_at_once(store, project, history):
    with raw_connect(store) as conn:
        conn.execute("UPDATE refs SET commit_id = ? WHERE name = 'alt'", ("e" * 64,))
    store.media_path(history["media"]).unlink()
    assert len(store.fsck()) == 2


HEX_IDS = st.text("0123456789abcdef", min_size=64, max_size=64)


@settings(max_examples=200, deadline=None)
@given(st.lists(HEX_IDS | st.text(max_size=70), max_size=3))
def test_parse_parents_reads_what_json_reads(parents):
    for raw in (json.dumps(parents), json.dumps(parents, ensure_ascii=False)):
        assert parse_parents(raw) == tuple(json.loads(raw))


def test_parse_parents_falls_back_to_json_for_lookalikes():
    # 68 characters shaped like one id, but holding two strings or an escape.
    two = json.dumps(["a" * 30, "b" * 30])
    assert len(two) == 68 and parse_parents(two) == ("a" * 30, "b" * 30)
    escaped = json.dumps(["\\" + "c" * 62])
    assert len(escaped) == 68 and parse_parents(escaped) == ("\\" + "c" * 62,)
    with pytest.raises(ValueError):
        parse_parents('["' + "d" * 63)


def test_commit_graph_rows_equal_the_stored_commits(store, timeline, project):
    root = timeline.head(project, "main")
    with store.write() as conn:
        side = store.insert_commit(conn, project, store.get_commit(root).tree, [root], "side")
        merge = store.insert_commit(conn, project, side.tree, [root, side.id], "merge", "merge")
    graph = store.commit_graph(project)
    assert set(graph) == {root, side.id, merge.id}
    assert graph[merge.id][1] == (root, side.id) and graph[root][1] == ()
    rows = commit_rows(project, graph.values())
    assert rows == [store.get_commit(c) for c in graph]
    assert rows[0] == CommitRow(*[getattr(rows[0], f) for f in CommitRow.__dataclass_fields__])
    assert store.project_commits(project) == {c: store.get_commit(c) for c in graph}
    with pytest.raises(FrozenInstanceError):
        rows[0].message = "rewritten"  # type: ignore[misc]
    assert hash(rows[0]) == hash(store.get_commit(rows[0].id))
    assert pickle.loads(pickle.dumps(rows[0])) == rows[0]  # Streamlit's cache_data pickles


def test_commit_ids_hash_their_content(store, project):
    with store.write() as conn:
        tree = store.put_object(conn, "tree", {"entries": {}})
        row = store.insert_commit(conn, project, tree, [], "hello world", "edit")
    payload = CommitRow.hash_payload(project, tree, [], "hello world", "edit", row.created_at)
    assert row.id == sha256_hex(payload)
    assert store.get_commit(row.id) == row
    assert store.find_commits(project, row.id[:6]) == [row.id]


# --------------------------------------------------------------------------- many processes

# A worker process: its own Store + Timeline on the shared file, N read-modify-write updates
# on main. Each update bumps the worker's own scene counter and one counter all workers
# share; a lost update would show up as a count below 250 / 1000.
CAS_WORKER = r"""
import json, sys
from pathlib import Path
from studio.model import Scene, SceneDoc
from studio.store import Store
from studio.timeline import Timeline

db, media, worker, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
timeline = Timeline(Store(Path(db), Path(media)))
mine, shared = f"sc-w{worker}", "sc-shared"
computed = 0

def bump(state):
    global computed
    computed += 1
    def doc(scene_id):
        old = state.scenes.get(scene_id)
        n = int(old.scene.heading.split()[1]) + 1 if old else 1
        return SceneDoc(scene=Scene(id=scene_id, heading=f"COUNT {n}"))
    return {"scene/" + mine: doc(mine), "scene/" + shared: doc(shared)}

print("ready", flush=True)
sys.stdin.readline()
commits, errors = [], []
for i in range(count):
    try:
        commit = timeline.update("p", "main", bump, f"worker {worker} update {i}",
                                 keys=["scene/" + mine, "scene/" + shared])
        commits.append(commit.id)
    except Exception as exc:
        errors.append(repr(exc))
print(json.dumps({"commits": commits, "errors": errors, "computed": computed}), flush=True)
"""


@pytest.mark.slow
def test_four_processes_commit_1000_times_through_cas(store, timeline, project):
    workers, per_worker = 4, 250
    root = timeline.head(project, "main")
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CAS_WORKER, str(store.db_path), str(store.media_dir),
             str(w), str(per_worker)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, cwd=REPO,
        )
        for w in range(workers)
    ]
    try:
        for proc in procs:
            assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
        for proc in procs:  # start them together so they really race
            proc.stdin.write("go\n")
            proc.stdin.flush()
        results = []
        for proc in procs:
            out, err = proc.communicate(timeout=300)
            assert proc.returncode == 0, err
            results.append(json.loads(out))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    assert [r["errors"] for r in results] == [[]] * workers
    assert [len(r["commits"]) for r in results] == [per_worker] * workers
    retries = sum(r["computed"] for r in results) - workers * per_worker
    assert retries >= 0

    head = timeline.head(project, "main")
    commits, parents = parents_of(store, project)
    chain = dag.first_parent_chain(head, parents)
    assert len(chain) == 1 + workers * per_worker
    assert chain[-1] == root
    assert all(len(commits[c].parents) == 1 for c in chain[:-1]), "history is linear"
    assert set(commits) == set(chain), "lost races left no stray commits behind"
    acknowledged = [c for r in results for c in r["commits"]]
    assert set(acknowledged) == set(chain[:-1])
    position = {c: i for i, c in enumerate(reversed(chain))}
    for r in results:  # each worker's commits sit on the chain in the order it made them
        assert [position[c] for c in r["commits"]] == sorted(position[c] for c in r["commits"])

    state = timeline.load_state(head)
    assert count_of(state.scenes.get("sc-shared")) == workers * per_worker
    assert [count_of(state.scenes.get(f"sc-w{w}")) for w in range(workers)] == [per_worker] * workers

    reflog = store.reflog(project, "main")
    assert len(reflog) == 1 + workers * per_worker  # the creation + one per successful move
    assert reflog[0]["old"] is None
    assert all(a["new"] == b["old"] for a, b in zip(reflog, reflog[1:], strict=False))
    assert [r["new"] for r in reflog] == list(reversed(chain))
    assert store.integrity_check() == "ok"
    assert store.fsck() == []


# A zygote: imports once, then forks one committing child per round on request, so each of
# the 100 rounds costs a fork rather than a Python start-up. It never opens the database
# itself (an SQLite connection must not cross a fork). Each child commits forever and
# appends a commit id to the ack file only after `update` returned; the test kills it.
KILL_ZYGOTE = r"""
import os, sys, traceback
from pathlib import Path
from studio.model import Scene, SceneDoc
from studio.store import Store
from studio.timeline import Timeline

db, media, acks = sys.argv[1], sys.argv[2], sys.argv[3]

def commit_forever(round_no):
    timeline = Timeline(Store(Path(db), Path(media)))
    ack = os.open(acks, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    n = 0
    while True:
        n += 1
        def bump(state):
            old = state.scenes.get("sc-counter")
            count = int(old.scene.heading.split()[1]) + 1 if old else 1
            return {
                "scene/sc-counter": SceneDoc(scene=Scene(id="sc-counter", heading=f"COUNT {count}")),
                f"scene/sc-r{round_no}": SceneDoc(scene=Scene(id=f"sc-r{round_no}", heading=f"ROUND {n}")),
            }
        commit = timeline.update("p", "main", bump, f"round {round_no} commit {n}",
                                 keys=["scene/sc-counter"])
        os.write(ack, (commit.id + "\n").encode())

while line := sys.stdin.readline():
    command, round_no = line.split()
    pid = os.fork()
    if pid == 0:
        try:
            commit_forever(int(round_no))
        except BaseException:
            traceback.print_exc()
        os._exit(70)
    print(pid, flush=True)
    sys.stdin.readline()  # "reap": the test has sent its SIGKILL
    print(os.waitpid(pid, 0)[1], flush=True)
"""


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork and SIGKILL")
def test_sigkill_while_committing_never_loses_acknowledged_commits(
    tmp_path, open_store, store, timeline, project
):
    rounds = 100
    rng = random.Random(20240521)
    acks = tmp_path / "acks.txt"
    acks.touch()
    root = timeline.head(project, "main")
    err_path = tmp_path / "zygote.err"
    stderr = err_path.open("w")
    zygote = subprocess.Popen(
        [sys.executable, "-c", KILL_ZYGOTE, str(store.db_path), str(store.media_dir), str(acks)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, text=True, cwd=REPO,
    )

    def reply() -> int:
        line = zygote.stdout.readline()
        assert line.strip(), f"the zygote died: {err_path.read_text()}"
        return int(line)

    try:
        for round_no in range(rounds):
            zygote.stdin.write(f"fork {round_no}\n")
            zygote.stdin.flush()
            pid = reply()
            time.sleep(rng.uniform(0.005, 0.080))
            os.kill(pid, signal.SIGKILL)
            zygote.stdin.write("reap\n")
            zygote.stdin.flush()
            status = reply()
            assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, (
                f"round {round_no}: the child died on its own ({status}): "
                + err_path.read_text()
            )
        zygote.stdin.close()
        assert zygote.wait(timeout=30) == 0
    finally:
        if zygote.poll() is None:
            zygote.kill()
            zygote.wait()
        zygote.stdout.close()
        stderr.close()

    acknowledged = acks.read_text().splitlines()
    assert len(acknowledged) > 0
    assert all(HEX64.match(c) for c in acknowledged), "ack lines are whole commit ids"
    assert len(set(acknowledged)) == len(acknowledged)

    check = open_store()  # a fresh connection, as after a restart
    assert check.integrity_check() == "ok"
    assert check.fsck() == []
    head = check.get_ref(project, "main")
    commits, parents = parents_of(check, project)
    chain = dag.first_parent_chain(head, parents)
    assert chain[-1] == root
    assert all(len(commits[c].parents) == 1 for c in chain[:-1]), "history is linear"
    assert set(commits) == set(chain), "no commit row outlived its killed transaction"
    on_chain, acked = set(chain), set(acknowledged)
    assert [c for c in acknowledged if c not in on_chain] == []
    # Acks come in commit order; at most one commit per round was made but not acked.
    newest_first = [c for c in chain if c in acked]
    assert list(reversed(newest_first)) == acknowledged
    assert len(chain) - 1 - len(acknowledged) <= rounds
    # Every commit bumped the counter by one: no update was lost or applied twice.
    state = Timeline(check).load_state(head)
    assert count_of(state.scenes.get("sc-counter")) == len(chain) - 1
    reflog = check.reflog(project, "main")
    assert [r["new"] for r in reflog] == list(reversed(chain))



# --------------------------------------------------------------------------- disk full, read-only


def _fill_to_the_brim(store: Store) -> None:
    """Let the database file grow no further on this connection: SQLite itself then answers
    SQLITE_FULL ('database or disk is full') to a write that needs a new page, exactly as it
    does on a full disk."""
    pages = store.conn.execute("PRAGMA page_count").fetchone()[0]
    assert store.conn.execute(f"PRAGMA max_page_count = {pages}").fetchone()[0] == pages


def test_a_full_disk_is_one_typed_error_and_nothing_is_written(store, timeline, project):
    from studio.errors import DiskFull

    head = timeline.head(project, "main")
    commits = count_rows(store, "commits")
    _fill_to_the_brim(store)
    big = {f"scene/sc-{n}": scene_doc(f"sc-{n}", "INT. " + "ROOM " * 400 + "- DAY") for n in range(40)}
    with pytest.raises(DiskFull) as caught:
        timeline.commit(project, "main", big, "Forty big scenes")
    message = str(caught.value)
    assert message == f"the disk is full: free space in {store.db_path.parent} and retry; nothing was saved"
    assert isinstance(caught.value.__cause__, sqlite3.OperationalError)
    assert caught.value.__cause__.sqlite_errorcode == sqlite3.SQLITE_FULL, "the original error survives"
    assert not store.conn.in_transaction
    assert timeline.head(project, "main") == head and count_rows(store, "commits") == commits
    # Space again: the same connection writes on.
    store.conn.execute("PRAGMA max_page_count = 1073741823")
    timeline.commit(project, "main", big, "Forty big scenes")
    assert timeline.head(project, "main") != head
    assert store.fsck() == []


def test_a_full_disk_during_commit_is_a_disk_full_error(tmp_path):
    from studio.errors import DiskFull

    sql = SqliteFile(tmp_path / "t.db", name="t", error=StudioError)
    sql.migrate("m", [["CREATE TABLE t (x BLOB)"]])
    pages = sql.conn.execute("PRAGMA page_count").fetchone()[0]
    sql.conn.execute(f"PRAGMA max_page_count = {pages}")
    with pytest.raises(DiskFull, match="nothing was saved"), sql.write() as conn:
        conn.execute("INSERT INTO t VALUES (?)", (b"x" * 100_000,))
    assert sql.conn.execute("SELECT COUNT(*) FROM t").fetchone()[0] == 0
    sql.close()


def test_a_read_only_store_reads_and_refuses_writes_with_one_line(open_store, timeline, project, tmp_path):
    from studio.errors import ReadOnly

    writer = timeline.store
    timeline.commit(project, "main", {"scene/sc-1": scene_doc("sc-1")}, "One scene")
    writer.put_media(b"a clip", "video/mp4")
    head = timeline.head(project, "main")
    writer.close()
    before = (tmp_path / "studio.db").read_bytes()

    reader = Store(tmp_path / "studio.db", tmp_path / "media", read_only=True)
    try:
        assert reader.read_only
        read = Timeline(reader)
        assert read.head(project, "main") == head
        assert "scene/sc-1" in read.read_tree(reader.get_commit(head).tree)
        assert reader.fsck() == []
        with pytest.raises(ReadOnly, match="read-only: the studio database can be read but not changed"):
            read.commit(project, "main", {"scene/sc-2": scene_doc("sc-2")}, "Another")
        with pytest.raises(ReadOnly):
            reader.put_media(b"new bytes")
    finally:
        reader.close()
    assert (tmp_path / "studio.db").read_bytes() == before, "reading changed nothing"


def test_a_read_only_file_that_needs_migrating_is_not_migrated(tmp_path):
    one = [["CREATE TABLE a (x)"]]
    first = SqliteFile(tmp_path / "t.db", name="t", error=StudioError)
    first.migrate("m", one)
    first.close()
    reader = SqliteFile(tmp_path / "t.db", name="t", error=StudioError, read_only=True)
    assert reader.migrate("m", one) == 1
    with pytest.raises(StudioError, match="needs an upgrade, but the folder is read-only"):
        reader.migrate("m", [*one, ["CREATE TABLE b (y)"]])
    reader.close()
    check = sqlite3.connect(tmp_path / "t.db")
    assert [r[0] for r in check.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")] == ["a", "m"]
    check.close()


def test_an_unwritable_database_opens_read_only_by_itself(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root writes whatever the permissions say (tests/test_cli.py covers it with a read-only mount)")
    first = SqliteFile(tmp_path / "d" / "t.db", name="t", error=StudioError)
    first.migrate("m", [["CREATE TABLE a (x)"]])
    first.close()
    (tmp_path / "d" / "t.db").chmod(0o444)
    (tmp_path / "d").chmod(0o555)
    try:
        reader = SqliteFile(tmp_path / "d" / "t.db", name="t", error=StudioError)
        assert reader.read_only
        assert reader.migrate("m", [["CREATE TABLE a (x)"]]) == 1
        reader.close()
    finally:
        (tmp_path / "d").chmod(0o755)


# --------------------------------------------------------------------------- orphan temp media


def test_orphan_temp_media_older_than_a_minute_are_removed_young_ones_kept(store):
    media_id = store.put_media(b"kept")
    folder = store.media_path(media_id).parent
    old = folder / ".tmp-crashed"
    old.write_bytes(b"x" * 1000)
    past = time.time() - 120
    os.utime(old, (past, past))
    young = folder / ".tmp-writing"
    young.write_bytes(b"y" * 10)
    listed = store.clean_temp_media(remove=False)
    assert listed.orphans == (old,) and listed.young == (young,) and listed.size == 1000
    assert old.exists(), "remove=False only lists"
    cleaned = store.clean_temp_media()
    assert cleaned.orphans == (old,) and not old.exists()
    assert young.exists(), "a live writer may own it"
    assert store.get_media(media_id) == b"kept"
    assert store.clean_temp_media().orphans == ()
    assert store.fsck() == []


# --------------------------------------------------------------------------- listing summaries


def test_project_heads_and_scene_counts_read_no_state(store, timeline, make_project):
    first = make_project("first")
    second = make_project("second")
    docs = {f"scene/sc-{n}": scene_doc(f"sc-{n}") for n in range(1, 4)}
    commit = timeline.commit(first, "main", docs, "three scenes")
    # Break every scene document of the head: a listing must not need them.
    with raw_connect(store) as conn:
        for doc in docs.values():
            conn.execute("DELETE FROM objects WHERE id = ?", (sha256_hex(canonical_json(doc.model_dump(mode="json"))),))
    with pytest.raises(NotFound):
        Timeline(store).load_state(commit.id)
    heads = {row["id"]: row for row in store.project_heads()}
    assert heads[first]["head"] == commit.id == timeline.head(first, "main")
    assert heads[first]["tree"] == commit.tree and heads[first]["updated_at"] == commit.created_at
    assert heads[second]["active_branch"] == "main"
    counts = store.tree_scene_counts([commit.tree, heads[second]["tree"], "f" * 64], "scene/")
    assert counts == {commit.tree: 3, heads[second]["tree"]: 0}


def test_media_mimes_names_only_media(store):
    png = store.put_media(b"\x89PNG fake", "image/png")
    mp4 = store.put_media(b"fake mp4", "video/mp4")
    assert store.media_mimes([png, mp4, "0" * 64, png]) == {png: "image/png", mp4: "video/mp4"}
