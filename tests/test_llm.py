"""The LLM layer against loopback servers that speak Ollama's and the OpenAI API's real wire
protocols, with the faults local servers really have (tests/llm_loopback.py)."""

from __future__ import annotations

import hashlib
import socket
import threading

import pytest
from pydantic import BaseModel

from agents.health import probe_llm
from agents.llm import (
    WHITESPACE_TAIL,
    ChatTextModel,
    LlmOptions,
    build_chat_model,
    text_model,
)
from studio import ports
from studio.config import Settings
from studio.errors import (
    BackendBusy,
    BackendUnavailable,
    Cancelled,
    LlmTimeout,
    ModelNotPulled,
    ReplyTruncated,
    StructuredOutputInvalid,
    TooLarge,
)
from tests.llm_loopback import WHITESPACE_CAP, OllamaLoopback, OpenAILoopback

BACKENDS = ["ollama", "lmstudio"]


class Beat(BaseModel):
    title: str
    minutes: int


BEAT = '{"title": "Mara waits", "minutes": 3}'


@pytest.fixture(autouse=True)
def _no_tokenizer_download(monkeypatch):
    """tiktoken downloads its BPE files on first use: nothing here may reach it."""
    import tiktoken

    def refuse(*args, **kwargs):
        raise AssertionError("tiktoken was asked for an encoding (it would download)")

    monkeypatch.setattr(tiktoken, "get_encoding", refuse)
    monkeypatch.setattr(tiktoken, "encoding_for_model", refuse)


def _settings(kind: str, loop, tmp_path) -> Settings:
    if kind == "ollama":
        return Settings(
            home=tmp_path, llm_backend="ollama", ollama_url=loop.url, ollama_model="mistral"
        )
    return Settings(home=tmp_path, llm_backend="lmstudio", lmstudio_url=loop.base_url)


def _loop(kind: str, replies=None, faults=None, **kw):
    cls = OllamaLoopback if kind == "ollama" else OpenAILoopback
    return cls(replies, faults, **kw)


def _model(kind, loop, tmp_path, log=None, **options) -> ChatTextModel:
    sleeps: list[float] = []
    model = text_model(_settings(kind, loop, tmp_path), log=log, options=LlmOptions(**options))
    model.sleep = sleeps.append
    model.sleeps = sleeps  # type: ignore[attr-defined]
    return model


def test_offline_and_llamacpp_say_what_to_do(tmp_path):
    with pytest.raises(BackendUnavailable, match="ollama pull mistral") as offline:
        build_chat_model(Settings(home=tmp_path))
    assert "1234" in str(offline.value)  # LM Studio's address is named too
    with pytest.raises(BackendUnavailable, match="pip install llama-cpp-python"):
        build_chat_model(
            Settings(home=tmp_path, llm_backend="llamacpp", llamacpp_model_path="x.gguf")
        )


@pytest.mark.parametrize("kind", BACKENDS)
def test_generate_reads_the_stream_and_logs_the_call(kind, tmp_path):
    calls: list[ports.LlmCall] = []
    with _loop(kind, ["INT. DOCK - NIGHT. Rain."]) as loop:
        model = _model(kind, loop, tmp_path, log=calls.append)
        assert isinstance(model, ports.TextModel) and isinstance(model, ports.ProseStream)
        assert (
            model.generate("You are a screenwriter.", "Open on the dock.")
            == "INT. DOCK - NIGHT. Rain."
        )
        (body,) = loop.chat_requests()
    if kind == "ollama":
        assert body["options"]["num_ctx"] == 8192  # set explicitly: Ollama's default is small
        assert body["stream"] is True
    else:
        assert body["stream"] is True and body["model"] == "mistral:latest"  # from /v1/models
    (call,) = calls
    prompt = "system: You are a screenwriter.\nhuman: Open on the dock."
    assert call.prompt_sha256 == hashlib.sha256(prompt.encode()).hexdigest()
    assert (call.backend, call.kind, call.outcome, call.retries) == (kind, "text", "ok", 0)
    assert (call.tokens_in, call.tokens_out) == (21, 34)  # from the response metadata
    assert call.first_token_s is not None and call.total_s >= call.first_token_s


@pytest.mark.parametrize("kind", BACKENDS)
def test_first_byte_timeout_covers_a_cold_load_and_is_never_retried(kind, tmp_path):
    with _loop(kind, ["late but fine"], ["slow"], slow_s=1.0) as loop:
        chat = build_chat_model(_settings(kind, loop, tmp_path))
        client = chat._client._client if kind == "ollama" else chat.root_client._client
        assert client.timeout.read >= 300  # a cold 7B load sends headers only after minutes
        assert _model(kind, loop, tmp_path).generate("", "hi") == "late but fine"
    with _loop(kind, ["never read"], ["slow"], slow_s=1.5) as loop:
        model = _model(kind, loop, tmp_path, first_byte_timeout_s=0.3)
        with pytest.raises(LlmTimeout, match="not retried"):
            model.generate("", "hi")
        assert len(loop.chat_requests()) == 1  # no retry storm: a retry would restart the load


@pytest.mark.parametrize("kind", BACKENDS)
def test_404_is_model_not_pulled_with_the_hint(kind, tmp_path):
    calls: list[ports.LlmCall] = []
    with _loop(kind, faults=["404"]) as loop:
        model = _model(kind, loop, tmp_path, log=calls.append)
        hint = "ollama pull mistral" if kind == "ollama" else "LM Studio"
        with pytest.raises(ModelNotPulled, match=hint):
            model.generate("", "hi")
        assert len(loop.chat_requests()) == 1
    assert calls[0].outcome == "not pulled"


@pytest.mark.parametrize("kind", BACKENDS)
def test_busy_backs_off_then_answers(kind, tmp_path):
    calls: list[ports.LlmCall] = []
    with _loop(kind, ["at last"], ["503", "503"]) as loop:
        model = _model(kind, loop, tmp_path, log=calls.append)
        assert model.generate("", "hi") == "at last"
        assert model.sleeps == [2.0, 5.0]  # bounded, growing
        assert len(loop.chat_requests()) == 3
    assert calls[-1].retries == 2 and calls[-1].outcome == "ok"


@pytest.mark.parametrize("kind", BACKENDS)
def test_busy_for_good_gives_up_after_the_last_back_off(kind, tmp_path):
    with _loop(kind, faults=["503"] * 10) as loop:
        model = _model(kind, loop, tmp_path)
        with pytest.raises(BackendBusy, match="after 3 back-offs"):
            model.generate("", "hi")
        assert len(loop.chat_requests()) == 4


@pytest.mark.parametrize("kind", BACKENDS)
def test_a_reply_cut_by_the_token_limit_is_never_complete(kind, tmp_path):
    calls: list[ports.LlmCall] = []
    with _loop(kind, ["The rain keeps fall", "Cut again mid-sen"], ["length", "length"]) as loop:
        model = _model(kind, loop, tmp_path, log=calls.append)
        with pytest.raises(ReplyTruncated, match="token limit"):
            model.generate("", "hi")
        seen: list[str] = []
        with pytest.raises(ReplyTruncated):
            for chunk in model.stream("", "hi"):
                seen.append(chunk)
        assert "".join(seen) == "Cut again mid-sen"  # shown while streaming, then refused
    assert [c.outcome for c in calls] == ["truncated", "truncated"]


@pytest.mark.parametrize("kind", BACKENDS)
def test_structured_asks_for_the_schema_natively(kind, tmp_path):
    calls: list[ports.LlmCall] = []
    with _loop(kind, [BEAT]) as loop:
        assert _model(kind, loop, tmp_path, log=calls.append).generate_structured(
            "", "a beat", Beat
        ) == Beat(title="Mara waits", minutes=3)
        (body,) = loop.chat_requests()
    if kind == "ollama":
        assert body["format"] == Beat.model_json_schema()
    else:
        assert body["response_format"]["type"] == "json_schema"  # never json_object (LM Studio 400)
        assert body["response_format"]["json_schema"]["schema"] == Beat.model_json_schema()
    assert calls[0].kind == "structured" and calls[0].tokens_out == 34


@pytest.mark.parametrize("kind", BACKENDS)
@pytest.mark.parametrize(
    "reply",
    [
        f"```json\n{BEAT}\n```",
        f"Sure! Here is the beat you asked for:\n{BEAT}\nLet me know if you want changes.",
        BEAT + " \n\t " * 40,
    ],
    ids=["fenced", "prose-around", "trailing-whitespace"],
)
def test_structured_repairs_fences_prose_and_whitespace_in_one_call(kind, reply, tmp_path):
    with _loop(kind, [reply]) as loop:
        assert _model(kind, loop, tmp_path).generate_structured("", "a beat", Beat) == Beat(
            title="Mara waits", minutes=3
        )
        assert len(loop.chat_requests()) == 1  # repaired, not retried


def test_endless_whitespace_after_the_object_is_cut_short(tmp_path):
    with OllamaLoopback([BEAT], ["whitespace"]) as loop:
        beat = _model("ollama", loop, tmp_path).generate_structured("", "a beat", Beat)
        assert beat == Beat(title="Mara waits", minutes=3)
        # the client hung up once a complete object was followed by a whitespace run
        assert loop.whitespace_sent < WHITESPACE_CAP
    assert WHITESPACE_TAIL < 200


@pytest.mark.parametrize("kind", BACKENDS)
def test_structured_retries_once_with_the_validation_error(kind, tmp_path):
    with _loop(kind, ['{"title": "Mara waits"}', BEAT]) as loop:
        assert _model(kind, loop, tmp_path).generate_structured("", "a beat", Beat).minutes == 3
        first, second = loop.chat_requests()
    last = second["messages"][-1]["content"]
    assert "minutes" in last and "not valid" in last  # the error goes back to the model
    with _loop(kind, ['{"title": 1}', "no json at all"]) as loop:
        with pytest.raises(StructuredOutputInvalid, match="Beat"):
            _model(kind, loop, tmp_path).generate_structured("", "a beat", Beat)
        assert len(loop.chat_requests()) == 2  # once, not a loop


@pytest.mark.parametrize("kind", BACKENDS)
def test_a_prose_stream_can_be_cancelled_between_chunks(kind, tmp_path):
    calls: list[ports.LlmCall] = []
    cancel = threading.Event()
    text = "The harbour lights flicker as Mara counts the boats, one by one, until dawn."
    with _loop(kind, [text]) as loop:
        model = _model(kind, loop, tmp_path, log=calls.append)
        seen = []
        with pytest.raises(Cancelled):
            for chunk in model.stream("", "write", cancel):
                seen.append(chunk)
                cancel.set()
        assert seen and "".join(seen) != text
    assert calls[-1].outcome == "cancelled" and calls[-1].kind == "stream"


@pytest.mark.parametrize("kind", BACKENDS)
def test_a_prompt_that_cannot_fit_the_context_is_refused_before_sending(kind, tmp_path):
    with _loop(kind, ["unused"]) as loop:
        model = _model(kind, loop, tmp_path, num_ctx=4096, max_tokens=1024)
        with pytest.raises(TooLarge, match="drop its beginning"):
            model.generate("", "word " * 4000)
        assert loop.chat_requests() == []


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_doctor_says_reachable_model_present_and_context(tmp_path):
    with OllamaLoopback(context_length=32768) as loop:
        result = probe_llm(_settings("ollama", loop, tmp_path))
        assert result.ok and "mistral:latest present" in result.detail and "32768" in result.detail
        missing = probe_llm(
            Settings(
                home=tmp_path, llm_backend="ollama", ollama_url=loop.url, ollama_model="qwen2.5:7b"
            )
        )
        assert missing.state == "not installed" and "ollama pull qwen2.5:7b" in missing.detail
    with OpenAILoopback(model="qwen2.5-7b-instruct") as loop:
        result = probe_llm(_settings("lmstudio", loop, tmp_path))
        assert result.ok and "qwen2.5-7b-instruct" in result.detail
    down = probe_llm(
        Settings(
            home=tmp_path, llm_backend="ollama", ollama_url=f"http://127.0.0.1:{_closed_port()}"
        )
    )
    assert down.state == "down" and "ollama serve" in down.detail
    llamacpp = probe_llm(
        Settings(home=tmp_path, llm_backend="llamacpp", llamacpp_model_path="x.gguf")
    )
    assert llamacpp.state == "not installed" and "pip install llama-cpp-python" in llamacpp.detail


def test_studio_doctor_shows_the_ollama_model_and_its_context(tmp_path, monkeypatch, capsys):
    from studio.cli import main

    with OllamaLoopback(context_length=16384) as loop:
        monkeypatch.setenv("AIUTEUR_LLM_BACKEND", "ollama")
        monkeypatch.setenv("AIUTEUR_OLLAMA_URL", loop.url)
        main(["doctor", "--home", str(tmp_path / "home")])
    out = capsys.readouterr().out
    (line,) = [ln for ln in out.splitlines() if "llm" in ln and "ollama" in ln]
    assert "mistral:latest present" in line and "context 16384 tokens" in line


@pytest.mark.parametrize("kind", BACKENDS)
def test_a_slow_first_byte_is_shown_as_loading_the_model(kind, tmp_path):
    notices: list[str] = []
    with _loop(kind, ["ready", BEAT, "quick"], ["slow", "slow"], slow_s=1.5) as loop:
        model = _model(kind, loop, tmp_path, waiting_notice_s=0.6)
        model.on_wait = notices.append
        assert model.generate("", "hi") == "ready"
        assert model.generate_structured("", "a beat", Beat).minutes == 3
        assert len(notices) == 2 and "loading the model" in notices[0]
        assert model.generate("", "hi") == "quick"  # a fast answer says nothing
    assert len(notices) == 2


@pytest.mark.parametrize("kind", BACKENDS)
def test_structured_calls_back_off_when_busy_too(kind, tmp_path):
    with _loop(kind, [BEAT], ["503"]) as loop:
        model = _model(kind, loop, tmp_path)
        assert model.generate_structured("", "a beat", Beat).minutes == 3
        assert model.sleeps == [2.0] and len(loop.chat_requests()) == 2
    with _loop(kind, faults=["503"] * 10) as loop:
        with pytest.raises(BackendBusy, match="after 3 back-offs"):
            _model(kind, loop, tmp_path).generate_structured("", "a beat", Beat)
