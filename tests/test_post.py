"""ffmpeg post-processing: probe, concat (stream copy or re-encode), interpolate, upscale,
and the input checks that keep hostile names and files away from ffmpeg."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest

from render import post
from render.backend import RenderFailed
from render.post import RawEncoder, UnsafeInput, check_input, concat, probe, run_ffmpeg

SECRET = b"TOP-SECRET-7c1e5a"


def make_clip(
    path: Path, size: tuple[int, int] = (160, 90), seconds: float = 1.0, fps: int = 24,
    audio: bool = False, pattern: str = "testsrc2",
) -> Path:
    """A real H.264 clip made by ffmpeg from its test sources (audio: a sine)."""
    w, h = size
    args = ["-loglevel", "error", "-f", "lavfi", "-i", f"{pattern}=size={w}x{h}:rate={fps}:duration={seconds}"]
    if audio:
        args += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}",
                 "-c:a", "aac", "-b:a", "64k", "-shortest"]
    args += [*post.X264_ARGS, "-f", "mp4", "-y", str(path)]
    run_ffmpeg(args, timeout=60)
    return path


def decoded_hashes(path: Path) -> list[str]:
    gen = imageio_ffmpeg.read_frames(str(path))
    next(gen)
    return [hashlib.sha256(bytes(frame)).hexdigest() for frame in gen]


@pytest.fixture
def media(tmp_path: Path) -> Path:
    root = tmp_path / "media"
    root.mkdir()
    return root


@pytest.fixture(scope="module")
def clip_set(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("clips")
    return {
        "a": make_clip(root / "a.mp4", seconds=1.0),
        "b": make_clip(root / "b.mp4", seconds=1.5, pattern="testsrc"),
        "c": make_clip(root / "c.mp4", seconds=0.5, pattern="rgbtestsrc"),
        "big": make_clip(root / "big.mp4", size=(192, 108), seconds=1.0),
        "sa": make_clip(root / "sa.mp4", seconds=1.0, audio=True),
        "sb": make_clip(root / "sb.mp4", seconds=1.0, audio=True, pattern="testsrc"),
    }


# --------------------------------------------------------------------------- probe


def test_probe_reads_the_header_and_agrees_with_ffmpeg(clip_set: dict[str, Path]) -> None:
    for name in ("a", "sa", "big"):
        fast = probe(clip_set[name])
        slow = post.probe_with_ffmpeg(clip_set[name], "mov")
        assert (fast.width, fast.height, fast.fps, fast.frames, fast.codec, fast.has_audio) == (
            slow.width, slow.height, slow.fps, slow.frames, slow.codec, slow.has_audio)
        assert fast.pix_fmt == slow.pix_fmt == "yuv420p"
        assert abs(fast.duration_s - slow.duration_s) < 0.05
    info = probe(clip_set["a"])
    assert (info.width, info.height, info.fps, info.frames) == (160, 90, 24.0, 24)
    assert info.has_audio is False and probe(clip_set["sa"]).has_audio is True


def test_raw_encoder_writes_every_frame(tmp_path: Path) -> None:
    enc = RawEncoder(tmp_path / "raw.mp4", 64, 48, 24)
    for i in range(30):
        enc.write(np.full((48, 64, 3), i * 8, np.uint8))
    out = enc.close()
    info = probe(out)
    assert (info.width, info.height, info.frames, info.fps) == (64, 48, 30, 24.0)
    assert not list(tmp_path.glob(".partial-*"))


# --------------------------------------------------------------------------- concat


def test_compatible_clips_are_stream_copied(clip_set: dict[str, Path], tmp_path: Path) -> None:
    clips = [clip_set["a"], clip_set["b"], clip_set["c"]]
    result = concat(clips, tmp_path / "scene.mp4", roots=[clip_set["a"].parent])
    assert result.stream_copy is True
    assert result.has_audio is False
    infos = [probe(c) for c in clips]
    assert result.info.frames == sum(i.frames for i in infos) == 72
    assert abs(result.duration_s - sum(i.duration_s for i in infos)) < 0.05
    # no re-encode: the output decodes to exactly the inputs' frames, in order
    expected = [h for c in clips for h in decoded_hashes(c)]
    assert decoded_hashes(result.path) == expected


def test_incompatible_clips_are_re_encoded_to_the_first_size(clip_set: dict[str, Path], tmp_path: Path) -> None:
    result = concat([clip_set["a"], clip_set["big"]], tmp_path / "mixed.mp4")
    assert result.stream_copy is False
    assert (result.info.width, result.info.height) == (160, 90)
    assert result.info.frames == 48


def test_audio_is_kept_and_its_absence_stated(clip_set: dict[str, Path], tmp_path: Path) -> None:
    with_audio = concat([clip_set["sa"], clip_set["sb"]], tmp_path / "audio.mp4")
    assert with_audio.stream_copy is True and with_audio.has_audio is True
    assert probe(with_audio.path).audio_codec == "aac"
    # one clip with sound, one without: re-encoded, the silent one padded with silence
    mixed = concat([clip_set["sa"], clip_set["a"]], tmp_path / "half.mp4")
    assert mixed.stream_copy is False and mixed.has_audio is True
    assert abs(mixed.duration_s - 2.0) < 0.1
    silent = concat([clip_set["a"], clip_set["c"]], tmp_path / "silent.mp4")
    assert silent.has_audio is False


def test_a_broken_clip_fails_cleanly_and_leaves_no_partial(media: Path, clip_set: dict[str, Path]) -> None:
    good = media / "good.mp4"
    good.write_bytes(clip_set["a"].read_bytes())
    broken = media / "broken.mp4"
    broken.write_bytes(clip_set["a"].read_bytes()[:600])  # header without its media data
    with pytest.raises(RenderFailed) as err:
        concat([good, broken], media / "out.mp4", roots=[media], timeout=30)
    assert err.value.failure_class in ("ffmpeg", "validation")
    assert not (media / "out.mp4").exists()
    assert not list(media.glob(".partial-*"))


# --------------------------------------------------------------------------- filters


def test_interpolate_and_upscale(clip_set: dict[str, Path], tmp_path: Path) -> None:
    slow = make_clip(tmp_path / "slow.mp4", seconds=1.0, fps=12, audio=True)
    blended = post.interpolate(slow, tmp_path / "blend.mp4", 24, mode="blend")
    assert blended.fps == 24.0 and 20 <= blended.frames <= 24 and blended.has_audio
    moving = post.interpolate(slow, tmp_path / "mci.mp4", 24)
    assert moving.fps == 24.0 and 20 <= moving.frames <= 24
    big = post.upscale(clip_set["a"], tmp_path / "up.mp4", 321, 181)
    assert (big.width, big.height, big.frames) == (320, 180, 24)


# --------------------------------------------------------------------------- hostile input


def _no_secret_anywhere(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file() and not path.is_symlink():
            assert SECRET not in path.read_bytes(), path


def test_hostile_names_are_refused(media: Path, clip_set: dict[str, Path], tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    dash = media / "-y.mp4"
    dash.write_bytes(clip_set["a"].read_bytes())
    monkeypatch.chdir(media)
    for name in ("-y.mp4", str(dash), "concat:/etc/passwd", "concat:a.mp4|b.mp4", "file:/etc/passwd",
                 "http://127.0.0.1:9/x.mp4", "subfile,,start,0,end,9,,:/etc/passwd", ""):
        with pytest.raises(UnsafeInput):
            check_input(name, [media])
        with pytest.raises(UnsafeInput):
            concat([name], media / "out.mp4", roots=[media])
    with pytest.raises(UnsafeInput):
        concat([clip_set["a"]], media / "-y.mp4", roots=None)
    assert not (media / "out.mp4").exists()


def test_playlists_and_lists_are_refused(media: Path, tmp_path: Path, clip_set: dict[str, Path]) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_bytes(SECRET * 64)
    hls = media / "clip.mp4"  # a playlist dressed as a clip
    hls.write_text(f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nfile://{secret}\n#EXT-X-ENDLIST\n")
    hls_bom = media / "bom.mp4"
    hls_bom.write_bytes(b"\xef\xbb\xbf\n#EXTM3U\n" + str(secret).encode() + b"\n")
    listing = media / "list.mp4"
    listing.write_text(f"ffconcat version 1.0\nfile '{secret}'\n")
    bare = media / "bare.mp4"
    bare.write_text(f"file '{clip_set['a']}'\n")
    text = media / "notes.mp4"
    text.write_bytes(b"just some notes, not a video")
    for bad in (hls, hls_bom, listing, bare, text):
        with pytest.raises(UnsafeInput):
            probe(bad, roots=[media])
        with pytest.raises(UnsafeInput):
            concat([bad], media / "out.mp4", roots=[media])
        with pytest.raises(UnsafeInput):
            post.upscale(bad, media / "up.mp4", 320, 180, roots=[media])
    _no_secret_anywhere(media)


def test_paths_outside_the_roots_are_refused(media: Path, tmp_path: Path, clip_set: dict[str, Path]) -> None:
    outside = tmp_path / "outside.mp4"
    outside.write_bytes(clip_set["a"].read_bytes())
    link = media / "link.mp4"
    link.symlink_to(outside)
    inside = media / "inside.mp4"
    inside.write_bytes(clip_set["a"].read_bytes())
    inner_link = media / "inner.mp4"
    inner_link.symlink_to(inside)
    folder = media / "folder.mp4"
    folder.mkdir()
    for bad in (outside, link, folder, media / ".." / "outside.mp4", media / "missing.mp4"):
        with pytest.raises(UnsafeInput):
            check_input(bad, [media])
    assert check_input(inner_link, [media])[0] == inside.resolve()
    assert check_input(inside, [media]) == (inside.resolve(), "mov")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_is_refused_and_a_stuck_ffmpeg_is_killed(media: Path) -> None:
    fifo = media / "stuck.mp4"
    os.mkfifo(fifo)
    started = time.monotonic()
    with pytest.raises(UnsafeInput, match="regular file"):
        concat([fifo], media / "out.mp4", roots=[media], timeout=2)
    assert time.monotonic() - started < 2
    # Should one slip past the checks (swapped in after them), the timeout still ends it.
    started = time.monotonic()
    with pytest.raises(RenderFailed) as err:
        run_ffmpeg(["-f", "mov", "-i", str(fifo), "-f", "null", "-"], timeout=1.5)
    assert err.value.failure_class == "timeout" and str(err.value).startswith("timeout")
    assert time.monotonic() - started < 5


def test_output_names_are_checked(clip_set: dict[str, Path], tmp_path: Path) -> None:
    for bad in (tmp_path / "-out.mp4", tmp_path / "missing" / "out.mp4", "concat:out.mp4"):
        with pytest.raises(UnsafeInput):
            concat([clip_set["a"]], bad)
    (tmp_path / "dir.mp4").mkdir()
    with pytest.raises(UnsafeInput):
        concat([clip_set["a"]], tmp_path / "dir.mp4")


# --------------------------------------------------------------------------- assembly lengths


def test_concat_refuses_a_truncated_clip_naming_it(tmp_path: Path):
    full = make_clip(tmp_path / "a.mp4", seconds=2.0)
    cut_short = make_clip(tmp_path / "b.mp4", seconds=1.0)  # rendered 1 s of a 2 s shot
    with pytest.raises(post.TruncatedClip, match=r"shot 2A's clip is 1\.0 s \(24 frames\) where 2\.0 s is expected"):
        concat([full, cut_short], tmp_path / "scene.mp4", expected_s=[2.0, 2.0], labels=["shot 1A", "shot 2A"])
    assert not (tmp_path / "scene.mp4").exists(), "nothing half-written"
    assert not list(tmp_path.glob(".partial-*"))
    # Rounding (a frame or two, a model's 4n+1 frame count) is not truncation.
    ok = concat([full, cut_short], tmp_path / "scene.mp4", expected_s=[2.04, 1.04])
    assert ok.info.frames == 72 and ok.duration_s == pytest.approx(3.0, abs=0.05)


def test_concat_refuses_an_output_shorter_than_its_clips(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    clips = [make_clip(tmp_path / f"c{i}.mp4", seconds=1.0) for i in range(2)]
    real_run = post.run_ffmpeg

    def drop_the_second_clip(args, *, timeout):  # ffmpeg told to stop after 1 s, as a cut-short join
        if "concat" in args:
            args = [*args[:-4], "-t", "1", *args[-4:]]
        return real_run(args, timeout=timeout)

    monkeypatch.setattr(post, "run_ffmpeg", drop_the_second_clip)
    with pytest.raises(post.TruncatedClip, match=r"the assembled video is 1\.\d s long where its 2 clips add up to 2\.0 s"):
        concat(clips, tmp_path / "out.mp4")


# --------------------------------------------------------------------------- post-processing


def test_post_process_interpolates_then_upscales_in_place(tmp_path: Path):
    clip = make_clip(tmp_path / "shot.mp4", size=(160, 90), seconds=1.0, fps=12)
    outcome = post.post_process(clip, interpolate_fps=24, upscale_by=2.0, interpolate_mode="blend")
    assert [(s["step"], s["status"]) for s in outcome.steps] == [("interpolate", "done"), ("upscale", "done")]
    assert outcome.steps[0]["method"] == "ffmpeg minterpolate (blend) to 24 fps"
    assert outcome.steps[1]["method"] == "ffmpeg lanczos x2"
    assert all(float(s["seconds"]) >= 0 for s in outcome.steps)
    assert (outcome.final["fps"], outcome.final["width"], outcome.final["height"]) == (24.0, 320, 180)
    info = probe(clip)
    assert (info.fps, info.width, info.height) == (24.0, 320, 180)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shot.mp4"], "no step files left behind"


def test_a_failed_post_step_keeps_the_clip_as_rendered_and_says_why(tmp_path: Path):
    clip = make_clip(tmp_path / "shot.mp4", size=(320, 180), seconds=2.0)
    before = hashlib.sha256(clip.read_bytes()).hexdigest()
    # Motion-compensated interpolation to 240 fps cannot finish in 0.2 s: ffmpeg is stopped.
    outcome = post.post_process(clip, interpolate_fps=240, upscale_by=2.0, timeout=0.2)
    interp, up = outcome.steps
    assert interp["status"] == "failed" and "timeout" in str(interp["reason"])
    assert str(interp["reason"]).endswith("the clip was kept without this step")
    assert up["status"] == "skipped" and "the interpolate step failed" in str(up["reason"])
    assert hashlib.sha256(clip.read_bytes()).hexdigest() == before
    assert (outcome.final["fps"], outcome.final["width"]) == (24.0, 320)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shot.mp4"]


def test_an_out_of_memory_ffmpeg_is_told_apart(tmp_path: Path):
    """ffmpeg run under a real address-space limit fails the way a starved machine makes it."""
    import subprocess

    args = [post.ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", "-f", "lavfi",
            "-i", "testsrc2=size=160x90:rate=24:duration=1", "-vf", "scale=2560:1440",
            *post.X264_ARGS, "-f", "mp4", "-y", str(tmp_path / "big.mp4")]
    done = subprocess.run(["prlimit", "--as=200000000", *args], capture_output=True, text=True, timeout=60)
    if done.returncode == 0 or "prlimit" in done.stderr:
        pytest.skip("no address-space limit here")
    exc = RenderFailed(f"ffmpeg failed (exit {done.returncode}): {done.stderr}", "ffmpeg")
    assert post._is_oom(exc), done.stderr
    assert not post._is_oom(RenderFailed("ffmpeg failed (exit 1): Invalid argument", "ffmpeg"))
