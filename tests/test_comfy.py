"""The ComfyUI client and backend against the loopback ComfyUI double (tests/comfy_loopback.py),
which reproduces the shapes and message order recorded from a real ComfyUI 0.3.64.

Every test has a hard time bound (pytest-timeout) and the client runs with short timeouts,
so a regression that would hang fails instead."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from comfy_loopback import DEFAULT_MODELS, RECORDINGS, LoopbackComfy, running, tiny_png

from render.backend import RenderFailed
from render.comfy import (
    BUILTIN_TUNING,
    ComfyBackend,
    ComfyClient,
    PromptResult,
    is_oom,
    load_tuning,
    summarize_node_errors,
    wan_length,
)
from render.presets import load_presets
from render.workflows import workflow_hash
from studio.model import RenderSpec

pytestmark = pytest.mark.timeout(20)

SAMPLES = RECORDINGS / "samples"
FAST = {
    "poll_interval": 0.05,
    "silence_s": 0.4,
    "down_grace_s": 3.0,
    "settle_s": 1.0,
    "cancel_grace_s": 3.0,
    "job_timeout": 10.0,
    "timeout": 5.0,
    "connect_timeout": 2.0,
}


def sample(name: str) -> Any:
    return json.loads((SAMPLES / name).read_text(encoding="utf-8"))


_OPEN: list[ComfyClient] = []


def new_client(url: str, **kw: Any) -> ComfyClient:
    """A client closed after the test, whatever happens (no leaked sockets)."""
    made = ComfyClient(url, **{**FAST, **kw})
    _OPEN.append(made)
    return made


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while _OPEN:
        _OPEN.pop().close()


@pytest.fixture
def server() -> Iterator[LoopbackComfy]:
    with running() as srv:
        yield srv


@pytest.fixture
def client(server: LoopbackComfy) -> Iterator[ComfyClient]:
    with ComfyClient(server.url, **FAST) as c:
        yield c


def empty_image_graph(prefix: str = "harness/empty", color: int = 4377647) -> dict[str, Any]:
    """The weight-free graph the recordings were made with."""
    return {
        "1": {
            "class_type": "EmptyImage",
            "inputs": {"width": 64, "height": 48, "batch_size": 1, "color": color},
        },
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": prefix}},
    }


def sampler_graph(prefix: str = "t/s") -> dict[str, Any]:
    """A graph with a sampler (faults strike there) and many nodes (cancel lands between)."""
    graph = {
        "4": {
            "class_type": "CheckpointLoaderSimple",
            "inputs": {"ckpt_name": "sd_xl_base_1.0.safetensors"},
        },
        "6": {"class_type": "CLIPTextEncode", "inputs": {"clip": ["4", 1], "text": prefix}},
        "5": {
            "class_type": "EmptyLatentImage",
            "inputs": {"width": 64, "height": 64, "batch_size": 1},
        },
        "3": {
            "class_type": "KSampler",
            "inputs": {
                "model": ["4", 0],
                "positive": ["6", 0],
                "negative": ["6", 0],
                "latent_image": ["5", 0],
                "seed": 1,
                "steps": 20,
                "cfg": 7.0,
                "sampler_name": "euler",
                "scheduler": "normal",
                "denoise": 1.0,
            },
        },
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
        "9": {"class_type": "SaveImage", "inputs": {"images": ["8", 0], "filename_prefix": prefix}},
    }
    return graph


def wait_until(predicate: Any, timeout: float = 5.0) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError("condition not reached in time")
        time.sleep(0.01)


# --------------------------------------------------------------------------- shapes


def test_success_follows_the_recorded_message_order(
    server: LoopbackComfy, client: ComfyClient
) -> None:
    pid = client.queue_prompt(empty_image_graph())
    result = client.wait(pid)
    assert result.files() == [
        {"filename": "empty_00001_.png", "subfolder": "harness", "type": "output"}
    ]
    sent = [m for m in server.messages(client.client_id) if m["type"] != "crystools.monitor"]
    # status on connect (with sid), then the recorded sequence from the POST on.
    assert sent[0] == {
        "type": "status",
        "data": {"status": {"exec_info": {"queue_remaining": 0}}, "sid": client.client_id},
    }
    kinds = [m["type"] for m in sent[1:]]
    assert kinds[:4] == ["status", "status", "execution_start", "execution_cached"]
    assert kinds[-3:] == ["execution_success", "status", "executing"]
    assert sent[-1]["data"] == {"node": None, "prompt_id": pid}
    middle = kinds[4:-3]
    assert set(middle) <= {"progress_state", "executing", "progress", "executed"}
    assert middle.index("progress_state") < middle.index("executing")
    # Payload shapes are the recorded ones.
    by_kind = {m["type"]: m["data"] for m in sent}
    for kind, name in [
        ("execution_start", "ws_execution_start.json"),
        ("execution_cached", "ws_execution_cached.json"),
        ("executed", "ws_executed.json"),
        ("execution_success", "ws_execution_success.json"),
        ("progress_state", "ws_progress_state.json"),
    ]:
        assert set(by_kind[kind]) == set(sample(name)["data"]), kind
    executing = next(m["data"] for m in sent if m["type"] == "executing" and m["data"]["node"])
    assert set(executing) == set(sample("ws_executing.json")["data"])
    assert by_kind["executed"]["output"] == sample("ws_executed.json")["data"]["output"] | {
        "images": [{"filename": "empty_00001_.png", "subfolder": "harness", "type": "output"}]
    }
    # The history entry has the recorded shape.
    recorded = next(iter(sample("http_history_success.json").values()))
    entry = result.entry
    assert set(entry) == set(recorded)
    assert set(entry["status"]) == set(recorded["status"])
    assert [m[0] for m in entry["status"]["messages"]] == [
        m[0] for m in recorded["status"]["messages"]
    ]
    assert entry["prompt"][1] == pid and entry["prompt"][3] == {"client_id": client.client_id}
    assert entry["prompt"][4] == ["2"]


def test_an_unchanged_graph_runs_all_cached(server: LoopbackComfy, client: ComfyClient) -> None:
    first = client.wait(client.queue_prompt(empty_image_graph()))
    pid = client.queue_prompt(empty_image_graph())
    second = client.wait(pid)
    assert second.files() == first.files()
    cached = next(
        m for m in server.messages(client.client_id, pid) if m["type"] == "execution_cached"
    )
    assert sorted(cached["data"]["nodes"]) == ["1", "2"]
    kinds = [m["type"] for m in server.messages(client.client_id, pid)]
    # As a real ComfyUI 0.3.64: the output node runs from the cache and finishes its
    # progress, and the prompt ends with execution_success like any other.
    assert kinds == [
        "execution_start",
        "execution_cached",
        "executed",
        "progress_state",
        "execution_success",
        "executing",
    ]


def test_queue_and_system_stats_shapes(server: LoopbackComfy, client: ComfyClient) -> None:
    stats = client.system_stats()
    recorded = sample("http_system_stats.json")
    assert set(stats) == set(recorded) and set(stats["devices"][0]) == set(recorded["devices"][0])
    assert stats["system"]["comfyui_version"] == "0.3.64"
    raw = httpx.get(server.url + "/queue").json()
    assert raw == sample("http_queue_idle.json")
    assert client.queue().running == () and client.queue().pending == ()
    assert httpx.get(server.url + "/prompt").json() == sample("http_get_prompt.json")
    assert client.history("no-such-prompt") == {}
    assert httpx.get(server.url + "/history/no-such-prompt").json() == {}
    info = client.object_info()
    assert len(info) == 496
    assert info["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"][0] == [
        "sd_xl_base_1.0.safetensors"
    ]
    assert client.object_info() is info  # cached


def test_upload_and_download_round_trip(
    tmp_path: Path, server: LoopbackComfy, client: ComfyClient
) -> None:
    png = tiny_png((1, 2, 3))
    (tmp_path / "ref.png").write_bytes(png)
    result = client.upload_image(tmp_path / "ref.png", subfolder="aiuteur")
    assert result == {"name": "ref.png", "subfolder": "aiuteur", "type": "input"}
    assert set(result) == set(sample("http_upload_image.json"))
    assert client.download("ref.png", "aiuteur", "input") == png
    # As a real ComfyUI: LoadImage lists the top of the input folder only, so an upload
    # into a subfolder is not in its options, though a prompt may use it (below).
    client.upload_image(tmp_path / "ref.png", name="top.png")
    options = client.object_info(refresh=True)["LoadImage"]["input"]["required"]["image"][0]
    assert "top.png" in options and "aiuteur/ref.png" not in options
    # Not overwriting a different file with the same name renames the upload.
    (tmp_path / "ref.png").write_bytes(tiny_png((9, 9, 9)))
    renamed = client.upload_image(tmp_path / "ref.png", subfolder="aiuteur", overwrite=False)
    assert renamed["name"] == "ref (1).png"
    # An output made from the uploaded image comes back byte for byte.
    graph = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "aiuteur/ref.png"}},
        "2": {
            "class_type": "SaveImage",
            "inputs": {"images": ["1", 0], "filename_prefix": "rt/out"},
        },
    }
    out = client.wait(client.queue_prompt(graph)).files()[0]
    data = client.download(out["filename"], out["subfolder"])
    assert data.startswith(b"\x89PNG") and data == server.files[("output", "rt", out["filename"])]
    view = httpx.get(
        server.url + "/view",
        params={"filename": out["filename"], "subfolder": "rt", "type": "output"},
    )
    assert view.headers["content-type"] == "image/png"
    assert view.headers["content-disposition"] == f'filename="{out["filename"]}"'
    with pytest.raises(RenderFailed, match="no output file"):
        client.download("missing.png", "rt")
    assert (
        httpx.get(
            server.url + "/view", params={"filename": "../secret", "type": "output"}
        ).status_code
        == 400
    )


def test_origin_mismatch_is_refused_and_the_client_sends_none(server: LoopbackComfy) -> None:
    assert (
        httpx.get(server.url + "/queue", headers={"Origin": "http://evil.example"}).status_code
        == 403
    )
    host = server.url.removeprefix("http://")
    assert httpx.get(server.url + "/queue", headers={"Origin": f"http://{host}"}).status_code == 200
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"queue_running": [], "queue_pending": []})

    with ComfyClient(
        "http://127.0.0.1:8188", transport=httpx.MockTransport(handler), events=False
    ) as c:
        c.queue()
    assert "origin" not in seen[0].headers


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("graph", "sample_name"),
    [
        ({"1": {"class_type": "NoSuchNode", "inputs": {}}}, "http_prompt_400_unknown_class.json"),
        (
            {
                "1": {
                    "class_type": "EmptyImage",
                    "inputs": {"width": 4, "height": 4, "batch_size": 1, "color": 0},
                }
            },
            "http_prompt_400_no_output_node.json",
        ),
        (
            {
                "1": {
                    "class_type": "EmptyImage",
                    "inputs": {"width": 4, "height": 4, "batch_size": 1, "color": 0},
                },
                "2": {"class_type": "SaveImage", "inputs": {"filename_prefix": "x"}},
            },
            "http_prompt_400_missing_input.json",
        ),
        (
            {
                "1": {
                    "class_type": "EmptyImage",
                    "inputs": {"width": 4, "height": 4, "batch_size": 1, "color": 0},
                },
                "2": {
                    "class_type": "ImageScale",
                    "inputs": {
                        "image": ["1", 0],
                        "upscale_method": "nope",
                        "width": 8,
                        "height": 8,
                        "crop": "disabled",
                    },
                },
                "3": {
                    "class_type": "SaveImage",
                    "inputs": {"images": ["2", 0], "filename_prefix": "x"},
                },
            },
            "http_prompt_400_bad_combo_value.json",
        ),
        (
            {
                "1": {
                    "class_type": "EmptyImage",
                    "inputs": {"width": 0, "height": 4, "batch_size": 1, "color": 0},
                },
                "2": {
                    "class_type": "SaveImage",
                    "inputs": {"images": ["1", 0], "filename_prefix": "x"},
                },
            },
            "http_prompt_400_value_out_of_range.json",
        ),
        (
            {
                "1": {"class_type": "LoadImage", "inputs": {"image": "does-not-exist.png"}},
                "2": {
                    "class_type": "SaveImage",
                    "inputs": {"images": ["1", 0], "filename_prefix": "x"},
                },
            },
            "http_prompt_400_missing_image_file.json",
        ),
        (
            {
                "2": {
                    "class_type": "SaveImage",
                    "inputs": {"images": ["99", 0], "filename_prefix": "x"},
                }
            },
            "http_prompt_400_link_to_missing_node.json",
        ),
    ],
)
def test_validation_errors_have_the_recorded_shapes(
    graph: dict[str, Any], sample_name: str, server: LoopbackComfy, client: ComfyClient
) -> None:
    response = httpx.post(server.url + "/prompt", json={"prompt": graph, "client_id": "x"})
    recorded = sample(sample_name)
    assert response.status_code == recorded["http_status"] == 400
    body = response.json()
    assert (
        set(body) == set(recorded["body"])
        and body["error"]["type"] == recorded["body"]["error"]["type"]
    )
    if sample_name != "http_prompt_400_link_to_missing_node.json":
        assert body["error"]["details"] == recorded["body"]["error"]["details"]
    strip = lambda errors: [{k: v for k, v in e.items() if k != "extra_info"} for e in errors]  # noqa: E731
    for node_id, info in recorded["body"]["node_errors"].items():
        assert strip(body["node_errors"][node_id]["errors"]) == strip(info["errors"])
        assert body["node_errors"][node_id]["dependent_outputs"] == info["dependent_outputs"]
        assert body["node_errors"][node_id]["class_type"] == info["class_type"]
    with pytest.raises(RenderFailed) as failed:
        client.queue_prompt(graph)
    expected = "missing_node" if "unknown_class" in sample_name else "validation"
    assert failed.value.failure_class == expected and not failed.value.retryable
    assert "ComfyUI rejected the workflow" in str(failed.value)
    assert server.started == []  # rejected prompts never run


def test_no_prompt_and_a_body_that_is_not_json(server: LoopbackComfy) -> None:
    response = httpx.post(server.url + "/prompt", json={"client_id": "x"})
    assert (
        response.status_code == 400
        and response.json() == sample("http_prompt_400_no_prompt.json")["body"]
    )
    assert httpx.post(server.url + "/prompt", content=b"{nope").status_code == 500


def test_a_200_with_node_errors_is_a_validation_failure_and_is_cancelled(
    server: LoopbackComfy, client: ComfyClient
) -> None:
    graph = sampler_graph("ok/a")
    graph["20"] = {
        "class_type": "ImageScale",
        "inputs": {
            "image": ["8", 0],
            "upscale_method": "area",
            "width": 99999,
            "height": 8,
            "crop": "disabled",
        },
    }
    graph["21"] = {
        "class_type": "SaveImage",
        "inputs": {"images": ["20", 0], "filename_prefix": "bad"},
    }
    raw = httpx.post(server.url + "/prompt", json={"prompt": graph})
    recorded = sample("http_post_prompt_200_with_node_errors.json")
    assert raw.status_code == 200 and set(raw.json()) == set(recorded)
    assert (
        raw.json()["node_errors"]["20"]["errors"][0]["message"]
        == "Value 99999 bigger than max of 16384"
    )
    wait_until(lambda: raw.json()["prompt_id"] in server.finished)
    assert server.history[raw.json()["prompt_id"]]["prompt"][4] == [
        "9"
    ]  # only the valid output ran
    server.fault("slow", delay=0.2)
    graph["6"]["inputs"]["text"] = "changed"  # not cached
    with pytest.raises(RenderFailed, match="queued only part") as failed:
        client.queue_prompt(graph)
    assert failed.value.failure_class == "validation"
    wait_until(lambda: len(server.finished) == 2)
    assert list(server.finished.values())[-1] == "interrupted"


# --------------------------------------------------------------------------- faults


def test_oom_as_a_websocket_execution_error(server: LoopbackComfy, client: ComfyClient) -> None:
    server.fault("oom_ws")
    pid = client.queue_prompt(sampler_graph())
    with pytest.raises(RenderFailed) as failed:
        client.wait(pid)
    assert failed.value.failure_class == "oom" and not failed.value.retryable
    assert "ran out of GPU memory in KSampler (node 3)" in str(failed.value)
    error = next(
        m for m in server.messages(client.client_id, pid) if m["type"] == "execution_error"
    )
    assert set(error["data"]) == set(sample("ws_execution_error.json")["data"])
    assert error["data"]["exception_type"] == "torch.OutOfMemoryError"
    recorded = next(iter(sample("http_history_error.json").values()))
    entry = server.history[pid]
    assert entry["status"]["status_str"] == "error" and entry["status"]["completed"] is False
    assert [m[0] for m in entry["status"]["messages"]] == [
        m[0] for m in recorded["status"]["messages"]
    ]


def test_oom_only_in_history_is_found_by_polling(
    server: LoopbackComfy, client: ComfyClient
) -> None:
    server.fault("oom_history")
    pid = client.queue_prompt(sampler_graph())
    started = time.monotonic()
    with pytest.raises(RenderFailed) as failed:
        client.wait(pid)
    assert failed.value.failure_class == "oom"
    assert time.monotonic() - started < 5
    kinds = [m["type"] for m in server.messages(client.client_id, pid)]
    assert "execution_error" not in kinds and {
        "type": "executing",
        "data": {"node": None, "prompt_id": pid},
    } not in (server.messages(client.client_id, pid))


def test_a_runtime_error_is_an_error_not_oom(server: LoopbackComfy, client: ComfyClient) -> None:
    server.fault("error")
    with pytest.raises(RenderFailed, match="IndexError") as failed:
        client.wait(client.queue_prompt(sampler_graph()))
    assert failed.value.failure_class == "error"


@pytest.mark.parametrize("fault", ["drop_ws", "mute_ws"])
def test_a_silent_websocket_drop_is_finished_from_history(
    fault: str, server: LoopbackComfy, client: ComfyClient
) -> None:
    server.fault(fault)
    pid = client.queue_prompt(sampler_graph())
    result = client.wait(pid)
    assert isinstance(result, PromptResult) and result.files()
    kinds = [m["type"] for m in server.messages(client.client_id, pid)]
    if fault == "mute_ws":
        assert "execution_success" not in kinds  # the socket never told the client
    # drop_ws: the client reconnects at once and reads /history (it may hear the rest).
    assert server.finished[pid] == "success"
    # The client reconnects for the next prompt.
    assert client.wait(client.queue_prompt(empty_image_graph())).files()


def test_a_restart_mid_job_makes_the_prompt_lost(
    server: LoopbackComfy, client: ComfyClient
) -> None:
    server.fault("restart")
    pid = client.queue_prompt(sampler_graph())
    with pytest.raises(RenderFailed) as failed:
        client.wait(pid)
    assert failed.value.failure_class == "lost" and failed.value.retryable
    assert pid not in server.history and pid not in client.queue()


def test_a_restart_with_downtime_is_lost_not_down(
    server: LoopbackComfy, client: ComfyClient
) -> None:
    server.fault("restart", down_s=0.5)
    pid = client.queue_prompt(sampler_graph())
    with pytest.raises(RenderFailed) as failed:
        client.wait(pid)
    assert failed.value.failure_class == "lost"


def test_a_server_that_stays_down_is_backend_down(client: ComfyClient) -> None:
    server = LoopbackComfy(node_delay=0.3).start()
    try:
        c = new_client(server.url, down_grace_s=0.5)
        pid = c.queue_prompt(sampler_graph())
    finally:
        server.stop()
    with pytest.raises(RenderFailed) as failed:
        c.wait(pid)
    assert failed.value.failure_class == "backend_down" and failed.value.retryable
    with pytest.raises(RenderFailed) as refused:
        c.queue_prompt(empty_image_graph())
    assert refused.value.failure_class == "backend_down" and "not reachable" in str(refused.value)


def test_cancel_a_slow_job_while_the_next_waits(server: LoopbackComfy, client: ComfyClient) -> None:
    server.fault("slow", delay=0.25)
    slow = client.queue_prompt(sampler_graph("slow/a"))
    other = new_client(server.url)
    nxt = other.queue_prompt(sampler_graph("next/b"))
    third = client.queue_prompt(sampler_graph("third/c"))
    wait_until(lambda: server.running is not None and server.running.prompt_id == slow)
    assert client.cancel(third) == "deleted"
    assert client.cancel(slow) == "interrupted"
    with pytest.raises(RenderFailed) as failed:
        client.wait(slow)
    assert failed.value.failure_class == "interrupted"
    assert other.wait(nxt).files()  # the next job ran to success
    assert server.finished == {slow: "interrupted", nxt: "success"}
    assert third not in server.started
    interrupted = next(
        m for m in server.messages(client.client_id, slow) if m["type"] == "execution_interrupted"
    )
    assert set(interrupted["data"]) == set(sample("ws_execution_interrupted.json")["data"])
    recorded = next(iter(sample("http_history_interrupted.json").values()))
    assert server.history[slow]["status"] == {
        **server.history[slow]["status"],
        "status_str": "error",
        "completed": False,
    }
    assert server.history[slow]["outputs"] == recorded["outputs"] == {}
    assert client.cancel(slow) == "absent"


def test_cancel_never_interrupts_someone_elses_prompt(
    server: LoopbackComfy, client: ComfyClient
) -> None:
    server.fault("slow", delay=0.05)
    other = new_client(server.url)
    pid = other.queue_prompt(sampler_graph())
    wait_until(lambda: server.running is not None)
    assert client.cancel("not-a-prompt") == "absent"
    assert other.wait(pid).files()
    assert server.finished[pid] == "success"


def test_the_cancelled_callback_stops_the_prompt(
    server: LoopbackComfy, client: ComfyClient
) -> None:
    server.fault("slow", delay=0.2)
    pid = client.queue_prompt(sampler_graph())
    flag = threading.Event()
    threading.Timer(0.3, flag.set).start()
    with pytest.raises(RenderFailed, match="cancelled") as failed:
        client.wait(pid, cancelled=flag.is_set)
    assert failed.value.failure_class == "interrupted" and not failed.value.retryable
    wait_until(lambda: pid in server.finished)
    assert server.finished[pid] == "interrupted"


def test_the_job_timeout_cancels_the_prompt(server: LoopbackComfy, client: ComfyClient) -> None:
    server.fault("slow", delay=0.3)
    pid = client.queue_prompt(sampler_graph())
    with pytest.raises(RenderFailed) as failed:
        client.wait(pid, timeout=0.4)
    assert failed.value.failure_class == "timeout" and failed.value.retryable
    wait_until(lambda: pid in server.finished)
    assert server.finished[pid] == "interrupted"


def test_polling_only_without_a_websocket(server: LoopbackComfy) -> None:
    with ComfyClient(server.url, events=False, **FAST) as c:
        steps: list[float] = []
        result = c.wait(c.queue_prompt(sampler_graph()), progress=lambda f, m: steps.append(f))
    assert result.files()
    assert server.messages(c.client_id) == []


# --------------------------------------------------------------------------- as a real server behaves
# ComfyUI sends every frame from one task and awaits each (the double too, with small send
# buffers): a client that stops reading its socket holds every client up.


def test_the_socket_is_read_between_jobs_so_the_server_never_stalls(
    server: LoopbackComfy, client: ComfyClient
) -> None:
    assert client.wait(client.queue_prompt(empty_image_graph())).files()
    # The client is idle now, its socket open. The server has a lot to say to everyone
    # (far more than the 16 frames websockets buffers before it stops reading).
    server.noise(64, 256 * 1024)
    assert server.published(10.0), "the idle client stopped reading: the server stalled"
    # Everyone else's events still flow: another client's job is followed by its events.
    other = new_client(server.url, silence_s=60.0)
    pid = other.queue_prompt(sampler_graph("other/a"))
    assert other.wait(pid).files()
    assert "execution_success" in [m["type"] for m in server.messages(other.client_id, pid)]
    # And the idle client's socket still works for its next job.
    assert client.wait(client.queue_prompt(sampler_graph("again/b"))).files()


def test_the_first_job_after_a_server_restart_reads_the_history_at_once(
    server: LoopbackComfy,
) -> None:
    # Polls are 1 s apart and the silence limit is a minute: a client that missed the end
    # marker (its socket reconnected after the prompt ended) would run into the job timeout.
    c = new_client(server.url, poll_interval=1.0, silence_s=60.0, job_timeout=5.0)
    assert c.wait(c.queue_prompt(empty_image_graph())).files()
    server.restart()
    server.fault("slow", delay=0.02)
    result = c.wait(c.queue_prompt(sampler_graph("after/restart")))
    assert result.files()


def test_a_reconnect_after_the_prompt_ended_reads_the_history(server: LoopbackComfy) -> None:
    c = new_client(server.url, poll_interval=1.0, silence_s=60.0, job_timeout=5.0)
    c.events = False
    pid = c.queue_prompt(empty_image_graph())  # posted with no socket open: no events
    wait_until(lambda: pid in server.finished)
    c.events = True  # the socket opens now, after the end marker went by
    assert c.wait(pid).files()


def test_a_prompt_deleted_by_someone_else_is_lost_at_once(server: LoopbackComfy) -> None:
    server.fault("slow", delay=1.0)
    busy = new_client(server.url)
    running = busy.queue_prompt(sampler_graph("busy/a"))
    wait_until(lambda: server.running is not None and server.running.prompt_id == running)
    c = new_client(server.url, poll_interval=0.2, silence_s=60.0, job_timeout=4.0)
    pid = c.queue_prompt(empty_image_graph())
    httpx.post(server.url + "/queue", json={"delete": [pid]})  # someone else's doing
    with pytest.raises(RenderFailed) as failed:
        c.wait(pid)
    assert failed.value.failure_class == "lost", failed.value
    busy.cancel(running)


def test_progress_names_the_node_that_runs_through_a_throttled_writer(
    server: LoopbackComfy,
) -> None:
    """The worker writes progress at most every 0.5 s: a message dropped by that throttle
    is said again, so a long node without a progress bar never shows the previous node's
    last step."""
    server.fault("slow", delay=0.8)
    c = new_client(server.url, progress_refresh_s=0.3)
    graph = sampler_graph()
    written: list[str] = []
    last = [0.0]

    def throttled(frac: float, message: str) -> None:
        now = time.monotonic()
        if now - last[0] >= 0.5:
            last[0] = now
            written.append(message)

    c.wait(c.queue_prompt(graph), progress=throttled, graph=graph)
    # Every node ran 0.8 s; each was named while it ran, the last two included.
    assert any("VAEDecode (node 8)" in m for m in written), written
    assert any("SaveImage (node 9)" in m for m in written), written


def test_progress_state_alone_names_the_running_node(server: LoopbackComfy) -> None:
    graph = sampler_graph()
    seen: list[str] = []
    from render.comfy_client import _Tracker

    tracker = _Tracker(graph, lambda f, m: seen.append(m))
    tracker.states({"4": {"state": "finished"}, "6": {"state": "running"}})
    assert seen[-1] == "running CLIPTextEncode (node 6)"
    tracker.states({"4": {"state": "finished"}, "6": {"state": "finished"}})
    assert seen[-1] == "2 of 6 nodes done"


def test_a_reconnect_with_the_same_client_id_silences_the_old_socket(
    server: LoopbackComfy,
) -> None:
    from websockets.sync.client import connect

    url = server.url.replace("http://", "ws://") + "/ws?clientId=same"
    with connect(url, proxy=None) as old, connect(url, proxy=None) as new:
        assert json.loads(old.recv(timeout=2))["type"] == "status"
        assert json.loads(new.recv(timeout=2))["type"] == "status"
        httpx.post(
            server.url + "/prompt", json={"prompt": empty_image_graph(), "client_id": "same"}
        )
        kinds = []
        while "executing" not in kinds or kinds[-1] != "executing":
            kinds.append(json.loads(new.recv(timeout=2))["type"])
        with pytest.raises(TimeoutError):
            old.recv(timeout=0.3)  # still open, and told nothing more


def test_a_prompt_without_a_client_id_broadcasts_its_progress(
    server: LoopbackComfy, client: ComfyClient
) -> None:
    response = httpx.post(server.url + "/prompt", json={"prompt": sampler_graph("anon/a")})
    anon = response.json()["prompt_id"]
    mine = client.queue_prompt(sampler_graph("mine/b"))
    assert client.wait(mine).files()  # other prompts' broadcasts do not confuse the client
    heard = {m["type"] for m in server.messages(client.client_id, anon)}
    assert heard == {"progress", "progress_state"}  # executing/executed/execution_*: not sent


def test_a_cpu_out_of_memory_is_oom_in_system_ram(
    server: LoopbackComfy, client: ComfyClient
) -> None:
    server.fault("oom_cpu")
    with pytest.raises(RenderFailed) as failed:
        client.wait(client.queue_prompt(sampler_graph()))
    assert failed.value.failure_class == "oom"
    assert "system RAM" in str(failed.value) and "DefaultCPUAllocator" in str(failed.value)
    assert is_oom("MemoryError", "") and not is_oom("IndexError", "index 3 is out of bounds")


def test_progress_is_monotonic_and_ends_near_one(
    server: LoopbackComfy, client: ComfyClient
) -> None:
    graph = sampler_graph()
    seen: list[tuple[float, str]] = []
    client.wait(client.queue_prompt(graph), progress=lambda f, m: seen.append((f, m)), graph=graph)
    fracs = [f for f, _ in seen]
    assert fracs == sorted(fracs) and 0 <= fracs[0] and fracs[-1] > 0.9
    assert any("KSampler (node 3) 20/20" in m for _, m in seen)


# --------------------------------------------------------------------------- HTTP edges


def test_http_failures_map_to_failure_classes() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/system_stats":
            return httpx.Response(502, text="bad gateway")
        if request.url.path == "/object_info":
            return httpx.Response(200, text="<html>")
        if request.url.path == "/queue":
            raise httpx.ReadTimeout("slow", request=request)
        raise httpx.ConnectError("refused", request=request)

    with ComfyClient(
        "http://127.0.0.1:9", transport=httpx.MockTransport(handler), events=False
    ) as c:
        for call, failure in [
            (c.system_stats, "backend_down"),
            (c.object_info, "error"),
            (c.queue, "timeout"),
            (lambda: c.history("x"), "backend_down"),
        ]:
            with pytest.raises(RenderFailed) as failed:
                call()
            assert failed.value.failure_class == failure


def test_helpers() -> None:
    assert is_oom("torch.OutOfMemoryError", "")
    assert is_oom("RuntimeError", "CUDA error: out of memory")
    assert is_oom("", "Allocation on device 0 would exceed allowed memory. (out of memory)")
    assert not is_oom("IndexError", "index 3 is out of bounds")
    assert wan_length(5, 16) == 81 and wan_length(8, 24) == 193 and wan_length(0.05, 16) == 5
    assert all(wan_length(d / 10, 24) % 4 == 1 for d in range(1, 100))
    assert "node 2 (ImageScale): Value not in list: upscale_method" in summarize_node_errors(
        sample("http_prompt_400_bad_combo_value.json")["body"]
    )
    assert (
        ComfyClient("http://h:1/prefix/", events=False).ws_url("abc")
        == "ws://h:1/prefix/ws?clientId=abc"
    )
    assert ComfyClient("https://h", events=False).ws_url("abc") == "wss://h/ws?clientId=abc"
    with pytest.raises(ValueError):
        ComfyClient("127.0.0.1:8188")


# --------------------------------------------------------------------------- backend


def frame_spec(**kw: Any) -> RenderSpec:
    base: dict[str, Any] = dict(
        kind="frame",
        project_id="proj",
        scene_id="sc1",
        shot_id="1A",
        which="start",
        seed=7,
        width=1280,
        height=720,
        prompts={"frame": "a lighthouse keeper at dusk"},
    )
    return RenderSpec(**{**base, **kw})


def clip_spec(tmp_path: Path, *, end: bool = True, **kw: Any) -> RenderSpec:
    (tmp_path / "start.png").write_bytes(tiny_png((10, 20, 30)))
    (tmp_path / "end.png").write_bytes(tiny_png((30, 20, 10)))
    inputs = {"start_frame": str(tmp_path / "start.png")}
    if end:
        inputs["end_frame"] = str(tmp_path / "end.png")
    base: dict[str, Any] = dict(
        kind="clip",
        project_id="proj",
        scene_id="sc1",
        shot_id="1A",
        seed=11,
        width=832,
        height=480,
        fps=16,
        duration_s=5.0,
        prompts={"video": "the keeper climbs the stairs"},
        inputs=inputs,
    )
    return RenderSpec(**{**base, **kw})


def backend_for(server: LoopbackComfy, **kw: Any) -> ComfyBackend:
    return ComfyBackend(server.url, client=new_client(server.url), vram_sample_s=0.0, **kw)


def test_backend_renders_a_keyframe_end_to_end(tmp_path: Path) -> None:
    with running(gpu=True) as server:
        backend = backend_for(server)
        steps: list[tuple[float, str]] = []
        out = backend.run(
            frame_spec(preset="production-stable"),
            tmp_path / "out",
            lambda f, m: steps.append((f, m)),
            lambda: False,
        )
        assert len(out.files) == 1 and out.files[0].parent == tmp_path / "out"
        assert out.files[0].read_bytes().startswith(b"\x89PNG")
        assert out.models == ("sd_xl_base_1.0.safetensors",)
        queued = next(iter(server.history.values()))["prompt"][2]
        assert out.workflow_hash == workflow_hash(queued)
        assert queued["3"]["inputs"]["steps"] == 28 and queued["3"]["inputs"]["seed"] == 7
        assert queued["6"]["inputs"]["text"] == "a lighthouse keeper at dusk"
        assert (queued["5"]["inputs"]["width"], queued["5"]["inputs"]["height"]) == (1280, 720)
        assert queued["9"]["inputs"]["filename_prefix"] == "aiuteur/proj_1A_start"
        assert out.versions["comfyui"] == "0.3.64" and "RTX 4090" in out.versions["device"]
        assert out.peak_vram_mb is not None and out.peak_vram_mb >= 9 * 1024
        fracs = [f for f, _ in steps]
        assert fracs == sorted(fracs) and fracs[-1] <= 1.0


def test_backend_renders_a_first_last_frame_clip(tmp_path: Path, server: LoopbackComfy) -> None:
    backend = backend_for(server)
    out = backend.run(clip_spec(tmp_path), tmp_path / "out", lambda f, m: None, lambda: False)
    assert [f.suffix for f in out.files] == [".mp4"] and out.files[0].read_bytes()[4:8] == b"ftyp"
    queued = next(iter(server.history.values()))["prompt"][2]
    assert queued["11"]["class_type"] == "WanFirstLastFrameToVideo"
    assert queued["11"]["inputs"]["length"] == 81
    assert queued["15"]["inputs"]["fps"] == 16.0
    assert queued["12"]["inputs"]["steps"] == 12 and queued["12"]["inputs"]["end_at_step"] == 6
    assert queued["13"]["inputs"]["start_at_step"] == 6
    assert queued["7"]["inputs"]["text"] == "the keeper climbs the stairs"
    start, end = queued["9"]["inputs"]["image"], queued["10"]["inputs"]["image"]
    assert start.startswith("aiuteur/start_frame_") and end.startswith("aiuteur/end_frame_")
    assert server.inputs[start] == tiny_png((10, 20, 30)) and server.inputs[end] == tiny_png(
        (30, 20, 10)
    )
    assert "wan2.2_i2v_high_noise_14B_fp8_scaled.safetensors" in out.models
    assert "umt5_xxl_fp8_e4m3fn_scaled.safetensors" in out.models


def test_backend_takes_steps_and_guidance_from_the_presets_file(
    tmp_path: Path, server: LoopbackComfy
) -> None:
    tuning = load_tuning()
    presets = load_presets()
    assert set(tuning) == set(presets)
    backend = backend_for(server)
    backend.run(frame_spec(preset="cinematic"), tmp_path / "f", lambda f, m: None, lambda: False)
    flux = server.history[server.started[-1]]["prompt"][2]
    assert flux["8"]["inputs"]["steps"] == presets["cinematic"].frame_steps
    assert flux["5"]["inputs"]["guidance"] == presets["cinematic"].frame_cfg
    assert flux["8"]["inputs"]["cfg"] == 1.0 and flux["7"]["class_type"] == "EmptySD3LatentImage"
    spec = clip_spec(tmp_path, end=False, preset="production-stable", width=1280, height=720)
    backend.run(spec, tmp_path / "c", lambda f, m: None, lambda: False)
    i2v = server.history[server.started[-1]]["prompt"][2]
    assert i2v["11"]["class_type"] == "WanImageToVideo"
    assert i2v["12"]["inputs"]["steps"] == presets["production-stable"].steps
    assert i2v["12"]["inputs"]["cfg"] == presets["production-stable"].cfg
    assert i2v["15"]["inputs"]["fps"] == 16.0 and i2v["11"]["inputs"]["length"] == 81
    backend.run(
        clip_spec(tmp_path, end=False, width=854, height=480),
        tmp_path / "s",
        lambda f, m: None,
        lambda: False,
    )
    small = server.history[server.started[-1]]["prompt"][2]
    assert (small["8"]["inputs"]["width"], small["8"]["inputs"]["height"]) == (864, 480)
    assert small["11"]["inputs"]["fps"] == 24.0 and small["8"]["inputs"]["length"] == 121
    assert small["9"]["inputs"]["steps"] == presets["fast"].steps
    # A built-in table stands in when the presets file is unavailable.
    assert set(BUILTIN_TUNING) == {"fast", "production-stable", "cinematic"}
    custom = backend_for(server, tuning={"draft": BUILTIN_TUNING["fast"]})
    assert custom.tuning_for(frame_spec(preset="draft")).frame_steps == 20


def test_backend_requeues_a_lost_prompt_once(tmp_path: Path, server: LoopbackComfy) -> None:
    backend = backend_for(server)
    server.fault("restart")
    messages: list[str] = []
    out = backend.run(
        clip_spec(tmp_path, end=False),
        tmp_path / "a",
        lambda f, m: messages.append(m),
        lambda: False,
    )
    assert out.files and any("queueing it again" in m for m in messages)
    queued = next(iter(server.history.values()))["prompt"][2]
    assert queued["8"]["class_type"] == "Wan22ImageToVideoLatent"  # fast: TI2V-5B
    # Lost twice: failed, and not retried again.
    server.fault("restart")
    server.fault("restart")
    with pytest.raises(RenderFailed, match="lost twice") as failed:
        backend.run(frame_spec(seed=99), tmp_path / "b", lambda f, m: None, lambda: False)
    assert failed.value.failure_class == "lost" and not failed.value.retryable


def test_backend_oom_is_reported_as_oom(tmp_path: Path, server: LoopbackComfy) -> None:
    backend = backend_for(server)
    server.fault("oom_ws")
    with pytest.raises(RenderFailed) as failed:
        backend.run(frame_spec(), tmp_path, lambda f, m: None, lambda: False)
    assert failed.value.failure_class == "oom"


def test_backend_preflight_names_a_missing_checkpoint_before_queueing(tmp_path: Path) -> None:
    models = {k: v for k, v in DEFAULT_MODELS.items() if k[0] != "CheckpointLoaderSimple"}
    with running(models=models) as server:
        backend = backend_for(server)
        with pytest.raises(RenderFailed) as failed:
            backend.run(frame_spec(), tmp_path, lambda f, m: None, lambda: False)
        assert failed.value.failure_class == "missing_model"
        assert (
            "checkpoint sd_xl_base_1.0.safetensors is not in CheckpointLoaderSimple's list on the server"
            in str(failed.value)
        )
        assert ("POST", "/prompt") not in server.requests
        # The cached list was re-read once before giving up (a model may just have landed).
        assert server.requests.count(("GET", "/object_info")) == 2


def test_a_missing_model_is_stored_as_missing_model_and_names_the_setting(tmp_path: Path) -> None:
    from render.gpu import ComfyStatsProbe
    from render.worker import WorkerOptions, open_queue, run_worker
    from studio.config import Settings

    models = {k: v for k, v in DEFAULT_MODELS.items() if k[0] != "CheckpointLoaderSimple"}
    with running(models=models, gpu=True) as server:
        settings = Settings(home=tmp_path, comfyui_url=server.url, render_backend="comfyui")
        queue = open_queue(settings)
        backend = backend_for(server)
        try:
            job = queue.enqueue(frame_spec(width=512, height=512), backend="comfyui")
            run_worker(settings, {"comfyui": backend}, ComfyStatsProbe(server.url), once=True,
                       queue=queue, options=WorkerOptions(poll_s=0.02, progress_interval_s=0.05))
            record = queue.record(job.id)
        finally:
            queue.close()
    assert (record.status, record.failure_class, record.attempts) == ("failed", "missing_model", 1)
    # The message names the setting that picks another model, not just "choose another".
    assert "put it in ComfyUI/models/checkpoints" in record.message
    assert "studio prompts --frame-model" in record.message and "frame_model" in record.message


def test_backend_preflight_names_the_rife_pack(tmp_path: Path, server: LoopbackComfy) -> None:
    backend = backend_for(server)
    (tmp_path / "clip.mp4").write_bytes(b"\x00\x00\x00\x18ftypisom")
    with pytest.raises(RenderFailed) as failed:
        backend.run_template(
            "interpolate_rife",
            {"multiplier": 2, "fps": 32.0},
            {"video": tmp_path / "clip.mp4"},
            tmp_path / "out",
            lambda f, m: None,
            lambda: False,
        )
    assert failed.value.failure_class == "missing_node"
    assert "RIFE VFI — install the ComfyUI-Frame-Interpolation pack" in str(failed.value)
    assert ("POST", "/prompt") not in server.requests


def test_backend_runs_the_upscale_template(tmp_path: Path, server: LoopbackComfy) -> None:
    backend = backend_for(server)
    (tmp_path / "clip.mp4").write_bytes(b"\x00\x00\x00\x18ftypisom")
    out = backend.run_template(
        "upscale",
        {"width": 2560, "height": 1440},
        {"video": tmp_path / "clip.mp4"},
        tmp_path / "out",
        lambda f, m: None,
        lambda: False,
    )
    assert out.models == ("RealESRGAN_x4plus.pth",) and out.files[0].suffix == ".mp4"


def test_backend_chooses_templates_and_refuses_what_it_cannot_render(
    tmp_path: Path, server: LoopbackComfy
) -> None:
    backend = backend_for(server)
    (tmp_path / "ref.png").write_bytes(tiny_png())
    (tmp_path / "mask.png").write_bytes(tiny_png((255, 255, 255)))
    ref = str(tmp_path / "ref.png")
    assert backend.choose_template(frame_spec()) == "keyframe_sdxl"
    assert (
        backend.choose_template(frame_spec(prompts={"frame": "x", "frame_model": "flux"}))
        == "keyframe_flux"
    )
    assert backend.choose_template(frame_spec(inputs={"reference": ref})) == "img2img_reference"
    region = frame_spec(
        inputs={"image": ref, "mask": str(tmp_path / "mask.png")}, region_prompt="a red scarf"
    )
    assert backend.choose_template(region) == "inpaint_region"
    assert backend.choose_template(clip_spec(tmp_path)) == "wan22_flf2v"
    assert backend.choose_template(clip_spec(tmp_path, end=False)) == "wan22_ti2v_5b"
    assert (
        backend.choose_template(clip_spec(tmp_path, end=False, preset="production-stable"))
        == "wan22_i2v"
    )
    assert backend.choose_template(clip_spec(tmp_path, preset="fast")) == "wan22_flf2v"
    assert backend.choose_template(frame_spec(preset="cinematic")) == "keyframe_flux"
    for spec, fragment in [
        (frame_spec(kind="assemble"), "not 'assemble'"),
        (clip_spec(tmp_path, inputs={}), "start frame"),
        (frame_spec(prompts={"frame": "x", "frame_model": "midjourney"}), "sdxl or flux"),
        (frame_spec(preset="ultra"), "unknown preset"),
        (frame_spec(prompts={}), "no frame prompt"),
        (frame_spec(inputs={"reference": str(tmp_path / "gone.png")}), "does not exist"),
        (clip_spec(tmp_path, duration_s=0.0), "duration"),
    ]:
        with pytest.raises(RenderFailed, match=fragment) as failed:
            backend.run(spec, tmp_path / "out", lambda f, m: None, lambda: False)
        assert failed.value.failure_class == "validation"
    with pytest.raises(RenderFailed, match="cancelled before") as failed:
        backend.run(frame_spec(), tmp_path / "out", lambda f, m: None, lambda: True)
    assert failed.value.failure_class == "interrupted"
    # Region edit and continuity frames render end to end with their inputs uploaded.
    out = backend.run(region, tmp_path / "region", lambda f, m: None, lambda: False)
    queued = server.history[server.started[-1]]["prompt"][2]
    assert queued["5"]["inputs"]["text"] == "a red scarf" and queued["3"]["inputs"][
        "image"
    ].startswith("aiuteur/mask_")
    assert out.files[0].suffix == ".png"
    out = backend.run(
        frame_spec(inputs={"reference": ref}, width=1000, height=500),
        tmp_path / "ref",
        lambda f, m: None,
        lambda: False,
    )
    queued = server.history[server.started[-1]]["prompt"][2]
    assert queued["3"]["inputs"]["width"] == 1000 and queued["7"]["inputs"]["denoise"] == 0.55


def test_backend_health_and_remote_vram(server: LoopbackComfy) -> None:
    backend = backend_for(server)
    assert backend.probe().ok and "ComfyUI 0.3.64" in backend.probe().detail
    assert not backend.snapshot().available  # a --cpu server has no GPU
    with running(gpu=True) as gpu_server:
        snap = backend_for(gpu_server).snapshot()
        assert snap.available and snap.total_mb > 20_000 and 0 < snap.free_mb < snap.total_mb
    down = ComfyBackend("http://127.0.0.1:9", client=new_client("http://127.0.0.1:9"))
    assert down.probe().state == "down" and "not reachable" in down.probe().detail
