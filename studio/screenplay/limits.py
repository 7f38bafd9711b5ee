"""How big a project may grow, and the cheap checks that refuse a bigger one before any
expensive work (parsing, extraction, writing).

A project holds at most :data:`MAX_SCENES` scenes and :data:`MAX_SHOTS` saved shots, and a
screenplay file at most :data:`MAX_SCRIPT_BYTES` bytes. These bounds are generous (a feature
is 100–250 scenes and 1,000–2,500 shots; a 2,000-scene script is several features long) and
keep every page and commit of a project fast; a bigger work belongs in several projects.
"""

from __future__ import annotations

import re

from studio.errors import TooLarge

MAX_SCENES = 2_000
MAX_SHOTS = 20_000
MAX_SCRIPT_BYTES = 10_000_000

# A line that can open a scene: a heading (INT./EXT./EST./I/E…, perhaps after a scene
# number, as printed layouts have it) or a forced one (.NAME).
# Counted over the raw text, this over-counts a little (a heading-like line in a boneyard,
# a forced heading with no blank line before it), so the early refusal keeps a margin and
# the exact count after parsing decides the rest.
_HEADING_LINE = re.compile(
    r"^[ \t]*(?:\d+[A-Z]?\.?[ \t]+)?(?:(?:INT\.?\s*/\s*EXT|EXT\.?\s*/\s*INT|I\.?\s*/\s*E|E\.?\s*/\s*I|INT|EXT|EST)(?:[. \t]|$)"
    r"|\.[^\W_])",
    re.IGNORECASE | re.MULTILINE,
)
_PRECOUNT_MARGIN = MAX_SCENES // 10


def check_script_bytes(size: int, name: str) -> None:
    """Refuse a screenplay file over :data:`MAX_SCRIPT_BYTES` (before it is even decoded)."""
    if size > MAX_SCRIPT_BYTES:
        raise TooLarge(
            f"{name} is {size:,} bytes; a screenplay can be at most {MAX_SCRIPT_BYTES:,} bytes"
            f" (about {MAX_SCENES:,} scenes): split it into several projects"
        )


def count_heading_lines(text: str) -> int:
    """Lines that look like scene headings: a quick, slightly high estimate of the scenes."""
    return sum(1 for _ in _HEADING_LINE.finditer(text))


def precheck_scenes(text: str, name: str) -> None:
    """Refuse, before parsing, a text with far more scene headings than :data:`MAX_SCENES`."""
    estimate = count_heading_lines(text)
    if estimate > MAX_SCENES + _PRECOUNT_MARGIN:
        raise TooLarge(_scenes_message(name, f"about {estimate:,}"))


def check_scenes(count: int, name: str) -> None:
    """Refuse a parsed screenplay of more than :data:`MAX_SCENES` scenes."""
    if count > MAX_SCENES:
        raise TooLarge(_scenes_message(name, f"{count:,}"))


def check_shots(count: int) -> None:
    """Refuse a change that would leave a project with more than :data:`MAX_SHOTS` shots."""
    if count > MAX_SHOTS:
        raise TooLarge(
            f"this would give the project {count:,} shots; a project can have at most"
            f" {MAX_SHOTS:,}: merge shots or move scenes into another project"
        )


def _scenes_message(name: str, count: str) -> str:
    return (
        f"{name} has {count} scenes; a project can have at most {MAX_SCENES:,}:"
        " split the screenplay into several projects (nothing was imported)"
    )
