"""Scene headings: ``split_heading`` parts a heading into INT/EXT, location and time."""

from __future__ import annotations

import re

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
