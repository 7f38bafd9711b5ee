"""The burn-ins: shot id, camera, timecode, heading, action and dialogue."""

from __future__ import annotations

import re

import cv2
import numpy as np

from render.animatic.colour import (
    UNSET_COLOUR,
    _hex_bgr,
    _lighten_for_text,
    _mix,
    _palette,
    character_colour,
)
from render.animatic.drawing import _c
from render.animatic.frame import _Layout, _type
from render.animatic.staging import Which
from render.animatic.text import _ascii, _fit, _put, wrap_text
from studio.model import RenderSpec


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
        cv2.line(
            strip,
            (0, 0),
            (w, 0),
            _c(
                _palette(spec.style.palette if spec.style else ())[
                    len(_palette(spec.style.palette if spec.style else ())) // 2
                ]
            ),
            2,
        )
        body, small, italic = fonts["body"], fonts["small"], fonts["italic"]
        lh = round(body.px * 1.75)
        y = pad + small.px
        heading = _ascii(spec.scene_heading or (shot.setting if shot else "")) or _ascii(
            spec.location
        )
        duration = spec.duration_s or (shot.duration_s if shot else 0.0)
        right = f"{duration:.1f} s" + (
            "  |  start frame only" if shot and shot.start_frame_only else ""
        )
        rw = small.width(right)
        _put(
            strip, _fit(heading.upper(), small, w - 3 * pad - rw), (pad, y), small, (150, 150, 150)
        )
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
                colour = _lighten_for_text(
                    _hex_bgr(known[speaker].colour)
                    if speaker in known and known[speaker].colour.lower() != UNSET_COLOUR
                    else _hex_bgr(character_colour(speaker))
                )
                x = _put(strip, name + ": ", (x, y), fonts["small"], colour)
            last_lines = 1 if len(dialogue) - i > 1 and remaining > 1 else remaining
            wrapped = wrap_text(f'"{line}"' if name else line, italic, w - pad - x, last_lines)
            for j, part in enumerate(wrapped):
                _put(
                    strip,
                    part,
                    (x if j == 0 else pad + small.width("MM "), y),
                    italic,
                    (245, 245, 245),
                )
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
        x = (
            _put(
                chip,
                _fit(info, body, width - x - pad - (small.width(tag) + 2 * pad if tag else 0)),
                (x, pad + idf.px - (idf.px - body.px) // 2),
                body,
                (200, 200, 200),
            )
            + pad
        )
        if tag:
            cv2.rectangle(
                chip,
                (x, pad // 2),
                (x + small.width(tag) + pad, chip_h - pad // 2),
                _c(_mix(accent, np.zeros(3, np.float32), 0.55)),
                -1,
            )
            _put(
                chip,
                tag,
                (x + pad // 2, pad + idf.px - (idf.px - small.px) // 2),
                small,
                (255, 255, 255),
            )
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
