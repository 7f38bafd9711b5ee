"""The launcher (``app_server.py``, what ``make run`` starts) refuses foreign Host headers.

A real server on a free port: plain HTTP and the websocket upgrade the browser opens, with
the Host (and Origin) a DNS-rebinding page would send, and with the names the studio answers.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from app_server import host_name
from studio.config import save_settings

ROOT = Path(__file__).resolve().parents[1]

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(port: int, host: str, path: str = "/_stcore/health") -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers={"Host": host})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def _upgrade(port: int, host: str, origin: str | None) -> int:
    """The status of a websocket upgrade to the app's stream: 101 when it opened."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        with connect(f"ws://{host}/_stcore/stream", sock=sock, origin=origin,
                     subprotocols=["streamlit"], open_timeout=10):
            return 101
    except InvalidStatus as exc:
        return exc.response.status_code


@pytest.fixture
def server(tmp_path: Path) -> Iterator[int]:
    home = tmp_path / "home"
    save_settings(home, {"allowed_hosts": "studio.lan"})
    port = _free_port()
    env = {**os.environ, "AIUTEUR_HOME": str(home), "AIUTEUR_AUTOSTART_WORKER": "false"}
    env.pop("AIUTEUR_ALLOWED_HOSTS", None)
    proc = subprocess.Popen(
        [sys.executable, "app_server.py", "--server.address", "127.0.0.1", "--server.port",
         str(port), "--server.headless", "true"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(OSError):
                if _get(port, f"127.0.0.1:{port}") == 200:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                out = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
                pytest.fail(f"the app did not start:\n{out[-2000:]}")
            time.sleep(0.3)
        yield port
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)
        if proc.poll() is None:
            proc.kill()


def test_a_foreign_host_is_refused_and_the_studios_own_names_work(server: int, tmp_path: Path):
    port = server
    assert _get(port, "evil.example") == 403
    assert _get(port, f"evil.example:{port}", "/") == 403
    assert _get(port, f"127.0.0.1:{port}") == 200
    assert _get(port, f"localhost:{port}", "/") == 200
    assert _get(port, f"studio.lan:{port}") == 200  # named in the settings

    # DNS rebinding: the page's own name in Host and Origin.
    assert _upgrade(port, f"evil.example:{port}", f"http://evil.example:{port}") == 403
    # A page elsewhere opening the studio's socket by its real address.
    assert _upgrade(port, f"127.0.0.1:{port}", "http://evil.example") == 403
    assert _upgrade(port, f"127.0.0.1:{port}", f"http://127.0.0.1:{port}") == 101
    assert _upgrade(port, f"localhost:{port}", f"http://localhost:{port}") == 101

    # A host added on the Settings page holds from the next request, no restart.
    assert _get(port, "render.lan") == 403
    save_settings(tmp_path / "home", {"allowed_hosts": "studio.lan, render.lan"})
    assert _get(port, "render.lan") == 200


@pytest.mark.parametrize(
    ("header", "name"),
    [("127.0.0.1:8501", "127.0.0.1"), ("LocalHost", "localhost"), ("[::1]:8501", "::1"),
     ("studio.lan.", "studio.lan"), ("", None), (None, None), ("[bad", None)],
)
def test_host_name_of_a_header(header, name):
    assert host_name(header) == name


def test_make_run_starts_the_guarded_launcher():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    recipe = makefile.split("\nrun:", 1)[1].split("\n\n", 1)[0]
    assert "app_server.py" in recipe and "streamlit run" not in recipe
