"""In-memory fakes of every port, for tests (test doubles live in tests/, never in a product package)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field

from pydantic import ValidationError

from studio.errors import BackendUnavailable, BadInput, Cancelled
from studio.ports import (
    CancelFlag,
    FrameSpec,
    GpuSnapshot,
    ProbeResult,
    StyleHit,
    T,
)


@dataclass
class FakeTextModel:
    """Answers from a list of canned replies, in order; records every call."""

    replies: list[str] = field(default_factory=list)
    calls: list[tuple[str, str]] = field(default_factory=list)
    down: bool = False

    def _next(self, system: str, prompt: str) -> str:
        if self.down:
            raise BackendUnavailable("fake LLM is down: start the backend or choose 'offline'")
        self.calls.append((system, prompt))
        if not self.replies:
            raise BackendUnavailable("fake LLM has no reply left")
        return self.replies.pop(0)

    def generate(self, system: str, prompt: str) -> str:
        return self._next(system, prompt)

    def stream(self, system: str, prompt: str, cancel: CancelFlag | None = None) -> Iterator[str]:
        """The next reply word by word; ``cancel`` is checked between words, like the adapter."""
        for word in self._next(system, prompt).split(" "):
            if cancel is not None and cancel.is_set():
                raise Cancelled("the model call was cancelled; its partial text was not kept")
            yield word + " "

    def generate_structured(self, system: str, prompt: str, schema: type[T]) -> T:
        raw = self._next(system, prompt)
        try:
            return schema.model_validate(json.loads(raw))
        except (ValueError, ValidationError) as exc:
            raise BadInput(f"the model's answer did not match {schema.__name__}: {exc}") from exc

    def probe(self) -> ProbeResult:
        return ProbeResult("llm", "down" if self.down else "ok", "fake text model")


@dataclass
class FakeStyleStore:
    """Keyword-overlap retrieval over texts kept in memory."""

    collections: dict[str, list[tuple[str, str]]] = field(default_factory=dict)

    def add(self, collection: str, texts: list[str], source: str) -> int:
        self.collections.setdefault(collection, []).extend((t, source) for t in texts)
        return len(texts)

    def query(self, collection: str, text: str, k: int = 4) -> list[StyleHit]:
        words = set(text.lower().split())
        hits = []
        for chunk, source in self.collections.get(collection, []):
            overlap = len(words & set(chunk.lower().split()))
            hits.append(StyleHit(chunk, overlap / (len(words) or 1), source))
        hits.sort(key=lambda h: -h.score)
        return hits[:k]


@dataclass
class FakeFrameRenderer:
    """Returns a tiny deterministic byte string per spec (not an image); counts calls."""

    calls: list[FrameSpec] = field(default_factory=list)

    def render_frame(self, spec: FrameSpec) -> bytes:
        self.calls.append(spec)
        digest = hashlib.sha256(repr(spec).encode()).hexdigest()
        return f"FAKEFRAME {spec.kind} {spec.title} {digest}".encode()


@dataclass
class FakeGpuProbe:
    """A GPU with settable free memory, or no GPU at all."""

    snapshot_value: GpuSnapshot = field(default_factory=lambda: GpuSnapshot(available=False))

    def snapshot(self) -> GpuSnapshot:
        return self.snapshot_value


@dataclass
class FakeDriftCheck:
    """Byte-level difference share: 0 for identical images, larger the more bytes differ."""

    calls: int = 0

    def drift(self, reference_png: bytes, frame_png: bytes) -> float:
        self.calls += 1
        if reference_png == frame_png:
            return 0.0
        length = max(len(reference_png), len(frame_png))
        same = sum(a == b for a, b in zip(reference_png, frame_png, strict=False))
        return round(1 - same / length, 3)
