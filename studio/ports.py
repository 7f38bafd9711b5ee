"""Small Protocols for every side effect; adapters live outside ``studio/``.

Only ports something consumes live here. Each has an in-memory fake in ``tests/fakes.py``
that tests use instead of patching; the adapters live in their packages.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar, runtime_checkable

if TYPE_CHECKING:
    # Only a type bound here: importing the ports (render/gpu.py does) must not need pydantic,
    # so ``python -m render.gpu_check`` runs on a machine with only the GPU stack.
    from pydantic import BaseModel

T = TypeVar("T", bound="BaseModel")

ProbeState = Literal["ok", "down", "not configured", "not installed", "no gpu"]


@dataclass(frozen=True)
class ProbeResult:
    """One backend health probe, as the Settings page and ``studio doctor`` show it."""

    name: str
    state: ProbeState
    detail: str = ""
    active: bool = False

    @property
    def ok(self) -> bool:
        return self.state == "ok"


@runtime_checkable
class Probe(Protocol):
    """Anything whose health can be checked without side effects."""

    def probe(self) -> ProbeResult: ...


@runtime_checkable
class TextModel(Protocol):
    """An LLM behind LangChain: free text, or a validated pydantic object."""

    def generate(self, system: str, prompt: str) -> str: ...

    def generate_structured(self, system: str, prompt: str, schema: type[T]) -> T: ...


@runtime_checkable
class ProseStream(Protocol):
    """A text model that can stream prose chunk by chunk; ``cancel`` is checked between chunks
    (set it to stop the call: the stream raises ``studio.errors.Cancelled``)."""

    def stream(self, system: str, prompt: str, cancel: CancelFlag | None = None) -> Iterator[str]: ...


@runtime_checkable
class CancelFlag(Protocol):
    """What a cancellable call polls (``threading.Event`` satisfies it)."""

    def is_set(self) -> bool: ...


LlmOutcome = Literal[
    "ok", "truncated", "invalid", "not pulled", "busy", "timeout", "down", "cancelled", "too long", "error"
]


@dataclass(frozen=True)
class LlmCall:
    """One model call, as the run log keeps it: no prompt text, only its sha256."""

    backend: str
    model: str
    kind: Literal["text", "structured", "stream"]
    prompt_sha256: str
    outcome: LlmOutcome
    tokens_in: int | None = None
    tokens_out: int | None = None
    first_token_s: float | None = None
    total_s: float = 0.0
    retries: int = 0
    detail: str = ""


@runtime_checkable
class LlmCallLog(Protocol):
    """Where every model call is recorded (the QA run log, a list in tests)."""

    def __call__(self, call: LlmCall) -> None: ...


@dataclass(frozen=True)
class StyleHit:
    text: str
    score: float
    source: str = ""
    tags: tuple[str, ...] = ()


@runtime_checkable
class StyleStore(Protocol):
    """Written / visual style RAG."""

    def add(self, collection: str, texts: list[str], source: str) -> int: ...

    def query(self, collection: str, text: str, k: int = 4) -> list[StyleHit]: ...


@dataclass(frozen=True)
class FrameSpec:
    """What a frame renderer needs to draw one image (a panel or an asset card)."""

    kind: Literal["panel", "character", "location", "prop"]
    title: str
    prompt: str
    width: int = 1280
    height: int = 720
    seed: int = 0
    palette: tuple[str, ...] = ()
    extra: dict[str, str] = field(default_factory=dict)


@runtime_checkable
class FrameRenderer(Protocol):
    def render_frame(self, spec: FrameSpec) -> bytes: ...


@runtime_checkable
class ReferenceImages(Protocol):
    """Decodes a user's reference image into the PNG an image key is stored as; raises
    ``BadInput`` (naming the file as ``shown``) for anything that is not a usable picture."""

    def to_image_key(self, data: bytes, shown: str) -> bytes: ...


@dataclass(frozen=True)
class GpuSnapshot:
    """Free/total VRAM in MiB; ``available`` False is the normal 'no GPU' state."""

    available: bool
    name: str = ""
    total_mb: float = 0.0
    free_mb: float = 0.0


@runtime_checkable
class GpuProbe(Protocol):
    def snapshot(self) -> GpuSnapshot: ...


@dataclass(frozen=True)
class JobInfo:
    """A render job as the UI and services see it (the queue's own record stays in render/)."""

    id: str
    project_id: str
    scene_id: str
    shot_id: str | None
    kind: str
    backend: str
    preset: str
    status: Literal["queued", "waiting_vram", "running", "done", "failed", "cancelled"]
    progress: float = 0.0
    message: str = ""
    failure_class: str | None = None
    attempts: int = 0
    outputs: tuple[str, ...] = ()
    manifest: str | None = None
    created_at: str = ""
    updated_at: str = ""
    which: Literal["start", "end"] | None = None  # for frame jobs
    region_prompt: str | None = None  # for region edits
    queue_wait_s: float | None = None  # queued -> started
    duration_s: float | None = None  # started -> finished
    peak_vram_mb: float | None = None
    # VRAM over the job's last run: (seconds since its render began, used MiB), time order;
    # empty for CPU jobs and where no GPU was seen.
    vram_samples: tuple[tuple[float, float], ...] = ()


@runtime_checkable
class RenderQueue(Protocol):
    """The durable render queue: jobs survive a page refresh or a crash."""

    def enqueue(self, spec: object, *, backend: str, idempotency_key: str) -> JobInfo: ...

    def jobs(self, project_id: str | None = None) -> list[JobInfo]: ...

    def cancel(self, job_id: str) -> JobInfo: ...


@runtime_checkable
class DriftCheck(Protocol):
    """Continuity drift between a shot's start frame and the frame it continues from
    (0 = identical, 1 = unrelated). The QA issue provides the real metric."""

    def drift(self, reference_png: bytes, frame_png: bytes) -> float: ...


@dataclass(frozen=True)
class QaVerdict:
    """PASS / WARN / FAIL with the reasons, from the one thresholds file."""

    level: Literal["PASS", "WARN", "FAIL"]
    reasons: tuple[str, ...] = ()
    levels: dict[str, str] = field(default_factory=dict)  # metric -> its own level
    metric_reasons: dict[str, str] = field(default_factory=dict)  # metric -> its reason


@runtime_checkable
class QaEngine(Protocol):
    """Metrics and verdicts (the qa/ package implements it)."""

    def clip_metrics(self, path: str, *, duration_s: float | None = None, fps: int = 24) -> dict[str, float]: ...

    def drift(self, reference_png: bytes, frame_png: bytes) -> float: ...

    def bookend_similarity(self, clip_a: str, clip_b: str) -> float: ...

    def narrative_metrics(self, scene: object, shots: object, prompt_sets: object) -> dict[str, float]: ...

    def identity(
        self, key_png: bytes, frame_pngs: Sequence[bytes], name: str, clip: str | None = None
    ) -> tuple[float, str] | None:
        """(distance 0..1 to the image key, method) of a character across a shot's anchor
        frames and, where the key shows a face, the faces inside its ``clip``: the worse of
        the two. None when nothing could be compared (not in the frames, no face, no boxes)."""
        ...

    def evaluate(self, metrics: dict[str, float | None], subject: str) -> QaVerdict: ...

    def combine(self, verdicts: list[QaVerdict]) -> QaVerdict: ...


@runtime_checkable
class RunRecorder(Protocol):
    """The SQLite run log (qa/runlog.py): runs, stages, jobs, metrics, telemetry."""

    def open_run(self, **fields: object) -> str: ...

    def record_metrics(self, run_id: str, rows: list[dict[str, object]]) -> None: ...

    def record_job(self, run_id: str, job: object, **fields: object) -> None: ...

    def close_run(self, run_id: str, summary: dict[str, object]) -> object: ...

    def record_stage(self, run_id: str, stage: int, name: str, duration_s: float | None = None) -> None: ...

    def record_telemetry(
        self, run_id: str, *, vram_used_mb: float | None, job_id: str | None = None, t: float | None = None
    ) -> None: ...

    def run(self, run_id: str) -> dict[str, Any]: ...

