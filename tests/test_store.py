"""The data set store: layout, durability, index, dedup, validation, sampling."""

from __future__ import annotations

import json
import threading
import time

import cv2
import numpy as np
import pytest
from helpers import make_png

from dicebox.store import BatchTooLarge, Conflict, DatasetStore, ImageTooLarge, InvalidImage, InvalidName, NotFound


@pytest.fixture
def store(tmp_path):
    s = DatasetStore(tmp_path / "datasets")
    yield s
    s.close()


def test_layout_is_the_original_imagefolder_tree(store, tmp_path):
    ds = store.dataset("dice_60x50")
    stored = ds.store(make_png(1), "3")
    path = tmp_path / "datasets" / "dice_60x50" / "data" / "3" / f"{stored.id}.png"
    deadline = time.monotonic() + 5
    while not path.is_file() and time.monotonic() < deadline:  # written as soon as stores pause
        time.sleep(0.01)
    assert path.is_file()
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert image.shape == (50, 60)
    assert json.loads((tmp_path / "datasets" / "dice_60x50" / "category_map.json").read_text()) == {
        "category_map": {"3": 0}
    }


def test_category_indices_are_sorted_names(store):
    ds = store.dataset("dice_60x50")
    for i, name in enumerate(["6", "1", "b", "A"]):
        ds.store(make_png(i), name)
    assert ds.category_map() == {"1": 0, "6": 1, "A": 2, "b": 3}


def test_identical_images_are_stored_once(store):
    ds = store.dataset("dice_60x50")
    first = ds.store(make_png(7), "1")
    again = ds.store(make_png(7), "1")
    assert again.id == first.id and again.duplicate
    assert ds.count() == 1
    with pytest.raises(Conflict):
        ds.store(make_png(7), "2")
    assert ds.counts() == {"1": 1}


def test_other_sizes_are_brought_to_the_geometry(store):
    ds = store.dataset("dice_60x50")
    big = np.full((480, 640, 3), 200, np.uint8)
    stored = ds.store(cv2.imencode(".jpg", big)[1].tobytes(), "1")
    assert cv2.imread(str(ds.image_path(stored.id)), cv2.IMREAD_UNCHANGED).shape == (50, 60)
    assert ds.arrays().images.shape == (1, 50, 60, 1)


@pytest.mark.parametrize(
    "data, error",
    [
        (b"", InvalidImage),
        (b"hello, not an image", InvalidImage),
        (make_png(1)[:40], InvalidImage),
        (b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + (100000).to_bytes(4, "big") * 2 + b"\x08\x00\x00\x00\x00" + b"\x00" * 16, ImageTooLarge),
    ],
)
def test_bad_images_are_refused_and_nothing_is_written(store, data, error):
    ds = store.dataset("dice_60x50")
    with pytest.raises(error):
        ds.store(data, "1")
    assert ds.count() == 0
    assert not list(ds.data_dir.rglob("*.png"))


@pytest.mark.parametrize("name", ["", "..", ".", "a/b", "a\\b", "x\x00y", "tab\there", "con", " lead", "x" * 65, ".hidden"])
def test_bad_category_names_are_refused(store, name):
    ds = store.dataset("dice_60x50")
    with pytest.raises(InvalidName):
        ds.store(make_png(1), name)
    assert ds.count() == 0 and ds.categories() == []


@pytest.mark.parametrize("ident", ["../etc_1x1", "a_0x5", "a_60x50/..", "dice", "dice_60x", "_60x50", "a..b_1x1"])
def test_bad_dataset_ids_are_refused(store, ident):
    with pytest.raises(InvalidName):
        store.dataset(ident)


def test_one_bad_image_in_a_batch_stores_nothing(store):
    ds = store.dataset("dice_60x50")
    with pytest.raises(InvalidImage, match="image 2"):
        ds.store_many([(make_png(1), "1"), (make_png(2), "2"), (b"junk", "3")])
    assert ds.count() == 0


def test_delete_and_relabel(store):
    ds = store.dataset("dice_60x50")
    ids = [ds.store(make_png(i), "1").id for i in range(4)]
    assert ds.relabel(ids[:2], "2") == 2
    assert ds.counts() == {"1": 2, "2": 2}
    assert (ds.data_dir / "2" / f"{ids[0]}.png").is_file()
    assert ds.delete([ids[3]]) == 1
    assert ds.counts() == {"1": 1, "2": 2}
    with pytest.raises(NotFound):
        ds.delete([ids[3], ids[2]])
    assert ds.counts() == {"1": 1, "2": 2}, "an unknown id deletes nothing"
    labels = ds.arrays().labels
    assert sorted(labels.tolist()) == [0, 1, 1]


def test_index_is_rebuilt_from_folders_when_lost(store, tmp_path):
    ds = store.dataset("dice_60x50")
    ids = {ds.store(make_png(i), str(i % 3)).id for i in range(9)}
    version = ds.version()
    store.close()
    for f in (tmp_path / "datasets" / "dice_60x50").glob("index.sqlite3*"):
        f.unlink()
    reopened = DatasetStore(tmp_path / "datasets").dataset("dice_60x50")
    assert reopened.counts() == {"0": 3, "1": 3, "2": 3}
    assert {r.id for r in reopened.list_images(limit=100)} == ids
    assert reopened.version() == version


def test_damaged_index_is_rebuilt(store, tmp_path):
    ds = store.dataset("dice_60x50")
    ds.store(make_png(1), "1")
    store.close()
    (tmp_path / "datasets" / "dice_60x50" / "index.sqlite3").write_bytes(b"garbage" * 100)
    for f in (tmp_path / "datasets" / "dice_60x50").glob("index.sqlite3-*"):
        f.unlink()
    assert DatasetStore(tmp_path / "datasets").dataset("dice_60x50").counts() == {"1": 1}


def test_files_changed_behind_its_back_are_reconciled(store):
    ds = store.dataset("dice_60x50")
    a = ds.store(make_png(1), "1").id
    ds.flush()
    (ds.data_dir / "2").mkdir()
    (ds.data_dir / "1" / f"{a}.png").rename(ds.data_dir / "2" / f"{a}.png")
    (ds.data_dir / "2" / ".tmp-partial-x.png").write_bytes(b"half")
    assert ds.reconcile() >= 1
    assert ds.counts() == {"1": 0, "2": 1}


def test_sampling_uses_the_decoded_cache_and_respects_the_size(store, monkeypatch):
    ds = store.dataset("dice_60x50")
    ds.store_many([(make_png(i), str(i % 4)) for i in range(40)])
    first = ds.arrays()
    decoded = []
    monkeypatch.setattr(cv2, "imread", lambda *a, **k: decoded.append(a) or None)
    batch = ds.sample(25, noise=0.5, rng=np.random.default_rng(0))
    assert decoded == [], "sampling must not decode PNG files again"
    assert batch.images.shape == (25, 50, 60, 1) and batch.images.dtype == np.uint8
    assert set(batch.labels.tolist()) <= {0, 1, 2, 3}
    assert first.version == ds.version()
    with pytest.raises(BatchTooLarge):
        ds.sample(41)
    with pytest.raises(BatchTooLarge):
        ds.sample(0)


def test_noise_changes_images_but_zero_noise_does_not(store):
    ds = store.dataset("dice_60x50")
    ds.store_many([(make_png(i), "1") for i in range(20)])
    clean = ds.arrays().images
    same = ds.sample(20, noise=0.0, rng=np.random.default_rng(1)).images
    assert np.array_equal(np.sort(same.reshape(20, -1), axis=0), np.sort(clean.reshape(20, -1), axis=0))
    noisy = ds.sample(20, noise=1.0, rng=np.random.default_rng(1)).images
    assert not np.array_equal(np.sort(noisy.reshape(20, -1), axis=0), np.sort(clean.reshape(20, -1), axis=0))


def test_cache_follows_changes(store):
    ds = store.dataset("dice_60x50")
    a = ds.store(make_png(1), "1").id
    assert len(ds.arrays()) == 1
    ds.store(make_png(2), "2")
    assert len(ds.arrays()) == 2
    ds.delete([a])
    arrays = ds.arrays()
    assert len(arrays) == 1 and arrays.categories == ("1", "2") and arrays.labels.tolist() == [1]


def test_two_processes_worth_of_stores_share_one_folder(tmp_path):
    """Two stores (as two service replicas would) on one folder see each other's images."""
    one = DatasetStore(tmp_path / "shared").dataset("dice_60x50")
    two = DatasetStore(tmp_path / "shared").dataset("dice_60x50")
    one.store(make_png(1), "1")
    two.store(make_png(2), "2")
    assert one.counts() == two.counts() == {"1": 1, "2": 1}
    assert len(one.arrays()) == len(two.arrays()) == 2


def test_concurrent_stores_lose_nothing(store):
    ds = store.dataset("dice_60x50")
    errors = []

    def worker(offset):
        try:
            for i in range(25):
                ds.store(make_png(offset * 1000 + i), str(i % 3))
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert ds.count() == 150
    assert ds.flush() == 150
    assert len(list(ds.data_dir.rglob("*.png"))) == 150


def test_colour_data_sets_keep_colour(store):
    ds = store.dataset("rgb_32x32", channels=3)
    img = np.zeros((32, 32, 3), np.uint8)
    img[..., 2] = 255
    ds.store(cv2.imencode(".png", img)[1].tobytes(), "red")
    arrays = ds.arrays()
    assert arrays.images.shape == (1, 32, 32, 3)
    assert arrays.images[0, 0, 0].tolist() == [0, 0, 255]
