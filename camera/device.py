"""Cameras opened by index through ``cv2.VideoCapture``.

:data:`VIDEO_CAPTURE_FACTORY` makes every capture object of this package (cameras, video files,
device listing); tests replace it, or pass ``factory=``, with a fake that has ``isOpened``,
``read``, ``release``, ``get`` and ``set``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import cv2
import numpy as np

from dicebox.images import to_channels

from .frames import Frame, FrameSource, SourceError

#: Makes capture objects: called as ``factory(index_or_path)`` or ``factory(index, api_preference)``.
VIDEO_CAPTURE_FACTORY: Callable[..., Any] = cv2.VideoCapture

#: Backend names accepted by the ``backend=`` option (those this OpenCV build knows).
BACKENDS: dict[str, int] = {
    name: getattr(cv2, const)
    for name, const in (
        ("any", "CAP_ANY"),
        ("v4l2", "CAP_V4L2"),
        ("dshow", "CAP_DSHOW"),
        ("msmf", "CAP_MSMF"),
        ("avfoundation", "CAP_AVFOUNDATION"),
        ("gstreamer", "CAP_GSTREAMER"),
        ("ffmpeg", "CAP_FFMPEG"),
    )
    if hasattr(cv2, const)
}

# What a misbehaving capture object (or a fake) may raise instead of returning False.
CAPTURE_ERRORS = (cv2.error, OSError, RuntimeError, ValueError)


def capture_factory(factory: Callable[..., Any] | None = None) -> Callable[..., Any]:
    """``factory`` or, looked up at call time so tests can replace it, :data:`VIDEO_CAPTURE_FACTORY`."""
    return factory if factory is not None else VIDEO_CAPTURE_FACTORY


@contextmanager
def quiet_opencv() -> Iterator[None]:
    """Silence OpenCV's console warnings (e.g. about absent cameras) that we report as SourceError."""
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    try:
        yield
    finally:
        cv2.utils.logging.setLogLevel(level)


def release_quietly(cap: Any) -> None:
    """Release a capture object, ignoring the errors a broken device may raise."""
    if cap is None:
        return
    try:
        cap.release()
    except CAPTURE_ERRORS:
        pass


def as_bgr(image: np.ndarray, what: str) -> np.ndarray:
    """A decoded frame as uint8 HxWx3 BGR (drivers may deliver gray or BGRA)."""
    if image.dtype != np.uint8:
        raise SourceError(f"{what}: frames are {image.dtype}, expected 8-bit images")
    try:
        return to_channels(image, 3)
    except ValueError as exc:
        raise SourceError(f"{what}: {exc}") from None


class DeviceSource(FrameSource):
    """A camera by index. ``read`` blocks for the next frame and raises :class:`SourceError` on failure."""

    paced = False

    def __init__(
        self,
        index: int,
        *,
        width: int | None = None,
        height: int | None = None,
        fps: float | None = None,
        warmup: int = 5,
        backend: str | None = None,
        factory: Callable[..., Any] | None = None,
        spec: str | None = None,
    ) -> None:
        super().__init__(spec if spec is not None else str(index))
        if backend is not None and backend not in BACKENDS:
            raise SourceError(f"{self.spec}: unknown backend {backend!r} (known: {', '.join(BACKENDS)})")
        self.index = index
        self.warmup_frames = warmup
        self._request = (width, height, fps)
        self._api = BACKENDS[backend] if backend is not None else None
        self._factory = factory
        self._cap: Any = None
        self._pending: np.ndarray | None = None
        self._size = (0, 0)
        self._fps: float | None = None
        self._open()

    @property
    def nominal_fps(self) -> float | None:
        return self._fps

    @property
    def frame_size(self) -> tuple[int, int]:
        return self._size

    @property
    def can_reopen(self) -> bool:
        return True

    def _open(self) -> None:
        what = f"camera {self.index}"
        factory = capture_factory(self._factory)
        try:
            with quiet_opencv():
                cap = factory(self.index) if self._api is None else factory(self.index, self._api)
        except CAPTURE_ERRORS as exc:
            raise SourceError(f"{what}: cannot open ({exc})") from None
        try:
            if cap is None or not cap.isOpened():
                raise SourceError(f"{what}: cannot open (no such device, or it is in use)")
            width, height, fps = self._request
            for prop, value in (
                (cv2.CAP_PROP_FRAME_WIDTH, width),
                (cv2.CAP_PROP_FRAME_HEIGHT, height),
                (cv2.CAP_PROP_FPS, fps),
            ):
                if value:
                    cap.set(prop, float(value))
            # A camera that opens but never delivers a frame is as good as absent: find out now.
            ok, image = cap.read()
            if not ok or image is None:
                raise SourceError(f"{what}: opened but delivers no frames")
            image = as_bgr(image, what)
            reported = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        except SourceError:
            release_quietly(cap)
            raise
        except CAPTURE_ERRORS as exc:
            release_quietly(cap)
            raise SourceError(f"{what}: cannot open ({exc})") from None
        self._cap = cap
        self._pending = image
        self._size = (image.shape[1], image.shape[0])
        self._fps = fps if fps else (reported if 0 < reported < 1000 else None)
        self._closed = False

    def read(self) -> Frame | None:
        self._check_open()
        image, self._pending = self._pending, None
        if image is None:
            try:
                ok, image = self._cap.read()
            except CAPTURE_ERRORS as exc:
                raise SourceError(f"camera {self.index}: read failed ({exc})") from None
            if not ok or image is None:
                raise SourceError(f"camera {self.index}: no frame (unplugged or stalled?)")
            image = as_bgr(image, f"camera {self.index}")
            self._size = (image.shape[1], image.shape[0])
        return self._frame(image)

    def reopen(self) -> None:
        release_quietly(self._cap)
        self._cap = None
        self._open()

    def close(self) -> None:
        release_quietly(self._cap)
        self._cap = None
        self._pending = None
        super().close()
