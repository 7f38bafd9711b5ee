"""Stage 9 prompt assembly: shot + scene visual state + locked style -> one prompt set per shot.

Deterministic and offline (no LLM): the same inputs give byte-identical prompts. Each shot
gets three prompts, kept apart on purpose (seed 9.4, "Prompt Verbosity Rules"):

- the **frame prompt** drives the anchor frames (image model): visually verbose — camera,
  characters by prominence with their scene-instance descriptions and condition tags, where
  they stand, setting and light, props, the starting action, then the locked style;
- the **video prompt** drives the clip (video model): timing, camera movement, action,
  dialogue with speakers and SFX in the seed's Veo-style ``Audio:`` section. It names the
  characters but restates no visuals: the anchor frames already carry the visual truth;
- the **system scaffold** is system-owned orchestration (anchor-frame role, continuity,
  identity, start-frame-only behaviour, negative prompt): never editable.

``merge_with_saved`` keeps manual edits while the inputs are unchanged (same ``basis``) and
parks them in ``previous_*_edit`` when an upstream change re-assembles the prompt.
``check_prompt_set`` is the sanity checker: it warns, never blocks.

The package: ``targets`` (the target models), ``text`` (text helpers), ``assemble`` (the
prompt sets), ``edits`` (manual edits kept or parked) and ``check`` (the sanity checker).
The camera words come from ``studio.camera``, the CAPS convention from ``studio.caps``.
"""

from __future__ import annotations

from studio.camera import camera_words
from studio.prompts.assemble import (
    NEGATIVE_PROMPT,
    PROMPT_LABELS,
    PROMPT_TEMPLATE_VERSION,
    PromptAsset,
    PromptKind,
    Speech,
    assemble_prompt_set,
    assemble_scene,
    colour_name,
    model_tags,
    parse_dialogue,
    prompt_basis,
)
from studio.prompts.check import (
    VISUAL_WORDS,
    WARNING_CODES,
    PromptWarning,
    check_prompt_set,
    leaked_descriptors,
    visual_descriptors,
)
from studio.prompts.edits import (
    apply_edit,
    merge_with_saved,
)
from studio.prompts.targets import (
    TARGET_MODELS,
    TargetModel,
    compatible_video_models,
    frame_mode,
)

__all__ = [
    "NEGATIVE_PROMPT",
    "PROMPT_LABELS",
    "PROMPT_TEMPLATE_VERSION",
    "PromptAsset",
    "PromptKind",
    "PromptWarning",
    "Speech",
    "TARGET_MODELS",
    "TargetModel",
    "VISUAL_WORDS",
    "WARNING_CODES",
    "apply_edit",
    "assemble_prompt_set",
    "assemble_scene",
    "camera_words",
    "check_prompt_set",
    "colour_name",
    "compatible_video_models",
    "frame_mode",
    "leaked_descriptors",
    "merge_with_saved",
    "model_tags",
    "parse_dialogue",
    "prompt_basis",
    "visual_descriptors",
]
