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
        (
            b"\x89PNG\r\n\x1a\n"
            + b"\x00\x00\x00\rIHDR"
            + (100000).to_bytes(4, "big") * 2
            + b"\x08\x00\x00\x00\x00"
            + b"\x00" * 16,
            ImageTooLarge,
        ),
    ],
)
def test_bad_images_are_refused_and_nothing_is_written(store, data, error):
    ds = store.dataset("dice_60x50")
    with pytest.raises(error):
        ds.store(data, "1")
    assert ds.count() == 0
    assert not list(ds.data_dir.rglob("*.png"))


@pytest.mark.parametrize(
    "name", ["", "..", ".", "a/b", "a\\b", "x\x00y", "tab\there", "con", " lead", "x" * 65, ".hidden"]
)
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


def test_a_category_another_replica_deleted_is_not_written_into_unindexed(tmp_path):
    """Replica one knew 'tmpcat' and stores into it again after replica two deleted it: the
    category comes back in the index, so both replicas list and sample the same data set."""
    one = DatasetStore(tmp_path / "shared").dataset("dice_60x50")
    two = DatasetStore(tmp_path / "shared").dataset("dice_60x50")
    one.store(make_png(1), "keep")
    first = one.store(make_png(2), "tmpcat")
    one.delete([first.id])
    two.delete_category("tmpcat")
    one.store(make_png(3), "tmpcat")
    assert one.categories() == two.categories() == ["keep", "tmpcat"]
    assert one.counts() == two.counts() == {"keep": 1, "tmpcat": 1}
    for ds in (one, two):
        arrays = ds.arrays()
        assert arrays.categories == ("keep", "tmpcat") and sorted(arrays.labels.tolist()) == [0, 1]
        assert len(ds.sample(2)) == 2


def test_deleting_a_category_while_another_replica_stores_into_it_keeps_the_index_whole(tmp_path):
    one = DatasetStore(tmp_path / "shared").dataset("dice_60x50")
    two = DatasetStore(tmp_path / "shared").dataset("dice_60x50")
    refused: list[Exception] = []
    for round_ in range(20):
        category = f"tmp{round_}"
        warm = one.store(make_png(1000 + round_), category)  # one has seen the category
        one.delete([warm.id])
        storer = threading.Thread(target=one.store, args=(make_png(round_), category))
        storer.start()
        try:
            two.delete_category(category)
        except Conflict as exc:  # the store came first: a clear refusal, nothing deleted
            refused.append(exc)
        storer.join()
        for ds in (one, two):
            assert set(ds.counts()) == set(ds.categories()), "every stored image's category is in the index"
            assert category in ds.categories()
            assert len(ds.arrays()) == ds.count() == round_ + 1
    assert all("still holds 1 images" in str(exc) for exc in refused)


def zeros_png(width: int, height: int, dtype=np.uint16, channels: int = 4) -> bytes:
    """An image that compresses to almost nothing but costs width*height pixels to decode."""
    return cv2.imencode(".png", np.zeros((height, width, channels), dtype))[1].tobytes()


def test_images_far_larger_than_the_geometry_are_refused_before_decoding(store, monkeypatch):
    ds = store.dataset("dice_60x50")
    huge = zeros_png(4000, 4000)
    assert len(huge) < 200_000
    decoded = []
    real_imdecode = cv2.imdecode
    monkeypatch.setattr(cv2, "imdecode", lambda *args: decoded.append(1) or real_imdecode(*args))
    with pytest.raises(ImageTooLarge, match=r"4000x4000 pixels .*1048576 pixels"):
        ds.store_many([(make_png(1), "1"), (huge, "1")])
    assert decoded == [], "no image of the request was decoded"
    assert ds.count() == 0 and ds.categories() == []


def test_the_pixel_limit_is_sixteen_times_the_geometry_and_at_least_a_megapixel(tmp_path):
    store = DatasetStore(tmp_path / "datasets")
    small = store.dataset("dice_60x50")
    assert small.store_pixel_limit == 1024 * 1024
    small.store(zeros_png(1024, 1024, np.uint8, 1), "floor")
    jpeg = cv2.imencode(".jpg", np.zeros((1100, 1000, 3), np.uint8))[1].tobytes()
    with pytest.raises(ImageTooLarge, match="1000x1100"):
        small.store(jpeg, "jpeg")
    large = store.dataset("big_400x300")
    assert large.store_pixel_limit == 16 * 400 * 300
    large.store(zeros_png(1600, 1200, np.uint8, 1), "sixteen")
    with pytest.raises(ImageTooLarge):
        large.store(zeros_png(1601, 1200, np.uint8, 1), "more")
    assert small.counts() == {"floor": 1} and large.counts() == {"sixteen": 1}
    store.close()
    capped = DatasetStore(tmp_path / "datasets", max_image_pixels=500_000)
    assert capped.dataset("dice_60x50").store_pixel_limit == 500_000, "the configured limit still caps it"
    capped.close()
