"""The render queue behind the core's ``RenderQueue`` port.

render/'s own errors become :class:`StudioError` here, at render's boundary, so the core
never sees a render exception type (httpx's ``map_exceptions`` idea).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from render.queue import JobNotFound, QueueError, SqliteRenderQueue
from studio.errors import NotFound, StudioError
from studio.ports import JobInfo


class QueuePort:
    """The durable SQLite queue as the core sees it: three verbs, StudioErrors only."""

    def __init__(self, queue: SqliteRenderQueue) -> None:
        self._queue = queue

    def _call(self, verb: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return verb(*args, **kwargs)
        except JobNotFound as exc:
            raise NotFound(f"no render job {exc}") from exc
        except (QueueError, ValueError) as exc:
            raise StudioError(f"render queue: {exc}") from exc

    def enqueue(self, spec: Any, *, backend: str, idempotency_key: str) -> JobInfo:
        return self._call(self._queue.enqueue, spec, backend=backend, idempotency_key=idempotency_key)

    def jobs(self, project_id: str | None = None) -> list[JobInfo]:
        return self._call(self._queue.jobs, project_id)

    def cancel(self, job_id: str) -> JobInfo:
        return self._call(self._queue.cancel, job_id)
