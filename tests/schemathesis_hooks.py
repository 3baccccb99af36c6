"""schemathesis hooks for the dicebox document: ``SCHEMATHESIS_HOOKS=schemathesis_hooks st run ...``
(with ``tests`` on ``PYTHONPATH``).

JSON Schema cannot say "a PNG or JPEG file", so the document names the format of image data
``image-base64``; this teaches schemathesis to generate real images for it (small ones, PNG or
JPEG, gray or colour, with or without a ``data:`` URL prefix).
"""

from __future__ import annotations

import base64

import cv2
import numpy as np
import schemathesis
from hypothesis import strategies as st


@st.composite
def encoded_images(draw) -> str:
    width, height = draw(st.integers(1, 48)), draw(st.integers(1, 48))
    channels = draw(st.sampled_from([1, 3]))
    pixels = np.random.default_rng(draw(st.integers(0, 2**32 - 1))).integers(
        0, 256, (height, width, channels), dtype=np.uint8
    )
    extension = draw(st.sampled_from([".png", ".jpg"]))
    data = base64.b64encode(cv2.imencode(extension, pixels)[1].tobytes()).decode()
    prefix = draw(st.sampled_from(["", "", "data:image/png;base64,"]))
    return prefix + data


schemathesis.openapi.format("image-base64", encoded_images())
