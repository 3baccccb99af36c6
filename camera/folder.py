"""A folder of still images played as a slide show."""

from __future__ import annotations

import os
import re

import cv2
import numpy as np

from dicebox.images import Geometry, to_geometry

from .frames import Frame, FrameSource, SourceError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm")


def _natural_key(name: str) -> list[object]:
    """Sort ``img2`` before ``img10``."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def decode_image_file(path: str) -> np.ndarray | None:
    """A colour image file as uint8 BGR, None if unreadable; works with non-ASCII paths on Windows."""
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError:
        return None
    if data.size == 0:
        return None
    image = cv2.imdecode(data, cv2.IMREAD_COLOR)
    return image if image is not None and image.size else None


class FolderSource(FrameSource):
    """The images of a folder (not its subfolders) in natural name order.

    Every image is brought to the size of the first readable one (centre crop to its aspect and
    resize, as :func:`~dicebox.images.to_geometry` does) unless ``width`` and ``height``
    are given. Unreadable files are skipped; a folder without a single readable image fails to open.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        fps: float = 1.0,
        loop: bool = True,
        uncapped: bool = False,
        width: int | None = None,
        height: int | None = None,
        spec: str | None = None,
    ) -> None:
        super().__init__(spec if spec is not None else os.fspath(path))
        self.path = os.fspath(path)
        self.loop = loop
        self.paced = not uncapped
        self._fps = fps
        if not os.path.isdir(self.path):
            raise SourceError(f"no such folder: {self.path}")
        try:
            names = os.listdir(self.path)
        except OSError as exc:
            raise SourceError(f"cannot list folder {self.path} ({exc.strerror})") from None
        self.files = [
            os.path.join(self.path, name)
            for name in sorted(names, key=_natural_key)
            if name.lower().endswith(IMAGE_EXTENSIONS) and os.path.isfile(os.path.join(self.path, name))
        ]
        if not self.files:
            raise SourceError(f"folder {self.path} contains no images ({', '.join(IMAGE_EXTENSIONS)})")
        self._next = 0
        first = self._next_image(size=None)
        if first is None:
            raise SourceError(f"folder {self.path}: none of its {len(self.files)} images can be read")
        if width and height:
            self._size = (width, height)
            first = self._fit(first)
        else:
            self._size = (first.shape[1], first.shape[0])
        self._pending: np.ndarray | None = first

    @property
    def nominal_fps(self) -> float | None:
        return self._fps

    @property
    def frame_size(self) -> tuple[int, int]:
        return self._size

    def _fit(self, image: np.ndarray) -> np.ndarray:
        if (image.shape[1], image.shape[0]) == self._size:
            return image
        return to_geometry(image, Geometry(self._size[0], self._size[1], 3))

    def _next_image(self, size: tuple[int, int] | None) -> np.ndarray | None:
        """The next readable image, wrapping around when looping; None at the end."""
        for _ in range(len(self.files)):
            if self._next >= len(self.files):
                if not self.loop:
                    return None
                self._next = 0
            path = self.files[self._next]
            self._next += 1
            image = decode_image_file(path)
            if image is not None:
                return image if size is None else self._fit(image)
        return None

    def read(self) -> Frame | None:
        self._check_open()
        image, self._pending = self._pending, None
        if image is None:
            image = self._next_image(self._size)
        return None if image is None else self._frame(image)
