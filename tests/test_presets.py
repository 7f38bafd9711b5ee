"""Render presets: the bundled file validates, fallbacks chain down, VRAM needs add up."""

from __future__ import annotations

import pytest

from render.presets import (
    PRESETS_PATH,
    PresetError,
    get_preset,
    gpu_need,
    load_presets,
    lower,
    parse_presets,
    vram_needed,
)

GIB = 1024


def test_bundled_presets_load_in_order():
    presets = load_presets()
    assert list(presets) == ["fast", "production-stable", "cinematic"]
    fast, prod, cine = presets.values()
    assert (fast.width, fast.height) == (854, 480)
    assert (prod.width, prod.height) == (1280, 720)
    assert (cine.width, cine.height) >= (1280, 720)
    for preset in presets.values():
        assert preset.fps == 24
        assert preset.clip_frames % 4 == 1, "Wan generates 4n+1 frames"
        assert 4.0 <= preset.clip_seconds <= 8.0
        assert preset.steps > 0 and preset.cfg > 0
    assert fast.steps < prod.steps < cine.steps


def test_cinematic_extras_are_opt_in():
    cine = get_preset("cinematic")
    assert cine.interpolation is False and cine.upscale is False
    assert cine.extras_vram_mb > 0
    for name in ("fast", "production-stable"):
        preset = get_preset(name)
        assert not preset.interpolation and not preset.upscale


def test_lower_chains_down_to_the_floor():
    assert lower("cinematic").name == "production-stable"
    assert lower("production-stable").name == "fast"
    assert lower("fast") is None
    assert lower(get_preset("cinematic")).name == "production-stable"


def test_vram_needs_match_the_hardware_envelope():
    # fast runs on an 8 GB card, production on 12-16 GB, cinematic on 20-24 GB.
    assert vram_needed("fast", "clip", "comfyui") <= 8 * GIB
    assert 12 * GIB <= vram_needed("production-stable", "clip", "comfyui") <= 16 * GIB
    assert 20 * GIB <= vram_needed("cinematic", "clip", "comfyui") <= 24 * GIB
    for name in load_presets():
        assert vram_needed(name, "frame", "comfyui") <= vram_needed(name, "clip", "comfyui")
        assert vram_needed(name, "card", "comfyui") == vram_needed(name, "frame", "comfyui")
        assert vram_needed(name, "assemble", "comfyui") == 0
    needs = [vram_needed(n, "clip", "comfyui") for n in load_presets()]
    assert needs == sorted(needs)


def test_animatic_needs_no_vram_and_unknown_backends_count_as_gpu():
    for name in load_presets():
        for kind in ("frame", "clip", "card", "assemble"):
            assert vram_needed(name, kind, "animatic") == 0
    assert vram_needed("fast", "clip", "some-new-gpu-backend") == gpu_need(get_preset("fast"), "clip")


def test_unknown_names_are_clear_errors():
    with pytest.raises(PresetError, match="unknown preset 'ultra'.*fast, production-stable, cinematic"):
        get_preset("ultra")
    with pytest.raises(PresetError, match="unknown job kind"):
        vram_needed("fast", "hologram", "comfyui")


def _toml(**overrides: str) -> str:
    body = {
        "label": '"A"',
        "width": "640",
        "height": "360",
        "fps": "24",
        "video_fps": "16",
        "clip_frames": "81",
        "steps": "10",
        "cfg": "5.0",
        "frame_steps": "20",
        "frame_cfg": "5.0",
        "frame_model": '"sdxl"',
        "video_model": '"wan"',
        "vram_mb": "{ frame = 100, clip = 200 }",
        "job_timeout_s": "60",
        "lower": '""',
    }
    body.update(overrides)
    lines = "\n".join(f"{k} = {v}" for k, v in body.items())
    return f"[backends]\ncomfyui = {{ gpu = true }}\n\n[presets.a]\n{lines}\n"


def test_extras_raise_the_clip_need_when_switched_on():
    parsed = parse_presets(_toml(interpolation="true", extras_vram_mb="5000"))
    assert gpu_need(parsed.presets["a"], "clip") == 5000
    parsed = parse_presets(_toml(extras_vram_mb="5000"))
    assert gpu_need(parsed.presets["a"], "clip") == 200


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("this is [not toml", "not valid TOML"),
        (_toml(lower='"nowhere"'), "unknown 'nowhere'"),
        (_toml(width="-5"), "invalid"),
        (_toml(width="641"), "invalid"),
        (_toml(surprise="1"), "invalid"),
        (_toml(lower='"a"'), "loop"),
    ],
)
def test_malformed_presets_are_rejected(text: str, match: str):
    with pytest.raises(PresetError, match=match):
        parse_presets(text)


def test_bundled_file_documents_where_the_numbers_come_from():
    text = PRESETS_PATH.read_text()
    assert "Where the VRAM figures come from" in text
    assert "Wan 2.2" in text and "SDXL" in text and "Flux" in text
