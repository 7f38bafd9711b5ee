"""Text metadata inside PNG files (``tEXt`` chunks), so a rendered image carries what it shows.

A renderer that knows where each character stands writes a ``aiuteur.figures`` chunk: a JSON
object of upper-cased character name -> ``[x0, y0, x1, y1]``, the figure's box as fractions
of the image's width and height. QA crops characters by it (identity stability); an image
without it (an upload, a ComfyUI render) is measured by face detection instead.

Only the standard library: the chunk layout is PNG's own (length, type, data, CRC-32).
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Mapping, Sequence

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
FIGURES_KEY = "aiuteur.figures"
MAX_TEXT = 64 * 1024  # a chunk we write or read back stays small

Box = tuple[float, float, float, float]


def _chunks(data: bytes):
    """(type, payload, start offset) of each chunk; stops quietly at a truncated one."""
    pos = len(PNG_SIGNATURE)
    while pos + 12 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        end = pos + 12 + length
        if end > len(data):
            return
        yield kind, data[pos + 8 : pos + 8 + length], pos
        if kind == b"IEND":
            return
        pos = end


def _chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def read_text(data: bytes) -> dict[str, str]:
    """The ``tEXt`` chunks of a PNG as {keyword: text}; {} for anything that is not a PNG."""
    if not data.startswith(PNG_SIGNATURE):
        return {}
    out: dict[str, str] = {}
    for kind, payload, _ in _chunks(data):
        if kind != b"tEXt" or len(payload) > MAX_TEXT or b"\x00" not in payload:
            continue
        key, _, text = payload.partition(b"\x00")
        out[key.decode("latin-1")] = text.decode("latin-1")
    return out


def with_text(data: bytes, key: str, text: str) -> bytes:
    """The PNG with a ``tEXt`` chunk ``key`` (replacing one of that name), before IEND.

    PNG's tEXt is Latin-1: ``text`` is written JSON-escaped by the callers here, so any name
    survives."""
    if not data.startswith(PNG_SIGNATURE):
        raise ValueError("not a PNG")
    raw_key = key.encode("latin-1")
    if not 1 <= len(raw_key) <= 79:
        raise ValueError("a PNG text keyword has 1 to 79 characters")
    payload = raw_key + b"\x00" + text.encode("latin-1")
    if len(payload) > MAX_TEXT:
        raise ValueError("PNG text too long")
    parts = [PNG_SIGNATURE]
    for kind, body, _ in _chunks(data):
        if kind == b"tEXt" and body.partition(b"\x00")[0] == raw_key:
            continue
        if kind == b"IEND":
            parts.append(_chunk(b"tEXt", payload))
        parts.append(_chunk(kind, body))
    return b"".join(parts)


def _box(value: object) -> Box | None:
    if not isinstance(value, Sequence) or isinstance(value, str) or len(value) != 4:
        return None
    try:
        x0, y0, x1, y1 = (float(v) for v in value)
    except (TypeError, ValueError):
        return None
    x0, y0, x1, y1 = (min(1.0, max(0.0, v)) for v in (x0, y0, x1, y1))
    if x1 - x0 <= 0.0 or y1 - y0 <= 0.0:
        return None
    return x0, y0, x1, y1


def with_figures(data: bytes, figures: Mapping[str, Sequence[float]]) -> bytes:
    """The PNG with its figure boxes (name -> fractional [x0, y0, x1, y1]) recorded."""
    clean = {name.strip().upper(): [round(v, 4) for v in box] for name, raw in figures.items()
             if name.strip() and (box := _box(raw)) is not None}
    return with_text(data, FIGURES_KEY, json.dumps(clean, sort_keys=True, ensure_ascii=True))


def read_figures(data: bytes) -> dict[str, Box]:
    """The figure boxes a renderer recorded in a PNG (upper-cased names); {} when none or
    when the chunk is malformed (never an error: the image is still an image)."""
    raw = read_text(data).get(FIGURES_KEY)
    if not raw:
        return {}
    try:
        parsed = json.loads(raw)
    except ValueError:
        return {}
    if not isinstance(parsed, dict):
        return {}
    return {str(k).strip().upper(): box for k, v in parsed.items() if (box := _box(v)) is not None}


__all__ = ["FIGURES_KEY", "read_figures", "read_text", "with_figures", "with_text"]
