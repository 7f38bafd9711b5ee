"""What a render backend is: one method that turns a RenderSpec into files in a folder."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from studio.model import RenderSpec

ProgressFn = Callable[[float, str], None]
CancelledFn = Callable[[], bool]


class RenderFailed(Exception):
    """A backend could not render; ``failure_class`` says why (oom, validation, lost, …).
    ``memory`` names what an ``oom`` ran out of: GPU memory, or system RAM on a CPU server."""

    def __init__(
        self, message: str, failure_class: str = "error", *, retryable: bool = False,
        memory: str = "GPU memory",
    ) -> None:
        super().__init__(message)
        self.failure_class = failure_class
        self.retryable = retryable
        self.memory = memory


@dataclass(frozen=True)
class RenderOutput:
    """What a backend produced: files inside the job's folder and facts for the manifest."""

    files: tuple[Path, ...]
    models: tuple[str, ...] = ()
    workflow_hash: str | None = None
    peak_vram_mb: float | None = None
    versions: dict[str, str] = field(default_factory=dict)


class Backend(Protocol):
    name: str

    def run(
        self, spec: RenderSpec, out_dir: Path, progress: ProgressFn, cancelled: CancelledFn
    ) -> RenderOutput:
        """Render ``spec`` into ``out_dir`` (a private temp folder); raise RenderFailed."""
        ...
