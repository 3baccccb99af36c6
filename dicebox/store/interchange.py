"""Data sets from other tools: what ``dicebox import`` finds in a folder, a list or a zip.

Layouts read, each kept as the tool wrote it:

- ImageFolder: ``<category>/<image>`` (or ``<folder>/data/<category>/<image>``, dicebox's own);
- split folders: ``train/``, ``valid/`` or ``val/``, ``test/``, each with category folders
  (Roboflow, Hugging Face ImageFolder); the split of every image is kept;
- a CSV list (``path,label`` with an optional ``split`` column; Hugging Face ``metadata.csv`` with
  ``file_name``; Roboflow's one-hot ``filename,<class>,<class>...``) or a JSON list (objects with a
  path and a label, Label Studio's JSON and JSON-MIN exports);
- the ``.zip`` that ``dicebox export`` writes (any of the above inside a zip).

Images are PNG, JPEG, WebP, BMP or TIFF; JPEG and TIFF are turned upright by their EXIF orientation.
Every file that is not imported is reported with its reason (:class:`Skipped`).
"""

from __future__ import annotations

import csv
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from dicebox.store.images import PNG_SIGNATURE, check_size

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
SPLITS = ("train", "valid", "test")
SPLIT_NAMES = {
    "train": "train",
    "training": "train",
    "valid": "valid",
    "val": "valid",
    "validation": "valid",
    "test": "test",
}
SPLITS_FILE = "splits.json"
LIST_FILES = ("metadata.csv", "labels.csv")
KNOWN_FILES = {"category_map.json", "dataset.json", SPLITS_FILE, *LIST_FILES, "README.md", "README.txt"}
PATH_KEYS = ("path", "file_name", "filename", "file", "image", "image_path", "img")
LABEL_KEYS = ("label", "labels", "class", "category", "choice", "class_name")


class InterchangeError(ValueError):
    """A source that cannot be read at all (not a folder, list or zip; a list without columns)."""


@dataclass(frozen=True)
class Found:
    """An image file to import, its category and (for split layouts and lists) its split."""

    path: Path
    category: str
    split: str | None = None


@dataclass(frozen=True)
class Skipped:
    """A file that is not imported, and why."""

    path: str
    reason: str


Scan = tuple[list[Found], list[Skipped]]


def scan(source: Path, workdir: Path) -> Scan:
    """The images in ``source`` (folder, .zip, .csv or .json) and every file skipped; a zip is unpacked
    into ``workdir``."""
    if source.is_dir():
        return _scan_folder(source)
    if not source.is_file():
        raise InterchangeError(f"not a folder or file: {source}")
    suffix = source.suffix.lower()
    if suffix == ".zip":
        try:
            with zipfile.ZipFile(source) as archive:
                archive.extractall(workdir)  # extractall drops absolute and '..' parts of member names
        except (zipfile.BadZipFile, OSError) as exc:
            raise InterchangeError(f"cannot read {source}: {exc}") from None
        found, skipped = _scan_folder(workdir)
        return found, [Skipped(_inside(source, workdir, s.path), s.reason) for s in skipped]
    if suffix == ".csv":
        return read_csv(source)
    if suffix in (".json", ".jsonl"):
        return read_json(source)
    raise InterchangeError(f"{source}: expected a folder, a .zip, or a .csv or .json list of images")


def _inside(archive: Path, workdir: Path, path: str) -> str:
    try:
        return f"{archive}:{Path(path).relative_to(workdir).as_posix()}"
    except ValueError:
        return path


def _scan_folder(folder: Path) -> Scan:
    root = _unwrap(folder)
    if (root / "data").is_dir():
        found, skipped = _scan_classes(root / "data", None)
        return found, skipped + _loose_files(root, {"data"})
    splits = {
        p.name: SPLIT_NAMES[p.name.lower()] for p in root.iterdir() if p.is_dir() and p.name.lower() in SPLIT_NAMES
    }
    if splits:
        found, skipped = [], []
        for name, split in sorted(splits.items()):
            listed = _list_in(root / name)
            part = _read_list(listed, split) if listed else _scan_classes(root / name, split)
            found += part[0]
            skipped += part[1]
        others = [p for p in root.iterdir() if p.is_dir() and p.name not in splits]
        skipped += [Skipped(str(p), "a folder beside the split folders (train, valid, test)") for p in sorted(others)]
        return found, skipped + _loose_files(root, set(splits))
    listed = _list_in(root)
    if listed:
        return _read_list(listed, None)
    found, skipped = _scan_classes(root, None)
    return found, skipped + _loose_files(root, set())


def _unwrap(folder: Path) -> Path:
    """The folder inside a wrapper (``dicebox export`` writes ``<data set id>/...``)."""
    entries = [p for p in folder.iterdir() if not p.name.startswith(".")]
    if len(entries) == 1 and entries[0].is_dir():
        inner = entries[0]
        if (inner / "data").is_dir() or (inner / "category_map.json").is_file() or _list_in(inner):
            return inner
    return folder


def _list_in(folder: Path) -> Path | None:
    for name in LIST_FILES:
        if (folder / name).is_file():
            return folder / name
    return None


def _read_list(path: Path, split: str | None) -> Scan:
    found, skipped = read_csv(path)
    if split is not None:
        found = [Found(f.path, f.category, f.split or split) for f in found]
    return found, skipped


def _loose_files(root: Path, used: set[str]) -> list[Skipped]:
    """Files next to the category (or split) folders: reported, unless they are a data set's own files."""
    return [
        Skipped(str(p), "not inside a category folder")
        for p in sorted(root.iterdir())
        if p.is_file() and p.name not in KNOWN_FILES and p.name not in used
    ]


def _file_reason(path: Path) -> str | None:
    if path.name.startswith("."):
        return "hidden file"
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        return (
            f"not an image type dicebox reads ({path.suffix or 'no extension'}; it reads {', '.join(IMAGE_SUFFIXES)})"
        )
    return None


def _scan_classes(root: Path, split: str | None) -> Scan:
    found: list[Found] = []
    skipped: list[Skipped] = []
    for category_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        if category_dir.name.startswith("."):
            skipped.append(Skipped(str(category_dir), "hidden folder"))
            continue
        for path in sorted(category_dir.rglob("*")):
            if path.is_dir():
                continue
            if path.parent != category_dir:
                skipped.append(Skipped(str(path), "in a folder inside the category folder"))
                continue
            reason = _file_reason(path)
            if reason:
                skipped.append(Skipped(str(path), reason))
            else:
                found.append(Found(path, category_dir.name, split))
    if root.is_dir() and split is not None:
        skipped += _loose_files(root, set())
    return found, skipped


# Lists --------------------------------------------------------------------------------------------
def _resolve(base: Path, value: str) -> Path:
    path = Path(value)
    if not path.is_absolute():
        path = base / path
    if not path.exists() and (base / Path(value).name).exists():
        return base / Path(value).name  # Label Studio writes /data/upload/<n>/<file>
    return path


def _entry(base: Path, raw_path: str, label: str, split: str | None, where: str) -> Found | Skipped:
    if not raw_path:
        return Skipped(where, "no image path")
    path = _resolve(base, raw_path)
    if not label:
        return Skipped(str(path), f"{where}: no label")
    if not path.is_file():
        return Skipped(str(path), f"{where}: file not found")
    reason = _file_reason(path)
    if reason:
        return Skipped(str(path), f"{where}: {reason}")
    if split is not None:
        split = SPLIT_NAMES.get(split.strip().lower())
        if split is None:
            return Skipped(str(path), f"{where}: unknown split (expected one of train, valid, val, test)")
    return Found(path, label, split)


def _key(keys: list[str], wanted: tuple[str, ...]) -> str | None:
    lowered = {k.strip().lower(): k for k in keys if k is not None}
    return next((lowered[w] for w in wanted if w in lowered), None)


def read_csv(path: Path) -> Scan:
    """A CSV list: a path column and a label column (or one-hot label columns), optional ``split``."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.DictReader(fh))
            columns = list(rows[0].keys()) if rows else []
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InterchangeError(f"cannot read {path}: {exc}") from None
    path_key = _key(columns, PATH_KEYS)
    if path_key is None:
        raise InterchangeError(f"{path}: no image path column (one of {', '.join(PATH_KEYS)})")
    label_key = _key(columns, LABEL_KEYS)
    split_key = _key(columns, ("split",))
    one_hot = [c for c in columns if c not in (path_key, split_key)] if label_key is None else []
    if label_key is None and not one_hot:
        raise InterchangeError(f"{path}: no label column (one of {', '.join(LABEL_KEYS)}, or one-hot class columns)")
    found, skipped = [], []
    for number, row in enumerate(rows, start=2):
        where = f"{path.name} line {number}"
        if label_key is not None:
            label = (row.get(label_key) or "").strip()
        else:
            chosen = [c.strip() for c in one_hot if (row.get(c) or "").strip() == "1"]
            if len(chosen) != 1:
                skipped.append(Skipped(str(row.get(path_key)), f"{where}: {len(chosen)} labels set, need exactly one"))
                continue
            label = chosen[0]
        split = row.get(split_key) if split_key else None
        item = _entry(path.parent, (row.get(path_key) or "").strip(), label, split, where)
        (found if isinstance(item, Found) else skipped).append(item)
    return found, skipped


def _label_studio_choice(task: dict[str, Any]) -> str:
    for annotation in task.get("annotations") or []:
        for result in annotation.get("result") or []:
            choices = (result.get("value") or {}).get("choices") or []
            if choices:
                return str(choices[0])
    return ""


def read_json(path: Path) -> Scan:
    """A JSON (or JSON Lines) list of ``{"path": ..., "label": ...}`` objects, or a Label Studio export."""
    try:
        text = path.read_text(encoding="utf-8-sig")
        if path.suffix.lower() == ".jsonl":
            items = [json.loads(line) for line in text.splitlines() if line.strip()]
        else:
            items = json.loads(text)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InterchangeError(f"cannot read {path}: {exc}") from None
    if isinstance(items, dict):
        items = next((v for v in items.values() if isinstance(v, list)), None)
    if not isinstance(items, list):
        raise InterchangeError(f"{path}: expected a list of objects with an image path and a label")
    found, skipped = [], []
    for number, item in enumerate(items, start=1):
        where = f"{path.name} item {number}"
        if not isinstance(item, dict):
            skipped.append(Skipped(where, "not an object"))
            continue
        data = item.get("data") if isinstance(item.get("data"), dict) else item  # Label Studio's full export
        path_key = _key(list(data), PATH_KEYS)
        label_key = _key(list(item), LABEL_KEYS)
        label = item.get(label_key) if label_key else _label_studio_choice(item)
        if isinstance(label, dict):  # Label Studio JSON-MIN with several choices: {"choices": [...]}
            label = (label.get("choices") or [""])[0]
        elif isinstance(label, list):
            label = label[0] if len(label) == 1 else ""
        split = item.get("split") if isinstance(item.get("split"), str) else None
        raw = str(data.get(path_key) or "") if path_key else ""
        entry = _entry(path.parent, raw, str(label or "").strip(), split, where)
        (found if isinstance(entry, Found) else skipped).append(entry)
    return found, skipped


# Decoding -----------------------------------------------------------------------------------------
def read_image(path: Path, max_pixels: int) -> bytes | np.ndarray:
    """The file's image for ``Dataset.prepare``: PNG bytes as they are; any other format decoded to
    BGR pixels, upright by its EXIF orientation. Raises OSError or ValueError with the reason."""
    data = path.read_bytes()
    if data.startswith(PNG_SIGNATURE):
        return data
    if data.startswith(b"\xff\xd8"):
        check_size(data, max_pixels)  # from the header, before decoding
    # IMREAD_COLOR applies the EXIF orientation (IMREAD_UNCHANGED, the store's flag, does not).
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None or image.size == 0:
        raise ValueError("not a readable PNG, JPEG, WebP, BMP or TIFF image")
    if image.shape[0] * image.shape[1] > max_pixels:
        raise ValueError(f"image of {image.shape[1]}x{image.shape[0]} pixels is over the limit of {max_pixels}")
    return image


# Splits -------------------------------------------------------------------------------------------
def load_splits(dataset_path: Path) -> dict[str, str]:
    """Image id -> split, as recorded by earlier imports (empty when none was)."""
    try:
        doc = json.loads((dataset_path / SPLITS_FILE).read_text(encoding="utf-8"))
        return {str(k): str(v) for k, v in doc["splits"].items() if v in SPLITS}
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
        raise InterchangeError(f"{dataset_path / SPLITS_FILE} is corrupt: {exc}") from None


def save_splits(dataset_path: Path, splits: dict[str, str]) -> None:
    """Record image id -> split beside the data set (atomically), merged with what was there."""
    from dicebox.plumbing.durable import write_text_atomic

    merged = {**load_splits(dataset_path), **splits}
    doc = {"format": "dicebox.splits", "splits": dict(sorted(merged.items()))}
    write_text_atomic(dataset_path / SPLITS_FILE, json.dumps(doc, indent=1) + "\n")
