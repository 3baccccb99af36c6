"""The shape shared by every frame source: :class:`Frame`, :class:`FrameSource` and :class:`SourceError`."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np


class SourceError(Exception):
    """A frame source cannot be opened or read; the message is one line meant for the operator."""


@dataclass(frozen=True, eq=False)  # frames compare by identity: images are arrays
class Frame:
    """One captured image.

    ``image`` is uint8 height x width x 3 in BGR order, ``seq`` counts the frames a source produced
    (warm-up frames included), ``timestamp`` is :func:`time.monotonic` at capture and ``label`` is
    the true category for labelled (synthetic) sources, else None.
    """

    image: np.ndarray
    seq: int
    timestamp: float
    label: str | None = None

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the image."""
        return (self.image.shape[1], self.image.shape[0])


class FrameSource(ABC):
    """A camera, a video file, a folder of images or the synthetic dice camera.

    :meth:`read` blocks until the next frame exists and never paces itself: a file or the
    synthetic camera return frames as fast as they decode or render. Real-time pacing at
    :attr:`nominal_fps` is the job of :class:`~dicebox.camera.capture.CaptureThread`, which does it
    for sources whose :attr:`paced` is true.
    """

    #: Frames to drop after (re)opening because a real camera is still adjusting exposure.
    warmup_frames: int = 0
    #: Whether a capture thread should sleep to deliver frames at :attr:`nominal_fps`.
    paced: bool = False
    #: The categories of a labelled source (``Frame.label`` is one of them), else None.
    categories: tuple[str, ...] | None = None

    def __init__(self, spec: str) -> None:
        self._spec = spec
        self._seq = 0
        self._closed = False

    @property
    def spec(self) -> str:
        """The spec string this source was opened from."""
        return self._spec

    @property
    @abstractmethod
    def nominal_fps(self) -> float | None:
        """Frames per second the source is meant to deliver, None when unknown."""

    @property
    @abstractmethod
    def frame_size(self) -> tuple[int, int]:
        """(width, height) of the frames."""

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""
        return self._closed

    @property
    def can_reopen(self) -> bool:
        """Whether :meth:`reopen` may bring the source back after a read failure (cameras)."""
        return False

    @abstractmethod
    def read(self) -> Frame | None:
        """The next frame; None at the end of a finite source. Raises :class:`SourceError` on failure."""

    def reopen(self) -> None:
        """Open the underlying device again after a failure; raises :class:`SourceError` if it cannot."""
        raise SourceError(f"{self._spec}: this source cannot be reopened")

    def close(self) -> None:
        """Release the underlying device or file; safe to call more than once."""
        self._closed = True

    def _frame(self, image: np.ndarray, label: str | None = None) -> Frame:
        """Wrap ``image`` into the next :class:`Frame` of this source."""
        frame = Frame(image=image, seq=self._seq, timestamp=time.monotonic(), label=label)
        self._seq += 1
        return frame

    def _check_open(self) -> None:
        if self._closed:
            raise SourceError(f"{self._spec}: the source is closed")

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._spec!r}>"
