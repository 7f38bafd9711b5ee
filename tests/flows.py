"""Shared test set-ups: a small screenplay and the service calls that take a project
through the gates (the same calls the app's buttons make)."""

from __future__ import annotations

from collections.abc import Iterable

SHORT = b"""Title: Two Rooms

INT. KITCHEN - NIGHT

Mara fills a kettle. Rain taps the window.

MARA
Are you staying?

EXT. PORCH - NIGHT

Theo stands in the rain, soaked to the skin.

THEO
Not tonight.
"""


def lock_phase_a(studio, pid: str, style: str = "neo-noir") -> None:
    """Approve the script and lock every asset and the style (stage 5)."""
    studio.approve_script(pid)
    studio.choose_style(pid, style)
    for asset in studio.state(pid).assets.assets:
        studio.generate_image_key(pid, asset.id)
        studio.lock_asset(pid, asset.id)
    studio.lock_style(pid)


def lock_through_prompts(studio, pid: str, scenes: Iterable[int]) -> None:
    """Lock each scene's shot list, visual state (carrying every pending tag) and prompts."""
    for number in scenes:
        studio.lock_shots(pid, number)
        for asset_id, tag in studio.hub(pid)[number - 1].pending_carry:
            studio.decide_carry(pid, number, asset_id, tag, True)
        studio.lock_visual_state(pid, number)
        studio.lock_prompts(pid, number)


def render_and_approve_frames(studio, pid: str, scene) -> None:
    """Quick mode: render every anchor frame in-process, approve them all, lock."""
    studio.set_frame_mode(pid, scene, "quick")
    studio.render_frames(pid, scene)
    studio.drain_queue()
    studio.sync_renders(pid)
    for row in studio.frames_view(pid, scene).rows:
        studio.approve_frame(pid, scene, row.shot.id, "start")
        if row.needs_end:
            studio.approve_frame(pid, scene, row.shot.id, "end")
    studio.lock_frames(pid, scene)
