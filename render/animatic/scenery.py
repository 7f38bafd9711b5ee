"""Backdrops per setting (render.animatic.setting): water with its horizon and a jetty, a
quay or a beach; a street, an alley; a forest, a park, a field, a desert, mountains, snow;
rooms furnished after their kind (a kitchen, a bar, a car…); a neutral backdrop with the
location's label for a place nobody named; then the weather over it (rain, snow, fog, a
storm's flash, a grey or a sunny sky) and the props the action names.

Colours are the palette's, pulled towards the thing's own colour (water is blue-grey, sand is
sand) so that the place reads in any style, then lit for the time of day. Every random choice
comes from the backdrop's generator: the same seed draws the same place.
"""

from __future__ import annotations

import cv2
import numpy as np

from render.animatic.colour import _desaturate, _hex_bgr, _Look, _luma, _mix
from render.animatic.drawing import (
    _c,
    _Canvas,
    _draw_exterior,
    _draw_prop,
    _draw_room,
    _gradient,
    _Light,
    _rain,
)
from render.animatic.staging import _Plan
from render.animatic.text import _Font, _put

_WHITE = np.full(3, 255.0, np.float32)
_BLACK = np.zeros(3, np.float32)
_GREY = np.full(3, 128.0, np.float32)
# Framings wide enough to show the props lying about the set.
_PROP_FRAMINGS = ("ews", "ws", "ms", "two", "group", "pov")
_ICONS = ("umbrella", "envelope", "letter", "note", "map", "ticket", "card", "photo", "key")


def _lit(colour: str | np.ndarray, look: _Look, tod: str, pull: float = 0.65) -> np.ndarray:
    """A thing's own colour, a little towards the palette, in the light of ``tod``."""
    own = _hex_bgr(colour) if isinstance(colour, str) else colour
    c = _mix(_mix(look.mid, look.light, 0.4), own, pull)
    if tod == "night":
        return _mix(c * 0.32, look.cool * 0.35, 0.3)
    if tod in ("dusk", "dawn"):
        return _mix(c * 0.72, look.warm * 0.72, 0.18)
    return c


def _sky(cv: _Canvas, hy: int, plan: _Plan, look: _Look, rng: np.random.Generator) -> None:
    """The sky above the horizon: the look's, greyed by cloud, with a sun, a moon or stars."""
    setting = plan.setting
    weather = setting.weather if setting else ""
    top, low = look.sky_top, look.sky_low
    if plan.tod == "day":
        top, low = _mix(top, _hex_bgr("#7fa6c9"), 0.35), _mix(low, _hex_bgr("#dce6ee"), 0.3)
    if weather == "sun" and plan.tod == "day":  # a clear, deeper blue
        top, low = _mix(top, _hex_bgr("#4f8fd0"), 0.35), _mix(low, _hex_bgr("#cfe3f2"), 0.3)
    if weather in ("overcast", "storm", "rain", "fog", "snow"):
        grey = {"storm": 0.55, "overcast": 0.75, "rain": 0.7, "fog": 0.85, "snow": 0.8}[weather]
        g = _luma(_mix(top, low, 0.5))
        if weather == "storm":
            g *= 0.55
        cloud = np.full(3, g, np.float32)
        top, low = _mix(top, cloud * 0.9, grey), _mix(low, cloud * 1.08, grey)
    cv.img[:hy] = _gradient(hy, cv.w, top, low, power=2.2).astype(np.uint8)
    if weather in ("overcast", "storm", "rain", "snow"):
        # banks of cloud: soft darker ellipses drawn small and blurred
        f = 8
        small = np.zeros((max(1, hy // f), cv.w // f + 1), np.float32)
        for _ in range(18):
            cx, cy = int(rng.uniform(0, small.shape[1])), int(rng.uniform(0, small.shape[0]))
            ax, ay = int(rng.uniform(8, 30)), int(rng.uniform(2, 7))
            cv2.ellipse(small, (cx, cy), (ax, ay), 0, 0, 360, float(rng.uniform(0.3, 1)), -1)
        small = cv2.GaussianBlur(small, (0, 0), 3)
        shade = cv2.resize(small, (cv.w, hy))[..., None] * 0.22
        cv.img[:hy] = np.clip(cv.img[:hy] * (1 - shade), 0, 255).astype(np.uint8)
    elif weather == "sun" and plan.tod != "night":
        sx, sy = cv.x(0.5 + (0.28 if plan.vp < 0.5 else -0.28)), int(hy * 0.45)
        r = max(4, int(cv.s(0.06)))
        cv2.circle(cv.img, (sx, sy), int(r * 1.8), _c(_mix(low, _WHITE, 0.35)), -1, cv2.LINE_AA)
        cv2.circle(cv.img, (sx, sy), r, _c(_hex_bgr("#fff6d8")), -1, cv2.LINE_AA)
    elif plan.tod == "night" and weather != "fog":
        star = _c(_mix(look.light, _WHITE, 0.5))
        for _ in range(int(cv.w / 9)):
            x, y = int(rng.uniform(0, cv.w)), int(rng.uniform(0, hy * 0.85) ** 1.0)
            cv.img[y : y + 1, x : x + 1 + int(rng.uniform(0, 1.6))] = star
        mx, my = cv.x(0.5 + (0.3 if plan.vp < 0.5 else -0.3)), int(hy * 0.3)
        r = max(3, int(cv.s(0.035)))
        cv2.circle(cv.img, (mx, my), r, _c(_mix(look.light, _WHITE, 0.6)), -1, cv2.LINE_AA)


def _ground(cv: _Canvas, hy: int, far: np.ndarray, near: np.ndarray) -> None:
    cv.img[hy:] = _gradient(cv.h - hy, cv.w, far, near).astype(np.uint8)


def _hills(
    cv: _Canvas,
    hy: int,
    colour: np.ndarray,
    rng: np.random.Generator,
    height: float,
    bumps: int = 5,
) -> None:
    """A soft line of far hills along the horizon (a far shore, dunes)."""
    xs = np.linspace(-0.1 * cv.w, 1.1 * cv.w, 60)
    phases = rng.uniform(0, 2 * np.pi, 3)
    ys = (
        sum(np.sin(xs / cv.w * np.pi * bumps * k + phases[k - 1]) / k for k in (1, 2, 3)) * 0.5
        + 0.6
    )
    pts = [(int(x), int(hy - cv.s(height) * y)) for x, y in zip(xs, ys, strict=True)]
    poly = np.array([(int(xs[0]), hy), *pts, (int(xs[-1]), hy)], np.int32)
    cv2.fillPoly(cv.img, [poly], _c(colour), cv2.LINE_AA)


# --------------------------------------------------------------------------- water


def _draw_water(
    cv: _Canvas, plan: _Plan, look: _Look, rng: np.random.Generator, lights: list[_Light]
) -> None:
    setting = plan.setting
    assert setting is not None
    tod, kind, features = plan.tod, setting.kind, setting.features
    hy = min(cv.h - 1, max(1, cv.y(plan.horizon)))
    bottom = cv.h
    img = cv.img
    _sky(cv, hy, plan, look, rng)
    grey = setting.weather in ("overcast", "storm", "rain", "fog", "snow")
    water_far = _lit("#8fa3b0" if grey else "#6f98b8", look, tod, 0.75)
    water_near = _lit("#4c6373" if grey else "#2f5f86", look, tod, 0.75)
    # what stands on the far side: a far shore for a lake or a river, open sea otherwise
    if kind in ("lake", "river"):
        _hills(cv, hy, _mix(_lit("#4f6b4a", look, tod), look.sky_low, 0.35), rng, 0.06)
    _ground(cv, hy, water_far, water_near)
    # wave lines, longer and further apart towards the camera
    glint = _c(_mix(water_far, _WHITE, 0.35 if tod == "day" else 0.15))
    dark = _c(_mix(water_near, _BLACK, 0.25))
    for _ in range(int(cv.w / 7)):
        t = float(rng.uniform(0, 1)) ** 1.6
        gy = hy + 1 + int(t * (bottom - hy))
        gx = int(rng.uniform(-0.05, 1.0) * cv.w)
        gl = int((0.008 + 0.05 * t) * cv.w)
        cv2.line(
            img,
            (gx, gy),
            (gx + gl, gy),
            glint if rng.uniform() < 0.5 else dark,
            1 + int(t * 2),
            cv2.LINE_AA,
        )
    cv2.line(img, (0, hy), (cv.w, hy), _c(_mix(water_far, look.sky_low, 0.5)), max(1, cv.h // 300))
    if tod != "day":  # the moon's or the last light's path on the water
        lights.append(
            (
                cv.x(0.5 + (0.3 if plan.vp < 0.5 else -0.3)),
                hy + int((bottom - hy) * 0.3),
                cv.s(0.25),
                _mix(look.sky_low, look.light, 0.5) * 0.35,
                3.0,
            )
        )
    near_ground = None
    if kind == "beach" or "beach" in features:
        near_ground = ("#cdb98c", "#b49a6a", 0.4)
    elif kind in ("lake", "river"):
        near_ground = ("#6d7f52", "#4f603b", 0.5)
    elif kind == "sea" and "jetty" not in features:
        near_ground = ("#8a8478", "#5e5a52", 0.5)  # a shingle shore
    if near_ground is not None:
        far_c, near_c, at = near_ground
        shore = min(bottom - 2, cv.y(plan.horizon + (1 - plan.horizon) * at))  # under the feet
        xs = np.linspace(0, cv.w, 24)
        ys = shore + (np.sin(xs / cv.w * 7 + rng.uniform(0, 6)) * cv.s(0.015)).astype(int)
        poly = np.array(
            [(0, bottom), *zip(xs.astype(int), ys, strict=True), (cv.w, bottom)], np.int32
        )
        sand = _gradient(
            bottom - shore + int(cv.s(0.03)), cv.w, _lit(far_c, look, tod), _lit(near_c, look, tod)
        )
        mask = np.zeros((cv.h, cv.w), np.uint8)
        cv2.fillPoly(mask, [poly], 255)
        y0 = bottom - sand.shape[0]
        region = img[y0:]
        m = mask[y0:] > 0
        region[m] = sand[: region.shape[0]][m].astype(np.uint8)
        foam = _c(_mix(_lit("#f2f4f4", look, tod), water_far, 0.2))
        cv2.polylines(
            img,
            [np.array(list(zip(xs.astype(int), ys, strict=True)), np.int32)],
            False,
            foam,
            max(1, cv.h // 200),
            cv2.LINE_AA,
        )
    if kind == "harbour" or "harbour" in features:
        _harbour(cv, plan, look, rng, hy)
    if kind == "jetty" or "jetty" in features:
        _jetty(cv, plan, look, hy)


def _harbour(cv: _Canvas, plan: _Plan, look: _Look, rng: np.random.Generator, hy: int) -> None:
    """Cranes and sheds on the far quay, moored boats."""
    img = cv.img
    sil = _mix(look.sky_low, look.dark, 0.6)
    x = int(cv.w * 0.05)
    while x < cv.w * 0.95:
        bw, bh = int(rng.uniform(0.04, 0.1) * cv.w), int(rng.uniform(0.015, 0.05) * cv.h)
        cv2.rectangle(img, (x, hy - bh), (x + bw, hy), _c(sil), -1)
        if rng.uniform() < 0.3:  # a crane
            ch = int(cv.s(0.18))
            cv2.line(
                img, (x + bw // 2, hy - bh), (x + bw // 2, hy - ch), _c(sil), max(2, cv.h // 200)
            )
            cv2.line(img, (x, hy - ch), (x + int(bw * 1.8), hy - ch), _c(sil), max(2, cv.h // 250))
        x += bw + int(rng.uniform(0.01, 0.08) * cv.w)
    for _ in range(3):
        bx = int(rng.uniform(0.1, 0.9) * cv.w)
        by = hy + int(rng.uniform(0.08, 0.3) * (cv.h - hy))
        bl = int(cv.s(0.12) * (by - hy) / max(1, cv.h - hy) * 2.5)
        hull = np.array(
            [
                (bx - bl, by - bl // 5),
                (bx + bl, by - bl // 5),
                (bx + int(bl * 0.8), by),
                (bx - int(bl * 0.8), by),
            ],
            np.int32,
        )
        cv2.fillPoly(img, [hull], _c(_mix(look.dark, look.warm, 0.25)), cv2.LINE_AA)
        cv2.line(img, (bx, by - bl // 5), (bx, by - int(bl * 1.3)), _c(look.dark), max(1, bl // 20))


def _jetty(cv: _Canvas, plan: _Plan, look: _Look, hy: int) -> None:
    """Wooden planks from under the camera out over the water, on posts."""
    img = cv.img
    bottom = cv.h
    vpx = cv.x(plan.vp)
    end_t = 0.28  # the far end: this far down from the horizon to the bottom edge
    near_half = cv.w * 0.36

    def edge(t: float, side: int) -> tuple[int, int]:  # t 0 at the horizon, 1 at the bottom
        return int(vpx + side * near_half * t), int(hy + (bottom - hy) * t)

    deck = np.array([edge(end_t, -1), edge(end_t, 1), edge(1.0, 1), edge(1.0, -1)], np.int32)
    wood = _lit("#8a6a48", look, plan.tod, 0.7)
    wood_dark = _mix(wood, _BLACK, 0.45)
    post = _mix(wood, _BLACK, 0.6)
    # posts under the deck, into the water
    for k in range(7):
        t = end_t + (1 - end_t) * (1 - 0.72**k)
        for side in (-1, 1):
            x, y = edge(t, side)
            cv2.line(img, (x, y), (x, y + int(cv.s(0.06) * t * 2)), _c(post), max(2, int(6 * t)))
    cv2.fillPoly(img, [deck], _c(wood), cv2.LINE_AA)
    lw = max(1, cv.h // 360)
    for i in range(1, 30):  # planks across, closer together in the distance
        t = end_t + (1 - end_t) * (1 - 0.9**i)
        a, b = edge(t, -1), edge(t, 1)
        cv2.line(img, a, b, _c(wood_dark), lw, cv2.LINE_AA)
    cv2.polylines(img, [deck], True, _c(wood_dark), max(1, lw * 2), cv2.LINE_AA)
    # bollards at the far end
    for side in (-1, 1):
        x, y = edge(end_t, side)
        h = int(cv.s(0.03))
        cv2.rectangle(img, (x - max(1, h // 4), y - h), (x + max(1, h // 4), y), _c(post), -1)


# --------------------------------------------------------------------------- land


def _draw_land(
    cv: _Canvas, plan: _Plan, look: _Look, rng: np.random.Generator, lights: list[_Light]
) -> None:
    setting = plan.setting
    assert setting is not None
    family, tod = setting.family, plan.tod
    hy = min(cv.h - 1, max(1, cv.y(plan.horizon)))
    img = cv.img
    _sky(cv, hy, plan, look, rng)
    snowy = setting.weather == "snow" or family == "snow"
    if family == "forest":
        _ground(cv, hy, _lit("#4d5e3a", look, tod), _lit("#3a3324", look, tod))
        _forest(cv, plan, look, rng, hy)
    elif family == "park":
        _ground(cv, hy, _lit("#7fa05a", look, tod), _lit("#4f7a35", look, tod))
        _park(cv, plan, look, rng, hy)
    elif family == "field":
        _ground(cv, hy, _lit("#b5a861", look, tod), _lit("#8a7a3e", look, tod))
        _field(cv, plan, look, rng, hy)
    elif family == "desert":
        _hills(cv, hy, _lit("#d9b67a", look, tod), rng, 0.05, bumps=3)
        _ground(cv, hy, _lit("#e2c38a", look, tod), _lit("#c9a063", look, tod))
        _dunes(cv, look, rng, hy, tod)
    elif family == "mountain":
        _mountains(cv, plan, look, rng, hy)
        if snowy:
            _ground(cv, hy, _lit("#e9eef2", look, tod), _lit("#c9d3dc", look, tod))
        else:
            _ground(cv, hy, _lit("#7a7a5e", look, tod), _lit("#55553f", look, tod))
    elif family == "snow":
        _hills(cv, hy, _lit("#dfe7ee", look, tod), rng, 0.05)
        _ground(cv, hy, _lit("#eef3f6", look, tod, 0.85), _lit("#cfd9e2", look, tod, 0.85))
    else:  # unknown: neutral, flat, labelled; no trees, no lawn
        far = _desaturate(_mix(look.ground_far, _GREY, 0.3), 0.85)
        near = _desaturate(_mix(look.ground_near, _GREY, 0.3), 0.85)
        _ground(cv, hy, far, near)
        cv2.line(img, (0, hy), (cv.w, hy), _c(_mix(far, _BLACK, 0.2)), max(1, cv.h // 300))
    if snowy and family not in ("snow", "mountain"):
        # snow lying on the ground
        _ground(cv, hy, _lit("#e4ebf0", look, tod, 0.8), _lit("#c3cfd9", look, tod, 0.8))


def _forest(cv: _Canvas, plan: _Plan, look: _Look, rng: np.random.Generator, hy: int) -> None:
    img = cv.img
    tod = plan.tod
    canopy_far = _mix(_lit("#3f5a3a", look, tod), look.sky_low, 0.35)
    _hills(cv, hy, canopy_far, rng, 0.12, bumps=14)
    trunks = []
    for _ in range(26):
        t = float(rng.uniform(0, 1)) ** 1.5  # depth: 0 far .. 1 near
        trunks.append((t, float(rng.uniform(-0.05, 1.05))))
    for t, u in sorted(trunks):
        x = int(u * cv.w)
        base = hy + int((cv.h - hy) * (0.05 + 0.6 * t))
        w = max(2, int(cv.s(0.008 + 0.05 * t)))
        c = _mix(_mix(_lit("#3b2f22", look, tod), look.sky_low, 0.5 * (1 - t)), look.dark, 0.2)
        cv2.rectangle(img, (x - w // 2, 0), (x + w // 2, base), _c(c), -1)
    # the canopy closing the top of the frame
    leaves = _lit("#2f4a2c", look, tod)
    for _ in range(40):
        cx, cy = int(rng.uniform(-0.05, 1.05) * cv.w), int(rng.uniform(-0.1, 0.22) * cv.h)
        r = int(rng.uniform(0.05, 0.12) * cv.h)
        cv2.circle(
            img,
            (cx, cy),
            r,
            _c(_mix(leaves, look.dark, float(rng.uniform(0, 0.4)))),
            -1,
            cv2.LINE_AA,
        )


def _park(cv: _Canvas, plan: _Plan, look: _Look, rng: np.random.Generator, hy: int) -> None:
    img = cv.img
    tod = plan.tod
    _hills(cv, hy, _mix(_lit("#4d6e3e", look, tod), look.sky_low, 0.4), rng, 0.05, bumps=9)
    path = np.array(
        [
            (cv.x(plan.vp) - 4, hy),
            (cv.x(plan.vp) + 4, hy),
            (int(cv.w * 0.7), cv.h),
            (int(cv.w * 0.3), cv.h),
        ],
        np.int32,
    )
    cv2.fillPoly(img, [path], _c(_lit("#b7a98a", look, tod)), cv2.LINE_AA)
    for _ in range(6):
        t = float(rng.uniform(0.05, 0.35))
        side = -1 if rng.uniform() < 0.5 else 1
        tx = int(cv.w * (0.5 + side * rng.uniform(0.25, 0.55)))
        ty = hy + int((cv.h - hy) * t)
        r = int(cv.s(0.05 + 0.25 * t))
        cv2.line(
            img,
            (tx, ty),
            (tx, ty - int(r * 1.6)),
            _c(_lit("#4a3a28", look, tod)),
            max(2, r // 6),
            cv2.LINE_AA,
        )
        cv2.circle(img, (tx, ty - int(r * 1.9)), r, _c(_lit("#3d6a34", look, tod)), -1, cv2.LINE_AA)
    if "bench" in (plan.place or ""):
        bx, by = int(cv.w * 0.78), hy + int((cv.h - hy) * 0.35)
        cv2.rectangle(
            img,
            (bx, by - int(cv.s(0.04))),
            (bx + int(cv.s(0.16)), by),
            _c(_lit("#6b4a2e", look, tod)),
            -1,
        )


def _field(cv: _Canvas, plan: _Plan, look: _Look, rng: np.random.Generator, hy: int) -> None:
    img = cv.img
    tod = plan.tod
    _hills(cv, hy, _mix(_lit("#6d7d48", look, tod), look.sky_low, 0.45), rng, 0.04, bumps=4)
    vpx = cv.x(plan.vp)
    furrow = _c(_lit("#7a6a34", look, tod))
    for i in range(-14, 15):  # furrows to the vanishing point
        cv2.line(
            img,
            (vpx, hy),
            (vpx + int(i * cv.w * 0.12), cv.h),
            furrow,
            max(1, cv.h // 300),
            cv2.LINE_AA,
        )
    # a fence and a barn on the far side
    post = _c(_lit("#5a4630", look, tod))
    fy = hy + int((cv.h - hy) * 0.12)
    cv2.line(img, (0, fy), (cv.w, fy), post, max(1, cv.h // 260))
    for x in range(0, cv.w, max(8, cv.w // 30)):
        cv2.line(img, (x, fy - int(cv.s(0.025))), (x, fy + 2), post, max(1, cv.h // 300))
    bx = int(cv.w * (0.22 if plan.vp > 0.5 else 0.7))
    bw, bh = int(cv.s(0.14)), int(cv.s(0.08))
    red = _c(_lit("#8e3b2c", look, tod))
    cv2.rectangle(img, (bx, hy - bh), (bx + bw, hy), red, -1)
    roof = np.array(
        [(bx - 3, hy - bh), (bx + bw // 2, hy - int(bh * 1.6)), (bx + bw + 3, hy - bh)], np.int32
    )
    cv2.fillPoly(img, [roof], _c(_lit("#4a3a30", look, tod)), cv2.LINE_AA)


def _dunes(cv: _Canvas, look: _Look, rng: np.random.Generator, hy: int, tod: str) -> None:
    img = cv.img
    for k in range(4):
        t = 0.15 + 0.22 * k
        y0 = hy + int((cv.h - hy) * t)
        xs = np.linspace(-0.1 * cv.w, 1.1 * cv.w, 40)
        ph = rng.uniform(0, 6)
        ys = y0 + (np.sin(xs / cv.w * (2 + k) + ph) * cv.s(0.03 + 0.02 * k)).astype(int)
        shade = _lit("#b88c55" if k % 2 else "#d7b275", look, tod)
        pts = np.array(
            [(int(xs[0]), cv.h), *zip(xs.astype(int), ys, strict=True), (int(xs[-1]), cv.h)],
            np.int32,
        )
        cv2.fillPoly(img, [pts], _c(shade), cv2.LINE_AA)


def _mountains(cv: _Canvas, plan: _Plan, look: _Look, rng: np.random.Generator, hy: int) -> None:
    img = cv.img
    tod = plan.tod
    for layer in range(2):
        rock = _mix(
            _lit("#6b6f78" if layer else "#8a8f9a", look, tod), look.sky_low, 0.45 - 0.25 * layer
        )
        x = -int(cv.w * 0.1)
        while x < cv.w * 1.1:
            w = int(rng.uniform(0.18, 0.35) * cv.w)
            h = int(cv.s(rng.uniform(0.18, 0.38) * (0.75 + 0.35 * layer)))
            peak = (x + w // 2, hy - h)
            cv2.fillPoly(
                img, [np.array([(x, hy), peak, (x + w, hy)], np.int32)], _c(rock), cv2.LINE_AA
            )
            cap = _c(_lit("#f4f7f9", look, tod, 0.85))
            k = 0.3
            cap_pts = np.array(
                [
                    peak,
                    (int(peak[0] + w / 2 * k), int(peak[1] + h * k)),
                    (int(peak[0] + w / 2 * k * 0.3), int(peak[1] + h * k * 0.8)),
                    (int(peak[0] - w / 2 * k * 0.3), int(peak[1] + h * k * 0.9)),
                    (int(peak[0] - w / 2 * k), int(peak[1] + h * k)),
                ],
                np.int32,
            )
            cv2.fillPoly(img, [cap_pts], cap, cv2.LINE_AA)
            x += int(w * rng.uniform(0.5, 0.8))


# --------------------------------------------------------------------------- rooms


def _room_box(cv: _Canvas, plan: _Plan) -> tuple[int, int, int, int, int, int]:
    """The back wall (left, top, right, bottom), the horizon and the vanishing point's x, as
    drawing._draw_room lays them out."""
    s = plan.wall_scale
    hy = cv.y(plan.horizon)
    vpx = cv.x(plan.vp)
    half_w = cv.s(0.62 * s)
    return (
        int(vpx - half_w),
        int(hy - cv.s(0.45 * s)),
        int(vpx + half_w),
        int(hy + cv.s(0.22 * s)),
        hy,
        vpx,
    )


def _furnish(
    cv: _Canvas, plan: _Plan, look: _Look, rng: np.random.Generator, lights: list[_Light]
) -> None:
    """What makes a room the room the heading names, against its back wall."""
    setting = plan.setting
    assert setting is not None
    kind = setting.kind
    img = cv.img
    left, top, right, bot, hy, vpx = _room_box(cv, plan)
    w, h = right - left, bot - top
    lw = max(1, cv.h // 360)
    dark = _mix(look.dark, _BLACK, 0.2)
    wood = _mix(_lit("#7a5a3c", look, plan.tod), look.floor, 0.3)

    def box(
        x0: float, y0: float, x1: float, y1: float, colour: np.ndarray, edge: bool = True
    ) -> None:
        p0, p1 = (left + int(w * x0), top + int(h * y0)), (left + int(w * x1), top + int(h * y1))
        cv2.rectangle(img, p0, p1, _c(colour), -1)
        if edge:
            cv2.rectangle(img, p0, p1, _c(_mix(colour, _BLACK, 0.4)), lw)

    if kind == "kitchen":
        cab = _lit("#c9c2b0", look, plan.tod, 0.5)
        for i in range(5):
            box(0.05 + i * 0.13, 0.05, 0.17 + i * 0.13, 0.3, cab)
        box(0.03, 0.62, 0.72, 1.0, _mix(cab, _BLACK, 0.15))
        box(0.03, 0.6, 0.72, 0.64, _lit("#9a9a96", look, plan.tod))  # the worktop
        box(0.3, 0.55, 0.42, 0.6, _lit("#b8bcc2", look, plan.tod))  # a tap and sink
        box(0.78, 0.12, 0.95, 1.0, _lit("#e2e4e4", look, plan.tod, 0.6))  # the fridge
        cv2.line(
            img,
            (left + int(w * 0.8), top + int(h * 0.4)),
            (left + int(w * 0.8), top + int(h * 0.55)),
            _c(dark),
            lw * 2,
        )
    elif kind == "bedroom":
        box(0.2, 0.55, 0.8, 0.75, _lit("#d8d0c0", look, plan.tod))  # mattress
        box(0.2, 0.3, 0.8, 0.56, wood)  # headboard
        box(0.25, 0.5, 0.45, 0.6, _lit("#f0ece4", look, plan.tod))  # pillows
        box(0.55, 0.5, 0.75, 0.6, _lit("#f0ece4", look, plan.tod))
        box(0.2, 0.6, 0.8, 1.0, _lit("#5f6f8f", look, plan.tod))  # the blanket
        box(0.05, 0.7, 0.16, 1.0, wood)  # bedside table
    elif kind == "office":
        box(0.15, 0.62, 0.7, 0.7, wood)
        box(0.18, 0.7, 0.22, 1.0, wood)
        box(0.63, 0.7, 0.67, 1.0, wood)
        box(0.32, 0.36, 0.5, 0.6, _mix(look.dark, look.cool, 0.4))  # a monitor
        box(0.4, 0.6, 0.42, 0.62, dark)
        box(0.8, 0.45, 0.95, 1.0, _lit("#8a9096", look, plan.tod))  # filing cabinet
        for k in (0.58, 0.72, 0.86):
            cv2.line(
                img,
                (left + int(w * 0.8), top + int(h * k)),
                (left + int(w * 0.95), top + int(h * k)),
                _c(dark),
                lw,
            )
    elif kind == "bar":
        # bottles on shelves behind a long counter, stools in front
        for k, y in enumerate((0.2, 0.4)):
            cv2.line(
                img,
                (left + int(w * 0.05), top + int(h * y)),
                (left + int(w * 0.95), top + int(h * y)),
                _c(wood),
                lw * 3,
            )
            for i in range(16):
                bx = left + int(w * (0.07 + i * 0.055 + 0.01 * k))
                hue = ("#3d6b3a", "#8a4a22", "#c9a227", "#6b2a2a")[int(rng.integers(0, 4))]
                cv2.rectangle(
                    img,
                    (bx, top + int(h * (y - 0.12))),
                    (bx + max(2, w // 90), top + int(h * y)),
                    _c(_lit(hue, look, plan.tod)),
                    -1,
                )
        box(0.0, 0.62, 1.0, 1.0, _mix(wood, _BLACK, 0.2))
        box(0.0, 0.6, 1.0, 0.65, wood)
        stool = _mix(look.dark, look.warm, 0.2)
        for i in range(5):
            sx = left + int(w * (0.1 + i * 0.2))
            sy = bot + int(cv.s(0.12 * plan.wall_scale))
            cv2.line(
                img,
                (sx, sy),
                (sx, sy + int(cv.s(0.14 * plan.wall_scale))),
                _c(stool),
                max(2, lw * 3),
            )
            cv2.ellipse(
                img,
                (sx, sy),
                (max(3, w // 30), max(2, w // 100)),
                0,
                0,
                360,
                _c(stool),
                -1,
                cv2.LINE_AA,
            )
    elif kind == "corridor":
        # doors down both side walls, strip lights on the ceiling
        for x in (left, right):
            for j in range(1, 6):
                t = 1 + 0.6 * j
                x0 = int(vpx + (x - vpx) * t)
                x1 = int(vpx + (x - vpx) * (t + 0.25))
                y_top = int(hy + (top + h * 0.25 - hy) * t)
                y_bot = int(hy + (bot - hy) * t)
                y_top1 = int(hy + (top + h * 0.25 - hy) * (t + 0.25))
                y_bot1 = int(hy + (bot - hy) * (t + 0.25))
                door = np.array([(x0, y_top), (x1, y_top1), (x1, y_bot1), (x0, y_bot)], np.int32)
                cv2.fillPoly(img, [door], _c(_mix(look.wall, look.dark, 0.5)), cv2.LINE_AA)
        for j in range(1, 6):
            t = 1 + 0.6 * j
            y = int(hy + (top - hy) * t)
            cv2.line(
                img,
                (int(vpx - w * 0.1 * t), y),
                (int(vpx + w * 0.1 * t), y),
                _c(_mix(look.practical, _WHITE, 0.5)),
                max(2, int(lw * t)),
            )
    elif kind == "hospital":
        box(0.1, 0.0, 0.35, 1.0, _lit("#a9c6b8", look, plan.tod), edge=False)  # a curtain
        box(0.4, 0.6, 0.85, 0.72, _lit("#eef0f0", look, plan.tod))  # the bed
        box(0.4, 0.72, 0.85, 0.76, _lit("#b8bcc2", look, plan.tod))
        for x in (0.42, 0.83):
            box(x, 0.76, x + 0.015, 1.0, _lit("#b8bcc2", look, plan.tod), edge=False)
        box(0.9, 0.15, 0.905, 1.0, _lit("#b8bcc2", look, plan.tod), edge=False)  # drip stand
        box(0.88, 0.15, 0.925, 0.28, _lit("#dfe8ee", look, plan.tod))
        box(0.55, 0.2, 0.75, 0.4, _mix(look.dark, _hex_bgr("#1a3a2a"), 0.5))  # a monitor
        cv2.polylines(
            img,
            [
                np.array(
                    [
                        (
                            left + int(w * (0.56 + 0.012 * i)),
                            top + int(h * (0.3 - (0.05 if i % 4 == 2 else 0))),
                        )
                        for i in range(16)
                    ],
                    np.int32,
                )
            ],
            False,
            _c(_hex_bgr("#6ee07a")),
            lw,
            cv2.LINE_AA,
        )
    elif kind == "classroom":
        box(0.15, 0.15, 0.85, 0.5, _lit("#2f4a3a", look, plan.tod, 0.8))  # the blackboard
        for i in range(3):
            cv2.line(
                img,
                (left + int(w * 0.22), top + int(h * (0.24 + 0.08 * i))),
                (left + int(w * (0.5 + 0.1 * i)), top + int(h * (0.24 + 0.08 * i))),
                _c(_mix(_WHITE, look.light, 0.3)),
                lw,
                cv2.LINE_AA,
            )
        for row in range(2):
            for i in range(4):
                y = bot + int(cv.s((0.05 + 0.12 * row) * plan.wall_scale))
                x = left + int(w * (0.05 + i * 0.25)) + int((row * 0.2 - 0.1) * w * (i - 1.5) * 0.3)
                dw = int(w * (0.14 + 0.03 * row))
                cv2.rectangle(img, (x, y), (x + dw, y + max(3, dw // 8)), _c(wood), -1)
    elif kind == "church":
        for i in range(3):
            x0, x1 = 0.2 + i * 0.24, 0.32 + i * 0.24
            glass = _lit(("#3f5fa0", "#a03f3f", "#c9a227")[i], look, plan.tod, 0.8)
            box(x0, 0.2, x1, 0.7, glass)
            cx = left + int(w * (x0 + x1) / 2)
            cv2.ellipse(
                img,
                (cx, top + int(h * 0.2)),
                (int(w * (x1 - x0) / 2), int(w * 0.06)),
                0,
                180,
                360,
                _c(glass),
                -1,
                cv2.LINE_AA,
            )
            if plan.tod == "day" and plan.lights_on:
                lights.append((cx, top + int(h * 0.45), w * 0.08, glass * 0.4, 2.0))
        box(0.35, 0.75, 0.65, 0.85, _lit("#e9e2d2", look, plan.tod))  # the altar
        for row in range(3):  # pews
            y = bot + int(cv.s((0.04 + 0.1 * row) * plan.wall_scale))
            for side in (-1, 1):
                x0 = vpx + side * int(w * 0.08)
                x1 = vpx + side * int(w * (0.55 + 0.12 * row))
                cv2.rectangle(
                    img, (min(x0, x1), y), (max(x0, x1), y + max(3, h // 14)), _c(wood), -1
                )
    elif kind == "living":
        sofa = _lit("#7a4a4a", look, plan.tod, 0.6)
        box(0.2, 0.55, 0.75, 0.9, sofa)
        box(0.17, 0.65, 0.24, 1.0, _mix(sofa, _BLACK, 0.2))
        box(0.71, 0.65, 0.78, 1.0, _mix(sofa, _BLACK, 0.2))
        box(0.35, 0.15, 0.6, 0.4, _lit("#8a7a5a", look, plan.tod))  # a picture
    elif kind == "shop":
        box(0.05, 0.65, 0.6, 1.0, wood)  # the counter
        box(0.05, 0.62, 0.6, 0.66, _mix(wood, _WHITE, 0.2))


def _draw_car(
    cv: _Canvas, plan: _Plan, look: _Look, rng: np.random.Generator, lights: list[_Light]
) -> None:
    """Inside a car: the road through the windscreen, the dashboard, the wheel."""
    img = cv.img
    tod = plan.tod
    screen_bot = cv.y(0.62)
    sky_h = cv.y(0.3)
    img[:sky_h] = _gradient(sky_h, cv.w, look.sky_top, look.sky_low).astype(np.uint8)
    img[sky_h:screen_bot] = _gradient(
        screen_bot - sky_h, cv.w, _lit("#6a6a6a", look, tod), _lit("#444444", look, tod)
    ).astype(np.uint8)
    vpx = cv.x(plan.vp)
    cv2.line(
        img,
        (vpx, sky_h),
        (vpx - int(cv.w * 0.02), screen_bot),
        _c(_lit("#e8d070", look, tod)),
        max(1, cv.h // 200),
    )
    if tod != "day":
        for _ in range(5):  # tail lights ahead, street lamps
            x = int(rng.uniform(0.1, 0.9) * cv.w)
            lights.append(
                (
                    x,
                    sky_h + int(rng.uniform(0, 0.3) * (screen_bot - sky_h)),
                    cv.s(0.03),
                    look.practical * 0.8,
                    1.0,
                )
            )
    body = _mix(look.dark, _BLACK, 0.3)
    # the roof and the pillars frame the windscreen
    cv2.rectangle(img, (0, 0), (cv.w, cv.y(0.08)), _c(body), -1)
    for side in (-1, 1):
        x_top = cv.x(0.5 + side * 0.46)
        x_bot = cv.x(0.5 + side * 0.56)
        pillar = np.array(
            [
                (x_top, cv.y(0.08)),
                (x_top + side * int(cv.s(0.12)), cv.y(0.08)),
                (x_bot + side * int(cv.s(0.3)), screen_bot),
                (x_bot, screen_bot),
            ],
            np.int32,
        )
        cv2.fillPoly(img, [pillar], _c(body), cv2.LINE_AA)
    dash = _mix(look.dark, look.mid, 0.25)
    img[screen_bot:] = _gradient(cv.h - screen_bot, cv.w, dash, _mix(dash, _BLACK, 0.5)).astype(
        np.uint8
    )
    mirror = (cv.x(0.5), cv.y(0.13))
    cv2.rectangle(
        img,
        (mirror[0] - int(cv.s(0.07)), mirror[1]),
        (mirror[0] + int(cv.s(0.07)), mirror[1] + int(cv.s(0.03))),
        _c(body),
        -1,
    )
    wheel = (cv.x(0.24), cv.y(0.82))
    r = int(cv.s(0.2))
    cv2.ellipse(
        img,
        wheel,
        (r, int(r * 0.8)),
        0,
        180,
        360,
        _c(_mix(body, _WHITE, 0.1)),
        max(3, int(r * 0.12)),
        cv2.LINE_AA,
    )
    if plan.rain:
        _rain(img, (0, 0, cv.w, screen_bot), look, rng, density=0.6, length=0.02)


# --------------------------------------------------------------------------- entry points


def draw_backdrop(cv: _Canvas, plan: _Plan, look: _Look, rng: np.random.Generator) -> list[_Light]:
    """The set behind the figures, after the plan's setting; returns the practical lights."""
    lights: list[_Light] = []
    setting = plan.setting
    family = setting.family if setting else "unknown"
    if setting is not None and setting.interior and setting.kind == "car":
        _draw_car(cv, plan, look, rng, lights)
    elif family == "room":
        _draw_room(cv, plan, look, rng, lights)
        if setting is not None:
            _furnish(cv, plan, look, rng, lights)
    elif family == "street" or (setting is not None and setting.kind in ("harbour", "bridge")):
        _draw_exterior(cv, plan, look, rng, lights)
        if setting is not None and setting.kind == "harbour":
            _harbour(cv, plan, look, rng, min(cv.h - 1, max(1, cv.y(plan.horizon))))
        if setting is not None and setting.kind == "alley":
            _alley_walls(cv, plan, look, rng)
        if setting is not None and setting.weather == "snow":
            _snow_cover(cv, plan, look)
    elif family == "water":
        _draw_water(cv, plan, look, rng, lights)
    else:
        _draw_land(cv, plan, look, rng, lights)
    if not plan.lights_on:
        lights = [(x, y, r * 0.25, c * 0.4, k) for x, y, r, c, k in lights]
    return lights


def _snow_cover(cv: _Canvas, plan: _Plan, look: _Look) -> None:
    """Snow lying on the road and the pavements: the ground below the horizon whitened."""
    hy = min(cv.h - 1, max(1, cv.y(plan.horizon)))
    snow = _lit("#eef2f5", look, plan.tod, 0.85)
    ground = cv.img[hy:].astype(np.float32)
    cv.img[hy:] = np.clip(ground * 0.4 + snow * 0.6, 0, 255).astype(np.uint8)


def _alley_walls(cv: _Canvas, plan: _Plan, look: _Look, rng: np.random.Generator) -> None:
    hy, vpx = cv.y(plan.horizon), cv.x(plan.vp)
    brick = _lit("#6e4a3c", look, plan.tod, 0.6)
    for side in (-1, 1):
        near = vpx + side * int(cv.w * 0.35)
        edge = cv.w if side > 0 else 0
        inner = vpx + side * int(cv.w * 0.04)
        wall = np.array(
            [
                (inner, hy - int(cv.s(0.2))),
                (near, -cv.h),
                (edge, -cv.h),
                (edge, cv.h),
                (near, cv.h),
                (inner, hy + int(cv.s(0.03))),
            ],
            np.int32,
        )
        cv2.fillPoly(
            cv.img, [wall], _c(_mix(brick, _BLACK, 0.15 if side > 0 else 0.3)), cv2.LINE_AA
        )
        for k in range(1, 10):  # brick courses into the distance
            t = k / 10
            x = int(inner + (near - inner) * t)
            cv2.line(cv.img, (x, 0), (x, cv.h), _c(_mix(brick, _BLACK, 0.45)), 1, cv2.LINE_AA)


def fog_veil(cv: _Canvas, plan: _Plan, look: _Look) -> None:
    """Fog and mist: a veil thickest at the horizon and beyond, thinning towards the camera."""
    setting = plan.setting
    if setting is None or setting.weather != "fog":
        return
    hy = min(cv.h - 1, max(1, cv.y(plan.horizon)))
    fog = _mix(_desaturate(look.sky_low, 0.7), _WHITE, 0.25 if plan.tod == "day" else 0.0)
    if plan.tod == "night":
        fog = fog * 0.6
    a = np.empty(cv.h, np.float32)
    a[:hy] = 0.72
    a[hy:] = np.linspace(0.72, 0.2, cv.h - hy)
    if setting.interior:
        a[:] = 0.25
    img = cv.img.astype(np.float32)
    img = img * (1 - a[:, None, None]) + fog * a[:, None, None]
    cv.img[:] = np.clip(img, 0, 255).astype(np.uint8)


def weather(cv: _Canvas, plan: _Plan, look: _Look, rng: np.random.Generator) -> None:
    """What falls in front of everything: rain (a storm's harder, with a flash), snow."""
    setting = plan.setting
    if setting is None or setting.interior:
        return
    if setting.weather == "storm":
        _rain(cv.img, (0, 0, cv.w, cv.h), look, rng, density=1.8, length=0.07, alpha=0.45)
        hy = cv.y(plan.horizon)
        x = int(rng.uniform(0.2, 0.8) * cv.w)
        pts = [(x, 0)]
        y = 0
        while y < hy * 0.8:
            y += int(rng.uniform(0.04, 0.09) * cv.h)
            x += int(rng.uniform(-0.04, 0.04) * cv.w)
            pts.append((x, y))
        cv2.polylines(
            cv.img,
            [np.array(pts, np.int32)],
            False,
            (255, 250, 240),
            max(2, cv.h // 220),
            cv2.LINE_AA,
        )
    elif setting.weather == "snow":
        layer = np.zeros_like(cv.img)
        n = int(cv.w * cv.h / 1400)
        xs, ys = rng.uniform(0, cv.w, n), rng.uniform(0, cv.h, n)
        rs = rng.uniform(0.6, 1.0, n) ** 3 * max(2.0, cv.h / 160)
        for x, y, r in zip(xs, ys, rs, strict=True):
            cv2.circle(layer, (int(x), int(y)), max(1, int(r)), (255, 255, 255), -1, cv2.LINE_AA)
        cv2.addWeighted(cv.img, 1.0, layer, 0.8, 0.0, dst=cv.img)


def draw_props(cv: _Canvas, plan: _Plan, look: _Look) -> list[tuple[str, tuple[int, int]]]:
    """The props the shot's action names, on the ground at the edge of a wide enough frame:
    an icon where the animatic has one, else a plain box; returns (label, where) chips."""
    setting = plan.setting
    if setting is None or not setting.props or plan.framing.drawn not in _PROP_FRAMINGS:
        return []
    chips = []
    size = cv.s(0.13 if plan.framing.drawn in ("ews", "ws") else 0.2)
    spots = ((0.88, 0.84), (0.12, 0.84), (0.5, 0.92))
    for name, (u, v) in zip(setting.props, spots, strict=False):
        centre = cv.pt(u, v)
        if any(w in name.lower() for w in _ICONS):
            _draw_prop(cv.img, centre, size, name, look)
        else:
            _plain_prop(cv.img, centre, size, name, look)
        chips.append((name, (centre[0], centre[1] + int(size * 0.42))))
    return chips


def _plain_prop(
    img: np.ndarray, centre: tuple[int, int], size: float, name: str, look: _Look
) -> None:
    """A named thing we have no icon for: a shaded box on its shadow."""
    x, y = centre
    w, h = int(size * 0.5), int(size * 0.36)
    colour = _mix(look.warm, look.mid, 0.3)
    cv2.ellipse(
        img,
        (x, y + h // 2),
        (int(w * 0.65), max(2, h // 6)),
        0,
        0,
        360,
        _c(look.dark * 0.6),
        -1,
        cv2.LINE_AA,
    )
    top = np.array(
        [
            (x - w // 2, y - h // 2),
            (x + w // 2, y - h // 2),
            (x + w // 3, y - int(h * 0.8)),
            (x - int(w * 0.66), y - int(h * 0.8)),
        ],
        np.int32,
    )
    cv2.rectangle(img, (x - w // 2, y - h // 2), (x + w // 2, y + h // 2), _c(colour), -1)
    cv2.fillPoly(img, [top], _c(_mix(colour, _WHITE, 0.25)), cv2.LINE_AA)
    cv2.rectangle(
        img,
        (x - w // 2, y - h // 2),
        (x + w // 2, y + h // 2),
        _c(_mix(colour, _BLACK, 0.5)),
        max(1, int(size / 60)),
    )


def draw_chip(
    img: np.ndarray, text: str, anchor: tuple[int, int], font: _Font, centred: bool = True
) -> None:
    """A small dark chip with a label (a prop's name, an unknown place's name)."""
    pad = max(2, font.px // 2)
    tw = font.width(text)
    x0 = anchor[0] - (tw // 2 + pad if centred else 0)
    y0 = anchor[1]
    cv2.rectangle(img, (x0, y0), (x0 + tw + 2 * pad, y0 + font.px + 2 * pad), (18, 18, 18), -1)
    _put(img, text, (x0 + pad, y0 + pad + font.px), font, (225, 225, 225))
