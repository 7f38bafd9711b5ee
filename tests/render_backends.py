"""Test-only render backends and helpers for the queue and worker tests.

A worker subprocess loads them with ``--backend-factory render_backends:make`` (the tests
put this folder on ``PYTHONPATH``). What a job does is scripted through its spec's prompts,
so one backend instance serves every scenario, in this process or another one:

- ``test_steps`` / ``test_sleep``: progress steps and the seconds each takes;
- ``test_fail``: ``oom@<preset>[,<preset>…]`` (out of memory at those presets), or a failure class
  (``error``, ``backend_down``, ``lost``, …) raised on every run;
- ``test_fail_times``: fail only the first N runs of this shot (counted by this backend
  instance, so in one process);
- ``test_retryable``: ``1`` makes the failure retryable.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from render.backend import RenderFailed, RenderOutput
from studio.model import RenderSpec


class StepBackend:
    """Writes ``out.txt`` one line per progress step, sleeping between steps."""

    def __init__(self, name: str = "test", *, needs_gpu: bool = False, down_runs: int = 0) -> None:
        self.name = name
        self.needs_gpu = needs_gpu
        self.down_runs = down_runs  # the first N runs (any job) find the server down
        self.runs: list[RenderSpec] = []
        self.counts: dict[str, int] = {}
        self._lock = threading.Lock()

    def _runs_before(self, spec: RenderSpec) -> int:
        key = f"{spec.project_id}/{spec.shot_id}/{spec.which}"
        with self._lock:
            count = self.counts.get(key, 0)
            self.counts[key] = count + 1
        return count

    def run(
        self,
        spec: RenderSpec,
        out_dir: Path,
        progress: Callable[[float, str], None],
        cancelled: Callable[[], bool],
    ) -> RenderOutput:
        with self._lock:
            self.runs.append(spec)
            down = len(self.runs) <= self.down_runs
        if down:
            raise RenderFailed("connection refused (test server down)", "backend_down", retryable=True)
        prompts = spec.prompts
        steps = int(prompts.get("test_steps", "4"))
        sleep = float(prompts.get("test_sleep", "0.01"))
        fail = prompts.get("test_fail", "")
        retryable = prompts.get("test_retryable") == "1"
        started = time.time()
        if fail:
            times = prompts.get("test_fail_times")
            runs_before = self._runs_before(spec) if times else 0
            if times is None or runs_before < int(times):
                if fail.startswith("oom@"):
                    if spec.preset in fail[4:].split(","):
                        raise RenderFailed(prompts.get("test_oom_text", "CUDA out of memory (test)"),
                                           "oom", retryable=True,
                                           memory=prompts.get("test_oom_memory", "GPU memory"))
                else:
                    raise RenderFailed(f"scripted {fail} failure", fail, retryable=retryable)
        out = out_dir / "out.txt"
        with open(out, "w") as handle:
            for step in range(steps):
                if cancelled():
                    raise RenderFailed("cancelled", "interrupted")
                time.sleep(sleep)
                handle.write(f"step {step + 1}\n")
                handle.flush()
                progress((step + 1) / steps, f"step {step + 1}/{steps}")
            record = {
                "pid": os.getpid(),
                "start": started,
                "end": time.time(),
                "preset": spec.preset,
                "width": spec.width,
                "height": spec.height,
                "shot": spec.shot_id,
            }
            handle.write(json.dumps(record) + "\n")
        return RenderOutput(
            files=(out,),
            models=("test-model-v1",),
            workflow_hash="f" * 64,
            versions={"test-backend": "1.0"},
        )


def make(settings: Any) -> dict[str, StepBackend]:
    """The ``--backend-factory`` entry: CPU-only test backends."""
    return {"test": StepBackend("test"), "animatic": StepBackend("animatic")}


def run_record(path: Path) -> dict[str, Any]:
    """The JSON line a :class:`StepBackend` run ends its output with."""
    return json.loads(Path(path).read_text().strip().splitlines()[-1])


def make_spec(
    *,
    project: str = "p",
    shot: str = "1A",
    kind: str = "clip",
    preset: str = "fast",
    width: int = 854,
    height: int = 480,
    inputs: dict[str, str] | None = None,
    **prompts: str,
) -> RenderSpec:
    return RenderSpec(
        kind=kind,
        project_id=project,
        scene_id="sc-1",
        shot_id=shot,
        preset=preset,
        seed=1234,
        width=width,
        height=height,
        fps=24,
        duration_s=2.0,
        prompts={"video": f"shot {shot} moves", **prompts},
        inputs=inputs or {},
    )


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02) -> Any:
    """Poll until ``predicate()`` is truthy; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {predicate}")
        time.sleep(interval)
