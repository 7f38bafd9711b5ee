"""Drawing a planned panel: the street and room backdrops, rain, figures with their
condition marks and labels, props, inserts and title cards."""

from __future__ import annotations

import cv2
import numpy as np

from render.animatic.colour import _desaturate, _hex_bgr, _Look, _mix
from render.animatic.motion import CANVAS_MARGIN
from render.animatic.staging import (
    _COLOUR_WORDS,
    _LAMP,
    _TABLE,
    _Figure,
    _Plan,
)
from render.animatic.text import _ascii, _fit, _Font, _font, _put, wrap_text

_Light = tuple[int, int, float, np.ndarray, float]
# Rooms whose own furniture (render.animatic.scenery) stands where the table would.
_OWN_FURNITURE = frozenset(
    {"bedroom", "hospital", "church", "corridor", "classroom", "bar", "office"}
)


class _Canvas:
    """The panel canvas (CANVAS_MARGIN x the picture) and the view -> pixel mapping."""

    def __init__(
        self, picture: tuple[int, int], margin: float = CANVAS_MARGIN, *, draw: bool = True
    ) -> None:
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


def _gradient(
    h: int, w: int, top: np.ndarray, bottom: np.ndarray, power: float = 1.0
) -> np.ndarray:
    t = np.linspace(0.0, 1.0, max(h, 1), dtype=np.float32)[:, None] ** power
    col = top[None, :] * (1 - t) + bottom[None, :] * t
    return np.broadcast_to(col[:, None, :], (col.shape[0], w, 3))  # a read-only view


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


def _draw_exterior(
    cv: _Canvas, plan: _Plan, look: _Look, rng: np.random.Generator, lights: list[_Light]
) -> None:
    hy = min(cv.h - 1, max(1, cv.y(plan.horizon)))
    vpx = cv.x(plan.vp)
    img = cv.img
    # the warm band hugs the horizon: mixing complementary colours over the whole sky is mud
    img[:hy] = _gradient(hy, cv.w, look.sky_top, look.sky_low, power=2.6).astype(np.uint8)
    img[hy:] = _gradient(cv.h - hy, cv.w, look.ground_far, look.ground_near).astype(np.uint8)
    night = plan.tod in ("night", "dusk")
    wet = plan.rain or " wet " in plan.place
    # the setting read from the scene decides (render.animatic.setting): a street, a
    # harbour's quay, a bridge over water
    setting = plan.setting
    water = setting is not None and (
        setting.kind in ("harbour", "bridge") or (setting.family == "street" and setting.water)
    )
    # far silhouettes: a skyline along the horizon
    x = -cv.w // 20
    sil = _mix(look.sky_low, look.dark, 0.42 if plan.framing.drawn == "ews" else 0.55)
    window_colour = _mix(look.practical, look.warm, 0.3)
    while x < cv.w:
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
    bottom = cv.h - 1
    if water:
        # the water: the lower ground becomes a band of reflections; a quay in front
        quay = hy + int((bottom - hy) * 0.45)
        img[hy:quay] = _gradient(
            quay - hy, cv.w, _mix(look.sky_low, look.deep, 0.35), _mix(look.sky_top, look.dark, 0.3)
        ).astype(np.uint8)
        glint = _mix(look.sky_low, np.full(3, 255.0, np.float32), 0.3)
        for _ in range(int(cv.w / 18)):
            gy = int(rng.uniform(hy + 2, quay))
            gx = int(rng.uniform(0, cv.w))
            gl = int(rng.uniform(0.01, 0.05) * cv.w * (gy - hy) / max(1, quay - hy))
            cv2.line(
                img, (gx, gy), (gx + gl, gy), _c(_mix(glint, look.sky_low, 0.5)), 1, cv2.LINE_AA
            )
        cv2.line(
            img,
            (0, quay),
            (cv.w, quay),
            _c(_mix(look.line, look.dark, 0.3)),
            max(1, cv.h // 240),
            cv2.LINE_AA,
        )
    # perspective: paving lines from the vanishing point (not across water)
    lw = max(1, cv.h // 400)
    ground_top = hy + int((bottom - hy) * 0.45) if water else hy
    pave = _c(_mix(look.ground_near, look.line, 0.35))
    for i in range(-6, 7):
        bx = vpx + int(i * cv.w * 0.22)
        t0 = (ground_top - hy) / max(1, bottom - hy)
        start = (int(vpx + (bx - vpx) * t0), ground_top)
        cv2.line(img, start, (bx, bottom), pave, lw, cv2.LINE_AA)
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
        t = 1 - 0.84**j
        px = int(rail_far[0] + (rail_near[0] - rail_far[0]) * t)
        py = int(rail_far[1] + (rail_near[1] - rail_far[1]) * t)
        by = int(rail_far[1] + (base_near[1] - rail_far[1]) * t)
        cv2.line(
            img,
            (px, py),
            (px, by),
            _c(post_colour),
            max(1, int(cv.h / 400 * (0.5 + 2 * t))),
            cv2.LINE_AA,
        )
        if j % 3 == 0:
            height = int((by - hy) * 1.6)
            head = (px, by - height)
            cv2.line(
                img,
                (px, by),
                head,
                _c(post_colour),
                max(1, int(cv.h / 300 * (0.5 + 2 * t))),
                cv2.LINE_AA,
            )
            cv2.line(
                img,
                head,
                (px - side * int(height * 0.08), head[1]),
                _c(post_colour),
                max(1, int(cv.h / 300 * (0.5 + 2 * t))),
                cv2.LINE_AA,
            )
            bulb = (px - side * int(height * 0.08), head[1] + max(2, int(height * 0.02)))
            lit = night and plan.lights_on
            cv2.circle(
                img,
                bulb,
                max(2, int(height * 0.025)),
                _c(look.practical if lit else _mix(look.light, look.dark, 0.4)),
                -1,
                cv2.LINE_AA,
            )
            if lit:
                lights.append((bulb[0], bulb[1], max(6.0, height * 0.35), look.practical, 1.0))
                if wet:  # a streak of reflected light on the wet ground under the lamp
                    lights.append(
                        (
                            bulb[0],
                            by + int(height * 0.45),
                            max(4.0, height * 0.2),
                            look.practical * 0.7,
                            3.0,
                        )
                    )


def _draw_room(
    cv: _Canvas, plan: _Plan, look: _Look, rng: np.random.Generator, lights: list[_Light]
) -> None:
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
    back = _gradient(
        max(1, bot - top), max(1, right - left), _mix(look.wall, look.ceiling, 0.15), look.wall
    )
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
        lights.append(
            (wx + ww // 2, wy + wh // 2, ww * 0.9, _mix(look.outside, look.light, 0.5) * 0.6, 1.0)
        )
    dx = left + int((right - left) * (0.72 if window_left else 0.12))
    dw, dh = int((right - left) * 0.16), int((bot - top) * 0.72)
    cv2.rectangle(img, (dx, bot - dh), (dx + dw, bot), _c(_mix(look.wall, look.dark, 0.45)), -1)
    cv2.circle(
        img, (dx + int(dw * 0.82), bot - dh // 2), max(2, dw // 18), _c(look.warm), -1, cv2.LINE_AA
    )
    # furniture and practical light
    table_y = int(hy + cv.s(0.3 * s))
    furnished = plan.setting is not None and plan.setting.kind in _OWN_FURNITURE
    if not furnished and (_TABLE.search(plan.place) or plan.framing.drawn in ("ews", "ws")):
        tw = int(half_w * 0.9)
        tx = vpx - tw // 2 + int(half_w * 0.25 * (1 if window_left else -1))
        th = max(3, int(cv.s(0.05 * s)))
        cv2.rectangle(
            img, (tx, table_y), (tx + tw, table_y + th), _c(_mix(look.floor, look.dark, 0.4)), -1
        )
        for lx in (tx + th, tx + tw - 2 * th):
            cv2.rectangle(
                img,
                (lx, table_y + th),
                (lx + th, table_y + int(cv.s(0.18 * s))),
                _c(_mix(look.floor, look.dark, 0.55)),
                -1,
            )
        if plan.tod != "day" or _LAMP.search(plan.place):
            lamp = (tx + tw // 5, table_y - int(cv.s(0.1 * s)))
            shade = max(4, int(cv.s(0.04 * s)))
            cv2.line(img, (lamp[0], table_y), lamp, _c(look.dark), max(1, shade // 4), cv2.LINE_AA)
            pts = np.array(
                [
                    (lamp[0] - shade, lamp[1] + shade // 2),
                    (lamp[0] + shade, lamp[1] + shade // 2),
                    (lamp[0] + shade // 2, lamp[1] - shade // 2),
                    (lamp[0] - shade // 2, lamp[1] - shade // 2),
                ],
                np.int32,
            )
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


def _rain(
    img: np.ndarray,
    box: tuple[int, int, int, int],
    look: _Look,
    rng: np.random.Generator,
    density: float = 1.0,
    length: float = 0.05,
    alpha: float = 0.35,
) -> None:
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
        cv2.line(
            layer, (int(px), int(py)), (int(px + pl * slant), int(py + pl)), colour, 1, cv2.LINE_AA
        )
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
        return cv2.ellipse2Poly(
            (round(c[0]), round(c[1])),
            (max(1, round(ax * b * w)), max(1, round(ay * b))),
            0,
            0,
            360,
            8,
        )

    head_dx = 0.012 * fig.facing
    parts: dict[str, list[np.ndarray]] = {
        "legs": [
            poly(P(-0.1, 0.5), P(-0.012, 0.5), P(-0.02, 0.985), P(-0.075, 0.985)),
            poly(P(0.012, 0.5), P(0.1, 0.5), P(0.075, 0.985), P(0.02, 0.985)),
        ],
        "body": [
            poly(
                P(-0.03, 0.14),
                P(0.03, 0.14),
                P(0.05, 0.175),
                P(0.13, 0.2),
                P(0.145, 0.24),
                P(0.15, 0.5),
                P(0.118, 0.52),
                P(0.108, 0.32),
                P(0.1, 0.53),
                P(-0.1, 0.53),
                P(-0.108, 0.32),
                P(-0.118, 0.52),
                P(-0.15, 0.5),
                P(-0.145, 0.24),
                P(-0.13, 0.2),
                P(-0.05, 0.175),
            ),
            ellipse(0, 0.215, 0.135, 0.045),
        ],
        "head": [ellipse(head_dx, 0.075, 0.055, 0.07)],
    }
    if fig.facing and not fig.back:
        nose_x = head_dx + fig.facing * 0.055
        parts["nose"] = [
            poly(
                P(nose_x - fig.facing * 0.006, 0.06),
                P(nose_x + fig.facing * 0.014, 0.088),
                P(nose_x - fig.facing * 0.004, 0.094),
            )
        ]
    hair: list[np.ndarray] = []
    if fig.back:
        hair.append(ellipse(head_dx, 0.07, 0.057, 0.066))
    elif fig.hair == 0:  # short crop
        hair.append(
            cv2.ellipse2Poly(
                _ipt(P(head_dx - 0.008 * fig.facing, 0.06)),
                (round(0.058 * b * w), round(0.058 * b)),
                0,
                180,
                360,
                8,
            )
        )
    elif fig.hair == 1:  # long
        hair.append(
            cv2.ellipse2Poly(
                _ipt(P(head_dx - 0.01 * fig.facing, 0.065)),
                (round(0.062 * b * w), round(0.062 * b)),
                0,
                180,
                360,
                8,
            )
        )
        hair.append(
            poly(
                P(head_dx - 0.062, 0.06),
                P(head_dx + 0.062, 0.06),
                P(head_dx + 0.07 - 0.03 * fig.facing, 0.2),
                P(head_dx - 0.07 - 0.03 * fig.facing, 0.2),
            )
            if fig.facing == 0
            else poly(
                P(head_dx - 0.06 * fig.facing, 0.05),
                P(head_dx, 0.04),
                P(head_dx - 0.02 * fig.facing, 0.19),
                P(head_dx - 0.075 * fig.facing, 0.19),
            )
        )
    elif fig.hair in (2, 3):  # a bun at the back / short grey hair (drawn lighter)
        hair.append(
            cv2.ellipse2Poly(
                _ipt(P(head_dx - 0.006 * fig.facing, 0.058)),
                (round(0.058 * b * w), round(0.055 * b)),
                0,
                180,
                360,
                8,
            )
        )
        if fig.hair == 2:
            bun_x = head_dx - (0.05 * fig.facing if fig.facing else 0.0)
            hair.append(ellipse(bun_x, 0.018 if not fig.facing else 0.04, 0.024, 0.022))
    if hair:
        parts["hair"] = hair
    if not fig.back and b * 0.007 >= 1.2:
        eyes = (
            [head_dx - 0.02, head_dx + 0.02] if fig.facing == 0 else [head_dx + fig.facing * 0.03]
        )
        parts["eyes"] = [ellipse(ex, 0.08, 0.004, 0.0055) for ex in eyes]
    return parts


IDENTITY_PARTS = ("head", "hair", "body")  # what a close-up still shows: no legs


def _figure_box(fig: _Figure, cv: _Canvas) -> tuple[float, float, float, float]:
    """The box (x0, y0, x1, y1, canvas pixels) of the figure's head, hair and torso."""
    pts = np.concatenate(
        [p for name, ps in _figure_parts(fig, cv).items() if name in IDENTITY_PARTS for p in ps]
    )
    (x0, y0), (x1, y1) = pts.min(0), pts.max(0)
    return float(x0), float(y0), float(x1), float(y1)


def _ipt(p: tuple[float, float]) -> tuple[int, int]:
    return round(p[0]), round(p[1])


def _draw_figure(
    cv: _Canvas,
    fig: _Figure,
    look: _Look,
    light_dir: int,
    rng: np.random.Generator,
    blur: float = 0.0,
) -> None:
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
    for name, c in (
        ("legs", colour * 0.8),
        ("body", colour),
        ("head", skin if not fig.back else colour),
        ("nose", skin),
        ("hair", hair_c),
        ("eyes", _mix(look.dark, colour, 0.15)),
    ):
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
    shadow &= mask > 0
    layer[shadow > 0] = (layer[shadow > 0] * (shade.mean() / max(1.0, colour.mean()))).astype(
        np.uint8
    )
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
    rim_colour = (
        _mix(look.light, look.practical, 0.3) if bg_luma < 120 else _mix(look.dark, colour, 0.3)
    )
    outline = cv2.dilate(alpha, np.ones((3, 3), np.uint8)) if not fig.back else alpha
    base = roi.astype(np.float32)
    edge_c = _mix(look.dark, colour, 0.2) if bg_luma >= 90 else _mix(colour, look.light, 0.4)
    base = base * (1 - outline[..., None] * 0.8) + edge_c * (outline[..., None] * 0.8)
    rim_a = (rim_mask * (1 - alpha))[..., None] * (0.0 if fig.back else 0.9)
    base = base * (1 - rim_a) + rim_colour * rim_a
    a3 = alpha[..., None]
    base = base * (1 - a3) + layer.astype(np.float32) * a3
    roi[:] = np.clip(base, 0, 255).astype(np.uint8)


def _condition_marks(
    layer: np.ndarray,
    mask: np.ndarray,
    fig: _Figure,
    parts: dict[str, list[np.ndarray]],
    off: np.ndarray,
    b: float,
    rng: np.random.Generator,
) -> None:
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
        cv2.ellipse(
            layer,
            (int((bx0 + bx1) / 2 - (bx1 - bx0) * 0.25), int(by0 + (by1 - by0) * 0.12)),
            (max(2, int((bx1 - bx0) * 0.12)), max(1, int(b * 0.01))),
            -20,
            0,
            360,
            (225, 205, 170),
            th,
            cv2.LINE_AA,
        )
    if tags & {"bloody", "bleeding", "wounded", "injured", "blood"}:
        for _ in range(4):
            x = int(rng.uniform(bx0 + (bx1 - bx0) * 0.25, bx1 - (bx1 - bx0) * 0.25))
            y = int(rng.uniform(by0 + (by1 - by0) * 0.1, by0 + (by1 - by0) * 0.6))
            r = max(2, int(rng.uniform(0.008, 0.02) * b))
            cv2.ellipse(
                layer,
                (x, y),
                (r, int(r * 1.4)),
                float(rng.uniform(0, 180)),
                0,
                360,
                (30, 20, 170),
                -1,
                cv2.LINE_AA,
            )
        cv2.line(
            layer,
            (int(hx0 + (hx1 - hx0) * 0.35), int(hy0 + (hy1 - hy0) * 0.3)),
            (int(hx0 + (hx1 - hx0) * 0.45), int(hy0 + (hy1 - hy0) * 0.6)),
            (30, 20, 170),
            th + 1,
            cv2.LINE_AA,
        )
    if tags & {"torn", "ripped", "tattered"}:
        x = int(bx0 + (bx1 - bx0) * 0.7)
        pts = [
            (x + int(((-1) ** i) * 0.015 * b), int(by0 + (by1 - by0) * (0.25 + 0.06 * i)))
            for i in range(7)
        ]
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


def _prop_colour(name: str, look: _Look) -> np.ndarray:
    for word, hexc in _COLOUR_WORDS.items():
        if word in name.lower():
            return _hex_bgr(hexc)
    return look.warm


def _draw_prop(
    img: np.ndarray, centre: tuple[int, int], size: float, name: str, look: _Look
) -> None:
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
            cv2.line(
                img,
                (x, y - int(s * 0.32)),
                (x + int((-0.5 + k / 7) * s), y),
                dark,
                max(1, lw // 2),
                cv2.LINE_AA,
            )
        cv2.line(img, (x, y - int(s * 0.38)), (x, y + int(s * 0.42)), dark, lw, cv2.LINE_AA)
        cv2.ellipse(
            img,
            (x - int(s * 0.06), y + int(s * 0.42)),
            (int(s * 0.06), int(s * 0.06)),
            0,
            0,
            180,
            _c(look.light),
            lw + 1,
            cv2.LINE_AA,
        )
        for k in range(7):
            sx = x + int((-0.5 + (k + 0.5) / 7) * s)
            cv2.ellipse(
                img, (sx, y), (int(s / 14), int(s * 0.025)), 0, 0, 180, col, -1, cv2.LINE_AA
            )
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
                cv2.line(
                    img,
                    (x - w // 3, yy),
                    (x + w // 3 - (k % 2) * w // 8, yy),
                    _c(look.cool),
                    lw // 2 + 1,
                    cv2.LINE_AA,
                )
    elif any(w in low for w in ("ticket", "card", "photo")):
        w, h = int(s * 0.6), int(s * 0.34)
        fill = col if "photo" not in low else _c(look.mid)
        cv2.rectangle(img, (x - w // 2, y - h // 2), (x + w // 2, y + h // 2), fill, -1)
        for k in range(8):
            cv2.circle(
                img,
                (x - w // 2 + int(w * 0.18), y - h // 2 + int(h * (k + 0.5) / 8)),
                max(1, lw // 2),
                dark,
                -1,
                cv2.LINE_AA,
            )
        cv2.putText(
            img,
            "41",
            (x, y + h // 6),
            cv2.FONT_HERSHEY_COMPLEX,
            s / 220,
            dark,
            max(1, lw // 2),
            cv2.LINE_AA,
        )
    elif "key" in low:
        cv2.circle(img, (x - int(s * 0.25), y), int(s * 0.12), col, lw + 2, cv2.LINE_AA)
        cv2.line(img, (x - int(s * 0.13), y), (x + int(s * 0.35), y), col, lw + 2, cv2.LINE_AA)
        for k in (0.2, 0.3):
            cv2.line(
                img,
                (x + int(s * k), y),
                (x + int(s * k), y + int(s * 0.08)),
                col,
                lw + 2,
                cv2.LINE_AA,
            )
    else:
        w, h = int(s * 0.5), int(s * 0.5)
        cv2.rectangle(img, (x - w // 2, y - h // 2), (x + w // 2, y + h // 2), col, -1)
        cv2.rectangle(img, (x - w // 2, y - h // 2), (x + w // 2, y + h // 2), dark, lw)


def _draw_insert(
    cv: _Canvas, plan: _Plan, look: _Look, rng: np.random.Generator, font: _Font
) -> None:
    img = cv.img
    img[:] = _gradient(
        cv.h, cv.w, _mix(look.floor, look.mid, 0.3), _mix(look.floor, look.dark, 0.3)
    ).astype(np.uint8)
    grain = _c(_mix(look.floor, look.dark, 0.25))
    for _ in range(30):  # wood grain of the table top
        y = int(rng.uniform(0, cv.h))
        cv2.line(img, (0, y), (cv.w, y + int(rng.uniform(-8, 8))), grain, 1, cv2.LINE_AA)
    lights = [
        (
            cv.x(0.45),
            cv.y(0.4),
            cv.s(0.55),
            look.practical * (0.5 if plan.tod == "day" else 0.8),
            1.0,
        )
    ]
    _glow(cv, lights)
    centre = (cv.x(0.5), cv.y(0.45))
    _draw_prop(img, centre, cv.s(0.62), plan.prop, look)
    big = _font(font.px * 1.6, cv2.FONT_HERSHEY_DUPLEX)
    text = _fit(plan.prop, big, cv.x(0.9) - cv.x(0.1))
    tw = big.width(text)
    y = cv.y(0.88)
    cv2.rectangle(
        img,
        (cv.x(0.5) - tw // 2 - big.px, y - big.px * 2),
        (cv.x(0.5) + tw // 2 + big.px, y + big.px),
        (18, 18, 18),
        -1,
    )
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
