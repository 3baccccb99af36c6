"""Turning untrusted bytes into a stored image: sniff, bound, decode, bring to the geometry."""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

import cv2
import numpy as np

from dicebox.camera.preprocess import Geometry, to_geometry
from dicebox.store.errors import ImageTooLarge, InvalidImage

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
DEFAULT_MAX_PIXELS = 16_000_000
_HASH_PIECE = 2047
# JPEG start-of-frame markers carry the image size; C4 (DHT), C8 and CC (DAC) are not frames.
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


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


def decode_image(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode PNG or JPEG bytes to uint8 HxWxC (BGR), refusing oversized images before decoding."""
    if not isinstance(data, (bytes, bytearray, memoryview)) or not data:
        raise InvalidImage("empty image data")
    _fmt, width, height = image_header(bytes(data[:65536]))
    if width < 1 or height < 1:
        raise InvalidImage(f"image has no pixels ({width}x{height})")
    if width * height > max_pixels:
        raise ImageTooLarge(f"image of {width}x{height} pixels is over the limit of {max_pixels} pixels")
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


def encode_png(image: np.ndarray) -> bytes:
    """PNG bytes of a uint8 image (fast compression: stores are latency-bound, not disk-bound)."""
    ok, buf = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise InvalidImage("could not encode image as PNG")
    return buf.tobytes()


def pixel_id(image: np.ndarray) -> str:
    """The identity of an image: a hash of its pixels and shape, so identical images share it."""
    digest = hashlib.sha256(str(image.shape).encode())
    data = memoryview(np.ascontiguousarray(image)).cast("B")
    # hashlib lets other threads run while it hashes 2 KiB or more; for images this small the
    # thread switch costs more than the hash, so feed it in smaller pieces.
    for start in range(0, len(data), _HASH_PIECE):
        digest.update(data[start : start + _HASH_PIECE])
    return digest.hexdigest()[:32]


@dataclass(frozen=True)
class PreparedImage:
    """An image ready to store: pixels at the data set geometry, its PNG bytes and its id."""

    id: str
    pixels: np.ndarray
    png: bytes


def prepare_image(
    source: bytes | np.ndarray, geometry: Geometry, max_pixels: int = DEFAULT_MAX_PIXELS
) -> PreparedImage:
    """Validate and normalise an incoming image (bytes or array) to the data set geometry."""
    if isinstance(source, np.ndarray):
        if source.dtype != np.uint8 or source.ndim not in (2, 3) or 0 in source.shape:
            raise InvalidImage(f"expected a non-empty uint8 image array, got {source.dtype} {source.shape}")
        if source.shape[0] * source.shape[1] > max_pixels:
            raise ImageTooLarge(f"image of {source.shape[1]}x{source.shape[0]} pixels is over the limit")
        decoded = source
        original_png = None
    else:
        decoded = decode_image(source, max_pixels)
        original_png = bytes(source) if bytes(source[:8]) == PNG_SIGNATURE else None
    try:
        pixels = to_geometry(decoded, geometry)
    except ValueError as exc:
        raise InvalidImage(str(exc)) from None
    # Keep the client's own PNG when it already has the data set geometry: no re-encode.
    same = original_png is not None and decoded.shape == geometry.shape
    png = original_png if same else encode_png(pixels)
    return PreparedImage(id=pixel_id(pixels), pixels=pixels, png=png)
