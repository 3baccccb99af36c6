"""A data folder shared by several machines, each with its own local index (issue 18, item 3).

Two stores on one folder with two index folders stand for two machines: nothing but the shared
folder connects them, and the test checks what each one sees of the other's changes.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import make_png

from dicebox.batches.fill import fill_shard
from dicebox.batches.orders import ShardOrder
from dicebox.store import Conflict, DatasetStore, NotFound
from dicebox.store.dataset import INDEX_FILE
from dicebox.store.journal import JOURNAL_FOLDER, JournalReader, put_line
from dicebox.store.shared import SharedDataset

DATASET = "dice_60x50"


def machine(root: Path, name: str, refresh: float = 0.05) -> DatasetStore:
    return DatasetStore(root / "shared", index_dir=root / f"local-{name}", refresh_seconds=refresh)


@pytest.fixture
def pair(tmp_path):
    a, b = machine(tmp_path, "a"), machine(tmp_path, "b")
    yield a.dataset(DATASET), b.dataset(DATASET)
    a.close()
    b.close()


def eventually(check, timeout: float = 5.0):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.01)


def test_a_store_on_one_machine_is_seen_on_the_other_within_the_refresh_time(pair):
    a, b = pair
    assert isinstance(a, SharedDataset) and isinstance(b, SharedDataset)
    started = time.monotonic()
    stored = [a.store(make_png(i), str(i % 2)) for i in range(6)]
    assert eventually(lambda: b.count() == 6)
    assert time.monotonic() - started < 2.0
    assert b.counts() == {"0": 3, "1": 3} and b.categories() == ["0", "1"]
    assert {r.id for r in b.list_images()} == {s.id for s in stored}
    assert b.image_png(stored[0].id) == a.image_png(stored[0].id)
    data = b.arrays()
    assert len(data) == 6 and sorted(data.labels.tolist()) == [0, 0, 0, 1, 1, 1]
    assert len(b.sample(4, rng=np.random.default_rng(1))) == 4
    # Both list in the same order: the time of an image is its file's, whoever indexed it.
    assert a.list_images() == b.list_images()


def test_deletes_relabels_and_categories_propagate(pair):
    a, b = pair
    first, second, third = (a.store(make_png(i), "red") for i in range(3))
    assert eventually(lambda: b.count() == 3)
    assert b.relabel([first.id], "blue") == 1
    b.delete([second.id])
    assert eventually(lambda: a.counts() == {"blue": 1, "red": 1})
    assert a.list_images("blue")[0].id == first.id
    a.add_category("green")
    assert eventually(lambda: "green" in b.categories())
    b.delete_category("green")
    a.delete([third.id])
    assert eventually(lambda: b.counts() == {"blue": 1, "red": 0} and a.categories() == ["blue", "red"])
    folders = sorted(p.name for p in (a.path / "data").iterdir())
    assert folders == ["blue", "red"]
    assert [p.name for p in (a.path / "data" / "blue").iterdir()] == [f"{first.id}.png"]


def test_the_same_image_under_another_category_is_a_conflict_before_the_logs_are_read(tmp_path):
    a, b = machine(tmp_path, "a", refresh=3600), machine(tmp_path, "b", refresh=3600)
    try:
        image = a.dataset(DATASET).store(make_png(7), "one")
        with pytest.raises(Conflict):
            b.dataset(DATASET).store(make_png(7), "two")
        again = b.dataset(DATASET).store(make_png(7), "one")
        assert again.duplicate and again.id == image.id
        assert b.dataset(DATASET).counts()["one"] == 1
        assert not (a.dataset(DATASET).data_dir / "two" / f"{image.id}.png").exists()
    finally:
        a.close()
        b.close()


def test_an_id_stored_elsewhere_a_moment_ago_is_found_at_once(tmp_path):
    """Deleting, reading, relabelling by id and filling an order's shard read the logs first."""
    a, b = machine(tmp_path, "a", refresh=3600), machine(tmp_path, "b", refresh=3600)
    try:
        da, db = a.dataset(DATASET), b.dataset(DATASET)
        ids = [da.store(make_png(i), "x").id for i in range(4)]
        shard = ShardOrder(
            order_id="o1", dataset=DATASET, index=0, shards=1, start=0, count=2, order_size=2, noise=0.0, seed=3,
            version="",
        )
        filled = fill_shard(db, shard, selection=ids[:2])
        assert len(filled) == 2
        assert db.image_png(ids[2]) == da.image_png(ids[2])
        assert db.relabel([ids[2]], "y") == 1
        assert db.delete([ids[3]]) == 1
        with pytest.raises(NotFound):
            db.delete(["0" * 32])
        da.catch_up()
        assert da.counts() == {"x": 2, "y": 1}
    finally:
        a.close()
        b.close()


def test_a_machine_started_later_builds_its_index_from_the_folder(pair, tmp_path):
    a, b = pair
    for i in range(5):
        a.store(make_png(i), "x")
    b.relabel([a.list_images()[0].id], "y")
    late = machine(tmp_path, "late")
    try:
        assert late.dataset(DATASET).counts() == {"x": 4, "y": 1}
        b.delete([r.id for r in b.list_images("x")[:2]])
        assert eventually(lambda: late.dataset(DATASET).counts() == {"x": 2, "y": 1})
    finally:
        late.close()


def test_no_index_is_kept_in_the_shared_folder(pair):
    a, b = pair
    a.store(make_png(1), "x")
    assert eventually(lambda: b.count() == 1)
    assert not list(a.path.glob(f"{INDEX_FILE}*"))
    assert (a.path / JOURNAL_FOLDER).is_dir()


def test_a_folder_used_on_one_machine_first_keeps_every_pending_image(tmp_path):
    single = DatasetStore(tmp_path / "shared")
    dataset = single.dataset(DATASET)
    dataset.materialiser.idle_seconds = 3600  # the images stay pending in the folder's own index
    ids = [dataset.store(make_png(i), "x").id for i in range(3)]
    assert dataset.index.pending_count() == 3
    dataset._pipeline.close()
    dataset.index.close()  # as a crash would leave it: pending rows, no files
    assert not list((dataset.data_dir / "x").glob("*.png"))
    shared = machine(tmp_path, "a")
    try:
        assert shared.dataset(DATASET).counts() == {"x": 3}
        assert sorted(p.stem for p in (dataset.data_dir / "x").glob("*.png")) == sorted(ids)
    finally:
        shared.close()
    # From now on a process not told where to keep its index keeps it locally too.
    later = DatasetStore(tmp_path / "shared")
    try:
        assert isinstance(later.dataset(DATASET), SharedDataset)
        assert later.dataset(DATASET).count() == 3
    finally:
        later.close()


def test_a_category_another_machine_just_stored_into_is_not_deleted(tmp_path):
    a, b = machine(tmp_path, "a", refresh=3600), machine(tmp_path, "b", refresh=3600)
    try:
        b.dataset(DATASET).add_category("x")
        a.dataset(DATASET).catch_up()
        b.dataset(DATASET).catch_up()
        a.dataset(DATASET).store(make_png(1), "x")
        with pytest.raises(Conflict):
            b.dataset(DATASET).delete_category("x")
        assert a.dataset(DATASET).counts() == {"x": 1}
    finally:
        a.close()
        b.close()


def test_a_log_removed_before_it_was_read_makes_a_machine_scan_the_folder(pair):
    a, b = pair
    b._stop.set()  # b reads no logs by itself now
    b._tailer.join()
    a.store(make_png(1), "x")
    b.catch_up()
    a.store(make_png(2), "x")
    for log in (a.path / JOURNAL_FOLDER).iterdir():
        log.unlink()  # before b read its second line
    b.catch_up()
    assert b.counts() == {"x": 2}


def test_a_line_still_being_written_is_read_once_complete(tmp_path):
    folder = tmp_path / JOURNAL_FOLDER
    folder.mkdir()
    log = folder / f"{int(time.time())}-host-1-abc.log"
    line = put_line("a" * 32, "x")
    log.write_text(line[:10])
    reader = JournalReader(folder)
    assert reader.read() == ([], False)
    with open(log, "a") as fh:
        fh.write(line[10:])
    changes, missed = reader.read()
    assert [(c.op, c.image_id, c.categories) for c in changes] == [("put", "a" * 32, ("x",))] and not missed


def test_machines_changing_the_same_images_at_once_agree_with_the_folder_afterwards(tmp_path):
    """Stores, relabels and deletes of the same images on two machines at once: afterwards each
    index says what the folders say, and no image is in two category folders."""
    a, b = machine(tmp_path, "a"), machine(tmp_path, "b")
    datasets = [a.dataset(DATASET), b.dataset(DATASET)]
    pngs = [make_png(i) for i in range(12)]
    errors: list[BaseException] = []

    def work(dataset, seed: int) -> None:
        rng = np.random.default_rng(seed)
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            i, category = int(rng.integers(12)), ["p", "q", "r"][int(rng.integers(3))]
            try:
                action = rng.integers(3)
                if action == 0:
                    dataset.store(pngs[i], category)
                else:
                    stored = [r.id for r in dataset.list_images(limit=1000)]
                    if not stored:
                        continue
                    chosen = [stored[int(rng.integers(len(stored)))]]
                    if action == 1:
                        dataset.relabel(chosen, category)
                    else:
                        dataset.delete(chosen)
            except (Conflict, NotFound):
                pass  # the other machine got there first: an answer a client can get
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)

    threads = [threading.Thread(target=work, args=(d, n)) for n, d in enumerate(datasets * 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors[:3]
    truth: dict[str, list[str]] = {}
    for folder in (datasets[0].data_dir).iterdir():
        for file in folder.glob("*.png"):
            truth.setdefault(file.stem, []).append(folder.name)
    assert all(len(places) == 1 for places in truth.values()), truth
    try:
        for dataset in datasets:
            dataset.catch_up()
            assert {r.id: r.category for r in dataset.list_images(limit=1000)} == {
                image_id: places[0] for image_id, places in truth.items()
            }
    finally:
        a.close()
        b.close()


def test_an_index_folder_inside_the_shared_folder_is_refused(tmp_path, capsys):
    from dicebox.cli import main

    data = tmp_path / "shared"
    code = main(["serve", "--data-dir", str(data), "--index-dir", str(data / "datasets" / "idx"), "--port", "0"])
    assert code == 2 and "index_dir" in capsys.readouterr().err
    with pytest.raises(ValueError, match="outside the shared folder"):
        DatasetStore(data, index_dir=data / "idx")


def test_a_process_not_told_where_keeps_its_index_in_the_temp_folder(pair, tmp_path):
    a, _b = pair
    a.store(make_png(1), "x")
    alone = DatasetStore(tmp_path / "shared")  # a tool run on that machine without --index-dir
    try:
        dataset = alone.dataset(DATASET)
        assert dataset.count() == 1
        assert Path(tempfile.gettempdir()) in dataset.index.path.parents
    finally:
        alone.close()


def test_an_image_a_log_names_before_the_folder_shows_it_is_looked_for_again(pair, monkeypatch):
    """As when an NFS client's cache of failed lookups hides another machine's new file a while."""
    import dicebox.store.shared as shared

    monkeypatch.setattr(shared, "RECHECK_SECONDS", 0.3)
    a, b = pair
    image = a.prepare(make_png(5))
    a.add_category("x")
    hidden = a.path / "hidden.png"
    hidden.write_bytes(image.png)
    a._log([put_line(image.id, "x")])  # the line arrives, the file does not show yet
    b.catch_up()
    assert b.count() == 0
    hidden.rename(a.data_dir / "x" / f"{image.id}.png")
    assert eventually(lambda: b.count() == 1, timeout=3)


def test_logs_nobody_writes_to_any_more_are_removed_after_a_day(tmp_path, monkeypatch):
    import dicebox.store.journal as journal

    folder = tmp_path / JOURNAL_FOLDER
    folder.mkdir()
    day_old = int(time.time() - 2 * journal.KEEP_SECONDS)
    mine, theirs, live = (folder / f"{day_old}-me-1-a.log", folder / f"{day_old}-them-2-b.log",
                          folder / f"{int(time.time())}-them-3-c.log")
    for log in (mine, theirs, live):
        log.write_text(put_line("a" * 32, "x"))
        os.utime(log, (day_old, day_old))
    reader = JournalReader(folder, skip="me-1-a")
    changes, missed = reader.read()
    assert len(changes) == 2 and not missed  # not its own
    assert not mine.exists() and not theirs.exists() and live.exists()
