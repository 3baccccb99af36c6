"""Reviewing a data set through a real service: every change says what it did and can be undone."""

from __future__ import annotations

import pytest
from helpers import make_png

from dicebox.client.http import ClientError, NotFoundError
from dicebox.session.dataset_review import DatasetReview, NothingToUndo

DATASET = "dice_60x50"


def _fill(client, counts: dict[str, int]) -> dict[str, list[str]]:
    ids, n = {}, 0
    for category, count in counts.items():
        stored = client.store_images(DATASET, [(make_png(n + i), category) for i in range(count)])
        ids[category] = [s["id"] for s in stored]
        n += count
    return ids


def _state(client) -> dict[str, set[str]]:
    """Category -> the ids in it, as the service lists them."""
    info = client.dataset_info(DATASET)
    return {
        c["name"]: {r["id"] for r in client.list_images(DATASET, category=c["name"], limit=1000)["images"]}
        for c in info["categories"]
    }


def _pixels(client) -> dict[str, bytes]:
    return {r["id"]: client.image_png(DATASET, r["id"]) for r in client.list_images(DATASET, limit=1000)["images"]}


def test_relabel_reports_and_undo_moves_the_images_back(sensory_client):
    ids = _fill(sensory_client, {"1": 4, "2": 2})
    before = _state(sensory_client)
    review = DatasetReview(sensory_client, DATASET)
    change = review.relabel(ids["1"][:3], "1", "2")
    assert change.message == "Moved 3 images from 1 to 2" and change.images == 3
    assert _state(sensory_client)["2"] == set(ids["2"]) | set(ids["1"][:3])
    assert "back to 1" in review.undo_description
    assert review.undo().message == "Undone: Moved 3 images back to 1"
    assert _state(sensory_client) == before
    with pytest.raises(NothingToUndo):
        review.undo()


def test_undo_of_a_deletion_stores_the_same_images_again(sensory_client):
    _fill(sensory_client, {"1": 3, "blank": 5})
    before, pixels = _state(sensory_client), _pixels(sensory_client)
    review = DatasetReview(sensory_client, DATASET)
    doomed = sorted(before["blank"])[:4]
    change = review.delete(doomed, "blank")
    assert change.message == "Deleted 4 images from blank"
    assert _state(sensory_client)["blank"] == before["blank"] - set(doomed)
    review.undo()
    assert _state(sensory_client) == before
    assert _pixels(sensory_client) == pixels


def test_a_failed_deletion_changes_nothing_and_leaves_nothing_to_undo(sensory_client):
    ids = _fill(sensory_client, {"1": 3})
    before = _state(sensory_client)
    review = DatasetReview(sensory_client, DATASET)
    with pytest.raises(NotFoundError):
        review.delete([*ids["1"], "0" * 64], "1")
    assert _state(sensory_client) == before and review.undo_description == ""


def test_rename_moves_every_image_and_removes_the_old_name_and_undo_reverses_it(sensory_client, monkeypatch):
    monkeypatch.setattr("dicebox.session.dataset_review.CHUNK", 4)
    ids = _fill(sensory_client, {"blnak": 10, "2": 1})
    before = _state(sensory_client)
    review = DatasetReview(sensory_client, DATASET)
    steps = []
    change = review.rename_category("blnak", "blank", progress=lambda done, total: steps.append((done, total)))
    assert change.message == "Renamed blnak to blank (10 images)"
    assert steps == [(4, 10), (8, 10), (10, 10)]
    assert _state(sensory_client) == {"blank": set(ids["blnak"]), "2": set(ids["2"])}
    review.undo()
    assert _state(sensory_client) == before


def test_rename_into_an_existing_category_merges_and_undo_separates_them(sensory_client):
    ids = _fill(sensory_client, {"one": 2, "1": 3})
    before = _state(sensory_client)
    review = DatasetReview(sensory_client, DATASET)
    assert review.rename_category("one", "1").message == "Merged one into 1 (2 images)"
    assert _state(sensory_client) == {"1": set(ids["one"]) | set(ids["1"])}
    review.undo()
    assert _state(sensory_client) == before


def test_a_bad_new_name_is_refused_and_changes_nothing(sensory_client):
    _fill(sensory_client, {"1": 3})
    before = _state(sensory_client)
    review = DatasetReview(sensory_client, DATASET)
    with pytest.raises(ClientError) as caught:
        review.rename_category("1", "a/b")
    assert caught.value.status == 400
    assert _state(sensory_client) == before and review.undo_description == ""


def test_remove_category_deletes_its_images_and_undo_brings_them_back(sensory_client):
    _fill(sensory_client, {"1": 2, "junk": 3})
    empty = sensory_client.add_category(DATASET, "empty")
    assert empty
    before, pixels = _state(sensory_client), _pixels(sensory_client)
    review = DatasetReview(sensory_client, DATASET)
    assert review.remove_category("empty").message == "Removed category empty and its 0 images"
    assert review.remove_category("junk").message == "Removed category junk and its 3 images"
    assert set(_state(sensory_client)) == {"1"}
    review.undo()
    assert _state(sensory_client) == {k: v for k, v in before.items() if k != "empty"}
    assert _pixels(sensory_client) == pixels
