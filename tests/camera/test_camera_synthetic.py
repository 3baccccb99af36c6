"""The synthetic dice camera: true labels, variety, determinism, a learnable but not trivial task."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest

from dicebox.camera import (
    DICE_FACES,
    DIE_FACES,
    Geometry,
    SourceError,
    crop,
    default_roi,
    open_source,
    preprocess_roi,
    random_shot,
    render_die,
    render_shot,
    synthetic_dataset,
)
from dicebox.camera.dice import die_bounds

G = Geometry(60, 50, 1)


def count_pips(image: np.ndarray) -> int:
    """Count pips without asking the renderer: holes in the largest bright blob of the centre box."""
    gray = cv2.cvtColor(crop(image, default_roi((image.shape[1], image.shape[0]))), cv2.COLOR_BGR2GRAY)
    _, bright = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    _, labels, stats, _ = cv2.connectedComponentsWithStats(bright)
    die = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    contours, hierarchy = cv2.findContours(
        (labels == die).astype(np.uint8), cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE
    )
    return sum(
        1 for c, h in zip(contours, hierarchy[0], strict=True) if h[3] != -1 and cv2.contourArea(c) > 20
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_labels_match_the_pips_seen_from_above(seed):
    # Seen straight down, a white die on a black platter: the pips are the holes in the bright blob.
    source = open_source(f"synthetic:dice?seed={seed}&style=white&platter=black&elevation=90&noise=1&hold=1")
    seen = set()
    for _ in range(14):
        frame = source.read()
        assert str(count_pips(frame.image)) == frame.label
        seen.add(frame.label)
    assert len(seen) >= 4


def test_forced_face_and_set_face():
    source = open_source("synthetic:dice?seed=5&face=4&width=160&height=120")
    assert source.categories == DICE_FACES and source.face == "4"
    frames = [source.read() for _ in range(6)]
    assert {f.label for f in frames} == {"4"}
    # Same face, yet no two frames alike: the turntable turns, light and noise change.
    for a, b in zip(frames, frames[1:], strict=False):
        assert np.abs(a.image.astype(int) - b.image.astype(int)).mean() > 1.0
    source.set_face("2")
    assert source.read().label == "2"
    with pytest.raises(SourceError, match="no face '9'"):
        source.set_face("9")
    source.set_face(None)
    assert source.face is None


def test_face_changes_every_hold_frames():
    source = open_source("synthetic:dice?seed=7&hold=4&width=96&height=72")
    labels = [source.read().label for _ in range(40)]
    blocks = [labels[i : i + 4] for i in range(0, 40, 4)]
    assert all(len(set(block)) == 1 for block in blocks)
    assert all(a[0] != b[0] for a, b in zip(blocks, blocks[1:], strict=False))
    assert len(set(labels)) >= 4


def test_frames_are_reproducible_from_the_seed():
    a = open_source("synthetic:dice?seed=11&width=128&height=96")
    b = open_source("synthetic:dice?seed=11&width=128&height=96")
    c = open_source("synthetic:dice?seed=12&width=128&height=96")
    for _ in range(3):
        fa, fb, fc = a.read(), b.read(), c.read()
        assert fa.label == fb.label and np.array_equal(fa.image, fb.image)
        assert not np.array_equal(fa.image, fc.image)
    assert a.frame_size == (128, 96) and a.nominal_fps == 30.0 and a.paced


@pytest.mark.parametrize("die", ["d4", "d8"])
def test_other_dice(die):
    source = open_source(f"synthetic:dice?die={die}&width=160&height=120&hold=1")
    assert source.categories == DIE_FACES[die]
    labels = {source.read().label for _ in range(12)}
    assert labels <= set(DIE_FACES[die]) and len(labels) >= 3


def test_render_die_is_a_full_frame_and_depends_on_rng_and_face():
    a = render_die("3", np.random.default_rng(1), (320, 240))
    b = render_die("3", np.random.default_rng(1), (320, 240))
    c = render_die("3", np.random.default_rng(2), (320, 240))
    assert a.shape == (240, 320, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    shot = random_shot("3", np.random.default_rng(1))
    assert not np.array_equal(render_shot(shot), render_shot(replace(shot, face="5")))
    with pytest.raises(ValueError, match="no face"):
        render_die("7", np.random.default_rng(0))


def test_the_die_fills_the_default_roi():
    roi = default_roi((640, 480))
    rng = np.random.default_rng(3)
    slack = 0.03 * roi.height
    for _ in range(300):
        x0, y0, x1, y1 = die_bounds(random_shot(str(rng.integers(1, 7)), rng), (640, 480))
        assert roi.x - slack <= x0 and x1 <= roi.right + slack
        assert roi.y - slack <= y0 and y1 <= roi.bottom + slack
        assert (y1 - y0) >= 0.45 * roi.height


def test_dataset_is_the_live_path():
    images, labels = synthetic_dataset(3, G, seed=4)
    assert images.shape == (18, 50, 60, 1) and images.dtype == np.uint8
    assert labels == [face for face in DICE_FACES for _ in range(3)]
    # Image i of face k: a random scene from (seed, k, i), full frame -> default ROI -> to_geometry.
    frame = render_shot(random_shot("2", np.random.default_rng([4, 1, 2])), (640, 480))
    assert np.array_equal(images[5], preprocess_roi(frame, default_roi((640, 480), G), G))


def _nearest_centroid_accuracy(train_x, train_y, test_x, test_y) -> float:
    classes = sorted(set(train_y))
    centroids = np.stack([train_x[train_y == c].mean(axis=0) for c in classes])
    distances = ((test_x[:, None, :] - centroids[None]) ** 2).sum(axis=-1)
    return float((np.array(classes)[distances.argmin(axis=1)] == test_y).mean())


def _standardised(x: np.ndarray) -> np.ndarray:
    x = x.reshape(len(x), -1).astype(np.float32)
    x -= x.mean(axis=1, keepdims=True)
    return x / (x.std(axis=1, keepdims=True) + 1e-6)


def test_task_is_learnable_but_not_trivial():
    images, labels = synthetic_dataset(40, G, seed=0)
    y = np.array(labels)
    order = np.random.default_rng(0).permutation(len(y))
    train, test = order[:160], order[160:]

    # Not one bitmap per class: images of a face differ a lot from each other.
    fives = images[y == "5"].astype(np.float32)
    assert min(np.abs(fives[i] - fives[j]).mean() for i in range(5) for j in range(i + 1, 5)) > 10
    raw = _standardised(images)
    raw_accuracy = _nearest_centroid_accuracy(raw[train], y[train], raw[test], y[test])
    assert raw_accuracy < 0.6  # pixels alone, with rotation, colours and scenes varying: near chance

    # Yet the pips carry the label: a rotation- and shift-invariant pip-pattern feature
    # (spectrum of the local contrast) is far above chance (1/6) with the simplest classifier.
    def feature(image: np.ndarray) -> np.ndarray:
        contrast = np.abs(cv2.Laplacian(cv2.GaussianBlur(image[:, :, 0], (0, 0), 1.0), cv2.CV_32F))
        return np.abs(np.fft.fft2(contrast)).ravel()

    spectra = _standardised(np.stack([feature(i) for i in images]))
    accuracy = _nearest_centroid_accuracy(spectra[train], y[train], spectra[test], y[test])
    assert accuracy > 0.4, accuracy
