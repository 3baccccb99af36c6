"""``dicebox export-model``: every format agrees with the bundle on the same 200 frames.

Tolerances: float formats (keras, savedmodel, tflite, onnx) give probabilities within 1e-5 of the
bundle's and the same top-1 on >= 99 % of the frames; the int8 TFLite export gives probabilities
within 0.08, the same top-1 on >= 95 % and loses at most 5 accuracy points on held-out images.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
from synthetic_images import shapes

from dicebox.cli import main
from dicebox.nets.bundle import load_bundle

FLOAT_ATOL = 1e-5
INT8_ATOL = 0.08
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def kits(bundle_dir, shapes_data, tmp_path_factory):
    root = tmp_path_factory.mktemp("kits")
    np.savez(
        root / "calibration.npz",
        images=shapes_data.images,
        labels=shapes_data.labels,
        categories=np.array(shapes_data.categories),
    )
    made = {}
    for fmt in ("keras", "savedmodel", "tflite", "onnx"):
        assert main(["export-model", str(bundle_dir), "--format", fmt, "--out", str(root / fmt)]) == 0
        made[fmt] = root / fmt
    argv = [
        "export-model",
        str(bundle_dir),
        "--format",
        "tflite",
        "--int8",
        "--calibrate",
        str(root / "calibration.npz"),
        "--out",
        str(root / "int8"),
    ]
    assert main(argv) == 0
    made["int8"] = root / "int8"
    return made


def run_kit(kit: Path, fmt: str, frames: np.ndarray) -> np.ndarray:
    """Probabilities from the exported model alone, with the runtime a user of that format has."""
    if fmt == "keras":
        import keras

        return np.asarray(keras.models.load_model(kit / "model.keras", compile=False)(frames, training=False))
    if fmt == "savedmodel":
        import tensorflow as tf

        loaded = tf.saved_model.load(str(kit / "saved_model"))  # keep it: serve() needs its variables
        return loaded.serve(tf.constant(frames)).numpy()
    if fmt == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(str(kit / "model.onnx"), providers=["CPUExecutionProvider"])
        return session.run(None, {"image": frames})[0]
    import tensorflow as tf

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "tf.lite.Interpreter is deprecated" (LiteRT)
        interpreter = tf.lite.Interpreter(model_path=str(kit / "model.tflite"))
    entry = interpreter.get_input_details()[0]
    assert entry["dtype"] == np.uint8
    interpreter.resize_tensor_input(entry["index"], list(frames.shape))
    interpreter.allocate_tensors()
    interpreter.set_tensor(entry["index"], frames)
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"]).astype(np.float32)


def bundle_outputs(bundle_dir, frames):
    return np.asarray(load_bundle(bundle_dir).load_model()(frames, training=False))


@pytest.mark.parametrize("fmt", ["keras", "savedmodel", "tflite", "onnx"])
def test_float_export_agrees_with_the_bundle_on_200_frames(kits, fmt, bundle_dir, shapes_data):
    frames = shapes_data.images
    assert len(frames) == 200
    expected = bundle_outputs(bundle_dir, frames)
    got = run_kit(kits[fmt], fmt, frames)
    assert (got.argmax(1) == expected.argmax(1)).mean() >= 0.99
    np.testing.assert_allclose(got, expected, atol=FLOAT_ATOL)


def test_int8_export_is_close_and_keeps_its_accuracy(kits, bundle_dir, shapes_data):
    frames = shapes_data.images
    expected = bundle_outputs(bundle_dir, frames)
    got = run_kit(kits["int8"], "tflite", frames)
    assert (got.argmax(1) == expected.argmax(1)).mean() >= 0.95
    np.testing.assert_allclose(got, expected, atol=INT8_ATOL)
    assert (kits["int8"] / "model.tflite").stat().st_size < (kits["tflite"] / "model.tflite").stat().st_size
    held_out = shapes(per_class=50, width=20, height=16, seed=11)
    float_accuracy = (bundle_outputs(bundle_dir, held_out.images).argmax(1) == held_out.labels).mean()
    int8_accuracy = (run_kit(kits["int8"], "tflite", held_out.images).argmax(1) == held_out.labels).mean()
    assert int8_accuracy >= float_accuracy - 0.05


@pytest.mark.parametrize("fmt", ["keras", "savedmodel", "tflite", "onnx"])
def test_kit_carries_labels_preprocessing_and_readme(kits, fmt, bundle_dir):
    bundle = load_bundle(bundle_dir)
    kit = kits[fmt]
    assert (kit / "labels.txt").read_text().splitlines() == list(bundle.categories)
    spec = json.loads((kit / "preprocessing.json").read_text())
    assert spec["model_id"] == bundle.model_id and spec["preprocessing"] == bundle.preprocessing()
    readme = (kit / "README.md").read_text()
    assert "[batch, 16, 20, 1]" in readme and "python example.py" in readme
    assert not [p.name for p in kit.parent.iterdir() if p.name.startswith(".tmp-")]


def test_onnx_metadata_names_the_labels(kits, bundle_dir):
    import onnx

    props = {p.key: json.loads(p.value) for p in onnx.load(kits["onnx"] / "model.onnx").metadata_props}
    assert props["categories"] == list(load_bundle(bundle_dir).categories)
    assert props["preprocessing"]["colour_order"] == "BGR"


@pytest.mark.parametrize("kit_name", ["tflite", "int8"])
def test_tflite_file_carries_its_labels_and_preprocessing(kits, kit_name, bundle_dir):
    from dicebox.nets import tflite_metadata
    entries = tflite_metadata.read((kits[kit_name] / "model.tflite").read_bytes())
    bundle = load_bundle(bundle_dir)
    assert entries[tflite_metadata.LABELS_ENTRY].decode().splitlines() == list(bundle.categories)
    spec = json.loads(entries[tflite_metadata.PREPROCESSING_ENTRY])
    assert spec["preprocessing"] == bundle.preprocessing() and spec["input"]["dtype"] == "uint8"


def test_tflite_metadata_refuses_what_is_not_a_tflite_file(kits):
    from dicebox.nets import tflite_metadata
    with pytest.raises(tflite_metadata.TfliteMetadataError, match="not a TFLite model"):
        tflite_metadata.read((kits["onnx"] / "model.onnx").read_bytes())


@pytest.mark.parametrize("fmt", ["onnx", "tflite"])
def test_example_script_gives_the_services_answer(kits, fmt, classifier, shapes_data, tmp_path):
    # A colour photo larger than the model input, so the example's crop, resize and grey conversion run.
    paths, expected = [], []
    for i in (0, 60, 120, 180):
        big = cv2.resize(shapes_data.images[i], (80, 64), interpolation=cv2.INTER_LINEAR)
        photo = cv2.cvtColor(big, cv2.COLOR_GRAY2BGR)
        path = tmp_path / f"photo{i}.png"
        cv2.imwrite(str(path), photo)
        paths.append(str(path))
        expected.append(classifier.classify(path.read_bytes()).label)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONWARNINGS": "ignore"}
    done = subprocess.run(
        [sys.executable, str(kits[fmt] / "example.py"), *paths], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    labels = [line.split("\t")[1] for line in done.stdout.splitlines()]
    assert labels == expected


def test_bad_requests_are_refused_and_change_nothing(bundle_dir, tmp_path, capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "holiday.jpg").write_bytes(b"x")
    cases = [
        (["--format", "tflite", "--int8", "--out", str(tmp_path / "a")], "--int8 needs --calibrate"),
        (["--format", "onnx", "--int8", "--calibrate", "x.npz", "--out", str(tmp_path / "a")], "--int8 is for"),
        (["--format", "onnx", "--out", str(photos)], "is not a model export; refusing"),
    ]
    for extra, message in cases:
        capsys.readouterr()
        assert main(["export-model", str(bundle_dir), *extra]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err
    capsys.readouterr()
    assert main(["export-model", str(tmp_path / "nothing"), "--format", "onnx", "--out", str(tmp_path / "b")]) == 2
    assert "no model bundle at" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photos"]
    assert [p.name for p in photos.iterdir()] == ["holiday.jpg"]
