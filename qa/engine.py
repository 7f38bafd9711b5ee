"""The qa/ package behind the core's ``QaEngine`` (and ``DriftCheck``) port.

Thresholds are loaded once; the MiniLM embedder on first use; each clip is decoded once per
run (the metrics, the format checks and the bookend frames come from one read).
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from typing import Any

from studio.errors import Corrupt
from studio.ports import QaVerdict


class MetricsQaEngine:
    """Frame, clip, identity and narrative metrics with verdicts from the thresholds file."""

    def __init__(self) -> None:
        from qa.verdicts import load_thresholds

        self._thresholds = load_thresholds()
        self._embedder: Any = None
        self._key_faces: dict[tuple[str, str], Any] = {}  # (key sha, name) -> face embedding or None
        self._ends: dict[str, tuple[Any, Any]] = {}  # clip path -> (first, last) frame, the latest two

    @staticmethod
    @contextlib.contextmanager
    def _reading(what: str) -> Iterator[None]:
        """A clip or image that cannot be decoded (damaged on disk, truncated, missing) is
        ``Corrupt``, which QA records as an unreadable part instead of stopping the run."""
        try:
            yield
        except (OSError, RuntimeError, ValueError, StopIteration, IndexError) as exc:
            detail = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
            raise Corrupt(f"{what} could not be read: {detail[:200]}") from None

    def clip_metrics(self, path: str, *, duration_s: float | None = None, fps: int = 24) -> dict[str, float]:
        """One decode per clip, measured while ffmpeg decodes: the metrics, the format
        checks, and the first and last frames kept for the bookend comparison with its
        neighbours."""
        from qa.metrics import format_checks, measure_clip

        with self._reading("the clip"):
            out, meta, measure = measure_clip(path)
            self._remember(path, measure.first, measure.last)
            if duration_s:
                out.update(format_checks(meta, fps=fps, width=meta.get("width"), height=meta.get("height"),
                                         duration_s=duration_s))
            return out

    def _remember(self, path: str, first: Any, last: Any) -> None:
        self._ends = {k: v for k, v in self._ends.items() if k != path}
        self._ends[path] = (first, last)
        while len(self._ends) > 2:  # run_qa walks the clips in order: the previous one will do
            self._ends.pop(next(iter(self._ends)))

    def _decode(self, path: str) -> None:
        from qa.metrics import read_frames

        frames, _ = read_frames(path)
        if not frames:
            raise ValueError("the clip has no frames")
        self._remember(path, frames[0], frames[-1])

    def _clip_ends(self, path: str) -> tuple[Any, Any]:
        if path not in self._ends:
            self._decode(path)
        return self._ends[path]

    def bookend_similarity(self, clip_a: str, clip_b: str) -> float:
        from qa.metrics import bookend_similarity

        with self._reading("a clip"):
            last = self._clip_ends(clip_a)[1]
            first = self._clip_ends(clip_b)[0]
            return float(bookend_similarity(last, first))

    def drift(self, reference_png: bytes, frame_png: bytes) -> float:
        from qa.metrics import FrameDriftCheck

        with self._reading("an anchor frame"):
            return float(FrameDriftCheck().drift(reference_png, frame_png))

    def identity(self, key_png: bytes, frame_pngs: Any, name: str, clip: str | None = None) -> tuple[float, str] | None:
        with self._reading("an image key, anchor frame or clip"):
            return self._identity(key_png, frame_pngs, name, clip)

    def _identity(self, key_png: bytes, frame_pngs: Any, name: str, clip: str | None) -> tuple[float, str] | None:
        from qa.metrics import identity_in_clip, identity_in_frames, key_face

        results = [identity_in_frames(key_png, list(frame_pngs), name)] if frame_pngs else []
        if clip is not None:
            # One face search per key: an animatic card has none, and then the clip's faces
            # are not searched at all (its anchors' figure boxes were measured above).
            cached = (hashlib.sha256(key_png).hexdigest(), name.strip().upper())
            if cached not in self._key_faces:
                self._key_faces[cached] = key_face(key_png, name)
            face = self._key_faces[cached]
            if face is not None:
                results.append(identity_in_clip(face, clip))
        found = [r for r in results if r is not None]
        if not found:
            return None
        worst = max(found, key=lambda r: r.distance)
        return round(worst.distance, 4), worst.method

    def narrative_metrics(self, scene: Any, shots: Any, prompt_sets: Any) -> dict[str, float]:
        from qa.narrative import MiniLMEmbedder, narrative_metrics

        if self._embedder is None:
            self._embedder = MiniLMEmbedder()
        return narrative_metrics(scene, shots, prompt_sets, self._embedder)

    def evaluate(self, metrics: dict[str, float | None], subject: str) -> QaVerdict:
        from qa.verdicts import evaluate

        return evaluate(metrics, self._thresholds, subject=subject).as_port()

    def combine(self, verdicts: list[Any]) -> QaVerdict:
        from qa.verdicts import combine

        return combine(verdicts).as_port()
