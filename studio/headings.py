"""Scene headings, once for the whole studio: ``split_heading`` parts a heading into INT/EXT,
location and time, and ``light_of_day`` reads a time of day as the light it gives.

Part of the core's kernel: the importer, the breakdown, the prompts and the animatic all use
these, so a heading means one thing everywhere.
"""

from __future__ import annotations

import re
from typing import Literal

from studio.model import IntExt

_HEADING_RE = re.compile(
    r"^\s*(?P<prefix>INT\.?\s*/\s*EXT|EXT\.?\s*/\s*INT|I\s*/\s*E|E\s*/\s*I|INT|EXT|EST)"
    r"(?:\s*\.|\s)\s*(?P<rest>.*)$",
    re.IGNORECASE | re.DOTALL,
)
_TIME_SEPARATOR = re.compile(r"\s+[-\u2013\u2014]+\s+")


def split_heading(heading: str) -> tuple[IntExt, str, str]:
    """Split a scene heading into (INT/EXT, location, time of day).

    ``INT. KITCHEN - NIGHT`` gives ``(INT, "KITCHEN", "NIGHT")``; ``I/E`` and ``INT./EXT.``
    give ``INT_EXT``, ``EST`` gives ``EXT``; a forced heading without a prefix
    (``FLASHBACK - 1999``) gives ``NONE``. The time is whatever follows the last `` - ``.
    """
    match = _HEADING_RE.match(heading)
    if match is None:
        int_ext, rest = IntExt.NONE, heading.strip()
    else:
        prefix = re.sub(r"[\s.]", "", match["prefix"]).upper()
        int_ext = {"INT": IntExt.INT, "EXT": IntExt.EXT, "EST": IntExt.EXT}.get(
            prefix, IntExt.INT_EXT
        )
        rest = match["rest"].strip()
    separators = list(_TIME_SEPARATOR.finditer(rest))
    if not separators:
        return int_ext, rest.rstrip(" .-"), ""
    last = separators[-1]
    return int_ext, rest[: last.start()].strip(), rest[last.end() :].strip()


Light = Literal["night", "dusk", "dawn", "day"]

# Checked in this order: "MIDNIGHT" is night, "SUNSET" dusk, "FIRST LIGHT" dawn; the rest is day.
_LIGHTS: tuple[tuple[Light, tuple[str, ...]], ...] = (
    ("night", ("NIGHT", "MIDNIGHT")),
    ("dusk", ("DUSK", "SUNSET", "EVENING", "TWILIGHT", "MAGIC HOUR")),
    ("dawn", ("DAWN", "SUNRISE", "FIRST LIGHT")),
)


def light_of_day(time_of_day: str) -> Light:
    """night, dusk, dawn or day for a heading's time of day (``LATER`` or none: day)."""
    text = time_of_day.upper()
    for light, words in _LIGHTS:
        if any(word in text for word in words):
            return light
    return "day"
