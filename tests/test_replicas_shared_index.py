"""Replicas as on several machines: ``dicebox serve`` processes on one data folder, each with its own
``--index-dir``, connected by nothing but the shared folder (issue 18, item 3).

The bound these tests hold: a change acknowledged by one replica is seen by every other within
``VISIBLE_WITHIN`` seconds (the refresh is 0.1 s; benchmarks/bench_shared_index.py measures the
distribution), and a change addressed by id (reading, relabelling, deleting an image) works on
any replica at once.
"""

from __future__ import annotations

import base64
import signal
import time

import pytest
import requests
from helpers import API_KEY, make_png
from service_process import start_service, stop_service

from dicebox.images import read_npz

HEADERS = {"API-ACCESS-KEY": API_KEY, "API-VERSION": "0.3.0"}
DATASET = "dice_60x50"
VISIBLE_WITHIN = 2.0


class Replicas:
    def __init__(self, tmp_path) -> None:
        self.tmp = tmp_path
        self.data = tmp_path / "shared"
        self.data.mkdir()
        self.procs: dict[str, object] = {}
        self.urls: dict[str, str] = {}

    def start(self, name: str) -> str:
        proc, url = start_service(
            self.data, "--index-dir", str(self.tmp / f"index-{name}"), env={"DICEBOX_BROKER_URL": ""}
        )
        self.procs[name], self.urls[name] = proc, url
        return url

    def close(self) -> None:
        for proc in self.procs.values():
            stop_service(proc)


@pytest.fixture
def replicas(tmp_path):
    group = Replicas(tmp_path)
    for name in "abc":
        group.start(name)
    yield group
    group.close()


def store(url: str, i: int, category: str) -> None:
    body = {"name": "dice", "width": 60, "height": 50, "category": category,
            "data": base64.b64encode(make_png(i)).decode()}
    answer = requests.post(f"{url}/api/sensory/store", headers=HEADERS, json=body, timeout=30)
    assert answer.status_code == 200, answer.text


def info(url: str) -> dict:
    answer = requests.get(f"{url}/api/v1/datasets/{DATASET}", headers=HEADERS, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()


def counts(url: str) -> dict[str, int]:
    return {c["name"]: c["count"] for c in info(url)["categories"]}


def wait_for(check, what: str, within: float = VISIBLE_WITHIN) -> float:
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < within, f"{what}: not seen within {within} s"
        time.sleep(0.01)
    return time.monotonic() - started


def ids(url: str, category: str | None = None) -> list[str]:
    params = {"limit": 1000} | ({"category": category} if category else {})
    answer = requests.get(f"{url}/api/v1/datasets/{DATASET}/images", headers=HEADERS, params=params, timeout=10)
    assert answer.status_code == 200, answer.text
    return [image["id"] for image in answer.json()["images"]]


def test_a_store_on_one_replica_is_seen_by_every_other(replicas):
    a, b, c = (replicas.urls[n] for n in "abc")
    for i in range(9):
        store(a, i, str(i % 3))
    for url in (b, c):
        wait_for(lambda url=url: info(url)["count"] == 9, "stores on a")
    assert counts(b) == counts(c) == {"0": 3, "1": 3, "2": 3}
    assert sorted(ids(b)) == sorted(ids(a))
    image = requests.get(f"{c}/api/v1/datasets/{DATASET}/images/{ids(a)[0]}", headers=HEADERS, timeout=10)
    assert image.status_code == 200 and image.content.startswith(b"\x89PNG")
    batch = requests.post(f"{b}/api/sensory/request", headers=HEADERS, json={"batch_size": 9, "noise": 0}, timeout=30)
    assert batch.status_code == 200 and len(batch.json()["data"]) == 9
    placed = requests.post(f"{c}/api/v1/datasets/{DATASET}/orders", headers=HEADERS,
                           json={"batch_size": 9, "noise": 0}, timeout=30)
    assert placed.status_code == 202, placed.text
    items = requests.post(f"{b}/api/v1/orders/{placed.json()['order_id']}/items?max=9&wait=10",
                          headers=HEADERS, timeout=30)
    assert items.status_code == 200 and len(read_npz(items.content)) == 9
    # By id, an image stored on a is found on b at once, logs read or not.
    stored = requests.post(f"{a}/api/v1/datasets/{DATASET}/images", headers=HEADERS, timeout=10, json={
        "images": [{"category": "0", "data": base64.b64encode(make_png(100)).decode()}]})
    assert stored.status_code == 201, stored.text
    new_id = stored.json()["stored"][0]["id"]
    fetched = requests.get(f"{b}/api/v1/datasets/{DATASET}/images/{new_id}", headers=HEADERS, timeout=10)
    assert fetched.status_code == 200 and fetched.content.startswith(b"\x89PNG")

def test_deletes_relabels_and_categories_propagate(replicas):
    a, b, c = (replicas.urls[n] for n in "abc")
    for i in range(6):
        store(a, i, "red")
    first, second, *_ = ids(a)
    relabel = requests.post(f"{b}/api/v1/datasets/{DATASET}/images/relabel", headers=HEADERS,
                            json={"ids": [first], "category": "blue"}, timeout=10)
    assert relabel.status_code == 200 and relabel.json()["relabelled"] == 1, relabel.text
    deleted = requests.delete(f"{c}/api/v1/datasets/{DATASET}/images/{second}", headers=HEADERS, timeout=10)
    assert deleted.status_code == 200, deleted.text
    for url in (a, b, c):
        wait_for(lambda url=url: counts(url) == {"blue": 1, "red": 4}, "relabel on b and delete on c")
    created = requests.post(f"{a}/api/v1/datasets/{DATASET}/categories", headers=HEADERS, json={"name": "green"},
                            timeout=10)
    assert created.status_code == 201
    for url in (b, c):
        wait_for(lambda url=url: "green" in counts(url), "category made on a")
    gone = requests.delete(f"{b}/api/v1/datasets/{DATASET}/categories/green", headers=HEADERS, timeout=10)
    assert gone.status_code == 200, gone.text
    for url in (a, c):
        wait_for(lambda url=url: "green" not in counts(url), "category deleted on b")
    category_map = requests.get(f"{c}/api/sensory/category", headers=HEADERS, timeout=10).json()["category_map"]
    assert category_map == {"blue": 0, "red": 1}


def test_a_replica_started_later_and_one_killed_lose_nothing(replicas):
    a, b = replicas.urls["a"], replicas.urls["b"]
    for i in range(20):
        store(a, i, str(i % 2))
    replicas.procs["a"].send_signal(signal.SIGKILL)  # right after its last acknowledgement
    replicas.procs["a"].wait(timeout=10)
    wait_for(lambda: info(b)["count"] == 20, "stores acknowledged by a replica killed at once")
    late = replicas.start("late")
    assert info(late)["count"] == 20 and counts(late) == counts(b)
    again = replicas.start("a")  # the killed one again, with the index it had
    assert info(again)["count"] == 20 and sorted(ids(again)) == sorted(ids(late))
    store(late, 500, "1")
    for url in (again, b):
        wait_for(lambda url=url: info(url)["count"] == 21, "a store on the late replica")
