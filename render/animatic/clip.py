"""Panels and clips: start/end panels, figure boxes for QA, PNG encoding and the
clip frames (camera path plus a dissolve to the end panel)."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from render.animatic.drawing import _Canvas, _figure_box
from render.animatic.frame import _draw_plan, _Layout, _layout, compose_canvas
from render.animatic.hud import _Hud
from render.animatic.motion import Affine, _ease, camera_path
from render.animatic.staging import Which, _Plan, _plan, _track_direction, _words
from render.backend import CancelledFn, ProgressFn, RenderFailed
from render.post import RawEncoder, check_input
from studio.model import RenderSpec
from studio.pngmeta import with_figures

_IMAGE_KINDS = ("png_pipe", "jpeg_pipe")


def _duration(spec: RenderSpec) -> float:
    if spec.duration_s > 0:
        return spec.duration_s
    return spec.shot.duration_s if spec.shot is not None else 8.0


def _path_for(spec: RenderSpec, plan: _Plan, n_frames: int | None = None) -> list[Affine]:
    shot = spec.shot
    movement = shot.movement if shot else "static"
    primary = next(
        (f for f in plan.figures if f.prominence == "primary"),
        plan.figures[0] if plan.figures else None,
    )
    target = (0.5, 0.45)
    if primary is not None:
        # a dolly heads for the faces of the primaries (between them in a two-shot)
        primaries = [f for f in plan.figures if f.prominence == "primary"] or [primary]
        u = sum(f.u for f in primaries) / len(primaries)
        b = primary.height
        target = (min(0.8, max(0.2, u)), min(0.75, max(0.25, primary.feet - b + 0.08 * b)))
    direction = _track_direction(plan, _words(shot.action if shot else ""))
    roll = 6.0 if plan.framing.drawn_angle == "dutch" else 0.0
    return camera_path(
        movement, _duration(spec), spec.fps, target=target, direction=direction, roll=roll
    )


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
        end = (
            start
            if (spec.shot and spec.shot.start_frame_only)
            else compose_canvas(spec, "end", layout)
        )
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
            canvas = cv2.resize(
                picture, (self.start.shape[1], self.start.shape[0]), interpolation=cv2.INTER_CUBIC
            )
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
        cv2.warpAffine(
            canvas,
            m,
            lay.picture,
            dst=frame[: lay.height - lay.band],
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REPLICATE,
        )
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
    resized = cv2.resize(
        image, (max(pw, round(w * scale)), max(ph, round(h * scale))), interpolation=cv2.INTER_AREA
    )
    y0 = (resized.shape[0] - ph) // 2
    x0 = (resized.shape[1] - pw) // 2
    return np.ascontiguousarray(resized[y0 : y0 + ph, x0 : x0 + pw])


def _picture_from_file(
    path: str | Path, layout: _Layout, roots: Sequence[Path] | None
) -> np.ndarray:
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
        out[fig.name] = [
            cx0 / layout.width,
            cy0 / layout.height,
            cx1 / layout.width,
            cy1 / layout.height,
        ]
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
    cv2.warpAffine(
        canvas,
        m,
        layout.picture,
        dst=frame[: layout.height - layout.band],
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )
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
