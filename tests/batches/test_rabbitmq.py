"""Batch orders through the real RabbitMQ broker and real ``dicebox batch-processor`` processes.

Processors are killed mid-shard, the broker is restarted under pending orders, results arrive twice:
every order still delivers exactly the items asked, none lost, none repeated.
"""

from __future__ import annotations

import re
import subprocess
import time

import numpy as np
import pika
import pytest
import requests
from batch_support import Processor, assert_exact, ensure_broker_running, expected_selection, fill_dataset
from helpers import API_KEY
from service_process import start_service, stop_service

from dicebox.batches.fill import fill_shard
from dicebox.batches.shards import decode_order, encode_result
from dicebox.client.http import SensoryClient
from dicebox.config import load_config
from dicebox.images import LabelledImages
from dicebox.service import create_app, service_context
from dicebox.service.server import ServiceServer
from dicebox.store import DatasetStore

pytestmark = pytest.mark.broker


@pytest.fixture
def service(broker, tmp_path):
    """The service (in this process, over real HTTP) using the broker: (client, app, data folder)."""
    home = tmp_path / "home"
    app = create_app(load_config(env={**broker.env, "DICEBOX_HOME": str(home)}))
    server = ServiceServer(app, "127.0.0.1", 0, threads=8).start()
    client = SensoryClient(server.url, API_KEY, retries=2, backoff=0.1)
    processors: list[Processor] = []
    yield client, app, home, processors
    for processor in processors:
        processor.kill()
    client.close()
    server.close()
    service_context(app).batches.close()
    service_context(app).store.close()


def start_processors(service, broker, count: int, *extra: str) -> list[Processor]:
    _client, _app, home, processors = service
    started = [Processor(home, broker.env, *extra) for _ in range(count)]
    processors.extend(started)
    return started


def collect_all(client: SensoryClient, order_id: str, batch_size: int, timeout: float = 60) -> LabelledImages:
    """Collect an order to the end with retry-safe positions (like large_batch, for a placed order)."""
    images, labels, categories = [], [], ()
    received = 0
    deadline = time.monotonic() + timeout
    while received < batch_size:
        assert time.monotonic() < deadline, f"only {received} of {batch_size} items after {timeout} s: " \
                                            f"{client.order_status(order_id)}"
        got = client.collect(order_id, start=received, wait=1).items
        if len(got):
            images.append(got.images)
            labels.append(got.labels)
            categories = got.categories
            received += len(got)
    return LabelledImages(np.concatenate(images), np.concatenate(labels), categories)


def test_order_completes_with_exactly_the_items_asked(service, broker):
    client, app, _home, _ = service
    dataset = service_context(app).default_dataset()
    truth = fill_dataset(dataset, 320)
    processors = start_processors(service, broker, 2)
    progress = []
    batch = client.large_batch("dice_60x50", 300, seed=11, progress=lambda done, total: progress.append(done))
    assert_exact(batch, truth, 300, expected_selection(dataset, 300, 11))
    assert progress[-1] == 300
    health = client._call("GET", "/api/v1/health").json()["batch_orders"]
    assert health["backend"] == "rabbitmq" and health["connected"] is True
    # The original routes on the same backend.
    batch_id = client.batch_order(2, noise=0.4)
    polled = []
    deadline = time.monotonic() + 20
    while len(polled) < 2 and time.monotonic() < deadline:
        label, data = client.poll(batch_id)
        if label:
            polled.append(data)
        else:
            time.sleep(0.05)
    assert len(polled) == 2 and np.array(polled[0]).shape == (50, 60, 1)
    for processor in processors:
        assert processor.stop() == 0, processor.output()
        assert "stopped after filling" in processor.output()


def test_repeated_shard_results_are_dropped(service, broker):
    """Each shard's result published twice (as after a redelivery): the order still has exactly N items."""
    client, app, home, _ = service
    dataset = service_context(app).default_dataset()
    truth = fill_dataset(dataset, 120)
    order_id = client.place_order("dice_60x50", 100, seed=3)
    store = DatasetStore(home / "datasets")
    connection = pika.BlockingConnection(pika.URLParameters(broker.url))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        for _ in range(2):
            method, _props, body = channel.basic_get(broker.task_queue)
            assert method is not None, "both shard orders are in the task queue"
            shard = decode_order(body)
            payload = encode_result(shard, fill_shard(store.dataset(shard.dataset), shard))
            for _copy in range(2):
                channel.basic_publish("", order_id, payload, pika.BasicProperties(delivery_mode=2))
            channel.basic_ack(method.delivery_tag)
    finally:
        connection.close()
        store.close()
    batch = collect_all(client, order_id, 100, timeout=20)
    assert_exact(batch, truth, 100, expected_selection(dataset, 100, 3))
    time.sleep(0.3)
    status = client.order_status(order_id)
    assert (status["delivered"], status["ready"], status["shards_done"]) == (100, 0, 2)


def test_sigkill_in_the_middle_of_a_shard_loses_and_repeats_nothing(service, broker):
    client, app, _home, _ = service
    dataset = service_context(app).default_dataset()
    truth = fill_dataset(dataset, 420)
    # 50 items per shard at 10 ms each: half a second per shard, easy to interrupt.
    victim, survivor = start_processors(service, broker, 2, "--max-items-per-second", "100")
    order_id = client.place_order("dice_60x50", 400, seed=21)
    line = victim.wait_for("filling shard", 20)
    assert line, victim.output()
    time.sleep(0.15)
    victim.kill()
    shard = re.search(r"filling shard (\d+/\d+) of order", line).group(1)
    assert f"shard {shard} of order {order_id} delivered" not in victim.output(), "killed mid-shard"
    batch = collect_all(client, order_id, 400)
    assert_exact(batch, truth, 400, expected_selection(dataset, 400, 21))
    assert f"filling shard {shard} of order {order_id}" in survivor.output(), "the broker redelivered the shard"


def test_heartbeats_survive_a_shard_longer_than_the_heartbeat(service, broker):
    client, app, _home, _ = service
    truth = fill_dataset(service_context(app).default_dataset(), 40)
    # One shard of 40 items at 0.1 s each (4 s) on a connection with a 1 s heartbeat.
    (processor,) = start_processors(service, broker, 1, "--broker", f"{broker.url}?heartbeat=1",
                                    "--max-items-per-second", "10")
    batch = client.large_batch("dice_60x50", 40)
    assert_exact(batch, truth, 40)
    assert "unavailable" not in processor.output(), processor.output()


def test_orders_pending_across_a_broker_restart_complete(service, broker):
    client, app, _home, _ = service
    dataset = service_context(app).default_dataset()
    truth = fill_dataset(dataset, 220)
    # 8 shards of 1.5 s on 2 processors: most are still pending when the broker goes away.
    start_processors(service, broker, 2, "--max-items-per-second", "33")
    orders = {client.place_order("dice_60x50", 200, seed=seed): seed for seed in (1, 2)}
    first = next(iter(orders))
    deadline = time.monotonic() + 20
    while client.order_status(first)["shards_done"] < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        subprocess.run(["rabbitmqctl", "stop_app"], check=True, capture_output=True, timeout=60)
        statuses = [client.order_status(order_id) for order_id in orders]
        assert sum(s["shards_done"] for s in statuses) < 8, "orders were pending when the broker stopped"
        # Stopping the broker can take a while on a slow machine: the first order may finish meanwhile.
        assert any(s["state"] == "filling" for s in statuses), statuses
        assert client.health(), "the service keeps answering while the broker is away"
        time.sleep(1)
    finally:
        ensure_broker_running()
    for order_id, seed in orders.items():
        batch = collect_all(client, order_id, 200, timeout=90)
        assert_exact(batch, truth, 200, expected_selection(dataset, 200, seed))


def test_unreachable_broker_is_a_quick_503_and_the_rest_keeps_working(tmp_path):
    data_dir = tmp_path / "data"
    store = DatasetStore(data_dir / "datasets")
    fill_dataset(store.dataset("dice_60x50"), 5)
    store.close()
    proc, url = start_service(data_dir, "--broker", "amqp://guest:guest@127.0.0.1:1/")
    headers = {"API-ACCESS-KEY": API_KEY, "API-VERSION": "0.3.0"}
    try:
        for path in ("/api/v1/datasets/dice_60x50/orders", "/api/sensory/batch"):
            started = time.monotonic()
            answer = requests.post(f"{url}{path}", json={"batch_size": 2}, headers=headers, timeout=30)
            assert time.monotonic() - started < 5
            assert answer.status_code == 503, answer.text
            assert answer.json()["error"] == "unavailable" and "broker" in answer.json()["message"]
            assert "guest:guest" not in answer.text
        assert requests.get(f"{url}/health/plain", timeout=5).text == "true"
        assert requests.get(f"{url}/api/v1/datasets/dice_60x50", headers=headers, timeout=5).json()["count"] == 5
        health = requests.get(f"{url}/api/v1/health", timeout=5).json()["batch_orders"]
        assert health["backend"] == "rabbitmq" and health["connected"] is False and health["last_error"]
    finally:
        stop_service(proc)
