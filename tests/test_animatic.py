"""The CPU animatic: panels, camera paths, clips, chaining, cancel, the backend and cards."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

import cv2
import imageio_ffmpeg
import numpy as np
import pytest

from render import animatic
from render.animatic import (
    BASE_VIEW,
    MOVEMENTS,
    AnimaticBackend,
    AnimaticCardRenderer,
    camera_path,
    character_colour,
    clip_frames,
    draw_panel,
    encode_png,
    panel_figures,
    parse_camera,
    timecode,
)
from render.backend import RenderFailed
from render.post import probe
from studio.model import RenderCharacter, RenderSpec, Shot, ShotCharacter, StylePack
from studio.pngmeta import read_figures
from studio.ports import FrameRenderer, FrameSpec

NOIR = StylePack(
    id="neo-noir", name="Neo-Noir",
    palette=("#0B0E14", "#1C2B3A", "#3E6A7A", "#C8553D", "#E8B04A", "#D9D4C7"),
    lighting="low-key, single hard source", grain="fine 35mm grain",
)
WATERCOLOUR = StylePack(
    id="watercolour", name="Watercolour",
    palette=("#F4EDE1", "#A7C4BC", "#5E8B7E", "#E9A178", "#C8553D", "#3D405B"),
    lighting="soft, diffuse daylight", grain="cold-press paper texture",
)
CAMERAS = ("EWS", "WS", "MS", "MCU", "CU", "ECU", "OTS on MIA (over OSKAR)", "INSERT",
           "2-SHOT", "GROUP", "TITLE CARD", "POV", "CU on BUS DRIVER", "WS, LOW ANGLE",
           "MS, DUTCH ANGLE", "")


def make_spec(**changes: Any) -> RenderSpec:
    """A shot of the sample's first scene; ``shot`` changes go in ``shot_changes``."""
    shot_changes = changes.pop("shot_changes", {})
    shot = Shot(
        id="1D", duration_s=2.0,
        dialogue="OSKAR (not looking up): We close at six.\nMIA: Then I'm early.",
        action="Mia walks to the counter. Rain sheets down the window.",
        characters=(ShotCharacter(name="OSKAR"), ShotCharacter(name="MIA", prominence="secondary")),
        setting="INT. UMBRELLA SHOP - NIGHT", camera="2-SHOT", movement="static",
    ).model_copy(update=shot_changes)
    base: dict[str, Any] = dict(
        kind="frame", project_id="p", scene_id="sc-1", shot_id=shot.id, which="start", seed=11,
        width=426, height=240, fps=24, duration_s=shot.duration_s, start_s=21.0, shot=shot,
        scene_heading="INT. UMBRELLA SHOP - NIGHT", int_ext="INT", location="UMBRELLA SHOP",
        time_of_day="NIGHT", style=NOIR,
        characters=(
            RenderCharacter(name="OSKAR", colour="#66a182"),
            RenderCharacter(name="MIA", colour="#edae49", condition_tags=("wet",)),
        ),
    )
    base.update(changes)
    return RenderSpec(**base)


def sha(a: np.ndarray | bytes) -> str:
    return hashlib.sha256(bytes(a) if isinstance(a, bytes) else a.tobytes()).hexdigest()


def decoded(path: Path) -> list[np.ndarray]:
    gen = imageio_ffmpeg.read_frames(str(path))
    meta = next(gen)
    w, h = meta["size"]
    return [np.frombuffer(f, np.uint8).reshape(h, w, 3) for f in gen]


def nothing(*_: object) -> None:
    return None


def never() -> bool:
    return False


# --------------------------------------------------------------------------- reading shots


def test_parse_camera_reads_framing_subject_and_shoulder() -> None:
    assert parse_camera("OTS on MIA (over OSKAR)") == animatic.Framing("ots", "MIA", "OSKAR")
    assert parse_camera("CU on BUS DRIVER").subject == "BUS DRIVER"
    assert parse_camera("CU on BUS DRIVER").kind == "cu"
    assert [parse_camera(c).kind for c in ("EWS", "WS", "MS", "2-SHOT", "INSERT", "TITLE CARD", "")] == [
        "ews", "ws", "ms", "two", "insert", "title", "ms"]
    assert parse_camera("WS, low angle").angle == "low"


def test_timecode_and_text_helpers() -> None:
    assert timecode(21.0, 24) == "00:00:21:00"
    assert timecode(3725.5, 24) == "01:02:05:12"
    font = animatic._font(12)
    lines = animatic.wrap_text("word " * 200, font, 200, 2)
    assert len(lines) == 2 and lines[-1].endswith("...")
    assert all(font.width(line) <= 200 for line in lines)
    assert animatic._ascii("Café — “quoted” …") == 'Cafe - "quoted" ...'
    assert character_colour("MIA") == character_colour(" mia ")


# --------------------------------------------------------------------------- camera as code


@pytest.mark.parametrize("movement", MOVEMENTS)
def test_camera_paths_are_eased_and_stay_inside_the_canvas(movement: str) -> None:
    path = camera_path(movement, 8.0, 24)
    assert len(path) == 192
    for pose in path:
        half = pose.size / 2
        assert half - 1e-9 <= pose.cx <= 1 - half + 1e-9 and half - 1e-9 <= pose.cy <= 1 - half + 1e-9
    if movement == "static":
        assert len(set(path)) == 1 and path[0].size == pytest.approx(BASE_VIEW)
        return

    def step(i: int) -> float:
        a, b = path[i], path[i + 1]
        return abs(b.cx - a.cx) + abs(b.cy - a.cy) + abs(b.size - a.size)

    assert path[0] != path[-1]
    if movement != "tracking":  # tracking bobs a little all the way
        assert step(0) < step(95) / 20 and step(190) < step(95) / 20  # starts and stops gently


def test_camera_path_directions() -> None:
    assert camera_path("dolly in", 4, 24)[-1].size < camera_path("dolly in", 4, 24)[0].size
    assert camera_path("dolly out", 4, 24)[-1].size > camera_path("dolly out", 4, 24)[0].size
    right = [p.cx for p in camera_path("pan", 4, 24)]
    left = [p.cx for p in camera_path("pan", 4, 24, direction=-1)]
    assert right == sorted(right) and left == sorted(left, reverse=True)
    assert camera_path("tilt", 4, 24)[-1].cy < camera_path("tilt", 4, 24)[0].cy
    assert camera_path("crane", 4, 24)[-1].cy < camera_path("crane", 4, 24)[0].cy
    assert len(camera_path("static", 5.6, 24)) == 134


# --------------------------------------------------------------------------- panels


@pytest.mark.parametrize("size", [(854, 480), (1280, 720)], ids=["480p", "720p"])
def test_every_camera_draws_at_480p_and_720p(size: tuple[int, int]) -> None:
    w, h = size
    seen = set()
    for camera in CAMERAS:
        for which in ("start", "end"):
            spec = make_spec(width=w, height=h, which=which, shot_changes={"camera": camera})
            panel = draw_panel(spec, which)
            assert panel.shape == (h, w, 3) and panel.dtype == np.uint8
            assert panel[: h * 3 // 4].std() > 5  # a picture, not a flat fill
            seen.add(sha(panel))
    assert len(seen) > len(CAMERAS)


@pytest.mark.parametrize("movement", MOVEMENTS)
def test_every_movement_draws_start_and_end(movement: str) -> None:
    spec = make_spec(width=854, height=480, shot_changes={"movement": movement, "camera": "MS"})
    start, end = draw_panel(spec, "start"), draw_panel(spec, "end")
    assert start.shape == end.shape == (480, 854, 3)
    assert sha(start) != sha(end)  # the end frame is the state after the move (and the walk)


def test_exteriors_times_of_day_and_styles_draw() -> None:
    for int_ext, tod in (("EXT", "DAY"), ("EXT", "DUSK"), ("EXT", "NIGHT"), ("INT", "DAY"), ("EXT", "DAWN")):
        for style in (NOIR, WATERCOLOUR, None):
            spec = make_spec(int_ext=int_ext, time_of_day=tod, location="HARBOUR BRIDGE", style=style,
                             scene_heading=f"{int_ext}. HARBOUR BRIDGE - {tod}")
            assert draw_panel(spec).std() > 5
    day = draw_panel(make_spec(time_of_day="DAY", scene_heading="INT. SHOP - DAY"))
    night = draw_panel(make_spec(time_of_day="NIGHT"))
    picture = slice(0, 240 * 3 // 4)
    assert day[picture].mean() > night[picture].mean() + 10


def test_panels_are_deterministic_and_seeded() -> None:
    spec = make_spec()
    a, b = draw_panel(spec), draw_panel(spec)
    assert sha(a) == sha(b)
    assert encode_png(a) == encode_png(b)
    assert sha(draw_panel(make_spec(seed=12))) != sha(a)
    assert sha(draw_panel(make_spec(shot_changes={"id": "1E"}))) != sha(a)


def test_a_character_keeps_its_colour_and_the_colour_is_used() -> None:
    spec = make_spec(shot_changes={"camera": "CU", "characters": (ShotCharacter(name="MIA"),)},
                     characters=(RenderCharacter(name="MIA", colour="#edae49"),), style=WATERCOLOUR,
                     time_of_day="DAY", scene_heading="INT. SHOP - DAY")
    panel = draw_panel(spec)
    mia = np.array([0x49, 0xAE, 0xED], np.int32)  # #edae49 in BGR
    close = np.abs(panel.astype(np.int32) - mia).sum(axis=2) < 80
    assert close.mean() > 0.05
    recoloured = spec.model_copy(update={"characters": (RenderCharacter(name="MIA", colour="#2e86ab"),)})
    assert sha(draw_panel(recoloured)) != sha(panel)


def test_blocking_is_stable_across_shots() -> None:
    """Left-to-right order follows the scene's order of first appearance, not the shot's."""
    both = (ShotCharacter(name="MIA"), ShotCharacter(name="OSKAR"))
    plan = animatic._plan(make_spec(shot_changes={"characters": both}), "start")
    xs = {f.name: f.u for f in plan.figures}
    assert xs["OSKAR"] < xs["MIA"]


# --------------------------------------------------------------------------- clips


def test_clip_frames_match_duration_size_and_fps(tmp_path: Path) -> None:
    spec = make_spec(kind="clip", which=None, shot_changes={"movement": "dolly in"})
    out = AnimaticBackend().run(spec, tmp_path, nothing, never)
    names = sorted(p.name for p in out.files)
    assert names == ["1D.mp4", "1D_end.png", "1D_start.png"]
    info = probe(tmp_path / "1D.mp4")
    assert (info.width, info.height, info.fps, info.frames) == (426, 240, 24.0, 48)
    assert info.codec == "h264" and info.pix_fmt == "yuv420p" and info.has_audio is False
    assert {"numpy", "opencv", "ffmpeg"} <= set(out.versions)
    # the PNG anchors are the clip's first and last frames (up to H.264's loss)
    frames = decoded(tmp_path / "1D.mp4")
    start = cv2.imread(str(tmp_path / "1D_start.png"))[:, :, ::-1]
    end = cv2.imread(str(tmp_path / "1D_end.png"))[:, :, ::-1]
    assert np.abs(frames[0].astype(int) - start).mean() < 4
    assert np.abs(frames[-1].astype(int) - end).mean() < 4


def test_clips_are_deterministic(tmp_path: Path) -> None:
    spec = make_spec(kind="clip", which=None, shot_changes={"movement": "pan"})
    raw_a = [sha(f) for f in clip_frames(spec)]
    raw_b = [sha(f) for f in clip_frames(spec)]
    assert raw_a == raw_b and len(set(raw_a)) > 10
    assert [sha(f) for f in clip_frames(spec.model_copy(update={"seed": 99}))] != raw_a
    a, b = tmp_path / "a", tmp_path / "b"
    AnimaticBackend().run(spec, a, nothing, never)
    AnimaticBackend().run(spec, b, nothing, never)
    assert [sha(f) for f in decoded(a / "1D.mp4")] == [sha(f) for f in decoded(b / "1D.mp4")]
    assert (a / "1D_start.png").read_bytes() == (b / "1D_start.png").read_bytes()


def test_start_frame_only_holds_the_start(tmp_path: Path) -> None:
    spec = make_spec(kind="clip", which=None, shot_changes={"start_frame_only": True})
    frames = [f[40:180].copy() for f in clip_frames(spec)]  # below the chips (the timecode runs)
    assert all(np.array_equal(frames[0], f) for f in frames)
    out = AnimaticBackend().run(spec, tmp_path, nothing, never)
    assert sorted(p.name for p in out.files) == ["1D.mp4", "1D_start.png"]


def test_chaining_starts_from_the_previous_end_frame(tmp_path: Path) -> None:
    previous = make_spec(shot_changes={"id": "1C", "camera": "WS", "movement": "pan"}, seed=3)
    ref = tmp_path / "1C_end.png"
    ref.write_bytes(encode_png(draw_panel(previous, "end")))
    ref_picture = cv2.imread(str(ref))[40:192]
    spec = make_spec(kind="clip", which=None, inputs={"reference": str(ref)})
    frames = [f.copy() for f in clip_frames(spec, roots=[tmp_path])]
    picture = slice(40, 192)  # between the chips and the caption strip (both the new shot's)
    assert np.array_equal(frames[0][picture], ref_picture)
    unchained = next(iter(clip_frames(make_spec(kind="clip", which=None))))[picture]
    assert np.abs(unchained.astype(int) - ref_picture).mean() > 10
    # by a quarter of the shot the chain has handed over to the shot itself
    assert np.array_equal(frames[20][picture], next(iter(clip_frames(make_spec(kind="clip", which=None))))[picture]) is False
    out = AnimaticBackend(roots=[tmp_path]).run(spec, tmp_path / "job", nothing, never)
    first = decoded(next(p for p in out.files if p.suffix == ".mp4"))[0][40:192, :, ::-1]
    assert np.abs(first.astype(int) - ref_picture).mean() < 4


def test_given_anchor_frames_are_used(tmp_path: Path) -> None:
    own = make_spec(kind="clip", which=None)
    ours = tmp_path / "own.png"
    ours.write_bytes(encode_png(draw_panel(own.model_copy(update={"kind": "frame", "which": "start"}), "start")))
    built = animatic._ShotRender.build(own.model_copy(update={"inputs": {"start_frame": str(ours)}}), [tmp_path])
    assert built.own_anchors is True  # our own panel: the clean canvas is kept
    other = tmp_path / "comfy.png"
    gradient = np.tile(np.linspace(0, 255, 640, dtype=np.uint8)[None, :, None], (360, 1, 3))
    cv2.imwrite(str(other), gradient)
    spec = own.model_copy(update={"inputs": {"start_frame": str(other)}})
    first = next(iter(clip_frames(spec, roots=[tmp_path])))
    assert first[:192].std() > 30 and abs(float(first[:192, 200].mean()) - 127) < 40


def test_hostile_inputs_to_a_clip_are_refused(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP SECRET")
    playlist = tmp_path / "ref.png"
    playlist.write_text(f"#EXTM3U\n{secret}\n")
    for inputs in ({"reference": str(playlist)}, {"reference": "concat:/etc/passwd"},
                   {"start_frame": "/etc/passwd"}, {"reference": str(secret)}):
        with pytest.raises(RenderFailed) as err:
            AnimaticBackend(roots=[tmp_path]).run(make_spec(kind="clip", which=None, inputs=inputs),
                                                  tmp_path / "job", nothing, never)
        assert err.value.failure_class == "validation"
    assert not list((tmp_path / "job").glob("*.mp4"))


def test_cancel_stops_within_a_bound(tmp_path: Path) -> None:
    spec = make_spec(kind="clip", which=None, duration_s=8.0, width=854, height=480,
                     shot_changes={"duration_s": 8.0, "movement": "tracking"})
    started = time.monotonic()
    calls = []

    def cancelled() -> bool:
        calls.append(1)
        return time.monotonic() - started > 0.3

    with pytest.raises(RenderFailed) as err:
        AnimaticBackend().run(spec, tmp_path, nothing, cancelled)
    assert err.value.failure_class == "cancelled"
    assert time.monotonic() - started < 2.0
    assert not list(tmp_path.glob("*.mp4")) and not list(tmp_path.glob(".partial-*"))


def test_progress_is_reported(tmp_path: Path) -> None:
    seen: list[float] = []
    AnimaticBackend().run(make_spec(kind="clip", which=None), tmp_path, lambda f, m: seen.append(f), never)
    assert seen == sorted(seen) and seen[-1] == 1.0 and len(seen) >= 2


# --------------------------------------------------------------------------- backend kinds


def test_frame_jobs_write_named_pngs(tmp_path: Path) -> None:
    backend = AnimaticBackend()
    out = backend.run(make_spec(which="end"), tmp_path, nothing, never)
    assert [p.name for p in out.files] == ["1D_end.png"]
    assert cv2.imread(str(out.files[0])).shape == (240, 426, 3)
    assert out.workflow_hash and out.models == (animatic.ANIMATIC_VERSION,)


def test_region_edit_changes_only_the_masked_region(tmp_path: Path) -> None:
    mask = np.zeros((240, 426), np.uint8)
    mask[40:120, 40:200] = 255
    cv2.imwrite(str(tmp_path / "mask.png"), mask)
    spec = make_spec(region_prompt="a red umbrella on the counter", inputs={"mask": str(tmp_path / "mask.png")})
    out = AnimaticBackend(roots=[tmp_path]).run(spec, tmp_path / "job", nothing, never)
    edited = cv2.imread(str(out.files[0]))
    plain = draw_panel(make_spec())
    assert np.array_equal(edited[150:180, 250:], plain[150:180, 250:])
    assert not np.array_equal(edited[40:120, 40:200], plain[40:120, 40:200])


def test_assemble_joins_the_scene_clips(tmp_path: Path) -> None:
    backend = AnimaticBackend(roots=[tmp_path])
    clips = {}
    for i, sid in enumerate(("1A", "1B", "1C")):
        spec = make_spec(kind="clip", which=None, shot_id=sid, shot_changes={"id": sid, "duration_s": 1.0},
                         duration_s=1.0)
        backend.run(spec, tmp_path / sid, nothing, never)
        clips[f"clip_{i}"] = str(tmp_path / sid / f"{sid}.mp4")
    spec = make_spec(kind="assemble", which=None, shot_id=None, shot=None, inputs=clips)
    out = backend.run(spec, tmp_path / "scene", nothing, never)
    assert [p.name for p in out.files] == ["sc-1.mp4"]
    assert probe(out.files[0]).frames == 72


def test_card_jobs_and_the_frame_renderer_port(tmp_path: Path) -> None:
    renderer = AnimaticCardRenderer()
    assert isinstance(renderer, FrameRenderer)
    images = {}
    for kind, title, prompt, extra in (
        ("character", "MIA", "Mia Varga, 28, long grey coat | Neo-Noir: noir", {"condition_tags": "wet, bloody"}),
        ("location", "HARBOUR BRIDGE", "Long iron bridge over a harbour in heavy rain at dusk", {}),
        ("location", "OSKAR'S SHOP", "Narrow old shop with a bowed window", {"int_ext": "INT"}),
        ("prop", "RED UMBRELLA", "Silk canopy the colour of a postbox", {}),
        ("prop", "ENVELOPE", "Cream envelope", {}),
        ("panel", "1A", "A wide shot", {}),
    ):
        spec = FrameSpec(kind=kind, title=title, prompt=prompt, width=512, height=512,  # type: ignore[arg-type]
                         palette=NOIR.palette, extra=extra)
        png = renderer.render_frame(spec)
        assert png == renderer.render_frame(spec)
        image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
        assert image.shape == (512, 512, 3) and image.std() > 10
        images[title] = sha(png)
    assert len(set(images.values())) == len(images)
    card = make_spec(kind="card", which=None, shot=None, shot_id=None,
                     characters=(RenderCharacter(name="OSKAR", colour="#66a182"),),
                     prompts={"card_kind": "character", "prompt": "Oskar Brandt, 74"}, width=512, height=512)
    out = AnimaticBackend().run(card, tmp_path, nothing, never)
    assert [p.name for p in out.files] == ["card_oskar.png"]


# --------------------------------------------------------------------------- figure boxes (QA identity)


def _colour_mask(image: np.ndarray, hex_colour: str, tolerance: int = 60) -> np.ndarray:
    bgr = np.array([int(hex_colour[i : i + 2], 16) for i in (5, 3, 1)], np.int32)
    return np.abs(image.astype(np.int32) - bgr).sum(axis=2) < tolerance


def test_panel_figures_box_each_visible_character_where_it_is_drawn() -> None:
    spec = make_spec(style=WATERCOLOUR, time_of_day="DAY", scene_heading="INT. SHOP - DAY",
                     shot_changes={"camera": "2-SHOT", "characters": (ShotCharacter(name="OSKAR"), ShotCharacter(name="MIA"))},
                     characters=(RenderCharacter(name="OSKAR", colour="#66a182"), RenderCharacter(name="MIA", colour="#edae49")))
    figures = panel_figures(spec)
    assert set(figures) == {"OSKAR", "MIA"}
    panel = draw_panel(spec)
    h, w = panel.shape[:2]
    for name, colour in (("OSKAR", "#66a182"), ("MIA", "#edae49")):
        x0, y0, x1, y1 = figures[name]
        assert 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1
        mask = _colour_mask(panel, colour)
        inside = mask[int(y0 * h) : int(y1 * h) + 1, int(x0 * w) : int(x1 * w) + 1].sum()
        assert mask.sum() > 50 and inside / mask.sum() > 0.8, name
    # the end panel has its own boxes (the camera and the figures have moved on)
    assert set(panel_figures(spec, "end")) <= {"OSKAR", "MIA"}


def test_panel_figures_leave_out_what_cannot_be_recognised() -> None:
    ots = make_spec(shot_changes={"camera": "OTS on MIA (over OSKAR)"})
    assert "OSKAR" not in panel_figures(ots)  # the shoulder, from behind
    assert panel_figures(make_spec(shot_changes={"camera": "INSERT"})) == {}
    assert panel_figures(make_spec(shot_changes={"camera": "TITLE CARD"})) == {}


def test_frame_jobs_and_character_cards_carry_their_figure_boxes(tmp_path: Path) -> None:
    spec = make_spec(shot_changes={"camera": "CU on BUS DRIVER", "characters": (ShotCharacter(name="BUS DRIVER"),)},
                     characters=(RenderCharacter(name="BUS DRIVER", colour="#00798c"),))
    out = AnimaticBackend().run(spec, tmp_path, nothing, never)
    assert set(read_figures(out.files[0].read_bytes())) == {"BUS DRIVER"}
    card = AnimaticCardRenderer().render_frame(
        FrameSpec(kind="character", title="Bus Driver", prompt="a tired driver", width=256, height=256,
                  extra={"colour": "#00798c"}))
    (x0, y0, x1, y1), = read_figures(card).values()
    image = cv2.imdecode(np.frombuffer(card, np.uint8), cv2.IMREAD_COLOR)
    mask = _colour_mask(image, "#00798c")
    box = mask[int(y0 * 256) : int(y1 * 256) + 1, int(x0 * 256) : int(x1 * 256) + 1]
    assert x0 < 0.5 < x1 and box.mean() > 0.3  # the head and torso, in the character's colour
    above_legs = mask[: int(y1 * 256)]
    assert box.sum() / above_legs.sum() > 0.9
    location = AnimaticCardRenderer().render_frame(FrameSpec(kind="location", title="Shop", prompt="a shop"))
    assert read_figures(location) == {}
