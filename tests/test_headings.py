"""Scene headings mean one thing everywhere: the importer, the prompts and the animatic read
INT/EXT and the time of day through ``studio.headings``."""

from __future__ import annotations

import pytest

from render.animatic.staging import _interior, _time_of_day
from studio.headings import light_of_day, split_heading
from studio.model import IntExt, RenderSpec


@pytest.mark.parametrize("text,light", [
    ("NIGHT", "night"), ("LATER THAT NIGHT", "night"), ("MIDNIGHT", "night"),
    ("DUSK", "dusk"), ("SUNSET", "dusk"), ("MAGIC HOUR", "dusk"),
    ("DAWN", "dawn"), ("first light", "dawn"), ("DAY", "day"), ("LATER", "day"), ("", "day"),
])
def test_light_of_day(text: str, light: str) -> None:
    assert light_of_day(text) == light


@pytest.mark.parametrize("heading", [
    "INT. KITCHEN - NIGHT", "EXT. JETTY - DAWN", "I./E. CAR - DUSK", "INT./EXT. CAR - DAY",
    "EST. HARBOUR - NIGHT", "E/I PORCH - SUNSET", "FLASHBACK - 1999",
])
def test_the_animatic_reads_a_heading_as_the_importer_does(heading: str) -> None:
    int_ext, _, time_of_day = split_heading(heading)
    spec = RenderSpec(kind="frame", project_id="p", scene_id="sc-1", shot_id="1A", which="start", seed=1,
                      scene_heading=heading)
    assert _interior(spec) == (int_ext in (IntExt.INT, IntExt.INT_EXT))
    assert _time_of_day("", heading) == light_of_day(time_of_day)
    # The spec's own parts win over its heading.
    given = spec.model_copy(update={"int_ext": "EXT", "time_of_day": "NIGHT"})
    assert _interior(given) is False and _time_of_day(given.time_of_day, heading) == "night"


def test_no_heading_at_all_is_drawn_inside() -> None:
    spec = RenderSpec(kind="frame", project_id="p", scene_id="sc-1", shot_id="1A", which="start", seed=1)
    assert _interior(spec) is True
