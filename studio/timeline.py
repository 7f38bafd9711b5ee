"""Story Timelines: git-style history of project states over the store.

A project state is a tree object ``{"entries": {key: object_id}}`` with one entry per stage
document (``input``, ``treatment``, ``beats``, ``script``, ``assets``) and one per scene
(``scene/<id>``). A commit that changes one scene writes that scene's object, one tree and
one commit. Branch heads move only by compare-and-swap; a lost race re-reads the head and
re-applies the change (optimistic concurrency, like ``git update-ref`` with an old value).
"""

from __future__ import annotations

import random
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from studio import graph as dag
from studio.errors import BadInput, BranchMoved, BranchRequired, Conflict, Corrupt, NotFound
from studio.model import (
    AssetsDoc,
    BeatSheet,
    InputDoc,
    ProjectState,
    SceneDoc,
    Script,
    Stage,
    Treatment,
)
from studio.objects import document_data
from studio.pipeline import needs_new_branch
from studio.store import CommitRow, Store, commit_rows

DOCUMENT_TYPES: dict[str, type[BaseModel]] = {
    "input": InputDoc,
    "treatment": Treatment,
    "beats": BeatSheet,
    "script": Script,
    "assets": AssetsDoc,
}
SCENE_PREFIX = "scene/"
MAX_CAS_ATTEMPTS = 64

_BRANCH_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")

Changes = Mapping[str, BaseModel | None]


def scene_key(scene_id: str) -> str:
    return SCENE_PREFIX + scene_id


def document_type(key: str) -> type[BaseModel]:
    if key.startswith(SCENE_PREFIX):
        return SceneDoc
    try:
        return DOCUMENT_TYPES[key]
    except KeyError:
        raise NotFound(f"unknown document {key!r}") from None


def state_documents(state: ProjectState) -> dict[str, BaseModel]:
    """A state as tree entries (the inverse of :meth:`Timeline.load_state`)."""
    docs: dict[str, BaseModel] = {
        "input": state.input,
        "treatment": state.treatment,
        "beats": state.beats,
        "assets": state.assets,
    }
    if state.script is not None:
        docs["script"] = state.script
    for scene_id, doc in state.scenes.items():
        docs[scene_key(scene_id)] = doc
    return docs


def diff_states(before: ProjectState, after: ProjectState) -> dict[str, BaseModel | None]:
    """Only the documents that differ (None = removed): what a commit has to write."""
    old, new = state_documents(before), state_documents(after)
    changes: dict[str, BaseModel | None] = {k: v for k, v in new.items() if old.get(k) != v}
    changes.update({k: None for k in old if k not in new})
    return changes


def check_branch_name(name: str) -> str:
    if not _BRANCH_RE.match(name or "") or ".." in name:
        raise BadInput(
            f"branch name {name!r} is not allowed: use 1-63 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name


@dataclass(frozen=True)
class VaultEntry:
    """An artifact a commit produced, for the Artifact Vault index.

    ``key`` names the tree entry whose new object is the artifact; ``object_id`` overrides it
    (a media file's hash, for instance).
    """

    stage: Stage
    kind: str
    label: str
    key: str | None = None
    scene_id: str | None = None
    object_id: str | None = None
    cost_gpu_s: float = 0.0


@dataclass(frozen=True)
class SwitchResult:
    branch: str
    commit: str
    forked: bool


@dataclass(frozen=True)
class GraphNode:
    id: str
    short: str
    message: str
    action: str
    created_at: str
    row: int
    lane: int
    parents: tuple[str, ...]
    branches: tuple[str, ...]


@dataclass(frozen=True)
class GraphData:
    """What the Version History page draws: placed nodes, parent edges, branch heads."""

    nodes: tuple[GraphNode, ...]
    edges: tuple[tuple[str, str], ...]
    heads: Mapping[str, str]
    active_branch: str
    truncated: bool


class _Retry(Exception):
    """Internal: the CAS lost a race; re-read and try again."""


class Timeline:
    """Commit / branch / switch / log / graph for every project in a store."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._models: dict[str, BaseModel] = {}
        self._models_lock = threading.Lock()
        # The last few states loaded, by commit id: a commit never changes, and every page
        # run loads the head state several times (sidebar, gates, the page itself).
        self._states: dict[str, ProjectState] = {}

    # ------------------------------------------------------------------ reading

    def read_tree(self, tree_id: str) -> dict[str, str]:
        data = self.store.get_object(tree_id)
        try:
            return dict(data["entries"])
        except (KeyError, TypeError) as exc:
            raise Corrupt(f"object {tree_id[:12]} is not a tree") from exc

    def read_document(self, object_id: str, key: str) -> BaseModel:
        """Decode one stored document (cached by id: documents are immutable)."""
        return self.read_documents({key: object_id})[key]

    def read_documents(self, entries: Mapping[str, str]) -> dict[str, BaseModel]:
        """Decode the documents of tree ``entries`` (key -> object id): the ones not cached
        are read in one query and parsed straight from their JSON bytes by pydantic, with no
        ``json.loads`` dicts in between (the cold cost of loading a state)."""
        models = self._models
        found: dict[str, BaseModel] = {}
        missing: dict[str, str] = {}
        for key, object_id in entries.items():
            cached = models.get(object_id)
            if cached is None:
                missing[key] = object_id
            else:
                found[key] = cached
        if not missing:
            return found
        raw = self.store.object_bytes(set(missing.values()))
        decoded: dict[str, BaseModel] = {}
        for key, object_id in missing.items():
            model = decoded.get(object_id)
            if model is None:
                data = raw.get(object_id)
                if data is None:
                    raise NotFound(
                        f"object {object_id[:12]} is missing from the store (run `studio doctor`)"
                    )
                try:
                    model = document_type(key).model_validate_json(data)
                except ValidationError as exc:
                    raise Corrupt(
                        f"stored {key} document {object_id[:12]} is invalid: {exc}"
                    ) from exc
                decoded[object_id] = model
            found[key] = model
        with self._models_lock:
            if len(models) + len(decoded) > 20_000:
                models.clear()
            models.update(decoded)
        return {key: found[key] for key in entries}

    def head(self, project_id: str, branch: str) -> str:
        commit = self.store.get_ref(project_id, branch)
        if commit is None:
            raise NotFound(f"no branch {branch!r} in this project: `studio log` lists branches")
        return commit

    def load_documents(self, commit_id: str, keys: Iterable[str]) -> dict[str, BaseModel | None]:
        """Only the named documents of a commit (None where the tree has no such entry)."""
        entries = self.read_tree(self.store.get_commit(commit_id).tree)
        docs = self.read_documents({k: entries[k] for k in keys if k in entries})
        return {k: docs.get(k) for k in keys}

    def load_state(self, commit_id: str) -> ProjectState:
        """The state a commit holds (one frozen object per commit, the last 8 kept)."""
        cached = self._states.get(commit_id)
        if cached is not None:
            return cached
        state = self._load_state(commit_id)
        with self._models_lock:
            if len(self._states) >= 8:
                self._states.pop(next(iter(self._states)))
            self._states[commit_id] = state
        return state

    def _load_state(self, commit_id: str) -> ProjectState:
        entries = self.read_tree(self.store.get_commit(commit_id).tree)
        values: dict[str, Any] = {}
        scenes: dict[str, SceneDoc] = {}
        for key, doc in self.read_documents(entries).items():
            if key.startswith(SCENE_PREFIX):
                scenes[key[len(SCENE_PREFIX) :]] = doc  # type: ignore[assignment]
            else:
                values[key] = doc
        return ProjectState(**values, scenes=scenes)

    # ------------------------------------------------------------------ writing

    def _write_commit(
        self,
        conn: sqlite3.Connection,
        project_id: str,
        branch: str,
        head: str | None,
        base_entries: Mapping[str, str],
        changes: Changes,
        message: str,
        action: str,
        vault: Sequence[VaultEntry],
        parents: Sequence[str] | None = None,
    ) -> CommitRow:
        entries = dict(base_entries)
        for key, doc in changes.items():
            if doc is None:
                entries.pop(key, None)
            else:
                document_type(key)  # rejects unknown keys
                entries[key] = self.store.put_object(conn, "doc", document_data(doc))
        tree_id = self.store.put_object(conn, "tree", {"entries": entries})
        commit_parents = list(parents) if parents is not None else ([head] if head else [])
        commit = self.store.insert_commit(conn, project_id, tree_id, commit_parents, message, action)
        reflog_message = f"{action or 'commit'}: {message}"[:200]
        if not self.store.move_ref(conn, project_id, branch, head, commit.id, reflog_message):
            raise _Retry
        if vault:
            rows = []
            for entry in vault:
                object_id = entry.object_id or (entries.get(entry.key) if entry.key else None)
                if object_id is None:
                    continue
                rows.append(
                    {
                        "project_id": project_id,
                        "branch": branch,
                        "stage": int(entry.stage),
                        "scene_id": entry.scene_id,
                        "kind": entry.kind,
                        "label": entry.label,
                        "object_id": object_id,
                        "commit_id": commit.id,
                        "cost_gpu_s": entry.cost_gpu_s,
                    }
                )
            self.store.add_artifacts(conn, rows)
        return commit

    def update(
        self,
        project_id: str,
        branch: str,
        compute: Callable[[ProjectState], Changes],
        message: str,
        *,
        action: str = "",
        keys: Sequence[str] | None = None,
        expected_head: str | None = None,
        vault: Sequence[VaultEntry] | Callable[[ProjectState], Sequence[VaultEntry]] = (),
    ) -> CommitRow:
        """Commit the changes ``compute`` derives from the branch head, retrying lost races.

        With ``keys`` only those documents are loaded and ``compute`` gets a state holding
        just them (fast path for one-scene edits). ``expected_head`` turns a lost race into
        :class:`BranchMoved` instead of a retry (the UI edited a view that is now stale).
        """
        if not message or not message.strip():
            raise BadInput("a commit needs a message")
        for attempt in range(MAX_CAS_ATTEMPTS):
            head = self.head(project_id, branch)
            if expected_head is not None and head != expected_head:
                raise BranchMoved(
                    f"branch {branch!r} moved since you loaded it; reload and apply your edit again"
                )
            entries = self.read_tree(self.store.get_commit(head).tree)
            if keys is None:
                state = self.load_state(head)
            else:
                state = self._partial_state(entries, keys)
            reason = needs_new_branch(state, action)
            if reason:
                raise BranchRequired(reason)
            changes = compute(state)
            entries_vault = vault(state) if callable(vault) else vault
            try:
                with self.store.write() as conn:
                    return self._write_commit(
                        conn, project_id, branch, head, entries, changes, message, action, entries_vault
                    )
            except _Retry:
                # Back off a little, with jitter, so racing writers spread out.
                time.sleep(random.uniform(0, 0.002 * (attempt + 1)))
        raise BranchMoved(
            f"branch {branch!r} kept moving; {MAX_CAS_ATTEMPTS} attempts lost the race, try again"
        )

    def _partial_state(self, entries: Mapping[str, str], keys: Sequence[str]) -> ProjectState:
        values: dict[str, Any] = {}
        scenes: dict[str, SceneDoc] = {}
        for key, doc in self.read_documents({k: entries[k] for k in keys if k in entries}).items():
            if key.startswith(SCENE_PREFIX):
                scenes[key[len(SCENE_PREFIX) :]] = doc  # type: ignore[assignment]
            else:
                values[key] = doc
        return ProjectState(**values, scenes=scenes)

    def commit(
        self,
        project_id: str,
        branch: str,
        changes: Changes,
        message: str,
        *,
        action: str = "",
        expected_head: str | None = None,
        vault: Sequence[VaultEntry] = (),
    ) -> CommitRow:
        """Commit fixed document changes on top of the branch head."""
        keys = [k for k in changes] if not action else None
        return self.update(
            project_id,
            branch,
            lambda _state: changes,
            message,
            action=action,
            keys=keys,
            expected_head=expected_head,
            vault=vault,
        )

    def commit_on_new_branch(
        self,
        project_id: str,
        from_branch: str,
        new_branch: str,
        compute: Callable[[ProjectState], Changes],
        message: str,
        *,
        action: str = "",
        vault: Sequence[VaultEntry] = (),
    ) -> CommitRow:
        """Fork ``new_branch`` at ``from_branch``'s head and commit there (mandatory branch)."""
        check_branch_name(new_branch)
        head = self.head(project_id, from_branch)
        state = self.load_state(head)
        entries = self.read_tree(self.store.get_commit(head).tree)
        changes = compute(state)
        with self.store.write() as conn:
            if not self.store.move_ref(
                conn, project_id, new_branch, None, head, f"branch: from {from_branch}"
            ):
                raise Conflict(f"branch {new_branch!r} already exists")
            return self._write_commit(
                conn, project_id, new_branch, head, entries, changes, message, action, vault
            )

    def commit_in(
        self,
        conn: sqlite3.Connection,
        project_id: str,
        branch: str,
        head: CommitRow,
        changes: Changes,
        message: str,
        *,
        action: str = "",
        vault: Sequence[VaultEntry] = (),
    ) -> CommitRow:
        """Commit ``changes`` on top of ``head`` inside the caller's write transaction, so
        several commits land together or not at all (a new project with its imported
        script). Compute the changes before the transaction opens: it holds the write lock.
        The branch must still be at ``head``."""
        entries = self.read_tree(head.tree)
        try:
            return self._write_commit(
                conn, project_id, branch, head.id, entries, changes, message, action, vault
            )
        except _Retry:
            raise BranchMoved(f"branch {branch!r} moved during the write; try again") from None

    def create_root(self, conn: sqlite3.Connection, project_id: str, state: ProjectState) -> CommitRow:
        """The first commit of a new project (inside the creating transaction)."""
        return self._write_commit(
            conn, project_id, "main", None, {}, state_documents(state), "Create project", "create", ()
        )

    # ------------------------------------------------------------------ branches

    def resolve(self, project_id: str, ref: str) -> str:
        """A branch name, a full commit id or a unique prefix (≥ 4 chars) -> commit id."""
        commit = self.store.get_ref(project_id, ref)
        if commit is not None:
            return commit
        if re.fullmatch(r"[0-9a-f]{4,64}", ref):
            found = self.store.find_commits(project_id, ref)
            if len(found) == 1:
                return found[0]
            if len(found) > 1:
                raise BadInput(f"commit prefix {ref!r} is ambiguous: give more characters")
        raise NotFound(f"no branch or commit {ref!r} in this project")

    def create_branch(self, project_id: str, name: str, from_ref: str) -> str:
        """Branch off any commit (or another branch's head); returns the commit id."""
        check_branch_name(name)
        commit = self.resolve(project_id, from_ref)
        if not self.store.move_branch(project_id, name, None, commit, f"branch: from {from_ref}"):
            raise Conflict(f"branch {name!r} already exists")
        return commit

    def switch(self, project_id: str, ref: str) -> SwitchResult:
        """Make ``ref`` active. A branch switches; an old commit forks a new branch there, so
        nothing is ever overwritten."""
        refs = self.store.refs(project_id)
        if ref in refs:
            self.store.set_active_branch(project_id, ref)
            return SwitchResult(ref, refs[ref], False)
        commit = self.resolve(project_id, ref)
        for name, head in refs.items():
            if head == commit:
                self.store.set_active_branch(project_id, name)
                return SwitchResult(name, commit, False)
        base = f"fork-{commit[:7]}"
        for n in range(1, 1000):
            name = base if n == 1 else f"{base}-{n}"
            if name in refs:
                continue
            if self.store.move_branch(project_id, name, None, commit, f"fork: switch to {commit[:12]}"):
                self.store.set_active_branch(project_id, name)
                return SwitchResult(name, commit, True)
        raise Conflict(f"could not find a free branch name for a fork at {commit[:12]}")

    # ------------------------------------------------------------------ history

    def log(self, project_id: str, ref: str, limit: int | None = None) -> list[CommitRow]:
        """Commits reachable from ``ref``, newest first (children before parents)."""
        head = self.resolve(project_id, ref)
        # Walk the parents of the raw rows; build CommitRows only for the commits listed.
        commits = self.store.commit_graph(project_id)

        def parents(c: str) -> Sequence[str]:
            return commits[c][1]

        order = dag.topo_order([head], parents)
        if limit is not None:
            order = order[:limit]
        return commit_rows(project_id, map(commits.__getitem__, order))

    def graph(self, project_id: str, active_branch: str, limit: int = 200) -> GraphData:
        """Every branch's history, placed in lanes, newest first (at most ``limit`` nodes)."""
        commits = self.store.project_commits(project_id)
        heads = self.store.refs(project_id)

        def parents(c: str) -> Sequence[str]:
            return commits[c].parents if c in commits else ()

        # Newest first by time, children always before parents.
        ordered = dag.topo_order(
            sorted(heads.values(), key=lambda c: commits[c].created_at, reverse=True), parents
        )
        truncated = len(ordered) > limit
        ordered = ordered[:limit]
        shown = set(ordered)
        placed = dag.layout(ordered, lambda c: [p for p in parents(c) if p in shown])
        at: dict[str, list[str]] = {}
        for name, commit in heads.items():
            at.setdefault(commit, []).append(name)
        nodes = tuple(
            GraphNode(
                id=c,
                short=c[:7],
                message=commits[c].message,
                action=commits[c].action,
                created_at=commits[c].created_at,
                row=placed[c].row,
                lane=placed[c].lane,
                parents=commits[c].parents,
                branches=tuple(at.get(c, ())),
            )
            for c in ordered
        )
        edges = tuple((c, p) for c in ordered for p in parents(c) if p in shown)
        return GraphData(nodes, edges, dict(heads), active_branch, truncated)
