"""The CPU animatic: storyboard panels and moving clips drawn from the shot data.

No model, no GPU: a panel is composed from what the shot says (the place, time of day,
weather and props read from the heading and the action; who is in it and how prominent, the
camera's framing, the action and dialogue) in the locked style's palette, and a clip moves
a virtual camera over a larger-than-frame canvas of the start panel while dissolving towards
the end panel. Everything is deterministic: the only
randomness is ``np.random.default_rng`` seeded from the spec's seed and the shot's text.

Frame layout: the picture on top (a wide, ~2.3:1 frame) and a caption strip below with the
scene heading, the action and the dialogue; shot id, camera and timecode are burned in.
Per clip frame only a warp, a blend and the timecode are computed: the canvases, the caption
strip and the chips are drawn once per shot.

The package is cut on the drawing pipeline's seams, each module importing only the ones
before it: ``text`` and ``colour`` (helpers), ``setting`` (the table of places, weather and
light, and the scene's words read against it), ``staging`` (the shot read into a plan),
``motion`` (the camera path), ``drawing`` (the plan drawn), ``scenery`` (a backdrop per
setting, the weather, the named props), ``frame`` (the layout and the composed canvas), ``hud`` (burn-ins), ``clip`` (panels and clips), ``cards`` (asset image
keys) and ``backend`` (the render backend). The camera vocabulary is ``studio.camera``.
"""

from __future__ import annotations

from render.animatic.backend import ANIMATIC_VERSION, AnimaticBackend
from render.animatic.cards import AnimaticCardRenderer
from render.animatic.clip import (
    _ShotRender,
    clip_frames,
    draw_panel,
    encode_png,
    panel_figures,
    render_clip,
)
from render.animatic.colour import character_colour
from render.animatic.frame import compose_canvas
from render.animatic.hud import timecode
from render.animatic.motion import BASE_VIEW, MOVEMENTS, Affine, camera_path, frame_count
from render.animatic.staging import _plan
from render.animatic.text import _ascii, _font, wrap_text
from studio.camera import Framing, parse_camera

__all__ = [
    "ANIMATIC_VERSION",
    "BASE_VIEW",
    "MOVEMENTS",
    "Affine",
    "AnimaticBackend",
    "AnimaticCardRenderer",
    "Framing",
    "_ShotRender",
    "_ascii",
    "_font",
    "_plan",
    "camera_path",
    "character_colour",
    "clip_frames",
    "compose_canvas",
    "draw_panel",
    "encode_png",
    "frame_count",
    "panel_figures",
    "parse_camera",
    "render_clip",
    "timecode",
    "wrap_text",
]
