"""Asset cards: character, location and prop image keys drawn by the animatic."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace

import cv2
import numpy as np

from render.animatic.clip import encode_png
from render.animatic.colour import (
    UNSET_COLOUR,
    _hex_bgr,
    _look,
    _mix,
    _palette,
    _stable,
    character_colour,
)
from render.animatic.drawing import (
    _c,
    _Canvas,
    _draw_figure,
    _draw_insert,
    _figure_box,
    _finish,
    _glow,
    _gradient,
    _rain,
)
from render.animatic.frame import _type
from render.animatic.scenery import draw_backdrop, fog_veil, weather
from render.animatic.setting import read_setting
from render.animatic.staging import _RAIN_RE, _Figure, _Plan, _time_of_day, _words
from render.animatic.text import _ascii, _fit, _font, _put, wrap_text
from studio.camera import Framing
from studio.ports import FrameSpec


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
        return {
            spec.title.strip().upper(): [
                max(0.0, x0) / w,
                max(0.0, y0) / h,
                min(w, x1) / w,
                min(cv.h, y1) / h,
            ]
        }

    @staticmethod
    def _band(h: int) -> int:
        big = _font(max(10.0, h * 0.045), cv2.FONT_HERSHEY_DUPLEX, bold=True)
        small = _font(max(8.0, h * 0.024))
        pad = max(6, round(h * 0.03))
        return min(
            h // 2,
            pad * 2 + big.px + round(small.px * 2.0) + 2 * round(small.px * 1.8) + small.px // 2,
        )

    @staticmethod
    def _card_figure(spec: FrameSpec, tags: Sequence[str], colour: np.ndarray) -> _Figure:
        hsh = _stable("figure", spec.title.strip().upper())
        return _Figure(
            name=spec.title.strip().upper(),
            colour=colour,
            prominence="primary",
            tags=tuple(tags),
            u=0.5,
            feet=0.94,
            height=0.86,
            facing=0,
            hair=hsh % 4,
            build=0.92 + (hsh >> 8) % 17 / 100.0,
        )

    def draw(self, spec: FrameSpec) -> np.ndarray:
        w, h = max(64, spec.width), max(64, spec.height)
        title = _ascii(spec.title) or spec.kind.upper()
        description = spec.prompt.split(" | ")[0]
        words = _words(
            spec.title,
            spec.prompt,
            spec.extra.get("int_ext", ""),
            spec.extra.get("time_of_day", ""),
        )
        tod = (
            "night"
            if " night" in words
            else "dusk"
            if re.search(r"\b(dusk|sunset|evening)\b", words)
            else "day"
        )
        if spec.extra.get("time_of_day"):
            tod = _time_of_day(spec.extra["time_of_day"])
        int_ext = spec.extra.get("int_ext", "").upper()
        interior = int_ext.startswith("INT") or (
            not int_ext.startswith("EXT")
            and bool(
                re.search(
                    r"\b(shop|room|kitchen|office|house|flat|apartment|bar|cafe|hall|studio|"
                    r"inside|interior|bedroom|church)\b",
                    words,
                )
            )
        )
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
        plan = _Plan(
            framing=Framing("ws"),
            interior=interior,
            tod=tod,
            place=words,
            rain=bool(_RAIN_RE.search(words)) and spec.kind == "location",
            horizon=0.62,
            vp=0.5,
            figures=[],
            seed_key=("card", spec.title),
        )
        if spec.kind == "location":
            # the place its name and description name (render.animatic.setting)
            setting = read_setting(
                location=spec.title, time_of_day=tod, interior=interior, scene_text=spec.prompt
            )
            plan = replace(
                plan, framing=Framing("ews"), wall_scale=0.8, horizon=0.5, setting=setting
            )
            lights = draw_backdrop(cv, plan, look, rng)
            _glow(cv, lights)
            fog_veil(cv, plan, look)
            if plan.rain and not interior and setting.weather != "storm":
                _rain(cv.img, (0, 0, cv.w, cv.h), look, rng)
            weather(cv, plan, look, rng)
            _finish(cv, look, plan, rng)
        elif spec.kind == "character":
            cv.img[:] = _gradient(
                cv.h, cv.w, _mix(look.light, look.mid, 0.3), _mix(look.mid, look.deep, 0.5)
            ).astype(np.uint8)
            cv2.ellipse(
                cv.img,
                (cv.x(0.5), cv.y(0.93)),
                (int(cv.w * 0.22), int(cv.h * 0.03)),
                0,
                0,
                360,
                _c(_mix(look.mid, look.dark, 0.5)),
                -1,
                cv2.LINE_AA,
            )
            colour = (
                _hex_bgr(spec.extra["colour"])
                if re.fullmatch(r"#[0-9a-fA-F]{6}", spec.extra.get("colour", ""))
                and spec.extra["colour"].lower() != UNSET_COLOUR
                else _hex_bgr(character_colour(spec.title))
            )
            fig = self._card_figure(spec, tags, colour)
            _draw_figure(cv, fig, look, 1, rng)
            _finish(cv, replace(look, vignette=0.25, exposure=1.0, contrast=1.0), plan, rng)
        elif spec.kind == "prop":
            _draw_insert(cv, replace(plan, prop=title.upper()), look, rng, fonts["body"])
        else:
            cv.img[:] = _gradient(cv.h, cv.w, look.sky_top, look.ground_near).astype(np.uint8)
        frame[: h - band] = cv.img
        accent = (
            colour
            if spec.kind == "character"
            else _palette(spec.palette)[len(_palette(spec.palette)) // 2]
        )
        cv2.rectangle(frame, (0, h - band), (max(4, pad // 2), h), _c(accent), -1)
        y = h - band + pad + big.px
        _put(
            frame, _fit(title.upper(), big, w - 3 * pad), (pad + pad // 2, y), big, (245, 245, 245)
        )
        kind_text = spec.kind.upper() + (
            f"  |  {', '.join(_ascii(t) for t in tags)}" if tags else ""
        )
        y += round(small.px * 2.0)
        _put(
            frame, _fit(kind_text, small, w - 3 * pad), (pad + pad // 2, y), small, (150, 200, 235)
        )
        for line in wrap_text(
            description, small, w - 3 * pad, max(0, (h - y - pad) // round(small.px * 1.8))
        ):
            y += round(small.px * 1.8)
            _put(frame, line, (pad + pad // 2, y), small, (190, 190, 190))
        return frame
