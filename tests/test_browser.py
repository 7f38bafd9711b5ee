"""The studio in a real browser: Debian's Chromium driven by playwright against the app served
by ``app_server.py`` (what ``make run`` starts) on 127.0.0.1, as a filmmaker opens it.

The walk: the projects page, open a project whose screenplay carries a note, a boneyard and
a dual-dialogue pair, read it in stage 4, then edit the writer's own Fountain source (the
note and the boneyard are there, not a regenerated copy) and save one line. Screenshots go
to ``tmp_path`` (set ``AIUTEUR_SCREENSHOTS`` to keep them somewhere to look at).

Skipped, saying why, where Chromium or playwright is missing (``make test`` installs both
where it can: the apt package needs root).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from studio.config import Settings
from studio.wiring import build_studio

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

SCRIPT = b"""Title: The Jetty
Credit: written by
Author: A. Writer

EXT. JETTY - DAWN

Grey sea. MARGIT (60s) waits at the end of the jetty. [[Keep the fog low.]]

/* An older opening:
she was already in the water. */

MARGIT
He said he would come.

TOMAS (O.S.)
I'm here.

MARGIT
You're late.

TOMAS ^
I know.

CUT TO:

INT. BOATHOUSE - DAY

Tomas hangs a wet coat on a nail.
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def app_url(tmp_path: Path) -> Iterator[str]:
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed (make install-dev)")
    if not Path(CHROMIUM).is_file():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    home = tmp_path / "home"
    studio = build_studio(Settings(home=home))
    studio.new_project("The Jetty", ("jetty.fountain", SCRIPT))
    studio.store.close()
    port = _free_port()
    env = {**os.environ, "AIUTEUR_HOME": str(home), "AIUTEUR_AUTOSTART_WORKER": "false"}
    server = subprocess.Popen(
        [sys.executable, "app_server.py", "--server.address",
         "127.0.0.1", "--server.port", str(port), "--server.headless", "true"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(OSError):
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).status == 200:
                    break
            if server.poll() is not None or time.monotonic() > deadline:
                out = server.stdout.read().decode(errors="replace") if server.stdout else ""
                pytest.fail(f"the app did not start:\n{out[-2000:]}")
            time.sleep(0.3)
        yield url
    finally:
        server.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.wait(timeout=10)
        if server.poll() is None:
            server.kill()


def _settle(page) -> None:
    """Wait for the Streamlit page to be drawn and its script run to finish."""
    page.wait_for_selector('[data-testid="stApp"]', timeout=30_000)
    page.wait_for_timeout(300)
    page.wait_for_selector('[data-testid="stStatusWidget"]', state="detached", timeout=60_000)
    page.wait_for_timeout(300)


def _shot(page, tmp_path: Path, name: str) -> None:
    target = Path(os.environ.get("AIUTEUR_SCREENSHOTS") or tmp_path)
    target.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(target / f"{name}.png"), full_page=True)


def test_a_filmmaker_opens_a_project_and_edits_the_writers_own_script(app_url: str, tmp_path: Path):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(app_url)
        _settle(page)
        expect(page.get_by_role("heading", name="Projects")).to_be_visible()
        expect(page.get_by_text("The Jetty").first).to_be_visible()
        _shot(page, tmp_path, "1-projects")

        page.locator('[data-testid="stMain"]').get_by_role("button", name="Open").click()
        _settle(page)
        page.get_by_role("link", name="4 · Master script").click()
        _settle(page)
        body = page.locator('[data-testid="stMain"]')
        expect(body.get_by_text("He said he would come.", exact=True)).to_be_visible()
        expect(body.get_by_text("I know.", exact=True)).to_be_visible()  # the right side of the dual pair
        assert "Traceback" not in body.inner_text()
        _shot(page, tmp_path, "2-stage4-read")

        page.get_by_role("tab", name="Edit").click()
        _settle(page)
        source = page.get_by_label("Fountain source")
        text = source.input_value()
        assert "[[Keep the fog low.]]" in text and "/* An older opening:" in text
        assert text.startswith("Title: The Jetty")
        source.fill(text.replace("You're late.", "You're late again."))
        page.get_by_label("Describe your edit").fill("Margit is sharper on the jetty")
        page.get_by_label("Describe your edit").press("Enter")
        page.get_by_role("button", name="Save edit").click()
        _settle(page)
        _shot(page, tmp_path, "3-stage4-saved")
        assert not errors, errors
        browser.close()

    studio = build_studio(Settings(home=tmp_path / "home"))
    project = studio.list_projects()[0]
    saved = studio.script_fountain(project.id)
    assert "You're late again." in saved
    assert saved == SCRIPT.decode().replace("You're late.", "You're late again.")


def test_a_bookmark_and_a_reload_come_back_to_the_same_project_and_scene(app_url: str, tmp_path: Path):
    """A bookmark opened on a fresh server (the first request of its process), then F5 after
    picking another scene: the same page, project and scene each time, no "Page not found"."""
    from playwright.sync_api import expect, sync_playwright

    studio = build_studio(Settings(home=tmp_path / "home"))
    project = studio.list_projects()[0]
    first, second = (doc.scene for doc in studio.state(project.id).ordered_scenes())
    studio.store.close()

    def same_place(page, heading: str) -> None:
        body = page.locator('[data-testid="stMain"]')
        expect(body.get_by_role("heading", name="Stage 7 — Shot list")).to_be_visible()
        expect(page.get_by_text("Page not found")).to_have_count(0)
        expect(body.get_by_text("Pick or create a project")).to_have_count(0)
        expect(body.get_by_text("The Jetty").first).to_be_visible()
        expect(body.get_by_role("combobox", name="Scene")).to_have_value(heading)
        assert "Traceback" not in body.inner_text()

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"{app_url}/stage-7?project={project.id}&branch=main&scene={second.id}")
        _settle(page)
        same_place(page, f"2. {second.heading}")
        _shot(page, tmp_path, "4-stage7-bookmark")

        page.locator('[data-testid="stMain"]').get_by_role("combobox", name="Scene").click()
        page.get_by_role("option", name=f"1. {first.heading}").click()
        _settle(page)
        assert f"scene={first.id}" in page.url and f"project={project.id}" in page.url

        page.reload()  # F5
        _settle(page)
        same_place(page, f"1. {first.heading}")
        _shot(page, tmp_path, "5-stage7-reloaded")
        assert not errors, errors
        browser.close()
