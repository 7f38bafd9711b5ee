"""The camera as code: affine poses over a larger-than-frame canvas along a move."""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from studio.camera import MOVES

CANVAS_MARGIN = 1.25  # the canvas is this much larger than the picture: room for camera moves
BASE_VIEW = 1.0 / CANVAS_MARGIN  # a static camera sees this fraction of the canvas


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


MOVEMENTS = tuple(MOVES)  # the camera moves of studio.camera, each drawn by camera_path


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
