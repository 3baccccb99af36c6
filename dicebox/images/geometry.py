"""The data set geometry and the one preprocessing function shared by recording, storing, training
and classification.

Every image that reaches a network passes through :func:`to_geometry`, so a frame classified live
looks exactly like the frames the network was trained on. Arrays are uint8, height x width x
channels, colour in OpenCV's BGR order; scaling to 0..1 happens inside the network.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Geometry:
    """The size and colour of the images of a data set."""

    width: int
    height: int
    channels: int = 1

    def __post_init__(self) -> None:
        if self.width < 1 or self.height < 1:
            raise ValueError(f"image size must be positive, got {self.width}x{self.height}")
        if self.channels not in (1, 3):
            raise ValueError(f"channels must be 1 (grayscale) or 3 (colour), got {self.channels}")

    @property
    def shape(self) -> tuple[int, int, int]:
        """The array shape of one image: (height, width, channels)."""
        return (self.height, self.width, self.channels)


def to_channels(image: np.ndarray, channels: int) -> np.ndarray:
    """Convert a 2-D, 1-, 3- or 4-channel uint8 image to ``channels`` (1 or 3), always 3-D."""
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3 or image.shape[2] not in (1, 3, 4):
        raise ValueError(f"expected an image of shape HxW or HxWxC (C in 1, 3, 4), got {image.shape}")
    have = image.shape[2]
    if have == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
        have = 3
    if have == channels:
        return image
    if channels == 1:
        return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)[:, :, None]
    return cv2.cvtColor(image[:, :, 0], cv2.COLOR_GRAY2BGR)


def center_crop_to_aspect(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """The largest centred part of ``image`` with the aspect ratio width:height (a view)."""
    h, w = image.shape[:2]
    if w * height > h * width:  # too wide
        new_w = max(1, round(h * width / height))
        x0 = (w - new_w) // 2
        return image[:, x0 : x0 + new_w]
    new_h = max(1, round(w * height / width))
    y0 = (h - new_h) // 2
    return image[y0 : y0 + new_h, :]


def to_geometry(image: np.ndarray, geometry: Geometry) -> np.ndarray:
    """Bring any image to the data set geometry: centre crop to its aspect, resize, convert colour.

    Returns a new contiguous uint8 array of ``geometry.shape``; the input is never modified.
    """
    if image.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image, got {image.dtype}")
    if image.ndim not in (2, 3) or image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"expected a non-empty HxW or HxWxC image, got shape {image.shape}")
    image = to_channels(image, geometry.channels)
    if image.shape[:2] != (geometry.height, geometry.width):
        cropped = center_crop_to_aspect(image, geometry.width, geometry.height)
        shrinking = cropped.shape[1] > geometry.width
        resized = cv2.resize(
            cropped,
            (geometry.width, geometry.height),
            interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR,
        )
        image = resized.reshape(geometry.shape)
    return np.ascontiguousarray(image)
