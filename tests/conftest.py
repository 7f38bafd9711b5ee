"""Shared fixtures: a real Store on a tmp SQLite file, its Timeline, and one project."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from dag import Dag
from dag import make_dag as build_dag

from studio.model import ProjectState
from studio.store import Store
from studio.timeline import Timeline


def open_store(home: Path) -> Store:
    """A Store laid out the way every test expects: ``studio.db`` and ``media/`` in ``home``."""
    return Store(home / "studio.db", home / "media")


def create_project(store: Store, timeline: Timeline, project_id: str = "p",
                   state: ProjectState | None = None) -> str:
    """Insert a project with its root commit on ``main``; returns its id."""
    with store.write() as conn:
        store.insert_project(conn, project_id, project_id.upper())
        timeline.create_root(conn, project_id, state or ProjectState())
    return project_id


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = open_store(tmp_path)
    yield store
    store.close()


@pytest.fixture
def timeline(store: Store) -> Timeline:
    return Timeline(store)


@pytest.fixture
def project(store: Store, timeline: Timeline) -> str:
    return create_project(store, timeline)


@pytest.fixture
def make_dag():
    """The ``[[1], [2, 1], [3, 1, 2]]`` DAG builder (also importable: ``from dag import make_dag``)."""

    def make(spec) -> Dag:
        return build_dag(spec)

    return make
