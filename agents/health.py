"""Health probe of the LLM backend (``studio doctor``, the sidebar)."""

from __future__ import annotations

from studio.config import Settings
from studio.ports import ProbeResult


def probe_llm(settings: Settings) -> ProbeResult:
    """Offline is a state, never a failure: the deterministic tools still work."""
    if settings.llm_backend == "offline":
        return ProbeResult(
            "llm",
            "not configured",
            "offline: deterministic tools only. To enable creative steps run Ollama "
            "(`ollama serve`, `ollama pull mistral`) and set AIUTEUR_LLM_BACKEND=ollama, or "
            "LM Studio with AIUTEUR_LLM_BACKEND=lmstudio",
            active=True,
        )
    return ProbeResult(
        "llm", "not configured", f"{settings.llm_backend}: the LLM adapter is not built yet"
    )
