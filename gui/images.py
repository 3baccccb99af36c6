"""numpy images to Qt images: always a copy, so no buffer is shared across threads."""

from __future__ import annotations

import numpy as np
from PyQt5.QtGui import QImage, QPixmap


def to_qimage(image: np.ndarray) -> QImage:
    """A QImage owning its own copy of a uint8 HxW, HxWx1 or HxWx3 (BGR) array."""
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    image = np.ascontiguousarray(image)
    height, width = image.shape[:2]
    if image.ndim == 2:
        qimage = QImage(image.data, width, height, image.strides[0], QImage.Format_Grayscale8)
    else:
        qimage = QImage(image.data, width, height, image.strides[0], QImage.Format_BGR888)
    return qimage.copy()


def to_pixmap(image: np.ndarray) -> QPixmap:
    return QPixmap.fromImage(to_qimage(image))
