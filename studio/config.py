"""The one settings object, read once at start-up and passed down."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

LlmBackend = Literal["offline", "ollama", "lmstudio", "llamacpp"]
RenderBackend = Literal["animatic", "comfyui"]


class Settings(BaseSettings):
    """Studio settings from ``AIUTEUR_*`` environment variables, overridable by arguments.

    ``home`` is the data dir: ``studio.db``, ``media/``, ``chroma/``, ``exports/``, ``logs/``.
    """

    model_config = SettingsConfigDict(env_prefix="AIUTEUR_", extra="ignore", frozen=True)

    home: Path = Field(default=Path("studio_data"), description="data dir (AIUTEUR_HOME)")
    llm_backend: LlmBackend = "offline"
    ollama_url: str = "http://127.0.0.1:11434"
    ollama_model: str = "mistral"
    lmstudio_url: str = "http://127.0.0.1:1234/v1"
    llamacpp_model_path: Path | None = None
    render_backend: RenderBackend = "animatic"
    comfyui_url: str | None = None
    busy_timeout_ms: int = Field(default=10_000, ge=100)
    max_upload_bytes: int = Field(default=20 * 1024 * 1024, ge=1024)
    price_per_gpu_hour: float | None = None
    autostart_worker: bool = Field(
        default=True, description="the app starts a render worker when a job is queued"
    )
    styles_dir: Path = Field(
        default=Path(__file__).resolve().parents[1] / "data" / "styles",
        description="visual style packs (TOML)",
    )
    samples_dir: Path = Field(
        default=Path(__file__).resolve().parents[1] / "data" / "samples",
        description="bundled sample screenplays",
    )

    @field_validator("home")
    @classmethod
    def _absolute_home(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @property
    def db_path(self) -> Path:
        return self.home / "studio.db"

    @property
    def media_dir(self) -> Path:
        return self.home / "media"

    @property
    def exports_dir(self) -> Path:
        return self.home / "exports"

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def chroma_dir(self) -> Path:
        return self.home / "chroma"


def load_settings(home: str | Path | None = None) -> Settings:
    """Settings from the environment, with ``--home`` taking precedence over AIUTEUR_HOME."""
    if home is not None:
        return Settings(home=Path(home))
    return Settings()
