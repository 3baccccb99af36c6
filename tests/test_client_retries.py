"""The client repeats a request only when repeating it cannot do the work twice.

A slow answer to a POST that places an order may come after the order was placed: repeating it
would place a second one. Stores are different (the service keeps an image once, by its pixels),
and so is a request that never reached the service.
"""

from __future__ import annotations

import socket
import threading
import time

import pytest
from flask import Flask, jsonify
from helpers import API_KEY, make_png

from dicebox.batches import BrokerUnavailable
from dicebox.client.http import OutcomeUnknown, SensoryClient, ServiceUnavailable
from dicebox.service import service_context
from dicebox.service.server import ServiceServer

DATASET = "dice_60x50"


def slow_once(fn, seconds: float):
    """``fn``, except that its first call waits ``seconds`` first (then does its work)."""
    calls = []

    def wrapper(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            time.sleep(seconds)
        return fn(*args, **kwargs)

    wrapper.calls = calls
    return wrapper


def orders_placed(app) -> int:
    return service_context(app).batches.health()["orders"]


@pytest.fixture
def stocked(live_service):
    url, app = live_service
    with SensoryClient(url, API_KEY) as client:
        client.store_images(DATASET, [(make_png(i), str(i % 2)) for i in range(10)])
    return url, app


def test_a_slow_order_is_placed_once(stocked):
    url, app = stocked
    batches = service_context(app).batches
    batches.place = slow_once(batches.place, 1.2)
    client = SensoryClient(url, API_KEY, timeout=0.4, retries=3, backoff=0.05)
    with pytest.raises(OutcomeUnknown, match="may have been carried out"):
        client.place_order(DATASET, 4)
    time.sleep(1.5)  # the slow request finishes on the service
    assert orders_placed(app) == 1 and len(batches.place.calls) == 1


def test_an_order_the_service_could_not_take_is_placed_again(stocked):
    url, app = stocked
    batches = service_context(app).batches
    real_place, calls = batches.place, []

    def broker_down_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise BrokerUnavailable("the broker is not connected")  # 503: nothing was placed
        return real_place(*args, **kwargs)

    batches.place = broker_down_once
    client = SensoryClient(url, API_KEY, timeout=5, retries=2, backoff=0.05)
    order_id = client.place_order(DATASET, 4)
    assert client.order_status(order_id)["batch_size"] == 4
    assert orders_placed(app) == 1 and len(calls) == 2


def test_an_order_is_placed_once_the_service_listens(stocked):
    url, app = stocked
    with socket.socket() as probe:  # a port nothing listens on yet: the request is never sent
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = []
    timer = threading.Timer(0.3, lambda: started.append(ServiceServer(app, "127.0.0.1", port, threads=2).start()))
    timer.start()
    try:
        client = SensoryClient(f"http://127.0.0.1:{port}", API_KEY, timeout=5, retries=6, backoff=0.2)
        order_id = client.place_order(DATASET, 4)
        assert client.order_status(order_id)["state"]
        assert orders_placed(app) == 1
    finally:
        timer.join()
        for server in started:
            server.close()


def test_a_slow_store_is_repeated_and_the_image_stored_once(stocked):
    url, app = stocked
    dataset = service_context(app).store.dataset(DATASET)
    dataset.store_many = slow_once(dataset.store_many, 1.2)
    client = SensoryClient(url, API_KEY, timeout=0.4, retries=5, backoff=0.3)
    client.store("dice", 60, 50, "1", make_png(100))  # the original's route, with the client's timeout
    assert len(dataset.store_many.calls) >= 2, "the store was repeated after the timeout"
    time.sleep(1.0)  # the slow request finishes on the service: a duplicate, kept once
    assert client.dataset_info(DATASET)["count"] == 11


@pytest.fixture
def gateway_timeout():
    """A proxy that answers 504 to every order (the service behind it may have placed it)."""
    app, seen = Flask("proxy"), []

    @app.post("/api/v1/datasets/<ident>/orders")
    def order(ident: str):
        seen.append(ident)
        return jsonify({"error": "gateway_timeout", "message": "upstream timed out"}), 504

    @app.post("/api/v1/datasets/<ident>/batch")
    def batch(ident: str):
        seen.append(ident)
        return jsonify({"error": "gateway_timeout", "message": "upstream timed out"}), 504

    server = ServiceServer(app, "127.0.0.1", 0, threads=2).start()
    yield server.url, seen
    server.close()


def test_an_order_answered_504_is_not_repeated(gateway_timeout):
    url, seen = gateway_timeout
    client = SensoryClient(url, API_KEY, retries=3, backoff=0.01)
    with pytest.raises(OutcomeUnknown, match="504"):
        client.place_order(DATASET, 4)
    assert len(seen) == 1
    with pytest.raises(ServiceUnavailable, match="504: upstream timed out"):
        client.batch(DATASET, 4)  # a batch only reads: repeated
    assert len(seen) == 1 + 4
