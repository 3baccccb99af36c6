"""The classification routes: original clients' /api/classify and /api/categories, native routes."""

from __future__ import annotations

import base64
import shutil

import cv2
import numpy as np
import requests
from helpers import API_KEY
from service_process import start_service, stop_service

from dicebox.config import load_config
from dicebox.service import create_app

HEADERS = {"HTTP_API_ACCESS_KEY": API_KEY, "HTTP_API_VERSION": "0.3.0"}


def _client(tmp_path, classifier=None):
    config = load_config(env={"DICEBOX_HOME": str(tmp_path / "home"), "DICEBOX_API_ACCESS_KEY": API_KEY})
    app = create_app(config, classifier=classifier)
    client = app.test_client()
    client.environ_base.update(HEADERS)
    return config, app, client


def _png(image: np.ndarray) -> str:
    return base64.b64encode(cv2.imencode(".png", image)[1].tobytes()).decode()


def test_compatible_routes_answer_as_the_original(tmp_path, classifier, shapes_data):
    _config, _app, client = _client(tmp_path, classifier)
    for image in shapes_data.images[:8]:
        answer = client.post("/api/classify", json={"data": _png(image)})
        assert answer.status_code == 200
        assert answer.get_json() == {"classification": classifier.classify(image).index}
    categories = client.get("/api/categories").get_json()
    assert categories == {"category_map": {str(i): name for i, name in enumerate(shapes_data.categories)}}


def test_native_classify_gives_label_probabilities_model_and_time(tmp_path, classifier, shapes_data):
    _config, _app, client = _client(tmp_path, classifier)
    body = client.post("/api/v1/classify", json={"data": _png(shapes_data.images[0])}).get_json()
    assert body["label"] in shapes_data.categories and body["model_id"] == classifier.model_id
    assert abs(sum(body["probabilities"].values()) - 1.0) < 1e-4 and body["seconds"] >= 0
    assert client.get("/api/v1/model").get_json()["model_id"] == classifier.model_id


def test_without_a_model(tmp_path):
    _config, _app, client = _client(tmp_path)
    png = _png(np.zeros((16, 20, 1), np.uint8))
    assert client.post("/api/classify", json={"data": png}).get_json() == {"classification": -1}
    answer = client.post("/api/v1/classify", json={"data": png})
    assert answer.status_code == 503 and "no model" in answer.get_json()["message"]
    assert client.get("/api/v1/model").get_json() == {"loaded": False}


def test_bad_images_are_400(tmp_path, classifier):
    _config, _app, client = _client(tmp_path, classifier)
    for data in (base64.b64encode(b"not an image").decode(), "%%%"):
        answer = client.post("/api/classify", json={"data": data})
        assert answer.status_code == 400 and answer.get_json()["error"] in ("invalid_image", "invalid_base64")


def test_switching_the_served_model(tmp_path, classifier, bundle_dir, other_bundle_dir):
    config, app, client = _client(tmp_path)
    config.weights_dir.mkdir(parents=True, exist_ok=True)
    shutil.copytree(bundle_dir, config.weights_dir / "first")
    shutil.copytree(other_bundle_dir, config.weights_dir / "second")
    first = client.post("/api/v1/model", json={"bundle": "first"}).get_json()
    assert first["loaded"] and first["model_id"] == classifier.model_id
    second = client.post("/api/v1/model", json={"bundle": "second"}).get_json()
    assert second["model_id"] != first["model_id"]
    for bad, status in (("../../etc", 400), ("/etc", 400), ("missing", 404)):
        answer = client.post("/api/v1/model", json={"bundle": bad})
        assert answer.status_code == status
    (config.weights_dir / "broken").mkdir()
    assert client.post("/api/v1/model", json={"bundle": "broken"}).status_code == 400
    assert client.get("/api/v1/model").get_json()["model_id"] == second["model_id"], "a failed switch keeps the model"


def test_serve_with_a_model_over_http(tmp_path, bundle_dir, classifier, shapes_data):
    proc, url = start_service(tmp_path / "data", "--model", str(bundle_dir))
    try:
        headers = {"API-ACCESS-KEY": API_KEY, "API-VERSION": "0.3.0"}
        image = shapes_data.images[3]
        answer = requests.post(f"{url}/api/classify", json={"data": _png(image)}, headers=headers, timeout=30)
        assert answer.json() == {"classification": classifier.classify(image).index}
    finally:
        stop_service(proc)


def test_a_decompression_bomb_is_refused_before_decoding(tmp_path, classifier):
    from test_service_bad_input import png_bomb

    _config, _app, client = _client(tmp_path, classifier)
    bomb = base64.b64encode(png_bomb(40_000)).decode()
    for route in ("/api/classify", "/api/v1/classify"):
        answer = client.post(route, json={"data": bomb})
        assert answer.status_code == 400 and "over the limit" in answer.get_json()["message"]
