"""Reading the shot and staging it: time of day, interior, rain and props from the
spec, then the plan (framing, who stands where, how big, what they do)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from render.animatic.colour import UNSET_COLOUR, _hex_bgr, _hue_shift, _stable, character_colour
from render.animatic.setting import Setting, read_setting
from render.animatic.text import _ascii
from studio.camera import Framing, parse_camera
from studio.caps import (
    CAPS_RUN,
    EMPHASIS,
    NOT_PROPS,
    SOUNDS,
    in_frame,
    mentions_name,
    off_screen_voices,
)
from studio.headings import light_of_day, split_heading
from studio.model import IntExt, RenderCharacter, RenderSpec

Which = Literal["start", "end"]


def _time_of_day(time_of_day: str, scene_heading: str = "") -> str:
    """night, dusk, dawn or day from a time of day, else from the heading's time part."""
    return light_of_day(time_of_day or split_heading(scene_heading)[2])


def _interior(spec: RenderSpec) -> bool:
    """Inside, from the spec's INT/EXT, else its heading's (no heading at all: inside)."""
    heading = spec.scene_heading or (spec.shot.setting if spec.shot else "")
    given = {kind.value: kind for kind in IntExt if kind.value}.get(spec.int_ext)
    int_ext = given or split_heading(heading)[0]
    if int_ext is IntExt.NONE:
        return not heading.strip()
    return int_ext is not IntExt.EXT


def _words(*texts: str) -> str:
    return " " + " ".join(_ascii(t).lower() for t in texts if t) + " "


_RAIN_RE = re.compile(r"\b(rain\w*|drizzl\w*|downpour|storm\w*|showers?|pour(s|ing)? down)\b")


def _frame_prompt(spec: RenderSpec) -> str:
    return " ".join(v for k, v in spec.prompts.items() if "frame" in k.lower())


_PROMPT_PARTS = re.compile(r"\b(Setting|Props):\s*(.*?)(?=\s+[A-Z][a-z]+:\s|$)", re.DOTALL)


def _scene_words(spec: RenderSpec) -> str:
    """The scene's own description the spec carries: a shot setting that is a spot rather
    than a heading ("the counter"), and the frame prompt's Setting and Props (the location's
    description from stage 5); a hand-written frame prompt is read whole; then the
    scene's action lines, so rain written once at the top of a scene falls in every shot."""
    shot = spec.shot
    parts = []
    if shot and shot.setting and split_heading(shot.setting)[0] is IntExt.NONE:
        parts.append(shot.setting)
    prompt = _frame_prompt(spec)
    found = _PROMPT_PARTS.findall(prompt)
    parts.extend(text for _, text in found) if found else parts.append(prompt)
    parts.append(spec.scene_action)
    return " ".join(p for p in parts if p)


def _setting(spec: RenderSpec) -> Setting:
    """Where the shot happens (render.animatic.setting): a shot setting written as a
    heading replaces the scene's heading, as in the prompts; the spec's time of day, when
    given, is the light."""
    shot = spec.shot
    heading, location = spec.scene_heading, spec.location
    own = split_heading(shot.setting) if shot and shot.setting else None
    if own is not None and own[0] is not IntExt.NONE and own[1]:
        heading, location = shot.setting, own[1]
    names = tuple(c.name.strip().upper() for c in spec.characters) + tuple(
        c.name.strip().upper() for c in (shot.characters if shot else ())
    )
    time_of_day = spec.time_of_day or split_heading(heading)[2]
    return read_setting(
        heading=heading or (shot.setting if shot else ""),
        location=location,
        time_of_day=time_of_day,
        interior=_interior(spec),
        scene_text=_scene_words(spec),
        action=shot.action if shot else "",
        names=names,
    )


def _raining(spec: RenderSpec) -> bool:
    shot = spec.shot
    text = _words(shot.action if shot else "", shot.setting if shot else "", _frame_prompt(spec))
    return bool(_RAIN_RE.search(text))


_PROP_ICONS = (
    "umbrella",
    "envelope",
    "letter",
    "ticket",
    "key",
    "phone",
    "photo",
    "book",
    "ring",
    "cup",
    "glass",
    "bottle",
    "knife",
    "gun",
    "card",
    "note",
    "map",
    "box",
)
_COLOUR_WORDS = {
    "red": "#c0392b",
    "crimson": "#a4161a",
    "blue": "#2e6fb0",
    "green": "#3c8d5a",
    "yellow": "#e8c547",
    "pink": "#e89bb0",
    "cream": "#efe3c4",
    "white": "#eeeeee",
    "black": "#262626",
    "grey": "#8a8a8a",
    "gray": "#8a8a8a",
    "brown": "#7a5230",
    "gold": "#c9a227",
    "brass": "#b8913a",
    "silver": "#b8bcc2",
    "orange": "#e07a2e",
}


def _prop_name(spec: RenderSpec, names: Sequence[str]) -> str:
    """The insert's object: an ALL-CAPS phrase of the action (the screenplay convention for
    props), else the first object word we can draw, else the first words of the action."""
    shot = spec.shot
    action = _ascii(shot.action if shot else "")
    upper_names = {n.upper() for n in names}
    for match in CAPS_RUN.finditer(action):  # the CAPS convention of studio.caps
        phrase = " ".join(match.group().split())
        words = phrase.split()
        if phrase in upper_names or len(re.sub(r"[^A-Z]", "", phrase)) < 3:
            continue
        if all(w in NOT_PROPS | EMPHASIS for w in words) or (len(words) == 1 and phrase in SOUNDS):
            continue
        return phrase
    lowered = _words(action, _frame_prompt(spec))
    for word in _PROP_ICONS:
        m = re.search(rf"\b((?:\w+ )?{word}s?)\b", lowered)
        if m:
            return m[1].upper() if m[1].split()[0] in _COLOUR_WORDS else word.upper()
    return "INSERT"


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
    setting: Setting | None = None


# (full body height in view heights, view y of the top of the head) for a primary figure
_FRAMING_SIZE = {
    "ews": (0.17, 0.69),
    "ws": (0.62, 0.30),
    "ms": (1.75, 0.13),
    "pov": (1.75, 0.13),
    "mcu": (2.3, 0.11),
    "cu": (3.0, 0.08),
    "bcu": (3.8, 0.01),
    "ecu": (4.6, -0.06),
    "ots": (2.0, 0.14),
    "two": (1.3, 0.16),
    "group": (1.15, 0.2),
    "insert": (1.75, 0.13),
    "title": (1.75, 0.13),
}
_DEPTH = {  # (secondary, background) size factors per framing
    "ews": (0.75, 0.5),
    "ws": (0.7, 0.42),
    "ms": (0.6, 0.34),
    "pov": (0.6, 0.34),
    "mcu": (0.5, 0.3),
    "cu": (0.45, 0.26),
    "bcu": (0.42, 0.24),
    "ecu": (0.4, 0.22),
    "ots": (0.5, 0.3),
    "two": (0.62, 0.36),
    "group": (0.7, 0.42),
}
_DOF = {
    "ms": 0.003,
    "pov": 0.003,
    "mcu": 0.006,
    "cu": 0.008,
    "bcu": 0.009,
    "ecu": 0.01,
    "ots": 0.007,
    "two": 0.002,
}
_WALL_SCALE = {
    "ews": 0.55,
    "ws": 0.75,
    "ms": 1.25,
    "pov": 1.25,
    "mcu": 1.5,
    "cu": 1.8,
    "bcu": 2.0,
    "ecu": 2.2,
    "ots": 1.5,
    "two": 1.2,
    "group": 1.0,
}
_WALK = re.compile(
    r"\b(walk\w*|cross\w*|approach\w*|step\w*|mov(es|ing)|carr(y|ies|ying)|drag\w*|"
    r"follow\w*|limp\w*|wander\w*|pac(es|ing)|strid\w*)\b"
)
_RUN = re.compile(r"\b(run|runs|running|ran|race\w*|hurr\w*|rush\w*|sprint\w*|flee\w*|dash\w*)\b")


_LEAVE = re.compile(r"\b(leav\w*|exit\w*|pulls? away|walks? away|goes out|drives? off)\b")
_ENTER = re.compile(r"\b(enter\w*|comes? in|arriv\w*|shove\w* in|steps? in|walks? in)\b")


_LOWER = re.compile(
    r"\b(sit\w*|sat|kneel\w*|knelt|crouch\w*|hunch\w*|bend\w*|bends|lean\w*|slump\w*|collaps\w*)\b"
)
_RISE = re.compile(r"\b(stand\w*|stood|rise\w*|rose|gets? up|climb\w*|jump\w*)\b")


_TURN = re.compile(r"\b(turn\w*|spin\w*|looks? back|whirl\w*)\b")
_LIGHTS_OFF = re.compile(
    r"\b(switch\w* off|turns? off|lights? (go|goes) out|blows? out|vanish\w* into the dark|"
    r"goes dark|plunged)\b"
)
_LIGHTS_ON = re.compile(
    r"\b(switch\w* on|turns? on|stutter\w* on|flicker\w* on|lights? up|come on|comes on|"
    r"strikes? a match)\b"
)
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
    return sorted(
        names,
        key=lambda n: (
            scene_order.index(n) if n in scene_order else len(scene_order) + list(names).index(n)
        ),
    )


def _colour_for(name: str, known: dict[str, RenderCharacter]) -> np.ndarray:
    info = known.get(name)
    chosen = (
        info.colour
        if info is not None and info.colour.lower() != UNSET_COLOUR
        else character_colour(name)
    )
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
    setting = _setting(spec)
    tod = setting.tod
    place = _words(
        spec.location, shot.setting if shot else "", spec.scene_heading, _frame_prompt(spec)
    )
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
        framing=framing,
        interior=interior,
        tod=tod,
        place=place,
        rain=setting.wet or _raining(spec),
        horizon=horizon,
        vp=0.5 + float(rng.uniform(-0.08, 0.08)),
        figures=[],
        dof=_DOF.get(kind, 0.0),
        # a corridor's far wall is small and far away: long side walls
        wall_scale=_WALL_SCALE.get(kind, 1.0) * (0.4 if setting.kind == "corridor" else 1.0),
        seed_key=(spec.seed, spec.scene_id, spec.location),
        setting=setting,
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
    heard = (
        {v for v in off_screen_voices(shot.dialogue) if not mentions_name(shot.action, v)}
        if shot
        else set()
    )
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
        plan.figures.append(
            _Figure(
                name=name,
                colour=colour,
                prominence=role,
                tags=tuple(known[name].condition_tags) if name in known else (),
                u=u,
                feet=feet,
                height=body * k,
                facing=facing,
                hair=h % 4,
                build=0.92 + (h >> 8) % 17 / 100.0,
                depth=k,
            )
        )
    if kind == "ots" and over:
        colour = _colour_for(over, known)
        h = _stable("figure", over)
        plan.figures.append(
            _Figure(
                name=over,
                colour=colour,
                prominence="over",
                tags=tuple(known[over].condition_tags) if over in known else (),
                u=0.1 if over_left else 0.9,
                feet=0.3 + 3.6,
                height=3.6,
                facing=1 if over_left else -1,
                hair=h % 4,
                build=1.0,
                back=True,
                depth=1.4,
            )
        )
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
