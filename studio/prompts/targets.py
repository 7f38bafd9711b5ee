"""Target models of stage 9: which image and video models a prompt is written for, their
word budgets and which video models fit a shot."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from studio.errors import BadInput
from studio.model import Shot


@dataclass(frozen=True)
class TargetModel:
    """A downstream model a prompt is written for, with the length it digests well.

    ``role`` says which prompt it consumes ("any" for the animatic, which takes both).
    ``frames`` lists the anchor-frame modes a video model accepts ("start+end" needs a
    start and an end frame, "start" a start frame only); frame models have none.
    ``max_words`` is the advisory limit the sanity checker warns past (None: no limit);
    ``token_limit`` the encoder's hard context, for the record.
    """

    key: str
    role: Literal["frame", "video", "any"]
    max_words: int | None
    token_limit: int | None
    frames: tuple[str, ...]
    negative_prompt: bool
    note: str


TARGET_MODELS: dict[str, TargetModel] = {
    # SDXL's two CLIP text encoders have a 77-token context (75 usable + BOS/EOS). ComfyUI
    # encodes longer prompts as concatenated 77-token chunks, so nothing is cut, but words
    # past the first chunk lose weight. English averages ~1.3 CLIP BPE tokens per word, so
    # 75 words is already ~2 chunks: the warning is deliberately generous.
    "sdxl": TargetModel(
        key="sdxl",
        role="frame",
        max_words=75,
        token_limit=77,
        frames=(),
        negative_prompt=True,
        note="CLIP 77-token chunks; keep the essentials in the first ~75 words",
    ),
    # Flux.1 reads the prompt with T5-XXL, max_sequence_length 512 tokens on dev (256 on
    # schnell; diffusers FluxPipeline). 512 T5 tokens are roughly 400 English words; past
    # that the text is truncated. Flux dev is guidance-distilled (CFG 1): negative prompts
    # are ignored.
    "flux": TargetModel(
        key="flux",
        role="frame",
        max_words=400,
        token_limit=512,
        frames=(),
        negative_prompt=False,
        note="T5-XXL, 512 tokens (dev); long natural-language prompts are fine",
    ),
    # Wan 2.x encodes the prompt with umT5-XXL, text_len 512 (wan/configs/shared_config.py),
    # but its own prompt extender rewrites prompts to about 80-100 words; motion prompts
    # longer than ~120 words dilute the motion and get ignored past the first sentences.
    "wan2.2-flf2v": TargetModel(
        key="wan2.2-flf2v",
        role="video",
        max_words=120,
        token_limit=512,
        frames=("start+end",),
        negative_prompt=True,
        note="first-last-frame to video: concise motion prompt, both anchor frames",
    ),
    "wan2.2-i2v": TargetModel(
        key="wan2.2-i2v",
        role="video",
        max_words=120,
        token_limit=512,
        frames=("start",),
        negative_prompt=True,
        note="image to video: start frame only, the model invents the end state",
    ),
    # The CPU animatic draws a storyboard from the frames and captions; it reads any prompt
    # and any frame mode, so no limit applies.
    "animatic": TargetModel(
        key="animatic",
        role="any",
        max_words=None,
        token_limit=None,
        frames=("start", "start+end"),
        negative_prompt=False,
        note="CPU storyboard animatic: any prompt, any frame mode",
    ),
}


def frame_mode(shot: Shot) -> str:
    """The anchor frames a shot needs: "start" for start-frame-only shots, else "start+end"."""
    return "start" if shot.start_frame_only else "start+end"


def compatible_video_models(shot: Shot) -> tuple[str, ...]:
    """Video targets (table order) that accept the shot's frame mode."""
    mode = frame_mode(shot)
    return tuple(
        m.key for m in TARGET_MODELS.values() if m.role in ("video", "any") and mode in m.frames
    )


def _target(key: str, role: Literal["frame", "video"]) -> TargetModel:
    model = TARGET_MODELS.get(key)
    if model is None or model.role not in (role, "any"):
        known = ", ".join(k for k, m in TARGET_MODELS.items() if m.role in (role, "any"))
        raise BadInput(f"unknown {role} model {key!r}: choose one of {known}")
    return model


def _video_key(shot: Shot, video_model: str | None) -> str:
    """The chosen video target, or the shot's first compatible one (wan2.2-flf2v / -i2v)."""
    if video_model is None:
        return compatible_video_models(shot)[0]
    return _target(video_model, "video").key
