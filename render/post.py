"""ffmpeg post-processing: probe, concat, interpolate, upscale, and the raw-frame encoder.

The binary is the static ffmpeg shipped by ``imageio-ffmpeg``. Every call is an argv list
(never a shell) with a timeout; a stuck process is killed and reported as
``RenderFailed(failure_class="timeout")``.

Inputs are hostile until checked (``check_input``): ffmpeg treats a name starting with ``-``
as an option, ``concat:``/``http:``/``subfile,`` as protocols, and it happily follows an HLS
playlist or an ``ffconcat`` list to any file on the machine. So every input is resolved to an
absolute path, must be a regular file inside an allowed root, must start with the magic bytes
of a media container we know (text playlists are refused), is opened with a forced demuxer and
``-protocol_whitelist file,pipe``. Outputs are written under a temporary name in the target
folder and published with ``os.replace``.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import stat
import struct
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from render.backend import RenderFailed
from render.reaper import popen

PROTOCOLS = "file,pipe"
# The encoder settings every animatic clip and every re-encode use (and the benchmark floor).
X264_ARGS: tuple[str, ...] = (
    "-c:v", "libx264", "-preset", "veryfast", "-crf", "23",
    "-pix_fmt", "yuv420p", "-movflags", "+faststart",
)
PROBE_TIMEOUT_S = 30.0
_SNIFF_BYTES = 4096
_PROTOCOL_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*[:,]")


class UnsafeInput(RenderFailed):
    """An input was refused before ffmpeg saw it."""

    def __init__(self, message: str) -> None:
        super().__init__(message, "validation", retryable=False)


@dataclass(frozen=True)
class VideoInfo:
    """What a probe found; ``has_audio`` False means the file has no audio stream."""

    width: int
    height: int
    fps: float
    frames: int
    duration_s: float
    codec: str
    has_audio: bool
    pix_fmt: str = ""
    audio_codec: str = ""


@dataclass(frozen=True)
class ConcatResult:
    """An assembled file: ``stream_copy`` True when no frame was re-encoded."""

    path: Path
    stream_copy: bool
    has_audio: bool
    duration_s: float
    clips: int
    info: VideoInfo


# --------------------------------------------------------------------------- the binary


@functools.cache
def ffmpeg_exe() -> str:
    """The ffmpeg binary from imageio-ffmpeg (a static build; no apt needed)."""
    import imageio_ffmpeg

    return str(imageio_ffmpeg.get_ffmpeg_exe())


@functools.cache
def ffmpeg_version() -> str:
    try:
        import imageio_ffmpeg

        return str(imageio_ffmpeg.get_ffmpeg_version())
    except Exception:  # noqa: BLE001 - a version string is informative only
        return "unknown"


def run_ffmpeg(args: Sequence[str], *, timeout: float) -> str:
    """Run ``ffmpeg -nostdin -hide_banner *args``; return its stderr.

    Raises RenderFailed("timeout…", "timeout") when it runs past ``timeout`` (the process is
    killed, e.g. one blocked opening a FIFO that never writes) and RenderFailed("ffmpeg…")
    on a non-zero exit. ``args`` must already be safe: see ``check_input``.
    """
    argv = [ffmpeg_exe(), "-nostdin", "-hide_banner", *args]
    with tempfile.TemporaryFile() as err:
        # In the reaper's process group: it dies with this process, even on SIGKILL.
        proc = popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise RenderFailed(
                f"timeout: ffmpeg ran past {timeout:g} s and was stopped", "timeout"
            ) from None
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        err.seek(0)
        text = err.read().decode("utf-8", "replace")
    if code != 0:
        raise RenderFailed(f"ffmpeg failed (exit {code}): {_tail(text)}", "ffmpeg")
    return text


def _tail(text: str, lines: int = 3) -> str:
    kept = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return " | ".join(kept[-lines:]) or "no message"


# --------------------------------------------------------------------------- input safety

# magic bytes -> the demuxer we force for that file (never let ffmpeg guess: guessing is
# how an HLS playlist named clip.mp4 gets opened as HLS).
def _sniff_format(head: bytes) -> str | None:
    if len(head) >= 12 and head[4:8] in (b"ftyp", b"moov", b"mdat", b"wide", b"free"):
        return "mov"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "matroska"
    if head.startswith(b"RIFF") and head[8:12] == b"AVI ":
        return "avi"
    if head.startswith(b"RIFF") and head[8:12] == b"WAVE":
        return "wav"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png_pipe"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg_pipe"
    if len(head) > 188 and head[0] == 0x47 and head[188] == 0x47:
        return "mpegts"
    if head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "mp3"
    if head.startswith(b"OggS"):
        return "ogg"
    if head.startswith(b"fLaC"):
        return "flac"
    return None


def _looks_like_playlist(head: bytes) -> str | None:
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    for magic, what in (
        (b"#extm3u", "an HLS/M3U playlist"),
        (b"ffconcat", "an ffconcat list"),
        (b"file ", "a concat list"),
        (b"[playlist]", "a PLS playlist"),
        (b"<?xml", "an XML playlist or manifest"),
        (b"<mpd", "a DASH manifest"),
        (b"<smil", "a SMIL playlist"),
    ):
        if text.startswith(magic):
            return what
    return None


def _resolved_roots(roots: Sequence[Path | str] | None) -> list[Path] | None:
    if roots is None:
        return None
    return [Path(r).resolve() for r in roots]


def check_input(
    path: Path | str, roots: Sequence[Path | str] | None = None, *, kinds: Sequence[str] | None = None
) -> tuple[Path, str]:
    """Refuse anything but a plain media file inside ``roots``; return (absolute path, demuxer).

    ``roots`` None skips the containment check (every other check still applies).
    ``kinds`` limits the accepted demuxers (e.g. images only).
    """
    raw = os.fspath(path)
    name = Path(raw).name
    if not raw or "\x00" in raw:
        raise UnsafeInput("refused an empty file name")
    if raw.startswith("-") or name.startswith("-"):
        raise UnsafeInput(f"refused {name!r}: a name starting with '-' reads as an ffmpeg option")
    if _PROTOCOL_RE.match(raw) and not Path(raw).is_absolute():
        raise UnsafeInput(f"refused {raw!r}: protocol strings (concat:, http:, file:…) are not files")
    if "|" in raw or "://" in raw:
        raise UnsafeInput(f"refused {raw!r}: not a plain file path")
    try:
        real = Path(raw).resolve(strict=True)
    except (OSError, RuntimeError):
        raise UnsafeInput(f"refused {name!r}: no such file") from None
    allowed = _resolved_roots(roots)
    if allowed is not None and not any(real.is_relative_to(root) for root in allowed):
        raise UnsafeInput(f"refused {name!r}: it lies outside the allowed folders")
    try:
        st = os.stat(real)
    except OSError:
        raise UnsafeInput(f"refused {name!r}: cannot stat it") from None
    if not stat.S_ISREG(st.st_mode):
        raise UnsafeInput(f"refused {name!r}: not a regular file (FIFO, device or folder)")
    if st.st_size == 0:
        raise UnsafeInput(f"refused {name!r}: the file is empty")
    # O_NONBLOCK: should the path be swapped for a FIFO after the stat, open() still returns.
    fd = os.open(real, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise UnsafeInput(f"refused {name!r}: not a regular file")
        head = os.read(fd, _SNIFF_BYTES)
    finally:
        os.close(fd)
    playlist = _looks_like_playlist(head)
    if playlist:
        raise UnsafeInput(f"refused {name!r}: it is {playlist}, which could point anywhere")
    fmt = _sniff_format(head)
    if fmt is None:
        raise UnsafeInput(f"refused {name!r}: not a media file this studio knows (mp4, mkv, png…)")
    if kinds is not None and fmt not in kinds:
        raise UnsafeInput(f"refused {name!r}: a {fmt} file where {', '.join(kinds)} was expected")
    return real, fmt


def _input_args(path: Path, fmt: str) -> list[str]:
    # Demuxer options go before their -i; the whitelist also binds files a demuxer opens.
    return ["-protocol_whitelist", PROTOCOLS, "-f", fmt, "-i", str(path)]


def _check_output(out: Path | str) -> Path:
    raw = os.fspath(out)
    name = Path(raw).name
    if not name or name.startswith("-") or name.startswith("."):
        raise UnsafeInput(f"refused output name {name!r}")
    if _PROTOCOL_RE.match(raw) and not Path(raw).is_absolute():
        raise UnsafeInput(f"refused output {raw!r}: protocol strings are not files")
    target = Path(raw).absolute()
    if not target.parent.is_dir():
        raise UnsafeInput(f"refused output {name!r}: its folder does not exist")
    if target.exists() and not target.is_file():
        raise UnsafeInput(f"refused output {name!r}: something other than a file is there")
    return target


@contextlib.contextmanager
def _publishing(out: Path) -> Iterator[Path]:
    """A temporary name next to ``out``; renamed over it only when the block succeeds."""
    fd, tmp_name = tempfile.mkstemp(prefix=".partial-", suffix=out.suffix or ".mp4", dir=out.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, out)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


# --------------------------------------------------------------------------- probing

@dataclass(frozen=True)
class _Track:
    handler: str
    fourcc: str
    width: int
    height: int
    timescale: int
    duration: int
    samples: int
    delta: int  # the sample duration when uniform, else 0
    config: bytes  # the decoder configuration (avcC…, or audio type + AudioSpecificConfig)
    channels: int = 0
    sample_rate: int = 0


_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts", b"dinf"}
_CODECS = {"avc1": "h264", "avc3": "h264", "hvc1": "hevc", "hev1": "hevc", "av01": "av1",
           "vp09": "vp9", "mp4v": "mpeg4", "mp4a": "aac", "ac-3": "ac3", "Opus": "opus"}


def _boxes(data: bytes, start: int = 0, end: int | None = None) -> Iterator[tuple[bytes, int, int]]:
    """(type, payload start, payload end) for each box in ``data[start:end]``."""
    end = len(data) if end is None else end
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        header = 8
        if size == 1:
            if pos + 16 > end:
                return
            size = struct.unpack(">Q", data[pos + 8 : pos + 16])[0]
            header = 16
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            return
        yield kind, pos + header, pos + size
        pos += size


def _read_moov(path: Path) -> bytes | None:
    with open(path, "rb") as fh:
        size_total = os.fstat(fh.fileno()).st_size
        pos = 0
        while pos + 8 <= size_total:
            fh.seek(pos)
            header = fh.read(16)
            if len(header) < 8:
                return None
            size, kind = struct.unpack(">I4s", header[:8])
            hdr = 8
            if size == 1:
                size, hdr = struct.unpack(">Q", header[8:16])[0], 16
            elif size == 0:
                size = size_total - pos
            if size < hdr:
                return None
            if kind == b"moov":
                if size > 64 * 1024 * 1024:
                    return None
                fh.seek(pos)
                return fh.read(size)
            pos += size
    return None


def _esds_config(data: bytes) -> bytes:
    """Object type + AudioSpecificConfig from an esds payload (bitrate fields left out)."""
    pos = 4  # version + flags
    out = b""
    while pos < len(data):
        tag = data[pos]
        pos += 1
        length = 0
        for _ in range(4):
            byte = data[pos]
            pos += 1
            length = (length << 7) | (byte & 0x7F)
            if not byte & 0x80:
                break
        if tag == 0x03:
            flags = data[pos + 2]
            pos += 3 + (2 if flags & 0x80 else 0) + (2 if flags & 0x20 else 0)
            if flags & 0x40:
                pos += 1 + data[pos]
            continue
        if tag == 0x04:
            out += data[pos : pos + 1]  # objectTypeIndication
            pos += 13
            continue
        if tag == 0x05:
            out += data[pos : pos + length]
        pos += length
    return out


def _parse_track(data: bytes, start: int, end: int) -> _Track | None:
    fields: dict[str, object] = {"handler": "", "fourcc": "", "width": 0, "height": 0,
                                 "timescale": 0, "duration": 0, "samples": 0, "delta": 0,
                                 "config": b"", "channels": 0, "sample_rate": 0}

    def walk(s: int, e: int) -> None:
        for kind, ps, pe in _boxes(data, s, e):
            if kind in _CONTAINERS:
                walk(ps, pe)
            elif kind == b"mdhd":
                version = data[ps]
                if version == 1:
                    fields["timescale"], fields["duration"] = struct.unpack(">IQ", data[ps + 20 : ps + 32])
                else:
                    fields["timescale"], fields["duration"] = struct.unpack(">II", data[ps + 12 : ps + 20])
            elif kind == b"hdlr":
                fields["handler"] = data[ps + 8 : ps + 12].decode("latin-1")
            elif kind == b"stts":
                count = struct.unpack(">I", data[ps + 4 : ps + 8])[0]
                total, deltas = 0, set()
                for i in range(min(count, 100_000)):
                    n, d = struct.unpack(">II", data[ps + 8 + 8 * i : ps + 16 + 8 * i])
                    total += n
                    deltas.add(d)
                fields["samples"] = total
                fields["delta"] = deltas.pop() if len(deltas) == 1 else 0
            elif kind == b"stsd":
                entries = list(_boxes(data, ps + 8, pe))
                if not entries:
                    continue
                fourcc, es, ee = entries[0]
                fields["fourcc"] = fourcc.decode("latin-1")
                if fields["handler"] == "vide" and ee - es >= 78:
                    fields["width"], fields["height"] = struct.unpack(">HH", data[es + 24 : es + 28])
                    for sub, ss, se in _boxes(data, es + 78, ee):
                        if sub in (b"avcC", b"hvcC", b"av1C", b"vpcC"):
                            fields["config"] = sub + data[ss:se]
                elif fields["handler"] == "soun" and ee - es >= 28:
                    fields["channels"] = struct.unpack(">H", data[es + 16 : es + 18])[0]
                    fields["sample_rate"] = struct.unpack(">I", data[es + 24 : es + 28])[0] >> 16
                    config = b""
                    for sub, ss, se in _boxes(data, es + 28, ee):
                        if sub == b"esds":
                            config = _esds_config(data[ss:se])
                        elif sub in (b"dOps", b"dac3"):
                            config = data[ss:se]
                    fields["config"] = config

    walk(start, end)
    if not fields["handler"]:
        return None
    return _Track(**fields)  # type: ignore[arg-type]


def _mp4_tracks(path: Path) -> tuple[list[_Track], float] | None:
    """The tracks and duration of an MP4/MOV file from its header alone (no process)."""
    try:
        moov = _read_moov(path)
        if moov is None:
            return None
        tracks: list[_Track] = []
        duration_s = 0.0
        for kind, ps, pe in _boxes(moov, 8):
            if kind == b"mvhd":
                version = moov[ps]
                if version == 1:
                    scale, dur = struct.unpack(">IQ", moov[ps + 20 : ps + 32])
                else:
                    scale, dur = struct.unpack(">II", moov[ps + 12 : ps + 20])
                duration_s = dur / scale if scale else 0.0
            elif kind == b"trak":
                track = _parse_track(moov, ps, pe)
                if track is not None:
                    tracks.append(track)
        return tracks, duration_s
    except (struct.error, IndexError, OSError, UnicodeDecodeError):
        return None


def _avc_pix_fmt(config: bytes) -> str:
    """yuv420p / yuv422p / yuv444p (+ bit depth) from an avcC record, '' when unknown."""
    if not config.startswith(b"avcC") or len(config) < 11:
        return ""
    body = config[4:]
    profile = body[1]
    try:
        pos = 6
        for _ in range(body[5] & 0x1F):
            pos += 2 + struct.unpack(">H", body[pos : pos + 2])[0]
        pps = body[pos]
        pos += 1
        for _ in range(pps):
            pos += 2 + struct.unpack(">H", body[pos : pos + 2])[0]
        if profile in (100, 110, 122, 144) and pos + 3 <= len(body):
            chroma = body[pos] & 0x03
            depth = (body[pos + 1] & 0x07) + 8
            name = {0: "gray", 1: "yuv420p", 2: "yuv422p", 3: "yuv444p"}[chroma]
            return name if depth == 8 else f"{name}{depth}le"
        return "yuv420p"
    except (IndexError, struct.error):
        return ""


def _info_from_tracks(tracks: list[_Track], duration_s: float) -> VideoInfo | None:
    video = next((t for t in tracks if t.handler == "vide"), None)
    if video is None or not video.timescale:
        return None
    audio = next((t for t in tracks if t.handler == "soun"), None)
    if video.delta:
        fps = video.timescale / video.delta
    else:
        fps = video.samples / (video.duration / video.timescale) if video.duration else 0.0
    return VideoInfo(
        width=video.width,
        height=video.height,
        fps=round(fps, 3),
        frames=video.samples,
        duration_s=round(duration_s or video.duration / video.timescale, 3),
        codec=_CODECS.get(video.fourcc, video.fourcc),
        has_audio=audio is not None,
        pix_fmt=_avc_pix_fmt(video.config),
        audio_codec=_CODECS.get(audio.fourcc, audio.fourcc) if audio else "",
    )


def _split_top(text: str) -> list[str]:
    parts, depth, current = [], 0, []
    for ch in text:
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
    parts.append("".join(current).strip())
    return parts


def _info_from_stderr(text: str) -> VideoInfo:
    """Parse ``ffmpeg -i FILE -map 0:v:0 -c copy -f null -`` stderr (there is no ffprobe)."""
    text = text.replace("\r", "\n")
    inputs = text.split("Output #0", 1)[0]
    duration = 0.0
    m = re.search(r"Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)", inputs)
    if m:
        duration = int(m[1]) * 3600 + int(m[2]) * 60 + float(m[3])
    video = re.search(r"Stream #0:\d+[^\n]*?: Video: ([^\n]*)", inputs)
    if video is None:
        raise RenderFailed("no video stream in the file", "validation")
    parts = _split_top(video[1])
    codec = parts[0].split()[0] if parts and parts[0] else ""
    pix_fmt = parts[1].split("(")[0] if len(parts) > 1 else ""
    size = re.search(r"(\d{2,5})x(\d{2,5})", video[1])
    fps_m = re.search(r"([\d.]+)(k?) fps", video[1]) or re.search(r"([\d.]+)(k?) tbr", video[1])
    fps = float(fps_m[1]) * (1000 if fps_m and fps_m[2] else 1) if fps_m else 0.0
    audio = re.search(r"Stream #0:\d+[^\n]*?: Audio: (\w+)", inputs)
    frames = [int(f) for f in re.findall(r"frame=\s*(\d+)", text)]
    count = frames[-1] if frames else round(duration * fps)
    return VideoInfo(
        width=int(size[1]) if size else 0,
        height=int(size[2]) if size else 0,
        fps=round(fps, 3),
        frames=count,
        duration_s=round(duration, 3),
        codec=codec,
        has_audio=audio is not None,
        pix_fmt=pix_fmt,
        audio_codec=audio[1] if audio else "",
    )


def probe(
    path: Path | str, *, roots: Sequence[Path | str] | None = None, timeout: float = PROBE_TIMEOUT_S
) -> VideoInfo:
    """Width, height, fps, exact frame count, duration, codec and audio presence of a video.

    MP4/MOV headers are read directly (no process); anything else goes through
    ``ffmpeg -i … -c copy -f null -`` whose stream copy counts frames without decoding.
    """
    real, fmt = check_input(path, roots)
    if fmt == "mov":
        parsed = _mp4_tracks(real)
        if parsed is not None:
            info = _info_from_tracks(*parsed)
            if info is not None:
                return info
    return probe_with_ffmpeg(real, fmt, timeout=timeout)


def probe_with_ffmpeg(real: Path, fmt: str, *, timeout: float = PROBE_TIMEOUT_S) -> VideoInfo:
    """The ffmpeg-stderr probe for an already checked file."""
    stderr = run_ffmpeg(
        [*_input_args(real, fmt), "-map", "0:v:0", "-c", "copy", "-f", "null", "-"], timeout=timeout
    )
    return _info_from_stderr(stderr)


# --------------------------------------------------------------------------- concat

def _copy_signature(real: Path, fmt: str) -> tuple[object, ...] | None:
    """What must match across clips for a stream copy to be safe, or None: re-encode.

    Only MP4/MOV with identical decoder configuration (SPS/PPS in avcC, the audio config)
    qualifies: the concat demuxer keeps the first file's configuration for all of them.
    """
    if fmt != "mov":
        return None
    parsed = _mp4_tracks(real)
    if parsed is None:
        return None
    tracks, _ = parsed
    video = [t for t in tracks if t.handler == "vide"]
    audio = [t for t in tracks if t.handler == "soun"]
    if len(video) != 1 or len(audio) > 1 or not video[0].config or not video[0].delta:
        return None
    v = video[0]
    sig: tuple[object, ...] = (v.fourcc, v.width, v.height, v.timescale, v.delta, v.config)
    if audio:
        a = audio[0]
        if not a.config:
            return None
        sig += (a.fourcc, a.channels, a.sample_rate, a.config)
    return sig


def _concat_list_entry(name: str) -> str:
    return "file '" + name.replace("'", "'\\''") + "'\n"


class TruncatedClip(RenderFailed):
    """A clip (or the joined output) is much shorter than it should be: refused."""

    def __init__(self, message: str) -> None:
        super().__init__(message, "validation", retryable=False)


def _short_by(actual_s: float, expected_s: float) -> bool:
    """Whether ``actual_s`` falls short of ``expected_s`` by more than rounding can explain
    (a model's frame-count rounding, a frame or two): 0.25 s or 5 %, whichever is more."""
    return actual_s < expected_s - max(0.25, 0.05 * expected_s)


def _seconds(info: VideoInfo) -> float:
    return info.frames / info.fps if info.fps and info.frames else info.duration_s


def check_lengths(
    infos: Sequence[VideoInfo], expected: Sequence[float | None], labels: Sequence[str]
) -> None:
    """Refuse a clip much shorter than the shot list expects (a truncated render would
    otherwise cut into a film of the wrong length without a word)."""
    short = [
        f"{label}'s clip is {_seconds(info):.1f} s ({info.frames} frames) where {want:.1f} s is expected"
        for info, want, label in zip(infos, expected, labels, strict=True)
        if want and _short_by(_seconds(info), want)
    ]
    if short:
        raise TruncatedClip(
            "refused to assemble a truncated clip: " + "; ".join(short)
            + ". Re-render it (it may have been cut short by a crash or a full disk)"
        )


def concat(
    clips: Sequence[Path | str],
    out: Path | str,
    *,
    roots: Sequence[Path | str] | None = None,
    timeout: float = 300.0,
    expected_s: Sequence[float | None] | None = None,
    labels: Sequence[str] | None = None,
) -> ConcatResult:
    """Join ``clips`` in order into ``out``.

    Compatible clips (same codec configuration, size, frame rate, audio layout) are joined
    with the concat demuxer and ``-c copy``: no frame is re-encoded. Otherwise every clip is
    scaled/padded to the first clip's size and frame rate and re-encoded with the concat
    filter; a clip without audio gets silence when others have audio. The result says
    whether the output has audio.

    ``expected_s`` (seconds per clip, None where unknown): each clip's real length (probed:
    frames / fps) is checked against it and a clip much shorter is refused
    (:class:`TruncatedClip`, naming it by ``labels``). The joined output's length is always
    checked against the sum of its clips' and refused when it falls short.
    """
    if not clips:
        raise UnsafeInput("nothing to assemble: no clips given")
    checked = [check_input(c, roots) for c in clips]
    target = _check_output(out)
    names = list(labels) if labels is not None else [f"clip {i + 1}" for i in range(len(checked))]
    infos = [probe(real, timeout=min(timeout, PROBE_TIMEOUT_S)) for real, _ in checked]
    if expected_s is not None:
        check_lengths(infos, list(expected_s), names)
    total = sum(_seconds(i) for i in infos)
    signatures = [_copy_signature(real, fmt) for real, fmt in checked]
    copyable = signatures[0] is not None and all(s == signatures[0] for s in signatures)
    with tempfile.TemporaryDirectory(prefix="studio-concat-") as work, _publishing(target) as tmp:
        if copyable:
            _concat_copy([real for real, _ in checked], Path(work), tmp, timeout)
        else:
            _concat_reencode(checked, tmp, timeout)
        info = probe(tmp, timeout=min(timeout, PROBE_TIMEOUT_S))
        if _short_by(_seconds(info), total):
            raise TruncatedClip(
                f"the assembled video is {_seconds(info):.1f} s long where its {len(infos)} clips "
                f"add up to {total:.1f} s: refused (ffmpeg dropped part of it)"
            )
    return ConcatResult(
        path=target, stream_copy=copyable, has_audio=info.has_audio,
        duration_s=info.duration_s, clips=len(checked), info=info,
    )


def _concat_copy(reals: list[Path], work: Path, tmp: Path, timeout: float) -> None:
    # ``-safe 1`` accepts only relative, portable names: link each checked clip into a
    # private folder under such a name, so the list can name nothing we did not check.
    lines = ["ffconcat version 1.0\n"]
    for i, real in enumerate(reals):
        link = work / f"c{i:04d}.mp4"
        try:
            os.symlink(real, link)
        except OSError:
            os.link(real, link)
        lines.append(_concat_list_entry(link.name))
    listing = work / "list.ffconcat"
    listing.write_text("".join(lines), encoding="utf-8")
    run_ffmpeg(
        ["-loglevel", "error", "-protocol_whitelist", PROTOCOLS, "-f", "concat", "-safe", "1",
         "-i", str(listing), "-map", "0:v:0", "-map", "0:a:0?", "-c", "copy",
         "-movflags", "+faststart", "-f", "mp4", "-y", str(tmp)],
        timeout=timeout,
    )


def _concat_reencode(checked: list[tuple[Path, str]], tmp: Path, timeout: float) -> None:
    infos = [probe_with_ffmpeg(real, fmt, timeout=min(timeout, PROBE_TIMEOUT_S)) for real, fmt in checked]
    first = infos[0]
    width, height = first.width - first.width % 2, first.height - first.height % 2
    fps = first.fps or 24.0
    any_audio = any(i.has_audio for i in infos)
    args: list[str] = ["-loglevel", "error"]
    for real, fmt in checked:
        args += _input_args(real, fmt)
    chains, labels = [], []
    for n, info in enumerate(infos):
        chains.append(
            f"[{n}:v:0]scale={width}:{height}:force_original_aspect_ratio=decrease,"
            f"pad={width}:{height}:(ow-iw)/2:(oh-ih)/2,setsar=1,fps={fps:g},format=yuv420p[v{n}]"
        )
        labels.append(f"[v{n}]")
        if any_audio:
            if info.has_audio:
                chains.append(f"[{n}:a:0]aresample=48000,aformat=channel_layouts=stereo[a{n}]")
            else:
                seconds = info.frames / info.fps if info.fps else info.duration_s
                chains.append(f"anullsrc=r=48000:cl=stereo,atrim=duration={seconds:.4f}[a{n}]")
            labels.append(f"[a{n}]")
    graph = ";".join(chains) + ";" + "".join(labels)
    graph += f"concat=n={len(infos)}:v=1:a={1 if any_audio else 0}[v]" + ("[a]" if any_audio else "")
    args += ["-filter_complex", graph, "-map", "[v]"]
    if any_audio:
        args += ["-map", "[a]", "-c:a", "aac", "-b:a", "160k"]
    args += [*X264_ARGS, "-r", f"{fps:g}", "-f", "mp4", "-y", str(tmp)]
    run_ffmpeg(args, timeout=timeout)


# --------------------------------------------------------------------------- filters

def _filter_one(
    clip: Path | str, out: Path | str, vf: str, roots: Sequence[Path | str] | None, timeout: float
) -> VideoInfo:
    real, fmt = check_input(clip, roots)
    target = _check_output(out)
    with _publishing(target) as tmp:
        run_ffmpeg(
            ["-loglevel", "error", *_input_args(real, fmt), "-map", "0:v:0", "-map", "0:a:0?",
             "-vf", vf, *X264_ARGS, "-c:a", "copy", "-f", "mp4", "-y", str(tmp)],
            timeout=timeout,
        )
        info = probe(tmp)
    return info


def interpolate(
    clip: Path | str,
    out: Path | str,
    fps: int,
    *,
    mode: str = "mci",
    roots: Sequence[Path | str] | None = None,
    timeout: float = 600.0,
) -> VideoInfo:
    """Frame interpolation to ``fps`` with ffmpeg's minterpolate (``mci``: motion
    compensated; ``blend``: cross-fades, much faster); audio is copied."""
    if mode not in ("mci", "blend", "dup"):
        raise UnsafeInput(f"unknown interpolation mode {mode!r}")
    if not 1 <= int(fps) <= 240:
        raise UnsafeInput(f"frame rate {fps} is out of range (1-240)")
    vf = f"minterpolate=fps={int(fps)}:mi_mode={mode}"
    if mode == "mci":
        vf += ":mc_mode=aobmc:me_mode=bidir:vsbmc=1"
    return _filter_one(clip, out, vf, roots, timeout)


def upscale(
    clip: Path | str,
    out: Path | str,
    width: int,
    height: int,
    *,
    roots: Sequence[Path | str] | None = None,
    timeout: float = 600.0,
) -> VideoInfo:
    """Resize with the lanczos scaler (even sizes: yuv420p needs them); audio is copied."""
    if not (16 <= width <= 8192 and 16 <= height <= 8192):
        raise UnsafeInput(f"size {width}x{height} is out of range")
    w, h = int(width) - int(width) % 2, int(height) - int(height) % 2
    return _filter_one(clip, out, f"scale={w}:{h}:flags=lanczos,setsar=1", roots, timeout)


# --------------------------------------------------------------------------- raw encoder

class RawEncoder:
    """Pipe raw BGR frames into ffmpeg's libx264 (the animatic's writer, and the floor the
    benchmark measures it against). Writes to a temp name; ``close()`` publishes."""

    def __init__(self, out: Path, width: int, height: int, fps: int) -> None:
        self.out = _check_output(out)
        self.width, self.height, self.fps = width, height, fps
        self.frame_bytes = width * height * 3
        fd, tmp = tempfile.mkstemp(prefix=".partial-", suffix=".mp4", dir=self.out.parent)
        os.close(fd)
        self.tmp = Path(tmp)
        self._err = tempfile.TemporaryFile()
        argv = [
            ffmpeg_exe(), "-hide_banner", "-loglevel", "error",
            "-f", "rawvideo", "-pix_fmt", "bgr24", "-s", f"{width}x{height}", "-r", str(fps),
            "-i", "-", "-an", *X264_ARGS, "-f", "mp4", "-y", str(self.tmp),
        ]
        self.proc = popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self._err)
        self.frames = 0

    def write(self, frame: np.ndarray) -> None:
        if frame.shape != (self.height, self.width, 3) or frame.dtype != np.uint8:
            raise ValueError(f"frame {frame.shape} {frame.dtype} does not match {self.width}x{self.height}")
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(memoryview(np.ascontiguousarray(frame)).cast("B"))
        except (BrokenPipeError, OSError) as exc:
            self.kill()
            raise RenderFailed(f"ffmpeg stopped taking frames: {self._stderr() or exc}", "ffmpeg") from None
        self.frames += 1

    def close(self, timeout: float = 120.0) -> Path:
        """Finish the file and publish it under its real name."""
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise RenderFailed(f"timeout: the encoder ran past {timeout:g} s", "timeout") from None
        if code != 0:
            message = self._stderr()
            self.kill()
            disk = "No space left" in message
            raise RenderFailed(
                "disk full while encoding" if disk else f"ffmpeg failed (exit {code}): {message}",
                "disk" if disk else "ffmpeg",
            )
        with open(self.tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(self.tmp, self.out)
        self._err.close()
        return self.out

    def kill(self) -> None:
        """Stop ffmpeg and remove the partial file."""
        if self.proc.poll() is None:
            self.proc.kill()
        with contextlib.suppress(Exception):
            self.proc.wait(timeout=10)
        with contextlib.suppress(OSError):
            if self.proc.stdin:
                self.proc.stdin.close()
        with contextlib.suppress(FileNotFoundError):
            self.tmp.unlink()

    def _stderr(self) -> str:
        try:
            self._err.seek(0)
            return _tail(self._err.read().decode("utf-8", "replace"))
        except (OSError, ValueError):
            return ""



# --------------------------------------------------------------------------- clip post-processing

# How ffmpeg fails when the machine has no memory for it: malloc failing, thread stacks
# that cannot be mapped (pthread_create: EAGAIN), killed by the kernel's OOM killer (exit -9).
_OOM_MARKERS = ("cannot allocate memory", "out of memory", "not enough memory", "enomem",
                "pthread_create() failed", "resource temporarily unavailable", "(exit -9)")


def _is_oom(exc: BaseException) -> bool:
    if isinstance(exc, MemoryError):
        return True
    failure = getattr(exc, "failure_class", "")
    return failure == "oom" or any(m in str(exc).lower() for m in _OOM_MARKERS)


@dataclass(frozen=True)
class PostOutcome:
    """What :func:`post_process` did: one record per step (see ``render.manifest.PostStep``)
    and what the clip is afterwards (probed)."""

    steps: tuple[dict[str, object], ...]
    final: dict[str, int | float]


def post_process(
    clip: Path,
    *,
    interpolate_fps: int | None = None,
    upscale_by: float | None = None,
    interpolate_mode: str = "mci",
    timeout: float = 600.0,
    stopped: Callable[[], bool] | None = None,
) -> PostOutcome:
    """Interpolate and/or upscale a rendered clip in place (in that order).

    Each step writes a new file next to ``clip``; only a step that succeeded replaces it. A
    step that fails — out of memory, a timeout, ffmpeg refusing — keeps the clip as it was
    before that step, records why, and skips the steps after it. Nothing here raises for a
    failed step; the clip is always there afterwards.
    """
    clip = Path(clip)
    root = clip.parent
    plan: list[tuple[str, str, Callable[[Path, Path], VideoInfo]]] = []
    if interpolate_fps:
        method = f"ffmpeg minterpolate ({interpolate_mode}) to {int(interpolate_fps)} fps"
        plan.append(("interpolate", method, lambda src, dst: interpolate(
            src, dst, int(interpolate_fps), mode=interpolate_mode, roots=[root], timeout=timeout)))
    if upscale_by:
        def _up(src: Path, dst: Path) -> VideoInfo:
            before = probe(src, roots=[root])
            w = min(8192, int(round(before.width * upscale_by)))
            h = min(8192, int(round(before.height * upscale_by)))
            return upscale(src, dst, w, h, roots=[root], timeout=timeout)

        plan.append(("upscale", f"ffmpeg lanczos x{upscale_by:g}", _up))
    steps: list[dict[str, object]] = []
    failed = ""
    for name, method, run in plan:
        if failed or (stopped is not None and stopped()):
            why = f"not run: the {failed} step failed" if failed else "not run: the job was stopped"
            steps.append({"step": name, "method": method, "status": "skipped", "reason": why})
            continue
        out = root / f"post_{name}_{clip.name}"
        t0 = time.monotonic()
        try:
            info = run(clip, out)
        except (RenderFailed, OSError, MemoryError) as exc:
            with contextlib.suppress(FileNotFoundError):
                out.unlink()
            oom = _is_oom(exc)
            steps.append({
                "step": name, "method": method, "status": "out of memory" if oom else "failed",
                "seconds": round(time.monotonic() - t0, 3),
                "reason": f"{'out of memory' if oom else str(exc) or type(exc).__name__}; "
                          "the clip was kept without this step",
            })
            failed = name
            continue
        os.replace(out, clip)
        steps.append({
            "step": name, "method": method, "status": "done",
            "seconds": round(time.monotonic() - t0, 3),
            "fps": info.fps, "width": info.width, "height": info.height,
        })
    final = probe(clip, roots=[root])
    return PostOutcome(
        steps=tuple(steps),
        final={"fps": final.fps, "width": final.width, "height": final.height,
               "frames": final.frames, "duration_s": final.duration_s},
    )
