"""The original protocol, exercised exactly as a 2017 client sends it, over real HTTP."""

from __future__ import annotations

import base64

import requests
from helpers import API_KEY, make_png

HEADERS = {"API-ACCESS-KEY": API_KEY, "API-VERSION": "0.3.0", "Content-type": "application/json"}


def store(url, category, png, name="dice", width=60, height=50):
    body = {"name": name, "width": width, "height": height, "category": category,
            "data": base64.b64encode(png).decode()}
    return requests.post(f"{url}/api/sensory/store", json=body, headers=HEADERS, timeout=10)


def test_health_and_version_need_no_key(live_service):
    url, _ = live_service
    health = requests.get(f"{url}/health/plain", timeout=5)
    assert health.status_code == 200 and health.json() is True
    assert requests.get(f"{url}/api/version", timeout=5).json() == {"version": "0.3.0"}


def test_store_then_category_map_then_request(live_service):
    url, _ = live_service
    for i in range(6):
        answer = store(url, str(i % 3 + 1), make_png(i))
        assert answer.status_code == 200
        assert answer.json() == {"sensory_store": True}
    categories = requests.get(f"{url}/api/sensory/category", headers=HEADERS, timeout=5).json()
    assert categories == {"category_map": {"1": 0, "2": 1, "3": 2}}
    batch = requests.post(f"{url}/api/sensory/request", json={"batch_size": 4, "noise": 0.0},
                          headers=HEADERS, timeout=10).json()
    assert set(batch) == {"labels", "data"}
    assert len(batch["labels"]) == len(batch["data"]) == 4
    for label in batch["labels"]:
        assert sorted(label) == [0, 0, 1]
    image = batch["data"][0]
    assert len(image) == 50 and len(image[0]) == 60 and len(image[0][0]) == 1
    assert all(0 <= px[0] <= 255 for row in image for px in row)


def test_stored_pixels_come_back_unchanged(live_service):
    url, _ = live_service
    import cv2
    import numpy as np

    png = make_png(42)
    store(url, "only", png)
    batch = requests.post(f"{url}/api/sensory/request", json={"batch_size": 1, "noise": 0},
                          headers=HEADERS, timeout=10).json()
    expected = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_UNCHANGED)
    assert np.array_equal(np.array(batch["data"][0], np.uint8)[:, :, 0], expected)
    assert batch["labels"] == [[1]]


def test_wrong_key_is_401_and_wrong_version_is_400(live_service):
    url, _ = live_service
    for headers in ({}, {"API-ACCESS-KEY": "nope", "API-VERSION": "0.3.0"}):
        answer = requests.get(f"{url}/api/sensory/category", headers=headers, timeout=5)
        assert answer.status_code == 401 and answer.json()["error"] == "unauthorized"
    answer = requests.get(f"{url}/api/sensory/category", headers={**HEADERS, "API-VERSION": "0.2.0"}, timeout=5)
    assert answer.status_code == 400 and "API-VERSION" in answer.json()["message"]


def test_cors_for_allowed_origins_only(live_service):
    url, _ = live_service
    allowed = requests.get(f"{url}/api/version", headers={"Origin": "http://localhost:3000"}, timeout=5)
    assert allowed.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"
    other = requests.get(f"{url}/api/version", headers={"Origin": "http://evil.example"}, timeout=5)
    assert "Access-Control-Allow-Origin" not in other.headers
    preflight = requests.options(f"{url}/api/sensory/store", headers={
        "Origin": "http://127.0.0.1:8080", "Access-Control-Request-Method": "POST"}, timeout=5)
    assert preflight.status_code in (200, 204)
    assert "API-ACCESS-KEY" in preflight.headers["Access-Control-Allow-Headers"]
