"""A loopback ComfyUI double for protocol tests and benchmarks.

A test double: it lives in ``tests/`` (never in a product package); ``studio bench render``
loads it from the checkout to time the queue against it. It binds 127.0.0.1 only. It serves
the recorded ``tests/fixtures/comfyui/object_info.json`` (``OBJECT_INFO_PATH``); see that
folder's README for where the recordings come from.

It serves HTTP and the ``/ws`` websocket on ONE port, as ComfyUI does, from a small asyncio
HTTP/1.1 server (keep-alive, Content-Length or chunked bodies) that hands ``GET /ws``
upgrades to the sans-I/O ``websockets.server.ServerProtocol`` for the handshake and the
framing. Payload shapes and message order reproduce the recordings of a real ComfyUI
0.3.64 in ``tests/fixtures/comfyui`` (its ``object_info.json`` is served as is, with the model
lists this double is given and the files uploaded to it):

- ``/prompt`` validates like ComfyUI: unknown class -> 400 ``invalid_prompt``; no output
  -> 400 ``prompt_no_outputs``; per-output node errors -> 400
  ``prompt_outputs_failed_validation``, or 200 with ``node_errors`` when another output is
  valid (only the valid outputs run); a body that is not JSON -> 500.
- One prompt runs at a time: ``status`` (queued) -> ``status`` (taken) ->
  ``execution_start`` -> ``execution_cached`` -> per node ``progress_state``,
  ``executing(node)``, [``progress``…], [``executed``], ``progress_state`` ->
  ``execution_success`` -> history written -> ``status`` -> ``executing(node: null)``.
  Execution events go to the client that queued the prompt; ``status`` to everyone. A
  prompt queued without a client id broadcasts what ComfyUI broadcasts for it (``progress``,
  ``progress_state``, ``execution_interrupted`` and the previews: ``send_sync(..., sid=None)``
  goes to every socket) and nothing else.
- Every websocket frame goes out through ONE publisher that waits until each is written
  (ComfyUI's ``publish_loop`` awaits every ``send_*``), with small send buffers: a client
  that stops reading holds every other client's messages up. ``published(timeout)`` says
  whether everything queued went out; ``noise(n, size)`` broadcasts extension frames.
- One socket per client id: a second connection with the same id silences the first (it
  stays open and hears nothing more), as ComfyUI's ``sockets[sid]`` does.
- ``LoadImage``'s options list only the files at the top of the input folder: an upload
  into a subfolder is not listed, though a prompt may use it (``subfolder/name``).
- ``/interrupt`` with a prompt id only stops that prompt if it is running; the prompt stops
  at its next node or progress update, then ``execution_interrupted``; the next one starts.
- An unchanged graph re-run is all cached (the cache holds only the previous prompt): its
  output nodes still send ``executed`` and ``progress_state``, then ``execution_success``.
- A request whose ``Origin`` differs from ``Host`` gets 403.

Scripted faults, consumed one per accepted prompt in order (``fault("none")`` skips one):
``oom_ws`` (``execution_error`` with ``torch.OutOfMemoryError``), ``oom_history`` (the same
error in ``/history`` only: no websocket message at all), ``error`` (an IndexError),
``drop_ws`` (the socket is cut mid-job without a close frame; the job finishes),
``mute_ws`` (the socket stays open but says nothing more about the job), ``restart`` (the
server forgets queue and history mid-job, optionally refusing connections for ``down_s``),
``slow`` (``delay`` seconds per node), ``oom_cpu`` (a ``--cpu`` server out of system RAM:
PyTorch's ``DefaultCPUAllocator`` RuntimeError). Faults strike at the first sampler node (or the last
node of a graph without one).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import socket
import struct
import threading
import time
import uuid
import zlib
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from websockets.protocol import State
from websockets.server import ServerProtocol

# Recorded from a real ComfyUI 0.3.64 (tests/fixtures/comfyui/README.md).
RECORDINGS = Path(__file__).resolve().parent / "fixtures" / "comfyui"
OBJECT_INFO_PATH = RECORDINGS / "object_info.json"

SAMPLERS = {"KSampler", "KSamplerAdvanced", "SamplerCustom", "SamplerCustomAdvanced"}
UPLOAD_CLASSES = {("LoadImage", "image"), ("LoadImageMask", "image"), ("LoadVideo", "file")}

# Model files the double's loaders list by default: every default of workflows/index.json.
DEFAULT_MODELS: dict[tuple[str, str], list[str]] = {
    ("CheckpointLoaderSimple", "ckpt_name"): ["sd_xl_base_1.0.safetensors"],
    ("UNETLoader", "unet_name"): [
        "flux1-dev.safetensors",
        "wan2.2_i2v_high_noise_14B_fp8_scaled.safetensors",
        "wan2.2_i2v_low_noise_14B_fp8_scaled.safetensors",
        "wan2.2_ti2v_5B_fp16.safetensors",
    ],
    ("CLIPLoader", "clip_name"): ["umt5_xxl_fp8_e4m3fn_scaled.safetensors"],
    ("DualCLIPLoader", "clip_name1"): ["clip_l.safetensors", "t5xxl_fp8_e4m3fn.safetensors"],
    ("DualCLIPLoader", "clip_name2"): ["clip_l.safetensors", "t5xxl_fp8_e4m3fn.safetensors"],
    ("VAELoader", "vae_name"): [
        "ae.safetensors",
        "wan_2.1_vae.safetensors",
        "wan2.2_vae.safetensors",
        "pixel_space",
    ],
    ("UpscaleModelLoader", "model_name"): ["RealESRGAN_x4plus.pth"],
}

# PyTorch's CPU allocator when system RAM runs out (a --cpu server).
CPU_OOM_MESSAGE = (
    "[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: not enough memory: "
    "you tried to allocate 26843545600 bytes.\n"
)
# What ComfyUI sends to every socket when the prompt has no client id (sid=None).
BROADCAST_WITHOUT_CLIENT = {"progress", "progress_state", "execution_interrupted"}
# Small send buffers, so a client that stops reading blocks the publisher soon.
SEND_BUFFER = 32 * 1024
OOM_MESSAGE = (
    "Allocation on device 0 would exceed allowed memory. (out of memory)\n"
    "Currently allocated     : 22.31 GiB\nRequested               : 1.76 GiB\n"
    "Device limit            : 23.55 GiB\nFree (according to CUDA): 0 bytes\n"
)
MP4_STUB = (
    b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + b"\x00\x00\x00\x08free" + b"\x00" * 32
)

# A GPU as /system_stats reports it (the recording was a --cpu server).
GPU_DEVICE = {
    "name": "cuda:0 NVIDIA GeForce RTX 4090 : cudaMallocAsync",
    "type": "cuda",
    "index": 0,
    "vram_total": 25_757_220_864,
    "vram_free": 24_000_000_000,
    "torch_vram_total": 0,
    "torch_vram_free": 0,
}


def tiny_png(rgb: tuple[int, int, int] = (66, 204, 47), width: int = 16, height: int = 9) -> bytes:
    """A valid RGB PNG of one colour (stdlib only)."""
    row = b"\x00" + bytes(rgb) * width
    raw = row * height

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def _now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class Fault:
    kind: str
    delay: float | None = None
    down_s: float = 0.0


@dataclass
class _Prompt:
    number: int
    prompt_id: str
    graph: dict[str, Any]
    client_id: str | None
    outputs: list[str]
    fault: Fault
    interrupted: bool = False


@dataclass
class _Socket:
    proto: ServerProtocol
    writer: asyncio.StreamWriter
    client_id: str
    muted_for: set[str] = field(default_factory=set)
    silenced: bool = False


class _HttpError(Exception):
    def __init__(self, status: int, body: Any = b"") -> None:
        super().__init__(status)
        self.status = status
        self.body = body


class LoopbackComfy:
    """The double. ``start()`` binds 127.0.0.1 on a free port in a background thread.

    ``node_delay`` is the time each node "runs" (samplers split it into ``progress_steps``
    progress updates); ``models`` replaces the loaders' model lists ((class, input) -> files);
    ``gpu`` makes ``/system_stats`` report a CUDA device whose free VRAM drops by
    ``sampler_vram`` bytes once a sampler ran (ComfyUI keeps models loaded between prompts;
    a restart frees them). Without ``gpu`` it is a ``--cpu`` server, as recorded: one
    ``cpu`` device whose VRAM fields are the system RAM ``cpu_ram`` (total, free bytes).
    """

    def __init__(
        self,
        *,
        node_delay: float = 0.002,
        progress_steps: int = 3,
        models: dict[tuple[str, str], list[str]] | None = None,
        gpu: bool = False,
        sampler_vram: int = 9 * 2**30,
        object_info_path: Path = OBJECT_INFO_PATH,
        cpu_ram: tuple[int, int] = (25_276_502_016, 24_500_838_400),
    ) -> None:
        self.cpu_ram = cpu_ram
        self.node_delay = node_delay
        self.progress_steps = progress_steps
        self.models = copy.deepcopy(DEFAULT_MODELS if models is None else models)
        self.gpu = gpu
        self.sampler_vram = sampler_vram
        self._base_info: dict[str, Any] = json.loads(object_info_path.read_text(encoding="utf-8"))
        self.faults: deque[Fault] = deque()
        self.inputs: dict[str, bytes] = {}
        self.files: dict[tuple[str, str, str], bytes] = {}
        self.requests: list[tuple[str, str]] = []
        self.sent: dict[str, list[dict[str, Any]]] = {}
        self.started: list[str] = []
        self.finished: dict[str, str] = {}
        # time.monotonic() when each prompt began and ended executing (benchmarks).
        self.started_at: dict[str, float] = {}
        self.finished_at: dict[str, float] = {}
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.base_events.Server | None = None
        self._conns: set[asyncio.StreamWriter] = set()
        self._sockets: list[_Socket] = []
        self._silenced: list[_Socket] = []
        self._reset_state()

    # ------------------------------------------------------------------ lifecycle

    def _reset_state(self) -> None:
        self.pending: list[_Prompt] = []
        self.running: _Prompt | None = None
        self.history: dict[str, dict[str, Any]] = {}
        self._counter = 0
        self._cache: tuple[dict[str, Any], dict[str, Any]] | None = None
        self._current_node: str | None = None
        self._generation = getattr(self, "_generation", 0) + 1
        self._vram_in_use = 0
        self._info_bytes: bytes | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LoopbackComfy:
        ready = threading.Event()

        def main() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            loop.run_until_complete(self._listen(self.port))
            self._wake = asyncio.Event()
            self._outbox: asyncio.Queue[tuple[_Socket, bytes, dict[str, Any] | None]] = (
                asyncio.Queue()
            )
            self._worker = loop.create_task(self._execute_forever())
            self._publisher = loop.create_task(self._publish_forever())
            ready.set()
            loop.run_forever()
            tasks = asyncio.all_tasks(loop)
            for task in tasks:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

        self._thread = threading.Thread(target=main, name="loopback-comfy", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the loopback ComfyUI did not start")
        return self

    def stop(self) -> None:
        if self._loop is None:
            return
        with contextlib.suppress(Exception):
            self._call(self._shutdown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)
        self._loop = None

    def __enter__(self) -> LoopbackComfy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _call(self, coro: Any, timeout: float = 10.0) -> Any:
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    async def _listen(self, port: int) -> None:
        self._server = await asyncio.start_server(
            self._handle_conn, "127.0.0.1", port, limit=2**24, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def _close_connections(self) -> None:
        for sock in list(self._sockets) + list(self._silenced):
            sock.writer.transport.abort()
        self._sockets.clear()
        self._silenced.clear()
        for writer in list(self._conns):
            writer.transport.abort()
        self._conns.clear()

    async def _shutdown(self) -> None:
        self._worker.cancel()
        self._publisher.cancel()
        if self._server is not None:
            self._server.close()
        await self._close_connections()

    # ------------------------------------------------------------------ test controls

    def fault(self, kind: str, *, delay: float | None = None, down_s: float = 0.0) -> None:
        """Script the next accepted prompt (in order); ``"none"`` leaves one prompt alone."""
        self.faults.append(Fault(kind, delay, down_s))

    def restart(self, down_s: float = 0.0) -> None:
        """Forget queue, history and cache, cut every connection (as a restarted server)."""
        self._call(self._restart(down_s))

    async def _restart(self, down_s: float) -> None:
        self._reset_state()
        await self._close_connections()
        if down_s > 0 and self._server is not None:
            self._server.close()
            await asyncio.sleep(down_s)
            await self._listen(self.port)
        self._wake.set()

    def noise(self, count: int, size: int) -> None:
        """Broadcast ``count`` extension frames of about ``size`` bytes to every socket (a
        monitor extension's chatter, or a busy server's status traffic, in bulk)."""

        async def send() -> None:
            for i in range(count):
                for sock in list(self._sockets):
                    self._send(sock, "crystools.monitor", {"n": i, "padding": "x" * size})

        self._call(send())

    def published(self, timeout: float) -> bool:
        """Whether every frame queued so far went out within ``timeout`` seconds (False: a
        client that does not read holds the publisher up)."""

        async def join() -> bool:
            try:
                await asyncio.wait_for(self._outbox.join(), timeout)
            except TimeoutError:
                return False
            return True

        return bool(self._call(join(), timeout + 5))

    def messages(self, client_id: str, prompt_id: str | None = None) -> list[dict[str, Any]]:
        """What the double sent to ``client_id`` (optionally only about ``prompt_id``)."""
        sent = list(self.sent.get(client_id, []))
        if prompt_id is None:
            return sent
        return [m for m in sent if m["data"].get("prompt_id") == prompt_id]

    # ------------------------------------------------------------------ object_info

    def object_info(self) -> dict[str, Any]:
        info = copy.deepcopy(self._base_info)
        for (cls, name), files in self.models.items():
            spec = _find_input(info.get(cls), name)
            if spec is not None:
                _set_options(spec, list(files))
        # LoadImage lists os.listdir(input folder): files in subfolders are not in the list.
        top = [k for k in self.inputs if "/" not in k]
        uploaded_images = sorted(k for k in top if not k.endswith((".mp4", ".webm", ".mov", ".mkv")))
        uploaded_videos = sorted(k for k in top if k.endswith((".mp4", ".webm", ".mov", ".mkv")))
        for cls, name in UPLOAD_CLASSES:
            spec = _find_input(info.get(cls), name)
            if spec is not None:
                _set_options(spec, uploaded_videos if cls == "LoadVideo" else uploaded_images)
        return info

    def _object_info_bytes(self) -> bytes:
        if self._info_bytes is None:
            self._info_bytes = json.dumps(self.object_info()).encode()
        return self._info_bytes

    # ------------------------------------------------------------------ HTTP

    async def _handle_conn(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self._conns.add(writer)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                try:
                    method, target, _version = lines[0].split(" ", 2)
                except ValueError:
                    return
                headers: dict[str, str] = {}
                for line in lines[1:]:
                    if ":" in line:
                        key, value = line.split(":", 1)
                        headers[key.strip().lower()] = value.strip()
                url = urlsplit(target)
                query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
                if not self._origin_ok(headers):
                    await self._respond(writer, 403, b"Forbidden", "text/plain")
                    return
                if url.path == "/ws" and headers.get("upgrade", "").lower() == "websocket":
                    self._conns.discard(writer)
                    await self._serve_ws(reader, writer, head, query)
                    return
                body = await self._read_body(reader, headers)
                self.requests.append((method, url.path))
                try:
                    status, payload, ctype, extra = self._route(
                        method, unquote(url.path), query, headers, body
                    )
                except _HttpError as exc:
                    status, payload, ctype, extra = exc.status, exc.body, "application/json", {}
                if not isinstance(payload, bytes):
                    payload = json.dumps(payload).encode()
                    ctype = "application/json"
                keep = headers.get("connection", "").lower() != "close"
                await self._respond(writer, status, payload, ctype, extra, keep)
                if not keep:
                    return
        finally:
            self._conns.discard(writer)
            with contextlib.suppress(Exception):
                writer.close()

    def _origin_ok(self, headers: dict[str, str]) -> bool:
        origin = headers.get("origin")
        if not origin:
            return True
        return urlsplit(origin).netloc == headers.get("host", "")

    async def _read_body(self, reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
        if headers.get("transfer-encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size_line = await reader.readuntil(b"\r\n")
                size = int(size_line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    await reader.readuntil(b"\r\n")
                    return b"".join(chunks)
                chunks.append(await reader.readexactly(size))
                await reader.readexactly(2)
        length = int(headers.get("content-length", "0") or 0)
        return await reader.readexactly(length) if length else b""

    async def _respond(
        self,
        writer: asyncio.StreamWriter,
        status: int,
        body: bytes,
        ctype: str,
        extra: dict[str, str] | None = None,
        keep: bool = False,
    ) -> None:
        reason = {
            200: "OK",
            400: "Bad Request",
            403: "Forbidden",
            404: "Not Found",
            500: "Internal Server Error",
        }
        head = [
            f"HTTP/1.1 {status} {reason.get(status, 'OK')}",
            f"Content-Type: {ctype}",
            f"Content-Length: {len(body)}",
        ]
        head += [f"{k}: {v}" for k, v in (extra or {}).items()]
        head.append("Connection: keep-alive" if keep else "Connection: close")
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
        with contextlib.suppress(ConnectionError):
            await writer.drain()

    def _route(
        self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: bytes
    ) -> tuple[int, Any, str, dict[str, str]]:
        if method == "GET":
            if path == "/object_info":
                return 200, self._object_info_bytes(), "application/json", {}
            if path.startswith("/object_info/"):
                cls = path[len("/object_info/") :]
                info = self.object_info()
                return 200, ({cls: info[cls]} if cls in info else {}), "", {}
            if path == "/system_stats":
                return 200, self._system_stats(), "", {}
            if path == "/prompt":
                return 200, {"exec_info": {"queue_remaining": self._remaining()}}, "", {}
            if path == "/features":
                return (
                    200,
                    {"supports_preview_metadata": True, "max_upload_size": 104857600},
                    "",
                    {},
                )
            if path == "/queue":
                return 200, self._queue_json(), "", {}
            if path == "/history":
                return 200, self.history, "", {}
            if path.startswith("/history/"):
                pid = path[len("/history/") :]
                return 200, ({pid: self.history[pid]} if pid in self.history else {}), "", {}
            if path == "/view":
                return self._view(query)
        if method == "POST":
            if path == "/prompt":
                return self._post_prompt(body)
            if path == "/queue":
                data = _json_or_empty(body)
                if data.get("clear"):
                    self.pending.clear()
                for pid in data.get("delete", []) or []:
                    self.pending = [p for p in self.pending if p.prompt_id != pid]
                self._broadcast_status()
                return 200, b"", "text/plain", {}
            if path == "/interrupt":
                data = _json_or_empty(body)
                pid = data.get("prompt_id")
                if self.running is not None and (pid is None or pid == self.running.prompt_id):
                    self.running.interrupted = True
                return 200, b"", "text/plain", {}
            if path == "/history":
                data = _json_or_empty(body)
                if data.get("clear"):
                    self.history.clear()
                for pid in data.get("delete", []) or []:
                    self.history.pop(pid, None)
                return 200, b"", "text/plain", {}
            if path in ("/upload/image", "/upload/mask"):
                return self._upload(headers, body)
        return 404, b"404: Not Found", "text/plain", {}

    def _system_stats(self) -> dict[str, Any]:
        device = (
            dict(GPU_DEVICE)
            if self.gpu
            else {
                "name": "cpu",
                "type": "cpu",
                "index": None,
                "vram_total": self.cpu_ram[0],
                "vram_free": self.cpu_ram[1],
                "torch_vram_total": self.cpu_ram[0],
                "torch_vram_free": self.cpu_ram[1],
            }
        )
        if self.gpu:
            device["vram_free"] = GPU_DEVICE["vram_free"] - self._vram_in_use
        return {
            "system": {
                "os": "posix",
                "ram_total": self.cpu_ram[0],
                "ram_free": self.cpu_ram[1],
                "comfyui_version": "0.3.64",
                "required_frontend_version": "1.27.10",
                "python_version": "3.11.7",
                "pytorch_version": "2.13.0+cu128" if self.gpu else "2.13.0+cpu",
                "embedded_python": False,
                "argv": ["main.py", "--listen", "127.0.0.1", "--port", str(self.port)],
            },
            "devices": [device],
        }

    def _view(self, query: dict[str, str]) -> tuple[int, Any, str, dict[str, str]]:
        filename = query.get("filename", "")
        if not filename or filename.startswith("/") or ".." in filename:
            return 400, b"", "text/plain", {}
        key = (query.get("type", "output"), query.get("subfolder", ""), filename)
        if key[0] == "input":
            name = f"{key[1]}/{filename}" if key[1] else filename
            data = self.inputs.get(name)
        else:
            data = self.files.get(key)
        if data is None:
            return 404, b"404: Not Found", "text/plain", {}
        ctype = "video/mp4" if filename.endswith(".mp4") else "image/png"
        return 200, data, ctype, {"Content-Disposition": f'filename="{filename}"'}

    def _upload(self, headers: dict[str, str], body: bytes) -> tuple[int, Any, str, dict[str, str]]:
        fields = _parse_multipart(headers.get("content-type", ""), body)
        if "image" not in fields or fields["image"][0] is None:
            return 400, b"", "text/plain", {}
        filename, data = fields["image"]
        subfolder = (fields.get("subfolder", (None, b""))[1] or b"").decode()
        overwrite = (fields.get("overwrite", (None, b""))[1] or b"").decode().lower() in (
            "true",
            "1",
        )
        name = Path(filename or "upload.png").name
        key = f"{subfolder}/{name}" if subfolder else name
        if not overwrite:
            stem, suffix, n = Path(name).stem, Path(name).suffix, 1
            while key in self.inputs and self.inputs[key] != data:
                name = f"{stem} ({n}){suffix}"
                key = f"{subfolder}/{name}" if subfolder else name
                n += 1
        self.inputs[key] = data
        self._info_bytes = None
        return 200, {"name": name, "subfolder": subfolder, "type": "input"}, "", {}

    def _queue_json(self) -> dict[str, Any]:
        def row(p: _Prompt) -> list[Any]:
            return [p.number, p.prompt_id, p.graph, {"client_id": p.client_id}, p.outputs]

        return {
            "queue_running": [row(self.running)] if self.running is not None else [],
            "queue_pending": [row(p) for p in self.pending],
        }

    def _remaining(self) -> int:
        return len(self.pending) + (1 if self.running is not None else 0)

    # ------------------------------------------------------------------ validation

    def _post_prompt(self, body: bytes) -> tuple[int, Any, str, dict[str, str]]:
        try:
            data = json.loads(body)
        except ValueError:
            return (
                500,
                b"500 Internal Server Error\n\nServer got itself in trouble",
                "text/plain",
                {},
            )
        if not isinstance(data, dict) or "prompt" not in data:
            return 400, _error("no_prompt", "No prompt provided", "No prompt provided"), "", {}
        graph = data["prompt"]
        if not isinstance(graph, dict):
            return (
                400,
                _error("invalid_prompt", "Invalid prompt: prompt must be an object", ""),
                "",
                {},
            )
        info = self.object_info()
        for node_id, node in graph.items():
            if not isinstance(node, dict) or "class_type" not in node:
                return (
                    400,
                    _error(
                        "invalid_prompt",
                        "Cannot execute because a node is missing the class_type property.",
                        f"Node ID '#{node_id}'",
                    ),
                    "",
                    {},
                )
            if node["class_type"] not in info:
                return (
                    400,
                    _error(
                        "invalid_prompt",
                        f"Cannot execute because node {node['class_type']} does not exist.",
                        f"Node ID '#{node_id}'",
                    ),
                    "",
                    {},
                )
        outputs = [nid for nid, n in graph.items() if info[n["class_type"]].get("output_node")]
        if not outputs:
            return 400, _error("prompt_no_outputs", "Prompt has no outputs", ""), "", {}
        node_errors: dict[str, dict[str, Any]] = {}
        good: list[str] = []
        own_failures: list[str] = []
        memo: dict[str, bool] = {}
        for out in outputs:
            errors: dict[str, list[dict[str, Any]]] = {}
            ok = _validate_node(graph, info, out, memo, errors, self.inputs)
            if ok:
                good.append(out)
                continue
            for nid, errs in errors.items():
                entry = node_errors.setdefault(
                    nid,
                    {
                        "errors": errs,
                        "dependent_outputs": [],
                        "class_type": graph[nid]["class_type"],
                    },
                )
                entry["dependent_outputs"].append(out)
            if out in errors:
                own_failures += [f"{e['message']}: {e['details']}" for e in errors[out]]
        if not good:
            error = {
                "type": "prompt_outputs_failed_validation",
                "message": "Prompt outputs failed validation",
                "details": "\n".join(own_failures),
                "extra_info": {},
            }
            return 400, {"error": error, "node_errors": node_errors}, "", {}
        prompt_id = str(data.get("prompt_id") or uuid.uuid4())
        number = self._counter
        self._counter += 1
        fault = self.faults.popleft() if self.faults else Fault("none")
        prompt = _Prompt(number, prompt_id, graph, data.get("client_id"), good, fault)
        self.pending.append(prompt)
        self._broadcast_status()
        self._wake.set()
        return 200, {"prompt_id": prompt_id, "number": number, "node_errors": node_errors}, "", {}

    # ------------------------------------------------------------------ websocket

    async def _serve_ws(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        head: bytes,
        query: dict[str, str],
    ) -> None:
        proto = ServerProtocol(max_size=None)
        proto.receive_data(head)
        events = proto.events_received()
        if not events:
            writer.close()
            return
        response = proto.accept(events[0])
        proto.send_response(response)
        writer.write(b"".join(proto.data_to_send()))
        if response.status_code != 101:
            writer.close()
            return
        sock = _Socket(proto, writer, query.get("clientId") or uuid.uuid4().hex)
        raw = writer.get_extra_info("socket")
        if raw is not None:
            with contextlib.suppress(OSError):
                raw.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
        writer.transport.set_write_buffer_limits(high=SEND_BUFFER)
        for old in [s for s in self._sockets if s.client_id == sock.client_id]:
            # ComfyUI keeps one socket per client id: the old one stays open, silent.
            old.silenced = True
            self._sockets.remove(old)
            self._silenced.append(old)
        self._sockets.append(sock)
        self._send(
            sock,
            "status",
            {
                "status": {"exec_info": {"queue_remaining": self._remaining()}},
                "sid": sock.client_id,
            },
        )
        if (
            self.running is not None
            and self.running.client_id == sock.client_id
            and self._current_node
        ):
            self._send(
                sock,
                "executing",
                {
                    "node": self._current_node,
                    "display_node": self._current_node,
                    "prompt_id": self.running.prompt_id,
                },
            )
        try:
            while True:
                try:
                    data = await reader.read(65536)
                except ConnectionError:
                    break
                if not data:
                    proto.receive_eof()
                else:
                    proto.receive_data(data)
                proto.events_received()
                out = proto.data_to_send()
                if out:
                    writer.write(b"".join(out))
                # After a close handshake the server closes TCP first (RFC 6455 7.1.1).
                if not data or proto.state is State.CLOSED or proto.close_expected():
                    break
        finally:
            if sock in self._sockets:
                self._sockets.remove(sock)
            if sock in self._silenced:
                self._silenced.remove(sock)
            writer.close()

    def _send(self, sock: _Socket, kind: str, data: dict[str, Any]) -> None:
        message = {"type": kind, "data": data}
        if sock.proto.state is not State.OPEN or data.get("prompt_id") in sock.muted_for:
            return
        sock.proto.send_text(json.dumps(message).encode())
        self._outbox.put_nowait((sock, b"".join(sock.proto.data_to_send()), message))

    def _send_binary(self, client_id: str | None, payload: bytes) -> None:
        for sock in list(self._sockets):
            if (
                (client_id is None or sock.client_id == client_id)
                and sock.proto.state is State.OPEN
                and not sock.muted_for
            ):
                sock.proto.send_binary(payload)
                self._outbox.put_nowait((sock, b"".join(sock.proto.data_to_send()), None))

    async def _publish_forever(self) -> None:
        """ComfyUI's publish_loop: one frame at a time, each awaited until written."""
        while True:
            sock, frame, message = await self._outbox.get()
            try:
                if sock.writer.transport.is_closing():
                    continue
                if message is not None:
                    self.sent.setdefault(sock.client_id, []).append(message)
                sock.writer.write(frame)
                await sock.writer.drain()
            except (ConnectionError, RuntimeError):
                pass
            finally:
                self._outbox.task_done()

    def _emit(self, client_id: str | None, kind: str, data: dict[str, Any]) -> None:
        """An execution event: only to the client that queued the prompt; without one, what
        ComfyUI broadcasts (``BROADCAST_WITHOUT_CLIENT``) goes to every socket."""
        if client_id is None:
            if kind in BROADCAST_WITHOUT_CLIENT:
                for sock in list(self._sockets):
                    self._send(sock, kind, data)
            return
        for sock in list(self._sockets):
            if sock.client_id == client_id:
                self._send(sock, kind, data)

    def _broadcast_status(self) -> None:
        for sock in list(self._sockets):
            self._send(
                sock, "status", {"status": {"exec_info": {"queue_remaining": self._remaining()}}}
            )

    # ------------------------------------------------------------------ execution

    async def _execute_forever(self) -> None:
        while True:
            if not self.pending:
                self._wake.clear()
                await self._wake.wait()
                continue
            prompt = self.pending.pop(0)
            self.running = prompt
            generation = self._generation
            try:
                await self._execute(prompt, generation)
            finally:
                if self._generation == generation:
                    self.running = None
                    self._current_node = None

    async def _execute(self, p: _Prompt, generation: int) -> None:
        pid, cid = p.prompt_id, p.client_id
        self.started.append(pid)
        self.started_at[pid] = time.monotonic()
        self._broadcast_status()
        messages: list[list[Any]] = []

        def record(kind: str, data: dict[str, Any], *, ws: bool = True) -> None:
            data = {**data, "timestamp": _now_ms()} if kind.startswith("execution_") else data
            if kind in (
                "execution_start",
                "execution_cached",
                "execution_success",
                "execution_error",
                "execution_interrupted",
            ):
                messages.append([kind, data])
            if ws:
                self._emit(cid, kind, data)

        order = _topological(p.graph, p.outputs)
        record("execution_start", {"prompt_id": pid})
        cached = self._cache is not None and self._cache[0] == p.graph
        record("execution_cached", {"nodes": list(order) if cached else [], "prompt_id": pid})
        self._emit(cid, "crystools.monitor", {"cpu_utilization": 3.0})  # extensions' noise
        outputs: dict[str, Any] = {}
        if cached:
            # Only the output nodes run, from the cache: each says executed and finishes its
            # progress; then execution_success, as for any prompt.
            assert self._cache is not None
            outputs = copy.deepcopy(self._cache[1])
            done_states: dict[str, dict[str, Any]] = {}
            for node_id in sorted(p.outputs, key=lambda n: (len(n), n)):
                if node_id in outputs:
                    record(
                        "executed",
                        {
                            "node": node_id,
                            "display_node": node_id,
                            "output": outputs[node_id],
                            "prompt_id": pid,
                        },
                    )
                done_states[node_id] = _node_state(pid, node_id, "finished", 1.0)
                self._emit(
                    cid, "progress_state", {"prompt_id": pid, "nodes": copy.deepcopy(done_states)}
                )
            record("execution_success", {"prompt_id": pid})
            self._finish(p, "success", outputs, messages, generation)
            return
        fault = p.fault
        strike = next((n for n in order if p.graph[n]["class_type"] in SAMPLERS), order[-1])
        delay = fault.delay if fault.kind == "slow" and fault.delay is not None else self.node_delay
        states: dict[str, dict[str, Any]] = {}
        executed: list[str] = []
        for node_id in order:
            if self._generation != generation:
                return
            cls = p.graph[node_id]["class_type"]
            if p.interrupted:
                record(
                    "execution_interrupted",
                    {"prompt_id": pid, "node_id": node_id, "node_type": cls, "executed": executed},
                )
                self._finish(p, "interrupted", {}, messages, generation)
                return
            self._current_node = node_id
            states[node_id] = _node_state(pid, node_id, "running", 0.0)
            self._emit(cid, "progress_state", {"prompt_id": pid, "nodes": copy.deepcopy(states)})
            self._emit(
                cid, "executing", {"node": node_id, "display_node": node_id, "prompt_id": pid}
            )
            if node_id == strike and fault.kind in (
                "drop_ws",
                "mute_ws",
                "restart",
                "oom_ws",
                "oom_history",
                "oom_cpu",
                "error",
            ):
                if fault.kind == "drop_ws":
                    for sock in [s for s in self._sockets if s.client_id == cid]:
                        sock.writer.transport.abort()
                elif fault.kind == "mute_ws":
                    for sock in [s for s in self._sockets if s.client_id == cid]:
                        sock.muted_for.add(pid)
                elif fault.kind == "restart":
                    await self._restart(fault.down_s)
                    return
                else:
                    if cls in SAMPLERS:
                        self._vram_in_use = self.sampler_vram
                    await asyncio.sleep(delay)
                    if self._generation != generation:
                        return
                    error = _error_data(pid, node_id, cls, executed, fault.kind)
                    record("execution_error", error, ws=fault.kind != "oom_history")
                    self._finish(
                        p, "error", {}, messages, generation, end_marker=fault.kind != "oom_history"
                    )
                    return
            if cls in SAMPLERS:
                self._vram_in_use = self.sampler_vram
                steps = max(1, self.progress_steps)
                total = (
                    int(p.graph[node_id]["inputs"].get("steps", steps))
                    if isinstance(p.graph[node_id]["inputs"].get("steps"), int)
                    else steps
                )
                for i in range(1, steps + 1):
                    await asyncio.sleep(delay / steps)
                    if self._generation != generation:
                        return
                    if p.interrupted:
                        break
                    value = max(1, round(total * i / steps))
                    self._emit(
                        cid,
                        "progress",
                        {"value": value, "max": total, "prompt_id": pid, "node": node_id},
                    )
                    self._send_binary(cid, struct.pack(">II", 1, 2) + tiny_png((9, 9, 9), 2, 2))
                if p.interrupted:
                    record(
                        "execution_interrupted",
                        {
                            "prompt_id": pid,
                            "node_id": node_id,
                            "node_type": cls,
                            "executed": executed,
                        },
                    )
                    self._finish(p, "interrupted", {}, messages, generation)
                    return
            else:
                await asyncio.sleep(delay)
                if self._generation != generation:
                    return
            if cls == "SaveImage":
                outputs[node_id] = {
                    "images": [self._save(p, node_id, ".png", tiny_png(_colour(pid)))]
                }
            elif cls == "SaveVideo":
                outputs[node_id] = {
                    "images": [self._save(p, node_id, ".mp4", MP4_STUB)],
                    "animated": [True],
                }
            if node_id in outputs:
                record(
                    "executed",
                    {
                        "node": node_id,
                        "display_node": node_id,
                        "output": outputs[node_id],
                        "prompt_id": pid,
                    },
                )
            executed.append(node_id)
            states[node_id] = _node_state(pid, node_id, "finished", 1.0)
            self._emit(cid, "progress_state", {"prompt_id": pid, "nodes": copy.deepcopy(states)})
        record("execution_success", {"prompt_id": pid})
        self._cache = (copy.deepcopy(p.graph), copy.deepcopy(outputs))
        self._finish(p, "success", outputs, messages, generation)

    def _save(self, p: _Prompt, node_id: str, suffix: str, data: bytes) -> dict[str, str]:
        prefix = str(p.graph[node_id]["inputs"].get("filename_prefix", "ComfyUI"))
        subfolder, _, base = prefix.rpartition("/")
        n = 1 + sum(
            1
            for (t, s, f) in self.files
            if t == "output" and s == subfolder and f.startswith(base + "_")
        )
        filename = f"{base}_{n:05}_{suffix}"
        self.files[("output", subfolder, filename)] = data
        return {"filename": filename, "subfolder": subfolder, "type": "output"}

    def _finish(
        self,
        p: _Prompt,
        outcome: str,
        outputs: dict[str, Any],
        messages: list[list[Any]],
        generation: int,
        *,
        end_marker: bool = True,
    ) -> None:
        if self._generation != generation:
            return
        success = outcome == "success"
        self.history[p.prompt_id] = {
            "prompt": [p.number, p.prompt_id, p.graph, {"client_id": p.client_id}, p.outputs],
            "outputs": outputs,
            "status": {
                "status_str": "success" if success else "error",
                "completed": success,
                "messages": messages,
            },
            "meta": {
                n: {"node_id": n, "display_node": n, "parent_node": None, "real_node_id": n}
                for n in outputs
            },
        }
        self.finished[p.prompt_id] = outcome
        self.finished_at[p.prompt_id] = time.monotonic()
        self.running = None
        self._current_node = None
        self._broadcast_status()
        if end_marker:
            self._emit(p.client_id, "executing", {"node": None, "prompt_id": p.prompt_id})


# --------------------------------------------------------------------------- helpers


def _error(kind: str, message: str, details: str) -> dict[str, Any]:
    return {
        "error": {"type": kind, "message": message, "details": details, "extra_info": {}},
        "node_errors": {},
    }


def _json_or_empty(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body) if body else {}
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _find_input(info: dict[str, Any] | None, name: str) -> list[Any] | None:
    if info is None:
        return None
    for section in ("required", "optional"):
        spec = (info.get("input", {}).get(section) or {}).get(name)
        if spec is not None:
            return spec
    return None


def _set_options(spec: list[Any], options: list[str]) -> None:
    if spec and isinstance(spec[0], list):
        spec[0] = options
    elif spec and spec[0] == "COMBO" and len(spec) > 1:
        spec[1]["options"] = options


def _options(spec: list[Any]) -> list[Any] | None:
    if spec and isinstance(spec[0], list):
        return spec[0]
    if spec and spec[0] == "COMBO":
        return list(spec[1].get("options", [])) if len(spec) > 1 else []
    return None


def _validate_node(
    graph: dict[str, Any],
    info: dict[str, Any],
    node_id: str,
    memo: dict[str, bool],
    errors: dict[str, list[dict[str, Any]]],
    inputs: dict[str, bytes],
) -> bool:
    """ComfyUI's validate_inputs, reduced: required inputs, links, numbers, combos."""
    if node_id in memo:
        return memo[node_id]
    memo[node_id] = True  # cycles are not ours to find
    node = graph[node_id]
    cls = node["class_type"]
    node_info = info[cls]
    required = node_info.get("input", {}).get("required", {}) or {}
    optional = node_info.get("input", {}).get("optional", {}) or {}
    given = node.get("inputs", {}) or {}
    errs: list[dict[str, Any]] = []
    valid = True
    for name, spec in {**required, **optional}.items():
        if name not in given:
            if name in required:
                errs.append(
                    {
                        "type": "required_input_missing",
                        "message": "Required input is missing",
                        "details": name,
                        "extra_info": {"input_name": name},
                    }
                )
            continue
        value = given[name]
        if isinstance(value, list) and len(value) == 2 and isinstance(value[0], str):
            source = value[0]
            if source not in graph:
                errs.append(
                    {
                        "type": "exception_during_validation",
                        "message": "Exception when validating node",
                        "details": repr(source),
                        "extra_info": {"exception_type": "KeyError", "traceback": []},
                    }
                )
                continue
            if not _validate_node(graph, info, source, memo, errors, inputs):
                valid = False
            continue
        if (cls, name) in UPLOAD_CLASSES:
            if value not in inputs:
                what = "video" if cls == "LoadVideo" else "image"
                errs.append(
                    {
                        "type": "custom_validation_failed",
                        "message": "Custom validation failed for node",
                        "details": f"{name} - Invalid {what} file: {value}",
                        "extra_info": {"input_name": name},
                    }
                )
            continue
        options = _options(spec)
        opts = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
        if options is not None:
            if value not in options:
                errs.append(
                    {
                        "type": "value_not_in_list",
                        "message": "Value not in list",
                        "details": f"{name}: '{value}' not in {options}",
                        "extra_info": {
                            "input_name": name,
                            "input_config": spec,
                            "received_value": value,
                        },
                    }
                )
        elif spec[0] in ("INT", "FLOAT"):
            try:
                number = int(value) if spec[0] == "INT" else float(value)
            except (TypeError, ValueError):
                errs.append(
                    {
                        "type": "invalid_input_type",
                        "message": f"Failed to convert an input value to a {spec[0]} value",
                        "details": f"{name}, {value}",
                        "extra_info": {"input_name": name},
                    }
                )
                continue
            if "min" in opts and number < opts["min"]:
                errs.append(
                    {
                        "type": "value_smaller_than_min",
                        "message": f"Value {number} smaller than min of {opts['min']}",
                        "details": name,
                        "extra_info": {
                            "input_name": name,
                            "input_config": spec,
                            "received_value": value,
                        },
                    }
                )
            if "max" in opts and number > opts["max"]:
                errs.append(
                    {
                        "type": "value_bigger_than_max",
                        "message": f"Value {number} bigger than max of {opts['max']}",
                        "details": name,
                        "extra_info": {
                            "input_name": name,
                            "input_config": spec,
                            "received_value": value,
                        },
                    }
                )
    if errs:
        errors[node_id] = errs
        valid = False
    memo[node_id] = valid
    return valid


def _topological(graph: dict[str, Any], outputs: list[str]) -> list[str]:
    """Nodes the outputs need, each after its inputs (ties by id, as a stable order)."""
    order: list[str] = []
    seen: set[str] = set()

    def visit(node_id: str) -> None:
        if node_id in seen:
            return
        seen.add(node_id)
        for value in (graph[node_id].get("inputs") or {}).values():
            if (
                isinstance(value, list)
                and len(value) == 2
                and isinstance(value[0], str)
                and value[0] in graph
            ):
                visit(value[0])
        order.append(node_id)

    for out in sorted(outputs, key=lambda n: (len(n), n)):
        visit(out)
    return order


def _node_state(pid: str, node_id: str, state: str, value: float) -> dict[str, Any]:
    return {
        "value": value,
        "max": 1.0,
        "state": state,
        "node_id": node_id,
        "prompt_id": pid,
        "display_node_id": node_id,
        "parent_node_id": None,
        "real_node_id": node_id,
    }


def _error_data(pid: str, node_id: str, cls: str, executed: list[str], kind: str) -> dict[str, Any]:
    oom = kind in ("oom_ws", "oom_history")
    if kind == "oom_cpu":
        return {
            "prompt_id": pid,
            "node_id": node_id,
            "node_type": cls,
            "executed": list(executed),
            "exception_message": CPU_OOM_MESSAGE,
            "exception_type": "RuntimeError",
            "traceback": ['  File "/srv/comfyui/src/execution.py", line 496, in execute\n'],
            "current_inputs": {},
            "current_outputs": list(executed),
        }
    return {
        "prompt_id": pid,
        "node_id": node_id,
        "node_type": cls,
        "executed": list(executed),
        "exception_message": OOM_MESSAGE
        if oom
        else "index 3 is out of bounds for dimension 3 with size 3\n",
        "exception_type": "torch.OutOfMemoryError" if oom else "IndexError",
        "traceback": ['  File "/srv/comfyui/src/execution.py", line 496, in execute\n'],
        "current_inputs": {},
        "current_outputs": list(executed),
    }


def _colour(pid: str) -> tuple[int, int, int]:
    digest = zlib.crc32(pid.encode())
    return (digest & 255, (digest >> 8) & 255, (digest >> 16) & 255)


def _parse_multipart(content_type: str, body: bytes) -> dict[str, tuple[str | None, bytes]]:
    """name -> (filename or None, bytes) from a multipart/form-data body."""
    boundary = ""
    for part in content_type.split(";"):
        part = part.strip()
        if part.startswith("boundary="):
            boundary = part[len("boundary=") :].strip('"')
    if not boundary:
        return {}
    fields: dict[str, tuple[str | None, bytes]] = {}
    delimiter = b"--" + boundary.encode()
    for chunk in body.split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            break
        chunk = chunk[2:] if chunk.startswith(b"\r\n") else chunk
        head, _, data = chunk.partition(b"\r\n\r\n")
        data = data[:-2] if data.endswith(b"\r\n") else data
        name = filename = None
        for line in head.decode("utf-8", "replace").split("\r\n"):
            if line.lower().startswith("content-disposition"):
                for item in line.split(";")[1:]:
                    key, _, value = item.strip().partition("=")
                    value = value.strip('"')
                    if key == "name":
                        name = value
                    elif key == "filename":
                        filename = value
        if name is not None:
            fields[name] = (filename, data)
    return fields


@contextlib.contextmanager
def running(**kwargs: Any) -> Iterator[LoopbackComfy]:
    """``with running(node_delay=0) as server: server.url`` — a started double."""
    server = LoopbackComfy(**kwargs).start()
    try:
        yield server
    finally:
        server.stop()
