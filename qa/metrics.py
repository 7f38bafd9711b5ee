"""Frame and clip metrics: pure functions on BGR uint8 frames (H x W x 3).

Everything is measured on a reduced copy of the frames (``max_side`` pixels on the long side,
320 by default): temporal coherence, flicker, frozen/black frames and cuts are properties of
the whole picture, not of fine detail, and the calibration in ``qa.faults`` gives the same
verdicts at full and reduced resolution (``qa.bench`` checks it). ``clip_metrics`` decodes and
converts once and shares the grayscale frames, means and thumbnails across every metric.

Scales: SSIM-like figures are 0..1 (1 = identical); ``warp_error`` is the mean absolute luma
error after flow compensation as a share of full scale (0..1); flicker figures are in 8-bit
levels (0..255); ratios are shares of frames; ``hard_cuts`` is a count.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import subprocess
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from skimage.feature import local_binary_pattern

Frame = np.ndarray

# A pixel "changed" when it moves by more than this many levels; a pair is frozen when fewer
# than FROZEN_SHARE of its pixels changed. H.264 re-encodes a repeated frame as skipped
# blocks, so a frozen pair decodes to (almost) the same pixels.
FROZEN_LEVEL = 6
FROZEN_SHARE = 2e-4
# A frame is black when 99% of its pixels are darker than this (so a dark noir scene with a
# lit figure or a caption is not black).
BLACK_LEVEL = 24
# A cut is a pair whose thumbnail correlation drops below CUT_NCC and far below the clip's own
# typical pair (CUT_RATIO x its median discontinuity); black frames never count as cuts.
CUT_NCC = 0.6
CUT_RATIO = 8.0
THUMB = (64, 36)
# dlib's published same-person tolerance for 128-d embeddings is 0.6 euclidean, which is
# identity_distance's FAIL line (data/qa_thresholds.toml): the distance is used unscaled.
FACE_TOLERANCE = 0.6
FACE_SCALE = 1.0


# --------------------------------------------------------------------------- decoding


def downscale(frame: Frame, max_side: int | None) -> Frame:
    """The frame shrunk (never enlarged) so its long side is at most ``max_side``."""
    h, w = frame.shape[:2]
    if not max_side or max(h, w) <= max_side:
        return frame
    scale = max_side / max(h, w)
    size = (max(2, round(w * scale)), max(2, round(h * scale)))
    return cv2.resize(frame, size, interpolation=cv2.INTER_AREA)


def _ffmpeg() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


class _Decoder:
    """One ffmpeg process that decodes and downscales a clip into raw BGR frames, read as
    they come (so the metrics run while ffmpeg decodes the next frames). Its log gives the
    format, audio included, so nothing probes the file a second time."""

    def __init__(self, path: Path, max_side: int | None) -> None:
        # keep the aspect, never upscale, even dimensions for the scaler
        vf = (["-vf", f"scale='min({max_side},iw)':'min({max_side},ih)'"
                      ":force_original_aspect_ratio=decrease:force_divisible_by=2"] if max_side else [])
        cmd = [_ffmpeg(), "-hide_banner", "-nostdin", "-nostats", "-i", str(path), "-map", "0:v:0",
               *vf, "-pix_fmt", "bgr24", "-f", "rawvideo", "-"]
        self._proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,  # noqa: S603 - argv list, no shell
                                      stderr=subprocess.PIPE)
        with contextlib.suppress(ImportError, OSError, AttributeError):  # Linux: room for a few frames in the pipe
            import fcntl

            fcntl.fcntl(self._proc.stdout, getattr(fcntl, "F_SETPIPE_SZ", 1031), 1 << 20)
        self._log: list[str] = []
        self._header = threading.Event()
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        assert self._proc.stderr is not None
        output = False
        for raw in iter(self._proc.stderr.readline, b""):
            line = raw.decode("utf-8", "replace")
            self._log.append(line)
            output = output or line.startswith("Output #")
            if output and line.lstrip().startswith("Stream ") and " Video: " in line:
                self._header.set()
        self._header.set()

    def _last_line(self, default: str) -> str:
        lines = [line.strip() for line in self._log if line.strip()]
        return (lines[-1] if lines else default)[:200]

    def meta(self) -> dict[str, Any]:
        from imageio_ffmpeg._parsing import parse_ffmpeg_header

        self._header.wait(60)
        quiet = logging.getLogger("imageio_ffmpeg")
        level = quiet.level
        quiet.setLevel(logging.ERROR)  # it warns that the (intended) reading size differs from the source
        try:
            return parse_ffmpeg_header("ffmpeg version ?\n\n" + "".join(self._log))
        except (IndexError, AttributeError, ValueError):
            self.close()
            raise OSError(self._last_line("no video stream")) from None
        finally:
            quiet.setLevel(level)

    def frames(self, width: int, height: int) -> Iterator[Frame]:
        assert self._proc.stdout is not None
        size = width * height * 3
        n = 0
        try:
            while True:
                buf = bytearray(size)
                view = memoryview(buf)
                got = 0
                while got < size and (k := self._proc.stdout.readinto(view[got:])):
                    got += k
                if got < size:
                    break
                n += 1
                yield np.frombuffer(buf, np.uint8).reshape(height, width, 3)
        finally:
            self.close()
        if n == 0 and self._proc.returncode:
            raise OSError(self._last_line("ffmpeg could not decode the clip"))

    def close(self) -> None:
        if self._proc.poll() is None:
            with contextlib.suppress(OSError):
                self._proc.stdout.close()  # type: ignore[union-attr]
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._reader.join(5)


def _stream(path: str | Path, max_side: int | None) -> tuple[dict[str, Any], Iterator[Frame]]:
    path = Path(path).resolve()  # absolute: a name starting with "-" never reads as an option
    if not path.is_file():
        raise OSError(f"{path.name} not found")
    decoder = _Decoder(path, max_side)
    info = decoder.meta()
    w, h = info["size"]
    sw, sh = info.get("source_size") or info["size"]
    meta = {
        "fps": float(info.get("fps") or 0.0), "width": int(sw), "height": int(sh),
        "codec": str(info.get("codec", "")), "duration_s": float(info.get("duration") or 0.0),
        "frames": 0, "sample_every": 1, "analysis_size": (int(w), int(h)),
        "audio": bool(info.get("audio_codec")),
    }
    return meta, decoder.frames(int(w), int(h))


def read_frames(path: str | Path, *, max_side: int | None = 320, sample_every: int = 1) -> tuple[list[Frame], dict[str, Any]]:
    """Decode a clip to BGR frames, scaled by ffmpeg so the long side is at most ``max_side``.

    ``sample_every`` keeps every n-th frame. ``meta`` carries fps, size (source), codec,
    duration, frames (decoded, before sampling) and audio (bool). OSError when ffmpeg cannot
    read the file or it has no video frames.
    """
    meta, stream = _stream(path, max_side)
    step = max(1, sample_every)
    frames: list[Frame] = []
    n = 0
    for frame in stream:
        if n % step == 0:
            frames.append(frame)
        n += 1
    meta.update(frames=n, sample_every=step)
    return frames, meta


# --------------------------------------------------------------------------- shared preparation


@dataclass
class Prepared:
    """Decoded frames reduced once: colour, grayscale, per-frame means and thumbnails."""

    frames: list[Frame]
    gray: list[np.ndarray]
    luma: np.ndarray  # (n,) mean luma in levels
    colour: np.ndarray  # (n, 3) mean B, G, R minus the mean luma, in levels
    p99: np.ndarray  # (n,) 99th-percentile luma
    thumbs: list[np.ndarray] = field(default_factory=list)


def _reduce(frame: Frame, max_side: int | None) -> tuple[Frame, np.ndarray, float, tuple[float, float, float], float, np.ndarray]:
    """One frame reduced: small copy, grayscale, mean luma, mean B/G/R, p99 luma, thumbnail."""
    small = downscale(np.asarray(frame), max_side)
    gray = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
    bgr = cv2.mean(small)[:3]
    thumb = cv2.resize(gray, THUMB, interpolation=cv2.INTER_AREA).astype(np.float32)
    return small, gray, cv2.mean(gray)[0], bgr, _percentile99(gray), thumb


def _prepared(reduced: Sequence[tuple[Any, ...]]) -> Prepared:
    n = len(reduced)
    luma = np.array([r[2] for r in reduced], np.float64)
    bgr = np.array([r[3] for r in reduced], np.float64).reshape(n, 3)
    p99 = np.array([r[4] for r in reduced], np.float64)
    return Prepared([r[0] for r in reduced], [r[1] for r in reduced], luma, bgr - luma[:, None], p99,
                    [r[5] for r in reduced])


def prepare(frames: Iterable[Frame] | Prepared, max_side: int | None = 320) -> Prepared:
    """Reduce frames once for every metric (accepts an already prepared set)."""
    if isinstance(frames, Prepared):
        return frames
    return _prepared([_reduce(f, max_side) for f in frames])


def _percentile99(gray: np.ndarray) -> float:
    hist = cv2.calcHist([gray], [0], None, [256], [0, 256]).ravel()
    return float(np.searchsorted(np.cumsum(hist), 0.99 * gray.size))


def _pairs(n: int, pair_stride: int) -> range:
    return range(0, max(0, n - 1), max(1, pair_stride))


def _gray(frame: Frame) -> np.ndarray:
    return frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)


# --------------------------------------------------------------------------- temporal coherence


# scikit-image's defaults for structural_similarity: a 7x7 uniform window, sample covariance,
# K1 = 0.01, K2 = 0.03, 8-bit data range; the mean is taken over the pixels whose window lies
# inside the image (a 3-pixel border is left out), so the border mode never matters.
SSIM_WIN = 7
_C1 = (0.01 * 255) ** 2
_C2 = (0.03 * 255) ** 2
_COV_NORM = SSIM_WIN * SSIM_WIN / (SSIM_WIN * SSIM_WIN - 1)


def _box(x: np.ndarray) -> np.ndarray:
    return cv2.boxFilter(x, cv2.CV_32F, (SSIM_WIN, SSIM_WIN), normalize=True, borderType=cv2.BORDER_REFLECT)


def _moments(g: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A grayscale frame as float32, its local mean and local mean of squares."""
    x = g.astype(np.float32)
    sq = cv2.sqrBoxFilter(x, cv2.CV_32F, (SSIM_WIN, SSIM_WIN), normalize=True, borderType=cv2.BORDER_REFLECT)
    return x, _box(x), sq


def _ssim_from(ma: tuple[np.ndarray, ...], mb: tuple[np.ndarray, ...]) -> float:
    (x, ux, uxx), (y, uy, uyy) = ma, mb
    uxy = _box(cv2.multiply(x, y))
    uxuy = cv2.multiply(ux, uy)
    ux2, uy2 = cv2.multiply(ux, ux), cv2.multiply(uy, uy)
    num = cv2.multiply(2 * uxuy + _C1, (2 * _COV_NORM) * (uxy - uxuy) + _C2)
    den = cv2.multiply(ux2 + uy2 + _C1, _COV_NORM * (uxx - ux2 + uyy - uy2) + _C2)
    pad = (SSIM_WIN - 1) // 2
    return float(np.clip(cv2.mean(cv2.divide(num, den)[pad:-pad, pad:-pad])[0], 0.0, 1.0))


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM of two grayscale (or BGR, converted) images, 0..1: scikit-image's
    ``structural_similarity(a, b, data_range=255)`` computed with OpenCV box filters in
    float32 (the same figure to ~1e-6 on the calibration clips, several times faster)."""
    ga, gb = _gray(a), _gray(b)
    if ga.shape != gb.shape:
        gb = cv2.resize(gb, (ga.shape[1], ga.shape[0]), interpolation=cv2.INTER_AREA)
    if min(ga.shape) < SSIM_WIN:
        return 1.0 if np.array_equal(ga, gb) else float(1 - np.abs(ga.astype(float) - gb).mean() / 255)
    return _ssim_from(_moments(ga), _moments(gb))


def ssim_series(frames: Iterable[Frame] | Prepared, *, max_side: int | None = 320, pair_stride: int = 1) -> list[float]:
    """SSIM of each analysed pair (t, t+1); ``pair_stride`` analyses every n-th pair."""
    p = prepare(frames, max_side)
    if p.gray and min(p.gray[0].shape) < SSIM_WIN:
        return [ssim(p.gray[i], p.gray[i + 1]) for i in _pairs(len(p.gray), pair_stride)]
    moments: dict[int, tuple[np.ndarray, ...]] = {}

    def of(i: int) -> tuple[np.ndarray, ...]:
        if i not in moments:
            moments[i] = _moments(p.gray[i])
        return moments[i]

    out = []
    for i in _pairs(len(p.gray), pair_stride):
        out.append(_ssim_from(of(i), of(i + 1)))
        moments.pop(i, None)
    return out


def temporal_coherence(frames: Iterable[Frame] | Prepared, *, max_side: int | None = 320, pair_stride: int = 1) -> dict[str, float]:
    """Mean and minimum frame-to-frame SSIM (1.0 for a clip of fewer than two frames)."""
    series = ssim_series(frames, max_side=max_side, pair_stride=pair_stride)
    if not series:
        return {"ssim_mean": 1.0, "ssim_min": 1.0}
    return {"ssim_mean": float(np.mean(series)), "ssim_min": float(np.min(series))}


_DIS: Any = None


def _flow(prev: np.ndarray, nxt: np.ndarray) -> np.ndarray:
    global _DIS
    if _DIS is None:
        # DIS "ultrafast" (no variational refinement) is ~20x cheaper than Farneback and half
        # the cost of "fast" on 320 px frames; on the calibration clips its warp error is
        # within 3% of "fast" and never changes a verdict (qa.bench, test_qa_calibration)
        _DIS = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)
    return _DIS.calc(prev, nxt, None)


class _Warp:
    """Frame t warped onto t+1 by DIS optical flow; keeps the sampling grid between pairs."""

    def __init__(self) -> None:
        self._grid: np.ndarray | None = None

    def error(self, a: np.ndarray, b: np.ndarray) -> float:
        if np.array_equal(a, b):
            return 0.0
        # backward flow: where each pixel of t+1 came from in t
        flow = _flow(b, a)
        if self._grid is None or self._grid.shape[:2] != a.shape:
            h, w = a.shape
            self._grid = np.dstack(np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32)))
        flow += self._grid
        warped = cv2.remap(a, flow, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        return float(cv2.absdiff(warped, b).mean() / 255.0)


def warp_errors(frames: Iterable[Frame] | Prepared, *, max_side: int | None = 320, pair_stride: int = 1) -> list[float]:
    """Per pair: frame t warped onto t+1 by DIS optical flow, mean |error| on luma, 0..1."""
    p = prepare(frames, max_side)
    warp = _Warp()
    return [warp.error(p.gray[i], p.gray[i + 1]) for i in _pairs(len(p.gray), pair_stride)]


def warp_error(frames: Iterable[Frame] | Prepared, *, max_side: int | None = 320, pair_stride: int = 1) -> float:
    """Mean flow-compensated warp error over the analysed pairs (0 = perfectly explained motion)."""
    errors = warp_errors(frames, max_side=max_side, pair_stride=pair_stride)
    return float(np.mean(errors)) if errors else 0.0


# --------------------------------------------------------------------------- flicker, frozen, black, cuts


def _jumps(series: np.ndarray) -> np.ndarray:
    """|x_t - (x_{t-1} + x_{t+1}) / 2|: zero for steady values and linear drifts (fades)."""
    if len(series) < 3:
        return np.zeros(1)
    return np.abs(series[1:-1] - (series[:-2] + series[2:]) / 2)


def flicker(frames: Iterable[Frame] | Prepared, *, max_side: int | None = 320) -> dict[str, float]:
    """Largest frame-to-frame jump in mean luma and in mean colour (levels), drift-robust.

    A jump is the second difference of the per-frame mean, so a slow fade or a grade that
    drifts over the shot scores ~0 while a single bright or tinted frame scores its amplitude.
    Black frames are skipped (``black_ratio`` reports them).
    """
    p = prepare(frames, max_side)
    keep = p.p99 >= BLACK_LEVEL
    luma, colour = p.luma[keep], p.colour[keep]
    if len(luma) < 3:
        return {"flicker_luma": 0.0, "flicker_colour": 0.0}
    col = np.stack([_jumps(colour[:, c]) for c in range(3)], axis=1)
    return {"flicker_luma": float(_jumps(luma).max()), "flicker_colour": float(np.linalg.norm(col, axis=1).max())}


def _frozen(a: np.ndarray, b: np.ndarray) -> bool:
    changed = cv2.countNonZero(cv2.threshold(cv2.absdiff(a, b), FROZEN_LEVEL, 255, cv2.THRESH_BINARY)[1])
    return changed < FROZEN_SHARE * a.size


def frozen_ratio(frames: Iterable[Frame] | Prepared, *, max_side: int | None = 320) -> float:
    """Share of frames that repeat the previous frame (pixels within compression noise)."""
    p = prepare(frames, max_side)
    if len(p.gray) < 2:
        return 0.0
    return sum(_frozen(a, b) for a, b in zip(p.gray, p.gray[1:], strict=False)) / (len(p.gray) - 1)


def black_ratio(frames: Iterable[Frame] | Prepared, *, max_side: int | None = 320) -> float:
    """Share of frames whose 99th-percentile luma is below ``BLACK_LEVEL``."""
    p = prepare(frames, max_side)
    return float(np.mean(p.p99 < BLACK_LEVEL)) if len(p.p99) else 0.0


def _ncc(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    denom = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / denom) if denom > 1e-6 else 1.0


def cut_scores(frames: Iterable[Frame] | Prepared, *, max_side: int | None = 320) -> list[float]:
    """Per pair: 1 - normalised cross-correlation of 64x36 grayscale thumbnails.

    Correlation ignores global gain and offset, so luma flicker does not read as a cut.
    """
    p = prepare(frames, max_side)
    return [1.0 - _ncc(a, b) for a, b in zip(p.thumbs, p.thumbs[1:], strict=False)]


def hard_cuts(frames: Iterable[Frame] | Prepared, *, max_side: int | None = 320) -> int:
    """Number of discontinuities inside the clip (spikes of ``cut_scores``)."""
    p = prepare(frames, max_side)
    scores = np.array(cut_scores(p))
    if not len(scores):
        return 0
    black = p.p99 < BLACK_LEVEL
    floor = max(1.0 - CUT_NCC, CUT_RATIO * float(np.median(scores)))
    return int(sum(s > floor and not (black[i] or black[i + 1]) for i, s in enumerate(scores)))


# --------------------------------------------------------------------------- bookends, continuity


def _hs_hist(frame: Frame) -> np.ndarray:
    hsv = cv2.cvtColor(frame, cv2.COLOR_BGR2HSV)
    hist = cv2.calcHist([hsv], [0, 1], None, [30, 8], [0, 180, 0, 256])
    return cv2.normalize(hist, hist, 1.0, 0.0, cv2.NORM_L1)


def bookend_similarity(last_frame: Frame, first_frame: Frame, *, max_side: int | None = 320) -> float:
    """0..1 likeness of shot N's last frame and shot N+1's first: SSIM and H-S histogram
    correlation, averaged (structure and colour both have to hold across a cut)."""
    a, b = downscale(last_frame, max_side), downscale(first_frame, max_side)
    if a.shape != b.shape:
        b = cv2.resize(b, (a.shape[1], a.shape[0]), interpolation=cv2.INTER_AREA)
    structure = ssim(a, b)
    colour = max(0.0, cv2.compareHist(_hs_hist(a), _hs_hist(b), cv2.HISTCMP_CORREL))
    return float(np.clip(0.5 * structure + 0.5 * colour, 0.0, 1.0))


def continuity_drift(reference: Frame, frame: Frame, *, max_side: int | None = 320) -> float:
    """0..1 drift of a shot's start frame from the frame it continues (0 = identical)."""
    return float(np.clip(1.0 - bookend_similarity(reference, frame, max_side=max_side), 0.0, 1.0))


def decode_png(data: bytes) -> Frame:
    """PNG/JPEG bytes to a BGR frame; ValueError when the bytes are not an image."""
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError("not a decodable image")
    return img


class FrameDriftCheck:
    """``studio.ports.DriftCheck`` on real pixels: ``continuity_drift`` of two PNGs."""

    def __init__(self, max_side: int | None = 320) -> None:
        self.max_side = max_side

    def drift(self, reference_png: bytes, frame_png: bytes) -> float:
        if reference_png == frame_png:
            return 0.0
        return round(continuity_drift(decode_png(reference_png), decode_png(frame_png), max_side=self.max_side), 4)


# --------------------------------------------------------------------------- identity


@dataclass(frozen=True)
class IdentityResult:
    """Appearance distance of two sets of crops of one character, 0..1 (0 = same).

    ``method`` is "face" (dlib 128-d embeddings, euclidean: dlib's same-person tolerance 0.6
    is the FAIL line) when faces were found in both sets, else "descriptor" (masked hue x
    saturation histogram + LBP texture).
    """

    distance: float
    method: str
    faces_a: int = 0
    faces_b: int = 0


_DLIB: tuple[Any, Any, Any] | None = None


def _dlib_models() -> tuple[Any, Any, Any] | None:
    global _DLIB
    if _DLIB is None:
        try:
            import dlib

            spec = importlib.util.find_spec("face_recognition_models")
            if spec is None or not spec.submodule_search_locations:
                return None
            # the package's __init__ needs pkg_resources; read the model folder directly
            models = Path(list(spec.submodule_search_locations)[0]) / "models"
            _DLIB = (dlib.get_frontal_face_detector(),
                     dlib.shape_predictor(str(models / "shape_predictor_5_face_landmarks.dat")),
                     dlib.face_recognition_model_v1(str(models / "dlib_face_recognition_resnet_model_v1.dat")))
        except (ImportError, RuntimeError, OSError):
            return None
    return _DLIB


def _faces(image: Frame) -> list[np.ndarray]:
    """128-d dlib embeddings of every face in an image, largest first ([] without dlib)."""
    models = _dlib_models()
    if models is None:
        return []
    detector, shape, encoder = models
    rgb = np.ascontiguousarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
    faces = sorted(detector(rgb, 1), key=lambda r: -r.width() * r.height())
    return [np.array(encoder.compute_face_descriptor(rgb, shape(rgb, f))) for f in faces]


def face_embeddings(crops: Sequence[Frame]) -> list[np.ndarray]:
    """128-d dlib embeddings of the largest face in each crop that has one."""
    return [faces[0] for crop in crops if (faces := _faces(crop))]


DESCRIPTOR_SIZE = (64, 96)  # (w, h) a crop is resampled to: a standing figure's proportions
MIN_SATURATION = 40  # below it hue is noise (greys, deep shadow): those pixels carry no colour
TEXTURE_WEIGHT = 0.2


def _figure_mask(h: int, w: int) -> np.ndarray:
    """A centred ellipse: a figure's box has background in its corners; the ellipse keeps
    mostly the figure."""
    mask = np.zeros((h, w), np.uint8)
    cv2.ellipse(mask, (w // 2, h // 2), (max(1, int(w * 0.42)), max(1, int(h * 0.48))), 0, 0, 360, 255, -1)
    return mask


def appearance_descriptor(crop: Frame) -> np.ndarray:
    """What a figure looks like, robust to the scene's light: a hue x saturation histogram
    (18 x 3, the value channel left out, unsaturated pixels left out) inside a centred
    ellipse, then a uniform-LBP texture histogram (10 bins); each part L1-normalised."""
    small = cv2.resize(crop, DESCRIPTOR_SIZE, interpolation=cv2.INTER_AREA)
    hsv = cv2.cvtColor(small, cv2.COLOR_BGR2HSV)
    mask = _figure_mask(DESCRIPTOR_SIZE[1], DESCRIPTOR_SIZE[0])
    colour = cv2.calcHist([hsv], [0, 1], mask, [18, 3], [0, 180, MIN_SATURATION, 256]).ravel()
    lbp = local_binary_pattern(cv2.cvtColor(small, cv2.COLOR_BGR2GRAY), 8, 1, method="uniform")
    texture = np.bincount(lbp.astype(int).ravel(), minlength=10)[:10].astype(np.float64)
    return np.concatenate([colour / max(colour.sum(), 1), texture / max(texture.sum(), 1)])


def _descriptor_distance(a: np.ndarray, b: np.ndarray) -> float:
    # Hellinger distance per part (0..1), colour weighted over texture: a costume change
    # reads in colour first, a shape change in texture. A crop with no saturated pixel has
    # an all-zero colour part: it then matches nothing (1.0) unless both are grey.
    def hellinger(x: np.ndarray, y: np.ndarray) -> float:
        if not x.any() and not y.any():
            return 0.0
        return float(np.sqrt(max(0.0, 1.0 - np.sqrt(x * y).sum())))

    return (1 - TEXTURE_WEIGHT) * hellinger(a[:-10], b[:-10]) + TEXTURE_WEIGHT * hellinger(a[-10:], b[-10:])


def identity_distance(crops_a: Sequence[Frame], crops_b: Sequence[Frame], *, use_faces: bool = True) -> IdentityResult:
    """How far a character's appearance in ``crops_b`` is from ``crops_a`` (e.g. its asset key)."""
    if not len(crops_a) or not len(crops_b):
        raise ValueError("identity_distance needs at least one crop on each side")
    if use_faces:
        ea, eb = face_embeddings(crops_a), face_embeddings(crops_b)
        if ea and eb:
            d = float(np.linalg.norm(np.mean(ea, axis=0) - np.mean(eb, axis=0)))
            return IdentityResult(min(1.0, d * FACE_SCALE), "face", len(ea), len(eb))
    da = np.mean([appearance_descriptor(c) for c in crops_a], axis=0)
    db = np.mean([appearance_descriptor(c) for c in crops_b], axis=0)
    return IdentityResult(_descriptor_distance(da, db), "descriptor")


def _crop(image: Frame, box: Sequence[float]) -> Frame | None:
    h, w = image.shape[:2]
    x0, y0, x1, y1 = (int(round(v * n)) for v, n in zip(box, (w, h, w, h), strict=True))
    if x1 - x0 < 8 or y1 - y0 < 8:
        return None
    return image[y0:y1, x0:x1]


def _nearest_face(face: np.ndarray, images: Iterable[Frame]) -> IdentityResult | None:
    """Frames with no figure boxes: each searched for faces (at most 960 px), the face
    nearest the key's ``face`` per frame, the median over the frames that show one."""
    nearest = [min(float(np.linalg.norm(f - face)) for f in faces) for image in images
               if (faces := _faces(downscale(image, 960)))]
    if not nearest:
        return None
    return IdentityResult(min(1.0, float(np.median(nearest)) * FACE_SCALE), "face", 1, len(nearest))


def _key_crop(key_png: bytes, name: str) -> Frame | None:
    """The character in its image key: its figure box when the key records one, else all."""
    from studio.pngmeta import read_figures

    key = decode_png(key_png)
    box = read_figures(key_png).get(name.strip().upper())
    return _crop(key, box) if box else key


def identity_in_frames(key_png: bytes, frame_pngs: Sequence[bytes], name: str) -> IdentityResult | None:
    """How far a character (``name``) looks, across some frames, from its asset image key.

    Where a renderer recorded figure boxes in the PNGs (``studio.pngmeta``), the character's
    crops are compared with the key's (faces first, else the appearance descriptor). A frame
    with no boxes at all (an upload, a ComfyUI render) is searched for faces: the distance is
    that of the face nearest the key's. A frame whose boxes do not name the character does
    not show it. None when nothing could be compared (no crop, no face)."""
    from studio.pngmeta import read_figures

    name = name.strip().upper()
    key_crop = _key_crop(key_png, name)
    if key_crop is None:
        return None
    crops: list[Frame] = []
    unboxed: list[Frame] = []
    for png in frame_pngs:
        figures = read_figures(png)
        if not figures:
            unboxed.append(decode_png(png))
        elif name in figures and (crop := _crop(decode_png(png), figures[name])) is not None:
            crops.append(crop)
    if crops:
        return identity_distance([key_crop], crops)
    key_faces = face_embeddings([key_crop])
    if not key_faces or not unboxed:
        return None
    return _nearest_face(key_faces[0], unboxed)


def key_face(key_png: bytes, name: str) -> np.ndarray | None:
    """The face embedding of a character's image key (inside its figure box when the key
    records one); None when the key shows no face (an animatic card)."""
    crop = _key_crop(key_png, name)
    faces = face_embeddings([crop]) if crop is not None else []
    return faces[0] if faces else None


def identity_in_clip(face: np.ndarray, clip: str | Path, *, samples: int = 4, max_side: int = 640) -> IdentityResult | None:
    """A character's faces inside a clip vs its key's ``face`` (see ``key_face``):
    ``samples`` frames spread over the clip, each searched for faces, the nearest face to the
    key's per frame, the median over the frames. None when no sampled frame shows a face."""
    frames, _ = read_frames(clip, max_side=max_side, sample_every=1)
    if not frames:
        return None
    picks = sorted({round(i) for i in np.linspace(0, len(frames) - 1, num=max(1, samples))})
    return _nearest_face(face, (frames[i] for i in picks))


# --------------------------------------------------------------------------- format and the whole set


def format_checks(meta: dict[str, Any], *, fps: float, width: int, height: int, duration_s: float,
                  tol: float = 0.1, codec: str = "h264") -> dict[str, float]:
    """Format facts as 0/1 metrics plus ``duration_error_s`` (seconds off the expected length).

    ``tol`` is the duration tolerance in seconds and the fps tolerance in frames/s.
    """
    measured = meta["frames"] / meta["fps"] if meta.get("fps") and meta.get("frames") else meta.get("duration_s", 0.0)
    return {
        "fps_ok": float(abs(float(meta.get("fps", 0.0)) - fps) <= tol),
        "resolution_ok": float((meta.get("width"), meta.get("height")) == (width, height)),
        "codec_ok": float(str(meta.get("codec", "")).lower().startswith(codec.lower())),
        "audio_present": float(bool(meta.get("audio"))),
        "duration_error_s": float(abs(measured - duration_s)),
    }


class ClipMeasure:
    """The clip metric set measured frame by frame, as the frames arrive (from a decoder or a
    list): each frame is reduced once; SSIM, warp error and frozen pairs are measured when
    their second frame comes, so decoding and measuring overlap; flicker, black frames and
    cuts come from the per-frame figures at the end. Same figures as the functions above."""

    def __init__(self, *, max_side: int | None = 320, pair_stride: int = 2) -> None:
        self.max_side = max_side
        self.pair_stride = max(1, pair_stride)
        self._reduced: list[tuple[Any, ...]] = []
        self._ssim: list[float] = []
        self._warp_errors: list[float] = []
        self._frozen = 0
        self._warp = _Warp()
        self._moments: tuple[np.ndarray, ...] | None = None  # of the previous frame, when needed
        self.first: Frame | None = None
        self.last: Frame | None = None

    def add(self, frame: Frame) -> None:
        reduced = _reduce(frame, self.max_side)
        gray = reduced[1]
        i = len(self._reduced) - 1  # the previous frame's index
        moments = None
        if i >= 0:
            prev = self._reduced[i][1]
            self._frozen += _frozen(prev, gray)
            if i % self.pair_stride == 0:
                if min(gray.shape) < SSIM_WIN or prev.shape != gray.shape:
                    self._ssim.append(ssim(prev, gray))
                else:
                    moments = _moments(gray)
                    self._ssim.append(_ssim_from(self._moments or _moments(prev), moments))
                self._warp_errors.append(self._warp.error(prev, gray))
        self._moments = moments if self.pair_stride == 1 else None  # the next pair starts here
        self._reduced.append(reduced)
        if self.first is None:
            self.first = frame
        self.last = frame

    @property
    def count(self) -> int:
        return len(self._reduced)

    def result(self) -> dict[str, float]:
        p = _prepared(self._reduced)
        n = len(self._reduced)
        out: dict[str, float] = {"frames": float(n)}
        if self._ssim:
            out.update(ssim_mean=float(np.mean(self._ssim)), ssim_min=float(np.min(self._ssim)))
        else:
            out.update(ssim_mean=1.0, ssim_min=1.0)
        out["warp_error"] = float(np.mean(self._warp_errors)) if self._warp_errors else 0.0
        out.update(flicker(p))
        out["frozen_ratio"] = self._frozen / (n - 1) if n >= 2 else 0.0
        out["black_ratio"] = black_ratio(p)
        out["hard_cuts"] = float(hard_cuts(p))
        return out


def measure_clip(path: str | Path, *, max_side: int | None = 320, pair_stride: int = 2) -> tuple[dict[str, float], dict[str, Any], ClipMeasure]:
    """Decode a clip once and measure it while it decodes: (metrics, meta, the measure, whose
    ``first`` and ``last`` are the clip's first and last reduced frames). OSError when the
    clip cannot be read or has no frames."""
    meta, stream = _stream(path, max_side)
    measure = ClipMeasure(max_side=max_side, pair_stride=pair_stride)
    for frame in stream:
        measure.add(frame)
    if measure.first is None:
        raise OSError("the clip has no frames")
    meta["frames"] = measure.count
    return measure.result(), meta, measure


def clip_metrics(source: str | Path | Iterable[Frame], *, max_side: int | None = 320, pair_stride: int = 2,
                 expect: dict[str, Any] | None = None) -> dict[str, float]:
    """Every clip metric from one decode and one reduction (see ``ClipMeasure``).

    ``source`` is a path (decoded at reduced size, measured as it decodes) or frames. SSIM
    and warp error look at every ``pair_stride``-th adjacent pair; the cheap metrics
    (flicker, frozen, black, cuts) see every frame, so a single bad frame is never skipped.
    ``expect`` (fps, width, height, duration_s, tol) adds ``format_checks`` for a path.
    """
    if isinstance(source, (str, Path)):
        out, meta, _ = measure_clip(source, max_side=max_side, pair_stride=pair_stride)
        if expect:
            out.update(format_checks(meta, **expect))
        return out
    measure = ClipMeasure(max_side=max_side, pair_stride=pair_stride)
    for frame in source:
        measure.add(frame)
    return measure.result()
