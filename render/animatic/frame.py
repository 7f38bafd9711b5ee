"""The frame layout (the picture over a caption strip) and composing a panel's canvas."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from render.animatic.colour import _look, _stable
from render.animatic.drawing import (
    _Canvas,
    _draw_figure,
    _draw_insert,
    _draw_label,
    _draw_title,
    _finish,
    _glow,
    _rain,
)
from render.animatic.scenery import draw_backdrop, draw_chip, draw_props, fog_veil, weather
from render.animatic.staging import Which, _Plan, _plan
from render.animatic.text import _Font, _font
from studio.model import RenderSpec

BAND = 0.2  # the caption strip's share of the frame height


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
        "italic": _Font(
            cv2.FONT_HERSHEY_SIMPLEX | cv2.FONT_ITALIC, _font(body).scale, _font(body).thickness
        ),
    }


def compose_canvas(spec: RenderSpec, which: Which, layout: _Layout | None = None) -> np.ndarray:
    """The picture canvas (CANVAS_MARGIN x the picture area) of the start or end state."""
    layout = layout or _layout(spec.width, spec.height)
    plan = _plan(spec, which)
    return _draw_plan(plan, spec, which, layout)


def _draw_plan(plan: _Plan, spec: RenderSpec, which: Which, layout: _Layout) -> np.ndarray:
    style = spec.style
    look = _look(
        style.palette if style else (),
        style.lighting if style else "",
        style.grain if style else "",
        plan.tod,
        plan.interior,
    )
    cv = _Canvas(layout.picture)
    fonts = _type(layout.height)
    backdrop_rng = np.random.default_rng([spec.seed, _stable("backdrop", *plan.seed_key) % 2**32])
    shot_rng = np.random.default_rng(
        [spec.seed, _stable("shot", spec.shot.id if spec.shot else spec.kind, which) % 2**32]
    )
    if plan.framing.drawn == "title":
        _draw_title(cv, plan, look, fonts["body"])
        return cv.img
    if plan.framing.drawn == "insert":
        _draw_insert(cv, plan, look, backdrop_rng, fonts["body"])
        if plan.rain and not plan.interior:
            _rain(cv.img, (0, 0, cv.w, cv.h), look, shot_rng, density=0.6)
        _finish(cv, look, plan, shot_rng)
        return cv.img
    lights = draw_backdrop(cv, plan, look, backdrop_rng)
    _glow(cv, lights)
    fog_veil(cv, plan, look)
    props = draw_props(cv, plan, look)
    light_dir = -1 if plan.vp > 0.5 else 1
    if lights:
        light_dir = 1 if lights[0][0] < cv.x(0.5) else -1
        light_dir = -light_dir  # the rim shows on the side facing the light
    # Shallow focus: what stands behind the primaries is blurred with the set; with no
    # primary in the shot, whoever is there is the subject and stays sharp.
    has_primary = any(f.prominence == "primary" for f in plan.figures)
    behind = sorted(
        (f for f in plan.figures if f.prominence not in ("primary", "over")), key=lambda f: f.depth
    )
    for fig in behind if has_primary else ():
        _draw_figure(cv, fig, look, light_dir, shot_rng)
    if plan.dof:
        cv.img[:] = cv2.GaussianBlur(cv.img, (0, 0), plan.dof * cv.h)
    for fig in (f for f in plan.figures if f.prominence == "primary") if has_primary else behind:
        _draw_figure(cv, fig, look, light_dir, shot_rng)
    for fig in (f for f in plan.figures if f.prominence == "over"):
        _draw_figure(cv, fig, look, light_dir, shot_rng, blur=1.0)
    rain_rng = np.random.default_rng(
        [spec.seed, _stable("rain", spec.shot.id if spec.shot else "", which) % 2**32]
    )
    storm = plan.setting is not None and plan.setting.weather == "storm"
    if plan.rain and not plan.interior and not storm:
        _rain(cv.img, (0, 0, cv.w, cv.h), look, rain_rng, density=1.0, length=0.05)
    weather(cv, plan, look, rain_rng)
    _finish(cv, look, plan, shot_rng)
    for name, where in props:
        draw_chip(cv.img, name, where, fonts["label"])
    setting = plan.setting
    if setting is not None and setting.kind == "unknown" and setting.label:
        draw_chip(cv.img, setting.label, cv.pt(0.03, 0.86), fonts["label"], centred=False)
    for fig in plan.figures:
        if fig.label:
            _draw_label(cv.img, fig, cv, fonts["label"])
    return cv.img
