"""Cue shapes and the top-of-file sample that layout guesses read."""

from __future__ import annotations

from studio.screenplay.classify import (
    cue_parts,
    is_transition,
)


def _cue_parts(line: str) -> tuple[str, str] | None:
    """(name, extensions) when ``line`` has the shape of a cue in any alphabet, else None."""
    return cue_parts(line)


def _looks_like_cue(line: str) -> bool:
    """Whether the classifier would read ``line`` as a cue (given a line under it)."""
    return cue_parts(line) is not None and not is_transition(line)


_HEAD_LINES = 300


def _head(text: str) -> str:
    """The top of ``text``: what layout guesses look at, so lines far below cannot change them."""
    return "\n".join(text.split("\n", _HEAD_LINES)[:_HEAD_LINES])
