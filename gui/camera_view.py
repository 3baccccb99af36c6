"""The live camera picture with the region-of-interest box, movable with the mouse."""

from __future__ import annotations

from PyQt5.QtCore import QPointF, QRectF, Qt, pyqtSignal
from PyQt5.QtGui import QColor, QFont, QImage, QPainter, QPen
from PyQt5.QtWidgets import QSizePolicy, QWidget

from dicebox.camera import Roi

from .images import to_qimage


class CameraView(QWidget):
    """Paints the newest frame scaled to fit; drag the box to move the region of interest."""

    roiDragged = pyqtSignal(int, int)  # dx, dy in frame pixels

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumSize(320, 240)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Expanding)
        self.setFocusPolicy(Qt.NoFocus)
        self._image: QImage | None = None
        self._roi: Roi | None = None
        self._recording = False
        self._caption = ""
        self._caption_ok: bool | None = None
        self._message = "No camera — pick a source above"
        self._drag_from: QPointF | None = None
        self.frames_painted = 0

    # Inputs ---------------------------------------------------------------------------------
    def show_frame(self, image) -> None:
        self._image = to_qimage(image)
        self.update()

    def set_roi(self, roi: Roi | None) -> None:
        self._roi = roi
        self.update()

    def set_recording(self, recording: bool) -> None:
        self._recording = recording
        self.update()

    def set_caption(self, text: str, ok: bool | None = None) -> None:
        self._caption, self._caption_ok = text, ok
        self.update()

    def set_message(self, text: str) -> None:
        self._message = text
        if text:
            self._image = None
        self.update()

    # Geometry -------------------------------------------------------------------------------
    def _target(self) -> QRectF:
        if self._image is None:
            return QRectF(self.rect())
        iw, ih = self._image.width(), self._image.height()
        scale = min(self.width() / iw, self.height() / ih)
        w, h = iw * scale, ih * scale
        return QRectF((self.width() - w) / 2, (self.height() - h) / 2, w, h)

    def _scale(self) -> float:
        return self._target().width() / self._image.width() if self._image is not None else 1.0

    # Painting -------------------------------------------------------------------------------
    def paintEvent(self, _event) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(24, 26, 30))
        if self._image is None:
            painter.setPen(QColor(170, 170, 170))
            painter.drawText(self.rect(), Qt.AlignCenter, self._message)
            return
        target = self._target()
        painter.setRenderHint(QPainter.SmoothPixmapTransform)
        painter.drawImage(target, self._image)
        self.frames_painted += 1
        if self._roi is None:
            return
        s = self._scale()
        box = QRectF(target.x() + self._roi.x * s, target.y() + self._roi.y * s, self._roi.width * s, self._roi.height * s)
        colour = QColor(235, 64, 52) if self._recording else QColor(80, 220, 120)
        painter.setPen(QPen(colour, 2.5))
        painter.drawRect(box)
        if self._recording:
            painter.setBrush(colour)
            painter.drawEllipse(QPointF(box.right() - 10, box.top() + 10), 5, 5)
            painter.setBrush(Qt.NoBrush)
        if self._caption:
            font = QFont(self.font())
            font.setPointSize(max(10, font.pointSize() + 3))
            font.setBold(True)
            painter.setFont(font)
            colour = {True: QColor(80, 220, 120), False: QColor(235, 64, 52)}.get(self._caption_ok, QColor(240, 240, 240))
            metrics = painter.fontMetrics()
            text_rect = QRectF(box.left(), box.bottom() + 4, max(box.width(), metrics.horizontalAdvance(self._caption) + 12),
                               metrics.height() + 6)
            painter.fillRect(text_rect, QColor(0, 0, 0, 170))
            painter.setPen(colour)
            painter.drawText(text_rect, Qt.AlignCenter, self._caption)

    # Mouse ----------------------------------------------------------------------------------
    def mousePressEvent(self, event) -> None:
        if self._image is not None and event.button() == Qt.LeftButton:
            self._drag_from = event.localPos()

    def mouseMoveEvent(self, event) -> None:
        if self._drag_from is None:
            return
        s = self._scale()
        delta = (event.localPos() - self._drag_from) / s
        dx, dy = int(round(delta.x())), int(round(delta.y()))
        if dx or dy:
            self._drag_from = QPointF(self._drag_from.x() + dx * s, self._drag_from.y() + dy * s)
            self.roiDragged.emit(dx, dy)

    def mouseReleaseEvent(self, _event) -> None:
        self._drag_from = None
