"""``studio doctor`` and ``fsck``: every backend probed, the store checked; the settings as
the Settings page shows and saves them."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from studio import config
from studio.config import Settings
from studio.errors import StudioError
from studio.ports import Probe, ProbeResult
from studio.services.workspace import Workspace
from studio.store import TempMedia


@dataclass(frozen=True)
class SettingField:
    """One editable setting: its value in force and where that value comes from."""

    name: str
    label: str
    value: Any
    source: str  # "environment", "settings file" or "default"
    env_var: str

    @property
    def editable(self) -> bool:
        """An environment variable wins over the page: such a field is shown, not edited."""
        return self.source != "environment"


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

    def settings_fields(self) -> list[SettingField]:
        """The editable settings in force, each with its source (environment, file, default)."""
        overridden = config.env_overrides()
        stored = config.read_settings_file(self.settings.home)
        return [
            SettingField(
                name, label, getattr(self.settings, name),
                "environment" if name in overridden
                else "settings file" if name in stored else "default",
                f"AIUTEUR_{name.upper()}",
            )
            for name, label in config.EDITABLE.items()
        ]

    def save_settings(self, changes: Mapping[str, Any]) -> Settings:
        """Store changed settings in the data dir's settings.toml (atomically) and return the
        settings now in force; the app opens a new Studio with them. Refuses a field an
        AIUTEUR_* variable sets, and invalid values, writing nothing."""
        return config.save_settings(self.settings.home, changes)

    def clean_temp_media(self, *, remove: bool = True) -> TempMedia:
        """Orphan ``media/.tmp-*`` files left by a crash mid-write: removed once a minute old
        (``remove=False`` only lists them); younger ones may be a live writer's."""
        return self.store.clean_temp_media(remove=remove)
