"""Frame and clip metrics on synthetic frames with known answers."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import skimage.data

from qa import metrics
from qa.faults import base_clip, make_clip, write_mp4
from qa.metrics import FrameDriftCheck
from studio.ports import DriftCheck


def still(value: int = 128, n: int = 12, size: tuple[int, int] = (180, 320)) -> list[np.ndarray]:
    """A textured still repeated n times."""
    rng = np.random.default_rng(0)
    frame = np.clip(value + rng.normal(0, 20, (*size, 3)), 0, 255).astype(np.uint8)
    return [frame.copy() for _ in range(n)]


def png(frame: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".png", frame)
    assert ok
    return data.tobytes()


def test_identical_frames_have_ssim_1_no_warp_error_and_no_flicker() -> None:
    frames = still()
    assert metrics.ssim_series(frames) == pytest.approx([1.0] * 11)
    assert metrics.temporal_coherence(frames) == {"ssim_mean": 1.0, "ssim_min": 1.0}
    assert metrics.warp_error(frames) == 0.0
    assert metrics.flicker(frames) == {"flicker_luma": 0.0, "flicker_colour": 0.0}
    assert metrics.hard_cuts(frames) == 0


def test_flow_explains_a_pure_translation() -> None:
    clip = base_clip(0)
    # the clean clip is a slow pan: after flow compensation almost nothing is left
    assert metrics.warp_error(clip.frames) < 0.005
    shifted = [np.roll(clip.frames[0], 40, axis=1), clip.frames[0]]
    naive = np.abs(shifted[0].astype(int) - shifted[1]).mean() / 255
    assert metrics.warp_error(shifted) < naive / 3


def test_a_static_clip_is_all_frozen_and_a_black_clip_all_black() -> None:
    assert metrics.frozen_ratio(still()) == 1.0
    black = [np.zeros((240, 426, 3), np.uint8)] * 10
    assert metrics.black_ratio(black) == 1.0
    assert metrics.black_ratio(still()) == 0.0
    # black frames are reported as black, never as cuts or flicker
    assert metrics.hard_cuts(black) == 0
    assert metrics.flicker(black)["flicker_luma"] == 0.0


def test_a_linear_fade_is_not_flicker_but_one_bright_frame_is() -> None:
    base = still(100, n=20)
    fade = [np.clip(f.astype(int) + 3 * i, 0, 255).astype(np.uint8) for i, f in enumerate(base)]
    assert metrics.flicker(fade)["flicker_luma"] < 0.5
    bright = list(base)
    bright[10] = np.clip(base[10].astype(int) + 30, 0, 255).astype(np.uint8)
    assert metrics.flicker(bright)["flicker_luma"] == pytest.approx(30, abs=1.5)


def test_a_different_image_is_a_cut() -> None:
    a = still(100, n=6)
    rng = np.random.default_rng(5)
    b = [cv2.GaussianBlur(rng.integers(0, 255, (180, 320, 3), np.uint8), (0, 0), 6)] * 6
    assert metrics.hard_cuts(a + b) == 1


def test_bookends_and_drift_of_the_same_frame() -> None:
    frame = base_clip(1).frames[0]
    assert metrics.bookend_similarity(frame, frame) == pytest.approx(1.0)
    assert metrics.continuity_drift(frame, frame) == pytest.approx(0.0, abs=1e-9)
    other = cv2.flip(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB), 0)
    assert metrics.continuity_drift(frame, other) > 0.3


def test_frame_drift_check_fills_the_studio_port() -> None:
    check = FrameDriftCheck()
    assert isinstance(check, DriftCheck)
    clip = base_clip(2)
    first, later = png(clip.frames[0]), png(clip.frames[-1])
    assert check.drift(first, first) == 0.0
    near, far = check.drift(first, png(clip.frames[1])), check.drift(first, png(cv2.bitwise_not(clip.frames[0])))
    assert 0.0 <= near < check.drift(first, later) <= 1.0
    assert near < 0.15 < far
    with pytest.raises(ValueError):
        check.drift(first, b"not a png")


def test_identity_uses_faces_when_there_are_faces_and_descriptors_otherwise() -> None:
    face = cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR)
    same = metrics.identity_distance([face], [cv2.flip(face, 1)])
    assert same.method == "face" and same.faces_a == same.faces_b == 1
    assert same.distance < 0.3
    clip = base_clip(0)
    figure = metrics.identity_distance(clip.crops("A", slice(0, 24)), clip.crops("A", slice(24, None)))
    assert figure.method == "descriptor" and figure.distance < 0.1
    other = metrics.identity_distance(clip.crops("A"), clip.crops("B"))
    assert other.distance > figure.distance
    with pytest.raises(ValueError):
        metrics.identity_distance([], clip.crops("A"))


def test_read_frames_decodes_at_reduced_size_and_reports_the_format(tmp_path) -> None:
    clip = base_clip(0)
    path = write_mp4(clip, tmp_path / "-clip.mp4")  # a leading dash must not read as an option
    frames, meta = metrics.read_frames(path, max_side=320)
    assert frames[0].shape == (180, 320, 3) and len(frames) == 48
    assert (meta["width"], meta["height"], meta["fps"], meta["codec"], meta["audio"]) == (426, 240, 24.0, "h264", False)
    sampled, _ = metrics.read_frames(path, max_side=None, sample_every=4)
    assert len(sampled) == 12 and sampled[0].shape == (240, 426, 3)
    checks = metrics.format_checks(meta, fps=24, width=426, height=240, duration_s=2.0, tol=0.1)
    assert checks == {"fps_ok": 1.0, "resolution_ok": 1.0, "codec_ok": 1.0, "audio_present": 0.0, "duration_error_s": 0.0}
    wrong = metrics.format_checks(meta, fps=30, width=1280, height=720, duration_s=3.0, tol=0.1, codec="hevc")
    assert (wrong["fps_ok"], wrong["resolution_ok"], wrong["codec_ok"], wrong["duration_error_s"]) == (0.0, 0.0, 0.0, 1.0)


def test_clip_metrics_computes_the_set_once_from_frames_or_a_path(tmp_path) -> None:
    clip = base_clip(0)
    from_frames = metrics.clip_metrics(clip.frames)
    assert set(from_frames) == {"frames", "ssim_mean", "ssim_min", "warp_error", "flicker_luma", "flicker_colour",
                                "frozen_ratio", "black_ratio", "hard_cuts"}
    from_path = metrics.clip_metrics(write_mp4(clip, tmp_path / "c.mp4"),
                                     expect={"fps": 24, "width": 426, "height": 240, "duration_s": 2.0})
    assert from_path["fps_ok"] == 1.0 and from_path["frames"] == 48
    assert from_path["ssim_mean"] == pytest.approx(from_frames["ssim_mean"], abs=0.03)


def test_identity_in_frames_crops_by_the_recorded_boxes_and_tells_characters_apart() -> None:
    from render.animatic import AnimaticCardRenderer, draw_panel, encode_png, panel_figures
    from studio.model import RenderCharacter, RenderSpec, Shot, ShotCharacter
    from studio.ports import FrameSpec

    colours = {"MARA": "#d1495b", "THEO": "#00798c"}
    keys = {name: AnimaticCardRenderer().render_frame(FrameSpec(kind="character", title=name.title(), prompt="",
                                                                width=256, height=256, extra={"colour": colour}))
            for name, colour in colours.items()}
    shot = Shot(id="1A", duration_s=3.0, action="Mara and Theo talk.", camera="2-SHOT",
                characters=(ShotCharacter(name="MARA"), ShotCharacter(name="THEO")), setting="INT. KITCHEN - NIGHT")
    spec = RenderSpec(kind="frame", project_id="p", scene_id="s", shot_id="1A", which="start", seed=3,
                      width=426, height=240, shot=shot, scene_heading="INT. KITCHEN - NIGHT", int_ext="INT",
                      time_of_day="NIGHT", characters=tuple(RenderCharacter(name=n, colour=c) for n, c in colours.items()))
    panel = draw_panel(spec)
    frame = encode_png(panel, panel_figures(spec))
    right = {name: metrics.identity_in_frames(keys[name], [frame], name) for name in colours}
    wrong = {name: metrics.identity_in_frames(keys[other], [frame], name)
             for name, other in (("MARA", "THEO"), ("THEO", "MARA"))}
    for name in colours:
        assert right[name] is not None and right[name].method == "descriptor"
        assert wrong[name] is not None
        assert right[name].distance < 0.45 < 0.60 < wrong[name].distance, (name, right[name], wrong[name])
    # not in the frame's boxes: not shown, so not measured; no boxes and no face: nothing to compare
    assert metrics.identity_in_frames(keys["MARA"], [frame], "OSKAR") is None
    assert metrics.identity_in_frames(keys["MARA"], [encode_png(panel)], "MARA") is None


def test_identity_in_frames_falls_back_to_faces_when_a_frame_has_no_boxes() -> None:
    face = cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR)
    key = cv2.imencode(".png", face)[1].tobytes()
    frame = cv2.imencode(".png", cv2.flip(face, 1))[1].tobytes()
    found = metrics.identity_in_frames(key, [frame], "Eileen")
    assert found is not None and found.method == "face" and found.distance < 0.3
    blank = cv2.imencode(".png", np.full((200, 200, 3), 128, np.uint8))[1].tobytes()
    assert metrics.identity_in_frames(key, [blank], "Eileen") is None  # no face in the frame


def test_identity_in_clip_finds_the_keys_face_inside_a_clip(tmp_path) -> None:
    from qa.faults import Clip

    face = cv2.resize(cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR), (640, 640))[:360]  # 640x360
    key = cv2.imencode(".png", cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR))[1].tobytes()
    embedding = metrics.key_face(key, "Eileen")
    assert embedding is not None
    frames = [np.roll(face, shift, axis=1) for shift in range(0, 24, 2)]
    path = write_mp4(Clip(frames=frames, fps=24, boxes={}, next_first=frames[0]), tmp_path / "f.mp4")
    found = metrics.identity_in_clip(embedding, path)
    assert found is not None and found.method == "face" and found.distance < 0.45
    blank = [np.full((360, 640, 3), 90, np.uint8)] * 12
    empty = write_mp4(Clip(frames=blank, fps=24, boxes={}, next_first=blank[0]), tmp_path / "b.mp4")
    assert metrics.identity_in_clip(embedding, empty) is None
    card = cv2.imencode(".png", np.full((64, 64, 3), 200, np.uint8))[1].tobytes()
    assert metrics.key_face(card, "Eileen") is None


def test_ssim_is_scikit_images_figure() -> None:
    from skimage.metrics import structural_similarity

    for fault in ("noise", "flicker", "jump_cut"):
        frames = [cv2.cvtColor(metrics.downscale(f, 320), cv2.COLOR_BGR2GRAY) for f in make_clip(fault, 0.5).frames[:12]]
        for a, b in zip(frames, frames[1:], strict=False):
            assert metrics.ssim(a, b) == pytest.approx(structural_similarity(a, b, data_range=255), abs=1e-5)


def test_a_clip_measured_while_it_decodes_gives_the_figures_of_its_decoded_frames(tmp_path) -> None:
    path = write_mp4(make_clip("black", 0.5), tmp_path / "black.mp4")
    figures, meta, measure = metrics.measure_clip(path)
    frames, read_meta = metrics.read_frames(path)
    assert figures == metrics.clip_metrics(frames)  # same figures, one decode
    assert meta == read_meta and meta["frames"] == len(frames) == 48
    assert np.array_equal(measure.first, frames[0]) and np.array_equal(measure.last, frames[-1])
    (tmp_path / "empty.mp4").write_bytes(b"not a video")
    with pytest.raises(OSError):
        metrics.measure_clip(tmp_path / "empty.mp4")
    with pytest.raises(OSError, match="not found"):
        metrics.read_frames(tmp_path / "missing.mp4")
