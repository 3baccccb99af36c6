"""``dicebox import`` and ``dicebox export``: data sets to and from other tools.

Import reads ImageFolder trees, split folders, CSV/JSON lists and dicebox's own export zip
(:mod:`dicebox.store.interchange`); export writes an ImageFolder tree or zip, with ``--splits`` one tree per
split and with ``--csv`` a ``labels.csv`` list, which import reads back to the same images and labels.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

from tqdm import tqdm

from dicebox.cli import UsageError
from dicebox.cli.serve import add_config_arguments, config_from_args
from dicebox.store import Dataset, DatasetStore, StoreError, validate_category
from dicebox.store.images import PreparedImage
from dicebox.store.interchange import (
    IMAGE_SUFFIXES,
    SPLITS,
    Found,
    InterchangeError,
    Skipped,
    load_splits,
    read_image,
    save_splits,
    scan,
)
from dicebox.store.names import check_new_categories, resolve_category

CHUNK = 256
CSV_FILE = "labels.csv"


def register(subparsers) -> None:
    imp = subparsers.add_parser(
        "import",
        help="add images to a data set: category folders, split folders, a CSV/JSON list or an export .zip",
    )
    add_config_arguments(imp)
    imp.add_argument(
        "folder",
        metavar="SOURCE",
        help="folder of category folders (or train/, valid/ or val/, test/ with category folders), "
        "a .csv or .json list of path,label, or a .zip written by dicebox export",
    )
    imp.add_argument("--dataset", help="data set id <name>_<width>x<height> (default: the configured one)")
    imp.add_argument("--skip-bad", action="store_true", help="skip unreadable images instead of stopping")
    imp.set_defaults(func=run_import)

    exp = subparsers.add_parser("export", help="write a data set as an ImageFolder tree or zip")
    add_config_arguments(exp)
    exp.add_argument("--dataset", help="data set id (default: the configured one)")
    exp.add_argument("--out", required=True, help="a folder, or a file ending in .zip")
    exp.add_argument(
        "--splits",
        action="store_true",
        help="one tree per split (train/, valid/, test/) as imported; images without a split go to train/",
    )
    exp.add_argument("--csv", action="store_true", help=f"also write {CSV_FILE}: path,label[,split] per image")
    exp.set_defaults(func=run_export)


def _open_dataset(args: argparse.Namespace, create: bool) -> Dataset:
    config = config_from_args(args)
    store = DatasetStore.from_config(config)
    try:
        return store.dataset(args.dataset or config.dataset_id, create=create)
    except StoreError as exc:
        raise UsageError(str(exc)) from None


def _report(skipped: list[Skipped]) -> None:
    for item in skipped:
        print(f"  skipped {item.path}: {item.reason}")


def run_import(args: argparse.Namespace) -> int:
    source = Path(args.folder)
    if not source.exists():
        raise UsageError(f"not a folder: {source}")
    with tempfile.TemporaryDirectory(prefix="dicebox-import-") as workdir:
        try:
            files, skipped = scan(source, Path(workdir))
        except InterchangeError as exc:
            raise UsageError(str(exc)) from None
        return _import(args, source, files, skipped)


def _import(args: argparse.Namespace, source: Path, files: list[Found], skipped: list[Skipped]) -> int:
    if not files:
        detail = f" ({len(skipped)} files skipped, first: {skipped[0].path}: {skipped[0].reason})" if skipped else ""
        raise UsageError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in category folders or lists under {source}{detail}")
    folders = sorted({f.category for f in files})
    names = {}
    for category in folders:
        try:
            names[category] = validate_category(category)
        except StoreError as exc:
            raise UsageError(f"category {category!r}: {exc}") from None
    dataset = _open_dataset(args, create=True)
    # Checked before the first image is stored: a folder that Windows or macOS would merge with
    # another one (case, accents) stops the import with nothing imported, not part-way through.
    existing = dataset.categories()
    resolved = {folder: resolve_category(name, existing) for folder, name in names.items()}
    try:
        check_new_categories(dict.fromkeys(c for c in resolved.values() if c not in existing), existing)
    except StoreError as exc:
        raise UsageError(f"{exc} (nothing was imported)") from None
    prepared: list[tuple[PreparedImage, str, str | None]] = []
    bad: list[Skipped] = []
    for item in tqdm(files, desc="checking", unit="img", leave=False):
        try:
            image = dataset.prepare(read_image(item.path, dataset.max_image_pixels))
        except (StoreError, OSError, ValueError) as exc:
            if not args.skip_bad:
                raise UsageError(f"{item.path}: {exc} (nothing was imported; --skip-bad skips such files)") from None
            bad.append(Skipped(str(item.path), str(exc)))
            continue
        prepared.append((image, resolved[item.category], item.split))
    stored = duplicates = 0
    with tqdm(total=len(prepared), desc="importing", unit="img") as bar:
        for start in range(0, len(prepared), CHUNK):
            chunk = prepared[start : start + CHUNK]
            try:
                results = dataset.store_many([(p.pixels, c) for p, c, _ in chunk])
            except StoreError as exc:
                raise UsageError(f"import stopped after {stored} images: {exc}") from None
            stored += sum(not r.duplicate for r in results)
            duplicates += sum(r.duplicate for r in results)
            bar.update(len(chunk))
    splits = {p.id: split for p, _, split in prepared if split is not None}
    if splits:
        save_splits(dataset.path, splits)
    skipped = skipped + bad
    print(f"imported {stored} images into {dataset.id} ({duplicates} already there, {len(skipped)} skipped)")
    for name, n in dataset.counts().items():
        print(f"  {name}: {n}")
    if splits:
        kept = {split: sum(s == split for s in splits.values()) for split in SPLITS}
        print("  splits kept: " + ", ".join(f"{split} {n}" for split, n in kept.items() if n))
    _report(skipped)
    return 0


def run_export(args: argparse.Namespace) -> int:
    dataset = _open_dataset(args, create=False)
    out = Path(args.out)
    category_map = json.dumps({"category_map": dataset.category_map()}, indent=2, ensure_ascii=False)
    records = [r for c in dataset.categories() for r in dataset.list_images(c, 0, 10**9)]
    dataset.flush()  # images a running service acknowledged since we opened: their files too
    try:
        recorded = load_splits(dataset.path) if args.splits else {}
    except InterchangeError as exc:
        raise UsageError(str(exc)) from None
    folders = SPLITS if args.splits else ("data",)
    files = []  # (source file, path inside the export)
    rows = []
    for record in records:
        split = recorded.get(record.id, "train") if args.splits else None
        name = f"{split or 'data'}/{record.category}/{record.id}.png"
        files.append((dataset.data_dir / record.category / f"{record.id}.png", name))
        rows.append([name, record.category, *([split] if split else [])])
    extra = {"category_map.json": category_map}
    if args.csv:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["path", "label", *(["split"] if args.splits else [])])
        writer.writerows(rows)
        extra[CSV_FILE] = buffer.getvalue()
    prefix = f"{dataset.id}/"
    if out.suffix.lower() == ".zip":
        tmp = out.with_name(f".{out.name}.partial")
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as archive:
            for name, text in extra.items():
                archive.writestr(prefix + name, text)
            for folder in folders:
                for category in dataset.categories():
                    archive.writestr(f"{prefix}{folder}/{category}/", "")
            for src, name in tqdm(files, desc="exporting", unit="img"):
                archive.write(src, prefix + name)
        os.replace(tmp, out)
    else:
        target = out / dataset.id
        if target.exists() and any(target.iterdir()):
            raise UsageError(f"{target} exists and is not empty")
        for folder in folders:
            for category in dataset.categories():
                (target / folder / category).mkdir(parents=True, exist_ok=True)
        for name, text in extra.items():
            (target / name).write_text(text, encoding="utf-8")
        for src, name in tqdm(files, desc="exporting", unit="img"):
            shutil.copyfile(src, target / name)
    print(f"exported {len(records)} images of {dataset.id} to {out}")
    return 0
