"""The original ``noise`` augmentation, applied when a batch is assembled."""

from __future__ import annotations

import cv2
import numpy as np

MAX_ROTATION_DEGREES = 10.0
SCALE_RANGE = (0.7, 1.5)


def augment(images: np.ndarray, noise: float, rng: np.random.Generator) -> np.ndarray:
    """Randomly rotate (±10°) and/or rescale (0.7..1.5, centre crop or pad) each image.

    Each of the two augmentations happens to an image with probability ``noise``. Both are one
    affine warp about the centre, so the image keeps its size. Returns a new array.
    """
    out = images.copy()
    if noise <= 0 or len(images) == 0:
        return out
    n = len(images)
    rotate = rng.random(n) < noise
    rescale = rng.random(n) < noise
    angles = np.where(rotate, rng.uniform(-MAX_ROTATION_DEGREES, MAX_ROTATION_DEGREES, n), 0.0)
    scales = np.where(rescale, rng.uniform(*SCALE_RANGE, n), 1.0)
    height, width = images.shape[1:3]
    center = ((width - 1) / 2.0, (height - 1) / 2.0)
    for i in np.flatnonzero(rotate | rescale):
        matrix = cv2.getRotationMatrix2D(center, float(angles[i]), float(scales[i]))
        warped = cv2.warpAffine(
            images[i], matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
        out[i] = warped.reshape(out[i].shape)
    return out
