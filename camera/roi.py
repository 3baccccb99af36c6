"""Regions of interest: the boxes of a frame that become data set images.

A :class:`Roi` is a box in frame pixels with the data set's aspect ratio. Boxes are kept inside
the frame: a box that would stick out is **shifted** back in (never padded), and one larger than
the frame is first shrunk about its centre, keeping its aspect, until it fits. So :func:`crop`
always returns real pixels, and the same box gives the same crop wherever it came from.

:func:`preprocess_roi` is the one path from a frame to a network input, shared by recording,
training and live classification.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dicebox.images import Geometry, to_geometry


@dataclass(frozen=True)
class Roi:
    """A box of ``width`` x ``height`` pixels whose top left corner is at (x, y) of the frame."""

    x: int
    y: int
    width: int
    height: int

    def __post_init__(self) -> None:
        for name in ("x", "y", "width", "height"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise TypeError(f"Roi.{name} must be an integer, got {value!r}")
        if self.width < 1 or self.height < 1:
            raise ValueError(f"a region of interest must be at least 1x1, got {self.width}x{self.height}")

    @property
    def right(self) -> int:
        """One past the last column."""
        return self.x + self.width

    @property
    def bottom(self) -> int:
        """One past the last row."""
        return self.y + self.height

    @property
    def center(self) -> tuple[float, float]:
        """(x, y) of the centre."""
        return (self.x + self.width / 2.0, self.y + self.height / 2.0)

    def contains(self, x: float, y: float) -> bool:
        """Whether the frame point (x, y) lies inside the box (for picking it with the mouse)."""
        return self.x <= x < self.right and self.y <= y < self.bottom

    def fitted(self, frame_size: tuple[int, int]) -> Roi:
        """This box moved (and, if larger than the frame, first shrunk) to lie inside the frame."""
        fw, fh = frame_size
        if fw < 1 or fh < 1:
            raise ValueError(f"frame size must be positive, got {fw}x{fh}")
        x, y, w, h = self.x, self.y, self.width, self.height
        if w > fw or h > fh:
            factor = min(fw / w, fh / h)
            cx, cy = self.center
            w, h = max(1, min(fw, int(w * factor))), max(1, min(fh, int(h * factor)))
            x, y = int(round(cx - w / 2.0)), int(round(cy - h / 2.0))
        x = min(max(x, 0), fw - w)
        y = min(max(y, 0), fh - h)
        return Roi(int(x), int(y), int(w), int(h))

    def moved(self, dx: int, dy: int, frame_size: tuple[int, int]) -> Roi:
        """The box moved by (dx, dy) pixels, stopping at the frame's edges."""
        return Roi(self.x + int(dx), self.y + int(dy), self.width, self.height).fitted(frame_size)

    def scaled(self, factor: float, frame_size: tuple[int, int]) -> Roi:
        """The box grown or shrunk by ``factor`` about its centre, kept inside the frame."""
        if not factor > 0:
            raise ValueError(f"scale factor must be positive, got {factor}")
        w = max(1, int(round(self.width * factor)))
        h = max(1, int(round(self.height * factor)))
        cx, cy = self.center
        return Roi(int(round(cx - w / 2.0)), int(round(cy - h / 2.0)), w, h).fitted(frame_size)

    @classmethod
    def centered(cls, frame_size: tuple[int, int], geometry: Geometry, scale: float = 0.5) -> Roi:
        """The centred box with the aspect of ``geometry`` whose height is ``scale`` of the frame's.

        If that box would be wider than the frame it is made as wide as the frame instead.
        """
        if not 0 < scale <= 1:
            raise ValueError(f"scale must be in (0, 1], got {scale}")
        fw, fh = frame_size
        h = max(1, int(round(fh * scale)))
        w = max(1, int(round(h * geometry.width / geometry.height)))
        if w > fw:
            w = fw
            h = max(1, min(fh, int(round(w * geometry.height / geometry.width))))
        return cls((fw - w) // 2, (fh - h) // 2, w, h)

    def as_tuple(self) -> tuple[int, int, int, int]:
        """(x, y, width, height)."""
        return (self.x, self.y, self.width, self.height)


def three_boxes(
    frame_size: tuple[int, int], geometry: Geometry, scale: float = 0.5, gap: float = 0.05
) -> tuple[Roi, Roi, Roi]:
    """Three equal boxes side by side, centred in the frame, ``gap`` box widths apart.

    The boxes are ``scale`` of the frame high unless that would not fit across the frame, in
    which case they are made as large as fits.
    """
    if not 0 < scale <= 1:
        raise ValueError(f"scale must be in (0, 1], got {scale}")
    if gap < 0:
        raise ValueError(f"gap must not be negative, got {gap}")
    fw, fh = frame_size
    aspect = geometry.width / geometry.height
    h = fh * scale
    if h * aspect * (3 + 2 * gap) > fw:
        h = fw / (aspect * (3 + 2 * gap))
    w = max(1, int(h * aspect))
    h = max(1, min(fh, int(round(w / aspect))))
    space = int(round(w * gap))
    total = 3 * w + 2 * space
    x0 = max(0, (fw - total) // 2)
    y = (fh - h) // 2
    left, middle, right = (Roi(x0 + i * (w + space), y, w, h).fitted(frame_size) for i in range(3))
    return left, middle, right


def _crop_view(image: np.ndarray, roi: Roi) -> np.ndarray:
    if image.ndim < 2 or image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"expected a non-empty image, got shape {image.shape}")
    box = roi.fitted((image.shape[1], image.shape[0]))
    return image[box.y : box.bottom, box.x : box.right]


def crop(image: np.ndarray, roi: Roi) -> np.ndarray:
    """A copy of the pixels of ``roi`` (shifted inside the frame first; see the module docstring)."""
    return _crop_view(image, roi).copy()


def preprocess_roi(image: np.ndarray, roi: Roi, geometry: Geometry) -> np.ndarray:
    """Crop ``roi`` from a frame and bring it to ``geometry``: THE frame-to-network-input function."""
    return to_geometry(_crop_view(image, roi), geometry)
