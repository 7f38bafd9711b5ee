"""The animatic render backend: frame, clip, card and assemble jobs on the CPU."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from render.animatic.cards import AnimaticCardRenderer
from render.animatic.clip import _read_image, draw_panel, encode_png, panel_figures, render_clip
from render.animatic.frame import _layout, _type
from render.animatic.staging import Which
from render.animatic.text import _ascii, _fit, _put
from render.backend import CancelledFn, ProgressFn, RenderFailed, RenderOutput
from render.post import check_input, concat, ffmpeg_version
from studio.model import RenderSpec, slugify
from studio.pngmeta import read_figures
from studio.ports import FrameSpec

ANIMATIC_VERSION = "animatic-3"  # 3: the backdrop follows the setting; 2: one camera vocabulary


def _versions() -> dict[str, str]:
    return {
        "animatic": ANIMATIC_VERSION,
        "numpy": np.__version__,
        "opencv": cv2.__version__,
        "ffmpeg": ffmpeg_version(),
    }


def _recipe_hash() -> str:
    return hashlib.sha256(
        f"{ANIMATIC_VERSION}|{cv2.__version__}|{np.__version__}".encode()
    ).hexdigest()[:16]


def _safe_stem(text: str) -> str:
    return slugify(text, 40) if not re.fullmatch(r"[0-9]+[A-Z]+", text or "") else text


_CARD_KINDS = ("character", "location", "prop", "panel")


class AnimaticBackend:
    """The embedded CPU renderer: frames, clips, asset cards and scene assembly.

    ``roots``: the folders input files (reference / anchor frames, clips to assemble) must
    lie in; None accepts any plain media file (the other input checks still apply).
    """

    name = "animatic"

    def __init__(
        self, roots: Sequence[Path | str] | None = None, *, timeout_s: float = 600.0
    ) -> None:
        self.roots = [Path(r) for r in roots] if roots is not None else None
        self.timeout_s = timeout_s

    def run(
        self, spec: RenderSpec, out_dir: Path, progress: ProgressFn, cancelled: CancelledFn
    ) -> RenderOutput:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        try:
            if spec.kind == "frame":
                files = self._frame(spec, out_dir, progress)
            elif spec.kind == "clip":
                files = self._clip(spec, out_dir, progress, cancelled)
            elif spec.kind == "card":
                files = self._card(spec, out_dir)
            elif spec.kind == "assemble":
                files = self._assemble(spec, out_dir, progress)
            else:  # pragma: no cover - RenderKind is a Literal
                raise RenderFailed(f"the animatic cannot render {spec.kind!r}", "validation")
        except OSError as exc:
            if exc.errno == 28:
                raise RenderFailed("disk full: free some space and retry", "disk") from None
            raise RenderFailed(f"could not write the output: {exc.strerror or exc}", "io") from None
        progress(1.0, "done")
        return RenderOutput(
            files=tuple(files),
            models=(ANIMATIC_VERSION,),
            workflow_hash=_recipe_hash(),
            peak_vram_mb=None,
            versions=_versions(),
        )

    def _stem(self, spec: RenderSpec) -> str:
        return _safe_stem(spec.shot_id or (spec.shot.id if spec.shot else "") or "panel")

    def _frame(self, spec: RenderSpec, out_dir: Path, progress: ProgressFn) -> list[Path]:
        which: Which = spec.which or "start"
        progress(0.1, f"drawing the {which} frame")
        figures = panel_figures(spec, which)
        if spec.region_prompt and spec.inputs.get("mask"):
            image = _region_edit(spec, which, self.roots)
            base = spec.inputs.get(f"{which}_frame")
            if base:  # the edit keeps the base frame's figures, whoever drew it
                figures = dict(read_figures(check_input(base, self.roots)[0].read_bytes()))
        else:
            image = draw_panel(spec, which)
        path = out_dir / f"{self._stem(spec)}_{which}.png"
        path.write_bytes(encode_png(image, figures))
        return [path]

    def _clip(
        self, spec: RenderSpec, out_dir: Path, progress: ProgressFn, cancelled: CancelledFn
    ) -> list[Path]:
        stem = self._stem(spec)
        progress(0.02, "drawing the panels")
        out, shot = render_clip(spec, out_dir / f"{stem}.mp4", progress, cancelled, self.roots)
        files = [out]
        if "start_frame" not in spec.inputs:
            p = out_dir / f"{stem}_start.png"
            p.write_bytes(encode_png(shot.panel("start"), panel_figures(spec, "start")))
            files.append(p)
        if "end_frame" not in spec.inputs and not (spec.shot and spec.shot.start_frame_only):
            p = out_dir / f"{stem}_end.png"
            p.write_bytes(encode_png(shot.panel("end"), panel_figures(spec, "end")))
            files.append(p)
        return files

    def _card(self, spec: RenderSpec, out_dir: Path) -> list[Path]:
        kind = spec.prompts.get("card_kind") or (
            "character" if spec.characters else "location" if spec.location else "prop"
        )
        title = (
            spec.prompts.get("title")
            or (
                spec.characters[0].name
                if spec.characters and kind == "character"
                else spec.location
            )
            or "asset"
        )
        extra = {"int_ext": spec.int_ext, "time_of_day": spec.time_of_day}
        if spec.characters and kind == "character":
            extra["colour"] = spec.characters[0].colour
            extra["condition_tags"] = ",".join(spec.characters[0].condition_tags)
        frame_spec = FrameSpec(
            kind=kind if kind in _CARD_KINDS else "panel",  # type: ignore[arg-type]
            title=title,
            prompt=spec.prompts.get("prompt", spec.prompts.get("description", "")),
            width=spec.width,
            height=spec.height,
            seed=spec.seed,
            palette=spec.style.palette if spec.style else (),
            extra=extra,
        )
        path = out_dir / f"card_{slugify(title, 40)}.png"
        path.write_bytes(AnimaticCardRenderer().render_frame(frame_spec))
        return [path]

    def _assemble(self, spec: RenderSpec, out_dir: Path, progress: ProgressFn) -> list[Path]:
        clips = sorted(
            (
                (int(k.split("_", 1)[1]), v)
                for k, v in spec.inputs.items()
                if re.fullmatch(r"clip_\d+", k)
            ),
        )
        if not clips:
            raise RenderFailed("nothing to assemble: the scene has no clips", "validation")
        progress(0.1, f"joining {len(clips)} clips")
        roles = [f"clip_{n}" for n, _ in clips]
        result = concat(
            [p for _, p in clips],
            out_dir / f"{slugify(spec.scene_id, 40)}.mp4",
            roots=self.roots,
            timeout=self.timeout_s,
            # The shot list's seconds per clip (set by the studio): a truncated clip is refused.
            expected_s=[spec.expected_s.get(r) for r in roles] if spec.expected_s else None,
            labels=[spec.prompts.get(f"label_{r}", r.replace("_", " ")) for r in roles],
        )
        return [result.path]


def _region_edit(spec: RenderSpec, which: Which, roots: Sequence[Path] | None) -> np.ndarray:
    """A region edit on the animatic: inside the mask the panel is redrawn with another seed
    and the region prompt is written there, so the edit is visible and reproducible."""
    base_path = spec.inputs.get(f"{which}_frame")
    base = _read_image(base_path, roots) if base_path else draw_panel(spec, which)
    lay = _layout(spec.width, spec.height)
    base = (
        cv2.resize(base, (lay.width, lay.height))
        if base.shape[:2] != (lay.height, lay.width)
        else base
    )
    mask = _read_image(spec.inputs["mask"], roots)
    mask = cv2.resize(
        cv2.cvtColor(mask, cv2.COLOR_BGR2GRAY),
        (lay.width, lay.height),
        interpolation=cv2.INTER_NEAREST,
    )
    alt = draw_panel(spec.model_copy(update={"seed": (spec.seed + 7919) % 2**31}), which)
    a = (cv2.GaussianBlur(mask, (0, 0), 2).astype(np.float32) / 255.0)[..., None]
    out = (base.astype(np.float32) * (1 - a) + alt.astype(np.float32) * a).astype(np.uint8)
    ys, xs = np.nonzero(mask > 127)
    if len(xs):
        font = _type(lay.height)["label"]
        text = _fit(
            "EDIT: " + _ascii(spec.region_prompt or ""), font, max(40, int(xs.max() - xs.min()))
        )
        x0, y0 = int(xs.min()), int(max(ys.min() + font.px + 6, font.px + 6))
        cv2.rectangle(
            out, (x0, y0 - font.px - 6), (x0 + font.width(text) + 8, y0 + 4), (18, 18, 18), -1
        )
        _put(out, text, (x0 + 4, y0), font, (120, 230, 255))
    return out
