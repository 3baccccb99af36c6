"""``dicebox import``/``export`` with other tools' layouts: split folders, CSV/JSON lists, the export
zip, WebP/BMP/TIFF, EXIF orientation, every skipped file named, and a lossless round trip."""

from __future__ import annotations

import json
import struct

import cv2
import numpy as np
import pytest

from dicebox.cli import main
from dicebox.store import DatasetStore
from dicebox.store.interchange import load_splits

CATEGORIES = ("one", "two", "three")


def picture(seed: int, width: int = 60, height: int = 50) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return cv2.resize(rng.integers(0, 256, (5, 6), dtype=np.uint8), (width, height), interpolation=cv2.INTER_NEAREST)


def write(path, image, ext=None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, buf = cv2.imencode(ext or path.suffix, image)
    assert ok
    path.write_bytes(buf.tobytes())


def contents(home, ident="dice_60x50") -> dict[str, str]:
    """image id -> category of a data set."""
    store = DatasetStore(home / "datasets", default_channels=1)
    try:
        dataset = store.dataset(ident, create=False)
        return {r.id: r.category for c in dataset.categories() for r in dataset.list_images(c, 0, 10**6)}
    finally:
        store.close()


def dicebox(home, *args) -> int:
    return main([*args[:1], "--data-dir", str(home), *args[1:]])


@pytest.fixture
def split_tree(tmp_path):
    """Roboflow-style split folders with PNG, WebP (lossless), BMP and TIFF images, and some junk."""
    root = tmp_path / "roboflow"
    formats = (".png", ".webp", ".bmp", ".tiff")
    n = 0
    for folder in ("train", "val", "test"):  # "val", as Hugging Face writes it, is the valid split
        for category in CATEGORIES:
            for _ in range(2):
                ext = formats[n % len(formats)]
                write(root / folder / category / f"{n}{ext}", picture(n), ".webp" if ext == ".webp" else None)
                n += 1
    (root / "train" / "one" / "notes.txt").write_text("not an image")
    (root / "train" / "one" / ".DS_Store").write_bytes(b"\0")
    (root / "README.roboflow.txt").write_text("exported by roboflow")
    return root


def test_split_folders_keep_their_split_and_every_skipped_file_is_named(split_tree, tmp_path, capsys):
    home = tmp_path / "home"
    assert dicebox(home, "import", str(split_tree)) == 0
    out = capsys.readouterr().out
    assert "imported 18 images" in out and "3 skipped" in out
    assert "splits kept: train 6, valid 6, test 6" in out
    assert f"skipped {split_tree / 'train' / 'one' / 'notes.txt'}: not an image type" in out
    assert f"skipped {split_tree / 'train' / 'one' / '.DS_Store'}: hidden file" in out
    assert f"skipped {split_tree / 'README.roboflow.txt'}: not inside a category folder" in out
    stored = contents(home)
    assert len(stored) == 18 and sorted(set(stored.values())) == sorted(CATEGORIES)
    splits = load_splits(home / "datasets" / "dice_60x50")
    assert sorted(splits.values()).count("valid") == 6 and set(splits) == set(stored)


@pytest.mark.parametrize("fmt", ["zip", "folder-csv"])
def test_export_then_import_gives_the_same_images_labels_and_splits(split_tree, tmp_path, fmt, capsys):
    home = tmp_path / "home"
    assert dicebox(home, "import", str(split_tree)) == 0
    before = contents(home)
    splits_before = load_splits(home / "datasets" / "dice_60x50")
    out = tmp_path / ("export.zip" if fmt == "zip" else "export")
    assert dicebox(home, "export", "--splits", "--csv", "--out", str(out)) == 0
    source = out if fmt == "zip" else out / "dice_60x50" / "labels.csv"
    assert dicebox(home, "import", "--dataset", "copy_60x50", str(source)) == 0
    report = capsys.readouterr().out
    assert "skipped " not in report.split("exported", 1)[1], report
    assert contents(home, "copy_60x50") == before
    assert load_splits(home / "datasets" / "copy_60x50") == splits_before


def test_csv_and_json_lists_from_other_tools(tmp_path, capsys):
    images = tmp_path / "images"
    for i in range(4):
        write(images / f"{i}.png", picture(100 + i))
    write(images / "photo.jpg", picture(200))
    (tmp_path / "metadata.csv").write_text(
        "file_name,label\nimages/0.png,cat\nimages/1.png,dog\nimages/missing.png,dog\nimages/2.png,\n"
    )
    (tmp_path / "roboflow.csv").write_text("filename, cat, dog\nimages/3.png,0,1\nimages/photo.jpg,1,1\n")
    label_studio = [
        {"data": {"image": "/data/upload/3/0.png"}, "annotations": [{"result": [{"value": {"choices": ["cat"]}}]}]},
        {"image": "images/1.png", "choice": "dog"},
    ]
    (tmp_path / "images" / "tasks.json").write_text(json.dumps(label_studio))
    home = tmp_path / "home"
    assert dicebox(home, "import", str(tmp_path / "metadata.csv")) == 0
    out = capsys.readouterr().out
    assert "imported 2 images" in out and "metadata.csv line 4: file not found" in out
    assert "metadata.csv line 5: no label" in out
    assert dicebox(home, "import", str(tmp_path / "roboflow.csv")) == 0
    out = capsys.readouterr().out
    assert "imported 1 images" in out and "roboflow.csv line 3: 2 labels set, need exactly one" in out
    assert dicebox(home, "import", str(tmp_path / "images" / "tasks.json")) == 0
    assert "imported 0 images" in capsys.readouterr().out  # the same two images again: already there
    assert sorted(contents(home).values()) == ["cat", "dog", "dog"]


def _with_exif_orientation(jpeg: bytes, orientation: int) -> bytes:
    """The JPEG with an APP1 Exif segment holding only the orientation tag (what phones write)."""
    tiff = b"MM\x00*" + struct.pack(">I", 8) + struct.pack(">H", 1)
    tiff += struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0) + struct.pack(">I", 0)
    payload = b"Exif\x00\x00" + tiff
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:]


def test_a_portrait_phone_jpeg_imports_upright(tmp_path):
    upright = np.zeros((120, 100), np.uint8)  # portrait: left half bright, right half dark
    upright[:, :50] = 255
    # The camera stores the pixels sideways (rotated 90 degrees counter-clockwise) and says so in EXIF
    # (orientation 6: rotate 90 degrees clockwise to view).
    sideways = cv2.rotate(upright, cv2.ROTATE_90_COUNTERCLOCKWISE)
    jpeg = _with_exif_orientation(cv2.imencode(".jpg", sideways, [cv2.IMWRITE_JPEG_QUALITY, 100])[1].tobytes(), 6)
    (tmp_path / "tree" / "bar").mkdir(parents=True)
    (tmp_path / "tree" / "bar" / "phone.jpg").write_bytes(jpeg)
    write(tmp_path / "tree" / "other" / "x.png", picture(1))
    home = tmp_path / "home"
    assert dicebox(home, "import", str(tmp_path / "tree")) == 0
    (image_id,) = [i for i, c in contents(home).items() if c == "bar"]
    stored = cv2.imread(str(home / "datasets" / "dice_60x50" / "data" / "bar" / f"{image_id}.png"), 0)
    assert stored[:, :10].mean() > 200 and stored[:, -10:].mean() < 50  # bright on the left: upright


def test_sources_that_cannot_be_read_change_nothing(tmp_path, capsys):
    home = tmp_path / "home"
    (tmp_path / "list.csv").write_text("what,ever\n1,2\n")
    (tmp_path / "broken.zip").write_bytes(b"PK not really")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("x")
    for source, message in (
        ("list.csv", "no image path column"),
        ("broken.zip", "cannot read"),
        ("empty", "no images"),
        ("picture.gif", "not a folder"),
    ):
        assert dicebox(home, "import", str(tmp_path / source)) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err
    assert not (home / "datasets").exists() or not list((home / "datasets").rglob("*.png"))
