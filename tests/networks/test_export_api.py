"""``GET /api/v1/model/export?format=...`` over real HTTP: the served model's export kit as a zip."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
import requests
from helpers import API_KEY

from dicebox.service import service_context

HEADERS = {"API-ACCESS-KEY": API_KEY}


@pytest.fixture
def served(live_service, classifier):
    url, app = live_service
    service_context(app).classifier = classifier
    yield url
    service_context(app).classifier = None


def test_export_over_the_api_runs_like_the_bundle(served, classifier, shapes_data):
    import onnxruntime

    answer = requests.get(f"{served}/api/v1/model/export", params={"format": "onnx"}, headers=HEADERS, timeout=60)
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"] == "application/zip"
    top = f"{classifier.model_id}-onnx"
    assert f"filename={top}.zip" in answer.headers["Content-Disposition"]
    with zipfile.ZipFile(io.BytesIO(answer.content)) as archive:
        names = set(archive.namelist())
        assert {f"{top}/{n}" for n in ("model.onnx", "labels.txt", "preprocessing.json", "README.md")} <= names
        labels = archive.read(f"{top}/labels.txt").decode().splitlines()
        model = archive.read(f"{top}/model.onnx")
    assert labels == list(classifier.categories)
    session = onnxruntime.InferenceSession(model, providers=["CPUExecutionProvider"])
    got = session.run(None, {"image": shapes_data.images})[0]
    expected = np.array([[r.probabilities[c] for c in labels] for r in classifier.classify_batch(shapes_data.images)])
    np.testing.assert_allclose(got, expected, atol=1e-5)


@pytest.mark.parametrize("query", [{}, {"format": "pytorch"}, {"format": ""}])
def test_bad_format_is_a_clear_400(served, query):
    answer = requests.get(f"{served}/api/v1/model/export", params=query, headers=HEADERS, timeout=30)
    assert answer.status_code == 400
    body = answer.json()
    assert set(body) == {"error", "message"} and body["error"] == "invalid_parameter"
    assert "keras, savedmodel, tflite, onnx" in body["message"]


def test_no_model_is_a_503(live_service):
    url, _app = live_service
    answer = requests.get(f"{url}/api/v1/model/export", params={"format": "keras"}, headers=HEADERS, timeout=30)
    assert answer.status_code == 503
    assert answer.json()["error"] == "unavailable"


def test_needs_the_api_key(served):
    answer = requests.get(f"{served}/api/v1/model/export", params={"format": "keras"}, timeout=30)
    assert answer.status_code == 401
