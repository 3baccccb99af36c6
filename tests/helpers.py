"""Helpers shared by the test modules (imported as ``helpers``: a conftest cannot be imported
by name once sub-folders have their own conftest)."""

from __future__ import annotations

import cv2
import numpy as np

API_KEY = "test-key-0123456789"


def make_png(seed: int, width: int = 60, height: int = 50, channels: int = 1) -> bytes:
    """A distinct PNG per seed."""
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (height, width, channels), dtype=np.uint8)
    return cv2.imencode(".png", image)[1].tobytes()
