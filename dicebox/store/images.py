"""Turning untrusted bytes into a stored image: sniff, bound, decode, bring to the geometry."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from dicebox.images import Geometry, encode_png, to_geometry, untrusted
from dicebox.images.untrusted import DEFAULT_MAX_PIXELS, PNG_SIGNATURE  # noqa: F401 - the store's limits
from dicebox.store.errors import ImageTooLarge, InvalidImage

# What a store takes: an image is brought down to the data set's geometry, so one far larger only
# costs decoding time on the data set's one store thread (a 4000x4000 16-bit RGBA PNG of zeros is
# 124 KB and ~0.75 s). At most 16 times the geometry's pixels, and never less than a megapixel
# (1024x1024, a 1280x720 frame): at most ~20 ms of decoding for an image at the floor.
STORE_PIXEL_FACTOR = 16
STORE_PIXEL_FLOOR = 1024 * 1024
_HASH_PIECE = 2047


def store_pixel_limit(geometry: Geometry, max_pixels: int = DEFAULT_MAX_PIXELS) -> int:
    """The most pixels an image stored into a data set of ``geometry`` may have."""
    return min(max_pixels, max(STORE_PIXEL_FLOOR, STORE_PIXEL_FACTOR * geometry.width * geometry.height))


@contextmanager
def _as_store_errors() -> Iterator[None]:
    try:
        yield
    except untrusted.ImageTooLarge as exc:
        raise ImageTooLarge(str(exc)) from None
    except untrusted.InvalidImage as exc:
        raise InvalidImage(str(exc)) from None


def check_size(source: bytes | np.ndarray, max_pixels: int, context: str = "") -> None:
    """:func:`dicebox.images.untrusted.check_size`, refusing with the store's errors."""
    with _as_store_errors():
        untrusted.check_size(source, max_pixels, context)


def decode_image(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """:func:`dicebox.images.untrusted.decode_image`, refusing with the store's errors."""
    with _as_store_errors():
        return untrusted.decode_image(data, max_pixels)


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
