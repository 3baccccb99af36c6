"""Every bad input gets a clear JSON error and leaves the store unchanged."""

from __future__ import annotations

import base64
import zlib

import cv2
import numpy as np
import pytest
from helpers import make_png

from dicebox.service import service_context

GOOD_PNG = base64.b64encode(make_png(1)).decode()


def png_bomb(side: int = 30000) -> bytes:
    """A tiny PNG that claims side x side pixels (a decompression bomb)."""
    import struct

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = zlib.compress(b"\x00" * (side + 1) * 64, 9)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0))
        + chunk(b"IDAT", rows)
        + chunk(b"IEND", b"")
    )


def store_body(**changes):
    body = {"name": "dice", "width": 60, "height": 50, "category": "1", "data": GOOD_PNG}
    body.update(changes)
    return body


BAD_STORES = [
    (store_body(data="not base64!!"), 400, "invalid_base64"),
    (store_body(data=base64.b64encode(b"plain text, not an image").decode()), 400, "invalid_image"),
    (store_body(data=base64.b64encode(make_png(2)[:60]).decode()), 400, "invalid_image"),
    (store_body(data=base64.b64encode(png_bomb()).decode()), 413, "image_too_large"),
    (store_body(category="../../etc"), 400, "invalid_name"),
    (store_body(category=".."), 400, "invalid_name"),
    (store_body(category="a/b"), 400, "invalid_name"),
    (store_body(category=""), 400, "invalid_field"),
    (store_body(category=7), 400, "invalid_field"),
    (store_body(name="../../tmp"), 400, "invalid_name"),
    (store_body(name="/abs"), 400, "invalid_name"),
    (store_body(width="60"), 400, "invalid_field"),
    (store_body(width=-1), 400, "invalid_field"),
    (store_body(height=10**9), 400, "invalid_field"),
    ({"name": "dice"}, 400, "invalid_field"),
]


def assert_unchanged(app):
    ctx = service_context(app)
    for ident in ctx.store.dataset_ids():
        assert ctx.store.dataset(ident).count() == 0
    assert ctx.store.dataset_ids() == ["dice_60x50"]


@pytest.mark.parametrize("body, status, code", BAD_STORES)
def test_bad_stores(http, app, body, status, code):
    answer = http.post("/api/sensory/store", json=body)
    assert answer.status_code == status, answer.get_json()
    assert answer.get_json()["error"] == code and answer.get_json()["message"]
    assert_unchanged(app)


@pytest.mark.parametrize("raw", [b"", b"not json", b"[1, 2]", b'"text"', b"{"])
def test_body_not_a_json_object(http, app, raw):
    answer = http.post("/api/sensory/store", data=raw, content_type="application/json")
    assert answer.status_code == 400 and answer.get_json()["error"] == "invalid_json"
    assert_unchanged(app)


def test_body_over_the_limit_is_413(app, http):
    app.config["MAX_CONTENT_LENGTH"] = 10_000
    answer = http.post("/api/sensory/store", json=store_body(data="A" * 20_000))
    assert answer.status_code == 413 and answer.get_json()["error"] == "request_entity_too_large"
    assert_unchanged(app)


@pytest.mark.parametrize(
    "body",
    [
        {"batch_size": 0},
        {"batch_size": -3},
        {"batch_size": "5"},
        {"batch_size": 2.5},
        {"batch_size": True},
        {"batch_size": 10**9},
        {"batch_size": 1, "noise": 1.5},
        {"batch_size": 1, "noise": -0.1},
        {"batch_size": 1, "noise": "x"},
        {},
    ],
)
def test_bad_batch_requests(http, body):
    http.post("/api/sensory/store", json=store_body())
    answer = http.post("/api/sensory/request", json=body)
    assert answer.status_code == 400
    assert answer.get_json()["error"] in {"invalid_field", "invalid_batch_size"}


def test_batch_larger_than_the_data_set(http):
    http.post("/api/sensory/store", json=store_body())
    answer = http.post("/api/sensory/request", json={"batch_size": 2, "noise": 0})
    assert answer.status_code == 409 and "larger than the data set" in answer.get_json()["message"]


def test_native_bad_inputs_change_nothing(http, app):
    ds = "/api/v1/datasets/dice_60x50"
    checks = [
        ("post", f"{ds}/images", {"images": []}, 400),
        (
            "post",
            f"{ds}/images",
            {"images": [{"category": "1", "data": GOOD_PNG}, {"category": "1", "data": "@@"}]},
            400,
        ),
        ("post", f"{ds}/images", {"images": [{"category": "1", "data": GOOD_PNG}, "x"]}, 400),
        ("post", f"{ds}/images", {"images": [{"category": "..", "data": GOOD_PNG}]}, 400),
        ("post", f"{ds}/images/delete", {"ids": ["0" * 32]}, 404),
        ("post", f"{ds}/images/delete", {"ids": "abc"}, 400),
        ("post", f"{ds}/images/relabel", {"ids": ["0" * 32], "category": "x"}, 404),
        ("post", f"{ds}/images/relabel", {"ids": ["0" * 32], "category": "a/b"}, 400),
        ("post", f"{ds}/categories", {"name": "con"}, 400),
        ("delete", f"{ds}/categories/missing", None, 404),
        ("get", f"{ds}/images/../../etc", None, 404),
        ("get", f"{ds}/images/{'0' * 32}", None, 404),
        ("get", "/api/v1/datasets/not-an-id", None, 400),
        ("get", f"{ds}/images?limit=0", None, 400),
        ("get", f"{ds}/images?offset=x", None, 400),
        ("post", f"{ds}/batch", {"batch_size": 5, "seed": -1}, 400),
        ("post", "/api/v1/datasets", {"name": "x", "width": 10, "height": 10, "channels": 2}, 400),
    ]
    for method, path, body, status in checks:
        answer = getattr(http, method)(path, json=body) if body is not None else getattr(http, method)(path)
        assert answer.status_code == status, (path, body, answer.get_json())
        assert set(answer.get_json()) == {"error", "message"}
        assert_unchanged(app)


def test_unknown_route_and_method_are_json(http):
    assert http.get("/api/nothing").get_json()["error"] == "not_found"
    answer = http.get("/api/sensory/store")
    assert answer.status_code == 405 and answer.get_json()["error"] == "method_not_allowed"


NEW_DATASET_STORES = [
    (dict(body, name="fresh"), status, code) for body, status, code in BAD_STORES if body.get("name") == "dice"
] + [
    (store_body(name="fresh", category="CONIN$"), 400, "invalid_name"),
    (store_body(name="fresh", category="COM¹"), 400, "invalid_name"),
    (store_body(name="fresh", data=base64.b64encode(png_bomb(4000)).decode()), 413, "image_too_large"),
    (store_body(name="DICE"), 409, "conflict"),
    (store_body(name="con.x"), 400, "invalid_name"),
]


@pytest.mark.parametrize("body, status, code", NEW_DATASET_STORES)
def test_a_refused_store_creates_no_data_set(http, app, body, status, code):
    answer = http.post("/api/sensory/store", json=body)
    assert answer.status_code == status, answer.get_json()
    assert answer.get_json()["error"] == code and answer.get_json()["message"]
    assert_unchanged(app)
    assert http.get("/api/v1/datasets").get_json()["datasets"] == ["dice_60x50"]
    assert sorted(p.name for p in service_context(app).config.datasets_dir.iterdir()) == ["dice_60x50"]


def test_a_good_store_still_creates_its_data_set(http, app):
    answer = http.post("/api/sensory/store", json=store_body(name="fresh"))
    assert answer.status_code == 200, answer.get_json()
    assert http.get("/api/v1/datasets").get_json()["datasets"] == ["dice_60x50", "fresh_60x50"]
    assert http.get("/api/v1/datasets/fresh_60x50").get_json()["count"] == 1


def test_native_routes_create_no_data_set_on_bad_input(http, app):
    checks = [
        ("/api/v1/datasets/fresh_60x50/images", {"images": [{"category": "1", "data": GOOD_PNG}]}, 404),
        ("/api/v1/datasets", {"name": "DICE", "width": 60, "height": 50}, 409),
        ("/api/v1/datasets", {"name": "aux.1", "width": 60, "height": 50}, 400),
        ("/api/v1/datasets", {"name": "fresh", "width": 60, "height": 50, "channels": 2}, 400),
    ]
    for path, body, status in checks:
        answer = http.post(path, json=body)
        assert answer.status_code == status, (path, body, answer.get_json())
        assert set(answer.get_json()) == {"error", "message"}
        assert_unchanged(app)


def test_images_far_larger_than_the_data_set_needs_are_413(http, app):
    # 16 million 16-bit RGBA pixels of zeros: 124 KB, legal under max_image_pixels, about 1 s to decode.
    zeros = cv2.imencode(".png", np.zeros((4000, 4000, 4), np.uint16))[1].tobytes()
    huge = base64.b64encode(zeros).decode()
    for path, body in [
        ("/api/sensory/store", store_body(data=huge)),
        (
            "/api/v1/datasets/dice_60x50/images",
            {"images": [{"category": "1", "data": GOOD_PNG}] * 29 + [{"category": "2", "data": huge}]},
        ),
    ]:
        answer = http.post(path, json=body)
        assert answer.status_code == 413, answer.get_json()
        assert answer.get_json()["error"] == "image_too_large"
        assert "4000x4000" in answer.get_json()["message"] and "dice_60x50" in answer.get_json()["message"]
        assert_unchanged(app)


def test_names_that_collide_on_windows_or_macos_are_refused(http, app):
    ds = "/api/v1/datasets/dice_60x50"
    assert http.post("/api/sensory/store", json=store_body(category="Ab")).status_code == 200
    for path, body in [
        ("/api/sensory/store", store_body(category="ab", data=base64.b64encode(make_png(5)).decode())),
        (f"{ds}/categories", {"name": "AB"}),
    ]:
        answer = http.post(path, json=body)
        assert answer.status_code == 409, answer.get_json()
        assert answer.get_json()["error"] == "conflict" and "'Ab'" in answer.get_json()["message"]
    for name in ["CONIN$", "COM¹", "CON .txt", "lpt2.log", "x."]:
        answer = http.post(f"{ds}/categories", json={"name": name})
        assert answer.status_code == 400, (name, answer.get_json())
        assert answer.get_json()["error"] == "invalid_name"
    assert http.get(ds).get_json()["category_map"] == {"Ab": 0}
