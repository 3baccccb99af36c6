"""Regions of interest: placement, clamping at the frame's edges, crops and preprocessing."""

from __future__ import annotations

import numpy as np
import pytest

from dicebox.camera import Geometry, Roi, crop, preprocess_roi, three_boxes, to_geometry

FRAME = (640, 480)
G = Geometry(60, 50, 1)


def coded_frame(width: int = 640, height: int = 480) -> np.ndarray:
    """Each pixel tells where it is: 1000 * y + x (crop works on any array)."""
    y, x = np.mgrid[0:height, 0:width]
    return (1000 * y + x).astype(np.int32)


def origin_of(patch: np.ndarray) -> tuple[int, int]:
    return int(patch[0, 0]) % 1000, int(patch[0, 0]) // 1000


def test_centered_box_has_the_data_set_aspect():
    roi = Roi.centered(FRAME, G, 0.5)
    assert roi == Roi(176, 120, 288, 240)
    assert roi.center == (320.0, 240.0)
    narrow = Roi.centered((100, 480), G, 0.9)  # would be too wide: as wide as the frame instead
    assert narrow.width == 100 and narrow.height == 83 and narrow.x == 0


def test_moved_stops_at_every_edge():
    roi = Roi.centered(FRAME, G, 0.5)
    assert roi.moved(10, -5, FRAME) == Roi(186, 115, 288, 240)
    assert roi.moved(-1000, -1000, FRAME) == Roi(0, 0, 288, 240)
    assert roi.moved(1000, 1000, FRAME) == Roi(352, 240, 288, 240)
    assert roi.moved(1000, -1000, FRAME) == Roi(352, 0, 288, 240)


def test_crop_inside_is_exact():
    frame = coded_frame()
    patch = crop(frame, Roi(10, 20, 30, 25))
    assert patch.shape == (25, 30)
    assert np.array_equal(patch, frame[20:45, 10:40])
    patch[:] = 0  # a copy, not a view
    assert frame[20, 10] == 20010


@pytest.mark.parametrize(
    "roi, origin",
    [
        (Roi(-10, -7, 60, 50), (0, 0)),  # top left: shifted in
        (Roi(600, 450, 60, 50), (580, 430)),  # bottom right: shifted in
        (Roi(630, 100, 60, 50), (580, 100)),  # right edge only
        (Roi(100, -40, 60, 50), (100, 0)),  # top edge only
    ],
)
def test_crop_partly_outside_is_shifted_inside(roi, origin):
    patch = crop(coded_frame(), roi)
    assert patch.shape == (50, 60)  # same size: shifted, never padded or cut
    assert origin_of(patch) == origin


def test_box_larger_than_the_frame_shrinks_keeping_its_aspect():
    fitted = Roi(-50, -50, 1200, 1000).fitted(FRAME)
    assert fitted.width <= 640 and fitted.height <= 480
    assert fitted.width / fitted.height == pytest.approx(1.2, abs=0.01)
    patch = crop(coded_frame(), Roi(-50, -50, 1200, 1000))
    assert patch.shape[:2] == (fitted.height, fitted.width)


def test_scaled_and_contains():
    roi = Roi.centered(FRAME, G, 0.5)
    bigger = roi.scaled(1.5, FRAME)
    assert bigger.height == 360 and bigger.center == pytest.approx(roi.center, abs=1)
    assert roi.scaled(10, FRAME).height <= 480
    assert roi.contains(320, 240) and not roi.contains(10, 10)


def test_three_boxes_side_by_side():
    boxes = three_boxes(FRAME, G, 0.5)
    assert len(boxes) == 3
    assert len({(b.width, b.height) for b in boxes}) == 1
    for left, right in zip(boxes, boxes[1:], strict=False):
        assert left.right <= right.x  # no overlap, left to right
    for b in boxes:
        assert 0 <= b.x and b.right <= 640 and 0 <= b.y and b.bottom <= 480
        assert b.width / b.height == pytest.approx(1.2, abs=0.02)
    middle = boxes[1]
    assert middle.center[0] == pytest.approx(320, abs=1)
    assert boxes[0].x == pytest.approx(640 - boxes[2].right, abs=1)


def test_preprocess_roi_is_crop_then_to_geometry():
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
    roi = Roi(600, -20, 288, 240)  # partly outside
    out = preprocess_roi(frame, roi, G)
    assert out.shape == (50, 60, 1) and out.dtype == np.uint8
    assert np.array_equal(out, to_geometry(crop(frame, roi), G))
    colour = preprocess_roi(frame, roi, Geometry(30, 25, 3))
    assert colour.shape == (25, 30, 3)


def test_bad_boxes():
    with pytest.raises(ValueError):
        Roi(0, 0, 0, 10)
    with pytest.raises(TypeError):
        Roi(0.5, 0, 10, 10)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Roi.centered(FRAME, G, 0)
    with pytest.raises(ValueError):
        crop(np.zeros((0, 0, 3), np.uint8), Roi(0, 0, 1, 1))
