"""Placeholder asset cards: a small deterministic PNG per asset, through the FrameRenderer port.

A stop-gap until the CPU animatic renderer draws real character/prop/location cards: it paints
the locked style's palette with a simple silhouette per kind (figure, horizon, object), so an
image key exists, is content-addressed and changes when the asset or the style changes.
Only the stdlib (zlib + struct) is used, so ``studio/`` keeps no imaging dependency.
"""

from __future__ import annotations

import hashlib
import struct
import zlib

from studio.ports import FrameSpec

CARD_SIZE = 192
_DEFAULT_PALETTE = ("#1d2433", "#3d5a80", "#98c1d9", "#e0fbfc", "#ee6c4d")


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    value = hex_colour.lstrip("#")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


def encode_png(width: int, height: int, pixels: list[list[tuple[int, int, int]]]) -> bytes:
    """An 8-bit RGB PNG from rows of pixels."""
    raw = b"".join(b"\x00" + bytes(c for px in row for c in px) for row in pixels)

    def chunk(tag: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(tag + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


class PlaceholderCardRenderer:
    """FrameRenderer that paints palette cards: figure for characters, horizon for
    locations, a diamond for props, plain bands for panels."""

    def render_frame(self, spec: FrameSpec) -> bytes:
        palette = [_rgb(c) for c in (spec.palette or _DEFAULT_PALETTE)]
        digest = hashlib.sha256(f"{spec.kind}|{spec.title}|{spec.prompt}|{spec.seed}".encode()).digest()
        accent = palette[digest[0] % len(palette)]
        background = palette[0] if accent != palette[0] else palette[-1]
        size = CARD_SIZE
        rows: list[list[tuple[int, int, int]]] = []
        for y in range(size):
            row = []
            for x in range(size):
                colour = background
                if spec.kind == "character":
                    head = (x - size / 2) ** 2 + (y - size * 0.32) ** 2 <= (size * 0.12) ** 2
                    body = abs(x - size / 2) <= size * (0.08 + 0.25 * max(0.0, (y - size * 0.45) / size)) and y >= size * 0.45
                    colour = accent if head or body else background
                elif spec.kind == "location":
                    horizon = size * (0.45 + (digest[1] % 20) / 100)
                    colour = accent if y > horizon else background
                elif spec.kind == "prop":
                    colour = accent if abs(x - size / 2) + abs(y - size / 2) <= size * 0.25 else background
                else:
                    colour = palette[(y * len(palette)) // size]
                row.append(colour)
            rows.append(row)
        return encode_png(size, size, rows)
