"""Small synthetic labelled image sets drawn with OpenCV (used by the network tests and benchmark)."""

from __future__ import annotations

import cv2
import numpy as np

from dicebox.images import LabelledImages
from dicebox.nets.genome import Conv2DLayer, DenseLayer, Genome, MaxPool2DLayer

# A network small enough to train in a second on the shapes below.
TINY = Genome((Conv2DLayer(8, (3, 3)), MaxPool2DLayer((2, 2)), DenseLayer(32)))
SHAPES = ("bar_h", "bar_v", "circle", "cross")


def _draw_shape(kind: str, width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    image = np.zeros((height, width), np.uint8)
    cx = width // 2 + int(rng.integers(-2, 3))
    cy = height // 2 + int(rng.integers(-2, 3))
    value = int(rng.integers(170, 256))
    half_w, half_h = max(2, width // 3), max(2, height // 3)
    if kind == "bar_h":
        cv2.rectangle(image, (cx - half_w, cy - 1), (cx + half_w, cy + 1), value, -1)
    elif kind == "bar_v":
        cv2.rectangle(image, (cx - 1, cy - half_h), (cx + 1, cy + half_h), value, -1)
    elif kind == "circle":
        cv2.circle(image, (cx, cy), max(2, min(half_w, half_h)), value, 2)
    else:
        cv2.line(image, (cx - half_w, cy - half_h), (cx + half_w, cy + half_h), value, 2)
        cv2.line(image, (cx - half_w, cy + half_h), (cx + half_w, cy - half_h), value, 2)
    return image


def _add_noise(image: np.ndarray, rng: np.random.Generator, sigma: float) -> np.ndarray:
    noisy = image.astype(np.float32) + rng.normal(0, sigma, image.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def shapes(
    per_class: int = 60, width: int = 20, height: int = 16, channels: int = 1, seed: int = 0, classes: int = 4
) -> LabelledImages:
    """``classes`` (up to 4) kinds of shape: horizontal bar, vertical bar, circle, cross; with noise."""
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for label, kind in enumerate(SHAPES[:classes]):
        for _ in range(per_class):
            image = _add_noise(_draw_shape(kind, width, height, rng), rng, 20)
            if channels == 3:
                image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
            images.append(image.reshape(height, width, channels))
            labels.append(label)
    return LabelledImages(
        np.stack(images), np.array(labels, dtype=np.int64), SHAPES[:classes], version=f"shapes-{seed}"
    )


FONTS = (
    cv2.FONT_HERSHEY_SIMPLEX,
    cv2.FONT_HERSHEY_DUPLEX,
    cv2.FONT_HERSHEY_COMPLEX,
    cv2.FONT_HERSHEY_TRIPLEX,
    cv2.FONT_HERSHEY_PLAIN,
)


def digits(per_class: int = 300, width: int = 28, height: int = 28, seed: int = 0) -> LabelledImages:
    """Ten classes of printed digits 0-9: random font, size, stroke, shift, rotation and noise."""
    rng = np.random.default_rng(seed)
    images, labels = [], []
    size = min(width, height)
    for digit in range(10):
        for _ in range(per_class):
            canvas = np.zeros((size, size), np.uint8)
            font = FONTS[int(rng.integers(len(FONTS)))]
            scale = rng.uniform(0.75, 1.0) * size / 28 * (1.8 if font == cv2.FONT_HERSHEY_PLAIN else 1.0)
            thickness = int(rng.integers(1, 3))
            (tw, th), _ = cv2.getTextSize(str(digit), font, scale, thickness)
            x = (size - tw) // 2 + int(rng.integers(-2, 3))
            y = (size + th) // 2 + int(rng.integers(-2, 3))
            ink = int(rng.integers(180, 256))
            cv2.putText(canvas, str(digit), (x, y), font, scale, ink, thickness, cv2.LINE_AA)
            turn = cv2.getRotationMatrix2D((size / 2, size / 2), rng.uniform(-12, 12), 1.0)
            canvas = cv2.warpAffine(canvas, turn, (size, size))
            canvas = cv2.resize(canvas, (width, height), interpolation=cv2.INTER_AREA)
            images.append(_add_noise(canvas, rng, 12)[:, :, None])
            labels.append(digit)
    order = rng.permutation(len(images))
    return LabelledImages(
        np.stack(images)[order],
        np.array(labels, dtype=np.int64)[order],
        tuple(str(d) for d in range(10)),
        version=f"digits-{seed}",
    )
