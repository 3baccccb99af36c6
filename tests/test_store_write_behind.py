"""Acknowledged stores live in the index's pending table until their files are written.

These tests hold the background writer back (a long idle pause) to look at that window: what
readers see, what a crash leaves, and what deletes and relabels do to images not yet on disk.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers import make_png

from dicebox.store import DatasetStore
from dicebox.store.index import DatasetIndex


def _held_back(store: DatasetStore, ident: str = "dice_60x50"):
    dataset = store.dataset(ident)
    dataset.materialiser.idle_seconds = 3600.0  # nothing is written to files until asked
    return dataset


def _files(dataset) -> set[str]:
    return {p.stem for p in dataset.data_dir.rglob("*.png")}


@pytest.fixture
def store(tmp_path):
    s = DatasetStore(tmp_path / "datasets")
    yield s
    s.close()


def test_pending_images_are_counted_listed_and_sampled_before_their_files_exist(store):
    ds = _held_back(store)
    ids = [ds.store(make_png(i), str(i % 2)).id for i in range(6)]
    assert _files(ds) == set()
    assert ds.counts() == {"0": 3, "1": 3}
    assert {r.id for r in ds.list_images(limit=10)} == set(ids)
    assert len(ds.sample(6)) == 6
    assert ds.flush() == 6
    assert _files(ds) == set(ids)
    assert ds.index.pending_count() == 0
    assert ds.counts() == {"0": 3, "1": 3}


def test_files_are_written_when_stores_pause(store):
    ds = store.dataset("dice_60x50")
    ids = {ds.store(make_png(i), "1").id for i in range(5)}
    deadline = time.monotonic() + 5
    # Files appear first; the rows leave the pending table once the files are synced.
    while (_files(ds) != ids or ds.index.pending_count()) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _files(ds) == ids
    assert ds.index.pending_count() == 0


def test_a_crash_before_the_files_are_written_loses_nothing(tmp_path):
    # What a process that died right after acknowledging leaves: rows in pending, no files.
    first = DatasetStore(tmp_path / "datasets")
    ds = _held_back(first)
    ids = {ds.store(make_png(i), str(i % 3)).id: str(i % 3) for i in range(9)}
    ds._pipeline.close()
    ds.index.close()  # closed without writing files, as a killed process would
    assert _files(ds) == set()

    reopened = DatasetStore(tmp_path / "datasets").dataset("dice_60x50")
    assert _files(reopened) == set(ids)
    for image_id, category in ids.items():
        path = reopened.image_path(image_id)
        assert path.parent.name == category
        assert cv2.imread(str(path), cv2.IMREAD_UNCHANGED).shape == (50, 60)
    assert reopened.index.pending_count() == 0
    assert reopened.counts() == {"0": 3, "1": 3, "2": 3}


def test_a_file_lost_in_a_power_cut_is_written_again_from_the_index(tmp_path):
    root = tmp_path / "datasets"
    ds = _held_back(DatasetStore(root))
    image_id = ds.store(make_png(4), "2").id
    ds._pipeline.close()
    ds.index.close()
    # The file was renamed into place but its data never reached the disk.
    (ds.data_dir / "2" / f"{image_id}.png").write_bytes(b"")
    reopened = DatasetStore(root).dataset("dice_60x50")
    assert cv2.imread(str(reopened.image_path(image_id)), cv2.IMREAD_UNCHANGED) is not None


def test_deleting_a_pending_image_is_final(tmp_path):
    root = tmp_path / "datasets"
    ds = _held_back(DatasetStore(root))
    keep = ds.store(make_png(1), "1").id
    gone = ds.store(make_png(2), "1").id
    assert ds.delete([gone]) == 1
    ds._pipeline.close()
    ds.index.close()
    reopened = DatasetStore(root).dataset("dice_60x50")
    assert _files(reopened) == {keep}
    assert reopened.counts() == {"1": 1}


def test_relabelling_a_pending_image_moves_it(store):
    ds = _held_back(store)
    image_id = ds.store(make_png(3), "1").id
    assert ds.relabel([image_id], "2") == 1
    assert ds.counts() == {"1": 0, "2": 1}
    assert ds.image_path(image_id).parent.name == "2"
    assert not (ds.data_dir / "1" / f"{image_id}.png").exists()


def test_another_process_reads_pending_images_from_the_index(tmp_path):
    root = tmp_path / "datasets"
    writer = _held_back(DatasetStore(root))
    reader = DatasetStore(root).dataset("dice_60x50")
    ids = {writer.store(make_png(i), str(i % 2)).id for i in range(4)}
    data = reader.arrays()
    assert len(data) == 4 and _files(reader) == set()
    expected = cv2.imdecode(np.frombuffer(make_png(0), np.uint8), cv2.IMREAD_UNCHANGED)
    assert any(np.array_equal(image[:, :, 0], expected) for image in data.images)
    assert {r.id for r in reader.list_images()} == ids


def test_a_reader_sees_images_whose_files_are_written_while_it_reads(tmp_path):
    """The writer writes the files between the reader's look at the folder and at the index."""
    root = tmp_path / "datasets"
    writer = _held_back(DatasetStore(root))
    reader = DatasetStore(root).dataset("dice_60x50")
    for i in range(4):
        writer.store(make_png(i), str(i % 2))
    look_at_index = reader.index.pending_png

    def files_written_first(ids):
        writer.flush()
        return look_at_index(ids)

    reader.index.pending_png = files_written_first
    assert len(reader.arrays()) == 4
    assert reader.sample(4).images.shape[0] == 4


def test_a_duplicate_of_a_pending_image_is_recognised(store):
    ds = _held_back(store)
    first = ds.store(make_png(5), "1")
    again = ds.store(make_png(5), "1")
    assert again.duplicate and not first.duplicate
    assert ds.count() == 1 and ds.index.pending_count() == 1


def test_a_damaged_index_is_kept_aside_not_deleted(tmp_path):
    root = tmp_path / "datasets"
    ds = DatasetStore(root).dataset("dice_60x50")
    ds.store(make_png(1), "1")
    ds.close()
    index = root / "dice_60x50" / "index.sqlite3"
    index.write_bytes(b"garbage" * 100)
    reopened = DatasetStore(root).dataset("dice_60x50")
    assert reopened.counts() == {"1": 1}
    aside = list(index.parent.glob("index.sqlite3.damaged-*"))
    assert aside and aside[0].read_bytes().startswith(b"garbage")


def test_the_index_syncs_its_log(tmp_path):
    index = DatasetIndex(tmp_path / "index.sqlite3")
    index.sync()  # nothing written yet: nothing to sync, and no error
    assert not index.add_pending_if_new("a" * 32, "1", 0.0, b"png"), "no such category in the index"
    with index.transaction() as db:
        db.execute("INSERT INTO categories (name) VALUES ('1'), ('2')")
    assert index.add_pending_if_new("a" * 32, "1", 0.0, b"png")
    assert not index.add_pending_if_new("a" * 32, "2", 0.0, b"png")
    index.sync()
    index.close()


def test_opening_while_another_process_writes_files(tmp_path):
    root = tmp_path / "datasets"
    DatasetStore(root).dataset("dice_60x50").close()
    writer = subprocess.Popen([sys.executable, "-c", _WRITER, str(root)], cwd=Path(__file__).parent)
    try:
        opened = 0
        while writer.poll() is None or opened < 3:
            reader = DatasetStore(root)
            reader.dataset("dice_60x50")  # reconciles while the writer's temp files come and go
            reader.close()
            opened += 1
    finally:
        if writer.poll() is None:
            writer.kill()
        writer.wait()
    assert writer.returncode == 0
    assert DatasetStore(root).dataset("dice_60x50").count() == 1000


# Stores 1,000 images, writing each file at once (no pause), then exits.
_WRITER = """
import sys
from helpers import make_png
from dicebox.store import DatasetStore
dataset = DatasetStore(sys.argv[1]).dataset("dice_60x50")
dataset.materialiser.idle_seconds = 0.0
for i in range(1000):
    dataset.store(make_png(i), str(i % 3))
dataset.close()
"""
