"""Reference images a user uploads as an asset's image key (the ``ReferenceImages`` port).

Decoding lives here, not in the core: the core checks the name and the size
(``studio.assets.check_reference_upload``) and hands the bytes over.
"""

from __future__ import annotations

import io
import warnings

from PIL import Image, UnidentifiedImageError

from studio.errors import BadInput

MAX_IMAGE_SIDE = 8192
MIN_IMAGE_SIDE = 64
IMAGE_KEY_SIDE = 1024  # an uploaded reference is stored at most this many pixels wide/high
_IMAGE_FORMATS = {"PNG": "PNG", "JPEG": "JPEG", "WEBP": "WebP"}


class PillowReferenceImages:
    """A PNG, JPEG or WebP that decodes completely, at most 8192 pixels a side (a
    decompression bomb is refused before it is decoded) and at least 64, re-encoded as PNG
    (its metadata dropped) and scaled to fit 1024 pixels; anything else is ``BadInput``."""

    def to_image_key(self, data: bytes, shown: str) -> bytes:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                with Image.open(io.BytesIO(data)) as probe:
                    kind = probe.format or ""
                    width, height = probe.size
                if kind not in _IMAGE_FORMATS:
                    raise BadInput(
                        f"{shown} is not a PNG, JPEG or WebP image"
                        + (f" (it is {kind})" if kind else "")
                        + ": save it as one of those and upload it again"
                    )
                if max(width, height) > MAX_IMAGE_SIDE:
                    raise BadInput(
                        f"{shown} is {width}×{height} pixels, over the {MAX_IMAGE_SIDE}-pixel "
                        "limit a side: scale it down and upload it again"
                    )
                if min(width, height) < MIN_IMAGE_SIDE:
                    raise BadInput(
                        f"{shown} is only {width}×{height} pixels: a reference image needs at "
                        f"least {MIN_IMAGE_SIDE} pixels a side"
                    )
                with Image.open(io.BytesIO(data)) as image:
                    image.load()
                    picture = image.convert("RGBA" if "A" in image.getbands() else "RGB")
        except BadInput:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise BadInput(
                f"{shown} holds too many pixels to open safely: scale it down and upload it again"
            ) from None
        except UnidentifiedImageError:
            raise BadInput(f"{shown} is not an image: upload a PNG, JPEG or WebP file") from None
        except (OSError, SyntaxError, ValueError, EOFError):
            raise BadInput(
                f"{shown} is cut short or damaged: export the image again and upload it"
            ) from None
        picture.thumbnail((IMAGE_KEY_SIDE, IMAGE_KEY_SIDE))
        out = io.BytesIO()
        picture.save(out, format="PNG", optimize=True)
        return out.getvalue()
