"""Shared fixtures: a real Store on a tmp SQLite file, its Timeline, and one project."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from dag import make_dag as build_dag

from studio.model import ProjectState
from studio.store import Store
from studio.timeline import Timeline


@pytest.fixture
def open_store(tmp_path: Path) -> Iterator[Callable[[], Store]]:
    """Open a Store on ``tmp_path/studio.db`` + ``tmp_path/media``; each call opens another
    one on the same files (a second process, a restart). All are closed at teardown."""
    opened: list[Store] = []

    def open_one() -> Store:
        store = Store(tmp_path / "studio.db", tmp_path / "media")
        opened.append(store)
        return store

    yield open_one
    for store in opened:
        store.close()


@pytest.fixture
def store(open_store: Callable[[], Store]) -> Store:
    return open_store()


@pytest.fixture
def timeline(store: Store) -> Timeline:
    return Timeline(store)


@pytest.fixture
def make_project(store: Store, timeline: Timeline) -> Callable[..., str]:
    """Create a project with its root commit on ``main``: ``make_project("q", state)`` -> id."""

    def make(project_id: str = "p", state: ProjectState | None = None) -> str:
        with store.write() as conn:
            store.insert_project(conn, project_id, project_id.upper())
            timeline.create_root(conn, project_id, state or ProjectState())
        return project_id

    return make


@pytest.fixture
def project(make_project: Callable[..., str]) -> str:
    return make_project()


@pytest.fixture
def make_dag():
    """The ``[[1], [2, 1], [3, 1, 2]]`` DAG builder (also importable: ``from dag import make_dag``)."""
    return build_dag



@pytest.fixture(autouse=True)
def _isolated_main_and_home(request):
    """Keep tests from leaking into each other or the repository.

    AppTest runs streamlit_app.py as ``__main__`` and leaves it in ``sys.modules``; a
    later ``multiprocessing`` spawn would re-run the app in its children (building a
    Studio on the default data dir and starting a render worker). Restore ``__main__``
    after every test, and fail any test that writes the default ``./studio_data``.
    """
    import sys
    from pathlib import Path

    main = sys.modules.get("__main__")
    yield
    if main is not None:
        sys.modules["__main__"] = main
    default_home = Path(__file__).resolve().parents[1] / "studio_data"
    if default_home.exists():
        raise AssertionError(f"{request.node.nodeid} wrote the default data dir {default_home}")
