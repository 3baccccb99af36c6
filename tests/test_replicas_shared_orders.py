"""Replicas on one data folder: an order placed on one is answered by any other, and survives its placer."""

from __future__ import annotations

import base64
import os
import time

import pytest
import requests
from helpers import API_KEY, make_png
from service_process import start_service, stop_service

from dicebox.batches.fill import order_selection, snapshot
from dicebox.batches.folder import LEASE_SECONDS, ORDERS_FOLDER, FolderOrderBook
from dicebox.batches.orders import plan_order
from dicebox.images import read_npz
from dicebox.store import DatasetStore

HEADERS = {"API-ACCESS-KEY": API_KEY, "API-VERSION": "0.3.0"}
DATASET = "dice_60x50"


@pytest.fixture
def replicas(tmp_path):
    """Two ``dicebox serve`` processes on one data folder (no broker); stopped afterwards."""
    data = tmp_path / "data"
    data.mkdir()
    env = {"DICEBOX_SHARD_SIZE": "7", "DICEBOX_BROKER_URL": ""}
    started = [start_service(data, env=env) for _ in range(2)]
    yield [url for _proc, url in started]
    for proc, _url in started:
        stop_service(proc)


def store(url: str, i: int, categories: int = 3) -> None:
    stored = requests.post(
        f"{url}/api/sensory/store",
        headers=HEADERS,
        timeout=30,
        json={
            "name": "dice",
            "width": 60,
            "height": 50,
            "category": str(i % categories),
            "data": base64.b64encode(make_png(i)).decode(),
        },
    )
    assert stored.status_code == 200, stored.text


def wait_ready(url: str, order_id: str, timeout: float = 20) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        status = requests.get(f"{url}/api/v1/orders/{order_id}", headers=HEADERS, timeout=10)
        assert status.status_code == 200, status.text
        if status.json()["state"] == "ready" or time.monotonic() > deadline:
            return status.json()
        time.sleep(0.05)


def test_an_order_placed_on_one_replica_is_collected_through_another(replicas):
    first, second = replicas
    for i in range(30):
        store(first, i, 3)
    placed = requests.post(
        f"{first}/api/v1/datasets/{DATASET}/orders", headers=HEADERS, json={"batch_size": 20, "noise": 0}, timeout=30
    )
    assert placed.status_code == 202, placed.text
    order_id = placed.json()["order_id"]
    status = wait_ready(second, order_id)
    assert (status["state"], status["ready"], status["shards_done"]) == ("ready", 20, 3)
    seen = []
    for url in (second, first, second):  # each collect goes to a different replica than the last
        answer = requests.post(f"{url}/api/v1/orders/{order_id}/items?max=8", headers=HEADERS, timeout=30)
        assert answer.status_code == 200, answer.text
        seen.extend(image.tobytes() for image in read_npz(answer.content).images)
    assert len(seen) == 20 and len(set(seen)) == 20, "every item exactly once"
    done = requests.get(f"{first}/api/v1/orders/{order_id}", headers=HEADERS, timeout=10).json()
    assert (done["state"], done["delivered"]) == ("delivered", 20)


def test_compat_batch_placed_on_one_replica_is_polled_on_the_others(replicas):
    first, second = replicas
    for i in range(12):
        store(second, i, 2)
    batch = requests.post(
        f"{first}/api/sensory/batch", headers=HEADERS, json={"batch_size": 10, "noise": 0}, timeout=30
    )
    assert batch.status_code == 200, batch.text
    batch_id = batch.json()["batch_id"]
    wait_ready(second, batch_id)
    polled = []
    for n in range(11):
        answer = requests.post(
            f"{replicas[n % 2]}/api/sensory/poll", headers=HEADERS, json={"batch_id": batch_id}, timeout=30
        )
        assert answer.status_code == 200, answer.text
        polled.append(answer.json())
    assert all(p["data"] for p in polled[:10])
    assert len({str(p["data"]) for p in polled[:10]}) == 10, "every item exactly once"
    assert polled[10] == {"label": [], "data": []}, "the order is used up: nothing more"


def test_an_order_whose_placer_died_is_completed_by_another_replica(tmp_path):
    """A placer killed between acknowledging an order and filling it: another replica fills it, with
    the images the order chose when it was placed, although the data set has grown since."""
    data = tmp_path / "data"
    data.mkdir()
    proc, url = start_service(data, env={"DICEBOX_SHARD_SIZE": "5", "DICEBOX_BROKER_URL": ""})
    try:
        for i in range(15):
            store(url, i, 3)
        # What the dead placer left: the order acknowledged, every shard claimed, nothing filled.
        store_here = DatasetStore(data / "datasets")
        try:
            dataset = store_here.dataset(DATASET, create=False)
            content, ids = snapshot(dataset)
            plan = plan_order(dataset, 12, 0.0, shard_size=5, content=content)
            chosen = order_selection(plan.seed, len(content), plan.batch_size)
            expected = {content.images[i].tobytes() for i in chosen}
        finally:
            store_here.close()
        for i in range(15, 30):
            store(url, i, 3)
        book = FolderOrderBook(data / "datasets" / ORDERS_FOLDER, 60)
        book.add(plan, claim=True, selection=[ids[i] for i in chosen])
        for claim in (data / "datasets" / ORDERS_FOLDER / plan.order_id).glob("claim-*"):
            os.utime(claim, (time.time() - LEASE_SECONDS - 1,) * 2)  # the placer stopped renewing them
        status = wait_ready(url, plan.order_id, timeout=30)
        assert (status["state"], status["ready"], status["shards_done"]) == ("ready", 12, 3), status
        answer = requests.post(f"{url}/api/v1/orders/{plan.order_id}/items?max=100", headers=HEADERS, timeout=30)
        images = read_npz(answer.content).images
        assert len(images) == 12 and {i.tobytes() for i in images} == expected
    finally:
        stop_service(proc)
