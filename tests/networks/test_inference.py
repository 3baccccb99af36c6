"""Classifier: frames of any size or encoded bytes, clear errors, no predict(), hot swap under load."""

from __future__ import annotations

import threading

import cv2
import keras
import numpy as np
import pytest

from dicebox.images import Geometry, to_geometry
from dicebox.nets.bundle import BundleError, IncompatibleBundle, load_bundle
from dicebox.nets.inference import Classification, Classifier, ClassifyError


def probabilities(result: Classification, categories) -> np.ndarray:
    return np.array([result.probabilities[c] for c in categories])


def test_classify_exact_geometry(classifier, trained, shapes_data):
    frame = shapes_data.images[60]  # a vertical bar
    result = classifier.classify(frame)
    expected = np.asarray(trained.model(frame[None], training=False))[0]
    assert result.label == "bar_v" and result.index == 1
    assert result.model_id == load_bundle(classifier.bundle.path).model_id
    assert result.confidence == pytest.approx(expected.max(), abs=1e-6)
    np.testing.assert_allclose(probabilities(result, classifier.categories), expected, atol=1e-6)
    assert sum(result.probabilities.values()) == pytest.approx(1.0, abs=1e-5)
    assert result.seconds > 0
    assert set(result.to_dict()) == {"label", "index", "confidence", "probabilities", "model_id", "seconds"}


def test_camera_crop_goes_through_the_shared_preprocessing(classifier, shapes_data):
    grey = shapes_data.images[120, :, :, 0]
    crop = cv2.cvtColor(cv2.resize(grey, (100, 80), interpolation=cv2.INTER_LINEAR), cv2.COLOR_GRAY2BGR)
    crop = np.pad(crop, ((0, 0), (30, 30), (0, 0)))  # wider than 20:16, cropped back to its centre
    direct = classifier.classify(to_geometry(crop, Geometry(20, 16, 1)))
    result = classifier.classify(crop)
    assert result.probabilities == direct.probabilities
    assert result.label == "circle"


def test_png_and_jpeg_bytes(classifier, shapes_data):
    frame = shapes_data.images[170]
    png = cv2.imencode(".png", frame)[1].tobytes()
    assert classifier.classify(png).probabilities == classifier.classify(frame).probabilities
    colour = cv2.resize(cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR), (200, 160))
    jpeg = cv2.imencode(".jpg", colour, [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes()
    assert classifier.classify(jpeg).label == "cross"
    assert classifier.classify(bytearray(png)).label == classifier.classify(memoryview(png)).label


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (b"", "empty image data"),
        (b"definitely not a picture", "not a PNG or JPEG image"),
        (np.zeros((16, 20), np.float32), "expected a uint8 image"),
        (np.zeros((2, 16, 20, 1), np.uint8), "expected a non-empty HxW or HxWxC image"),
        (np.zeros((0, 20), np.uint8), "expected a non-empty"),
        (np.zeros((16, 20, 2), np.uint8), "expected an image of shape"),
        ("frame.png", "expected a uint8 image array or PNG/JPEG bytes, got str"),
    ],
)
def test_bad_input_is_a_clear_error(classifier, bad, message):
    with pytest.raises(ClassifyError) as info:
        classifier.classify(bad)
    assert message in str(info.value)


def test_batch_matches_single_frames(classifier, shapes_data):
    frames = list(shapes_data.images[::20])
    batch = classifier.classify_batch(frames)
    assert [r.label for r in batch] == [classifier.classify(f).label for f in frames]
    for result, frame in zip(batch, frames, strict=True):
        single = probabilities(classifier.classify(frame), classifier.categories)
        np.testing.assert_allclose(probabilities(result, classifier.categories), single, atol=1e-5)
    assert classifier.classify_batch([]) == []


def test_classify_never_calls_predict(classifier, shapes_data, monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("model.predict called per frame")

    monkeypatch.setattr(keras.Model, "predict", forbidden)
    classifier.classify(shapes_data.images[0])
    classifier.classify_batch(list(shapes_data.images[:5]))


def test_check_compatible(classifier):
    classifier.check_compatible(Geometry(20, 16, 1), ("bar_h", "bar_v", "circle", "cross"))
    with pytest.raises(IncompatibleBundle):
        classifier.check_compatible(Geometry(20, 16, 3), classifier.categories)


def test_failed_swaps_keep_the_old_model(bundle_dir, other_bundle_dir, tmp_path, shapes_data):
    live = Classifier.from_bundle(bundle_dir)
    before = live.classify(shapes_data.images[0])
    with pytest.raises(BundleError, match="no model bundle"):
        live.swap(tmp_path / "missing")
    with pytest.raises(IncompatibleBundle, match="not in the model: star"):
        live.swap(other_bundle_dir, categories=("bar_h", "bar_v", "circle", "star"))
    with pytest.raises(IncompatibleBundle, match="expects 20x16"):
        live.swap(other_bundle_dir, geometry=Geometry(60, 50, 1))
    after = live.classify(shapes_data.images[0])
    assert after.model_id == before.model_id and after.probabilities == before.probabilities


def test_hot_swap_under_concurrent_classification(bundle_dir, other_bundle_dir, shapes_data):
    frames = list(shapes_data.images[::8])
    expected = {}
    for path in (bundle_dir, other_bundle_dir):
        reference = Classifier.from_bundle(path)
        expected[reference.model_id] = [
            probabilities(reference.classify(f), reference.categories) for f in frames
        ]
    first_id, second_id = (load_bundle(p).model_id for p in (bundle_dir, other_bundle_dir))
    assert first_id != second_id

    live = Classifier.from_bundle(bundle_dir)
    stop = threading.Event()
    problems: list[str] = []
    seen: list[set[str]] = []
    counted: list[int] = []

    def hammer(offset: int) -> None:
        ids: set[str] = set()
        i = offset
        while not stop.is_set():
            index = i % len(frames)
            try:
                result = live.classify(frames[index])
            except Exception as exc:  # noqa: BLE001 - any error during a swap is a failure
                problems.append(repr(exc))
                return
            ids.add(result.model_id)
            counted.append(1)
            if result.model_id not in expected:
                problems.append(f"unknown model id {result.model_id}")
            else:
                got = probabilities(result, live.categories)
                if not np.allclose(got, expected[result.model_id][index], atol=1e-6):
                    problems.append(f"frame {index}: outputs of neither model {result.model_id}")
            i += 1
        seen.append(ids)

    threads = [threading.Thread(target=hammer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for path in (other_bundle_dir, bundle_dir, other_bundle_dir):
        live.swap(path, geometry=Geometry(20, 16, 1), categories=live.categories)
    stop.set()
    for thread in threads:
        thread.join(timeout=30)
    assert not problems, problems[:5]
    assert live.model_id == second_id
    assert set().union(*seen) == {first_id, second_id}
    assert len(counted) > 100
