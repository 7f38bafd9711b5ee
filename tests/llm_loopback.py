"""Loopback LLM servers that speak the real wire protocols, with the faults local servers have.

- ``OllamaLoopback``: ``/api/chat`` (NDJSON streaming, or one JSON object when
  ``"stream": false``), ``/api/tags``, ``/api/show``.
- ``OpenAILoopback``: ``/v1/models``, ``/v1/chat/completions`` (JSON, or SSE ``data:`` lines
  ending in ``data: [DONE]``, with a usage chunk when ``stream_options.include_usage``).

Each chat request takes the next entry of ``faults`` (``"ok"`` when the list is empty) and,
unless the fault answers an error, the next entry of ``replies``:

- ``"slow"``: headers only after ``slow_s`` seconds (a cold model load);
- ``"404"``: the model is not pulled / not loaded; ``"503"``: the server is busy;
- ``"length"``: the reply ends with ``done_reason``/``finish_reason`` = ``length``;
- ``"whitespace"``: the reply, then whitespace chunks until the client hangs up (or
  ``WHITESPACE_CAP`` chunks, ending in ``length``) — Ollama's JSON mode (ollama#2577).

Every request body is kept in ``requests`` as ``(path, json)``.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

WHITESPACE_CAP = 5000


class _Loopback:
    def __init__(
        self,
        replies: list[str] | None = None,
        faults: list[str] | None = None,
        *,
        model: str = "mistral:latest",
        slow_s: float = 1.0,
        context_length: int = 32768,
    ) -> None:
        self.replies = list(replies or [])
        self.faults = list(faults or [])
        self.model = model
        self.slow_s = slow_s
        self.context_length = context_length
        self.requests: list[tuple[str, Any]] = []
        self.whitespace_sent = 0
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                owner._record(self.path, None)
                owner.get(self)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"null")
                owner._record(self.path, body)
                owner.post(self, body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> _Loopback:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)

    def _record(self, path: str, body: Any) -> None:
        with self._lock:
            self.requests.append((path, body))

    def chat_requests(self) -> list[Any]:
        return [
            body
            for path, body in self.requests
            if path.endswith("/chat") or path.endswith("/chat/completions")
        ]

    def _next(self) -> tuple[str, str]:
        with self._lock:
            fault = self.faults.pop(0) if self.faults else "ok"
            reply = "" if fault in ("404", "503") else (self.replies.pop(0) if self.replies else "")
        return fault, reply

    @staticmethod
    def _json(handler: BaseHTTPRequestHandler, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    @staticmethod
    def _pieces(text: str) -> list[str]:
        return [text[i : i + 7] for i in range(0, len(text), 7)] or [""]

    def get(self, handler: BaseHTTPRequestHandler) -> None:
        self._json(handler, 404, {"error": "not found"})

    def post(self, handler: BaseHTTPRequestHandler, body: Any) -> None:
        self._json(handler, 404, {"error": "not found"})


class OllamaLoopback(_Loopback):
    def get(self, handler: BaseHTTPRequestHandler) -> None:
        if handler.path == "/api/tags":
            self._json(
                handler,
                200,
                {
                    "models": [
                        {
                            "name": self.model,
                            "model": self.model,
                            "size": 4109865159,
                            "details": {"family": "llama"},
                        }
                    ]
                },
            )
        else:
            super().get(handler)

    def post(self, handler: BaseHTTPRequestHandler, body: Any) -> None:
        if handler.path == "/api/show":
            if body.get("model") != self.model:
                self._json(handler, 404, {"error": f"model '{body.get('model')}' not found"})
                return
            info = {"general.architecture": "llama", "llama.context_length": self.context_length}
            self._json(
                handler,
                200,
                {"parameters": "stop [INST]", "model_info": info, "details": {"family": "llama"}},
            )
            return
        if handler.path != "/api/chat":
            super().post(handler, body)
            return
        fault, reply = self._next()
        if fault == "slow":
            time.sleep(self.slow_s)
        if fault == "404":
            self._json(
                handler,
                404,
                {"error": f"model '{body.get('model')}' not found, try pulling it first"},
            )
            return
        if fault == "503":
            self._json(
                handler,
                503,
                {"error": "server busy, please try again.  maximum pending requests exceeded"},
            )
            return

        def part(content: str, done: bool = False, reason: str = "stop") -> dict[str, Any]:
            out: dict[str, Any] = {
                "model": body.get("model"),
                "created_at": "2026-12-08T02:00:00Z",
                "message": {"role": "assistant", "content": content},
                "done": done,
            }
            if done:
                out.update(
                    done_reason=reason,
                    total_duration=1_000_000,
                    load_duration=10,
                    prompt_eval_count=21,
                    prompt_eval_duration=10,
                    eval_count=34,
                    eval_duration=10,
                )
            return out

        reason = "length" if fault == "length" else "stop"
        if body.get("stream") is False:
            final = part(reply, True, reason)
            self._json(handler, 200, final)
            return
        handler.send_response(200)
        handler.send_header("Content-Type", "application/x-ndjson")
        handler.end_headers()
        try:
            for piece in self._pieces(reply):
                handler.wfile.write((json.dumps(part(piece)) + "\n").encode())
                handler.wfile.flush()
            if fault == "whitespace":
                for _ in range(WHITESPACE_CAP):
                    handler.wfile.write((json.dumps(part("\n  ")) + "\n").encode())
                    handler.wfile.flush()
                    self.whitespace_sent += 1
                    time.sleep(0.001)
                reason = "length"
            handler.wfile.write((json.dumps(part("", True, reason)) + "\n").encode())
        except (BrokenPipeError, ConnectionResetError):
            pass


class OpenAILoopback(_Loopback):
    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def get(self, handler: BaseHTTPRequestHandler) -> None:
        if handler.path == "/v1/models":
            self._json(
                handler,
                200,
                {
                    "object": "list",
                    "data": [
                        {"id": self.model, "object": "model", "owned_by": "organization_owner"}
                    ],
                },
            )
        else:
            super().get(handler)

    def post(self, handler: BaseHTTPRequestHandler, body: Any) -> None:
        if handler.path != "/v1/chat/completions":
            super().post(handler, body)
            return
        fault, reply = self._next()
        if fault == "slow":
            time.sleep(self.slow_s)
        if fault == "404":
            self._json(
                handler,
                404,
                {
                    "error": {
                        "message": "No models loaded. Please load a model in the developer page or use the `lms load` command.",
                        "type": "invalid_request_error",
                        "code": "model_not_found",
                    }
                },
            )
            return
        if fault == "503":
            self._json(
                handler, 503, {"error": {"message": "The server is busy", "type": "server_error"}}
            )
            return
        reason = "length" if fault == "length" else "stop"
        usage = {"prompt_tokens": 21, "completion_tokens": 34, "total_tokens": 55}
        base = {
            "id": "chatcmpl-loop",
            "created": 1765159200,
            "model": body.get("model"),
            "system_fingerprint": "loop",
        }
        if not body.get("stream"):
            message = {"role": "assistant", "content": reply}
            self._json(
                handler,
                200,
                {
                    **base,
                    "object": "chat.completion",
                    "choices": [
                        {"index": 0, "message": message, "logprobs": None, "finish_reason": reason}
                    ],
                    "usage": usage,
                },
            )
            return
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.end_headers()

        def event(payload: Any) -> None:
            handler.wfile.write(f"data: {json.dumps(payload)}\n\n".encode())
            handler.wfile.flush()

        def chunk(delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
            return {
                **base,
                "object": "chat.completion.chunk",
                "choices": [
                    {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
                ],
            }

        try:
            event(chunk({"role": "assistant", "content": ""}, None))
            for piece in self._pieces(reply):
                event(chunk({"content": piece}, None))
            event(chunk({}, reason))
            if (body.get("stream_options") or {}).get("include_usage"):
                event({**base, "object": "chat.completion.chunk", "choices": [], "usage": usage})
            handler.wfile.write(b"data: [DONE]\n\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
