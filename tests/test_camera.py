"""One camera vocabulary: the breakdown writes it, the prompts word it, the animatic draws it."""

from __future__ import annotations

from render import animatic
from studio.model import RenderCharacter, RenderSpec, Shot, ShotCharacter
from studio.prompts import camera_words


def spec_for(camera: str, characters: tuple[str, ...] = ("MIA",), **shot: object) -> RenderSpec:
    made = Shot(
        id="1C",
        duration_s=2.0,
        action=shot.pop("action", "Mia stares at the letter."),  # type: ignore[arg-type]
        dialogue=shot.pop("dialogue", ""),  # type: ignore[arg-type]
        characters=tuple(ShotCharacter(name=n) for n in characters),
        setting="INT. UMBRELLA SHOP - NIGHT",
        camera=camera,
    )
    return RenderSpec(
        kind="frame", project_id="p", scene_id="sc-1", shot_id=made.id, which="start", seed=3,
        width=426, height=240, fps=24, duration_s=made.duration_s, start_s=0.0, shot=made,
        scene_heading="INT. UMBRELLA SHOP - NIGHT", int_ext="INT", location="UMBRELLA SHOP",
        time_of_day="NIGHT",
        characters=tuple(RenderCharacter(name=n) for n in characters),
    )  # fmt: skip


def drawn_height(camera: str, name: str = "MIA") -> float:
    """The drawn height of ``name``'s figure (in view heights) in the shot's start panel."""
    figures = {f.name: f for f in animatic._plan(spec_for(camera), "start").figures}
    return figures[name].height


def test_bcu_is_prompted_and_drawn_as_a_big_close_up() -> None:
    # The issue: "BCU on MIA" was prompted as a big close-up and drawn as a medium shot.
    assert camera_words("BCU on MIA")[0].startswith("big close-up")
    assert drawn_height("CU on MIA") < drawn_height("BCU on MIA") < drawn_height("ECU on MIA")
    assert drawn_height("BCU on MIA") > drawn_height("MS on MIA")
