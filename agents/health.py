"""Health probe of the LLM backend (``studio doctor``, the sidebar): reachable, model present,
context length where the server says it."""

from __future__ import annotations

import importlib.util

import httpx

from studio.config import Settings
from studio.ports import ProbeResult

PROBE_TIMEOUT_S = 5.0


def probe_llm(settings: Settings) -> ProbeResult:
    """Offline is a state, never a failure: the deterministic tools still work."""
    backend = settings.llm_backend
    if backend == "offline":
        return ProbeResult(
            "llm",
            "not configured",
            "offline: deterministic tools only. To enable creative steps run Ollama "
            "(`ollama serve`, `ollama pull mistral`) and set AIUTEUR_LLM_BACKEND=ollama, or "
            "LM Studio with AIUTEUR_LLM_BACKEND=lmstudio",
            active=True,
        )
    if backend == "ollama":
        return _probe_ollama(settings.ollama_url, settings.ollama_model)
    if backend == "lmstudio":
        return _probe_openai(settings.lmstudio_url)
    if importlib.util.find_spec("llama_cpp") is None:
        return ProbeResult(
            "llm",
            "not installed",
            "llamacpp: llama-cpp-python is not installed (`pip install llama-cpp-python`, "
            "needs cmake and a C++ toolchain)",
        )
    return ProbeResult("llm", "not configured", "llamacpp: the in-process adapter is not built yet")


def _names_match(wanted: str, name: str) -> bool:
    return name == wanted or (":" not in wanted and name == f"{wanted}:latest")


def _probe_ollama(url: str, model: str) -> ProbeResult:
    base = url.rstrip("/")
    try:
        tags = httpx.get(f"{base}/api/tags", timeout=PROBE_TIMEOUT_S)
        tags.raise_for_status()
        names = [m.get("name") or m.get("model", "") for m in tags.json().get("models", [])]
    except (httpx.HTTPError, ValueError, AttributeError) as exc:
        return ProbeResult(
            "llm", "down", f"ollama at {base} is not reachable ({exc}): run `ollama serve`"
        )
    found = next((n for n in names if _names_match(model, n)), None)
    if found is None:
        have = ", ".join(names[:6]) or "none"
        return ProbeResult(
            "llm",
            "not installed",
            f"ollama at {base}: model {model!r} not pulled (has {have}): run `ollama pull {model}`",
        )
    context = _ollama_context(base, found)
    said = f", context {context} tokens" if context else ""
    return ProbeResult("llm", "ok", f"ollama at {base}: {found} present{said}", active=True)


def _ollama_context(base: str, model: str) -> int | None:
    """The model's trained context length from ``/api/show`` (``<arch>.context_length``)."""
    try:
        reply = httpx.post(f"{base}/api/show", json={"model": model}, timeout=PROBE_TIMEOUT_S)
        reply.raise_for_status()
        info = reply.json().get("model_info") or {}
    except (httpx.HTTPError, ValueError, AttributeError):
        return None
    for key, value in info.items():
        if key.endswith(".context_length") and isinstance(value, int):
            return value
    return None


def _probe_openai(url: str) -> ProbeResult:
    base = url.rstrip("/")
    try:
        reply = httpx.get(f"{base}/models", timeout=PROBE_TIMEOUT_S)
        reply.raise_for_status()
        data = reply.json().get("data", [])
        ids = [m["id"] for m in data if m.get("id")]
    except (httpx.HTTPError, ValueError, AttributeError, KeyError, TypeError) as exc:
        return ProbeResult(
            "llm", "down", f"lmstudio at {base} is not reachable ({exc}): start LM Studio's server"
        )
    if not ids:
        return ProbeResult(
            "llm", "not installed", f"lmstudio at {base}: no model loaded: load one in LM Studio"
        )
    # LM Studio's /api/v0/models and llama-server's /v1/models say the context; plain OpenAI does not
    first = data[0]
    context = (
        first.get("max_context_length")
        or first.get("loaded_context_length")
        or (first.get("meta") or {}).get("n_ctx_train")
    )
    said = f", context {context} tokens" if isinstance(context, int) else ""
    return ProbeResult("llm", "ok", f"lmstudio at {base}: {ids[0]} loaded{said}", active=True)
