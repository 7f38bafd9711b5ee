"""The animatic draws the place the scene names: the setting table (render.animatic.setting)
and real rendered frames of it (a jetty on a grey sea is water and planks, not a lawn)."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import pytest

from render.animatic import AnimaticCardRenderer, draw_panel
from render.animatic.setting import named_props, read_setting
from studio.headings import split_heading
from studio.model import RenderSpec
from studio.ports import FrameSpec
from tests.test_animatic import NOIR, make_spec

W, H = 640, 360
PICTURE = H - max(24, round(H * 0.2))  # the caption strip is below the picture


@pytest.mark.parametrize(
    ("heading", "action", "kind", "family", "weather", "tod"),
    [
        ("EXT. JETTY - DAY", "Mia walks out. A grey sea.", "jetty", "water", "overcast", "day"),
        ("EXT. OLD PIER - NIGHT", "", "jetty", "water", "", "night"),
        ("EXT. HARBOUR BRIDGE - DUSK", "", "bridge", "water", "", "dusk"),
        ("EXT. HARBOUR - DAWN", "Gulls.", "harbour", "water", "", "dawn"),
        ("EXT. BEACH - CONTINUOUS", "Moonlight on the waves.", "beach", "water", "", "night"),
        ("EXT. CLIFF TOP - NIGHT", "Thunder cracks over the sea.", "sea", "water", "storm", "night"),
        ("EXT. LAKE - DAY", "Fog on the water.", "lake", "water", "fog", "day"),
        ("EXT. RIVERBANK - DAY", "", "river", "water", "", "day"),
        ("EXT. CANAL STREET - NIGHT", "Rain hammers the cobbles.", "street", "street", "rain", "night"),
        ("EXT. ALLEY - NIGHT", "", "alley", "street", "", "night"),
        ("EXT. HOSPITAL - DAY", "", "street", "street", "", "day"),  # a building's street
        ("EXT. FOREST - DAWN", "Mist between the trees.", "forest", "forest", "fog", "dawn"),
        ("EXT. CITY PARK - DAY", "", "park", "park", "", "day"),
        ("EXT. FARM - DAY", "", "field", "field", "", "day"),
        ("EXT. DESERT - DAY", "The sun blazes.", "desert", "desert", "sun", "day"),
        ("EXT. MOUNTAIN PASS - DAY", "Snow falls.", "mountain", "mountain", "snow", "day"),
        ("INT. OSKAR'S UMBRELLA REPAIR SHOP - DAY", "", "shop", "room", "", "day"),
        ("INT. KITCHEN - NIGHT", "Rain on the window.", "kitchen", "room", "rain", "night"),
        ("INT. HOSPITAL CORRIDOR - NIGHT", "", "corridor", "room", "", "night"),
        ("INT. DINER - NIGHT", "", "bar", "room", "", "night"),
        ("INT. CAR - NIGHT", "", "car", "room", "", "night"),
        ("INT. BEDROOM - DAY", "", "bedroom", "room", "", "day"),
        ("INT. OFFICE - DAY", "", "office", "room", "", "day"),
        ("INT. CLASSROOM - DAY", "", "classroom", "room", "", "day"),
        ("INT. CHURCH - DAY", "", "church", "room", "", "day"),
        # the heading names nothing we know: the action's place, else unknown
        ("EXT. SOMEWHERE - DAY", "She stands on the jetty over a grey lake.", "jetty", "water",
         "overcast", "day"),
        ("EXT. NOWHERE - DAY", "No sea in sight, just a road.", "street", "street", "", "day"),
        ("EXT. THE ZONE - DAY", "Mia waits.", "unknown", "unknown", "", "day"),
        ("INT. THE VOID - DAY", "", "unknown", "room", "", "day"),
        # weather words that are a person's verbs are no weather; 'cars pass' is no mountain
        ("EXT. THE ZONE - DAY", "Mia storms out past the cars that pass.", "unknown", "unknown",
         "", "day"),
        # no time in the heading: the action's light
        ("EXT. JETTY", "Stars over the water.", "jetty", "water", "", "night"),
    ],
)  # fmt: skip
def test_the_setting_table_reads_the_heading_then_the_action(
    heading: str, action: str, kind: str, family: str, weather: str, tod: str
) -> None:
    setting = read_setting(heading=heading, action=action)
    assert (setting.kind, setting.family, setting.weather, setting.tod) == (
        kind,
        family,
        weather,
        tod,
    )
    assert setting.interior == heading.startswith("INT")


def test_a_named_place_keeps_every_feature_and_its_label() -> None:
    beach = read_setting(heading="EXT. BEACH - DAY", action="Mia runs down the jetty.")
    assert beach.kind == "beach" and "jetty" in beach.features and beach.water
    assert read_setting(heading="EXT. THE ZONE - DAY").label == "THE ZONE"
    # the scene's description (the location asset in the frame prompt) names the place too
    described = read_setting(heading="EXT. LOOKOUT - DAY", scene_text="a pier over a grey sea")
    assert (described.kind, described.weather) == ("jetty", "overcast")


def test_named_props_follow_the_caps_convention() -> None:
    action = (
        "Mia drops a RED UMBRELLA and her phone. The bell JANGLES. OSKAR stares at "
        "Mia's CLAIM TICKET. A loud BANG."
    )
    assert named_props(action, ("OSKAR", "MIA")) == ("RED UMBRELLA", "CLAIM TICKET", "PHONE")
    assert named_props("She has no phone.") == ()
    assert named_props("Two glasses on the bar.") == ("GLASS",)


# --------------------------------------------------------------------------- frames


def scene(heading: str, action: str = "", camera: str = "EWS", **changes: Any) -> RenderSpec:
    """An empty shot (no figures) of ``heading``: only the backdrop is drawn."""
    int_ext, location, time = split_heading(heading)
    base: dict[str, Any] = dict(
        width=W, height=H, scene_heading=heading, int_ext=int_ext.value, location=location,
        time_of_day=time, characters=(),
        shot_changes={"action": action, "setting": heading, "camera": camera, "characters": (),
                      "dialogue": ""},
    )  # fmt: skip
    return make_spec(**(base | changes))


def picture(spec: RenderSpec) -> np.ndarray:
    return draw_panel(spec)[:PICTURE].astype(np.int32)


def green(img: np.ndarray) -> np.ndarray:
    b, g, r = img[..., 0], img[..., 1], img[..., 2]
    return (g > r + 10) & (g > b + 10)


def test_a_jetty_on_a_grey_sea_is_water_and_planks_not_a_lawn() -> None:
    jetty = picture(scene("EXT. JETTY - DAY", "Mia walks out to the end. A grey sea."))
    lower = jetty[int(PICTURE * 0.55) :]
    sides = np.concatenate([lower[:, : W // 8], lower[:, -W // 8 :]], axis=1)
    sb, sg, sr = sides[..., 0], sides[..., 1], sides[..., 2]
    water = (sb >= sr) & (sb >= sg - 6)
    assert water.mean() > 0.8  # blue-grey water on both sides of the jetty
    spread = sides.max(-1) - sides.min(-1)
    assert np.median(spread) < 70  # grey-blue, not a saturated colour
    centre = lower[-PICTURE // 8 :, W * 2 // 5 : W * 3 // 5]
    wood = centre[..., 2] > centre[..., 0] + 8
    assert wood.mean() > 0.6  # the planks run out under the camera
    assert green(lower).mean() < 0.02  # and no lawn
    # the same detector finds the lawn of a park
    park = picture(scene("EXT. CITY PARK - DAY", "A sunny afternoon."))
    assert green(park[int(PICTURE * 0.55) :]).mean() > 0.3


def test_an_unknown_place_is_neutral_and_labelled() -> None:
    spec = scene("EXT. THE ZONE - DAY", "Mia waits.")
    img = picture(spec)
    horizon = int(PICTURE * 0.45)
    above = img[horizon - PICTURE // 12 : horizon - 3, W // 6 : -W // 6]
    assert above.std(axis=1).max() < 6  # a clean horizon: no tree line, no skyline
    ground = img[horizon + 4 : int(PICTURE * 0.8)]
    assert (ground.max(-1) - ground.min(-1)).mean() < 25 and not green(ground).any()
    # the location's name on a dark chip, bottom left
    chip = img[int(PICTURE * 0.82) : int(PICTURE * 0.95), : W // 3]
    assert (chip.max(-1) < 25).sum() > 300 and (chip.min(-1) > 180).sum() > 20
    other = picture(scene("EXT. THE OTHER ZONE - DAY", "Mia waits."))
    changed = np.abs(img - other).max(-1) > 0
    assert changed.any() and not changed[: int(PICTURE * 0.8)].any()


@pytest.mark.parametrize(
    "place",
    ["JETTY", "CANAL STREET", "FOREST", "DESERT", "FARM", "THE ZONE", "KITCHEN", "CHURCH"],
)
def test_night_is_darker_than_day(place: str) -> None:
    ie = "INT" if place in ("KITCHEN", "CHURCH") else "EXT"
    day = picture(scene(f"{ie}. {place} - DAY", camera="WS"))
    night = picture(scene(f"{ie}. {place} - NIGHT", camera="WS"))
    assert night.mean() < day.mean() - 15


def sky_and_water(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    horizon = int(PICTURE * 0.45)
    return img[PICTURE // 8 : horizon - 4, W // 6 : -W // 6], img[horizon + 6 :, : W // 6]


def streaks(img: np.ndarray, kernel: tuple[int, int] = (1, 5)) -> float:
    """Thin bright lines (or, with a square kernel, spots): the mean response of a top-hat
    filter, which keeps what is brighter than its surroundings and narrower than it."""
    grey = img.mean(-1).astype(np.uint8)
    tophat = cv2.morphologyEx(grey, cv2.MORPH_TOPHAT, np.ones(kernel, np.uint8))
    return float(tophat.mean())


def chroma(img: np.ndarray) -> float:
    return float((img.max(-1) - img.min(-1)).mean())


def test_weather_changes_the_frame_measurably() -> None:
    heading = "EXT. JETTY - DAY"
    dry = picture(scene(heading, "Mia waits."))
    rain = picture(scene(heading, "Rain lashes the boards."))
    snow = picture(scene(heading, "Snow drifts down."))
    fog = picture(scene(heading, "Thick fog."))
    storm = picture(scene(heading, "A storm breaks."))
    grey = picture(scene(heading, "A grey sea."))
    dry_sky, dry_water = sky_and_water(dry)
    assert streaks(sky_and_water(rain)[0]) > streaks(dry_sky) + 0.25  # streaks over the sky
    assert streaks(snow, (7, 7)) > streaks(dry, (7, 7)) + 0.3  # white flakes everywhere
    # fog: a veil that flattens the picture towards one pale colour
    far = slice(PICTURE // 8, int(PICTURE * 0.7))  # below the burn-ins, down to the jetty
    assert fog[far].std() < dry[far].std() * 0.6
    assert chroma(fog[far]) < chroma(dry[far]) - 10
    # a storm: a darker sky, and a flash of lightning in it
    storm_sky = sky_and_water(storm)[0]
    assert storm_sky.mean() < dry_sky.mean() - 15 and storm_sky.max() > 240
    # a grey sea is greyer than a plain one
    assert chroma(sky_and_water(grey)[1]) < chroma(dry_water) - 5


def test_rooms_are_furnished_after_their_kind() -> None:
    # one set (the same seed, the same layout): only the room's kind changes
    kinds = ("THE VOID", "KITCHEN", "BEDROOM", "DINER", "CLASSROOM", "CHURCH", "CAR", "OFFICE",
             "HOSPITAL ROOM", "CORRIDOR", "LIVING ROOM")  # fmt: skip
    rooms = {
        kind: picture(scene(f"INT. {kind} - DAY", camera="WS", location="SET", scene_heading=""))
        for kind in kinds
    }
    plain = rooms.pop("THE VOID")
    for kind, img in rooms.items():
        assert np.abs(img - plain).mean() > 3, kind


def test_a_named_prop_is_drawn_and_labelled_in_a_wide_shot() -> None:
    heading = "EXT. THE ZONE - DAY"
    plain = picture(scene(heading, "Mia waits.", camera="WS"))
    prop = picture(scene(heading, "Mia sets down a BRASS COMPASS.", camera="WS"))
    changed = np.abs(prop - plain).max(-1) > 10
    assert changed[:, W * 3 // 4 :].sum() > 200  # the box and its chip, bottom right
    assert not changed[:, W // 3 : W * 2 // 3].any()
    close = picture(scene(heading, "Mia sets down a BRASS COMPASS.", camera="CU"))
    assert np.array_equal(close, picture(scene(heading, "Mia waits.", camera="CU")))


def test_backdrops_are_deterministic_per_seed() -> None:
    for heading in ("EXT. JETTY - NIGHT", "EXT. FOREST - DAY", "INT. DINER - NIGHT"):
        spec = scene(heading, "Rain.")
        assert np.array_equal(picture(spec), picture(spec))
        assert not np.array_equal(picture(spec), picture(spec.model_copy(update={"seed": 99})))


def test_the_style_palette_still_colours_the_place() -> None:
    noir = picture(scene("EXT. JETTY - DAY", style=NOIR))
    plain = picture(scene("EXT. JETTY - DAY", style=None))
    assert np.abs(noir - plain).mean() > 3


def test_a_location_card_draws_the_place_its_description_names() -> None:
    spec = FrameSpec(kind="location", title="Lookout", prompt="a wooden jetty on a grey sea",
                     width=480, height=480, extra={"int_ext": "EXT", "time_of_day": "DAY"})  # fmt: skip
    png = AnimaticCardRenderer().render_frame(spec)
    card = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR).astype(np.int32)
    picture_bottom = 480 - AnimaticCardRenderer._band(480)  # above the caption band
    lower = card[picture_bottom - 40 : picture_bottom - 4]
    side, centre = lower[:, 10:50], lower[:, 200:280]
    assert ((side[..., 0] >= side[..., 2]) & ~green(side)).mean() > 0.8  # water
    assert (centre[..., 2] > centre[..., 0] + 8).mean() > 0.6  # the jetty's planks


def test_weather_written_once_in_the_scene_falls_in_every_shot() -> None:
    """A scene's first action line names the rain; a later shot's own action does not: the
    spec carries the scene's action (production fills ``scene_action``), so it rains there."""
    heading = "EXT. JETTY - DAY"
    dry = picture(scene(heading, "Mia waits."))
    wet = picture(scene(heading, "Mia waits.", scene_action="Rain lashes the boards. Mia waits."))
    assert streaks(sky_and_water(wet)[0]) > streaks(sky_and_water(dry)[0]) + 0.25
