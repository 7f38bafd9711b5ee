"""Start the studio's web server: ``python app_server.py [streamlit options]`` (``make run``).

The same as ``streamlit run streamlit_app.py [options]``, with one guard installed before the
server starts: requests whose ``Host`` header names another machine are refused (HTTP 403;
a websocket upgrade is closed before it is accepted, which the server answers with 403).
That stops DNS rebinding: a web page on ``evil.example`` whose name is re-pointed at
127.0.0.1 would otherwise reach the studio with ``Host`` and ``Origin`` both
``evil.example``, which Streamlit's own same-origin check lets through.

Answered: 127.0.0.1, localhost and the host names of the ``allowed_hosts`` setting
(``AIUTEUR_ALLOWED_HOSTS`` or the Settings page; a change on the page holds from the next
request). A websocket must also come from a page of one of those hosts (its ``Origin``).

It also routes the first request of a fresh server through the app's ``st.navigation``, so a
bookmark opened after a restart shows its page without a "Page not found" box.

An entry point like ``streamlit_app.py``: the studio core never imports Streamlit or the web
server; this file does, and only this file knows the server's middleware hook.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Awaitable, Callable, Collection, MutableMapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from studio.config import LOOPBACK_HOSTS, Settings, load_settings
from studio.errors import StudioError

APP = Path(__file__).resolve().with_name("streamlit_app.py")
REFUSED = b"This studio answers only on 127.0.0.1, localhost and the hosts named in its settings.\n"

log = logging.getLogger("aiuteur.app_server")

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


def host_name(value: str | None) -> str | None:
    """``"Studio.lan:8501"`` -> ``"studio.lan"``, ``"[::1]:8501"`` -> ``"::1"``; None when
    there is no usable name."""
    if not value:
        return None
    try:
        name = urlsplit(f"//{value.strip()}").hostname
    except ValueError:  # a malformed bracketed address
        return None
    return name.rstrip(".") if name else None


class AllowedHosts:
    """The host names served now: read from the settings again whenever the data dir's
    settings.toml changes, so a host added on the Settings page holds without a restart."""

    def __init__(self, home: str | Path | None = None) -> None:
        self._home = home
        self._stamp: object = object()
        self._hosts: frozenset[str] = frozenset(LOOPBACK_HOSTS)
        self._path: Path | None = None
        try:
            self._path = (Settings(home=Path(home)) if home is not None else Settings()).settings_path
        except ValueError as exc:  # the environment's settings are invalid: loopback only
            log.warning("allowed hosts: %s", exc)

    def __call__(self) -> frozenset[str]:
        if self._path is None:
            return self._hosts
        try:
            stamp = self._path.stat().st_mtime_ns if self._path.exists() else None
            if stamp != self._stamp:  # first call, or the Settings page saved
                self._hosts = frozenset(load_settings(self._home).served_hosts)
                self._stamp = stamp
        except (StudioError, OSError, ValueError) as exc:
            # A broken settings file keeps the hosts last read (at least the loopback names).
            log.warning("allowed hosts not re-read: %s", exc)
        return self._hosts


class HostGuard:
    """ASGI middleware: only requests for an allowed host reach the app."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]],
                 allowed: Callable[[], Collection[str]]) -> None:
        self.app = app
        self.allowed = allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)  # lifespan
            return
        if self.accepts(scope):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await receive()  # websocket.connect
            await send({"type": "websocket.close", "code": 1008})
            return
        await send({"type": "http.response.start", "status": 403, "headers": [
            (b"content-type", b"text/plain; charset=utf-8"),
            (b"content-length", str(len(REFUSED)).encode()),
        ]})
        await send({"type": "http.response.body", "body": REFUSED})

    def accepts(self, scope: Scope) -> bool:
        headers = {name.lower(): value.decode("latin-1") for name, value in scope.get("headers", ())}
        allowed = self.allowed()
        if host_name(headers.get(b"host")) not in allowed:
            return False
        origin = headers.get(b"origin")
        if scope["type"] == "websocket" and origin:
            try:
                return urlsplit(origin).hostname in allowed
            except ValueError:
                return False
        return True


def install_host_guard(allowed: Callable[[], Collection[str]]) -> None:
    """Put :class:`HostGuard` first in the middleware of every Streamlit server this process
    starts. Fails loudly where the hook is missing (another Streamlit version) rather than
    serve unguarded."""
    try:
        from starlette.middleware import Middleware
        from streamlit.web.server.starlette import starlette_app
    except ImportError as exc:
        raise SystemExit(f"app_server: this Streamlit has no Starlette server to guard ({exc})") from exc
    original = getattr(starlette_app, "create_streamlit_middleware", None)
    if original is None or getattr(original, "host_guard", False):
        if original is None:
            raise SystemExit("app_server: this Streamlit version has no middleware hook to guard")
        return

    def with_guard() -> list[Any]:
        return [Middleware(HostGuard, allowed=allowed), *original()]

    with_guard.host_guard = True  # type: ignore[attr-defined]
    starlette_app.create_streamlit_middleware = with_guard


def route_by_navigation() -> None:
    """Route every run, the process's first included, through ``st.navigation``.

    Until its first ``st.navigation`` call a Streamlit process takes a ``pages/`` folder for
    the legacy multipage layout: the first request of a fresh server for a bookmarked page
    (``/stage-7?project=…``) got a "Page not found" box before the app found the page
    itself. The app always calls ``st.navigation``, which sets this same flag."""
    from streamlit.runtime.pages_manager import PagesManager

    PagesManager.uses_pages_directory = False


def main(argv: list[str] | None = None) -> int:
    """``streamlit run streamlit_app.py`` with the options given, behind the host guard."""
    from streamlit.web import cli

    install_host_guard(AllowedHosts())
    route_by_navigation()
    args = ["run", str(APP), *(sys.argv[1:] if argv is None else argv)]
    return cli.main(args=args, prog_name="streamlit")


if __name__ == "__main__":
    sys.exit(main())
