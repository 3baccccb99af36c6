"""The service as real processes: SIGKILL during stores, replicas sharing one data folder."""

from __future__ import annotations

import base64
import signal
import threading
import time

import cv2
import numpy as np
import requests
from helpers import API_KEY, make_png
from service_process import start_service, stop_service

from dicebox.store import DatasetStore

HEADERS = {"API-ACCESS-KEY": API_KEY, "API-VERSION": "0.3.0"}


def _store(url: str, seed: int, category: str) -> bool:
    body = {
        "name": "dice",
        "width": 60,
        "height": 50,
        "category": category,
        "data": base64.b64encode(make_png(seed)).decode(),
    }
    try:
        return requests.post(f"{url}/api/sensory/store", json=body, headers=HEADERS, timeout=5).status_code == 200
    except requests.RequestException:
        return False


def test_sigkill_during_a_stream_of_stores_loses_no_acknowledged_image(tmp_path):
    data_dir = tmp_path / "data"
    proc, url = start_service(data_dir)
    acknowledged: list[int] = []
    lock = threading.Lock()
    stop = threading.Event()

    def client(offset: int) -> None:
        seed = offset
        while not stop.is_set():
            if _store(url, seed, str(seed % 4)):
                with lock:
                    acknowledged.append(seed)
            seed += 4

    threads = [threading.Thread(target=client, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 30
    while len(acknowledged) < 150 and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    stop.set()
    for t in threads:
        t.join()
    proc.stdout.close()
    assert len(acknowledged) >= 150

    dataset = DatasetStore(data_dir / "datasets").dataset("dice_60x50")
    for seed in acknowledged:
        image = cv2.imdecode(np.frombuffer(make_png(seed), np.uint8), cv2.IMREAD_UNCHANGED)
        from dicebox.store.images import pixel_id

        image_id = pixel_id(image[:, :, None])
        path = dataset.image_path(image_id)  # raises NotFound if the index lost it
        assert path.parent.name == str(seed % 4)
        assert cv2.imread(str(path), cv2.IMREAD_UNCHANGED) is not None
    # Nothing half-written is visible where training reads.
    for png in dataset.data_dir.rglob("*.png"):
        assert cv2.imread(str(png), cv2.IMREAD_UNCHANGED) is not None, png
    assert len(dataset.arrays()) == dataset.count() >= len(acknowledged)


def test_two_replicas_on_one_folder_keep_and_see_everything(tmp_path):
    data_dir = tmp_path / "shared"
    one, url_one = start_service(data_dir)
    two, url_two = start_service(data_dir)
    try:
        results = []

        def writer(url: str, offset: int) -> None:
            results.extend(_store(url, offset + i, str(i % 3)) for i in range(40))

        # Each batch of seeds goes to both replicas at once: 80 distinct images, each sent twice.
        jobs = [(url_one, 0), (url_two, 0), (url_one, 1000), (url_two, 1000)]
        threads = [threading.Thread(target=writer, args=job) for job in jobs]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert all(results) and len(results) == 160
        for url in (url_one, url_two):
            info = requests.get(f"{url}/api/v1/datasets/dice_60x50", headers=HEADERS, timeout=5).json()
            assert info["count"] == 80, "duplicate seeds across writers are stored once"
            batch = requests.post(
                f"{url}/api/v1/datasets/dice_60x50/batch", json={"batch_size": 80}, headers=HEADERS, timeout=10
            )
            assert batch.status_code == 200
    finally:
        stop_service(one)
        stop_service(two)


def test_sigterm_stops_the_service_cleanly(tmp_path):
    proc, url = start_service(tmp_path / "data")
    assert requests.get(f"{url}/health/plain", timeout=5).json() is True
    proc.terminate()
    assert proc.wait(timeout=15) == 0
    proc.stdout.close()


def test_a_category_deleted_on_one_replica_leaves_batches_working_on_both(tmp_path):
    """Replica A stores into 'tmpcat' and deletes that image; B deletes the category; A stores
    into 'tmpcat' again. Both replicas must agree on the categories and answer batches."""
    data_dir = tmp_path / "shared"
    one, url_one = start_service(data_dir)
    two, url_two = start_service(data_dir)
    ds = "/api/v1/datasets/dice_60x50"
    try:
        assert _store(url_one, 1, "keep") and _store(url_one, 2, "tmpcat")
        ids = requests.get(f"{url_one}{ds}/images?category=tmpcat", headers=HEADERS, timeout=5).json()["images"]
        deleted = requests.delete(f"{url_one}{ds}/images/{ids[0]['id']}", headers=HEADERS, timeout=5)
        assert deleted.status_code == 200
        assert requests.delete(f"{url_two}{ds}/categories/tmpcat", headers=HEADERS, timeout=5).status_code == 200
        assert _store(url_one, 3, "tmpcat")
        for url in (url_one, url_two):
            info = requests.get(f"{url}{ds}", headers=HEADERS, timeout=5).json()
            assert info["category_map"] == {"keep": 0, "tmpcat": 1} and info["count"] == 2, url
            compat_map = requests.get(f"{url}/api/sensory/category", headers=HEADERS, timeout=5).json()
            assert compat_map == {"category_map": {"keep": 0, "tmpcat": 1}}, url
            answers = [
                requests.post(f"{url}/api/sensory/request", json={"batch_size": 2}, headers=HEADERS, timeout=10),
                requests.get(f"{url}{ds}/arrays", headers=HEADERS, timeout=10),
                requests.post(f"{url}{ds}/batch", json={"batch_size": 2}, headers=HEADERS, timeout=10),
            ]
            assert [a.status_code for a in answers] == [200, 200, 200], [a.text[:200] for a in answers]
            assert sorted(map(tuple, answers[0].json()["labels"])) == [(0, 1), (1, 0)]
    finally:
        stop_service(one)
        stop_service(two)
