"""Batch orders filled inside the service: exact items, shards, retry-safe collecting, expiry, bad input."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from batch_support import assert_exact, expected_selection, fill_dataset
from helpers import API_KEY

from dicebox.batches.book import OrderBook
from dicebox.batches.orders import MAX_SHARD_BYTES, OrderFailed, OrderNotFound, plan_order
from dicebox.client.http import ClientError, NotFoundError, OrderCancelled
from dicebox.config import load_config
from dicebox.images import read_npz
from dicebox.service import create_app, service_context
from dicebox.store import StoreError

ORDERS = "/api/v1/datasets/dice_60x50/orders"


@pytest.fixture
def make_app(tmp_path):
    """An app factory with extra environment settings; every app and backend is closed afterwards."""
    apps = []

    def make(**env):
        settings = {"DICEBOX_HOME": str(tmp_path / "home"), "DICEBOX_API_ACCESS_KEY": API_KEY, **env}
        app = create_app(load_config(env=settings))
        apps.append(app)
        client = app.test_client()
        client.environ_base.update({"HTTP_API_ACCESS_KEY": API_KEY, "HTTP_API_VERSION": "0.3.0"})
        return app, client

    yield make
    for app in apps:
        service_context(app).batches.close()
        service_context(app).store.close()


def wait_state(client, order_id: str, states: set[str], timeout: float = 10) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        status = client.get(f"/api/v1/orders/{order_id}").get_json()
        if status["state"] in states or time.monotonic() > deadline:
            return status
        time.sleep(0.02)


def test_order_in_shards_delivers_exactly_the_items_asked(make_app):
    app, http = make_app(DICEBOX_SHARD_SIZE="7")
    dataset = service_context(app).default_dataset()
    truth = fill_dataset(dataset, 40)
    placed = http.post(ORDERS, json={"batch_size": 33, "noise": 0, "seed": 5})
    assert placed.status_code == 202 and placed.headers["Location"] == f"/api/v1/orders/{placed.get_json()['order_id']}"
    order = placed.get_json()
    assert order["shards_total"] == 5 and order["batch_size"] == 33 and order["state"] in ("filling", "ready")
    status = wait_state(http, order["order_id"], {"ready"})
    assert (status["ready"], status["shards_done"], status["delivered"]) == (33, 5, 0)
    chunks = []
    while sum(map(len, chunks)) < 33:
        answer = http.post(f"/api/v1/orders/{order['order_id']}/items?max=6")
        assert answer.status_code == 200 and answer.mimetype == "application/x-npz"
        chunks.append(read_npz(answer.data))
    assert answer.headers["X-Order-State"] == "delivered" and answer.headers["X-Order-Delivered"] == "33"
    items = chunks[0]
    items = type(items)(
        np.concatenate([c.images for c in chunks]), np.concatenate([c.labels for c in chunks]), items.categories
    )
    assert_exact(items, truth, 33, expected_selection(dataset, 33, 5))
    # Nothing more to collect: zero items, still a valid npz.
    assert len(read_npz(http.post(f"/api/v1/orders/{order['order_id']}/items").data)) == 0


def test_noise_and_compat_batch_and_poll(make_app):
    app, http = make_app()
    fill_dataset(service_context(app).default_dataset(), 12, categories=4)
    batch_id = http.post("/api/sensory/batch", json={"batch_size": 5, "noise": 0.5}).get_json()["batch_id"]
    items = []
    deadline = time.monotonic() + 10
    while len(items) < 5 and time.monotonic() < deadline:
        answer = http.post("/api/sensory/poll", json={"batch_id": batch_id}).get_json()
        if answer["label"]:
            items.append(answer)
    assert len(items) == 5
    for item in items:
        assert sorted(item["label"]) == [0, 0, 0, 1]
        assert np.array(item["data"]).shape == (50, 60, 1)
    assert http.post("/api/sensory/poll", json={"batch_id": batch_id}).get_json() == {"label": [], "data": []}


def test_shards_stay_under_the_message_size_limit(app):
    dataset = service_context(app).default_dataset()
    fill_dataset(dataset, 10)
    plan = plan_order(dataset, 10, 0.0, shard_size=10**9)
    assert len(plan.shards) == 1
    assert plan.shards[0].count == 10 and MAX_SHARD_BYTES // (60 * 50) > 4000


def test_a_repeated_shard_result_is_dropped(app):
    dataset = service_context(app).default_dataset()
    fill_dataset(dataset, 20)
    plan = plan_order(dataset, 20, 0.0, shard_size=8)
    book = OrderBook(60)
    book.add(plan)
    from dicebox.batches.fill import fill_shard

    results = [fill_shard(dataset, shard) for shard in plan.shards]
    assert [book.deliver(plan.order_id, 1, results[1]) for _ in range(3)] == [True, False, False]
    assert book.deliver(plan.order_id, 0, results[0]) and book.deliver(plan.order_id, 2, results[2])
    assert not book.deliver(plan.order_id, 0, results[0])
    status = book.status(plan.order_id)
    assert (status.ready, status.shards_done, status.state) == (20, 3, "ready")
    assert not book.deliver("no-such-order", 0, results[0])


def test_collecting_again_from_the_same_position_gives_the_same_items(make_app):
    app, http = make_app(DICEBOX_SHARD_SIZE="4")
    fill_dataset(service_context(app).default_dataset(), 20)
    order_id = http.post(ORDERS, json={"batch_size": 10}).get_json()["order_id"]
    wait_state(http, order_id, {"ready"})
    items = f"/api/v1/orders/{order_id}/items"
    first = read_npz(http.post(f"{items}?start=0&max=6").data)
    again = read_npz(http.post(f"{items}?start=0&max=6").data)
    assert len(first) == 6 and np.array_equal(first.images, again.images)
    rest = read_npz(http.post(f"{items}?start=6&max=100").data)
    assert len(rest) == 4
    released = http.post(f"{items}?start=0")
    assert released.status_code == 409 and released.get_json()["error"] == "items_released"
    beyond = http.post(f"{items}?start=11")
    assert beyond.status_code == 409 and beyond.get_json()["error"] == "not_handed_out"


def test_an_uncollected_order_expires_and_frees_its_items(make_app):
    app, http = make_app(DICEBOX_ORDER_EXPIRY_SECONDS="0.3")
    fill_dataset(service_context(app).default_dataset(), 10)
    order_id = http.post(ORDERS, json={"batch_size": 10}).get_json()["order_id"]
    book = service_context(app).batches._book
    deadline = time.monotonic() + 5
    while len(book) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(book) == 0, "the reaper dropped the order"
    status = http.get(f"/api/v1/orders/{order_id}").get_json()
    assert status["state"] == "expired" and status["expired"] and status["ready"] == 0
    gone = http.post(f"/api/v1/orders/{order_id}/items")
    assert gone.status_code == 410 and gone.get_json()["error"] == "expired"
    assert http.post("/api/sensory/poll", json={"batch_id": order_id}).status_code == 410


def test_a_shard_that_cannot_be_filled_fails_the_order(make_app, monkeypatch):
    def broken(*_args):
        raise StoreError("the disk went away")

    monkeypatch.setattr("dicebox.batches.embedded.fill_shard", broken)
    app, http = make_app()
    fill_dataset(service_context(app).default_dataset(), 5)
    order_id = http.post(ORDERS, json={"batch_size": 5}).get_json()["order_id"]
    status = wait_state(http, order_id, {"failed"})
    assert status["failed"] and "the disk went away" in status["error"]
    answer = http.post(f"/api/v1/orders/{order_id}/items")
    assert answer.status_code == 409 and answer.get_json()["error"] == "order_failed"
    with pytest.raises(OrderFailed):
        service_context(app).batches.take(order_id, 1)


def test_cancel(make_app):
    app, http = make_app()
    fill_dataset(service_context(app).default_dataset(), 5)
    order_id = http.post(ORDERS, json={"batch_size": 5}).get_json()["order_id"]
    assert http.delete(f"/api/v1/orders/{order_id}").get_json() == {"order_id": order_id, "cancelled": True}
    assert http.get(f"/api/v1/orders/{order_id}").status_code == 404
    assert http.delete(f"/api/v1/orders/{order_id}").status_code == 404
    with pytest.raises(OrderNotFound):
        service_context(app).batches.status(order_id)


UNKNOWN = "6e0f6f3c-3d7e-4f69-9d0a-2c4b0e4b9a11"
BAD_REQUESTS = [
    ("post", ORDERS, {"batch_size": 0}, 400, "invalid_field"),
    ("post", ORDERS, {"batch_size": -3}, 400, "invalid_field"),
    ("post", ORDERS, {"batch_size": "5"}, 400, "invalid_field"),
    ("post", ORDERS, {"batch_size": 2.5}, 400, "invalid_field"),
    ("post", ORDERS, {"batch_size": True}, 400, "invalid_field"),
    ("post", ORDERS, {"batch_size": 11}, 409, "invalid_batch_size"),
    ("post", ORDERS, {"batch_size": 2, "noise": 1.5}, 400, "invalid_field"),
    ("post", ORDERS, {"batch_size": 2, "noise": -0.1}, 400, "invalid_field"),
    ("post", ORDERS, {"batch_size": 2, "noise": "x"}, 400, "invalid_field"),
    ("post", ORDERS, {"batch_size": 2, "seed": -1}, 400, "invalid_field"),
    ("post", ORDERS, {}, 400, "invalid_field"),
    ("post", "/api/v1/datasets/nothing_1x1/orders", {"batch_size": 1}, 404, "not_found"),
    ("post", "/api/v1/datasets/no-size/orders", {"batch_size": 1}, 400, "invalid_name"),
    ("post", "/api/sensory/batch", {"batch_size": 11}, 409, "invalid_batch_size"),
    ("post", "/api/sensory/batch", {"batch_size": 0}, 400, "invalid_field"),
    ("post", "/api/sensory/batch", {"batch_size": 1, "noise": 2}, 400, "invalid_field"),
    ("post", "/api/sensory/poll", {"batch_id": "not-a-uuid"}, 400, "invalid_order_id"),
    ("post", "/api/sensory/poll", {"batch_id": 7}, 400, "invalid_field"),
    ("post", "/api/sensory/poll", {}, 400, "invalid_field"),
    ("post", "/api/sensory/poll", {"batch_id": UNKNOWN}, 404, "not_found"),
    ("get", "/api/v1/orders/not-a-uuid", None, 400, "invalid_order_id"),
    ("get", f"/api/v1/orders/{UNKNOWN}", None, 404, "not_found"),
    ("delete", f"/api/v1/orders/{UNKNOWN}", None, 404, "not_found"),
    ("post", f"/api/v1/orders/{UNKNOWN}/items", None, 404, "not_found"),
    ("post", "/api/v1/orders/zzz/items", None, 400, "invalid_order_id"),
    ("post", f"/api/v1/orders/{UNKNOWN}/items?max=0", None, 400, "invalid_parameter"),
    ("post", f"/api/v1/orders/{UNKNOWN}/items?wait=11", None, 400, "invalid_parameter"),
    ("post", f"/api/v1/orders/{UNKNOWN}/items?wait=nan", None, 400, "invalid_parameter"),
]


@pytest.mark.parametrize("method, path, body, status, code", BAD_REQUESTS)
def test_bad_input_gets_a_clear_error(make_app, method, path, body, status, code):
    app, http = make_app()
    fill_dataset(service_context(app).default_dataset(), 10)
    answer = getattr(http, method)(path, json=body) if body is not None else getattr(http, method)(path)
    assert answer.status_code == status, answer.get_data(as_text=True)
    error = answer.get_json()
    assert error["error"] == code and error["message"]


def test_large_batch_over_real_http_with_progress_and_cancel(sensory_client, live_service):
    _url, app = live_service
    dataset = service_context(app).default_dataset()
    truth = fill_dataset(dataset, 60)
    seen = []
    batch = sensory_client.large_batch(
        "dice_60x50", 50, progress=lambda done, total: seen.append((done, total)), seed=9, chunk=16
    )
    assert_exact(batch, truth, 50, expected_selection(dataset, 50, 9))
    assert seen[-1] == (50, 50) and all(total == 50 for _, total in seen)
    assert len(service_context(app).batches._book) == 0, "large_batch deletes its order when done"

    stop = threading.Event()
    stop.set()
    with pytest.raises(OrderCancelled):
        sensory_client.large_batch("dice_60x50", 10, cancel=stop)
    assert len(service_context(app).batches._book) == 0
    with pytest.raises(ClientError) as too_big:
        sensory_client.large_batch("dice_60x50", 61)
    assert too_big.value.status == 409

    batch_id = sensory_client.batch_order(3)
    items = []
    while len(items) < 3:
        label, data = sensory_client.poll(batch_id)
        if label:
            items.append((label, data))
    assert sensory_client.poll(batch_id) == ([], [])
    order_id = sensory_client.place_order("dice_60x50", 4)
    assert sensory_client.order_status(order_id)["batch_size"] == 4
    got = sensory_client.collect(order_id, wait=2)
    assert len(got.items) == 4 and got.state == "delivered" and got.delivered == 4
    sensory_client.cancel_order(order_id)
    with pytest.raises(NotFoundError):
        sensory_client.order_status(order_id)


def test_batch_processor_needs_a_broker(tmp_path, capsys):
    from dicebox.cli import main

    assert main(["batch-processor", "--data-dir", str(tmp_path)]) == 2
    assert "no broker configured" in capsys.readouterr().err
