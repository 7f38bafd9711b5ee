"""Test clips with known faults, for calibrating the QA metrics.

A clean base clip is a smooth synthetic shot, deterministic from a seed: a graded backdrop
with hills and fine grain under a slow camera pan, a drifting sun and two figures (head +
body) walking slowly. Each fault has a ``severity`` 0..1 (0 = the clean clip):

- ``flicker``: luma jumps on ~15% of the frames, up to 48 levels;
- ``colour_flicker``: colour jumps (blue up, red down) on the same frames, up to 40 levels;
- ``noise``: independent per-frame blotchy noise ("boiling" texture), sigma up to 24 levels;
- ``identity_swap``: figure "A" changes hue (up to 150 deg) and build half-way;
- ``frozen``: a segment held on one frame, up to half the clip;
- ``black``: black frames, up to a quarter of the clip;
- ``jump_cut``: half-way the action skips ahead and the camera reframes (a discontinuity);
- ``bookend_drift``: the next shot's first frame (``next_first``) is colour-shifted.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np

FAULTS = ("flicker", "colour_flicker", "noise", "identity_swap", "frozen", "black", "jump_cut", "bookend_drift")

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class Clip:
    """Frames (BGR uint8) with the figures' boxes per frame and the next shot's first frame."""

    frames: list[np.ndarray]
    fps: int
    boxes: dict[str, list[Box]]
    next_first: np.ndarray
    fault: str = "clean"
    severity: float = 0.0
    injected: list[int] = field(default_factory=list)  # frame indices the fault touched

    def crops(self, name: str, which: slice = slice(None)) -> list[np.ndarray]:
        """The figure's crops over the frames in ``which``."""
        idx = range(len(self.frames))[which]
        return [self.frames[i][y:y + h, x:x + w] for i in idx for (x, y, w, h) in [self.boxes[name][i]]]


@dataclass(frozen=True)
class _Scene:
    width: int
    height: int
    backdrop: np.ndarray  # wider than the frame, for the pan
    pan: float  # px per frame
    sun: tuple[float, float]
    figures: tuple[tuple[str, float, float, tuple[int, int, int]], ...]  # name, x0, speed, BGR


def _scene(seed: int, width: int, height: int, frames: int) -> _Scene:
    rng = np.random.default_rng(seed)
    pan = width / 400  # ~1 px per frame at 426 wide
    canvas_w = width + int(pan * (3 * frames + 4)) + 8
    top, bottom = rng.uniform(40, 200, 3), rng.uniform(20, 120, 3)
    ramp = np.linspace(0, 1, height)[:, None, None]
    back = (top * (1 - ramp) + bottom * ramp).repeat(canvas_w, axis=1)
    xs = np.arange(canvas_w)
    hill = height * (0.62 + 0.06 * np.sin(xs / width * 7 + rng.uniform(0, 6)) + 0.03 * np.sin(xs / width * 23))
    ground = np.arange(height)[:, None] > hill[None, :]
    back[ground] = back[ground] * 0.55 + rng.uniform(20, 90, 3) * 0.45
    grain = cv2.GaussianBlur(rng.normal(0, 10, (height, canvas_w)).astype(np.float32), (0, 0), max(1.0, height / 240))
    back = np.clip(back + grain[:, :, None], 0, 255).astype(np.uint8)
    palette = [(60, 80, 200), (200, 120, 50), (70, 170, 90), (180, 60, 160)]
    order = rng.permutation(len(palette))
    figures = (("A", 0.3 * width, 0.5 * pan + 0.6, palette[order[0]]),
               ("B", 0.65 * width, -0.4 * pan, palette[order[1]]))
    return _Scene(width, height, back, pan, (rng.uniform(0.2, 0.8), rng.uniform(0.1, 0.3)), figures)


def _hue_rotate(bgr: tuple[int, int, int], degrees: float) -> tuple[int, int, int]:
    hsv = cv2.cvtColor(np.uint8([[bgr]]), cv2.COLOR_BGR2HSV)[0, 0].astype(int)
    hsv[0] = (hsv[0] + round(degrees / 2)) % 180
    out = cv2.cvtColor(np.uint8([[hsv]]), cv2.COLOR_HSV2BGR)[0, 0]
    return int(out[0]), int(out[1]), int(out[2])


def _draw(scene: _Scene, t: float, *, swap: float = 0.0, zoom: float = 1.0, shift: float = 0.0) -> tuple[np.ndarray, dict[str, Box]]:
    w, h = scene.width, scene.height
    x0 = scene.pan * t
    xi = int(x0)
    frame = scene.backdrop[:, xi:xi + w + 1].astype(np.float32)
    # sub-pixel pan so motion is smooth, as in a real camera move
    frac = x0 - xi
    frame = cv2.addWeighted(frame[:, :w], 1 - frac, frame[:, 1:w + 1], frac, 0).astype(np.uint8)
    sx, sy = scene.sun
    cv2.circle(frame, (int((sx * w + 0.3 * t) * 16), int((sy * h) * 16)), int(h * 0.07 * 16),
               (150, 220, 245), -1, cv2.LINE_AA, shift=4)
    boxes: dict[str, Box] = {}
    unit = h / 240
    for name, fx, speed, colour in scene.figures:
        x = fx + speed * t  # screen-space walk; the backdrop pans under it
        bob = 2 * unit * np.sin(t / 4 + fx)
        body_w, body_h, head = 18 * unit, 52 * unit, 11 * unit
        col = colour
        if name == "A" and swap > 0:
            col = _hue_rotate(colour, 150 * swap)
            body_w *= 1 + 0.8 * swap
            head *= 1 - 0.35 * swap
        base = 0.86 * h + bob
        body = np.array([[x - body_w / 2, base], [x + body_w / 2, base],
                         [x + body_w * 0.35, base - body_h], [x - body_w * 0.35, base - body_h]])
        cv2.fillPoly(frame, [np.round(body * 16).astype(np.int32)], col, cv2.LINE_AA, shift=4)
        shade = tuple(int(c * 0.6) for c in col)
        cv2.circle(frame, (int(x * 16), int((base - body_h - head) * 16)), int(head * 16), (170, 190, 225), -1, cv2.LINE_AA, shift=4)
        cv2.line(frame, (int((x - body_w * 0.3) * 16), int((base - body_h * 0.6) * 16)),
                 (int((x + body_w * 0.3) * 16), int((base - body_h * 0.6) * 16)), shade, max(1, int(2 * unit)), cv2.LINE_AA, shift=4)
        bx, by = int(x - 20 * unit), int(base - body_h - 2 * 11 * unit - 4 * unit)
        bw, bh = int(40 * unit), int(base - by + 2 * unit)
        boxes[name] = (max(0, bx), max(0, by), bw, min(bh, h - max(0, by)))
    if zoom != 1.0 or shift:
        m = cv2.getRotationMatrix2D((w / 2 + shift * w, h / 2), 0, zoom)
        frame = cv2.warpAffine(frame, m, (w, h), borderMode=cv2.BORDER_REFLECT)
    return frame, boxes


def base_clip(seed: int = 0, *, width: int = 426, height: int = 240, frames: int = 48, fps: int = 24) -> Clip:
    """The clean shot."""
    return make_clip("clean", 0.0, seed=seed, width=width, height=height, frames=frames, fps=fps)


def _pick(rng: np.random.Generator, n: int, share: float) -> list[int]:
    count = max(1, round(share * n))
    # never the first or last frame (the jump measure needs neighbours), never adjacent pairs
    candidates = np.arange(2, n - 2, 3)
    return sorted(int(i) for i in rng.choice(candidates, size=min(count, len(candidates)), replace=False))


def make_clip(fault: str, severity: float, *, seed: int = 0, width: int = 426, height: int = 240,
              frames: int = 48, fps: int = 24) -> Clip:
    """A clip of ``frames`` frames with ``fault`` injected at ``severity`` (0..1)."""
    if fault != "clean" and fault not in FAULTS:
        raise ValueError(f"unknown fault {fault!r}; one of {', '.join(FAULTS)}")
    s = float(np.clip(severity, 0.0, 1.0))
    scene = _scene(seed, width, height, frames)
    rng = np.random.default_rng(seed + 1000)
    mid = frames // 2
    out: list[np.ndarray] = []
    boxes: dict[str, list[Box]] = {"A": [], "B": []}
    jump = round(s * frames) if fault == "jump_cut" else 0
    for i in range(frames):
        kwargs: dict[str, float] = {}
        t = float(i)
        if fault == "identity_swap" and i >= mid:
            kwargs["swap"] = s
        if fault == "jump_cut" and i >= mid and s > 0:
            t += jump
            kwargs.update(zoom=1 + 0.5 * s, shift=0.15 * s)
        frame, b = _draw(scene, t, **kwargs)
        out.append(frame)
        for name, box in b.items():
            boxes[name].append(box)
    last = {"zoom": 1 + 0.5 * s, "shift": 0.15 * s} if fault == "jump_cut" and s > 0 else {}
    next_first, _ = _draw(scene, float(frames + jump), **last)  # the shot continues as it ended
    injected: list[int] = []
    if s > 0:
        if fault in ("flicker", "colour_flicker"):
            injected = _pick(rng, frames, 0.15)
            for i in injected:
                f = out[i].astype(np.int16)
                if fault == "flicker":
                    f += round(48 * s)
                else:
                    f[:, :, 0] += round(40 * s)
                    f[:, :, 2] -= round(40 * s)
                out[i] = np.clip(f, 0, 255).astype(np.uint8)
        elif fault == "noise":
            injected = list(range(frames))
            # blotches at a fixed share of the frame (like diffusion "boiling" at latent scale),
            # so the fault reads the same at any resolution the clip is analysed at
            blur = 2.0 * height / 240
            for i in injected:
                noise = cv2.GaussianBlur(rng.normal(0, 1, out[i].shape[:2]).astype(np.float32), (0, 0), blur)
                noise *= 24 * s / max(float(noise.std()), 1e-6)
                out[i] = np.clip(out[i] + noise[:, :, None], 0, 255).astype(np.uint8)
        elif fault == "frozen":
            length = max(2, round(0.5 * s * frames))
            start = max(1, mid - length // 2)
            injected = list(range(start + 1, min(frames, start + length)))
            for i in injected:
                out[i] = out[start].copy()
                for name in boxes:
                    boxes[name][i] = boxes[name][start]
        elif fault == "black":
            injected = _pick(rng, frames, 0.25 * s)
            for i in injected:
                out[i] = np.zeros_like(out[i])
        elif fault == "jump_cut":
            injected = [mid]
        elif fault == "bookend_drift":
            hsv = cv2.cvtColor(next_first, cv2.COLOR_BGR2HSV).astype(np.int16)
            hsv[:, :, 0] = (hsv[:, :, 0] + round(45 * s)) % 180
            hsv[:, :, 1] = np.clip(hsv[:, :, 1] * (1 + 0.5 * s), 0, 255)
            shifted = cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2BGR).astype(np.int16)
            next_first = np.clip(shifted + np.array([30, 0, -30]) * s, 0, 255).astype(np.uint8)
            injected = [frames]
    return Clip(out, fps, boxes, next_first, fault, s, injected)


def with_frames(clip: Clip, frames: list[np.ndarray]) -> Clip:
    """The clip with its frames replaced (e.g. decoded back from an mp4)."""
    return replace(clip, frames=frames)


def write_mp4(clip: Clip, path: str | Path, *, quality: int = 8) -> Path:
    """Encode the clip as H.264 yuv420p with imageio-ffmpeg's ffmpeg."""
    import imageio_ffmpeg

    path = Path(path).resolve()
    h, w = clip.frames[0].shape[:2]
    writer = imageio_ffmpeg.write_frames(str(path), (w, h), fps=clip.fps, codec="libx264", quality=quality,
                                         pix_fmt_out="yuv420p", macro_block_size=2, ffmpeg_log_level="error")
    writer.send(None)
    for frame in clip.frames:
        writer.send(np.ascontiguousarray(frame[:, :, ::-1]))
    writer.close()
    return path
