"""The native API: many images per request, binary batches, counts, delete and relabel."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import make_png

from dicebox.client.http import ClientError, NotFoundError, SensoryClient, ServiceUnavailable, Unauthorized


def test_store_many_and_info(sensory_client):
    stored = sensory_client.store_images("dice_60x50", [(make_png(i), str(i % 2)) for i in range(10)])
    assert len(stored) == 10 and not any(s["duplicate"] for s in stored)
    info = sensory_client.dataset_info("dice_60x50")
    assert info["count"] == 10 and info["width"] == 60 and info["height"] == 50 and info["channels"] == 1
    assert info["categories"] == [{"name": "0", "index": 0, "count": 5}, {"name": "1", "index": 1, "count": 5}]
    again = sensory_client.store_images("dice_60x50", [(make_png(0), "0")])
    assert again[0]["duplicate"] and sensory_client.dataset_info("dice_60x50")["count"] == 10


def test_arrays_can_be_stored_directly(sensory_client):
    image = np.full((50, 60, 1), 77, np.uint8)
    sensory_client.store_images("dice_60x50", [(image, "grey")])
    arrays = sensory_client.arrays("dice_60x50")
    assert arrays.images.shape == (1, 50, 60, 1) and int(arrays.images.max()) == 77
    assert arrays.categories == ("grey",) and arrays.version


def test_binary_batch(sensory_client):
    sensory_client.store_images("dice_60x50", [(make_png(i), str(i % 3)) for i in range(30)])
    batch = sensory_client.batch("dice_60x50", 12, noise=0.2, seed=3)
    assert batch.images.shape == (12, 50, 60, 1) and batch.images.dtype == np.uint8
    assert batch.categories == ("0", "1", "2") and batch.labels.dtype == np.int64
    same = sensory_client.batch("dice_60x50", 12, noise=0.2, seed=3)
    assert np.array_equal(same.images, batch.images), "a seed makes a batch reproducible"


def test_list_get_delete_relabel(sensory_client):
    ids = [s["id"] for s in sensory_client.store_images("dice_60x50", [(make_png(i), "a") for i in range(5)])]
    listing = sensory_client.list_images("dice_60x50", category="a", limit=3)
    assert listing["total"] == 5 and len(listing["images"]) == 3
    assert sensory_client.image_png("dice_60x50", ids[0]).startswith(b"\x89PNG")
    assert sensory_client.relabel_images("dice_60x50", ids[:2], "b") == 2
    assert sensory_client.delete_images("dice_60x50", ids[4:]) == 1
    info = sensory_client.dataset_info("dice_60x50")
    assert {c["name"]: c["count"] for c in info["categories"]} == {"a": 2, "b": 2}
    with pytest.raises(NotFoundError):
        sensory_client.delete_images("dice_60x50", [ids[4]])


def test_categories(sensory_client):
    assert sensory_client.add_category("dice_60x50", "7") is True
    assert sensory_client.add_category("dice_60x50", "7") is False
    assert sensory_client.dataset_info("dice_60x50")["category_map"] == {"7": 0}


def test_create_dataset_and_unknown_dataset(sensory_client):
    info = sensory_client.create_dataset("colour", 32, 24, channels=3)
    assert info["id"] == "colour_32x24" and info["channels"] == 3
    with pytest.raises(NotFoundError):
        sensory_client.dataset_info("nothing_1x1")
    with pytest.raises(ClientError) as bad:
        sensory_client.dataset_info("..%2F..%2Fetc_1x1")
    assert bad.value.status in (400, 404)


def test_ensure_dataset_creates_a_missing_data_set_from_its_id_once(sensory_client):
    info = sensory_client.ensure_dataset("plates_40x30", channels=3)
    assert (info["id"], info["width"], info["height"], info["channels"]) == ("plates_40x30", 40, 30, 3)
    sensory_client.add_category("plates_40x30", "ok")
    again = sensory_client.ensure_dataset("plates_40x30", channels=1)
    assert again["channels"] == 3 and again["category_map"] == {"ok": 0}, "an existing data set is left as it is"
    with pytest.raises(ClientError) as bad:
        sensory_client.ensure_dataset("no-size-here")
    assert bad.value.status == 400 and "<name>_<width>x<height>" in str(bad.value)


def test_client_errors(live_service):
    url, _ = live_service
    with pytest.raises(Unauthorized):
        SensoryClient(url, "wrong", retries=0).dataset_info("dice_60x50")
    gone = SensoryClient("http://127.0.0.1:9", "k", retries=2, backoff=0.01)
    assert gone.health() is False
    with pytest.raises(ServiceUnavailable):
        gone.category_map()
