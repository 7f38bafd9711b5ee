"""The one settings object, read once at start-up and passed down.

Where a value comes from, strongest first: an argument (``--home``), an ``AIUTEUR_*``
environment variable, the data dir's ``settings.toml`` (written by the app's Settings page),
the default. An environment variable therefore always wins over the page, which shows such a
field as set by the environment and does not let it be edited.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, EnvSettingsSource, NoDecode, SettingsConfigDict

from studio.errors import BadInput

LlmBackend = Literal["offline", "ollama", "lmstudio", "llamacpp"]
RenderBackend = Literal["animatic", "comfyui"]

SETTINGS_FILE = "settings.toml"
# The fields the Settings page may change (stored in settings.toml), in words for people.
EDITABLE: dict[str, str] = {
    "llm_backend": "LLM backend",
    "ollama_url": "Ollama address",
    "ollama_model": "Ollama model",
    "lmstudio_url": "LM Studio address",
    "llamacpp_model_path": "llama.cpp model file",
    "render_backend": "Render backend",
    "comfyui_url": "ComfyUI address",
    "price_per_gpu_hour": "Price per GPU-hour",
    "allowed_hosts": "Allowed hosts",
}
# Hosts the web server always answers (it binds to the loopback address).
LOOPBACK_HOSTS = ("127.0.0.1", "localhost")
_HOSTNAME = re.compile(r"(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*")


class Settings(BaseSettings):
    """Studio settings from ``AIUTEUR_*`` environment variables, overridable by arguments.

    ``home`` is the data dir: ``studio.db``, ``media/``, ``chroma/``, ``exports/``, ``logs/``.
    """

    model_config = SettingsConfigDict(env_prefix="AIUTEUR_", extra="ignore", frozen=True)

    home: Path = Field(default=Path("studio_data"), description="data dir (AIUTEUR_HOME)")
    llm_backend: LlmBackend = "offline"
    ollama_url: str = "http://127.0.0.1:11434"
    ollama_model: str = Field(default="mistral", min_length=1)
    lmstudio_url: str = "http://127.0.0.1:1234/v1"
    llamacpp_model_path: Path | None = None
    render_backend: RenderBackend = "animatic"
    comfyui_url: str | None = None
    busy_timeout_ms: int = Field(default=10_000, ge=100)
    max_upload_bytes: int = Field(default=20 * 1024 * 1024, ge=1024)
    price_per_gpu_hour: float | None = Field(default=None, ge=0, le=10_000)
    # Host names (besides 127.0.0.1 and localhost) the web server answers: the DNS-rebinding
    # guard of the launcher (app_server.py) refuses every other Host header.
    allowed_hosts: Annotated[tuple[str, ...], NoDecode] = ()
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

    @field_validator("ollama_url", "lmstudio_url", "comfyui_url", mode="before")
    @classmethod
    def _web_address(cls, value: Any) -> Any:
        if value is None:
            return None
        text = str(value).strip()
        if not text:
            return None
        if not re.fullmatch(r"https?://[^\s/?#]+(?:[/?#]\S*)?", text):
            raise ValueError(f"must be a web address like http://127.0.0.1:8188 (not {text!r})")
        return text

    @field_validator("llamacpp_model_path", mode="before")
    @classmethod
    def _optional_path(cls, value: Any) -> Any:
        return None if value is None or not str(value).strip() else value

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _host_names(cls, value: Any) -> tuple[str, ...]:
        if value is None:
            return ()
        items = re.split(r"[,\s]+", value) if isinstance(value, str) else list(value)
        hosts = []
        for item in items:
            host = str(item).strip().lower().rstrip(".")
            if not host:
                continue
            if not _HOSTNAME.fullmatch(host):
                raise ValueError(
                    f"{item!r} is not a host name: give names like studio.lan or 192.168.1.20, "
                    "without http:// or a port"
                )
            if host not in hosts:
                hosts.append(host)
        return tuple(hosts)

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

    @property
    def settings_path(self) -> Path:
        return self.home / SETTINGS_FILE

    @property
    def served_hosts(self) -> tuple[str, ...]:
        """Every host name the web server answers: the loopback names and ``allowed_hosts``."""
        return LOOPBACK_HOSTS + tuple(h for h in self.allowed_hosts if h not in LOOPBACK_HOSTS)


def env_overrides() -> dict[str, str]:
    """The editable fields an ``AIUTEUR_*`` environment variable sets: field -> variable."""
    found = EnvSettingsSource(Settings)()
    return {name: f"AIUTEUR_{name.upper()}" for name in EDITABLE if name in found}


def settings_message(exc: ValidationError, where: str = "") -> str:
    """A settings validation error in words: "Ollama address: must be a web address …"."""
    parts = []
    for error in exc.errors()[:4]:
        name = str(error["loc"][0]) if error["loc"] else ""
        label = EDITABLE.get(name) or name.replace("_", " ")
        message = str(error["msg"]).removeprefix("Value error, ")
        message = re.sub(r"^Input should be", "should be", message)
        parts.append(f"{label}: {message}" if label else message)
    return f"{where}{'; '.join(parts)}"


def read_settings_file(home: Path) -> dict[str, Any]:
    """The values ``settings.toml`` in ``home`` holds (``{}`` when there is none)."""
    path = home / SETTINGS_FILE
    try:
        values = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise BadInput(
            f"{path} could not be read ({exc}): fix it, or delete it to go back to the defaults"
        ) from exc
    unknown = sorted(set(values) - set(EDITABLE))
    if unknown:
        raise BadInput(
            f"{path} names settings the studio does not know ({', '.join(unknown)}): remove "
            "them, or delete the file to go back to the defaults"
        )
    return values


def load_settings(home: str | Path | None = None) -> Settings:
    """Settings from the environment and the data dir's ``settings.toml``; ``--home`` takes
    precedence over AIUTEUR_HOME, and an environment variable over the file."""
    base = Settings(home=Path(home)) if home is not None else Settings()
    stored = read_settings_file(base.home)
    overridden = env_overrides()
    values = {name: value for name, value in stored.items() if name not in overridden}
    if not values:
        return base
    try:
        return Settings(home=base.home, **values)
    except ValidationError as exc:
        raise BadInput(
            settings_message(exc, f"{base.settings_path}: ")
            + " (fix it in the file, or delete the file to go back to the defaults)"
        ) from exc


def save_settings(home: str | Path, changes: Mapping[str, Any]) -> Settings:
    """Store ``changes`` (editable fields; ``None`` or ``""`` means the default) in the data
    dir's ``settings.toml``, atomically, and return the settings now in force.

    Refuses a field an environment variable sets (it would have no effect) and invalid values,
    writing nothing."""
    base = load_settings(home)
    unknown = sorted(set(changes) - set(EDITABLE))
    if unknown:
        raise BadInput(f"these settings cannot be changed here: {', '.join(unknown)}")
    overridden = env_overrides()
    blocked = [f"{EDITABLE[name]} (set by {overridden[name]})" for name in changes if name in overridden]
    if blocked:
        raise BadInput(
            f"{', '.join(blocked)}: the environment variable wins over this page; change or "
            "unset it and restart the studio"
        )
    stored = read_settings_file(base.home)
    for name, value in changes.items():
        if value is None or value == "" or value == ():
            stored.pop(name, None)
        else:
            stored[name] = value
    try:
        checked = Settings(home=base.home, **stored)
    except ValidationError as exc:
        raise BadInput(settings_message(exc)) from exc
    # Store the validated forms (a trimmed URL, a host list as a list).
    normal = {name: getattr(checked, name) for name in stored}
    _write_atomically(base.settings_path, _toml(normal))
    return load_settings(base.home)


def _toml(values: Mapping[str, Any]) -> str:
    """A flat TOML table of strings, numbers and string lists (JSON's string escapes are
    TOML's basic-string escapes)."""
    lines = ["# Written by the Settings page of Aiuteur Studio; AIUTEUR_* variables win over it."]
    for name in EDITABLE:
        if name not in values:
            continue
        value = values[name]
        if isinstance(value, bool) or not isinstance(value, int | float | str | Path | tuple | list):
            raise TypeError(f"cannot store {name}={value!r}")
        if isinstance(value, tuple | list):
            text = "[" + ", ".join(json.dumps(str(v)) for v in value) + "]"
        elif isinstance(value, int | float):
            text = repr(float(value))
        else:
            text = json.dumps(str(value))
        lines.append(f"{name} = {text}")
    return "\n".join(lines) + "\n"


def _write_atomically(path: Path, text: str) -> None:
    """Write to a temp file beside ``path``, fsync, then rename over it: a reader sees the
    old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".settings-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    try:  # make the rename itself durable
        dir_fd = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
