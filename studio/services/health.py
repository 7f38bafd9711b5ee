"""``studio doctor`` and ``fsck``: every backend probed, the store checked."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from studio.errors import StudioError
from studio.ports import Probe, ProbeResult
from studio.services.workspace import Workspace
from studio.store import TempMedia


class HealthService:
    """Probes the store and every configured backend; a probe that fails reports, never raises."""

    def __init__(self, workspace: Workspace, probes: Sequence[Probe | Callable[[], ProbeResult]] = ()) -> None:
        self.settings = workspace.settings
        self.store = workspace.store
        self._probes = list(probes)

    def doctor(self) -> list[ProbeResult]:
        """Probe every backend; a probe that itself fails reports 'down', never raises."""
        results = [self._probe_store()]
        for probe in self._probes:
            try:
                results.append(probe.probe() if isinstance(probe, Probe) else probe())
            except StudioError as exc:
                results.append(ProbeResult(getattr(probe, "name", "backend"), "down", str(exc)))
        return results

    def _probe_store(self) -> ProbeResult:
        try:
            version = self.store.schema_version()
            mode = ", read-only: nothing can be saved" if self.store.read_only else ""
            return ProbeResult(
                "store", "ok", f"SQLite WAL at {self.settings.db_path} (schema v{version}{mode})", True
            )
        except Exception as exc:  # the probe reports, never raises
            return ProbeResult("store", "down", str(exc))

    def fsck(self) -> list[str]:
        return self.store.fsck()

    def clean_temp_media(self, *, remove: bool = True) -> TempMedia:
        """Orphan ``media/.tmp-*`` files left by a crash mid-write: removed once a minute old
        (``remove=False`` only lists them); younger ones may be a live writer's."""
        return self.store.clean_temp_media(remove=remove)
