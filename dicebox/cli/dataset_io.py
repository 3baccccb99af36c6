"""``dicebox import`` and ``dicebox export``: data sets to and from ImageFolder trees."""

from __future__ import annotations

import argparse
import json
import os
import zipfile
from pathlib import Path

from tqdm import tqdm

from dicebox.cli import UsageError
from dicebox.cli.serve import add_config_arguments, config_from_args
from dicebox.store import Dataset, DatasetStore, StoreError, validate_category
from dicebox.store.images import PreparedImage

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg"}
CHUNK = 256


def register(subparsers) -> None:
    imp = subparsers.add_parser("import", help="add an ImageFolder tree (<category>/<image>) to a data set")
    add_config_arguments(imp)
    imp.add_argument("folder", help="folder with one sub-folder of images per category (or <folder>/data/...)")
    imp.add_argument("--dataset", help="data set id <name>_<width>x<height> (default: the configured one)")
    imp.add_argument("--skip-bad", action="store_true", help="skip unreadable images instead of stopping")
    imp.set_defaults(func=run_import)

    exp = subparsers.add_parser("export", help="write a data set as an ImageFolder tree or zip")
    add_config_arguments(exp)
    exp.add_argument("--dataset", help="data set id (default: the configured one)")
    exp.add_argument("--out", required=True, help="a folder, or a file ending in .zip")
    exp.set_defaults(func=run_export)


def _open_dataset(args: argparse.Namespace, create: bool) -> Dataset:
    config = config_from_args(args)
    store = DatasetStore(config.datasets_dir, default_channels=config.dataset.channels,
                         max_image_pixels=config.server.max_image_pixels)
    try:
        return store.dataset(args.dataset or config.dataset_id, create=create)
    except StoreError as exc:
        raise UsageError(str(exc)) from None


def find_images(folder: Path) -> list[tuple[Path, str]]:
    """(image file, category) for every image in an ImageFolder tree."""
    root = folder / "data" if (folder / "data").is_dir() else folder
    found = []
    for category_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for path in sorted(category_dir.iterdir()):
            if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file():
                found.append((path, category_dir.name))
    return found


def run_import(args: argparse.Namespace) -> int:
    folder = Path(args.folder)
    if not folder.is_dir():
        raise UsageError(f"not a folder: {folder}")
    files = find_images(folder)
    if not files:
        raise UsageError(f"no PNG or JPEG images in category folders under {folder}")
    for category in {c for _, c in files}:
        try:
            validate_category(category)
        except StoreError as exc:
            raise UsageError(f"folder {category!r}: {exc}") from None
    dataset = _open_dataset(args, create=True)
    prepared: list[tuple[PreparedImage, str]] = []
    skipped = []
    for path, category in tqdm(files, desc="checking", unit="img", leave=False):
        try:
            prepared.append((dataset.prepare(path.read_bytes()), category))
        except (StoreError, OSError) as exc:
            if not args.skip_bad:
                raise UsageError(f"{path}: {exc} (nothing was imported; --skip-bad skips such files)") from None
            skipped.append(path)
    stored = duplicates = 0
    with tqdm(total=len(prepared), desc="importing", unit="img") as bar:
        for start in range(0, len(prepared), CHUNK):
            chunk = prepared[start : start + CHUNK]
            try:
                results = dataset.store_many([(p.pixels, c) for p, c in chunk])
            except StoreError as exc:
                raise UsageError(f"import stopped after {stored} images: {exc}") from None
            stored += sum(not r.duplicate for r in results)
            duplicates += sum(r.duplicate for r in results)
            bar.update(len(chunk))
    print(f"imported {stored} images into {dataset.id} ({duplicates} already there, {len(skipped)} skipped)")
    for name, n in dataset.counts().items():
        print(f"  {name}: {n}")
    return 0


def run_export(args: argparse.Namespace) -> int:
    dataset = _open_dataset(args, create=False)
    out = Path(args.out)
    category_map = json.dumps({"category_map": dataset.category_map()}, indent=2, ensure_ascii=False)
    records = [r for c in dataset.categories() for r in dataset.list_images(c, 0, 10**9)]
    dataset.flush()  # images a running service acknowledged since we opened: their files too
    prefix = f"{dataset.id}/"
    if out.suffix.lower() == ".zip":
        tmp = out.with_name(f".{out.name}.partial")
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as archive:
            archive.writestr(f"{prefix}category_map.json", category_map)
            for category in dataset.categories():
                archive.writestr(f"{prefix}data/{category}/", "")
            for record in tqdm(records, desc="exporting", unit="img"):
                archive.write(dataset.data_dir / record.category / f"{record.id}.png",
                              f"{prefix}data/{record.category}/{record.id}.png")
        os.replace(tmp, out)
    else:
        target = out / dataset.id
        if target.exists() and any(target.iterdir()):
            raise UsageError(f"{target} exists and is not empty")
        for category in dataset.categories():
            (target / "data" / category).mkdir(parents=True, exist_ok=True)
        (target / "category_map.json").write_text(category_map, encoding="utf-8")
        for record in tqdm(records, desc="exporting", unit="img"):
            src = dataset.data_dir / record.category / f"{record.id}.png"
            (target / "data" / record.category / f"{record.id}.png").write_bytes(src.read_bytes())
    print(f"exported {len(records)} images of {dataset.id} to {out}")
    return 0
