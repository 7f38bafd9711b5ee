"""The LLM layer: one factory from Settings to a LangChain chat model, and the adapter that
puts the transport truths of local servers behind the ``TextModel`` port.

Transport truths (see the module's tests for the loopback servers that enact them):

- a cold model load sends headers only after loading: first-byte timeout >= 300 s, and a
  timeout is never retried (a retry would abort and restart the load);
- Ollama 404 = the model is not pulled (``ollama pull NAME``); LM Studio 404 = none loaded;
- 503 / 429 = busy: bounded back-off, then ``BackendBusy``;
- a reply cut by the token limit (``done_reason``/``finish_reason`` = ``length``) raises
  ``ReplyTruncated``, never returns as complete;
- Ollama drops the head of an over-long prompt silently: ``num_ctx`` is set explicitly and a
  prompt that would not fit (a local estimate: nothing may download a tokenizer, so
  ``get_num_tokens`` — tiktoken — is never called) is refused before sending;
- JSON mode can emit endless whitespace after the object: the structured stream stops once a
  complete object is followed only by whitespace.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import json_repair
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from pydantic import ValidationError

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
from studio.ports import CancelFlag, LlmCall, LlmCallLog, T

CONNECT_HINT = (
    "no LLM is configured: run Ollama (`ollama serve`, `ollama pull mistral`) and set "
    "AIUTEUR_LLM_BACKEND=ollama, or start LM Studio's server (http://127.0.0.1:1234/v1) and "
    "set AIUTEUR_LLM_BACKEND=lmstudio"
)
LLAMACPP_HINT = (
    "the in-process GGUF backend needs llama-cpp-python, which is not installed: "
    "`pip install llama-cpp-python` (it builds from source and needs cmake and a C++ "
    "toolchain, e.g. `apt install build-essential cmake`), or use Ollama / LM Studio"
)
# A whitespace run this long after a complete JSON object is Ollama's endless-whitespace
# JSON mode (ollama#2577): the object is taken and the stream closed.
WHITESPACE_TAIL = 64
# Characters per token of the local estimate: low on purpose, so the estimate over-counts.
CHARS_PER_TOKEN = 3.0


@dataclass(frozen=True)
class LlmOptions:
    """Transport knobs; the defaults are the product's, tests shorten the waits."""

    first_byte_timeout_s: float = 300.0
    connect_timeout_s: float = 10.0
    num_ctx: int = 8192
    max_tokens: int = 2048
    busy_backoff_s: tuple[float, ...] = (2.0, 5.0, 10.0)
    # After this long without a byte, ``on_wait`` hears "loading the model" (a cold load).
    waiting_notice_s: float = 5.0
    temperature: float = 0.7


def _timeout(options: LlmOptions) -> tuple[float, float, float, float]:
    """(connect, read, write, pool): read is the wait for the first byte (and between chunks),
    which a cold model load must fit in. A tuple, because ollama uses httpx and openai httpx2."""
    read = options.first_byte_timeout_s
    return (options.connect_timeout_s, read, read, options.connect_timeout_s)


def build_chat_model(settings: Settings, options: LlmOptions | None = None) -> BaseChatModel:
    """The LangChain chat model the Settings name, or a ``BackendUnavailable`` saying how to get one."""
    options = options or LlmOptions()
    backend = settings.llm_backend
    if backend == "offline":
        raise BackendUnavailable(CONNECT_HINT)
    if backend == "llamacpp":
        raise BackendUnavailable(LLAMACPP_HINT)
    if backend == "ollama":
        from langchain_ollama import ChatOllama

        return ChatOllama(
            model=settings.ollama_model,
            base_url=settings.ollama_url,
            num_ctx=options.num_ctx,
            num_predict=options.max_tokens,
            temperature=options.temperature,
            client_kwargs={"timeout": _timeout(options)},
        )
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(
        model=loaded_openai_model(settings.lmstudio_url, options),
        base_url=settings.lmstudio_url,
        api_key="lm-studio",  # type: ignore[arg-type]  # local servers ignore it
        timeout=_timeout(options),
        max_retries=0,  # back-off is ours, bounded; the SDK's own retries would multiply it
        max_tokens=options.max_tokens,  # type: ignore[call-arg]
        temperature=options.temperature,
        stream_usage=True,
        use_responses_api=False,
    )


def loaded_openai_model(base_url: str, options: LlmOptions | None = None) -> str:
    """The first model an OpenAI-compatible server lists (LM Studio: the loaded one)."""
    options = options or LlmOptions()
    try:
        reply = httpx.get(f"{base_url.rstrip('/')}/models", timeout=options.connect_timeout_s)
        reply.raise_for_status()
        ids = [m["id"] for m in reply.json().get("data", []) if m.get("id")]
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
        raise BackendUnavailable(f"cannot list the models at {base_url}: {exc}") from exc
    if not ids:
        raise ModelNotPulled(
            f"no model is loaded at {base_url}: load one in LM Studio (or lms load NAME)"
        )
    return ids[0]


def text_model(
    settings: Settings, log: LlmCallLog | None = None, options: LlmOptions | None = None
) -> ChatTextModel:
    options = options or LlmOptions()
    chat = build_chat_model(settings, options)
    model = (
        settings.ollama_model
        if settings.llm_backend == "ollama"
        else str(getattr(chat, "model_name", ""))
    )
    return ChatTextModel(chat, backend=settings.llm_backend, model=model, options=options, log=log)


def estimate_tokens(text: str) -> int:
    """A local over-estimate (no tokenizer download): about 3 characters per token."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


@dataclass
class _Attempt:
    """What one call learnt from the response metadata."""

    meta: dict[str, Any] = field(default_factory=dict)
    tokens_in: int | None = None
    tokens_out: int | None = None
    first_token_s: float | None = None


@dataclass
class ChatTextModel:
    """``TextModel`` + ``ProseStream`` over a LangChain chat model (Ollama or OpenAI-compatible)."""

    chat: BaseChatModel
    backend: str
    model: str
    options: LlmOptions = field(default_factory=LlmOptions)
    log: LlmCallLog | None = None
    sleep: Callable[[float], None] = time.sleep
    # Told once per attempt when the server has sent nothing for ``waiting_notice_s`` (the
    # page shows it as a status: a cold model load sends its headers only after loading).
    on_wait: Callable[[str], None] | None = None

    # -- the port ---------------------------------------------------------------------------
    def generate(self, system: str, prompt: str) -> str:
        return "".join(self._run_stream("text", self._messages(system, prompt), None))

    def stream(self, system: str, prompt: str, cancel: CancelFlag | None = None) -> Iterator[str]:
        return self._run_stream("stream", self._messages(system, prompt), cancel)

    def generate_structured(self, system: str, prompt: str, schema: type[T]) -> T:
        messages = self._messages(system, prompt)
        try:
            return self._structured_once(messages, schema)
        except StructuredOutputInvalid as first:
            retry = [
                *messages,
                HumanMessage(
                    f"Your previous answer was not valid: {first}. Answer again with only one "
                    f"JSON object that matches the schema of {schema.__name__}."
                ),
            ]
            return self._structured_once(retry, schema)

    # -- internals --------------------------------------------------------------------------
    @staticmethod
    def _messages(system: str, prompt: str) -> list[BaseMessage]:
        return [SystemMessage(system), HumanMessage(prompt)] if system else [HumanMessage(prompt)]

    def _check_fits(self, messages: list[BaseMessage]) -> None:
        need = sum(estimate_tokens(str(m.content)) for m in messages) + self.options.max_tokens
        if need > self.options.num_ctx:
            raise TooLarge(
                f"the prompt (about {need - self.options.max_tokens} tokens) and its reply "
                f"({self.options.max_tokens}) do not fit the context of {self.options.num_ctx} "
                "tokens; shorten the input (the model would drop its beginning silently)"
            )

    def _record(
        self,
        kind: Any,
        messages: list[BaseMessage],
        outcome: Any,
        attempt: _Attempt,
        started: float,
        retries: int,
        detail: str = "",
    ) -> None:
        if self.log is None:
            return
        prompt = "\n".join(f"{m.type}: {m.content}" for m in messages)
        self.log(
            LlmCall(
                backend=self.backend,
                model=self.model,
                kind=kind,
                prompt_sha256=hashlib.sha256(prompt.encode()).hexdigest(),
                outcome=outcome,
                tokens_in=attempt.tokens_in,
                tokens_out=attempt.tokens_out,
                first_token_s=attempt.first_token_s,
                total_s=time.monotonic() - started,
                retries=retries,
                detail=detail[:300],
            )
        )

    def _translate(self, exc: BaseException) -> Exception | None:
        """A transport exception as the studio's typed error; ``BackendBusy`` means retryable."""
        import ollama
        import openai

        status = getattr(exc, "status_code", None)
        if isinstance(exc, openai.APIStatusError):
            status = exc.status_code
        if isinstance(exc, openai.LengthFinishReasonError):
            return ReplyTruncated(
                f"{self.model}: the reply was cut by the token limit ({self.options.max_tokens})"
            )
        if isinstance(exc, httpx.TimeoutException | openai.APITimeoutError):
            return LlmTimeout(
                f"{self.backend} sent nothing for {self.options.first_byte_timeout_s:.0f} s "
                "(a cold model load can take minutes); not retried"
            )
        if status == 404:
            if self.backend == "ollama":
                return ModelNotPulled(
                    f"Ollama does not have the model {self.model!r}: run `ollama pull {self.model}`"
                )
            return ModelNotPulled(
                f"the server has no model {self.model!r} loaded: load it in LM Studio"
            )
        if status in (429, 503):
            return BackendBusy(f"{self.backend} is busy (HTTP {status})")
        if isinstance(exc, ollama.ResponseError | openai.APIStatusError):
            return BackendUnavailable(f"{self.backend} answered HTTP {status}: {str(exc)[:200]}")
        if isinstance(exc, ConnectionError | httpx.TransportError | openai.APIConnectionError):
            return BackendUnavailable(f"cannot reach {self.backend}: {str(exc)[:200]}")
        return None

    def _outcome(self, exc: Exception) -> str:
        for cls, name in (
            (ModelNotPulled, "not pulled"),
            (BackendBusy, "busy"),
            (LlmTimeout, "timeout"),
            (ReplyTruncated, "truncated"),
            (StructuredOutputInvalid, "invalid"),
            (Cancelled, "cancelled"),
            (TooLarge, "too long"),
            (BackendUnavailable, "down"),
        ):
            if isinstance(exc, cls):
                return name
        return "error"

    def _waiting(self) -> threading.Timer | None:
        """A timer that says "loading the model" unless cancelled by the first byte."""
        if self.on_wait is None:
            return None
        notice = (
            f"waiting for {self.backend} to answer: loading the model {self.model} "
            f"(up to {self.options.first_byte_timeout_s:.0f} s on a cold start)"
        )
        timer = threading.Timer(self.options.waiting_notice_s, self.on_wait, [notice])
        timer.daemon = True
        timer.start()
        return timer

    def _absorb(self, attempt: _Attempt, chunk: Any) -> None:
        meta = getattr(chunk, "response_metadata", None) or {}
        attempt.meta.update({k: v for k, v in meta.items() if v is not None})
        usage = getattr(chunk, "usage_metadata", None)
        if usage:
            attempt.tokens_in = usage.get("input_tokens", attempt.tokens_in)
            attempt.tokens_out = usage.get("output_tokens", attempt.tokens_out)

    def _check_complete(self, attempt: _Attempt) -> None:
        meta = attempt.meta
        if "length" in (meta.get("done_reason"), meta.get("finish_reason")):
            raise ReplyTruncated(
                f"{self.model}: the reply was cut by the token limit ({self.options.max_tokens} "
                "tokens); it was not kept"
            )
        if self.backend == "ollama" and meta.get("done") is not True:
            raise ReplyTruncated(
                f"{self.model}: the stream ended before Ollama said done; the reply was not kept"
            )

    def _run_stream(
        self, kind: str, messages: list[BaseMessage], cancel: CancelFlag | None, **kwargs: Any
    ) -> Iterator[str]:
        """Yield text chunks; bounded back-off while nothing has been yielded; typed errors."""
        started = time.monotonic()
        retries = 0
        attempt = _Attempt()
        try:
            self._check_fits(messages)
            while True:
                attempt = _Attempt()
                yielded = False
                source = self.chat.stream(messages, **kwargs)
                timer = self._waiting()
                try:
                    for chunk in source:
                        if timer is not None:
                            timer.cancel()
                        if cancel is not None and cancel.is_set():
                            raise Cancelled(
                                "the model call was cancelled; its partial text was not kept"
                            )
                        self._absorb(attempt, chunk)
                        text = chunk.content if isinstance(chunk.content, str) else ""
                        if text:
                            if attempt.first_token_s is None:
                                attempt.first_token_s = time.monotonic() - started
                            yielded = True
                            yield text
                    self._check_complete(attempt)
                    break
                except GeneratorExit:
                    raise
                except Exception as exc:
                    typed = (
                        exc if isinstance(exc, Cancelled | ReplyTruncated) else self._translate(exc)
                    )
                    if typed is None:
                        raise
                    if not yielded and self._backed_off(typed, retries):
                        retries += 1
                        continue
                    raise self._final(typed, retries) from exc
                finally:
                    if timer is not None:
                        timer.cancel()
                    close = getattr(source, "close", None)
                    if close is not None:
                        close()
        except GeneratorExit:
            # structured output closes the stream once it holds a complete object (ok); a prose
            # consumer that stops reading has abandoned the call
            outcome = "ok" if kind == "structured" else "cancelled"
            self._record(
                kind, messages, outcome, attempt, started, retries, "the reader stopped the stream"
            )
            raise
        except Exception as exc:
            self._record(kind, messages, self._outcome(exc), attempt, started, retries, str(exc))
            raise
        self._record(kind, messages, "ok", attempt, started, retries)

    def _backed_off(self, typed: Exception, retries: int) -> bool:
        """Wait the next bounded back-off for a busy backend; False when none is left (or
        the error is not 'busy')."""
        if isinstance(typed, BackendBusy) and retries < len(self.options.busy_backoff_s):
            self.sleep(self.options.busy_backoff_s[retries])
            return True
        return False

    @staticmethod
    def _final(typed: Exception, retries: int) -> Exception:
        if isinstance(typed, BackendBusy):
            return BackendBusy(f"{typed} after {retries} back-offs; try again when it is free")
        return typed

    def _structured_once(self, messages: list[BaseMessage], schema: type[T]) -> T:
        json_schema = schema.model_json_schema()
        if self.backend == "ollama":
            return self._structured_ollama(messages, schema, json_schema)
        return self._structured_openai(messages, schema, json_schema)

    def _structured_ollama(
        self, messages: list[BaseMessage], schema: type[T], json_schema: dict
    ) -> T:
        text = ""
        stream = self._run_stream("structured", messages, None, format=json_schema)
        try:
            for chunk in stream:
                text += chunk
                if len(text) - len(text.rstrip()) >= WHITESPACE_TAIL and _complete_json(text):
                    break  # endless whitespace after a complete object: take it, close the stream
        except ReplyTruncated:
            if not _complete_json(text):
                raise
        finally:
            stream.close()
        return _validate(text, schema)

    def _structured_openai(
        self, messages: list[BaseMessage], schema: type[T], json_schema: dict
    ) -> T:
        response_format = {
            "type": "json_schema",  # never json_object: LM Studio answers 400 to it
            "json_schema": {"name": schema.__name__, "schema": json_schema, "strict": False},
        }
        started = time.monotonic()
        retries = 0
        attempt = _Attempt()
        try:
            self._check_fits(messages)
            while True:
                attempt = _Attempt()
                timer = self._waiting()
                try:
                    reply = self.chat.invoke(messages, response_format=response_format)
                except Exception as exc:
                    typed = self._translate(exc)
                    if typed is None:
                        raise
                    if self._backed_off(typed, retries):
                        retries += 1
                        continue
                    raise self._final(typed, retries) from exc
                finally:
                    if timer is not None:
                        timer.cancel()
                break
            attempt.first_token_s = time.monotonic() - started
            self._absorb(attempt, reply)
            self._check_complete(attempt)
            value = _validate(str(reply.content), schema)
        except Exception as exc:
            self._record(
                "structured", messages, self._outcome(exc), attempt, started, retries, str(exc)
            )
            raise
        self._record("structured", messages, "ok", attempt, started, retries)
        return value


def _complete_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def _validate(text: str, schema: type[T]) -> T:
    """Strict JSON first; else json-repair (fences, prose around it, trailing junk); then pydantic."""
    try:
        data: Any = json.loads(text)
    except ValueError:
        data = json_repair.repair_json(_outermost_object(text), return_objects=True)
    if not isinstance(data, dict) or not data:
        raise StructuredOutputInvalid(
            f"the model's answer holds no JSON object for {schema.__name__}: {text[:120]!r}"
        )
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        raise StructuredOutputInvalid(
            f"the model's answer did not match {schema.__name__}: {exc}"
        ) from exc


def _outermost_object(text: str) -> str:
    """The span from the first ``{`` to the last ``}``: drops fences and prose around the JSON."""
    start, end = text.find("{"), text.rfind("}")
    return text[start : end + 1] if 0 <= start < end else text
