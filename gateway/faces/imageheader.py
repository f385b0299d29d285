"""Read an image's format and size from its first bytes, before anything is decoded.

Only JPEG and PNG are accepted (the contract's photo formats). Knowing the pixel count from
the header lets us refuse a decompression bomb without allocating it: OpenCV's own limit is
2^30 pixels, about 3 GB as RGB.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from gateway.faces.errors import ImageInputError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SOI = b"\xff\xd8"
# JPEG start-of-frame markers carry the size; C4 (DHT), C8 (JPG) and CC (DAC) share the range.
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# Markers that stand alone, without a length field.
_BARE_MARKERS = frozenset({0x01, *range(0xD0, 0xD9)})
_SOS = 0xDA


@dataclass(frozen=True, slots=True)
class ImageHeader:
    format: Literal["jpeg", "png"]
    width: int
    height: int

    @property
    def pixels(self) -> int:
        return self.width * self.height


def read_header(data: bytes) -> ImageHeader:
    """Format and size of a JPEG or PNG; :class:`ImageInputError` ``not_an_image`` otherwise."""
    if data.startswith(PNG_SIGNATURE):
        return _png_header(data)
    if data.startswith(JPEG_SOI):
        return _jpeg_header(data)
    raise _not_an_image("neither JPEG nor PNG")


def _png_header(data: bytes) -> ImageHeader:
    # Signature, then the IHDR chunk: length (4), type (4), width (4), height (4).
    if len(data) < 24 or data[12:16] != b"IHDR":
        raise _not_an_image("PNG without an IHDR header")
    width = int.from_bytes(data[16:20], "big")
    height = int.from_bytes(data[20:24], "big")
    return _checked(ImageHeader("png", width, height))


def _jpeg_header(data: bytes) -> ImageHeader:
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            raise _not_an_image("JPEG with a broken marker sequence")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte before a marker
            pos += 1
            continue
        if marker in _BARE_MARKERS:
            pos += 2
            continue
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        if marker in _SOF_MARKERS:
            if pos + 9 > len(data):
                break
            height = int.from_bytes(data[pos + 5 : pos + 7], "big")
            width = int.from_bytes(data[pos + 7 : pos + 9], "big")
            return _checked(ImageHeader("jpeg", width, height))
        if marker == _SOS or length < 2:
            break
        pos += 2 + length
    raise _not_an_image("JPEG without a frame header (truncated?)")


def _checked(header: ImageHeader) -> ImageHeader:
    if header.width <= 0 or header.height <= 0:
        raise _not_an_image(f"{header.format.upper()} header gives no size ({header.width}x{header.height})")
    return header


def _not_an_image(why: str) -> ImageInputError:
    return ImageInputError(
        "not_an_image",
        f"not a usable image: {why}",
        hint="send the photo as JPEG or PNG bytes (base64-decoded, not the base64 text)",
    )
