"""Held-out splits by recording session: neighbouring video frames never sit on both sides.

The rule (dicebox.nets.training): per label, images stored with no pause over SESSION_GAP (10 s) are one
session; a class is split in whole sessions when they come within half of its share, else its
sessions are cut into about BLOCKS blocks of neighbouring frames (never inside one instant's delivery).
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import make_png

from dicebox.evolution.dataset import split_test
from dicebox.images import LabelledImages
from dicebox.nets.training import SESSION_GAP, grouped_split, recording_sessions, split_images
from dicebox.store import DatasetStore


def video_bursts(bursts_per_class: int, classes: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(labels, stored_at, burst id): bursts of 12-40 frames 0.1 s apart, labels taking turns, 30-90 s
    between bursts; the rows shuffled (the store orders images by id, not by time)."""
    rng = np.random.default_rng(seed)
    labels, times, bursts = [], [], []
    clock = 1_700_000_000.0
    for burst in range(bursts_per_class * classes):
        n = int(rng.integers(12, 41))
        labels += [burst % classes] * n
        times += list(clock + 0.1 * np.arange(n))
        bursts += [burst] * n
        clock += 0.1 * n + float(rng.uniform(30, 90))
    order = rng.permutation(len(labels))
    return np.array(labels)[order], np.array(times)[order], np.array(bursts)[order]


def images_for(labels: np.ndarray, stored_at: np.ndarray | None, classes: int = 3) -> LabelledImages:
    images = np.zeros((len(labels), 4, 4, 1), np.uint8)
    return LabelledImages(images, labels.astype(np.int64), tuple(f"c{i}" for i in range(classes)), "v1", stored_at)


def sides(bursts: np.ndarray, train: np.ndarray, held: np.ndarray) -> set[int]:
    """Bursts with frames on both sides."""
    return set(bursts[train].tolist()) & set(bursts[held].tolist())


@pytest.mark.parametrize("seed", range(5))
def test_video_bursts_never_sit_on_both_sides(seed):
    labels, times, bursts = video_bursts(8, seed=seed)
    assert len(set(recording_sessions(labels, times).tolist())) == len(set(bursts.tolist()))
    train, held = grouped_split(labels, times, 0.2, seed)
    assert sorted(np.concatenate([train, held]).tolist()) == list(range(len(labels)))
    assert sides(bursts, train, held) == set()
    for cls in range(3):
        share = np.mean(labels[held] == cls) * len(held) / np.sum(labels == cls)
        assert 0.08 <= share <= 0.35, share  # whole bursts: near the share, not exact
        assert np.any(labels[train] == cls)


def test_a_class_recorded_in_one_take_is_cut_into_blocks_of_neighbouring_frames():
    # 300 frames of each class in one continuous take, delivered in batches of 8 stored at one instant.
    labels = np.repeat([0, 1], 300)
    times = np.concatenate([1000.0 + 0.5 * (np.arange(300) // 8), 5000.0 + 0.5 * (np.arange(300) // 8)])
    train, held = grouped_split(labels, times, 0.2, seed=3)
    for cls in (0, 1):
        mine = np.flatnonzero(labels == cls)
        order = mine[np.argsort(times[mine], kind="stable")]
        is_held = np.isin(order, held)
        assert 0.12 <= is_held.mean() <= 0.28
        # Blocks of about 30: only a handful of places where time order crosses the split.
        assert np.count_nonzero(np.diff(is_held.astype(int))) <= 6
        # A batch stored at one instant is never divided.
        for t in np.unique(times[mine]):
            assert len(set(is_held[times[order] == t].tolist())) == 1


def test_without_stored_times_the_split_is_image_by_image_as_before():
    labels = np.repeat([0, 1, 2], 20)
    data = images_for(labels, None)
    search, test = split_test(data, 0.25, seed=4)
    assert len(test) == 15 and search.stored_at is None
    assert all(count == 5 for count in test.counts.values())


def test_split_test_keeps_sessions_whole_and_hands_the_times_on():
    labels, times, bursts = video_bursts(10, seed=7)
    data = images_for(labels, times)
    search, test = split_test(data, 0.2, seed=11)
    assert search.stored_at is not None and len(search) + len(test) == len(data)
    assert not set(search.stored_at.tolist()) & set(test.stored_at.tolist())  # no burst on both sides
    again_search, again_test = split_test(data, 0.2, seed=11)
    np.testing.assert_array_equal(again_test.stored_at, test.stored_at)
    _, other = split_test(data, 0.2, seed=12)
    assert set(other.stored_at.tolist()) != set(test.stored_at.tolist())
    # The search part's own validation split (early stopping) is by session too.
    train, val = split_images(search, 0.2, seed=1)
    burst_of = dict(zip(times.tolist(), bursts.tolist(), strict=True))
    search_bursts = np.array([burst_of[t] for t in search.stored_at.tolist()])
    assert sides(search_bursts, train, val) == set()


def test_a_class_with_two_sessions_keeps_one_on_each_side():
    labels = np.array([0] * 30 + [1] * 30)
    times = np.concatenate([np.arange(10.0), 100 + np.arange(20.0), 1000 + np.arange(30.0)])
    train, held = grouped_split(labels, times, 0.5, seed=0)
    assert set(labels[held].tolist()) == {0, 1} and set(labels[train].tolist()) == {0, 1}


def test_the_store_hands_training_when_each_image_was_stored(tmp_path):
    store = DatasetStore(tmp_path / "datasets")
    try:
        ds = store.dataset("dice_60x50")
        for burst in range(10):
            for i in range(6):
                ds.store(make_png(burst * 10 + i), str(burst % 2))
        ds.flush()
        arrays = ds.arrays()
        assert arrays.stored_at is not None and len(arrays.stored_at) == 60
        created = ds.index.created_times()
        ids = [image_id for image_id, _ in ds.index.labelled_ids()]
        np.testing.assert_array_equal(arrays.stored_at, [created[i] for i in ids])
        # Recorded in bursts a minute apart (as an operator would), the split keeps each burst whole.
        by_store_order = sorted(ids, key=lambda i: created[i])
        with ds.index.transaction() as db:
            for position, image_id in enumerate(by_store_order):
                burst, frame = divmod(position, 6)
                for table in ("images", "pending"):
                    db.execute(f"UPDATE {table} SET created = ? WHERE id = ?", (60.0 * burst + 0.2 * frame, image_id))
        arrays = ds.arrays()
        search, test = split_test(arrays, 0.2, seed=5)
        bursts_of = lambda part: {int(t // 60) for t in part.stored_at.tolist()}  # noqa: E731
        assert bursts_of(search).isdisjoint(bursts_of(test)) and bursts_of(test)
        assert SESSION_GAP < 60
    finally:
        store.close()
