"""A thin ComfyUI client: HTTP on httpx, events on a websocket (``ComfyBackend`` in
:mod:`render.comfy` is the render backend built on it).

How a prompt is followed (facts recorded from a real ComfyUI 0.3.64, ``tests/fixtures/comfyui``):

- The websocket (``/ws?clientId=…`` on the same host and port as HTTP) is a HINT: progress,
  the node being executed, and ``executing`` with ``node: null`` as the last message of a
  prompt. It can drop silently, and an out-of-memory error sometimes sends nothing at all.
- ``/history/{id}`` is the TRUTH: the client polls it when the socket drops or stays silent
  and when the end marker arrives; a prompt is done only when its history says ``success``.
- A prompt id in neither ``/queue`` (running or pending) nor ``/history`` is LOST (the server
  restarted; its queue and history live in memory): ``RenderFailed("lost", retryable=True)``.
  ``ComfyBackend`` queues it again once.
- Cancelling never interrupts blindly: a pending prompt is deleted from the queue, a running
  one interrupted by its id (the server ignores the id unless that prompt is running).
- The socket is READ ALL THE TIME, between jobs too, by a daemon thread per connection
  (``_EventStream``): ComfyUI sends from one task to every client in turn, so one client
  that stops reading (websockets' sync client stops after 16 unread frames) stalls every
  client's messages until its keepalive gives up (~40 s). Between jobs the thread keeps a
  bounded backlog that the next ``queue_prompt`` clears.
- A socket opened AFTER a prompt was posted (a reconnect: a dropped socket, a restarted
  server) may have missed the prompt's end marker: ``/history`` is read right away. A
  ``status`` broadcast (the queue changed: a prompt finished, or someone deleted one) is read
  the same way, at most once per ``poll_interval``: a deleted prompt is ``lost`` at once.

The client is synchronous and not thread-safe (one caller at a time; its only thread of its
own reads the socket): the render worker runs it in its own process.
"""

from __future__ import annotations

import inspect
import json
import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from websockets.exceptions import ConnectionClosed, WebSocketException
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as ws_connect

from render.backend import CancelledFn, ProgressFn, RenderFailed

log = logging.getLogger(__name__)

DEFAULT_URL = "http://127.0.0.1:8188"
# websockets >= 15 reads proxy settings from the environment unless told not to (a loopback
# or LAN ComfyUI must never go through a proxy); >= 17.1 wants ``legacy=True`` to hand back
# a plain connection that we keep open across prompts.
_WS_PARAMS = inspect.signature(ws_connect).parameters
_WS_EXTRA: dict[str, Any] = {
    **({"proxy": None} if "proxy" in _WS_PARAMS else {}),
    **({"legacy": True} if "legacy" in _WS_PARAMS else {}),
}
_OOM_MARKERS = ("outofmemory", "out of memory", "allocation on device", "cuda error: out of memory")
# PyTorch on the CPU (a ``--cpu`` server): "DefaultCPUAllocator: not enough memory: you tried
# to allocate N bytes" (RuntimeError), or Python's own MemoryError.
_CPU_OOM_MARKERS = ("defaultcpuallocator", "can't allocate memory", "not enough memory", "memoryerror")
# Messages the reader thread keeps while nobody waits (between jobs): the oldest go first.
_BACKLOG = 4096
# Relative cost of a node for the progress bar: samplers dominate a render's time.
_NODE_WEIGHTS = {
    "KSampler": 10,
    "KSamplerAdvanced": 10,
    "SamplerCustom": 10,
    "SamplerCustomAdvanced": 10,
    "RIFE VFI": 8,
    "ImageUpscaleWithModel": 6,
    "VAEDecode": 3,
    "VAEDecodeTiled": 3,
    "WanFirstLastFrameToVideo": 2,
    "WanImageToVideo": 2,
}


def is_oom(exception_type: str | None, message: str | None) -> bool:
    """True when a ComfyUI runtime error is an out-of-memory error (``torch.OutOfMemoryError``,
    ``torch.cuda.OutOfMemoryError``, or ComfyUI's "Allocation on device" message)."""
    text = f"{exception_type or ''} {message or ''}".lower()
    return any(marker in text for marker in _OOM_MARKERS + _CPU_OOM_MARKERS)


def is_cpu_oom(exception_type: str | None, message: str | None) -> bool:
    """True when the out-of-memory error is system RAM's (PyTorch's CPU allocator, a
    ``MemoryError``): a ``--cpu`` server, or a node that works on the CPU."""
    text = f"{exception_type or ''} {message or ''}".lower()
    return any(marker in text for marker in _CPU_OOM_MARKERS) and not any(
        marker in text for marker in ("cuda", "allocation on device", "torch.outofmemoryerror")
    )


@dataclass(frozen=True)
class QueueState:
    """The prompt ids ComfyUI is running and the ones waiting, from ``GET /queue``."""

    running: tuple[str, ...] = ()
    pending: tuple[str, ...] = ()

    def __contains__(self, prompt_id: object) -> bool:
        return prompt_id in self.running or prompt_id in self.pending


class _Dropped(Exception):
    """The event stream's socket closed (the server went away or cut it)."""


class _EventStream:
    """One websocket and the daemon thread that reads it for as long as it is open.

    Text frames are parsed and kept (at most ``_BACKLOG``; binary latent previews are read
    and dropped), so the server is never left writing to a client that does not read, and
    keepalive pings are answered between jobs as well as during them.
    """

    def __init__(self, ws: ClientConnection, client_id: str) -> None:
        self.ws = ws
        self.client_id = client_id
        self.closed = False
        self.reason = ""
        self._messages: deque[dict[str, Any]] = deque(maxlen=_BACKLOG)
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._read, name="comfy-ws-reader", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        reason = "closed"
        try:
            while True:
                raw = self.ws.recv()
                if not isinstance(raw, str):
                    continue  # binary frames are latent previews
                try:
                    message = json.loads(raw)
                except ValueError:
                    continue
                if isinstance(message, dict) and isinstance(message.get("data"), dict):
                    with self._cond:
                        self._messages.append(message)
                        self._cond.notify_all()
        except (ConnectionClosed, OSError, WebSocketException) as exc:
            reason = str(exc) or type(exc).__name__
        except Exception as exc:  # the reader must end quietly, whatever the socket did
            reason = f"{type(exc).__name__}: {exc}"
            log.debug("ComfyUI websocket reader stopped", exc_info=True)
        finally:
            with self._cond:
                self.closed = True
                self.reason = reason
                self._cond.notify_all()

    def get(self, timeout: float) -> dict[str, Any] | None:
        """The next message, None when none came within ``timeout``; ``_Dropped`` once the
        socket is closed and every message it brought has been read."""
        with self._cond:
            if not self._messages and not self.closed and timeout > 0:
                self._cond.wait(timeout)
            if self._messages:
                return self._messages.popleft()
            if self.closed:
                raise _Dropped(self.reason)
            return None

    @property
    def spent(self) -> bool:
        """Closed, and every message it brought read: time for another socket."""
        with self._cond:
            return self.closed and not self._messages

    def clear(self) -> None:
        """Forget the backlog (what was said before the next prompt is posted)."""
        with self._cond:
            self._messages.clear()

    def close(self) -> None:
        try:
            self.ws.close()
        except Exception:  # closing a broken socket: nothing left to do
            log.debug("websocket close failed", exc_info=True)
        self._thread.join(timeout=2)


@dataclass(frozen=True)
class PromptResult:
    """A prompt that finished with ``status_str == "success"`` in ``/history``."""

    prompt_id: str
    outputs: dict[str, Any]
    entry: dict[str, Any] = field(repr=False)

    def files(self) -> list[dict[str, str]]:
        """Every output file (``filename``, ``subfolder``, ``type``), by node id order.

        Core ``SaveVideo`` reports its mp4 under ``images`` with ``animated: [true]``; custom
        nodes use ``gifs``/``videos``; previews (``type: temp``) are skipped.
        """
        found: list[dict[str, str]] = []
        for node_id in sorted(self.outputs, key=_node_sort_key):
            node_out = self.outputs[node_id] or {}
            for key in ("images", "gifs", "videos", "audio"):
                for item in node_out.get(key, []) or []:
                    if (
                        isinstance(item, dict)
                        and item.get("filename")
                        and item.get("type", "output") == "output"
                    ):
                        found.append(
                            {
                                "filename": str(item["filename"]),
                                "subfolder": str(item.get("subfolder", "")),
                                "type": "output",
                            }
                        )
        return found


def _node_sort_key(node_id: str) -> tuple[int, str]:
    return (int(node_id), "") if node_id.isdigit() else (1 << 62, node_id)


def summarize_node_errors(body: Mapping[str, Any]) -> str:
    """One line per failing node from a ``/prompt`` rejection (``error`` + ``node_errors``)."""
    parts: list[str] = []
    error = body.get("error")
    if isinstance(error, dict):
        head = str(error.get("message") or error.get("type") or "rejected")
        details = str(error.get("details") or "")
        parts.append(f"{head} ({details})" if details and details not in head else head)
    elif isinstance(error, str):
        parts.append(error)
    node_errors = body.get("node_errors") or {}
    if isinstance(node_errors, dict):
        for node_id in sorted(node_errors, key=_node_sort_key):
            info = node_errors[node_id] or {}
            errs = info.get("errors") or []
            texts = []
            for err in errs:
                if not isinstance(err, dict):
                    continue
                details = str(err.get("details") or "")
                texts.append(
                    f"{err.get('message', err.get('type', 'error'))}: {details}"
                    if details
                    else str(err.get("message"))
                )
            parts.append(f"node {node_id} ({info.get('class_type', '?')}): " + "; ".join(texts))
    return " — ".join(p for p in parts if p) or "ComfyUI rejected the workflow"


class _Tracker:
    """Turns websocket hints into a monotonic progress fraction and a short message.

    ``refresh`` says the latest message again when nothing was said for ``refresh_s``: a
    caller that throttles its writes (the render worker keeps one every 0.5 s) may have
    dropped it, and a node without a progress bar (a VAE decode) can run for minutes with no
    event at all: the job then showed the previous node's last step all that time.
    """

    def __init__(
        self, graph: Mapping[str, Any] | None, progress: ProgressFn | None, refresh_s: float = 1.0
    ) -> None:
        self.progress = progress
        self.refresh_s = refresh_s
        self.message = ""
        self.said_at = time.monotonic()
        self.classes = {
            nid: str(n.get("class_type", ""))
            for nid, n in (graph or {}).items()
            if isinstance(n, dict)
        }
        self.weights = {nid: _NODE_WEIGHTS.get(cls, 1) for nid, cls in self.classes.items()}
        self.total = sum(self.weights.values()) or 1
        self.done: set[str] = set()
        self.current: str | None = None
        self.current_frac = 0.0
        self.last = 0.0

    def _emit(self, message: str) -> None:
        if self.progress is None:
            return
        done = sum(self.weights.get(n, 0) for n in self.done)
        if self.current is not None and self.current not in self.done:
            done += self.weights.get(self.current, 0) * self.current_frac
        frac = max(self.last, min(0.999, done / self.total))
        self.last = frac
        self._say(frac, message)

    def _say(self, frac: float, message: str) -> None:
        assert self.progress is not None
        self.message, self.said_at = message, time.monotonic()
        try:
            self.progress(frac, message)
        except Exception:  # a progress callback must never break the render
            log.exception("progress callback failed")

    def refresh(self) -> None:
        if self.progress is not None and self.message and time.monotonic() - self.said_at >= self.refresh_s:
            self._say(self.last, self.message)

    def label(self, node: str) -> str:
        return f"{self.classes.get(node, 'node')} (node {node})"

    def cached(self, nodes: Iterable[Any]) -> None:
        nodes = [str(n) for n in nodes or ()]
        if nodes:
            self.done.update(nodes)
            self._emit(f"{len(nodes)} node(s) cached")

    def executing(self, node: str) -> None:
        if self.current is not None and self.current != node:
            self.done.add(self.current)
        self.current, self.current_frac = node, 0.0
        self._emit(f"running {self.label(node)}")

    def step(self, node: str | None, value: Any, maximum: Any) -> None:
        try:
            frac = float(value) / float(maximum) if maximum else 0.0
        except (TypeError, ValueError):
            return
        if node is not None and node != self.current:
            self.executing(node)
        self.current_frac = max(0.0, min(1.0, frac))
        self._emit(f"{self.label(self.current or '?')} {value}/{maximum}")

    def states(self, nodes: Any) -> None:
        if not isinstance(nodes, dict):
            return
        finished = {
            str(k) for k, v in nodes.items() if isinstance(v, dict) and v.get("state") == "finished"
        }
        running = [
            str(k) for k, v in nodes.items() if isinstance(v, dict) and v.get("state") == "running"
        ]
        new_done = finished - self.done
        self.done.update(finished)
        fresh = [n for n in running if n not in self.done]
        if fresh and fresh[-1] != self.current:
            self.executing(fresh[-1])  # a node started: say which, not what the last one did
        elif new_done:
            self._emit(f"{len(self.done)} of {len(self.classes) or len(self.done)} nodes done")

    def finished(self, node: str | None) -> None:
        if node is not None:
            self.done.add(str(node))
            self._emit(f"{self.label(str(node))} done")


class ComfyClient:
    """HTTP + websocket client for one ComfyUI server.

    ``timeout`` bounds every HTTP request; ``poll_interval`` is how often ``/history`` and
    ``/queue`` are polled while the websocket is down or silent for ``silence_s``;
    ``down_grace_s`` is how long an unreachable server is tolerated during a wait before
    ``backend_down``; ``job_timeout`` is the default bound of ``wait``. ``transport`` is an
    httpx transport for tests (``httpx.MockTransport``); ``events=False`` never opens the
    websocket (polling only). ``progress_refresh_s``: the latest progress message is said
    again after that long without news (see ``_Tracker``).
    """

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        client_id: str | None = None,
        events: bool = True,
        poll_interval: float = 1.0,
        silence_s: float = 15.0,
        down_grace_s: float = 60.0,
        settle_s: float = 10.0,
        cancel_grace_s: float = 30.0,
        job_timeout: float = 3600.0,
        connect_timeout: float = 5.0,
        progress_refresh_s: float = 1.0,
    ) -> None:
        parts = urlsplit(base_url.rstrip("/"))
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"ComfyUI URL must be http(s)://host:port, got {base_url!r}")
        self.base_url = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
        self.client_id = client_id or uuid.uuid4().hex
        self.events = events
        self.poll_interval = poll_interval
        self.silence_s = silence_s
        self.down_grace_s = down_grace_s
        self.settle_s = settle_s
        self.cancel_grace_s = cancel_grace_s
        self.job_timeout = job_timeout
        self.connect_timeout = connect_timeout
        self.progress_refresh_s = progress_refresh_s
        # No Origin header is ever sent: ComfyUI answers 403 when Origin differs from Host.
        # trust_env=False: no proxy from the environment for a local server.
        self._http = httpx.Client(
            base_url=self.base_url,
            timeout=httpx.Timeout(timeout, connect=min(connect_timeout, timeout)),
            transport=transport,
            trust_env=False,
            headers={"User-Agent": "aiuteur-studio"},
        )
        self._object_info: dict[str, Any] | None = None
        self._ws: _EventStream | None = None
        self._ws_retry_at = 0.0
        # The last prompt posted and the stream that was open when it was: any other stream
        # seen while waiting for it was opened later, and may have missed its end.
        self._posted: tuple[str, _EventStream | None] = ("", None)

    # ------------------------------------------------------------------ plumbing

    def close(self) -> None:
        self._close_ws()
        self._http.close()

    def __enter__(self) -> ComfyClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def ws_url(self, client_id: str | None = None) -> str:
        """``ws(s)://host:port[/prefix]/ws?clientId=…``: the same host and port as HTTP."""
        parts = urlsplit(self.base_url)
        scheme = "wss" if parts.scheme == "https" else "ws"
        return urlunsplit(
            (
                scheme,
                parts.netloc,
                parts.path + "/ws",
                f"clientId={client_id or self.client_id}",
                "",
            )
        )

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.ConnectTimeout as exc:
            raise self._down(method, path, exc) from exc
        except httpx.TimeoutException as exc:
            raise RenderFailed(
                f"ComfyUI at {self.base_url} did not answer {method} {path} in time; it may be "
                "overloaded — the job will be retried",
                "timeout",
                retryable=True,
            ) from exc
        except httpx.TransportError as exc:
            raise self._down(method, path, exc) from exc
        if response.status_code >= 500:
            raise RenderFailed(
                f"ComfyUI answered {response.status_code} to {method} {path}: "
                f"{response.text[:200].strip()}; check the ComfyUI console",
                "backend_down",
                retryable=True,
            )
        if response.status_code == 403:
            raise RenderFailed(
                f"ComfyUI refused {method} {path} (403 Forbidden); check its --enable-cors-header "
                "and listen settings",
                "error",
            )
        return response

    def _down(self, method: str, path: str, exc: Exception) -> RenderFailed:
        return RenderFailed(
            f"ComfyUI at {self.base_url} is not reachable ({type(exc).__name__} on {method} {path}); "
            "start it or check its URL in Settings",
            "backend_down",
            retryable=True,
        )

    def _json(self, response: httpx.Response, what: str) -> Any:
        if response.status_code >= 400:
            raise RenderFailed(
                f"ComfyUI answered {response.status_code} to {what}: {response.text[:200].strip()}",
                "error",
            )
        try:
            return response.json()
        except ValueError as exc:
            raise RenderFailed(
                f"ComfyUI answered {what} with something that is not JSON", "error"
            ) from exc

    # ------------------------------------------------------------------ HTTP API

    def object_info(self, *, refresh: bool = False) -> dict[str, Any]:
        """``GET /object_info``: every node class with its inputs (cached; ``refresh`` re-reads)."""
        if self._object_info is None or refresh:
            data = self._json(self._request("GET", "/object_info"), "GET /object_info")
            if not isinstance(data, dict):
                raise RenderFailed("ComfyUI /object_info is not an object", "error")
            self._object_info = data
        return self._object_info

    def system_stats(self) -> dict[str, Any]:
        """``GET /system_stats``: versions and devices (VRAM figures on a GPU server)."""
        data = self._json(self._request("GET", "/system_stats"), "GET /system_stats")
        return data if isinstance(data, dict) else {}

    def upload_image(
        self,
        path: Path | str,
        *,
        subfolder: str = "",
        overwrite: bool = True,
        name: str | None = None,
    ) -> dict[str, str]:
        """``POST /upload/image`` (multipart) into the server's input folder; returns
        ``{"name", "subfolder", "type"}``. Videos go through the same endpoint."""
        path = Path(path)
        try:
            content = path.read_bytes()
        except OSError as exc:
            raise RenderFailed(f"cannot read input file {path}: {exc}", "validation") from exc
        filename = name or path.name
        files = {"image": (filename, content, _mime(filename))}
        data = {
            "overwrite": "true" if overwrite else "false",
            "subfolder": subfolder,
            "type": "input",
        }
        result = self._json(
            self._request("POST", "/upload/image", files=files, data=data), "POST /upload/image"
        )
        if not isinstance(result, dict) or "name" not in result:
            raise RenderFailed("ComfyUI /upload/image answered without a file name", "error")
        return {
            "name": str(result["name"]),
            "subfolder": str(result.get("subfolder", "")),
            "type": str(result.get("type", "input")),
        }

    def queue_prompt(self, graph: Mapping[str, Any], client_id: str | None = None) -> str:
        """``POST /prompt``; returns the prompt id.

        The websocket for ``client_id`` is opened first so no event of this prompt is missed.
        HTTP 400 is a validation failure (``missing_node`` when a class does not exist)
        summarising ``node_errors``. HTTP 200 with ``node_errors`` filled means the server
        dropped the invalid outputs and queued the rest: a partial render is never what we
        want, so the prompt is cancelled and this is a validation failure too.
        """
        cid = client_id or self.client_id
        stream = self._events(cid)
        if stream is not None:
            stream.clear()  # what was said before this prompt is no news about it
        response = self._request("POST", "/prompt", json={"prompt": dict(graph), "client_id": cid})
        if response.status_code == 400:
            try:
                body = response.json()
            except ValueError:
                body = {"error": response.text[:300]}
            body = body if isinstance(body, dict) else {"error": str(body)}
            error = body.get("error") if isinstance(body.get("error"), dict) else {}
            missing = error.get("type") == "invalid_prompt" and "does not exist" in str(
                error.get("message", "")
            )
            raise RenderFailed(
                "ComfyUI rejected the workflow: " + summarize_node_errors(body),
                "missing_node" if missing else "validation",
            )
        data = self._json(response, "POST /prompt")
        prompt_id = data.get("prompt_id") if isinstance(data, dict) else None
        if not prompt_id:
            raise RenderFailed("ComfyUI accepted the workflow but returned no prompt id", "error")
        if data.get("node_errors"):
            try:
                self.cancel(str(prompt_id))
            except RenderFailed:
                log.warning("could not cancel partially valid prompt %s", prompt_id)
            raise RenderFailed(
                "ComfyUI queued only part of the workflow: " + summarize_node_errors(data),
                "validation",
            )
        self._posted = (str(prompt_id), stream)
        return str(prompt_id)

    def history(self, prompt_id: str) -> dict[str, Any]:
        """``GET /history/{id}``: that prompt's history entry, or ``{}`` while it is unknown
        (still queued or running, or lost)."""
        data = self._json(self._request("GET", f"/history/{prompt_id}"), "GET /history")
        if not isinstance(data, dict):
            return {}
        entry = data.get(prompt_id)
        return entry if isinstance(entry, dict) else {}

    def queue(self) -> QueueState:
        """``GET /queue``: the running and pending prompt ids."""
        data = self._json(self._request("GET", "/queue"), "GET /queue")

        def ids(items: Any) -> tuple[str, ...]:
            out = []
            for item in items or []:
                if isinstance(item, list | tuple) and len(item) > 1:
                    out.append(str(item[1]))
            return tuple(out)

        return QueueState(
            running=ids(data.get("queue_running")), pending=ids(data.get("queue_pending"))
        )

    def cancel(self, prompt_id: str) -> str:
        """Stop one prompt: delete it while pending, interrupt it (by id) while running.

        Returns ``"deleted"``, ``"interrupted"`` or ``"absent"`` (already finished or gone).
        Never a global interrupt: another client's running prompt is left alone.
        """
        state = self.queue()
        if prompt_id in state.pending:
            self._request("POST", "/queue", json={"delete": [prompt_id]})
            state = self.queue()
            if prompt_id not in state.running:
                return "deleted"
        if prompt_id in state.running:
            self._request("POST", "/interrupt", json={"prompt_id": prompt_id})
            return "interrupted"
        return "absent"

    def download(self, filename: str, subfolder: str = "", type: str = "output") -> bytes:
        """``GET /view``: the bytes of one output (or input/temp) file."""
        response = self._request(
            "GET", "/view", params={"filename": filename, "subfolder": subfolder, "type": type}
        )
        if response.status_code != 200:
            raise RenderFailed(
                f"ComfyUI has no {type} file {subfolder + '/' if subfolder else ''}{filename} "
                f"({response.status_code})",
                "error",
            )
        return response.content

    # ------------------------------------------------------------------ events

    def _events(self, client_id: str) -> _EventStream | None:
        """The event stream for ``client_id``, opened on demand (and again at once when its
        socket closed); None while it cannot be had (a failed connect is retried after
        ``poll_interval``)."""
        if not self.events:
            return None
        stream = self._ws
        if stream is not None and stream.client_id == client_id and not stream.spent:
            return stream
        self._close_ws()
        now = time.monotonic()
        if now < self._ws_retry_at:
            return None
        try:
            ws = ws_connect(
                self.ws_url(client_id),
                open_timeout=self.connect_timeout,
                close_timeout=1,
                max_size=None,
                compression=None,
                user_agent_header="aiuteur-studio",
                **_WS_EXTRA,
            )
        except (OSError, TimeoutError, WebSocketException) as exc:
            log.debug("ComfyUI websocket unavailable: %s", exc)
            self._ws_retry_at = now + max(self.poll_interval, 0.2)
            return None
        self._ws = _EventStream(ws, client_id)
        return self._ws

    def _close_ws(self) -> None:
        stream, self._ws = self._ws, None
        if stream is not None:
            stream.close()

    # ------------------------------------------------------------------ waiting

    def wait(
        self,
        prompt_id: str,
        client_id: str | None = None,
        *,
        progress: ProgressFn | None = None,
        cancelled: CancelledFn | None = None,
        timeout: float | None = None,
        graph: Mapping[str, Any] | None = None,
    ) -> PromptResult:
        """Follow ``prompt_id`` until ``/history`` says how it ended.

        Returns on history ``success``; raises RenderFailed ``oom`` / ``error`` /
        ``interrupted`` from the history's messages, ``lost`` when the prompt is in neither
        the queue nor the history, ``backend_down`` when the server stays unreachable for
        ``down_grace_s``, ``timeout`` after ``timeout`` seconds (the prompt is cancelled),
        and ``interrupted`` when ``cancelled()`` turns true (the prompt is cancelled).
        ``graph`` (the queued workflow) lets progress weigh samplers above cheap nodes.
        """
        cid = client_id or self.client_id
        limit = self.job_timeout if timeout is None else timeout
        start = time.monotonic()
        deadline = start + limit
        tracker = _Tracker(graph, progress, self.progress_refresh_s)
        last_heard = start
        next_poll = start + self.poll_interval
        last_poll = start - self.poll_interval
        poll_at = float("inf")  # one poll asked for by a hint: a reconnect, a status broadcast
        posted_id, trusted = self._posted
        if posted_id != prompt_id:
            trusted = None  # posted elsewhere: whatever stream is open may have missed events
        down_since: list[float | None] = [None]
        while True:
            now = time.monotonic()
            if cancelled is not None and cancelled():
                self._abandon(prompt_id)
            if now >= deadline:
                self._cancel_quietly(prompt_id)
                raise RenderFailed(
                    f"ComfyUI prompt {prompt_id} did not finish within {limit:g} s; it was cancelled",
                    "timeout",
                    retryable=True,
                )
            ws = self._events(cid)
            if ws is not None and ws is not trusted:
                # Opened after the prompt was posted: its end marker may already have gone by.
                trusted = ws
                poll_at = now
            silent = ws is None or now - last_heard >= self.silence_s
            if now >= poll_at or (silent and now >= next_poll):
                next_poll = now + self.poll_interval
                last_poll, poll_at = now, float("inf")
                entry = self._poll(prompt_id, down_since)
                if entry:
                    return self._finish(prompt_id, entry)
                continue
            tracker.refresh()
            if ws is None:
                time.sleep(max(0.0, min(0.1, next_poll - now, deadline - now)))
                continue
            try:
                message = ws.get(timeout=max(0.0, min(0.1, deadline - now, poll_at - now)))
            except _Dropped as exc:
                log.info(
                    "ComfyUI websocket dropped (%s); following prompt %s by polling", exc, prompt_id
                )
                self._close_ws()  # the next turn reconnects at once, then reads the history
                next_poll = time.monotonic()
                continue
            if message is None:
                continue
            kind, data = message.get("type"), message["data"]
            if kind == "status" and "prompt_id" not in data:
                # The queue changed: this prompt may have ended, or been deleted by someone.
                poll_at = min(poll_at, max(time.monotonic(), last_poll + self.poll_interval))
                continue
            if data.get("prompt_id") != prompt_id:
                continue  # other prompts' events and extensions' broadcasts
            # Silence is counted per prompt: a busy server's broadcasts must not hide that
            # this prompt's events stopped (an OOM sometimes sends none at all).
            last_heard = time.monotonic()
            if kind == "executing":
                node = data.get("node")
                if node is None:
                    entry = self._settle(prompt_id, deadline)
                    if entry:
                        return self._finish(prompt_id, entry)
                else:
                    tracker.executing(str(node))
            elif kind == "progress":
                tracker.step(
                    None if data.get("node") is None else str(data["node"]),
                    data.get("value"),
                    data.get("max"),
                )
            elif kind == "progress_state":
                tracker.states(data.get("nodes"))
            elif kind == "execution_cached":
                tracker.cached(data.get("nodes") or [])
            elif kind == "executed":
                tracker.finished(None if data.get("node") is None else str(data["node"]))
            elif kind in ("execution_error", "execution_interrupted"):
                # A hint only: the end marker (or a poll) fetches the history that decides.
                next_poll = min(next_poll, time.monotonic() + self.poll_interval)
            # execution_start, execution_success and unknown types: nothing to do

    def _poll(self, prompt_id: str, down_since: list[float | None]) -> dict[str, Any]:
        """History entry if there is one; {} while queued/running (or the server is briefly
        unreachable); raises ``lost`` when the prompt is nowhere."""
        try:
            entry = self.history(prompt_id)
            if not entry:
                state = self.queue()
                if prompt_id not in state:
                    # It may have finished between the two reads: ask the history again.
                    entry = self.history(prompt_id)
                    if not entry:
                        raise RenderFailed(
                            f"ComfyUI lost prompt {prompt_id}: it is neither queued nor in the "
                            "history (the server restarted?)",
                            "lost",
                            retryable=True,
                        )
            down_since[0] = None
            return entry
        except RenderFailed as exc:
            if exc.failure_class not in ("backend_down", "timeout"):
                raise
            now = time.monotonic()
            if down_since[0] is None:
                down_since[0] = now
            if now - down_since[0] >= self.down_grace_s:
                raise RenderFailed(
                    f"ComfyUI went away while rendering prompt {prompt_id} and did not come back "
                    f"within {self.down_grace_s:g} s: {exc}",
                    "backend_down",
                    retryable=True,
                ) from exc
            return {}

    def _settle(self, prompt_id: str, deadline: float) -> dict[str, Any]:
        """After the end marker: the history entry (written just before the marker is sent)."""
        delay = 0.01
        until = min(deadline, time.monotonic() + self.settle_s)
        while True:
            try:
                entry = self.history(prompt_id)
            except RenderFailed as exc:
                if exc.failure_class not in ("backend_down", "timeout"):
                    raise
                entry = {}
            if entry:
                return entry
            if time.monotonic() >= until:
                return {}  # the polling path decides (queued, or lost)
            time.sleep(delay)
            delay = min(delay * 2, 0.2)

    def _finish(self, prompt_id: str, entry: Mapping[str, Any]) -> PromptResult:
        status = entry.get("status") or {}
        status_str = status.get("status_str")
        if status_str == "success" and status.get("completed", True):
            return PromptResult(prompt_id, dict(entry.get("outputs") or {}), dict(entry))
        for item in status.get("messages") or []:
            if (
                not isinstance(item, list | tuple)
                or len(item) != 2
                or not isinstance(item[1], dict)
            ):
                continue
            kind, data = item
            where = f"{data.get('node_type', '?')} (node {data.get('node_id', '?')})"
            if kind == "execution_error":
                etype = str(data.get("exception_type") or "")
                emsg = str(data.get("exception_message") or "").strip()
                if is_oom(etype, emsg):
                    first = emsg.splitlines()[0] if emsg else etype
                    memory = "memory (system RAM)" if is_cpu_oom(etype, emsg) else "GPU memory"
                    raise RenderFailed(
                        f"ComfyUI ran out of {memory} in {where}: {first}; retry at a lower "
                        "preset (resolution, frames or steps)",
                        "oom",
                        memory=memory,
                    )
                raise RenderFailed(f"ComfyUI failed in {where}: {etype}: {emsg[:300]}", "error")
            if kind == "execution_interrupted":
                raise RenderFailed(
                    f"ComfyUI prompt {prompt_id} was interrupted in {where}",
                    "interrupted",
                    retryable=True,
                )
        raise RenderFailed(
            f"ComfyUI reports prompt {prompt_id} as {status_str or 'unfinished'!s} without an error message",
            "error",
        )

    def _abandon(self, prompt_id: str) -> None:
        """The user cancelled: stop the prompt on the server, wait briefly, raise."""
        try:
            outcome = self.cancel(prompt_id)
        except RenderFailed as exc:
            outcome = f"not confirmed ({exc})"
        if outcome == "interrupted":
            until = time.monotonic() + self.cancel_grace_s
            while time.monotonic() < until:
                try:
                    if self.history(prompt_id) or prompt_id not in self.queue():
                        break
                except RenderFailed:
                    break
                time.sleep(0.05)
        raise RenderFailed(
            f"render cancelled (ComfyUI prompt {prompt_id} {outcome})", "interrupted"
        )

    def _cancel_quietly(self, prompt_id: str) -> None:
        try:
            self.cancel(prompt_id)
        except RenderFailed:
            log.warning("could not cancel ComfyUI prompt %s", prompt_id)

    def run(
        self,
        graph: Mapping[str, Any],
        *,
        progress: ProgressFn | None = None,
        cancelled: CancelledFn | None = None,
        timeout: float | None = None,
    ) -> PromptResult:
        """Queue ``graph`` and wait for it (no re-queue on ``lost``: see ComfyBackend)."""
        prompt_id = self.queue_prompt(graph)
        return self.wait(
            prompt_id, progress=progress, cancelled=cancelled, timeout=timeout, graph=graph
        )


def _mime(name: str) -> str:
    suffix = PurePosixPath(name).suffix.lower()
    return {
        ".png": "image/png",
        ".jpg": "image/jpeg",
        ".jpeg": "image/jpeg",
        ".webp": "image/webp",
        ".mp4": "video/mp4",
        ".webm": "video/webm",
        ".mov": "video/quicktime",
    }.get(suffix, "application/octet-stream")
