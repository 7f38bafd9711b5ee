"""Manual prompt edits: kept while the basis is unchanged, parked when it changes."""

from __future__ import annotations

from studio.errors import BadInput
from studio.model import PromptSet


def merge_with_saved(assembled: PromptSet, saved: PromptSet | None) -> PromptSet:
    """Re-assembled prompts, keeping the user's edits.

    Same basis: the saved edits stay as they are. Changed basis: the new prompts win and an
    edit the user had made moves to ``previous_*_edit`` so both can be compared (an older
    unresolved one is kept). The system prompt and model tags are always the assembled ones.
    """
    if saved is None or saved.shot_id != assembled.shot_id:
        return assembled
    if saved.basis == assembled.basis:
        return assembled.model_copy(
            update={
                "frame_prompt": saved.frame_prompt
                if saved.frame_edited
                else assembled.frame_prompt,
                "video_prompt": saved.video_prompt
                if saved.video_edited
                else assembled.video_prompt,
                "frame_edited": saved.frame_edited,
                "video_edited": saved.video_edited,
                "previous_frame_edit": saved.previous_frame_edit,
                "previous_video_edit": saved.previous_video_edit,
            }
        )
    return assembled.model_copy(
        update={
            "previous_frame_edit": saved.frame_prompt
            if saved.frame_edited
            else saved.previous_frame_edit,
            "previous_video_edit": saved.video_prompt
            if saved.video_edited
            else saved.previous_video_edit,
        }
    )


def apply_edit(
    prompt_set: PromptSet,
    *,
    frame_prompt: str | None = None,
    video_prompt: str | None = None,
    system_prompt: str | None = None,
) -> PromptSet:
    """A manual edit of the frame and/or video prompt; marks it edited and resolves any kept
    previous edit of that prompt. The system scaffold is system-owned: editing it is refused."""
    if system_prompt is not None:
        raise BadInput(
            "the system scaffold prompt is system-owned and cannot be edited; "
            "edit the frame or the video prompt instead"
        )
    update: dict[str, object] = {}
    for kind, text in (("frame", frame_prompt), ("video", video_prompt)):
        if text is None:
            continue
        if not text.strip():
            raise BadInput(
                f"the {kind} prompt cannot be empty; re-assemble the prompts to get the "
                "generated text back"
            )
        text = text.strip()
        current = getattr(prompt_set, f"{kind}_prompt")
        if text == current and not getattr(prompt_set, f"{kind}_edited"):
            continue
        update[f"{kind}_prompt"] = text
        update[f"{kind}_edited"] = True
        update[f"previous_{kind}_edit"] = None
    return prompt_set.model_copy(update=update) if update else prompt_set
