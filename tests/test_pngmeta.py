"""PNG text chunks: figure boxes ride inside the image, and nothing else about it changes."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from studio import pngmeta


def png(colour: int = 90) -> bytes:
    ok, data = cv2.imencode(".png", np.full((24, 32, 3), colour, np.uint8))
    assert ok
    return data.tobytes()


def test_figures_round_trip_and_the_pixels_are_unchanged() -> None:
    plain = png()
    tagged = pngmeta.with_figures(plain, {"Mia": [0.1, 0.2, 0.5, 0.9], "Óskar": (0.5, 0.0, 1.2, 1.0)})
    assert pngmeta.read_figures(tagged) == {"MIA": (0.1, 0.2, 0.5, 0.9), "ÓSKAR": (0.5, 0.0, 1.0, 1.0)}
    decoded = cv2.imdecode(np.frombuffer(tagged, np.uint8), cv2.IMREAD_COLOR)
    assert np.array_equal(decoded, cv2.imdecode(np.frombuffer(plain, np.uint8), cv2.IMREAD_COLOR))
    # writing again replaces the chunk instead of stacking a second one
    again = pngmeta.with_figures(tagged, {"THEO": [0, 0, 0.5, 0.5]})
    assert pngmeta.read_figures(again) == {"THEO": (0.0, 0.0, 0.5, 0.5)}
    assert again.count(pngmeta.FIGURES_KEY.encode()) == 1


def test_degenerate_boxes_are_dropped_and_bad_data_reads_as_no_figures() -> None:
    tagged = pngmeta.with_figures(png(), {"A": [0.5, 0.5, 0.5, 0.9], "B": ["x", 0, 1, 1], "C": [0, 0, 1], " ": [0, 0, 1, 1]})
    assert pngmeta.read_figures(tagged) == {}
    assert pngmeta.read_figures(b"not a png") == {}
    assert pngmeta.read_figures(png()) == {}
    broken = pngmeta.with_text(png(), pngmeta.FIGURES_KEY, "{not json")
    assert pngmeta.read_figures(broken) == {}
    listed = pngmeta.with_text(png(), pngmeta.FIGURES_KEY, "[1, 2]")
    assert pngmeta.read_figures(listed) == {}
    truncated = pngmeta.with_figures(png(), {"A": [0, 0, 1, 1]})[:-20]
    assert pngmeta.read_figures(truncated) in ({}, {"A": (0.0, 0.0, 1.0, 1.0)})


def test_with_text_refuses_what_is_not_a_png_or_a_valid_keyword() -> None:
    with pytest.raises(ValueError):
        pngmeta.with_text(b"GIF89a", "k", "v")
    with pytest.raises(ValueError):
        pngmeta.with_text(png(), "", "v")
    with pytest.raises(ValueError):
        pngmeta.with_text(png(), "k", "x" * (pngmeta.MAX_TEXT + 1))
