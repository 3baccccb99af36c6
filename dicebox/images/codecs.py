"""Bytes of images: PNG for one image, ``.npz`` for labelled image arrays.

The ``.npz`` layout is the one the service answers with, batch processors ship and ``dicebox train
--npz`` reads: ``images`` (uint8 N,H,W,C; N,H,W is taken as grey), ``labels`` (N integers),
``categories`` (names), and when known ``version`` and ``stored_at`` (seconds since the epoch).
"""

from __future__ import annotations

import io
import os
from typing import BinaryIO

import cv2
import numpy as np

from .labelled import LabelledImages


def encode_png(image: np.ndarray) -> bytes:
    """PNG bytes of a uint8 image (fast compression: stores are latency-bound, not disk-bound)."""
    ok, buf = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise ValueError(f"cannot encode an image of shape {image.shape} as PNG")
    return buf.tobytes()


def write_npz(target: BinaryIO | str | os.PathLike, data: LabelledImages, **extra: np.ndarray) -> None:
    """Write ``data`` (and ``extra`` arrays beside it) as one uncompressed ``.npz``."""
    arrays = {
        "images": data.images,
        "labels": data.labels.astype(np.int64),
        "categories": np.array(data.categories, dtype=str),
    }
    if data.version:
        arrays["version"] = np.array(data.version)
    if data.stored_at is not None:
        arrays["stored_at"] = np.asarray(data.stored_at, dtype=np.float64)
    np.savez(target, **arrays, **extra)


def npz_bytes(data: LabelledImages, **extra: np.ndarray) -> bytes:
    """:func:`write_npz` into bytes."""
    buffer = io.BytesIO()
    write_npz(buffer, data, **extra)
    return buffer.getvalue()


def read_npz(source: bytes | str | os.PathLike, version: str | None = None) -> LabelledImages:
    """Labelled images from ``.npz`` bytes or a file; ``version`` overrides the one inside.

    Raises KeyError naming a missing array, ValueError for arrays that do not fit together, and
    OSError (or zipfile.BadZipFile) for bytes that are not an ``.npz``.
    """
    opened = np.load(io.BytesIO(source) if isinstance(source, bytes | bytearray) else source, allow_pickle=False)
    with opened as arrays:
        images, labels = arrays["images"], arrays["labels"]
        categories = tuple(str(c) for c in arrays["categories"].reshape(-1))
        if version is None:
            version = str(arrays["version"]) if "version" in arrays.files else ""
        stored_at = arrays["stored_at"].astype(np.float64) if "stored_at" in arrays.files else None
    if images.ndim == 3:
        images = images[..., None]
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be integers, got {labels.dtype}")
    return LabelledImages(images, labels.astype(np.int64), categories, version, stored_at)
