"""Colours for the animatic: hex/BGR helpers, character colours and the look
(palette, lighting, grain and time of day turned into the colours a panel uses)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

DEFAULT_PALETTE = ("#1d2433", "#3d5a80", "#98c1d9", "#e0fbfc", "#ee6c4d")
UNSET_COLOUR = "#c0504d"  # RenderCharacter's default: treated as "no colour chosen"


# Distinct mid-luminance colours that read on dark and light backdrops (BGR order below).
_CHARACTER_COLOURS = (
    "#d1495b",
    "#2e86ab",
    "#edae49",
    "#66a182",
    "#8e6bbf",
    "#e07a5f",
    "#3fa7a3",
    "#c9a227",
    "#b5517f",
    "#5c8dd6",
    "#9bb34a",
    "#d4784a",
)


def _hex_bgr(value: str) -> np.ndarray:
    v = value.lstrip("#")
    return np.array([int(v[4:6], 16), int(v[2:4], 16), int(v[0:2], 16)], np.float32)


def _mix(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    return (a * (1.0 - t) + b * t).astype(np.float32)


def _luma(c: np.ndarray) -> float:
    return float(0.114 * c[0] + 0.587 * c[1] + 0.299 * c[2])


def _desaturate(c: np.ndarray, amount: float) -> np.ndarray:
    grey = np.full(3, _luma(c), np.float32)
    return _mix(c, grey, amount)


def _lighten_for_text(c: np.ndarray) -> np.ndarray:
    """A character colour made legible on the dark caption strip."""
    out = c.copy()
    while _luma(out) < 150:
        out = _mix(out, np.full(3, 255.0, np.float32), 0.25)
    return out


def _stable(*parts: object) -> int:
    digest = hashlib.sha256("|".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big")


def character_colour(name: str) -> str:
    """A stable colour for a character from its name (the fallback when none was chosen)."""
    return _CHARACTER_COLOURS[_stable("character", name.strip().upper()) % len(_CHARACTER_COLOURS)]


def _hue_shift(c: np.ndarray, degrees: float) -> np.ndarray:
    px = np.clip(c, 0, 255).astype(np.uint8).reshape(1, 1, 3)
    hsv = cv2.cvtColor(px, cv2.COLOR_BGR2HSV).astype(np.int32)
    hsv[..., 0] = (hsv[..., 0] + int(degrees / 2)) % 180
    return cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2BGR).reshape(3).astype(np.float32)


@dataclass(frozen=True)
class _Look:
    dark: np.ndarray
    deep: np.ndarray
    mid: np.ndarray
    light: np.ndarray
    warm: np.ndarray
    cool: np.ndarray
    sky_top: np.ndarray
    sky_low: np.ndarray
    ground_far: np.ndarray
    ground_near: np.ndarray
    wall: np.ndarray
    floor: np.ndarray
    ceiling: np.ndarray
    line: np.ndarray
    practical: np.ndarray
    outside: np.ndarray
    contrast: float
    vignette: float
    exposure: float
    paper: bool
    fog: np.ndarray  # what distance fades towards


def _palette(spec_palette: Sequence[str]) -> list[np.ndarray]:
    colours = [_hex_bgr(c) for c in (spec_palette or DEFAULT_PALETTE)]
    while len(colours) < 3:
        colours.append(_mix(colours[-1], np.full(3, 255.0, np.float32), 0.5))
    return sorted(colours, key=_luma)


def _saturation_hue(c: np.ndarray) -> tuple[float, float]:
    px = np.clip(c, 0, 255).astype(np.uint8).reshape(1, 1, 3)
    h, s, v = cv2.cvtColor(px, cv2.COLOR_BGR2HSV).reshape(3)
    return float(s) * float(v) / 255.0, float(h) * 2.0


def _look(palette: Sequence[str], lighting: str, grain: str, tod: str, interior: bool) -> _Look:
    cols = _palette(palette)
    scored = [(*_saturation_hue(c), c) for c in cols]
    warm_c = [x for x in scored if x[1] < 65 or x[1] > 320]
    cool_c = [x for x in scored if 150 < x[1] < 270]
    warm = max(warm_c, key=lambda x: x[0])[2] if warm_c else _hex_bgr("#e8a33d")
    cool = max(cool_c, key=lambda x: x[0])[2] if cool_c else _mix(cols[1], _hex_bgr("#4a78a8"), 0.5)
    # The set is painted in the palette's quieter colours; its two most saturated colours
    # are kept for accents (practical lights, props), as a colourist would.
    if len(cols) >= 5:
        loud = sorted(scored, key=lambda x: -x[0])[:2]
        quiet = [c for c in cols if not any(c is x[2] for x in loud)]
    else:
        quiet = cols
    dark, deep, light = quiet[0], quiet[1], quiet[-1]
    mid = quiet[len(quiet) // 2]
    white = np.full(3, 255.0, np.float32)
    black = np.zeros(3, np.float32)
    text = lighting.lower()
    contrast, vignette = 1.0, 0.3
    if any(
        w in text for w in ("low-key", "low key", "hard", "high contrast", "crushed", "chiaroscuro")
    ):
        contrast, vignette = 1.18, 0.5
    elif any(w in text for w in ("soft", "diffuse", "flat", "even", "pastel")):
        contrast, vignette = 0.9, 0.14
    practical = _mix(warm, white, 0.35)
    if tod == "day":
        sky_top, sky_low = _mix(light, cool, 0.45), _mix(light, white, 0.35)
        ground_far, ground_near = _mix(mid, light, 0.35), _mix(mid, deep, 0.35)
        wall, floor, ceiling = _mix(mid, light, 0.55), _mix(deep, warm, 0.3), _mix(mid, light, 0.3)
        outside, exposure = _mix(light, white, 0.5), 1.0
    elif tod in ("dusk", "dawn"):
        glow = warm if tod == "dusk" else _mix(warm, light, 0.5)
        sky_top, sky_low = _mix(deep, cool, 0.3), _mix(glow, light, 0.3)
        ground_far, ground_near = _mix(deep, mid, 0.35), _mix(dark, deep, 0.5)
        wall, floor, ceiling = _mix(deep, mid, 0.5), _mix(dark, warm, 0.18), _mix(dark, deep, 0.5)
        outside, exposure = _mix(glow, cool, 0.4), 0.85
    else:
        sky_top, sky_low = _mix(dark, deep, 0.3), _mix(deep, cool, 0.45)
        ground_far, ground_near = _mix(deep, cool, 0.25), _mix(dark, deep, 0.5)
        wall, floor, ceiling = (
            _mix(dark, deep, 0.75),
            _mix(dark, black, 0.15),
            _mix(dark, black, 0.35),
        )
        outside, exposure = _mix(dark, cool, 0.5), 0.92
    line = _mix(wall if interior else ground_far, black if _luma(wall) > 110 else white, 0.22)
    return _Look(
        dark,
        deep,
        mid,
        light,
        warm,
        cool,
        sky_top,
        sky_low,
        ground_far,
        ground_near,
        wall,
        floor,
        ceiling,
        line,
        practical,
        outside,
        contrast,
        vignette,
        exposure,
        paper=any(w in grain.lower() for w in ("paper", "watercolour", "watercolor", "pigment")),
        fog=wall if interior else sky_low,
    )
