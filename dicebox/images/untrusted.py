"""Decoding images from bytes nobody vouches for (uploads, imports, classify requests): the size is
read from the header and checked before any pixel is decoded, so a decompression bomb costs nothing."""

from __future__ import annotations

import struct

import cv2
import numpy as np

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
DEFAULT_MAX_PIXELS = 16_000_000
# JPEG start-of-frame markers carry the image size; C4 (DHT), C8 and CC (DAC) are not frames.
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


class InvalidImage(ValueError):
    """Bytes that are not a usable image."""


class ImageTooLarge(InvalidImage):
    """An image whose pixel count is over the limit (decompression bombs included)."""


def image_header(data: bytes) -> tuple[str, int, int]:
    """Format, width and height from the header alone, before any pixel is decoded."""
    if data.startswith(PNG_SIGNATURE):
        if len(data) < 33 or data[12:16] != b"IHDR":
            raise InvalidImage("corrupt PNG: no IHDR header")
        width, height = struct.unpack(">II", data[16:24])
        return "png", width, height
    if data.startswith(b"\xff\xd8"):
        pos = 2
        while pos + 4 <= len(data):
            if data[pos] != 0xFF:
                raise InvalidImage("corrupt JPEG: bad marker")
            marker = data[pos + 1]
            if marker == 0xFF:
                pos += 1
                continue
            if marker in (0x01, *range(0xD0, 0xD8)):
                pos += 2
                continue
            (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
            if marker in _JPEG_SOF:
                if pos + 9 > len(data):
                    break
                height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
                return "jpeg", width, height
            pos += 2 + length
        raise InvalidImage("corrupt JPEG: no frame header")
    raise InvalidImage("not a PNG or JPEG image")


def check_size(source: bytes | np.ndarray, max_pixels: int, context: str = "") -> None:
    """Refuse an image of more than ``max_pixels`` from its header (or array shape) alone;
    ``context`` ends the message (what the limit is for)."""
    if isinstance(source, np.ndarray):
        if source.ndim not in (2, 3):
            raise InvalidImage(f"expected a non-empty uint8 image array, got {source.dtype} {source.shape}")
        height, width = source.shape[:2]
    elif not isinstance(source, (bytes, bytearray, memoryview)) or not source:
        raise InvalidImage("empty image data")
    else:
        _fmt, width, height = image_header(bytes(source[:65536]))
    if width < 1 or height < 1:
        raise InvalidImage(f"image has no pixels ({width}x{height})")
    if width * height > max_pixels:
        raise ImageTooLarge(f"image of {width}x{height} pixels is over the limit of {max_pixels} pixels{context}")


def decode_image(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode PNG or JPEG bytes to uint8 HxWxC (BGR), refusing oversized images before decoding."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise InvalidImage("empty image data")
    check_size(data, max_pixels)
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None or image.size == 0:
        raise InvalidImage("image data is corrupt or truncated")
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype != np.uint8:
        raise InvalidImage(f"unsupported pixel type {image.dtype}")
    if image.ndim == 2:
        image = image[:, :, None]
    elif image.shape[2] == 2:  # grayscale + alpha
        image = image[:, :, :1]
    return image
