"""Reference images decoded into image keys (render/images.py, the ReferenceImages port)."""

from __future__ import annotations

import pytest

from render.images import PillowReferenceImages
from studio.errors import BadInput


def _decode(name: str, data: bytes) -> bytes:
    return PillowReferenceImages().to_image_key(data, name)


def _image(fmt: str, size=(300, 200), mode="RGB") -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new(mode, size, (10, 120, 200)).save(out, format=fmt)
    return out.getvalue()


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_a_reference_image_is_stored_as_a_png(fmt: str) -> None:
    import io

    from PIL import Image

    png = _decode(f"ref.{fmt.lower()}", _image(fmt, (2048, 1024)))
    with Image.open(io.BytesIO(png)) as image:
        assert image.format == "PNG" and image.size == (1024, 512)


@pytest.mark.parametrize("name,data,needle", [
    ("a.gif", _image("GIF"), r"not a PNG, JPEG or WebP image \(it is GIF\)"),
    ("a.png", b"%PDF-1.7 not an image", "not an image"),
    ("a.png", _image("PNG")[:-30], "cut short or damaged"),
])
def test_a_reference_that_is_not_a_usable_image_is_refused(name: str, data: bytes, needle: str) -> None:
    with pytest.raises(BadInput, match=needle):
        _decode(name, data)


def test_a_decompression_bomb_is_refused_before_decoding() -> None:
    import struct
    import zlib

    # A PNG header announcing 60000×60000 pixels (3.6 gigapixels), with almost no data.
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 60000, 60000, 8, 2, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(b"\x00" * 1000)) + chunk(b"IEND", b""))
    with pytest.raises(BadInput, match="too many pixels|8192-pixel limit"):
        _decode("bomb.png", png)
