"""Hostile bodies and query strings: deeply nested JSON and enormous numbers get a 4xx, never a 500.

Every route is taken from the OpenAPI document, so a route added later is covered without editing
this file.
"""

from __future__ import annotations

import uuid

import pytest
import requests
from helpers import API_KEY, make_png

from dicebox.service import service_context

HEADERS = {"API-ACCESS-KEY": API_KEY, "API-VERSION": "0.3.0", "Content-Type": "application/json"}
DATASET = "dice_60x50"

DEEP_BODIES = {
    "deep list": b"[" * 100_000,
    "deep object": b'{"a":' * 50_000,
    "deep valid list": b"[" * 100_000 + b"]" * 100_000,
    "deep inside a field": b'{"ids": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
}
NOT_JSON = {
    "NaN": b'{"batch_size": NaN}',
    "Infinity": b'{"batch_size": 1, "noise": Infinity}',
    "invalid UTF-8": b'{"name": "\xff\xfe"}',
    "UTF-16": '{"name": "x"}'.encode("utf-16"),
    "lone surrogates": b'{"name": "\\ud800", "category": "a\\udfffb", "bundle": "\\udbff", "batch_id": "\\ud800"}',
}
HUGE_INTS = ["999999999999999999999999999999", "9223372036854775808", "-999999999999999999999999999999"]
NOT_INTS = ["1_000", " 5", "+5", "\uff15", "5.0", "0x10", "1e3"]


def document(url: str) -> dict:
    return requests.get(f"{url}/api/v1/openapi.json", timeout=10).json()


def concrete(path: str) -> str:
    return (
        path.replace("{ident}", DATASET)
        .replace("{order_id}", str(uuid.uuid4()))
        .replace("{image_id}", "0" * 32)
        .replace("{name}", "x")
    )


def operations(url: str, want) -> list[tuple[str, str, dict]]:
    found = []
    for path, item in document(url)["paths"].items():
        for method, operation in item.items():
            if want(operation):
                found.append((method.upper(), path, operation))
    return found


def query_ints(operation: dict) -> list[str]:
    return [
        p["name"]
        for p in operation.get("parameters", [])
        if p.get("in") == "query" and p.get("schema", {}).get("type") == "integer"
    ]


def unchanged(app) -> None:
    ctx = service_context(app)
    assert ctx.store.dataset_ids() == [DATASET]
    assert ctx.store.dataset(DATASET).count() == 0
    assert ctx.classifier is None


def allowed(answer: requests.Response) -> set[str]:
    return {method.strip() for method in answer.headers["Allow"].split(",")}


def assert_client_error(answer: requests.Response, what: str) -> None:
    assert 400 <= answer.status_code < 500, f"{what}: {answer.status_code} {answer.text[:200]}"
    body = answer.json()
    assert set(body) == {"error", "message"} and body["message"], what


@pytest.mark.parametrize(
    "raw", list(DEEP_BODIES.values()) + list(NOT_JSON.values()), ids=list(DEEP_BODIES) + list(NOT_JSON)
)
def test_every_json_body_route_refuses_deep_or_invalid_json(live_service, raw):
    url, app = live_service
    routes = operations(url, lambda op: "requestBody" in op)
    assert len(routes) >= 14
    for method, path, _ in routes:
        answer = requests.request(method, url + concrete(path), data=raw, headers=HEADERS, timeout=30)
        assert_client_error(answer, f"{method} {path}")
        assert answer.json()["error"] == "invalid_json", f"{method} {path}: {answer.text[:200]}"
    unchanged(app)


@pytest.mark.parametrize("value", HUGE_INTS + NOT_INTS)
def test_every_integer_query_parameter_refuses_huge_or_odd_numbers(live_service, value):
    url, app = live_service
    routes = operations(url, query_ints)
    assert {name for _, _, op in routes for name in query_ints(op)} >= {"offset", "limit", "max", "start"}
    for method, path, operation in routes:
        for name in query_ints(operation):
            answer = requests.request(method, url + concrete(path), params={name: value}, headers=HEADERS, timeout=30)
            assert_client_error(answer, f"{method} {path}?{name}={value}")
            assert answer.json()["error"] == "invalid_parameter", answer.text[:200]
    unchanged(app)


def test_largest_offset_is_fine(live_service):
    url, _ = live_service
    answer = requests.get(
        f"{url}/api/v1/datasets/{DATASET}/images", params={"offset": str(2**63 - 1)}, headers=HEADERS, timeout=10
    )
    assert answer.status_code == 200 and answer.json()["images"] == []


@pytest.mark.parametrize(
    "path, body",
    [
        (f"/api/v1/datasets/{DATASET}/orders", {"batch_size": 10**30}),
        ("/api/sensory/batch", {"batch_size": 10**30}),
        (f"/api/v1/datasets/{DATASET}/batch", {"batch_size": 1, "seed": 10**30}),
        ("/api/v1/datasets", {"name": "big", "width": 10**30, "height": 10}),
        ("/api/sensory/request", {"batch_size": 1e300}),
    ],
)
def test_enormous_numbers_in_bodies(live_service, path, body):
    url, app = live_service
    answer = requests.post(url + path, json=body, headers=HEADERS, timeout=10)
    assert_client_error(answer, path)
    unchanged(app)


@pytest.mark.parametrize("bundle", ["a\u0000b", "..", "a/../b", "/etc", ".", "./a", "C:x", "a\\b", "a/"])
def test_a_bundle_outside_the_weights_folder_or_unspellable_is_refused(live_service, bundle):
    url, app = live_service
    answer = requests.post(f"{url}/api/v1/model", json={"bundle": bundle}, headers=HEADERS, timeout=10)
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_name", answer.text[:200]
    unchanged(app)


@pytest.mark.parametrize("action", ["delete", "relabel"])
def test_options_and_405_name_only_the_routes_methods(live_service, action):
    url, _ = live_service
    path = f"{url}/api/v1/datasets/{DATASET}/images/{action}"
    assert allowed(requests.options(path, timeout=10)) == {"POST", "OPTIONS"}
    answer = requests.get(path, headers=HEADERS, timeout=10)
    assert answer.status_code == 405 and allowed(answer) == {"POST", "OPTIONS"}
    assert answer.json()["error"] == "method_not_allowed"


def test_more_images_than_stored_is_a_conflict_with_the_store_not_bad_input(live_service):
    url, _ = live_service
    for path, body in [
        ("/api/sensory/request", {"batch_size": 1}),
        (f"/api/v1/datasets/{DATASET}/batch", {"batch_size": 1}),
        (f"/api/v1/datasets/{DATASET}/orders", {"batch_size": 1}),
        ("/api/sensory/batch", {"batch_size": 1}),
    ]:
        answer = requests.post(url + path, json=body, headers=HEADERS, timeout=10)
        assert answer.status_code == 409, (path, answer.text[:200])
        assert "larger than the data set (0 images)" in answer.json()["message"]


def test_collecting_past_the_items_handed_out_is_a_conflict(live_service):
    url, app = live_service
    service_context(app).default_dataset().store_many([(make_png(i), "a") for i in range(3)])
    order = requests.post(
        f"{url}/api/v1/datasets/{DATASET}/orders", json={"batch_size": 3}, headers=HEADERS, timeout=10
    ).json()
    answer = requests.post(
        f"{url}/api/v1/orders/{order['order_id']}/items", params={"start": 2}, headers=HEADERS, timeout=10
    )
    assert answer.status_code == 409 and answer.json()["error"] == "not_handed_out", answer.text[:200]
