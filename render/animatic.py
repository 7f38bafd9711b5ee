"""The CPU animatic: storyboard panels and moving clips drawn from the shot data.

No model, no GPU: a panel is composed from what the shot says (setting, time of day, who is
in it and how prominent, the camera's framing, the action and dialogue) in the locked
style's palette, and a clip moves a virtual camera over a larger-than-frame canvas of the
start panel while dissolving towards the end panel. Everything is deterministic: the only
randomness is ``np.random.default_rng`` seeded from the spec's seed and the shot's text.

Frame layout: the picture on top (a wide, ~2.3:1 frame) and a caption strip below with the
scene heading, the action and the dialogue; shot id, camera and timecode are burned in.
Per clip frame only a warp, a blend and the timecode are computed: the canvases, the caption
strip and the chips are drawn once per shot.
"""

from __future__ import annotations

import hashlib
import math
import re
import time
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from render.backend import CancelledFn, ProgressFn, RenderFailed, RenderOutput
from render.post import RawEncoder, check_input, concat, ffmpeg_version
from studio.camera import Framing, parse_camera
from studio.caps import in_frame, mentions_name, off_screen_voices
from studio.model import RenderCharacter, RenderSpec, slugify
from studio.pngmeta import read_figures, with_figures
from studio.ports import FrameSpec

ANIMATIC_VERSION = "animatic-2"  # 2: one camera vocabulary (BCU drawn as a big close-up)
CANVAS_MARGIN = 1.25  # the canvas is this much larger than the picture: room for camera moves
BASE_VIEW = 1.0 / CANVAS_MARGIN  # a static camera sees this fraction of the canvas
BAND = 0.2  # the caption strip's share of the frame height
DEFAULT_PALETTE = ("#1d2433", "#3d5a80", "#98c1d9", "#e0fbfc", "#ee6c4d")
UNSET_COLOUR = "#c0504d"  # RenderCharacter's default: treated as "no colour chosen"
# Distinct mid-luminance colours that read on dark and light backdrops (BGR order below).
_CHARACTER_COLOURS = (
    "#d1495b", "#2e86ab", "#edae49", "#66a182", "#8e6bbf", "#e07a5f",
    "#3fa7a3", "#c9a227", "#b5517f", "#5c8dd6", "#9bb34a", "#d4784a",
)
_IMAGE_KINDS = ("png_pipe", "jpeg_pipe")
Which = Literal["start", "end"]


# =========================================================================== text


_ASCII = str.maketrans({"‘": "'", "’": "'", "“": '"', "”": '"', "—": " - ", "–": "-",
                        "…": "...", "\u00a0": " ", "•": "*", "·": "-"})


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


def _put(img: np.ndarray, text: str, org: tuple[int, int], font: _Font, colour: Sequence[float]) -> int:
    """Draw ``text`` with its baseline at ``org``; return the x after it."""
    cv2.putText(img, text, org, font.face, font.scale, tuple(float(c) for c in colour),
                font.thickness, cv2.LINE_AA)
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


# =========================================================================== colour


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


# =========================================================================== reading the shot


def _time_of_day(spec: RenderSpec) -> str:
    text = (spec.time_of_day or spec.scene_heading.rsplit("-", 1)[-1] if spec.scene_heading else spec.time_of_day).upper()
    if any(w in text for w in ("NIGHT", "MIDNIGHT")):
        return "night"
    if any(w in text for w in ("DUSK", "SUNSET", "EVENING", "TWILIGHT", "MAGIC HOUR")):
        return "dusk"
    if any(w in text for w in ("DAWN", "SUNRISE", "FIRST LIGHT")):
        return "dawn"
    return "day"


def _interior(spec: RenderSpec) -> bool:
    text = (spec.int_ext or spec.scene_heading[:8] or (spec.shot.setting[:8] if spec.shot else "")).upper()
    if text.startswith(("EXT", "E/I")):
        return False
    return True if text.startswith(("INT", "I/E")) else not text


def _words(*texts: str) -> str:
    return " " + " ".join(_ascii(t).lower() for t in texts if t) + " "


_RAIN_RE = re.compile(r"\b(rain\w*|drizzl\w*|downpour|storm\w*|showers?|pour(s|ing)? down)\b")


def _frame_prompt(spec: RenderSpec) -> str:
    return " ".join(v for k, v in spec.prompts.items() if "frame" in k.lower())


def _raining(spec: RenderSpec) -> bool:
    shot = spec.shot
    text = _words(shot.action if shot else "", shot.setting if shot else "", _frame_prompt(spec))
    return bool(_RAIN_RE.search(text))


_PROP_ICONS = ("umbrella", "envelope", "letter", "ticket", "key", "phone", "photo", "book",
               "ring", "cup", "glass", "bottle", "knife", "gun", "card", "note", "map", "box")
_COLOUR_WORDS = {"red": "#c0392b", "crimson": "#a4161a", "blue": "#2e6fb0", "green": "#3c8d5a",
                 "yellow": "#e8c547", "pink": "#e89bb0", "cream": "#efe3c4", "white": "#eeeeee",
                 "black": "#262626", "grey": "#8a8a8a", "gray": "#8a8a8a", "brown": "#7a5230",
                 "gold": "#c9a227", "brass": "#b8913a", "silver": "#b8bcc2", "orange": "#e07a2e"}


def _prop_name(spec: RenderSpec, names: Sequence[str]) -> str:
    """The insert's object: an ALL-CAPS phrase of the action (the screenplay convention for
    props), else the first object word we can draw, else the first words of the action."""
    shot = spec.shot
    action = _ascii(shot.action if shot else "")
    upper_names = {n.upper() for n in names}
    for phrase in re.findall(r"\b[A-Z][A-Z'\-]{2,}(?: [A-Z][A-Z'\-]{1,})*\b", action):
        if phrase not in upper_names and phrase not in ("INT", "EXT", "THE END", "CONTINUOUS"):
            return phrase
    lowered = _words(action, _frame_prompt(spec))
    for word in _PROP_ICONS:
        m = re.search(rf"\b((?:\w+ )?{word}s?)\b", lowered)
        if m:
            return m[1].upper() if m[1].split()[0] in _COLOUR_WORDS else word.upper()
    return "INSERT"


# =========================================================================== camera as code


@dataclass(frozen=True)
class Affine:
    """One camera pose on the panel canvas: the view's centre (``cx``, ``cy``, fractions of
    the canvas), its size (fraction of the canvas width/height) and a roll in degrees."""

    cx: float = 0.5
    cy: float = 0.5
    size: float = BASE_VIEW
    roll: float = 0.0

    def matrix(self, canvas: tuple[int, int], out: tuple[int, int]) -> np.ndarray:
        """The 2x3 matrix mapping canvas pixels (w, h) to output pixels (w, h)."""
        cw, ch = canvas
        ow, oh = out
        scale = ow / (self.size * cw)
        centre = (self.cx * cw, self.cy * ch)
        m = cv2.getRotationMatrix2D(centre, self.roll, scale)
        m[0, 2] += ow / 2.0 - centre[0]
        m[1, 2] += oh / 2.0 - centre[1]
        return m


MOVEMENTS = ("static", "pan", "tilt", "dolly in", "dolly out", "tracking", "crane")


def _ease(t: float) -> float:
    """Smootherstep: zero velocity and acceleration at both ends, as a grip would move."""
    t = min(1.0, max(0.0, t))
    return t * t * t * (t * (t * 6 - 15) + 10)


def frame_count(duration_s: float, fps: int) -> int:
    return max(1, round(duration_s * fps))


def camera_path(
    movement: str,
    duration_s: float,
    fps: int,
    *,
    target: tuple[float, float] = (0.5, 0.45),
    direction: int = 1,
    roll: float = 0.0,
) -> list[Affine]:
    """The camera pose for each frame of a ``duration_s`` shot at ``fps``, eased.

    ``target`` is where a dolly heads (view fractions: the subject's face); ``direction``
    +1 moves pans and tracking left to right, -1 right to left. Moves stay inside the canvas
    (1.25x the frame), so no border ever shows.
    """
    n = frame_count(duration_s, fps)
    base = BASE_VIEW
    tx = 0.5 + (target[0] - 0.5) * base
    ty = 0.5 + (target[1] - 0.5) * base
    d = 1 if direction >= 0 else -1
    move = movement.strip().lower()
    poses: list[Affine] = []
    for i in range(n):
        t = i / (n - 1) if n > 1 else 0.0
        e = _ease(t)
        cx, cy, size = 0.5, 0.5, base
        if move == "pan":
            cx = 0.5 + d * (-0.1 + 0.2 * e)
        elif move == "tilt":
            cy = 0.5 + 0.1 - 0.2 * e
        elif move in ("dolly in", "dolly out"):
            k = e if move == "dolly in" else 1.0 - e
            size = base * (1.0 - 0.32 * k)
            cx, cy = 0.5 + (tx - 0.5) * k, 0.5 + (ty - 0.5) * k
        elif move == "tracking":
            cx = 0.5 + d * (-0.1 + 0.2 * e)
            # a walking grip: a small vertical bob, two steps a second
            cy = 0.5 + 0.006 * math.sin(2 * math.pi * 2.0 * t * duration_s)
        elif move == "crane":
            cy = 0.5 + 0.1 - 0.2 * e
            size = base * (0.84 + 0.16 * e)
        if roll:
            size *= 0.9  # a rolled view needs room in the corners
        half = size / 2
        cx = min(1 - half, max(half, cx))
        cy = min(1 - half, max(half, cy))
        poses.append(Affine(cx, cy, size, roll))
    return poses


# =========================================================================== the look


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
    if any(w in text for w in ("low-key", "low key", "hard", "high contrast", "crushed", "chiaroscuro")):
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
        wall, floor, ceiling = _mix(dark, deep, 0.75), _mix(dark, black, 0.15), _mix(dark, black, 0.35)
        outside, exposure = _mix(dark, cool, 0.5), 0.92
    line = _mix(wall if interior else ground_far, black if _luma(wall) > 110 else white, 0.22)
    return _Look(dark, deep, mid, light, warm, cool, sky_top, sky_low, ground_far, ground_near,
                 wall, floor, ceiling, line, practical, outside, contrast, vignette, exposure,
                 paper=any(w in grain.lower() for w in ("paper", "watercolour", "watercolor", "pigment")),
                 fog=wall if interior else sky_low)


# =========================================================================== the plan


@dataclass
class _Figure:
    name: str
    colour: np.ndarray
    prominence: str
    tags: tuple[str, ...]
    u: float  # view x of the figure's centre line
    feet: float  # view y of the feet
    height: float  # full body height in view heights
    facing: int  # -1 left, 0 camera, +1 right
    hair: int
    build: float
    back: bool = False  # seen from behind (the OTS shoulder)
    depth: float = 1.0  # 1 foreground .. 0.3 far
    label: bool = True


@dataclass
class _Plan:
    framing: Framing
    interior: bool
    tod: str
    place: str
    rain: bool
    horizon: float
    vp: float
    figures: list[_Figure]
    prop: str = ""
    title: str = ""
    lights_on: bool = True
    dim: float = 1.0
    dof: float = 0.0
    wall_scale: float = 1.0
    seed_key: tuple[object, ...] = ()


# (full body height in view heights, view y of the top of the head) for a primary figure
_FRAMING_SIZE = {
    "ews": (0.17, 0.69), "ws": (0.62, 0.30), "ms": (1.75, 0.13), "pov": (1.75, 0.13),
    "mcu": (2.3, 0.11), "cu": (3.0, 0.08), "bcu": (3.8, 0.01), "ecu": (4.6, -0.06),
    "ots": (2.0, 0.14),
    "two": (1.3, 0.16), "group": (1.15, 0.2), "insert": (1.75, 0.13), "title": (1.75, 0.13),
}
_DEPTH = {  # (secondary, background) size factors per framing
    "ews": (0.75, 0.5), "ws": (0.7, 0.42), "ms": (0.6, 0.34), "pov": (0.6, 0.34),
    "mcu": (0.5, 0.3), "cu": (0.45, 0.26), "bcu": (0.42, 0.24), "ecu": (0.4, 0.22),
    "ots": (0.5, 0.3),
    "two": (0.62, 0.36), "group": (0.7, 0.42),
}
_DOF = {"ms": 0.003, "pov": 0.003, "mcu": 0.006, "cu": 0.008, "bcu": 0.009, "ecu": 0.01,
        "ots": 0.007, "two": 0.002}
_WALL_SCALE = {"ews": 0.55, "ws": 0.75, "ms": 1.25, "pov": 1.25, "mcu": 1.5, "cu": 1.8,
               "bcu": 2.0, "ecu": 2.2, "ots": 1.5, "two": 1.2, "group": 1.0}

_WALK = re.compile(r"\b(walk\w*|cross\w*|approach\w*|step\w*|mov(es|ing)|carr(y|ies|ying)|drag\w*|"
                   r"follow\w*|limp\w*|wander\w*|pac(es|ing)|strid\w*)\b")
_RUN = re.compile(r"\b(run|runs|running|ran|race\w*|hurr\w*|rush\w*|sprint\w*|flee\w*|dash\w*)\b")
_LEAVE = re.compile(r"\b(leav\w*|exit\w*|pulls? away|walks? away|goes out|drives? off)\b")
_ENTER = re.compile(r"\b(enter\w*|comes? in|arriv\w*|shove\w* in|steps? in|walks? in)\b")
_LOWER = re.compile(r"\b(sit\w*|sat|kneel\w*|knelt|crouch\w*|hunch\w*|bend\w*|bends|lean\w*|slump\w*|collaps\w*)\b")
_RISE = re.compile(r"\b(stand\w*|stood|rise\w*|rose|gets? up|climb\w*|jump\w*)\b")
_TURN = re.compile(r"\b(turn\w*|spin\w*|looks? back|whirl\w*)\b")
_LIGHTS_OFF = re.compile(r"\b(switch\w* off|turns? off|lights? (go|goes) out|blows? out|vanish\w* into the dark|goes dark|plunged)\b")
_LIGHTS_ON = re.compile(r"\b(switch\w* on|turns? on|stutter\w* on|flicker\w* on|lights? up|come on|comes on|strikes? a match)\b")
_WATER = re.compile(r"\b(harbou?r|canal|river|sea|lake|ocean|beach|port|dock\w*|quay|pier|shore|bay|pond)\b")
_BRIDGE = re.compile(r"\b(bridge|railing\w*|balcon\w*|walkway|overpass)\b")
_CITY = re.compile(r"\b(street|road|city|alley|avenue|town|square|rooftop\w*|market|bus|car park|parking)\b")
_TREES = re.compile(r"\b(forest|wood\w*|park|garden|field|orchard|tree\w*|meadow|countryside)\b")
_TABLE = re.compile(r"\b(bench|workbench|table|counter|desk|bar|altar)\b")
_LAMP = re.compile(r"\b(lamp|lantern|candle\w*|bulb|light)\b")


def _cast(spec: RenderSpec) -> tuple[list[tuple[str, str]], dict[str, RenderCharacter]]:
    """(name, prominence) of who is in the shot, and the render facts per upper-cased name."""
    by_name = {c.name.strip().upper(): c for c in spec.characters}
    if spec.shot is not None:
        # A V.O. or O.S. voice is heard, never drawn as a figure in frame.
        people = [(c.name.strip().upper(), c.prominence) for c in in_frame(spec.shot)]
    else:
        people = [(c.name.strip().upper(), c.prominence) for c in spec.characters]
    seen: set[str] = set()
    unique = []
    for name, prominence in people:
        if name not in seen:
            seen.add(name)
            unique.append((name, prominence))
    return unique, by_name


def _stage_order(spec: RenderSpec, names: Sequence[str]) -> list[str]:
    """Left-to-right blocking: first appearance in the scene (the order of spec.characters),
    then the order the shot lists them; stable across every shot of a scene."""
    scene_order = [c.name.strip().upper() for c in spec.characters]
    return sorted(names, key=lambda n: (scene_order.index(n) if n in scene_order else len(scene_order) + list(names).index(n)))


def _colour_for(name: str, known: dict[str, RenderCharacter]) -> np.ndarray:
    info = known.get(name)
    chosen = info.colour if info is not None and info.colour.lower() != UNSET_COLOUR else character_colour(name)
    return _hex_bgr(chosen)


def _slots(n: int) -> list[float]:
    if n <= 1:
        return [0.5]
    if n == 2:
        return [0.32, 0.68]
    if n == 3:
        return [0.22, 0.5, 0.78]
    return [0.14 + 0.72 * i / (n - 1) for i in range(n)]


def _plan(spec: RenderSpec, which: Which) -> _Plan:
    shot = spec.shot
    framing = parse_camera(shot.camera if shot else "")
    interior = _interior(spec)
    tod = _time_of_day(spec)
    place = _words(spec.location, shot.setting if shot else "", spec.scene_heading, _frame_prompt(spec))
    action = _words(shot.action if shot else "")
    kind = framing.drawn
    body, head_top = _FRAMING_SIZE.get(kind, _FRAMING_SIZE["ms"])
    horizon = head_top + 0.07 * body if kind != "ews" else 0.45
    if framing.drawn_angle == "low":
        horizon += 0.18
    elif framing.drawn_angle == "high":
        horizon -= 0.18
    rng = np.random.default_rng([spec.seed, _stable("plan", spec.scene_id, spec.location) % 2**32])
    plan = _Plan(
        framing=framing, interior=interior, tod=tod, place=place, rain=_raining(spec),
        horizon=horizon, vp=0.5 + float(rng.uniform(-0.08, 0.08)), figures=[],
        dof=_DOF.get(kind, 0.0), wall_scale=_WALL_SCALE.get(kind, 1.0),
        seed_key=(spec.seed, spec.scene_id, spec.location),
    )
    people, known = _cast(spec)
    names = [n for n, _ in people]
    if kind == "title":
        dialogue = shot.dialogue if shot else ""
        plan.title = _ascii(shot.action if shot and shot.action else dialogue) or "TITLE"
        return plan
    if kind == "insert":
        plan.prop = _prop_name(spec, names)
        return plan
    # Lighting events: the end frame shows the state after them.
    if _LIGHTS_OFF.search(action):
        plan.lights_on = which == "start"
        plan.dim = 1.0 if which == "start" else 0.55
    elif _LIGHTS_ON.search(action):
        plan.lights_on = which == "end"
        plan.dim = 0.8 if which == "start" else 1.0

    prominence = dict(people)
    heard = {v for v in off_screen_voices(shot.dialogue) if not mentions_name(shot.action, v)} if shot else set()
    if framing.subject and framing.subject.upper() not in heard:
        subject = framing.subject.upper()
        if subject not in prominence:
            names.append(subject)
        prominence[subject] = "primary"
    over = framing.over.upper() if framing.over and framing.over.upper() not in heard else None
    if kind == "ots" and over:
        names = [n for n in names if n != over]
    order = _stage_order(spec, names)
    slots = _slots(len(order))
    sec_k, bg_k = _DEPTH.get(kind, _DEPTH["ms"])
    feet_primary = head_top + body

    over_left = False
    if kind == "ots" and over:
        stage = _stage_order(spec, [*order, over])
        over_left = stage.index(over) < stage.index(order[0]) if order else True
        slots = [0.66 if over_left else 0.34] + _slots(len(order))[1:]
    for i, name in enumerate(order):
        role = prominence.get(name, "primary")
        k = {"primary": 1.0, "secondary": sec_k, "background": bg_k}[role]
        u = slots[i]
        if kind in ("cu", "bcu", "ecu", "mcu") and len(order) == 1:
            u = 0.5
        feet = horizon + (feet_primary - horizon) * k
        facing = 0
        if len(order) > 1 or kind == "ots":
            facing = 1 if u < 0.46 else (-1 if u > 0.54 else 0)
            if kind == "ots" and i == 0:
                facing = -1 if over_left else 1
        h = _stable("figure", name)
        colour = _colour_for(name, known)
        plan.figures.append(_Figure(
            name=name, colour=colour, prominence=role,
            tags=tuple(known[name].condition_tags) if name in known else (),
            u=u, feet=feet, height=body * k, facing=facing,
            hair=h % 4, build=0.92 + (h >> 8) % 17 / 100.0, depth=k,
        ))
    if kind == "ots" and over:
        colour = _colour_for(over, known)
        h = _stable("figure", over)
        plan.figures.append(_Figure(
            name=over, colour=colour, prominence="over",
            tags=tuple(known[over].condition_tags) if over in known else (),
            u=0.1 if over_left else 0.9, feet=0.3 + 3.6, height=3.6, facing=1 if over_left else -1,
            hair=h % 4, build=1.0, back=True, depth=1.4,
        ))
    # Distinct colours on screen even when two characters hash alike.
    seen: list[np.ndarray] = []
    for fig in plan.figures:
        for other in seen:
            if float(np.abs(fig.colour - other).sum()) < 40:
                fig.colour = _hue_shift(fig.colour, 60)
        seen.append(fig.colour)
    _apply_action(plan, action, which, shot.movement if shot else "static")
    return plan


def _apply_action(plan: _Plan, action: str, which: Which, movement: str = "static") -> None:
    """Move the figures along the action: the end frame is the state at the end of the shot.
    A tracking camera travels with its subject (it stays in frame; the world slides by)."""
    movers = [f for f in plan.figures if f.prominence == "primary" and not f.back]
    if re.search(r"\b(they|both|together)\b", action) or not movers:
        movers = [f for f in plan.figures if not f.back]
    end = which == "end"
    direction = _track_direction(plan, action)
    for fig in movers:
        side = 1 if (fig.facing > 0 or (fig.facing == 0 and fig.u <= 0.5)) else -1
        dx = dy = 0.0
        if _ENTER.search(action):
            if not end:
                dx = -side * 0.3
        elif _LEAVE.search(action):
            dx = side * 0.42 if end else 0.0
        elif _RUN.search(action):
            dx = side * 0.3 if end else -side * 0.05
        elif _WALK.search(action):
            dx = side * 0.14 if end else -side * 0.04
        if _LOWER.search(action) and end:
            dy = 0.05 * fig.height
        if _RISE.search(action) and end:
            dy = -0.08 * min(fig.height, 1.0)
        if _TURN.search(action) and end and fig.facing:
            fig.facing = -fig.facing
        elif _TURN.search(action) and end:
            fig.facing = side
        if movement == "tracking":
            dx = 0.25 * direction if end else 0.0
        fig.u += dx
        fig.feet += dy


def _track_direction(plan: _Plan, action: str) -> int:
    """Pans and tracking follow the subject: right to left when it faces left and moves."""
    primary = next((f for f in plan.figures if f.prominence == "primary"), None)
    moving = _WALK.search(action) or _RUN.search(action) or _LEAVE.search(action)
    return -1 if primary is not None and primary.facing < 0 and moving else 1


# =========================================================================== drawing


_Light = tuple[int, int, float, np.ndarray, float]


class _Canvas:
    """The panel canvas (CANVAS_MARGIN x the picture) and the view -> pixel mapping."""

    def __init__(self, picture: tuple[int, int], margin: float = CANVAS_MARGIN, *, draw: bool = True) -> None:
        pw, ph = picture
        self.w = round(pw * margin)
        self.h = round(ph * margin)
        self.base = 1.0 / margin
        # geometry only (figure boxes) needs no pixels
        self.img = np.zeros((self.h, self.w, 3) if draw else (1, 1, 3), np.uint8)

    def x(self, u: float) -> int:
        return round((0.5 + (u - 0.5) * self.base) * self.w)

    def y(self, v: float) -> int:
        return round((0.5 + (v - 0.5) * self.base) * self.h)

    def s(self, view_heights: float) -> float:
        """A length in view heights, in pixels."""
        return view_heights * self.base * self.h

    def pt(self, u: float, v: float) -> tuple[int, int]:
        return self.x(u), self.y(v)


def _gradient(h: int, w: int, top: np.ndarray, bottom: np.ndarray, power: float = 1.0) -> np.ndarray:
    t = np.linspace(0.0, 1.0, max(h, 1), dtype=np.float32)[:, None] ** power
    col = top[None, :] * (1 - t) + bottom[None, :] * t
    return np.repeat(col[:, None, :], w, axis=1)


def _c(colour: np.ndarray) -> tuple[float, float, float]:
    return tuple(float(x) for x in np.clip(colour, 0, 255))  # type: ignore[return-value]


def _glow(cv: _Canvas, lights: list[_Light], strength: float = 1.0) -> None:
    """Soft additive pools of light: (x, y, radius px, colour, vertical stretch)."""
    if not lights:
        return
    f = 4
    small = np.zeros((cv.h // f + 1, cv.w // f + 1, 3), np.float32)
    for x, y, r, colour, stretch in lights:
        axes = (max(1, int(r / f / stretch)), max(1, int(r / f * stretch)))
        cv2.ellipse(small, (x // f, y // f), axes, 0, 0, 360, _c(colour), -1, cv2.LINE_AA)
    sigma = max(2.0, float(np.median([r for _, _, r, _, _ in lights])) / f / 1.5)
    small = cv2.GaussianBlur(small, (0, 0), sigma)
    big = cv2.resize(small, (cv.w, cv.h), interpolation=cv2.INTER_LINEAR)[: cv.h, : cv.w]
    out = cv.img.astype(np.float32) + big * (0.8 * strength)
    cv.img[:] = np.clip(out, 0, 255).astype(np.uint8)


def _draw_backdrop(cv: _Canvas, plan: _Plan, look: _Look, rng: np.random.Generator) -> list[_Light]:
    """Sky/ground or a room in one-point perspective; returns the practical lights."""
    lights: list[_Light] = []
    if plan.interior:
        _draw_room(cv, plan, look, rng, lights)
    else:
        _draw_exterior(cv, plan, look, rng, lights)
    if not plan.lights_on:
        lights = [(x, y, r * 0.25, c * 0.4, k) for x, y, r, c, k in lights]
    return lights


def _draw_exterior(cv: _Canvas, plan: _Plan, look: _Look, rng: np.random.Generator,
                   lights: list[_Light]) -> None:
    hy = min(cv.h - 1, max(1, cv.y(plan.horizon)))
    vpx = cv.x(plan.vp)
    img = cv.img
    # the warm band hugs the horizon: mixing complementary colours over the whole sky is mud
    img[:hy] = _gradient(hy, cv.w, look.sky_top, look.sky_low, power=2.6).astype(np.uint8)
    img[hy:] = _gradient(cv.h - hy, cv.w, look.ground_far, look.ground_near).astype(np.uint8)
    night = plan.tod in ("night", "dusk")
    wet = plan.rain or " wet " in plan.place
    water = bool(_WATER.search(plan.place))
    city = bool(_CITY.search(plan.place)) or bool(_BRIDGE.search(plan.place)) or water
    # far silhouettes: a skyline or a tree line along the horizon
    x = -cv.w // 20
    sil = _mix(look.sky_low, look.dark, 0.42 if plan.framing.drawn == "ews" else 0.55)
    window_colour = _mix(look.practical, look.warm, 0.3)
    while x < cv.w:
        if city:
            bw = int(rng.uniform(0.03, 0.09) * cv.w)
            bh = int(rng.uniform(0.02, 0.09 if water else 0.16) * cv.s(1.0))
            cv2.rectangle(img, (x, hy - bh), (x + bw, hy), _c(sil), -1)
            if night:
                for _ in range(int(rng.integers(0, 4))):
                    wx = x + int(rng.uniform(0.15, 0.8) * bw)
                    wy = hy - int(rng.uniform(0.2, 0.85) * bh)
                    ws = max(2, cv.h // 160)
                    cv2.rectangle(img, (wx, wy), (wx + ws, wy + ws), _c(window_colour), -1)
            x += bw + int(rng.uniform(0, 0.02) * cv.w)
        else:
            r = int(rng.uniform(0.02, 0.05) * cv.w)
            cv2.circle(img, (x, hy - r // 3), r, _c(_mix(sil, look.cool, 0.2)), -1, cv2.LINE_AA)
            x += int(r * 1.2)
    bottom = cv.h - 1
    if water:
        # the water: the lower ground becomes a band of reflections; a quay in front
        quay = hy + int((bottom - hy) * 0.45)
        img[hy:quay] = _gradient(quay - hy, cv.w, _mix(look.sky_low, look.deep, 0.35),
                                 _mix(look.sky_top, look.dark, 0.3)).astype(np.uint8)
        glint = _mix(look.sky_low, np.full(3, 255.0, np.float32), 0.3)
        for _ in range(int(cv.w / 18)):
            gy = int(rng.uniform(hy + 2, quay))
            gx = int(rng.uniform(0, cv.w))
            gl = int(rng.uniform(0.01, 0.05) * cv.w * (gy - hy) / max(1, quay - hy))
            cv2.line(img, (gx, gy), (gx + gl, gy), _c(_mix(glint, look.sky_low, 0.5)), 1, cv2.LINE_AA)
        cv2.line(img, (0, quay), (cv.w, quay), _c(_mix(look.line, look.dark, 0.3)), max(1, cv.h // 240), cv2.LINE_AA)
    # perspective: paving lines from the vanishing point (not across water)
    lw = max(1, cv.h // 400)
    ground_top = hy + int((bottom - hy) * 0.45) if water else hy
    pave = _c(_mix(look.ground_near, look.line, 0.35))
    for i in range(-6, 7):
        bx = vpx + int(i * cv.w * 0.22)
        t0 = (ground_top - hy) / max(1, bottom - hy)
        start = (int(vpx + (bx - vpx) * t0), ground_top)
        cv2.line(img, start, (bx, bottom), pave, lw, cv2.LINE_AA)
    if _BRIDGE.search(plan.place) or city:
        # a railing or kerb running into the distance on the vanishing point's far side,
        # lamp posts along it (lit at dusk and night)
        side = -1 if plan.vp >= 0.5 else 1
        near_x = int(cv.w * (0.5 + side * 0.62))
        rail_far = (vpx, hy)
        rail_near = (near_x, hy + int((bottom - hy) * 0.55))
        base_near = (near_x, hy + int((bottom - hy) * 0.95))
        post_colour = _mix(look.dark, look.ground_far, 0.25)
        cv2.line(img, rail_far, rail_near, _c(post_colour), max(2, cv.h // 150), cv2.LINE_AA)
        cv2.line(img, rail_far, base_near, _c(post_colour), max(1, cv.h // 260), cv2.LINE_AA)
        for j in range(1, 16):
            t = 1 - 0.84 ** j
            px = int(rail_far[0] + (rail_near[0] - rail_far[0]) * t)
            py = int(rail_far[1] + (rail_near[1] - rail_far[1]) * t)
            by = int(rail_far[1] + (base_near[1] - rail_far[1]) * t)
            cv2.line(img, (px, py), (px, by), _c(post_colour), max(1, int(cv.h / 400 * (0.5 + 2 * t))), cv2.LINE_AA)
            if j % 3 == 0:
                height = int((by - hy) * 1.6)
                head = (px, by - height)
                cv2.line(img, (px, by), head, _c(post_colour), max(1, int(cv.h / 300 * (0.5 + 2 * t))), cv2.LINE_AA)
                cv2.line(img, head, (px - side * int(height * 0.08), head[1]), _c(post_colour), max(1, int(cv.h / 300 * (0.5 + 2 * t))), cv2.LINE_AA)
                bulb = (px - side * int(height * 0.08), head[1] + max(2, int(height * 0.02)))
                lit = night and plan.lights_on
                cv2.circle(img, bulb, max(2, int(height * 0.025)), _c(look.practical if lit else _mix(look.light, look.dark, 0.4)), -1, cv2.LINE_AA)
                if lit:
                    lights.append((bulb[0], bulb[1], max(6.0, height * 0.35), look.practical, 1.0))
                    if wet:  # a streak of reflected light on the wet ground under the lamp
                        lights.append((bulb[0], by + int(height * 0.45), max(4.0, height * 0.2), look.practical * 0.7, 3.0))
    if _TREES.search(plan.place) and not city:
        for _ in range(5):
            tx = int(rng.uniform(0, cv.w))
            ty = hy + int(rng.uniform(0.05, 0.2) * cv.h)
            r = int(rng.uniform(0.04, 0.08) * cv.h)
            cv2.line(img, (tx, ty), (tx, ty - 3 * r), _c(look.dark), max(2, r // 5), cv2.LINE_AA)
            cv2.circle(img, (tx, ty - 3 * r), int(r * 1.6), _c(_mix(look.dark, look.cool, 0.3)), -1, cv2.LINE_AA)


def _draw_room(cv: _Canvas, plan: _Plan, look: _Look, rng: np.random.Generator,
               lights: list[_Light]) -> None:
    img = cv.img
    s = plan.wall_scale
    hy = cv.y(plan.horizon)
    vpx = cv.x(plan.vp)
    half_w = cv.s(0.62 * s)
    top = int(hy - cv.s(0.45 * s))
    bot = int(hy + cv.s(0.22 * s))
    left, right = int(vpx - half_w), int(vpx + half_w)
    far = 12.0

    def out(p: tuple[int, int]) -> tuple[int, int]:
        return int(vpx + (p[0] - vpx) * far), int(hy + (p[1] - hy) * far)

    tl, tr, bl, br = (left, top), (right, top), (left, bot), (right, bot)
    img[:] = _gradient(cv.h, cv.w, look.ceiling, look.floor).astype(np.uint8)
    side_l = _mix(look.wall, look.dark, 0.18)
    side_r = _mix(look.wall, look.dark, 0.32)
    polys = [
        ([tl, tr, out(tr), out(tl)], _mix(look.ceiling, look.dark, 0.1)),
        ([bl, br, out(br), out(bl)], look.floor),
        ([tl, bl, out(bl), out(tl)], side_l),
        ([tr, br, out(br), out(tr)], side_r),
    ]
    for pts, colour in polys:
        cv2.fillPoly(img, [np.array(pts, np.int32)], _c(colour), cv2.LINE_AA)
    back = _gradient(max(1, bot - top), max(1, right - left), _mix(look.wall, look.ceiling, 0.15), look.wall)
    y0, y1 = max(0, top), min(cv.h, bot)
    x0, x1 = max(0, left), min(cv.w, right)
    if y1 > y0 and x1 > x0:
        img[y0:y1, x0:x1] = back[y0 - top : y1 - top, x0 - left : x1 - left].astype(np.uint8)
    lw = max(1, cv.h // 360)
    edge = _c(_mix(look.line, look.dark, 0.2))
    for a, b in ((tl, tr), (tr, br), (br, bl), (bl, tl)):
        cv2.line(img, a, b, edge, lw, cv2.LINE_AA)
    for corner in (tl, tr, bl, br):
        cv2.line(img, corner, out(corner), edge, lw, cv2.LINE_AA)
    # floorboards run to the vanishing point
    board = _c(_mix(look.floor, look.line, 0.35))
    for i in range(1, 12):
        bx = left + (right - left) * i / 12
        cv2.line(img, (int(bx), bot), out((int(bx), bot)), board, lw, cv2.LINE_AA)
    # shelves along the side walls
    shelf = _c(_mix(side_l, look.dark, 0.3))
    for k in (0.3, 0.55):
        y = int(top + (bot - top) * k)
        cv2.line(img, (left, y), out((left, y)), shelf, max(1, lw * 2), cv2.LINE_AA)
        cv2.line(img, (right, y), out((right, y)), shelf, max(1, lw * 2), cv2.LINE_AA)
    # a window on the back wall, a door on the other side
    window_left = bool(rng.integers(0, 2))
    ww = int((right - left) * 0.3)
    wh = int((bot - top) * 0.5)
    wx = left + int((right - left) * (0.1 if window_left else 0.6))
    wy = top + int((bot - top) * 0.14)
    cv2.rectangle(img, (wx, wy), (wx + ww, wy + wh), _c(look.outside), -1)
    if plan.rain:
        _rain(img, (wx, wy, ww, wh), look, rng, density=0.5, length=0.12)
    frame_c = _c(_mix(look.dark, look.wall, 0.3))
    cv2.rectangle(img, (wx, wy), (wx + ww, wy + wh), frame_c, max(2, lw * 3))
    cv2.line(img, (wx + ww // 2, wy), (wx + ww // 2, wy + wh), frame_c, max(1, lw * 2))
    cv2.line(img, (wx, wy + wh // 2), (wx + ww, wy + wh // 2), frame_c, max(1, lw * 2))
    if plan.tod == "day" and plan.lights_on:
        lights.append((wx + ww // 2, wy + wh // 2, ww * 0.9, _mix(look.outside, look.light, 0.5) * 0.6, 1.0))
    dx = left + int((right - left) * (0.72 if window_left else 0.12))
    dw, dh = int((right - left) * 0.16), int((bot - top) * 0.72)
    cv2.rectangle(img, (dx, bot - dh), (dx + dw, bot), _c(_mix(look.wall, look.dark, 0.45)), -1)
    cv2.circle(img, (dx + int(dw * 0.82), bot - dh // 2), max(2, dw // 18), _c(look.warm), -1, cv2.LINE_AA)
    # furniture and practical light
    table_y = int(hy + cv.s(0.3 * s))
    if _TABLE.search(plan.place) or plan.framing.drawn in ("ews", "ws"):
        tw = int(half_w * 0.9)
        tx = vpx - tw // 2 + int(half_w * 0.25 * (1 if window_left else -1))
        th = max(3, int(cv.s(0.05 * s)))
        cv2.rectangle(img, (tx, table_y), (tx + tw, table_y + th), _c(_mix(look.floor, look.dark, 0.4)), -1)
        for lx in (tx + th, tx + tw - 2 * th):
            cv2.rectangle(img, (lx, table_y + th), (lx + th, table_y + int(cv.s(0.18 * s))), _c(_mix(look.floor, look.dark, 0.55)), -1)
        if plan.tod != "day" or _LAMP.search(plan.place):
            lamp = (tx + tw // 5, table_y - int(cv.s(0.1 * s)))
            shade = max(4, int(cv.s(0.04 * s)))
            cv2.line(img, (lamp[0], table_y), lamp, _c(look.dark), max(1, shade // 4), cv2.LINE_AA)
            pts = np.array([(lamp[0] - shade, lamp[1] + shade // 2), (lamp[0] + shade, lamp[1] + shade // 2),
                            (lamp[0] + shade // 2, lamp[1] - shade // 2), (lamp[0] - shade // 2, lamp[1] - shade // 2)], np.int32)
            lamp_col = _mix(look.cool, look.warm, 0.3) if "green" in plan.place else look.warm
            cv2.fillPoly(img, [pts], _c(lamp_col), cv2.LINE_AA)
            if plan.lights_on:
                lights.append((lamp[0], lamp[1] + shade, cv.s(0.35 * s), look.practical, 1.0))
    elif plan.tod != "day":
        pendant = (vpx, top + int((bot - top) * 0.2))
        cv2.line(img, (vpx, 0), pendant, _c(look.dark), lw, cv2.LINE_AA)
        cv2.circle(img, pendant, max(3, int(cv.s(0.025 * s))), _c(look.practical), -1, cv2.LINE_AA)
        if plan.lights_on:
            lights.append((pendant[0], pendant[1], cv.s(0.4 * s), look.practical, 1.0))


def _rain(img: np.ndarray, box: tuple[int, int, int, int], look: _Look, rng: np.random.Generator,
          density: float = 1.0, length: float = 0.05, alpha: float = 0.35) -> None:
    """Slanted light streaks over ``box`` (x, y, w, h), added as light."""
    x, y, w, h = box
    if w <= 0 or h <= 0:
        return
    roi = img[max(0, y) : y + h, max(0, x) : x + w]
    layer = np.zeros_like(roi)
    count = int(density * roi.shape[0] * roi.shape[1] / 2600) + 3
    ln = max(4, int(length * img.shape[0]))
    slant = 0.22
    colour = _c(_mix(look.light, look.cool, 0.25))
    xs = rng.uniform(-0.2 * roi.shape[1], roi.shape[1], count)
    ys = rng.uniform(-ln, roi.shape[0], count)
    ls = rng.uniform(0.5, 1.0, count) * ln
    for px, py, pl in zip(xs, ys, ls, strict=True):
        cv2.line(layer, (int(px), int(py)), (int(px + pl * slant), int(py + pl)), colour, 1, cv2.LINE_AA)
    cv2.addWeighted(roi, 1.0, layer, alpha, 0.0, dst=roi)


def _figure_parts(fig: _Figure, cv: _Canvas) -> dict[str, list[np.ndarray]]:
    """Silhouette parts in canvas pixels: polygons (int32 arrays) per part name."""
    b = cv.s(fig.height)
    x0 = cv.x(fig.u)
    feet = cv.y(fig.feet) if fig.feet < 50 else cv.y(50)
    top = feet - b
    w = fig.build

    def P(dx: float, dy: float) -> tuple[float, float]:  # noqa: N802 - a point in body units
        return x0 + dx * b * w, top + dy * b

    def poly(*pts: tuple[float, float]) -> np.ndarray:
        return np.array([(round(px), round(py)) for px, py in pts], np.int32)

    def ellipse(cx: float, cy: float, ax: float, ay: float) -> np.ndarray:
        c = P(cx, cy)
        return cv2.ellipse2Poly((round(c[0]), round(c[1])), (max(1, round(ax * b * w)), max(1, round(ay * b))), 0, 0, 360, 8)

    head_dx = 0.012 * fig.facing
    parts: dict[str, list[np.ndarray]] = {
        "legs": [
            poly(P(-0.1, 0.5), P(-0.012, 0.5), P(-0.02, 0.985), P(-0.075, 0.985)),
            poly(P(0.012, 0.5), P(0.1, 0.5), P(0.075, 0.985), P(0.02, 0.985)),
        ],
        "body": [
            poly(P(-0.03, 0.14), P(0.03, 0.14), P(0.05, 0.175), P(0.13, 0.2), P(0.145, 0.24),
                 P(0.15, 0.5), P(0.118, 0.52), P(0.108, 0.32), P(0.1, 0.53), P(-0.1, 0.53),
                 P(-0.108, 0.32), P(-0.118, 0.52), P(-0.15, 0.5), P(-0.145, 0.24), P(-0.13, 0.2),
                 P(-0.05, 0.175)),
            ellipse(0, 0.215, 0.135, 0.045),
        ],
        "head": [ellipse(head_dx, 0.075, 0.055, 0.07)],
    }
    if fig.facing and not fig.back:
        nose_x = head_dx + fig.facing * 0.055
        parts["nose"] = [poly(P(nose_x - fig.facing * 0.006, 0.06), P(nose_x + fig.facing * 0.014, 0.088),
                              P(nose_x - fig.facing * 0.004, 0.094))]
    hair: list[np.ndarray] = []
    if fig.back:
        hair.append(ellipse(head_dx, 0.07, 0.057, 0.066))
    elif fig.hair == 0:  # short crop
        hair.append(cv2.ellipse2Poly(_ipt(P(head_dx - 0.008 * fig.facing, 0.06)), (round(0.058 * b * w), round(0.058 * b)), 0, 180, 360, 8))
    elif fig.hair == 1:  # long
        hair.append(cv2.ellipse2Poly(_ipt(P(head_dx - 0.01 * fig.facing, 0.065)), (round(0.062 * b * w), round(0.062 * b)), 0, 180, 360, 8))
        hair.append(poly(P(head_dx - 0.062, 0.06), P(head_dx + 0.062, 0.06), P(head_dx + 0.07 - 0.03 * fig.facing, 0.2),
                         P(head_dx - 0.07 - 0.03 * fig.facing, 0.2)) if fig.facing == 0 else
                    poly(P(head_dx - 0.06 * fig.facing, 0.05), P(head_dx, 0.04), P(head_dx - 0.02 * fig.facing, 0.19),
                         P(head_dx - 0.075 * fig.facing, 0.19)))
    elif fig.hair in (2, 3):  # a bun at the back / short grey hair (drawn lighter)
        hair.append(cv2.ellipse2Poly(_ipt(P(head_dx - 0.006 * fig.facing, 0.058)), (round(0.058 * b * w), round(0.055 * b)), 0, 180, 360, 8))
        if fig.hair == 2:
            bun_x = head_dx - (0.05 * fig.facing if fig.facing else 0.0)
            hair.append(ellipse(bun_x, 0.018 if not fig.facing else 0.04, 0.024, 0.022))
    if hair:
        parts["hair"] = hair
    if not fig.back and b * 0.007 >= 1.2:
        eyes = [head_dx - 0.02, head_dx + 0.02] if fig.facing == 0 else [head_dx + fig.facing * 0.03]
        parts["eyes"] = [ellipse(ex, 0.08, 0.004, 0.0055) for ex in eyes]
    return parts


IDENTITY_PARTS = ("head", "hair", "body")  # what a close-up still shows: no legs


def _figure_box(fig: _Figure, cv: _Canvas) -> tuple[float, float, float, float]:
    """The box (x0, y0, x1, y1, canvas pixels) of the figure's head, hair and torso."""
    pts = np.concatenate([p for name, ps in _figure_parts(fig, cv).items() if name in IDENTITY_PARTS for p in ps])
    (x0, y0), (x1, y1) = pts.min(0), pts.max(0)
    return float(x0), float(y0), float(x1), float(y1)


def _ipt(p: tuple[float, float]) -> tuple[int, int]:
    return round(p[0]), round(p[1])


def _draw_figure(cv: _Canvas, fig: _Figure, look: _Look, light_dir: int, rng: np.random.Generator,
                 blur: float = 0.0) -> None:
    """A coloured silhouette with a rim light, its hair, its condition tags."""
    parts = _figure_parts(fig, cv)
    allpts = np.concatenate([p for ps in parts.values() for p in ps])
    pad = max(4, int(cv.s(fig.height) * 0.03) + int(blur * 3))
    x0, y0 = np.maximum(allpts.min(0) - pad, 0)
    x1, y1 = np.minimum(allpts.max(0) + pad, (cv.w, cv.h))
    if x1 <= x0 or y1 <= y0:
        return
    off = np.array([x0, y0], np.int32)
    roi = cv.img[y0:y1, x0:x1]
    h, w = roi.shape[:2]
    mask = np.zeros((h, w), np.uint8)
    layer = np.zeros((h, w, 3), np.uint8)
    colour = fig.colour.copy()
    wet = any(t.lower() in ("wet", "soaked", "dripping", "drenched") for t in fig.tags)
    if wet:
        colour = _mix(colour * 0.7, look.cool * 0.6, 0.2)
    if fig.back:
        colour = _mix(colour, look.dark, 0.5)
    elif fig.depth < 0.5:
        colour = _mix(_desaturate(colour, 0.5), look.fog, 0.3)
    shade = colour * 0.72
    hair_c = _mix(colour, look.dark, 0.65) if fig.hair != 3 else _mix(look.light, colour, 0.3)
    skin = _mix(colour, look.light, 0.35)
    for name in ("legs", "body", "head", "nose", "hair"):
        for p in parts.get(name, []):
            cv2.fillPoly(mask, [p - off], 255, cv2.LINE_AA)
    for name, c in (("legs", colour * 0.8), ("body", colour), ("head", skin if not fig.back else colour),
                    ("nose", skin), ("hair", hair_c), ("eyes", _mix(look.dark, colour, 0.15))):
        for p in parts.get(name, []):
            cv2.fillPoly(layer, [p - off], _c(c), cv2.LINE_AA)
    # the side away from the key light in shadow: volume at no cost
    b = cv.s(fig.height)
    cx = cv.x(fig.u) - x0
    shadow = np.zeros((h, w), np.uint8)
    if light_dir >= 0:
        shadow[:, : max(0, cx - int(0.02 * b))] = 1
    else:
        shadow[:, min(w, cx + int(0.02 * b)) :] = 1
    shadow &= (mask > 0)
    layer[shadow > 0] = (layer[shadow > 0] * (shade.mean() / max(1.0, colour.mean()))).astype(np.uint8)
    _condition_marks(layer, mask, fig, parts, off, b, rng)
    alpha = mask.astype(np.float32) / 255.0
    if blur > 0:
        k = blur * b * 0.005 + 0.5
        layer = cv2.GaussianBlur(layer, (0, 0), k)
        alpha = cv2.GaussianBlur(alpha, (0, 0), k)
    # rim: the silhouette shifted away from the light, in a bright edge colour
    rim_px = max(1, int(b * 0.006))
    rim_mask = np.zeros_like(alpha)
    shift = -light_dir * rim_px if light_dir else rim_px
    if shift > 0:
        rim_mask[:, shift:] = alpha[:, :-shift]
    else:
        rim_mask[:, :shift] = alpha[:, -shift:]
    bg_luma = float(roi.mean())
    rim_colour = _mix(look.light, look.practical, 0.3) if bg_luma < 120 else _mix(look.dark, colour, 0.3)
    outline = cv2.dilate(alpha, np.ones((3, 3), np.uint8)) if not fig.back else alpha
    base = roi.astype(np.float32)
    edge_c = _mix(look.dark, colour, 0.2) if bg_luma >= 90 else _mix(colour, look.light, 0.4)
    base = base * (1 - outline[..., None] * 0.8) + edge_c * (outline[..., None] * 0.8)
    rim_a = (rim_mask * (1 - alpha))[..., None] * (0.0 if fig.back else 0.9)
    base = base * (1 - rim_a) + rim_colour * rim_a
    a3 = alpha[..., None]
    base = base * (1 - a3) + layer.astype(np.float32) * a3
    roi[:] = np.clip(base, 0, 255).astype(np.uint8)


def _condition_marks(layer: np.ndarray, mask: np.ndarray, fig: _Figure, parts: dict[str, list[np.ndarray]],
                     off: np.ndarray, b: float, rng: np.random.Generator) -> None:
    """Condition tags drawn lightly: wet drips, blood, a tear, mud."""
    tags = {t.lower() for t in fig.tags}
    if fig.back or not tags:
        return
    body = parts["body"][0] - off
    bx0, by0 = body.min(0)
    bx1, by1 = body.max(0)
    head = parts["head"][0] - off
    hx0, hy0 = head.min(0)
    hx1, hy1 = head.max(0)
    th = max(1, int(b * 0.004))
    if tags & {"wet", "soaked", "dripping", "drenched"} and b > 160:
        drip = (235, 215, 170)
        for _ in range(14):
            x = int(rng.uniform(bx0, bx1))
            y = int(rng.uniform(by0, by0 + (by1 - by0) * 0.8))
            ln = int(rng.uniform(0.02, 0.05) * b)
            cv2.line(layer, (x, y), (x, y + ln), drip, th, cv2.LINE_AA)
            cv2.line(mask, (x, y), (x, y + ln), 255, th, cv2.LINE_AA)
        for _ in range(5):  # drops falling from the chin and the coat's hem
            x = int(rng.uniform(hx0 + (hx1 - hx0) * 0.3, hx1 - (hx1 - hx0) * 0.3))
            y = int(hy1 + rng.uniform(0.005, 0.03) * b)
            cv2.circle(layer, (x, y), th + 1, drip, -1, cv2.LINE_AA)
            cv2.circle(mask, (x, y), th + 1, 255, -1, cv2.LINE_AA)
        cv2.ellipse(layer, (int((bx0 + bx1) / 2 - (bx1 - bx0) * 0.25), int(by0 + (by1 - by0) * 0.12)),
                    (max(2, int((bx1 - bx0) * 0.12)), max(1, int(b * 0.01))), -20, 0, 360, (225, 205, 170), th, cv2.LINE_AA)
    if tags & {"bloody", "bleeding", "wounded", "injured", "blood"}:
        for _ in range(4):
            x = int(rng.uniform(bx0 + (bx1 - bx0) * 0.25, bx1 - (bx1 - bx0) * 0.25))
            y = int(rng.uniform(by0 + (by1 - by0) * 0.1, by0 + (by1 - by0) * 0.6))
            r = max(2, int(rng.uniform(0.008, 0.02) * b))
            cv2.ellipse(layer, (x, y), (r, int(r * 1.4)), float(rng.uniform(0, 180)), 0, 360, (30, 20, 170), -1, cv2.LINE_AA)
        cv2.line(layer, (int(hx0 + (hx1 - hx0) * 0.35), int(hy0 + (hy1 - hy0) * 0.3)),
                 (int(hx0 + (hx1 - hx0) * 0.45), int(hy0 + (hy1 - hy0) * 0.6)), (30, 20, 170), th + 1, cv2.LINE_AA)
    if tags & {"torn", "ripped", "tattered"}:
        x = int(bx0 + (bx1 - bx0) * 0.7)
        pts = [(x + int(((-1) ** i) * 0.015 * b), int(by0 + (by1 - by0) * (0.25 + 0.06 * i))) for i in range(7)]
        cv2.polylines(layer, [np.array(pts, np.int32)], False, (40, 40, 40), th + 1, cv2.LINE_AA)
    if tags & {"dirty", "muddy", "mud", "dusty", "grimy"}:
        for _ in range(20):
            x = int(rng.uniform(bx0, bx1))
            y = int(rng.uniform(by0 + (by1 - by0) * 0.5, by1 + (by1 - by0) * 0.6))
            cv2.circle(layer, (x, y), max(1, int(0.006 * b)), (40, 70, 100), -1, cv2.LINE_AA)


def _draw_label(img: np.ndarray, fig: _Figure, cv: _Canvas, font: _Font) -> None:
    """A name chip near the figure: above the head when there is room, else on the chest."""
    b = cv.s(fig.height)
    x = cv.x(fig.u)
    head_top = cv.y(fig.feet) - b if fig.feet < 50 else cv.y(50) - b
    tags = [t for t in fig.tags if t]
    text = _ascii(fig.name) + (f" ({', '.join(_ascii(t) for t in tags[:3])})" if tags else "")
    if fig.back:
        text = f"{_ascii(fig.name)} (back)"
    tw = font.width(text)
    pad = max(3, font.px // 2)
    chip_h = font.px + 2 * pad
    view_top = cv.y(0.0) + chip_h // 2
    view_bot = cv.y(1.0) - chip_h
    if head_top - chip_h - pad > view_top + chip_h and b < cv.s(0.7):
        cy = int(head_top - pad - chip_h // 2)
    elif fig.back:
        cy = int(cv.y(0.78))
    else:
        cy = int(min(view_bot, max(view_top + chip_h, head_top + b * 0.3)))
    sw = font.px  # the colour swatch
    x0 = int(x - (tw + sw + 3 * pad) / 2)
    x0 = max(cv.x(0.0) + pad, min(cv.x(1.0) - tw - sw - 4 * pad, x0))
    y0 = cy - chip_h // 2
    cv2.rectangle(img, (x0, y0), (x0 + tw + sw + 3 * pad, y0 + chip_h), (18, 18, 18), -1)
    cv2.rectangle(img, (x0 + pad, y0 + pad), (x0 + pad + sw, y0 + chip_h - pad), _c(fig.colour), -1)
    _put(img, text, (x0 + 2 * pad + sw, y0 + pad + font.px), font, (235, 235, 235))


# -------------------------------------------------------------------------- inserts, titles

def _prop_colour(name: str, look: _Look) -> np.ndarray:
    for word, hexc in _COLOUR_WORDS.items():
        if word in name.lower():
            return _hex_bgr(hexc)
    return look.warm


def _draw_prop(img: np.ndarray, centre: tuple[int, int], size: float, name: str, look: _Look) -> None:
    """A simple drawable object for the insert: an umbrella, an envelope, a ticket…"""
    x, y = centre
    s = size
    col = _c(_prop_colour(name, look))
    dark = _c(_mix(look.dark, np.zeros(3, np.float32), 0.3))
    paper = _c(_hex_bgr("#efe6d2"))
    lw = max(2, int(s * 0.015))
    low = name.lower()
    if "umbrella" in low:
        cv2.ellipse(img, (x, y), (int(s * 0.5), int(s * 0.32)), 0, 180, 360, col, -1, cv2.LINE_AA)
        for k in range(8):
            cv2.line(img, (x, y - int(s * 0.32)), (x + int((-0.5 + k / 7) * s), y), dark, max(1, lw // 2), cv2.LINE_AA)
        cv2.line(img, (x, y - int(s * 0.38)), (x, y + int(s * 0.42)), dark, lw, cv2.LINE_AA)
        cv2.ellipse(img, (x - int(s * 0.06), y + int(s * 0.42)), (int(s * 0.06), int(s * 0.06)), 0, 0, 180, _c(look.light), lw + 1, cv2.LINE_AA)
        for k in range(7):
            sx = x + int((-0.5 + (k + 0.5) / 7) * s)
            cv2.ellipse(img, (sx, y), (int(s / 14), int(s * 0.025)), 0, 0, 180, col, -1, cv2.LINE_AA)
    elif any(w in low for w in ("envelope", "letter", "note", "map")):
        w, h = int(s * 0.8), int(s * 0.5)
        cv2.rectangle(img, (x - w // 2, y - h // 2), (x + w // 2, y + h // 2), paper, -1)
        cv2.rectangle(img, (x - w // 2, y - h // 2), (x + w // 2, y + h // 2), dark, lw // 2 + 1)
        if "envelope" in low:
            cv2.line(img, (x - w // 2, y - h // 2), (x, y + h // 8), dark, lw // 2 + 1, cv2.LINE_AA)
            cv2.line(img, (x + w // 2, y - h // 2), (x, y + h // 8), dark, lw // 2 + 1, cv2.LINE_AA)
        else:
            for k in range(5):
                yy = y - h // 3 + k * h // 7
                cv2.line(img, (x - w // 3, yy), (x + w // 3 - (k % 2) * w // 8, yy), _c(look.cool), lw // 2 + 1, cv2.LINE_AA)
    elif any(w in low for w in ("ticket", "card", "photo")):
        w, h = int(s * 0.6), int(s * 0.34)
        fill = col if "photo" not in low else _c(look.mid)
        cv2.rectangle(img, (x - w // 2, y - h // 2), (x + w // 2, y + h // 2), fill, -1)
        for k in range(8):
            cv2.circle(img, (x - w // 2 + int(w * 0.18), y - h // 2 + int(h * (k + 0.5) / 8)), max(1, lw // 2), dark, -1, cv2.LINE_AA)
        cv2.putText(img, "41", (x, y + h // 6), cv2.FONT_HERSHEY_COMPLEX, s / 220, dark, max(1, lw // 2), cv2.LINE_AA)
    elif "key" in low:
        cv2.circle(img, (x - int(s * 0.25), y), int(s * 0.12), col, lw + 2, cv2.LINE_AA)
        cv2.line(img, (x - int(s * 0.13), y), (x + int(s * 0.35), y), col, lw + 2, cv2.LINE_AA)
        for k in (0.2, 0.3):
            cv2.line(img, (x + int(s * k), y), (x + int(s * k), y + int(s * 0.08)), col, lw + 2, cv2.LINE_AA)
    else:
        w, h = int(s * 0.5), int(s * 0.5)
        cv2.rectangle(img, (x - w // 2, y - h // 2), (x + w // 2, y + h // 2), col, -1)
        cv2.rectangle(img, (x - w // 2, y - h // 2), (x + w // 2, y + h // 2), dark, lw)


def _draw_insert(cv: _Canvas, plan: _Plan, look: _Look, rng: np.random.Generator, font: _Font) -> None:
    img = cv.img
    img[:] = _gradient(cv.h, cv.w, _mix(look.floor, look.mid, 0.3), _mix(look.floor, look.dark, 0.3)).astype(np.uint8)
    grain = _c(_mix(look.floor, look.dark, 0.25))
    for _ in range(30):  # wood grain of the table top
        y = int(rng.uniform(0, cv.h))
        cv2.line(img, (0, y), (cv.w, y + int(rng.uniform(-8, 8))), grain, 1, cv2.LINE_AA)
    lights = [(cv.x(0.45), cv.y(0.4), cv.s(0.55), look.practical * (0.5 if plan.tod == "day" else 0.8), 1.0)]
    _glow(cv, lights)
    centre = (cv.x(0.5), cv.y(0.45))
    _draw_prop(img, centre, cv.s(0.62), plan.prop, look)
    big = _font(font.px * 1.6, cv2.FONT_HERSHEY_DUPLEX)
    text = _fit(plan.prop, big, cv.x(0.9) - cv.x(0.1))
    tw = big.width(text)
    y = cv.y(0.88)
    cv2.rectangle(img, (cv.x(0.5) - tw // 2 - big.px, y - big.px * 2), (cv.x(0.5) + tw // 2 + big.px, y + big.px), (18, 18, 18), -1)
    _put(img, text, (cv.x(0.5) - tw // 2, y), big, (240, 240, 240))


def _draw_title(cv: _Canvas, plan: _Plan, look: _Look, font: _Font) -> None:
    cv.img[:] = 0
    big = _font(font.px * 3.0, cv2.FONT_HERSHEY_TRIPLEX)
    lines = wrap_text(plan.title, big, cv.x(0.85) - cv.x(0.15), 3)
    lh = int(big.px * 1.8)
    y = cv.y(0.5) - (len(lines) - 1) * lh // 2 + big.px // 2
    colour = _mix(look.light, np.full(3, 255.0, np.float32), 0.5)
    for line in lines:
        _put(cv.img, line, (cv.x(0.5) - big.width(line) // 2, y), big, colour)
        y += lh


def _finish(cv: _Canvas, look: _Look, plan: _Plan, rng: np.random.Generator) -> None:
    """Exposure, contrast, vignette and (for paper styles) a soft wash texture."""
    img = cv.img.astype(np.float32)
    gain = look.exposure * plan.dim
    if look.contrast != 1.0 or gain != 1.0:
        img = (img - 128.0) * look.contrast + 128.0
        img *= gain
    small = np.zeros((36, 64), np.float32)
    yy, xx = np.mgrid[0:36, 0:64]
    d = ((xx - 31.5) / 32) ** 2 + ((yy - 17.5) / 18) ** 2
    small[:] = 1.0 - look.vignette * np.clip(d - 0.25, 0, 1.5) / 1.5
    if look.paper:
        small *= 1.0 + rng.normal(0, 0.035, small.shape).astype(np.float32)
    vig = cv2.resize(small, (cv.w, cv.h), interpolation=cv2.INTER_CUBIC)
    img *= vig[..., None]
    cv.img[:] = np.clip(img, 0, 255).astype(np.uint8)


# =========================================================================== compose


@dataclass(frozen=True)
class _Layout:
    width: int
    height: int
    band: int

    @property
    def picture(self) -> tuple[int, int]:
        return self.width, self.height - self.band


def _layout(width: int, height: int) -> _Layout:
    # yuv420p needs even sizes: frames are drawn at the even size below the requested one.
    w, h = max(64, width - width % 2), max(64, height - height % 2)
    return _Layout(w, h, max(24, round(h * BAND)))


def _type(height: int) -> dict[str, _Font]:
    body = max(9.0, 0.0185 * height)
    return {
        "body": _font(body),
        "small": _font(max(8.0, body * 0.85), cv2.FONT_HERSHEY_DUPLEX),
        "label": _font(max(8.0, body * 0.9)),
        "id": _font(max(12.0, body * 1.55), cv2.FONT_HERSHEY_TRIPLEX),
        "italic": _Font(cv2.FONT_HERSHEY_SIMPLEX | cv2.FONT_ITALIC, _font(body).scale, _font(body).thickness),
    }


def compose_canvas(spec: RenderSpec, which: Which, layout: _Layout | None = None) -> np.ndarray:
    """The picture canvas (CANVAS_MARGIN x the picture area) of the start or end state."""
    layout = layout or _layout(spec.width, spec.height)
    plan = _plan(spec, which)
    return _draw_plan(plan, spec, which, layout)


def _draw_plan(plan: _Plan, spec: RenderSpec, which: Which, layout: _Layout) -> np.ndarray:
    style = spec.style
    look = _look(style.palette if style else (), style.lighting if style else "",
                 style.grain if style else "", plan.tod, plan.interior)
    cv = _Canvas(layout.picture)
    fonts = _type(layout.height)
    backdrop_rng = np.random.default_rng([spec.seed, _stable("backdrop", *plan.seed_key) % 2**32])
    shot_rng = np.random.default_rng([spec.seed, _stable("shot", spec.shot.id if spec.shot else spec.kind, which) % 2**32])
    if plan.framing.drawn == "title":
        _draw_title(cv, plan, look, fonts["body"])
        return cv.img
    if plan.framing.drawn == "insert":
        _draw_insert(cv, plan, look, backdrop_rng, fonts["body"])
        if plan.rain and not plan.interior:
            _rain(cv.img, (0, 0, cv.w, cv.h), look, shot_rng, density=0.6)
        _finish(cv, look, plan, shot_rng)
        return cv.img
    lights = _draw_backdrop(cv, plan, look, backdrop_rng)
    _glow(cv, lights)
    light_dir = -1 if plan.vp > 0.5 else 1
    if lights:
        light_dir = 1 if lights[0][0] < cv.x(0.5) else -1
        light_dir = -light_dir  # the rim shows on the side facing the light
    # Shallow focus: what stands behind the primaries is blurred with the set; with no
    # primary in the shot, whoever is there is the subject and stays sharp.
    has_primary = any(f.prominence == "primary" for f in plan.figures)
    behind = sorted((f for f in plan.figures if f.prominence not in ("primary", "over")), key=lambda f: f.depth)
    for fig in behind if has_primary else ():
        _draw_figure(cv, fig, look, light_dir, shot_rng)
    if plan.dof:
        cv.img[:] = cv2.GaussianBlur(cv.img, (0, 0), plan.dof * cv.h)
    for fig in (f for f in plan.figures if f.prominence == "primary") if has_primary else behind:
        _draw_figure(cv, fig, look, light_dir, shot_rng)
    for fig in (f for f in plan.figures if f.prominence == "over"):
        _draw_figure(cv, fig, look, light_dir, shot_rng, blur=1.0)
    if plan.rain and not plan.interior:
        rain_rng = np.random.default_rng([spec.seed, _stable("rain", spec.shot.id if spec.shot else "", which) % 2**32])
        _rain(cv.img, (0, 0, cv.w, cv.h), look, rain_rng, density=1.0, length=0.05)
    _finish(cv, look, plan, shot_rng)
    for fig in plan.figures:
        if fig.label:
            _draw_label(cv.img, fig, cv, fonts["label"])
    return cv.img


# =========================================================================== the burn-ins


def timecode(seconds: float, fps: int) -> str:
    """HH:MM:SS:FF of ``seconds`` at ``fps`` (non-drop frame)."""
    total = max(0, round(seconds * fps))
    ff = total % fps
    s = total // fps
    return f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}:{ff:02d}"


def _dialogue_lines(dialogue: str) -> list[tuple[str, str]]:
    out = []
    for line in dialogue.splitlines():
        line = _ascii(line)
        if not line:
            continue
        m = re.match(r"^([A-Z0-9][A-Z0-9 .'\-]*?(?: \([^)]*\))?):\s*(.*)$", line)
        out.append((m[1], m[2]) if m else ("", line))
    return out


class _Hud:
    """The caption strip and the chips, drawn once per shot; ``apply`` stamps a frame."""

    def __init__(self, spec: RenderSpec, layout: _Layout, which: Which | None) -> None:
        self.layout = layout
        self.fps = spec.fps
        self.start_frame = round(spec.start_s * spec.fps)
        self.fonts = fonts = _type(layout.height)
        w, h, band = layout.width, layout.height, layout.band
        pad = max(6, round(h * 0.018))
        self.pad = pad
        shot = spec.shot
        known = {c.name.strip().upper(): c for c in spec.characters}
        accent = _lighten_for_text(_palette(spec.style.palette if spec.style else ())[-1])
        # --- caption strip
        strip = np.full((band, w, 3), 14, np.uint8)
        cv2.line(strip, (0, 0), (w, 0), _c(_palette(spec.style.palette if spec.style else ())[len(_palette(spec.style.palette if spec.style else ())) // 2]), 2)
        body, small, italic = fonts["body"], fonts["small"], fonts["italic"]
        lh = round(body.px * 1.75)
        y = pad + small.px
        heading = _ascii(spec.scene_heading or (shot.setting if shot else "")) or _ascii(spec.location)
        duration = spec.duration_s or (shot.duration_s if shot else 0.0)
        right = f"{duration:.1f} s" + ("  |  start frame only" if shot and shot.start_frame_only else "")
        rw = small.width(right)
        _put(strip, _fit(heading.upper(), small, w - 3 * pad - rw), (pad, y), small, (150, 150, 150))
        _put(strip, right, (w - pad - rw, y), small, (150, 150, 150))
        y += round(lh * 1.05)
        max_lines = max(1, (band - y - pad // 2) // lh + 1)
        dialogue = _dialogue_lines(shot.dialogue if shot else "")
        action = shot.action if shot else ""
        action_lines = max_lines - min(len(dialogue), max_lines // 2 + (0 if action else max_lines))
        if not dialogue:
            action_lines = max_lines
        text_w = w - 2 * pad
        used = 0
        if action:
            for line in wrap_text(action, body, text_w, max(1, action_lines)):
                _put(strip, line, (pad, y), body, (205, 205, 205))
                y += lh
                used += 1
        for i, (name, line) in enumerate(dialogue):
            if used >= max_lines:
                break
            remaining = max_lines - used
            x = pad
            if name:
                speaker = name.split(" (")[0].strip()
                colour = _lighten_for_text(_hex_bgr(known[speaker].colour) if speaker in known and known[speaker].colour.lower() != UNSET_COLOUR else _hex_bgr(character_colour(speaker)))
                x = _put(strip, name + ": ", (x, y), fonts["small"], colour)
            last_lines = 1 if len(dialogue) - i > 1 and remaining > 1 else remaining
            wrapped = wrap_text(f'"{line}"' if name else line, italic, w - pad - x, last_lines)
            for j, part in enumerate(wrapped):
                _put(strip, part, (x if j == 0 else pad + small.width("MM "), y), italic, (245, 245, 245))
                y += lh
                used += 1
        self.strip = strip
        # --- chips: shot id + camera/movement (left), timecode (right)
        idf = fonts["id"]
        sid = _ascii(shot.id if shot else (spec.shot_id or spec.kind.upper()))
        cam = _ascii(shot.camera if shot else "") or "-"
        move = shot.movement if shot else "static"
        info = f"{cam.upper()}  |  {move.upper()}"
        tag = (which or "").upper()
        chip_h = idf.px + 2 * pad
        width = pad + idf.width(sid) + pad + body.width(info) + pad
        if tag:
            width += small.width(tag) + 2 * pad
        width = min(width, w // 2 + w // 4)
        chip = np.full((chip_h, width, 3), 14, np.uint8)
        x = _put(chip, sid, (pad, pad + idf.px), idf, (255, 255, 255)) + pad
        x = _put(chip, _fit(info, body, width - x - pad - (small.width(tag) + 2 * pad if tag else 0)),
                 (x, pad + idf.px - (idf.px - body.px) // 2), body, (200, 200, 200)) + pad
        if tag:
            cv2.rectangle(chip, (x, pad // 2), (x + small.width(tag) + pad, chip_h - pad // 2), _c(_mix(accent, np.zeros(3, np.float32), 0.55)), -1)
            _put(chip, tag, (x + pad // 2, pad + idf.px - (idf.px - small.px) // 2), small, (255, 255, 255))
        self.chip = chip
        self.chip_at = (pad, pad)
        tcf = fonts["body"]
        self.tc_font = tcf
        tc_w = tcf.width("TC 00:00:00:00") + 2 * pad
        self.tc_box = np.full((chip_h, tc_w, 3), 14, np.uint8)
        self.tc_at = (w - pad - tc_w, pad)
        self.tc_base = pad + idf.px - (idf.px - tcf.px) // 2

    def apply(self, frame: np.ndarray, frame_index: int, *, strip: bool = True) -> None:
        """Stamp the strip (unless it is already there), the chips and the timecode."""
        lay = self.layout
        if strip:
            frame[lay.height - lay.band :] = self.strip
        x, y = self.chip_at
        ch, cw = self.chip.shape[:2]
        frame[y : y + ch, x : x + cw] = self.chip
        tx, ty = self.tc_at
        th, tw = self.tc_box.shape[:2]
        roi = frame[ty : ty + th, tx : tx + tw]
        roi[:] = self.tc_box
        total = self.start_frame + frame_index
        text = "TC " + timecode(total / self.fps, self.fps)
        _put(roi, text, (self.pad, self.tc_base), self.tc_font, (120, 230, 255))


# =========================================================================== panels and clips


def _duration(spec: RenderSpec) -> float:
    if spec.duration_s > 0:
        return spec.duration_s
    return spec.shot.duration_s if spec.shot is not None else 8.0


def _path_for(spec: RenderSpec, plan: _Plan, n_frames: int | None = None) -> list[Affine]:
    shot = spec.shot
    movement = shot.movement if shot else "static"
    primary = next((f for f in plan.figures if f.prominence == "primary"), plan.figures[0] if plan.figures else None)
    target = (0.5, 0.45)
    if primary is not None:
        # a dolly heads for the faces of the primaries (between them in a two-shot)
        primaries = [f for f in plan.figures if f.prominence == "primary"] or [primary]
        u = sum(f.u for f in primaries) / len(primaries)
        b = primary.height
        target = (min(0.8, max(0.2, u)), min(0.75, max(0.25, primary.feet - b + 0.08 * b)))
    direction = _track_direction(plan, _words(shot.action if shot else ""))
    roll = 6.0 if plan.framing.drawn_angle == "dutch" else 0.0
    return camera_path(movement, _duration(spec), spec.fps, target=target, direction=direction, roll=roll)


@dataclass
class _ShotRender:
    """Everything a shot's frames are made from, computed once."""

    spec: RenderSpec
    layout: _Layout
    path: list[Affine]
    start: np.ndarray  # canvas
    end: np.ndarray  # canvas
    hud: _Hud
    reference: np.ndarray | None = None  # the previous shot's last picture (picture size)
    own_anchors: bool = True
    matrices: list[np.ndarray] = field(default_factory=list)

    @classmethod
    def build(cls, spec: RenderSpec, roots: Sequence[Path] | None = None) -> _ShotRender:
        layout = _layout(spec.width, spec.height)
        plan_start = _plan(spec, "start")
        start = _draw_plan(plan_start, spec, "start", layout)
        end = start if (spec.shot and spec.shot.start_frame_only) else compose_canvas(spec, "end", layout)
        path = _path_for(spec, plan_start)
        hud = _Hud(spec, layout, None)
        shot = cls(spec, layout, path, start, end, hud)
        canvas_size = (start.shape[1], start.shape[0])
        shot.matrices = [a.matrix(canvas_size, layout.picture) for a in path]
        shot._use_anchors(roots)
        ref = spec.inputs.get("reference")
        if ref:
            shot.reference = _picture_from_file(ref, layout, roots)
        return shot

    def _use_anchors(self, roots: Sequence[Path] | None) -> None:
        """Approved anchor frames given as inputs replace our canvases unless they are ours."""
        for role in ("start_frame", "end_frame"):
            path = self.spec.inputs.get(role)
            if not path:
                continue
            which: Which = "start" if role == "start_frame" else "end"
            ours = self.panel(which)
            image = _read_image(path, roots)
            if image.shape == ours.shape and np.array_equal(image, ours):
                continue
            picture = _picture_from_image(image, self.layout)
            canvas = cv2.resize(picture, (self.start.shape[1], self.start.shape[0]), interpolation=cv2.INTER_CUBIC)
            self.own_anchors = False
            if which == "start":
                self.start = canvas
                if self.spec.shot and self.spec.shot.start_frame_only:
                    self.end = canvas
            else:
                self.end = canvas

    @property
    def n_frames(self) -> int:
        return len(self.path)

    def alpha(self, i: int) -> float:
        """How far frame ``i`` has dissolved from the start towards the end picture."""
        if self.end is self.start or self.n_frames < 2:
            return 0.0
        t = i / (self.n_frames - 1)
        return _ease((t - 0.35) / 0.3)

    def panel(self, which: Which) -> np.ndarray:
        """The start or end panel: the first/last camera pose on that canvas, with burn-ins."""
        lay = self.layout
        frame = np.empty((lay.height, lay.width, 3), np.uint8)
        canvas = self.start if which == "start" else self.end
        m = self.matrices[0] if which == "start" else self.matrices[-1]
        cv2.warpAffine(canvas, m, lay.picture, dst=frame[: lay.height - lay.band],
                       flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        hud = _Hud(self.spec, lay, which)
        hud.apply(frame, 0 if which == "start" else self.n_frames - 1)
        return frame

    def frames(self) -> Iterator[np.ndarray]:
        """Every frame of the clip. The same buffer is yielded each time: copy to keep."""
        lay = self.layout
        pic_h = lay.height - lay.band
        frame = np.empty((lay.height, lay.width, 3), np.uint8)
        frame[pic_h:] = self.hud.strip
        pic = frame[:pic_h]
        a_buf = np.empty_like(pic)
        b_buf = np.empty_like(pic)
        mixed: np.ndarray | None = None
        last_m: bytes | None = None
        last_alpha = -1.0
        have = {"a": False, "b": False}
        blend_frames = min(12, self.n_frames // 4) if self.reference is not None else 0
        warp = {"flags": cv2.INTER_LINEAR, "borderMode": cv2.BORDER_REPLICATE}
        for i, m in enumerate(self.matrices):
            key = m.tobytes()
            alpha = self.alpha(i)
            moved = key != last_m
            if moved:
                have = {"a": False, "b": False}
            if not (moved or alpha != last_alpha or i <= blend_frames):
                pass  # the picture is unchanged: only the timecode moves on
            elif 0.0 < alpha < 1.0 and moved:
                # a moving camera mid-dissolve: blend the canvases, then one warp (not two)
                if mixed is None:
                    mixed = np.empty_like(self.start)
                cv2.addWeighted(self.start, 1.0 - alpha, self.end, alpha, 0.0, dst=mixed)
                cv2.warpAffine(mixed, m, lay.picture, dst=pic, **warp)
            else:
                if alpha < 1.0 and not have["a"]:
                    cv2.warpAffine(self.start, m, lay.picture, dst=a_buf, **warp)
                    have["a"] = True
                if alpha > 0.0 and not have["b"]:
                    cv2.warpAffine(self.end, m, lay.picture, dst=b_buf, **warp)
                    have["b"] = True
                if alpha <= 0.0:
                    pic[:] = a_buf
                elif alpha >= 1.0:
                    pic[:] = b_buf
                else:
                    cv2.addWeighted(a_buf, 1.0 - alpha, b_buf, alpha, 0.0, dst=pic)
            if i < blend_frames and self.reference is not None:
                k = _ease(i / blend_frames)
                cv2.addWeighted(self.reference, 1.0 - k, pic, k, 0.0, dst=pic)
            last_m, last_alpha = key, alpha
            self.hud.apply(frame, i, strip=False)
            yield frame


def _read_image(path: str | Path, roots: Sequence[Path] | None) -> np.ndarray:
    real, _ = check_input(path, roots, kinds=_IMAGE_KINDS)
    data = np.fromfile(real, np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if image is None:
        raise RenderFailed(f"could not decode the image {Path(path).name}", "validation")
    return image


def _picture_from_image(image: np.ndarray, layout: _Layout) -> np.ndarray:
    """The picture area of an input frame: ours (same layout: drop the strip) or any other
    image cover-fitted into the picture."""
    pw, ph = layout.picture
    if image.shape[:2] == (layout.height, layout.width):
        return np.ascontiguousarray(image[:ph])
    h, w = image.shape[:2]
    scale = max(pw / w, ph / h)
    resized = cv2.resize(image, (max(pw, round(w * scale)), max(ph, round(h * scale))), interpolation=cv2.INTER_AREA)
    y0 = (resized.shape[0] - ph) // 2
    x0 = (resized.shape[1] - pw) // 2
    return np.ascontiguousarray(resized[y0 : y0 + ph, x0 : x0 + pw])


def _picture_from_file(path: str | Path, layout: _Layout, roots: Sequence[Path] | None) -> np.ndarray:
    return _picture_from_image(_read_image(path, roots), layout)


MIN_VISIBLE = 0.5  # share of a figure's box inside the picture for it to count as seen
MIN_AREA = 0.01  # share of the picture a figure's visible box must cover


def panel_figures(spec: RenderSpec, which: Which = "start") -> dict[str, list[float]]:
    """Where each character stands in the start or end panel: upper-cased name ->
    [x0, y0, x1, y1] as fractions of the whole frame (burn-in band included), for the
    figures facing the camera that are visible enough to be recognised. Geometry only: no
    pixels are drawn. Recorded in the frame's PNG (``studio.pngmeta``) for QA's identity check."""
    layout = _layout(spec.width, spec.height)
    plan = _plan(spec, which)
    if plan.framing.drawn in ("title", "insert") or not plan.figures:
        return {}
    cv = _Canvas(layout.picture, draw=False)
    path = _path_for(spec, _plan(spec, "start") if which == "end" else plan)
    pose = path[0] if which == "start" else path[-1]
    m = pose.matrix((cv.w, cv.h), layout.picture)
    pw, ph = layout.picture
    out: dict[str, list[float]] = {}
    has_primary = any(f.prominence == "primary" for f in plan.figures)
    for fig in plan.figures:
        if fig.back or fig.prominence == "over":
            continue  # seen from behind, or the blurred shoulder of an over-the-shoulder
        if has_primary and plan.dof and fig.prominence != "primary":
            continue  # out of focus behind the subject (see _draw_plan)
        x0, y0, x1, y1 = _figure_box(fig, cv)
        corners = np.array([[x0, y0], [x1, y0], [x0, y1], [x1, y1]]) @ m[:, :2].T + m[:, 2]
        (bx0, by0), (bx1, by1) = corners.min(0), corners.max(0)
        full = max(1e-6, (bx1 - bx0) * (by1 - by0))
        cx0, cy0, cx1, cy1 = max(0.0, bx0), max(0.0, by0), min(float(pw), bx1), min(float(ph), by1)
        seen = max(0.0, cx1 - cx0) * max(0.0, cy1 - cy0)
        if seen / full < MIN_VISIBLE or seen / (pw * ph) < MIN_AREA:
            continue
        out[fig.name] = [cx0 / layout.width, cy0 / layout.height, cx1 / layout.width, cy1 / layout.height]
    return out


def draw_panel(spec: RenderSpec, which: Which = "start") -> np.ndarray:
    """A storyboard panel (H x W x 3 uint8 BGR): the start frame, or the end frame — the
    state at the end of the shot, figures moved along the action and the camera move done."""
    layout = _layout(spec.width, spec.height)
    plan = _plan(spec, which)
    canvas = _draw_plan(plan, spec, which, layout)
    path = _path_for(spec, _plan(spec, "start") if which == "end" else plan)
    pose = path[0] if which == "start" else path[-1]
    frame = np.empty((layout.height, layout.width, 3), np.uint8)
    m = pose.matrix((canvas.shape[1], canvas.shape[0]), layout.picture)
    cv2.warpAffine(canvas, m, layout.picture, dst=frame[: layout.height - layout.band],
                   flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    _Hud(spec, layout, which).apply(frame, 0 if which == "start" else len(path) - 1)
    return frame


def encode_png(image: np.ndarray, figures: dict[str, list[float]] | None = None) -> bytes:
    """PNG bytes; ``figures`` (name -> fractional box) is recorded in the file when given."""
    ok, data = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, 3])
    if not ok:
        raise RenderFailed("could not encode a PNG", "error")
    return with_figures(data.tobytes(), figures) if figures else data.tobytes()


def clip_frames(spec: RenderSpec, roots: Sequence[Path] | None = None) -> Iterator[np.ndarray]:
    """The frames of a shot's clip (one reused buffer: copy what you keep)."""
    return _ShotRender.build(spec, roots).frames()


class _Throttle:
    def __init__(self, every_s: float) -> None:
        self.every = every_s
        self.last = 0.0

    def due(self) -> bool:
        now = time.monotonic()
        if now - self.last >= self.every:
            self.last = now
            return True
        return False


def render_clip(
    spec: RenderSpec,
    out: Path,
    progress: ProgressFn | None = None,
    cancelled: CancelledFn | None = None,
    roots: Sequence[Path] | None = None,
) -> tuple[Path, _ShotRender]:
    """Encode a shot's clip to ``out`` (H.264, yuv420p, the spec's size and fps).

    Frames are written from this thread: a writer thread was measured slower on two cores,
    where libx264 already keeps both busy.
    """
    shot = _ShotRender.build(spec, roots)
    lay = shot.layout
    total = shot.n_frames
    enc = RawEncoder(out, lay.width, lay.height, spec.fps)
    check = _Throttle(0.05)
    report = _Throttle(0.25)
    try:
        for i, frame in enumerate(shot.frames()):
            if cancelled is not None and check.due() and cancelled():
                raise RenderFailed("cancelled", "cancelled")
            enc.write(frame)
            if progress is not None and report.due():
                progress(0.1 + 0.85 * (i + 1) / total, f"frame {i + 1}/{total}")
        if cancelled is not None and cancelled():
            raise RenderFailed("cancelled", "cancelled")
        enc.close()
    except BaseException:
        enc.kill()
        raise
    return out, shot


# =========================================================================== backend


def _versions() -> dict[str, str]:
    return {"animatic": ANIMATIC_VERSION, "numpy": np.__version__, "opencv": cv2.__version__,
            "ffmpeg": ffmpeg_version()}


def _recipe_hash() -> str:
    return hashlib.sha256(f"{ANIMATIC_VERSION}|{cv2.__version__}|{np.__version__}".encode()).hexdigest()[:16]


def _safe_stem(text: str) -> str:
    return slugify(text, 40) if not re.fullmatch(r"[0-9]+[A-Z]+", text or "") else text


class AnimaticBackend:
    """The embedded CPU renderer: frames, clips, asset cards and scene assembly.

    ``roots``: the folders input files (reference / anchor frames, clips to assemble) must
    lie in; None accepts any plain media file (the other input checks still apply).
    """

    name = "animatic"

    def __init__(self, roots: Sequence[Path | str] | None = None, *, timeout_s: float = 600.0) -> None:
        self.roots = [Path(r) for r in roots] if roots is not None else None
        self.timeout_s = timeout_s

    def run(self, spec: RenderSpec, out_dir: Path, progress: ProgressFn, cancelled: CancelledFn) -> RenderOutput:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        try:
            if spec.kind == "frame":
                files = self._frame(spec, out_dir, progress)
            elif spec.kind == "clip":
                files = self._clip(spec, out_dir, progress, cancelled)
            elif spec.kind == "card":
                files = self._card(spec, out_dir)
            elif spec.kind == "assemble":
                files = self._assemble(spec, out_dir, progress)
            else:  # pragma: no cover - RenderKind is a Literal
                raise RenderFailed(f"the animatic cannot render {spec.kind!r}", "validation")
        except OSError as exc:
            if exc.errno == 28:
                raise RenderFailed("disk full: free some space and retry", "disk") from None
            raise RenderFailed(f"could not write the output: {exc.strerror or exc}", "io") from None
        progress(1.0, "done")
        return RenderOutput(files=tuple(files), models=(ANIMATIC_VERSION,),
                            workflow_hash=_recipe_hash(), peak_vram_mb=None, versions=_versions())

    def _stem(self, spec: RenderSpec) -> str:
        return _safe_stem(spec.shot_id or (spec.shot.id if spec.shot else "") or "panel")

    def _frame(self, spec: RenderSpec, out_dir: Path, progress: ProgressFn) -> list[Path]:
        which: Which = spec.which or "start"
        progress(0.1, f"drawing the {which} frame")
        figures = panel_figures(spec, which)
        if spec.region_prompt and spec.inputs.get("mask"):
            image = _region_edit(spec, which, self.roots)
            base = spec.inputs.get(f"{which}_frame")
            if base:  # the edit keeps the base frame's figures, whoever drew it
                figures = dict(read_figures(check_input(base, self.roots)[0].read_bytes()))
        else:
            image = draw_panel(spec, which)
        path = out_dir / f"{self._stem(spec)}_{which}.png"
        path.write_bytes(encode_png(image, figures))
        return [path]

    def _clip(self, spec: RenderSpec, out_dir: Path, progress: ProgressFn, cancelled: CancelledFn) -> list[Path]:
        stem = self._stem(spec)
        progress(0.02, "drawing the panels")
        out, shot = render_clip(spec, out_dir / f"{stem}.mp4", progress, cancelled, self.roots)
        files = [out]
        if "start_frame" not in spec.inputs:
            p = out_dir / f"{stem}_start.png"
            p.write_bytes(encode_png(shot.panel("start"), panel_figures(spec, "start")))
            files.append(p)
        if "end_frame" not in spec.inputs and not (spec.shot and spec.shot.start_frame_only):
            p = out_dir / f"{stem}_end.png"
            p.write_bytes(encode_png(shot.panel("end"), panel_figures(spec, "end")))
            files.append(p)
        return files

    def _card(self, spec: RenderSpec, out_dir: Path) -> list[Path]:
        kind = spec.prompts.get("card_kind") or ("character" if spec.characters else "location" if spec.location else "prop")
        title = spec.prompts.get("title") or (spec.characters[0].name if spec.characters and kind == "character" else spec.location) or "asset"
        extra = {"int_ext": spec.int_ext, "time_of_day": spec.time_of_day}
        if spec.characters and kind == "character":
            extra["colour"] = spec.characters[0].colour
            extra["condition_tags"] = ",".join(spec.characters[0].condition_tags)
        frame_spec = FrameSpec(
            kind=kind if kind in ("character", "location", "prop", "panel") else "panel",  # type: ignore[arg-type]
            title=title, prompt=spec.prompts.get("prompt", spec.prompts.get("description", "")),
            width=spec.width, height=spec.height, seed=spec.seed,
            palette=spec.style.palette if spec.style else (), extra=extra,
        )
        path = out_dir / f"card_{slugify(title, 40)}.png"
        path.write_bytes(AnimaticCardRenderer().render_frame(frame_spec))
        return [path]

    def _assemble(self, spec: RenderSpec, out_dir: Path, progress: ProgressFn) -> list[Path]:
        clips = sorted(
            ((int(k.split("_", 1)[1]), v) for k, v in spec.inputs.items() if re.fullmatch(r"clip_\d+", k)),
        )
        if not clips:
            raise RenderFailed("nothing to assemble: the scene has no clips", "validation")
        progress(0.1, f"joining {len(clips)} clips")
        result = concat([p for _, p in clips], out_dir / f"{slugify(spec.scene_id, 40)}.mp4",
                        roots=self.roots, timeout=self.timeout_s)
        return [result.path]


def _region_edit(spec: RenderSpec, which: Which, roots: Sequence[Path] | None) -> np.ndarray:
    """A region edit on the animatic: inside the mask the panel is redrawn with another seed
    and the region prompt is written there, so the edit is visible and reproducible."""
    base_path = spec.inputs.get(f"{which}_frame")
    base = _read_image(base_path, roots) if base_path else draw_panel(spec, which)
    lay = _layout(spec.width, spec.height)
    base = cv2.resize(base, (lay.width, lay.height)) if base.shape[:2] != (lay.height, lay.width) else base
    mask = _read_image(spec.inputs["mask"], roots)
    mask = cv2.resize(cv2.cvtColor(mask, cv2.COLOR_BGR2GRAY), (lay.width, lay.height), interpolation=cv2.INTER_NEAREST)
    alt = draw_panel(spec.model_copy(update={"seed": (spec.seed + 7919) % 2**31}), which)
    a = (cv2.GaussianBlur(mask, (0, 0), 2).astype(np.float32) / 255.0)[..., None]
    out = (base.astype(np.float32) * (1 - a) + alt.astype(np.float32) * a).astype(np.uint8)
    ys, xs = np.nonzero(mask > 127)
    if len(xs):
        font = _type(lay.height)["label"]
        text = _fit("EDIT: " + _ascii(spec.region_prompt or ""), font, max(40, int(xs.max() - xs.min())))
        x0, y0 = int(xs.min()), int(max(ys.min() + font.px + 6, font.px + 6))
        cv2.rectangle(out, (x0, y0 - font.px - 6), (x0 + font.width(text) + 8, y0 + 4), (18, 18, 18), -1)
        _put(out, text, (x0 + 4, y0), font, (120, 230, 255))
    return out


# =========================================================================== asset cards


class AnimaticCardRenderer:
    """``FrameRenderer`` for asset image keys: a character figure card in its colour with its
    condition tags, a location backdrop card, a prop object card; panels for anything else.

    ``FrameSpec.extra`` may carry ``colour`` (hex), ``condition_tags`` (comma separated),
    ``int_ext`` and ``time_of_day``.
    """

    def render_frame(self, spec: FrameSpec) -> bytes:
        return encode_png(self.draw(spec), self.figures(spec))

    def figures(self, spec: FrameSpec) -> dict[str, list[float]]:
        """A character card's figure box (fractions of the card), as ``panel_figures``."""
        if spec.kind != "character":
            return {}
        w, h = max(64, spec.width), max(64, spec.height)
        cv = _Canvas((w, h - self._band(h)), margin=1.0, draw=False)
        x0, y0, x1, y1 = _figure_box(self._card_figure(spec, (), np.zeros(3)), cv)
        return {spec.title.strip().upper(): [max(0.0, x0) / w, max(0.0, y0) / h, min(w, x1) / w, min(cv.h, y1) / h]}

    @staticmethod
    def _band(h: int) -> int:
        big = _font(max(10.0, h * 0.045), cv2.FONT_HERSHEY_DUPLEX, bold=True)
        small = _font(max(8.0, h * 0.024))
        pad = max(6, round(h * 0.03))
        return min(h // 2, pad * 2 + big.px + round(small.px * 2.0) + 2 * round(small.px * 1.8) + small.px // 2)

    @staticmethod
    def _card_figure(spec: FrameSpec, tags: Sequence[str], colour: np.ndarray) -> _Figure:
        hsh = _stable("figure", spec.title.strip().upper())
        return _Figure(name=spec.title.strip().upper(), colour=colour, prominence="primary", tags=tuple(tags),
                       u=0.5, feet=0.94, height=0.86, facing=0, hair=hsh % 4, build=0.92 + (hsh >> 8) % 17 / 100.0)

    def draw(self, spec: FrameSpec) -> np.ndarray:
        w, h = max(64, spec.width), max(64, spec.height)
        title = _ascii(spec.title) or spec.kind.upper()
        description = spec.prompt.split(" | ")[0]
        words = _words(spec.title, spec.prompt, spec.extra.get("int_ext", ""), spec.extra.get("time_of_day", ""))
        tod = "night" if " night" in words else "dusk" if re.search(r"\b(dusk|sunset|evening)\b", words) else "day"
        if spec.extra.get("time_of_day"):
            tod = _time_of_day(RenderSpec(kind="card", project_id="x", scene_id="x", seed=0, time_of_day=spec.extra["time_of_day"]))
        int_ext = spec.extra.get("int_ext", "").upper()
        interior = int_ext.startswith("INT") or (not int_ext.startswith("EXT") and bool(
            re.search(r"\b(shop|room|kitchen|office|house|flat|apartment|bar|cafe|hall|studio|inside|interior|bedroom|church)\b", words)))
        big = _font(max(10.0, h * 0.045), cv2.FONT_HERSHEY_DUPLEX, bold=True)
        small = _font(max(8.0, h * 0.024))
        pad = max(6, round(h * 0.03))
        band = self._band(h)  # title, kind and two lines of description
        look = _look(spec.palette, "", "", tod if spec.kind == "location" else "day", interior)
        fonts = _type(max(h, 360))
        frame = np.full((h, w, 3), 14, np.uint8)
        cv = _Canvas((w, h - band), margin=1.0)
        rng = np.random.default_rng([spec.seed, _stable("card", spec.kind, spec.title) % 2**32])
        tags = [t.strip() for t in spec.extra.get("condition_tags", "").split(",") if t.strip()]
        plan = _Plan(framing=Framing("ws"), interior=interior, tod=tod, place=words,
                     rain=bool(_RAIN_RE.search(words)) and spec.kind == "location", horizon=0.62,
                     vp=0.5, figures=[], seed_key=("card", spec.title))
        if spec.kind == "location":
            plan = replace(plan, framing=Framing("ews"), wall_scale=0.8, horizon=0.5)
            lights = _draw_backdrop(cv, plan, look, rng)
            _glow(cv, lights)
            if plan.rain and not interior:
                _rain(cv.img, (0, 0, cv.w, cv.h), look, rng)
            _finish(cv, look, plan, rng)
        elif spec.kind == "character":
            cv.img[:] = _gradient(cv.h, cv.w, _mix(look.light, look.mid, 0.3), _mix(look.mid, look.deep, 0.5)).astype(np.uint8)
            cv2.ellipse(cv.img, (cv.x(0.5), cv.y(0.93)), (int(cv.w * 0.22), int(cv.h * 0.03)), 0, 0, 360,
                        _c(_mix(look.mid, look.dark, 0.5)), -1, cv2.LINE_AA)
            colour = _hex_bgr(spec.extra["colour"]) if re.fullmatch(r"#[0-9a-fA-F]{6}", spec.extra.get("colour", "")) and spec.extra["colour"].lower() != UNSET_COLOUR else _hex_bgr(character_colour(spec.title))
            fig = self._card_figure(spec, tags, colour)
            _draw_figure(cv, fig, look, 1, rng)
            _finish(cv, replace(look, vignette=0.25, exposure=1.0, contrast=1.0), plan, rng)
        elif spec.kind == "prop":
            _draw_insert(cv, replace(plan, prop=title.upper()), look, rng, fonts["body"])
        else:
            cv.img[:] = _gradient(cv.h, cv.w, look.sky_top, look.ground_near).astype(np.uint8)
        frame[: h - band] = cv.img
        accent = colour if spec.kind == "character" else _palette(spec.palette)[len(_palette(spec.palette)) // 2]
        cv2.rectangle(frame, (0, h - band), (max(4, pad // 2), h), _c(accent), -1)
        y = h - band + pad + big.px
        _put(frame, _fit(title.upper(), big, w - 3 * pad), (pad + pad // 2, y), big, (245, 245, 245))
        kind_text = spec.kind.upper() + (f"  |  {', '.join(_ascii(t) for t in tags)}" if tags else "")
        y += round(small.px * 2.0)
        _put(frame, _fit(kind_text, small, w - 3 * pad), (pad + pad // 2, y), small, (150, 200, 235))
        for line in wrap_text(description, small, w - 3 * pad, max(0, (h - y - pad) // round(small.px * 1.8))):
            y += round(small.px * 1.8)
            _put(frame, line, (pad + pad // 2, y), small, (190, 190, 190))
        return frame


__all__ = [
    "ANIMATIC_VERSION", "Affine", "AnimaticBackend", "AnimaticCardRenderer", "Framing",
    "MOVEMENTS", "camera_path", "character_colour", "clip_frames", "compose_canvas",
    "draw_panel", "encode_png", "frame_count", "panel_figures", "parse_camera", "render_clip", "timecode",
    "wrap_text",
]
