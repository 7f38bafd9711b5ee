"""``studio bench render``'s queue dispatch figures: structure only. Timing stays out of
pass/fail tests (the figures are printed by the benchmark, never asserted on)."""

from __future__ import annotations

import sys
from pathlib import Path

import comfy_loopback as loopback
import pytest

import render.bench
from render.bench import bench_queue, format_figures

pytestmark = pytest.mark.timeout(60)


def _is_ms(value: object) -> bool:
    return isinstance(value, int | float) and value >= 0


def test_bench_queue_reports_dispatch_and_gap_figures() -> None:
    figures = bench_queue(jobs=3)
    assert figures["jobs"] == 3 and figures["done"] == 3
    assert figures["worker_wall_s"] >= figures["backend_s"] > 0
    dispatch, gap = figures["dispatch"], figures["gap"]
    assert dispatch["count"] == 3 and gap["count"] == 2
    for key in ("mean_ms", "median_ms", "p95_ms", "max_ms"):
        assert _is_ms(dispatch[key]), key
    for key in ("median_ms", "p95_ms", "max_ms", "records_median_ms", "records_max_ms"):
        assert _is_ms(gap[key]), key
    assert dispatch["goal"] == "<= 20 ms" and isinstance(dispatch["ok"], bool)
    assert gap["goal"].startswith("<= 100 ms") and isinstance(gap["ok"], bool)
    assert figures["server_gap"]["count"] == 2
    assert figures["worker"]["poll_s"] == figures["worker"]["default_poll_s"] > 0
    text = format_figures({"queue": figures})
    assert "queue dispatch: 3 keyframe" in text
    assert "dispatch overhead per job" in text and "idle gap between jobs" in text
    assert "worker poll 0.2 s" in text


def test_bench_queue_is_skipped_without_the_recorded_object_info(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(loopback, "OBJECT_INFO_PATH", tmp_path / "object_info.json")
    figures = bench_queue(jobs=3)
    assert figures["jobs"] == 3 and "object_info.json is missing" in figures["skipped"]
    text = format_figures({"queue": figures})
    assert "queue dispatch: skipped" in text and "object_info.json is missing" in text


def test_bench_queue_is_skipped_outside_a_checkout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delitem(sys.modules, "comfy_loopback")
    monkeypatch.setattr(render.bench, "LOOPBACK_PATH", tmp_path / "comfy_loopback.py")
    figures = bench_queue(jobs=3)
    assert "benches run from a source checkout" in figures["skipped"]


def test_bench_loads_the_checkout_double_when_no_test_imported_it(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delitem(sys.modules, "comfy_loopback")
    module = render.bench._loopback_double()
    assert module is not None and module.OBJECT_INFO_PATH.is_file()


def test_bench_restart_reports_the_first_job_after_a_comfyui_restart() -> None:
    figures = render.bench.bench_restart(restarts=2)
    assert figures["restarts"] == 2 and len(figures["first_after_restart_s"]) == 2
    assert all(_is_ms(t) for t in figures["first_after_restart_s"])
    assert figures["max_s"] == max(figures["first_after_restart_s"]) and _is_ms(figures["steady_median_s"])
    assert figures["client"] == {"poll_interval_s": 1.0, "silence_s": 15.0}  # the defaults
    assert figures["goal"] == "<= 0.5 s" and isinstance(figures["ok"], bool)
    text = format_figures({"comfy_restart": figures})
    assert "first job after a ComfyUI restart" in text and "over 2 restarts" in text


def test_bench_restart_is_skipped_outside_a_checkout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delitem(sys.modules, "comfy_loopback")
    monkeypatch.setattr(render.bench, "LOOPBACK_PATH", tmp_path / "comfy_loopback.py")
    figures = render.bench.bench_restart(restarts=1)
    assert "not in this checkout" in figures["skipped"]
    assert "skipped" in format_figures({"comfy_restart": figures})
