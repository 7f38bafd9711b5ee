"""The notebooks (prompt tuning, QA review) run top to bottom offline on a temporary studio,
executed headless with nbclient in a kernel on this interpreter."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import nbformat
import pytest
from ipykernel.kernelspec import write_kernel_spec
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
NAMES = ("prompt_tuning.ipynb", "qa_review.ipynb")
PNG_RE = re.compile(r"data:image/png;base64,([A-Za-z0-9+/=]+)")


@pytest.mark.parametrize("name", NAMES)
def test_notebooks_are_stored_clean(name):
    """No outputs or execution counts in the repository (they are run, not read)."""
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, cell.source[:60]


@pytest.fixture
def run_notebook(tmp_path, monkeypatch):
    """Execute a notebook with cwd = notebooks/ and AIUTEUR_HOME = a tmp dir; returns the
    executed notebook and the home it used."""
    # A kernelspec named python3 that starts *this* interpreter (the venv's), found before any
    # user-level python3 kernelspec; Jupyter's runtime files and IPython's profile stay in tmp.
    jupyter_path = tmp_path / "jupyter"
    write_kernel_spec(jupyter_path / "kernels" / "python3")
    monkeypatch.setenv("JUPYTER_PATH", str(jupyter_path))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    monkeypatch.setenv("AIUTEUR_AUTOSTART_WORKER", "0")

    def run(name: str) -> tuple[nbformat.NotebookNode, Path]:
        home = tmp_path / f"home-{Path(name).stem}"
        monkeypatch.setenv("AIUTEUR_HOME", str(home))
        before = sorted(p.name for p in NOTEBOOKS.iterdir())
        nb = nbformat.read(NOTEBOOKS / name, as_version=4)
        client = NotebookClient(
            nb,
            kernel_name="python3",
            timeout=300,
            startup_timeout=120,
            resources={"metadata": {"path": str(NOTEBOOKS)}},
        )
        client.execute()  # raises CellExecutionError on the first failing cell
        assert sorted(p.name for p in NOTEBOOKS.iterdir()) == before, "the notebook wrote into notebooks/"
        errors = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
        assert not errors
        assert (home / "studio.db").is_file(), "the notebook did not use AIUTEUR_HOME"
        return nb, home

    return run


def tagged(nb: nbformat.NotebookNode, tag: str) -> nbformat.NotebookNode:
    return next(c for c in nb.cells if tag in c.get("metadata", {}).get("tags", []))


def images(cell: nbformat.NotebookNode) -> list[bytes]:
    html = "".join(o.get("data", {}).get("text/html", "") for o in cell.outputs)
    return [base64.b64decode(b) for b in PNG_RE.findall(html)]


def stream_text(cell: nbformat.NotebookNode) -> str:
    return "".join(o.text for o in cell.outputs if o.output_type == "stream")


@pytest.mark.slow
def test_prompt_tuning_notebook(run_notebook):
    nb, _ = run_notebook("prompt_tuning.ipynb")
    seeds = images(tagged(nb, "seeds"))
    assert len(seeds) == 4 and all(png.startswith(b"\x89PNG") for png in seeds)
    assert len(set(seeds)) == len(seeds), "frames rendered with different seeds are identical"
    variants = images(tagged(nb, "variants"))
    assert len(variants) == 3 and len(set(variants)) >= 2
    sizes = {(int.from_bytes(p[16:20], "big"), int.from_bytes(p[20:24], "big")) for p in images(tagged(nb, "presets"))}
    assert sizes == {(854, 480), (1280, 720)}


@pytest.mark.slow
def test_qa_review_notebook(run_notebook):
    nb, _ = run_notebook("qa_review.ipynb")
    assert re.search(r"^QA verdict: (PASS|WARN|FAIL)$", stream_text(tagged(nb, "verdict")), re.M)
    chart = tagged(nb, "coherence")
    assert any("application/vnd.plotly.v1+json" in o.get("data", {}) for o in chart.outputs)

