"""The live camera for the window: a capture thread polled on a UI timer.

The reader thread (dicebox.camera) keeps the newest frame; a timer here looks at it about 60
times a second and, only when its sequence number changed, crops the region of interest with
the shared preprocessing and emits the frame and the crop.
"""

from __future__ import annotations

import collections
import time

import numpy as np
from PyQt5.QtCore import QObject, QTimer, pyqtSignal

from dicebox.camera import CaptureThread, Frame, Geometry, Roi, SourceError, open_source, preprocess_roi


class CameraController(QObject):
    frameReady = pyqtSignal(object, object)  # Frame, crop (uint8 HxWxC at the data set geometry)
    stateChanged = pyqtSignal(str, str)  # state, message
    roiChanged = pyqtSignal(object)

    def __init__(self, geometry: Geometry, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.geometry = geometry
        self.capture: CaptureThread | None = None
        self.spec = ""
        self.roi: Roi | None = None
        self.frame_size: tuple[int, int] | None = None
        self._last_seq: int | None = None
        self._shown = collections.deque(maxlen=60)
        self.latency_ms = 0.0
        self._state = "idle"
        self._timer = QTimer(self)
        self._timer.setInterval(15)
        self._timer.timeout.connect(self._poll)

    # Source ---------------------------------------------------------------------------------
    def open(self, spec: str) -> None:
        """Open a source from its spec; raises SourceError with a one-line message."""
        source = open_source(spec)
        self.close()
        self.spec = spec
        self.capture = CaptureThread(source).start()
        self._last_seq = None
        self._timer.start()
        self._emit_state()

    def close(self) -> None:
        self._timer.stop()
        if self.capture is not None:
            self.capture.stop()
            self.capture = None
        self._emit_state()

    @property
    def source(self):
        return self.capture.source if self.capture is not None else None

    def set_face(self, face: str | None) -> None:
        """Synthetic camera only: show this face (the operator's expected label)."""
        source = self.source
        if source is not None and hasattr(source, "set_face"):
            try:
                source.set_face(face)
            except (SourceError, ValueError):
                pass

    # Region of interest -----------------------------------------------------------------------
    def set_roi(self, roi: Roi) -> None:
        if self.frame_size is not None:
            roi = roi.fitted(self.frame_size)
        if roi != self.roi:
            self.roi = roi
            self.roiChanged.emit(roi)

    def move_roi(self, dx: int, dy: int) -> None:
        if self.roi is not None and self.frame_size is not None:
            self.set_roi(self.roi.moved(dx, dy, self.frame_size))

    def scale_roi(self, factor: float) -> None:
        if self.roi is not None and self.frame_size is not None:
            self.set_roi(self.roi.scaled(factor, self.frame_size))

    def center_roi(self) -> None:
        if self.frame_size is not None:
            self.set_roi(Roi.centered(self.frame_size, self.geometry, 0.5))

    # Measurements ---------------------------------------------------------------------------
    @property
    def displayed_fps(self) -> float:
        if len(self._shown) < 2:
            return 0.0
        span = self._shown[-1] - self._shown[0]
        return (len(self._shown) - 1) / span if span > 0 else 0.0

    def _poll(self) -> None:
        capture = self.capture
        if capture is None:
            return
        if capture.state != self._state:
            self._emit_state()
        frame: Frame | None = capture.latest()
        if frame is None or frame.seq == self._last_seq:
            return
        self._last_seq = frame.seq
        height, width = frame.image.shape[:2]
        if self.frame_size != (width, height):
            self.frame_size = (width, height)
            self.set_roi(self.roi if self.roi is not None else Roi.centered(self.frame_size, self.geometry, 0.5))
        crop = preprocess_roi(frame.image, self.roi, self.geometry)
        now = time.monotonic()
        self._shown.append(now)
        self.latency_ms = (now - frame.timestamp) * 1000.0
        self.frameReady.emit(frame, np.ascontiguousarray(crop))

    def _emit_state(self) -> None:
        capture = self.capture
        self._state = capture.state if capture is not None else "idle"
        message = (capture.error or "") if capture is not None else ""
        self.stateChanged.emit(self._state, message)
