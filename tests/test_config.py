"""Settings: defaults < the data dir's settings.toml (the Settings page) < AIUTEUR_* variables."""

from __future__ import annotations

import pytest

from studio.config import env_overrides, load_settings, save_settings
from studio.errors import BadInput


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in ("RENDER_BACKEND", "COMFYUI_URL", "ALLOWED_HOSTS", "PRICE_PER_GPU_HOUR", "HOME"):
        monkeypatch.delenv(f"AIUTEUR_{name}", raising=False)


def test_the_file_beats_the_default_and_the_environment_beats_the_file(tmp_path, monkeypatch):
    assert load_settings(tmp_path).render_backend == "animatic"
    save_settings(tmp_path, {"render_backend": "comfyui", "comfyui_url": "http://gpu.lan:8188"})
    assert load_settings(tmp_path).render_backend == "comfyui"
    monkeypatch.setenv("AIUTEUR_RENDER_BACKEND", "animatic")
    settings = load_settings(tmp_path)
    assert (settings.render_backend, settings.comfyui_url) == ("animatic", "http://gpu.lan:8188")
    assert env_overrides() == {"render_backend": "AIUTEUR_RENDER_BACKEND"}
    with pytest.raises(BadInput, match="AIUTEUR_RENDER_BACKEND"):
        save_settings(tmp_path, {"render_backend": "comfyui"})


def test_saving_is_atomic_and_an_empty_value_goes_back_to_the_default(tmp_path):
    save_settings(tmp_path, {"price_per_gpu_hour": 0.8, "allowed_hosts": "Studio.lan, studio.lan"})
    assert load_settings(tmp_path).allowed_hosts == ("studio.lan",)
    assert load_settings(tmp_path).served_hosts == ("127.0.0.1", "localhost", "studio.lan")
    before = (tmp_path / "settings.toml").read_text()
    with pytest.raises(BadInput, match="^Price per GPU-hour: should be greater than or equal to 0$"):
        save_settings(tmp_path, {"price_per_gpu_hour": -1})
    assert (tmp_path / "settings.toml").read_text() == before  # nothing written
    save_settings(tmp_path, {"price_per_gpu_hour": None})
    assert load_settings(tmp_path).price_per_gpu_hour is None
    assert [p.name for p in tmp_path.iterdir()] == ["settings.toml"]  # no temp file left


def test_the_allowed_hosts_variable_is_a_comma_separated_list(tmp_path, monkeypatch):
    monkeypatch.setenv("AIUTEUR_ALLOWED_HOSTS", "studio.lan, 192.168.1.20")
    assert load_settings(tmp_path).allowed_hosts == ("studio.lan", "192.168.1.20")


def test_a_broken_settings_file_is_one_line_saying_what_to_do(tmp_path):
    (tmp_path / "settings.toml").write_text('comfyui_url = "gpu.lan:8188"\n')
    with pytest.raises(BadInput) as info:
        load_settings(tmp_path)
    message = str(info.value)
    assert "\n" not in message and "ComfyUI address: must be a web address" in message
    assert "delete the file" in message and "comfyui_url" not in message
    (tmp_path / "settings.toml").write_text("render_backend = [\n")
    with pytest.raises(BadInput, match="could not be read"):
        load_settings(tmp_path)
    (tmp_path / "settings.toml").write_text('home = "/elsewhere"\n')
    with pytest.raises(BadInput, match="does not know \\(home\\)"):
        load_settings(tmp_path)
