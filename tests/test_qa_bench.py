"""``studio bench qa`` figures: shape and wording only (timings are never pass/fail)."""

from __future__ import annotations

from qa.bench import bench_qa, format_figures


def test_bench_qa_reports_every_size_the_ffmpeg_yardstick_and_the_identity_rate() -> None:
    figures = bench_qa(frames=8, repeat=1, check_verdicts=False)
    for label in ("480p", "720p"):
        row = figures[label]
        assert row["full_set_fps"] > 0 and row["ssim_only_fps"] > 0 and row["identity_crops_per_s"] > 0
        assert row["ffmpeg_decode_fps"] > 0 and row["file_set_fps"] > 0
        assert row["vs_ffmpeg"] == round(row["file_set_fps"] / row["ffmpeg_decode_fps"], 2) or row["vs_ffmpeg"] > 0
    text = format_figures(figures)
    assert "480p: ffmpeg decode+downscale" in text and "of ffmpeg (target >= 0.5x)" in text
    assert "crops/s" in text and "verdicts on" not in text
