"""Text for the animatic: ASCII folding, Hershey fonts, wrapping and fitting."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

_ASCII = str.maketrans(
    {
        "‘": "'",
        "’": "'",
        "“": '"',
        "”": '"',
        "—": " - ",
        "–": "-",
        "…": "...",
        "\u00a0": " ",
        "•": "*",
        "·": "-",
    }
)


def _ascii(text: str) -> str:
    """Hershey fonts draw ASCII only: fold quotes and dashes, strip accents."""
    folded = unicodedata.normalize("NFKD", text.translate(_ASCII))
    return re.sub(r"\s+", " ", folded.encode("ascii", "ignore").decode()).strip()


@dataclass(frozen=True)
class _Font:
    face: int
    scale: float
    thickness: int

    @property
    def px(self) -> int:
        return cv2.getTextSize("H", self.face, self.scale, self.thickness)[0][1]

    def width(self, text: str) -> int:
        return cv2.getTextSize(text, self.face, self.scale, self.thickness)[0][0]


def _font(px: float, face: int = cv2.FONT_HERSHEY_SIMPLEX, bold: bool = False) -> _Font:
    """A Hershey font whose capital height is about ``px`` pixels."""
    unit = cv2.getTextSize("H", face, 1.0, 1)[0][1]
    scale = max(0.3, px / unit)
    thickness = max(1, round(px / 11)) + (1 if bold else 0)
    return _Font(face, scale, thickness)


def _put(
    img: np.ndarray, text: str, org: tuple[int, int], font: _Font, colour: Sequence[float]
) -> int:
    """Draw ``text`` with its baseline at ``org``; return the x after it."""
    cv2.putText(
        img,
        text,
        org,
        font.face,
        font.scale,
        tuple(float(c) for c in colour),
        font.thickness,
        cv2.LINE_AA,
    )
    return org[0] + font.width(text)


def wrap_text(text: str, font: _Font, max_width: int, max_lines: int) -> list[str]:
    """Greedy word wrap measured in pixels; the last line ends in '...' when text is cut."""
    words = _ascii(text).split()
    if max_lines <= 0:
        return []
    lines: list[str] = []
    current = ""
    cut = False
    for i, word in enumerate(words):
        trial = f"{current} {word}".strip()
        if font.width(trial) <= max_width or not current:
            current = trial
            continue
        lines.append(current)
        current = word
        if len(lines) >= max_lines:
            cut = i < len(words)
            current = ""
            break
    if current and len(lines) < max_lines:
        lines.append(current)
    elif current:
        cut = True
    if cut and lines:
        last = lines[-1]
        while last and font.width(last + "...") > max_width:
            last = last[:-1]
        lines[-1] = last.rstrip(" ,;:-") + "..."
    return [_fit(line, font, max_width) for line in lines]


def _fit(text: str, font: _Font, max_width: int) -> str:
    if font.width(text) <= max_width:
        return text
    while text and font.width(text + "...") > max_width:
        text = text[:-1]
    return text.rstrip() + "..."
