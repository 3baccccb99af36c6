"""Classifying without TensorFlow: an export kit served through ONNX Runtime (or LiteRT) gives the
bundle's answers. "Without TensorFlow" is real here: the child processes cannot import it at all."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import requests
from helpers import API_KEY
from service_process import start_service, stop_service

from dicebox.nets.bundle import BundleError
from dicebox.nets.export import export_model
from dicebox.nets.inference import Classifier
from dicebox.nets.runtimes import resolve_model

REPO = Path(__file__).resolve().parents[2]
HEADERS = {"API-ACCESS-KEY": API_KEY}
# Imported first by every child Python: TensorFlow and Keras cannot be imported there.
NO_TENSORFLOW = """
import sys
for name in ("tensorflow", "keras", "tf_keras"):
    sys.modules[name] = None
"""


@pytest.fixture(scope="module")
def kits(bundle_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("runtime-kits")
    onnx = export_model(bundle_dir, "onnx", root / "onnx")
    tflite = export_model(bundle_dir, "tflite", root / "tflite")
    both = root / "both"
    shutil.copytree(onnx, both)
    shutil.copy(tflite / "model.tflite", both / "model.tflite")
    return {"onnx": onnx, "tflite": tflite, "both": both}


@pytest.fixture(scope="module")
def no_tensorflow_env(tmp_path_factory):
    folder = tmp_path_factory.mktemp("no-tf")
    (folder / "sitecustomize.py").write_text(NO_TENSORFLOW)
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(folder), str(REPO)]), "TF_CPP_MIN_LOG_LEVEL": "3"}


def expected_probabilities(classifier, frames) -> np.ndarray:
    return np.array([[r.probabilities[c] for c in classifier.categories] for r in classifier.classify_batch(frames)])


CHILD = """
import sys, numpy as np
from dicebox.nets.inference import Classifier
classifier = Classifier.from_bundle(sys.argv[1])
frames = np.load(sys.argv[2])
results = classifier.classify_batch(list(frames))
np.save(sys.argv[3], np.array([[r.probabilities[c] for c in classifier.categories] for r in results]))
print(classifier.runtime, classifier.model_id, "tensorflow" in sys.modules and sys.modules["tensorflow"] is not None)
"""


def test_onnx_runtime_without_tensorflow_gives_the_bundles_answers(
    kits, classifier, shapes_data, no_tensorflow_env, tmp_path
):
    frames = shapes_data.images
    np.save(tmp_path / "frames.npy", frames)
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(kits["both"]), str(tmp_path / "frames.npy"), str(tmp_path / "out.npy")],
        env=no_tensorflow_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["onnx", classifier.model_id, "False"]
    got = np.load(tmp_path / "out.npy")
    expected = expected_probabilities(classifier, frames)
    assert (got.argmax(1) == expected.argmax(1)).mean() >= 0.99
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_tflite_runtime_gives_the_bundles_answers(kits, classifier, shapes_data):
    # ai-edge-litert does not install here; TensorFlow's own interpreter is the fallback.
    light = Classifier.from_bundle(kits["both"], runtime="tflite")
    assert light.runtime == "tflite" and light.model_id == classifier.model_id
    frames = shapes_data.images
    got = expected_probabilities(light, frames)
    expected = expected_probabilities(classifier, frames)
    assert (got.argmax(1) == expected.argmax(1)).mean() >= 0.99
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert Classifier.from_bundle(kits["tflite"] / "model.tflite").runtime == "tflite"


def test_serve_an_export_without_tensorflow(kits, classifier, shapes_data, no_tensorflow_env, tmp_path):
    proc, url = start_service(tmp_path / "data", "--model", str(kits["onnx"]), env=no_tensorflow_env)
    try:
        model = requests.get(f"{url}/api/v1/model", headers=HEADERS, timeout=10).json()
        assert model["runtime"] == "onnx" and model["model_id"] == classifier.model_id
        for i in (0, 70, 140, 199):
            big = cv2.cvtColor(cv2.resize(shapes_data.images[i], (60, 48)), cv2.COLOR_GRAY2BGR)
            png = cv2.imencode(".png", big)[1].tobytes()
            answer = requests.post(
                f"{url}/api/v1/classify", json={"data": base64.b64encode(png).decode()}, headers=HEADERS, timeout=10
            )
            assert answer.status_code == 200, answer.text
            want = classifier.classify(png)
            assert answer.json()["label"] == want.label
            assert abs(answer.json()["confidence"] - want.confidence) < 1e-5
        # A model served from an export cannot be exported again: a clear 409, and the service goes on.
        refused = requests.get(f"{url}/api/v1/model/export", params={"format": "onnx"}, headers=HEADERS, timeout=30)
        assert refused.status_code == 409 and refused.json()["error"] == "cannot_export"
        assert "export it from its bundle" in refused.json()["message"]
    finally:
        stop_service(proc)


def test_a_bundle_without_tensorflow_is_refused_in_one_line(bundle_dir, no_tensorflow_env, tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "dicebox",
            "serve",
            "--port",
            "0",
            "--data-dir",
            str(tmp_path),
            "--model",
            str(bundle_dir),
        ],
        env=no_tensorflow_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "TensorFlow is not installed: serve an ONNX or TFLite export" in lines[0], lines


def test_what_cannot_be_served_is_named(bundle_dir, kits, tmp_path):
    with pytest.raises(BundleError, match="the onnx runtime needs an export"):
        resolve_model(bundle_dir, "onnx")
    with pytest.raises(BundleError, match=r"no runnable model for runtime onnx \(the kit has model.tflite"):
        resolve_model(kits["tflite"], "onnx")
    with pytest.raises(BundleError, match="no model bundle or export at"):
        resolve_model(tmp_path / "nothing")
    (tmp_path / "kit").mkdir()
    (tmp_path / "kit" / "preprocessing.json").write_text(json.dumps({"categories": ["a"]}))
    with pytest.raises(BundleError, match="preprocessing.json is corrupt"):
        resolve_model(tmp_path / "kit")
