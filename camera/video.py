"""Video files read frame by frame through ``cv2.VideoCapture``."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np

from .device import CAPTURE_ERRORS, as_bgr, capture_factory, quiet_opencv, release_quietly
from .frames import Frame, FrameSource, SourceError

#: The rate assumed for files whose container does not say.
DEFAULT_VIDEO_FPS = 25.0


class VideoSource(FrameSource):
    """A video file; ``read`` returns None at the end unless ``loop`` starts it over."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        loop: bool = False,
        fps: float | None = None,
        uncapped: bool = False,
        factory: Callable[..., Any] | None = None,
        spec: str | None = None,
    ) -> None:
        super().__init__(spec if spec is not None else os.fspath(path))
        self.path = os.fspath(path)
        self.loop = loop
        self.paced = not uncapped
        self._factory = factory
        if not os.path.isfile(self.path):
            raise SourceError(f"no such video file: {self.path}")
        self._cap = self._open_capture()
        self._pending = self._decode()
        if self._pending is None:
            release_quietly(self._cap)
            raise SourceError(
                f"video file {self.path} has no readable frames (corrupt or unsupported codec?)"
            )
        self._size = (self._pending.shape[1], self._pending.shape[0])
        reported = self._get(cv2.CAP_PROP_FPS)
        self._fps = fps if fps else (reported if 0 < reported < 1000 else DEFAULT_VIDEO_FPS)
        self._ended = False

    @property
    def nominal_fps(self) -> float | None:
        return self._fps

    @property
    def frame_size(self) -> tuple[int, int]:
        return self._size

    def _open_capture(self) -> Any:
        try:
            with quiet_opencv():
                cap = capture_factory(self._factory)(self.path)
        except CAPTURE_ERRORS as exc:
            raise SourceError(f"cannot open video file {self.path} ({exc})") from None
        if cap is None or not cap.isOpened():
            release_quietly(cap)
            raise SourceError(f"cannot open video file {self.path} (corrupt or unsupported format?)")
        return cap

    def _get(self, prop: int) -> float:
        try:
            value = float(self._cap.get(prop) or 0.0)
        except CAPTURE_ERRORS:
            return 0.0
        return value if value == value else 0.0

    def _decode(self) -> np.ndarray | None:
        if self._cap is None:
            return None
        try:
            ok, image = self._cap.read()
        except CAPTURE_ERRORS:
            return None
        if not ok or image is None:
            return None
        return as_bgr(image, f"video file {self.path}")

    def _rewind(self) -> np.ndarray | None:
        """The first frame again; seeking is unreliable for some codecs, so fall back to reopening."""
        try:
            self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
        except CAPTURE_ERRORS:
            pass
        image = self._decode()
        if image is None:
            release_quietly(self._cap)
            try:
                self._cap = self._open_capture()
            except SourceError:
                self._cap = None
                return None
            image = self._decode()
        return image

    def read(self) -> Frame | None:
        self._check_open()
        if self._ended:
            return None
        image, self._pending = self._pending, None
        if image is None:
            image = self._decode()
        if image is None and self.loop and self._cap is not None:
            image = self._rewind()
        if image is None:
            self._ended = True
            return None
        if (image.shape[1], image.shape[0]) != self._size:
            image = cv2.resize(image, self._size, interpolation=cv2.INTER_AREA)
        return self._frame(image)

    def close(self) -> None:
        release_quietly(self._cap)
        self._cap = None
        super().close()
