"""Names that would collide on Windows or macOS are refused when created; existing ones keep loading."""

from __future__ import annotations

import shutil
import unicodedata

import pytest
from helpers import make_png

from dicebox.store import Conflict, DatasetStore, InvalidName

NFC_E = unicodedata.normalize("NFC", "é")
NFD_E = unicodedata.normalize("NFD", "é")

RESERVED = ["CONIN$", "conout$", "COM¹", "lpt³", "COM0", "CON .txt", "nul.tar.gz", "Aux  .x", "PRN.", "x "]
PORTABLE = ["CONINX", "COM10", "console", "con_1", "LPT", "nully", "com¹x", "é"]


@pytest.fixture
def store(tmp_path):
    s = DatasetStore(tmp_path / "datasets")
    yield s
    s.close()


@pytest.mark.parametrize("name", RESERVED)
def test_reserved_windows_names_are_refused_as_new_categories(store, name):
    ds = store.dataset("dice_60x50")
    ds.store(make_png(1), "1")
    attempts = [
        lambda: ds.store(make_png(2), name),
        lambda: ds.store_many([(make_png(2), "2"), (make_png(3), name)]),
        lambda: ds.add_category(name),
        lambda: ds.relabel([ds.list_images()[0].id], name),
    ]
    for attempt in attempts:
        with pytest.raises(InvalidName, match="Windows|space|'.'"):
            attempt()
        assert ds.counts() == {"1": 1}, "a refused name changes nothing"
    assert sorted(p.name for p in ds.data_dir.iterdir()) == ["1"]


@pytest.mark.parametrize("name", PORTABLE)
def test_names_that_only_look_like_device_names_are_accepted(store, name):
    ds = store.dataset("dice_60x50")
    assert ds.store(make_png(1), name).category == name
    assert ds.categories() == [name]


def test_a_category_differing_only_in_case_is_refused_naming_the_existing_one(store):
    ds = store.dataset("dice_60x50")
    stored = ds.store(make_png(1), "Ab")
    for attempt in (
        lambda: ds.store(make_png(2), "ab"),
        lambda: ds.store_many([(make_png(2), "Ab"), (make_png(3), "AB")]),
        lambda: ds.add_category("aB"),
        lambda: ds.relabel([stored.id], "ab"),
    ):
        with pytest.raises(Conflict, match="existing category 'Ab'"):
            attempt()
        assert ds.counts() == {"Ab": 1}
    with pytest.raises(Conflict, match="'x' .*'X'|'X' .*'x'"):
        ds.store_many([(make_png(4), "x"), (make_png(5), "X")])
    assert ds.counts() == {"Ab": 1} and sorted(p.name for p in ds.data_dir.iterdir()) == ["Ab"]


def test_nfc_and_nfd_spellings_are_one_category(store):
    ds = store.dataset("dice_60x50")
    ds.store(make_png(1), NFD_E)
    ds.store(make_png(2), NFC_E)
    assert ds.categories() == [NFC_E], "stored under the composed (NFC) form"
    assert ds.counts() == {NFC_E: 2}
    assert len(ds.list_images(NFD_E)) == 2
    assert ds.add_category(NFD_E) is False
    with pytest.raises(Conflict, match=f"existing category '{NFC_E}'"):
        ds.store(make_png(3), "É")


def test_existing_data_sets_with_such_names_keep_loading_and_working(store, tmp_path):
    """A data set made before these rules (or by hand on Linux) has them all."""
    ds = store.dataset("old_60x50")
    for seed, name in enumerate(["Ab", "keep"]):
        ds.store(make_png(seed), name)
    ds.flush()
    store.close()
    data = tmp_path / "datasets" / "old_60x50" / "data"
    source = next((data / "keep").iterdir())
    for seed, name in enumerate(["ab", "CONIN$", "COM¹", NFD_E], start=10):
        (data / name).mkdir()
        shutil.copy(source, data / name / source.name.replace(source.stem, f"{seed:032x}"))
    (data / "keep" / source.name).unlink()
    reopened = DatasetStore(tmp_path / "datasets").dataset("old_60x50")
    expected = sorted(["Ab", "ab", "CONIN$", "COM¹", NFD_E, "keep"])
    assert reopened.categories() == expected
    assert len(reopened.arrays()) == reopened.count() == 5
    # Existing categories are used as they are spelt; an NFC spelling finds the NFD folder.
    for seed, name in enumerate(["ab", "CONIN$", "COM¹", NFC_E], start=20):
        reopened.store(make_png(seed), name)
    assert reopened.counts()[NFD_E] == 2 and reopened.counts()["ab"] == 2
    assert len(reopened.list_images(NFC_E)) == 2
    assert reopened.categories() == expected


def test_a_data_set_name_differing_only_in_case_is_refused(store):
    store.dataset("dice_60x50")
    with pytest.raises(Conflict, match="existing data set 'dice_60x50'"):
        store.dataset("Dice_60x50")
    store.dataset("dice_60x51")  # another geometry is another folder
    assert store.dataset_ids() == ["dice_60x50", "dice_60x51"]


@pytest.mark.parametrize("ident", ["con.x_60x50", "NUL.1_60x50", "com1.a_60x50", "aux._60x50"])
def test_reserved_windows_data_set_names_are_refused(store, ident):
    with pytest.raises(InvalidName, match="Windows"):
        store.dataset(ident)
    assert store.dataset_ids() == []


def test_existing_data_sets_with_such_names_keep_opening(tmp_path):
    first = DatasetStore(tmp_path / "datasets")
    first.dataset("dice_60x50").store(make_png(1), "1")
    first.close()
    for ident in ("con.x_60x50", "Dice_60x50"):
        shutil.copytree(tmp_path / "datasets" / "dice_60x50", tmp_path / "datasets" / ident)
    again = DatasetStore(tmp_path / "datasets")
    for ident in ("con.x_60x50", "Dice_60x50", "dice_60x50"):
        assert again.dataset(ident).counts() == {"1": 1}
    again.close()
