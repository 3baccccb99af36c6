"""One data set on disk: ``<name>_<width>x<height>/data/<category>/<id>.png`` plus its index.

The folders (the ImageFolder layout other tools read) and the index hold the images together.
A store is acknowledged once its PNG bytes are committed to the index's ``pending`` table, one
fsynced commit for every store that arrived meanwhile; :mod:`dicebox.store.materialiser` then
writes the files in batches (temp file, rename, sync) when stores pause. Opening a data set, and
every read that needs the files, first materialises what is pending, so an acknowledged store is
never lost: not on a crash, not on a power cut.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from dicebox.camera.preprocess import Geometry, to_channels
from dicebox.durable import TEMP_PREFIX, fsync_dir, write_text_atomic
from dicebox.labelled import LabelledImages
from dicebox.store.augment import augment
from dicebox.store.errors import BatchTooLarge, Conflict, InvalidImage, NotFound, StoreError
from dicebox.store.images import DEFAULT_MAX_PIXELS, PreparedImage, prepare_image
from dicebox.store.index import DatasetIndex, ImageRecord
from dicebox.store.materialiser import Materialiser
from dicebox.store.names import parse_dataset_id, validate_category
from dicebox.store.store_pipeline import StorePipeline

log = logging.getLogger(__name__)

INDEX_FILE = "index.sqlite3"
INFO_FILE = "dataset.json"
CATEGORY_MAP_FILE = "category_map.json"
# Temp files younger than this may belong to a write under way in another process.
STALE_TEMP_SECONDS = 600
_READERS = 4


@dataclass
class _StoreJob:
    """One store call: its images in, its answers out (filled in by the store thread)."""

    items: list[tuple[bytes | np.ndarray, str]]
    images: list[tuple[PreparedImage, str]] = field(default_factory=list)
    duplicates: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class StoredImage:
    """The answer to a store: the image's id, its category, and whether it was already there."""

    id: str
    category: str
    duplicate: bool = False


class Dataset:
    """A labelled image set of one geometry. Thread-safe; several processes may share it."""

    def __init__(self, path: Path, geometry: Geometry, max_image_pixels: int = DEFAULT_MAX_PIXELS) -> None:
        self.path = Path(path)
        self.id = self.path.name
        self.geometry = geometry
        self.max_image_pixels = max_image_pixels
        self.data_dir = self.path / "data"
        self._write_lock = threading.Lock()
        self._known_categories: set[str] = set()
        self._pipeline: StorePipeline[_StoreJob] = StorePipeline(self._process_stores)
        self._cache_lock = threading.Lock()
        self._pixels: dict[str, np.ndarray] = {}
        self._stack_key: tuple[str, ...] = ()
        self._stack = np.zeros((0, *geometry.shape), np.uint8)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        index_path = self.path / INDEX_FILE
        fresh = not index_path.exists()
        try:
            self.index = DatasetIndex(index_path)
            self.index.count()
        except Exception as exc:  # noqa: BLE001 - any damage to the cache means: rebuild it
            # Kept aside, not deleted: it may still hold pending images someone can recover.
            aside = f"{index_path}.damaged-{time.strftime('%Y%m%d-%H%M%S')}"
            log.warning("index of %s is unreadable (%s); moved to %s, rebuilding it from the folders",
                        self.id, exc, Path(aside).name)
            for suffix in ("", "-wal", "-shm"):
                if Path(f"{index_path}{suffix}").exists():
                    os.replace(f"{index_path}{suffix}", f"{aside}{suffix}")
            self.index = DatasetIndex(index_path)
            fresh = True
        self.materialiser = Materialiser(self.index, self.data_dir)
        self.reconcile(log_changes=not fresh)

    # Opening ----------------------------------------------------------------------------------
    @classmethod
    def open(
        cls, path: Path, *, channels: int = 1, create: bool = True, max_image_pixels: int = DEFAULT_MAX_PIXELS
    ) -> Dataset:
        """Open (or create) the data set folder ``path``; its name gives width and height."""
        path = Path(path)
        _name, width, height = parse_dataset_id(path.name)
        info_file = path / INFO_FILE
        if info_file.exists():
            info = json.loads(info_file.read_text(encoding="utf-8"))
            channels = int(info.get("channels", channels))
        elif not create and not path.exists():
            raise NotFound(f"data set {path.name!r} does not exist")
        geometry = Geometry(width, height, channels)
        path.mkdir(parents=True, exist_ok=True)
        if not info_file.exists():
            info = {"width": width, "height": height, "channels": channels, "created": time.time()}
            write_text_atomic(info_file, json.dumps(info, indent=2))
        return cls(path, geometry, max_image_pixels)

    def close(self) -> None:
        """Finish the stores under way, write every pending image to its file, close the index."""
        self._pipeline.close()
        self.materialiser.close()
        self.index.close()

    def flush(self) -> int:
        """Write every acknowledged image to its file now (normally done when stores pause)."""
        return self.materialiser.flush()

    # Consistency ------------------------------------------------------------------------------
    def reconcile(self, log_changes: bool = True) -> int:
        """Make the index match the folders (after a crash, a lost index, or another tool's edits).

        Pending images are written to files first. Returns the number of index rows changed.
        """
        self.materialiser.flush()
        on_disk: dict[str, tuple[str, int, float]] = {}
        folders: list[str] = []
        now = time.time()
        for entry in os.scandir(self.data_dir):
            if not entry.is_dir() or entry.name.startswith("."):
                continue
            try:
                validate_category(entry.name)
            except Exception:  # noqa: BLE001 - a folder we would never create: leave it alone
                log.warning("ignoring folder %s: not a valid category name", entry.path)
                continue
            folders.append(entry.name)
            for item in os.scandir(entry.path):
                try:
                    if item.name.startswith(TEMP_PREFIX):
                        if now - item.stat().st_mtime > STALE_TEMP_SECONDS:
                            Path(item.path).unlink(missing_ok=True)
                        continue
                    if item.name.endswith(".png") and item.is_file():
                        stat = item.stat()
                        on_disk[item.name[: -len(".png")]] = (entry.name, stat.st_size, stat.st_mtime)
                except FileNotFoundError:
                    continue  # renamed or removed by another process while we looked
        changed = 0
        with self.index.transaction() as db:
            indexed = dict(db.execute("SELECT id, category FROM images").fetchall())
            for image_id, category in indexed.items():
                if image_id not in on_disk:
                    db.execute("DELETE FROM images WHERE id = ?", (image_id,))
                    changed += 1
                elif on_disk[image_id][0] != category:
                    db.execute("UPDATE images SET category = ? WHERE id = ?", (on_disk[image_id][0], image_id))
                    changed += 1
            for image_id, (category, size, mtime) in on_disk.items():
                if image_id not in indexed:
                    db.execute(
                        "INSERT OR REPLACE INTO images (id, category, created, size) VALUES (?, ?, ?, ?)",
                        (image_id, category, mtime, size),
                    )
                    changed += 1
            known = {name for (name,) in db.execute("SELECT name FROM categories")}
            for name in set(folders) - known:
                db.execute("INSERT OR IGNORE INTO categories (name) VALUES (?)", (name,))
                changed += 1
            for name in known - set(folders):
                db.execute("DELETE FROM categories WHERE name = ?", (name,))
                changed += 1
        if changed:
            if log_changes:
                log.warning("index of %s repaired: %d entries changed", self.id, changed)
            self._write_category_map()
        return changed

    # Categories -------------------------------------------------------------------------------
    def categories(self) -> list[str]:
        """Category names, sorted: their positions are the category indices."""
        return self.index.categories()

    def category_map(self) -> dict[str, int]:
        """``{name: index}`` as the original's ``/api/sensory/category``."""
        return {name: i for i, name in enumerate(self.categories())}

    def add_category(self, name: str) -> bool:
        """Create an (empty) category; False if it already existed."""
        validate_category(name)
        with self._write_lock:
            if name in self.categories():
                return False
            self._ensure_category(name)
            return True

    def delete_category(self, name: str) -> None:
        """Remove an empty category (images must be deleted or relabelled first)."""
        validate_category(name)
        with self._write_lock:
            counts = self.index.counts()
            if name not in counts:
                raise NotFound(f"category {name!r} does not exist")
            if counts[name]:
                raise Conflict(f"category {name!r} still holds {counts[name]} images")
            folder = self.data_dir / name
            for leftover in folder.glob(f"{TEMP_PREFIX}*"):
                leftover.unlink(missing_ok=True)
            folder.rmdir()
            self._known_categories.discard(name)
            with self.index.transaction() as db:
                db.execute("DELETE FROM categories WHERE name = ?", (name,))
            self._write_category_map()

    def _ensure_category(self, name: str) -> None:
        """Create a category's folder and index entry, in a transaction of its own."""
        with self.index.transaction() as db:
            added = self._add_category(name, db)
        if added:
            self._write_category_map()
        self._known_categories.add(name)

    def _add_category(self, name: str, db) -> bool:
        """The folder now, the index entry in ``db``'s transaction; True if the entry is new."""
        folder = self.data_dir / name
        if not folder.is_dir():
            folder.mkdir(parents=True, exist_ok=True)
            fsync_dir(self.data_dir)
        return db.execute("INSERT OR IGNORE INTO categories (name) VALUES (?)", (name,)).rowcount > 0

    def _write_category_map(self) -> None:
        text = json.dumps({"category_map": self.category_map()}, indent=2, ensure_ascii=False)
        write_text_atomic(self.path / CATEGORY_MAP_FILE, text)

    # Counting and listing ---------------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        """Images per category (every category, empty ones included)."""
        return self.index.counts()

    def count(self) -> int:
        return self.index.count()

    def list_images(self, category: str | None = None, offset: int = 0, limit: int = 100) -> list[ImageRecord]:
        if category is not None:
            validate_category(category)
        return self.index.list(category, offset, limit)

    def image_path(self, image_id: str) -> Path:
        """The PNG file of an image (written now if it is still pending)."""
        if _is_image_id(image_id) and self.index.is_pending(image_id):
            self.materialiser.flush()
        record = self.index.get(image_id) if _is_image_id(image_id) else None
        if record is None:
            raise NotFound(f"image {image_id!r} is not in data set {self.id!r}")
        return self.data_dir / record.category / f"{image_id}.png"

    def version(self) -> str:
        """A fingerprint of the content (every id and its label): equal content, equal version."""
        return _version_of(self.index.labelled_ids())

    # Writing ----------------------------------------------------------------------------------
    def prepare(self, source: bytes | np.ndarray) -> PreparedImage:
        """Validate and normalise one image for this data set without storing it."""
        return prepare_image(source, self.geometry, self.max_image_pixels)

    def store(self, source: bytes | np.ndarray, category: str) -> StoredImage:
        """Store one image (PNG/JPEG bytes or a uint8 array) under ``category``, durably."""
        return self.store_many([(source, category)])[0]

    def store_many(self, items: list[tuple[bytes | np.ndarray, str]]) -> list[StoredImage]:
        """Store several images; all are validated first, so one bad image stores nothing.

        Returns once the images are durable. Concurrent calls share one index commit and one
        fsync, made by the store thread (:mod:`dicebox.store.store_pipeline`).
        """
        for _source, category in items:
            validate_category(category)
        job = _StoreJob(list(items))
        self._pipeline.submit(job)
        return [StoredImage(image.id, category, duplicate=image.id in job.duplicates)
                for image, category in job.images]

    def _process_stores(self, jobs: list[_StoreJob]) -> dict[int, BaseException]:
        """On the store thread: validate, one index transaction, one fsync, for several stores."""
        errors: dict[int, BaseException] = {}
        for position, job in enumerate(jobs):
            try:
                job.images = self._prepare_job(job.items)
            except StoreError as exc:
                errors[position] = exc
        accepted = [(position, job) for position, job in enumerate(jobs) if position not in errors]
        if not accepted:
            return errors
        now = time.time()
        if self._store_one_fast(accepted, now):
            fresh = accepted[0][1].images
        else:
            fresh = self._store_in_transaction(accepted, now, errors)
        self.index.sync()  # the acknowledgement: every commit above is on disk
        if fresh:
            with self._cache_lock:
                for image, _category in fresh:
                    self._pixels[image.id] = image.pixels
            self.materialiser.notify(len(fresh), sum(len(image.png) for image, _ in fresh))
        return errors

    def _store_one_fast(self, accepted: list[tuple[int, _StoreJob]], now: float) -> bool:
        """The common case, one new image into a known category: one statement, no transaction.

        False when this case does not apply or the image is already there (the transaction
        path then sorts out duplicate or conflict).
        """
        if len(accepted) != 1 or len(accepted[0][1].images) != 1:
            return False
        image, category = accepted[0][1].images[0]
        if category not in self._known_categories:
            return False
        return self.index.add_pending_if_new(image.id, category, now, image.png)

    def _store_in_transaction(
        self, accepted: list[tuple[int, _StoreJob]], now: float, errors: dict[int, BaseException]
    ) -> list[tuple[PreparedImage, str]]:
        """Stores that need a transaction: several images, a new category, a duplicate or a
        conflict. Records refused jobs in ``errors``; returns the images newly stored."""
        fresh: list[tuple[PreparedImage, str]] = []
        categories: set[str] = set()
        map_changed = False
        with self.index.transaction() as db:
            found = _categories_of(db, [image.id for _, job in accepted for image, _ in job.images])
            for position, job in accepted:
                stored = {image.id: found[image.id] for image, _ in job.images if image.id in found}
                try:
                    _raise_on_conflict({image.id: category for image, category in job.images}, stored)
                    unique = {image.id: (image, category) for image, category in job.images}
                    new = [(image, category) for image, category in unique.values() if image.id not in stored]
                    for category in {category for _, category in new} - self._known_categories - categories:
                        map_changed |= self._add_category(category, db)
                        categories.add(category)
                except StoreError as exc:
                    errors[position] = exc
                    continue
                job.duplicates = set(stored)
                db.executemany(
                    "INSERT INTO pending (id, category, created, size, png) VALUES (?, ?, ?, ?, ?)",
                    [(image.id, category, now, len(image.png), image.png) for image, category in new],
                )
                found.update({image.id: category for image, category in new})
                fresh.extend(new)
        self._known_categories |= categories  # only once the transaction has committed
        if map_changed:
            self._write_category_map()
        return fresh

    def _prepare_job(self, items: list[tuple[bytes | np.ndarray, str]]) -> list[tuple[PreparedImage, str]]:
        prepared: list[tuple[PreparedImage, str]] = []
        wanted: dict[str, str] = {}
        for position, (source, category) in enumerate(items):
            try:
                image = self.prepare(source)
            except InvalidImage as exc:
                raise type(exc)(f"image {position}: {exc}" if len(items) > 1 else str(exc)) from None
            if wanted.setdefault(image.id, category) != category:
                raise Conflict(f"the same image appears under {wanted[image.id]!r} and {category!r}")
            prepared.append((image, category))
        return prepared

    def delete(self, ids: list[str]) -> int:
        """Delete images by id; unknown ids are an error and nothing is deleted."""
        with self._write_lock:
            self.materialiser.flush()
            records = self._records(ids)
            for record in records:
                (self.data_dir / record.category / f"{record.id}.png").unlink(missing_ok=True)
            for folder in {record.category for record in records}:
                fsync_dir(self.data_dir / folder)
            with self.index.transaction() as db:
                db.executemany("DELETE FROM images WHERE id = ?", [(r.id,) for r in records])
                db.executemany("DELETE FROM pending WHERE id = ?", [(r.id,) for r in records])
            self.index.sync()
            with self._cache_lock:
                for record in records:
                    self._pixels.pop(record.id, None)
            return len(records)

    def relabel(self, ids: list[str], category: str) -> int:
        """Move images to another category; unknown ids are an error and nothing moves."""
        validate_category(category)
        with self._write_lock:
            self.materialiser.flush()
            records = [r for r in self._records(ids) if r.category != category]
            self._ensure_category(category)
            target = self.data_dir / category
            for record in records:
                os.replace(self.data_dir / record.category / f"{record.id}.png", target / f"{record.id}.png")
            for folder in {record.category for record in records} | {category}:
                fsync_dir(self.data_dir / folder)
            with self.index.transaction() as db:
                moves = [(category, r.id) for r in records]
                db.executemany("UPDATE images SET category = ? WHERE id = ?", moves)
                db.executemany("UPDATE pending SET category = ? WHERE id = ?", moves)
            self.index.sync()
            return len(records)

    def _records(self, ids: list[str]) -> list[ImageRecord]:
        bad = [i for i in ids if not _is_image_id(i)]
        found = self.index.get_many(i for i in ids if _is_image_id(i))
        missing = bad + [i for i in ids if _is_image_id(i) and i not in found]
        if missing:
            raise NotFound(f"{len(missing)} image(s) not in data set {self.id!r}: {', '.join(map(str, missing[:5]))}")
        return [found[i] for i in dict.fromkeys(ids)]

    # Reading for training ---------------------------------------------------------------------
    def arrays(self) -> LabelledImages:
        """Every image with its label, from the decoded cache (only new images are decoded)."""
        rows, stack = self._current_stack()
        categories = tuple(self.categories())
        lookup = {name: i for i, name in enumerate(categories)}
        labels = np.fromiter((lookup[c] for _, c in rows), np.int64, len(rows))
        version = _version_of(rows)
        return LabelledImages(stack, labels, categories, version)

    def sample(self, batch_size: int, noise: float = 0.0, rng: np.random.Generator | None = None) -> LabelledImages:
        """A random batch without repeats (the original ``/api/sensory/request``), augmented."""
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise BatchTooLarge(f"batch_size must be a positive whole number, got {batch_size!r}")
        data = self.arrays()
        if batch_size > len(data):
            raise BatchTooLarge(f"batch_size {batch_size} is larger than the data set ({len(data)} images)")
        rng = rng or np.random.default_rng()
        chosen = np.sort(rng.choice(len(data), size=batch_size, replace=False))
        images = augment(data.images[chosen], noise, rng)
        return LabelledImages(images, data.labels[chosen], data.categories, data.version)

    def _current_stack(self) -> tuple[list[tuple[str, str]], np.ndarray]:
        rows = self.index.labelled_ids()
        key = tuple(image_id for image_id, _ in rows)
        with self._cache_lock:
            if key == self._stack_key:
                return rows, self._stack
            missing = [(i, c) for i, c in rows if i not in self._pixels]
        loaded = self._load_pixels(missing)
        with self._cache_lock:
            self._pixels.update(loaded)
            alive = set(key)
            for gone in [i for i in self._pixels if i not in alive]:
                del self._pixels[gone]
            # An image moved or deleted by another process mid-read is left out this time.
            rows = [(i, c) for i, c in rows if i in self._pixels]
            key = tuple(i for i, _ in rows)
            stack = np.empty((len(rows), *self.geometry.shape), np.uint8)
            for n, (image_id, _) in enumerate(rows):
                stack[n] = self._pixels[image_id]
            stack.setflags(write=False)
            self._stack_key, self._stack = key, stack
            return rows, stack

    def _load_pixels(self, rows: list[tuple[str, str]]) -> dict[str, np.ndarray]:
        def load(row: tuple[str, str]) -> tuple[str, np.ndarray | None]:
            image_id, category = row
            return image_id, self._usable(image_id, cv2.imread(str(self.data_dir / category / f"{image_id}.png"),
                                                                cv2.IMREAD_UNCHANGED))

        if not rows:
            return {}
        with ThreadPoolExecutor(_READERS) as pool:
            loaded = {i: pixels for i, pixels in pool.map(load, rows) if pixels is not None}
        # Acknowledged (by another process, say) and not yet written to a file: read from the index.
        unread = [image_id for image_id, _ in rows if image_id not in loaded]
        for image_id, png in self.index.pending_png(unread).items():
            pixels = self._usable(image_id, cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_UNCHANGED))
            if pixels is not None:
                loaded[image_id] = pixels
        # Neither file nor pending row: a writer (in any process) wrote the file in between, and
        # files are written before their rows leave the pending table, so the file is there now.
        late = [row for row in rows if row[0] not in loaded]
        loaded.update((i, pixels) for i, pixels in map(load, late) if pixels is not None)
        return loaded

    def _usable(self, image_id: str, raw: np.ndarray | None) -> np.ndarray | None:
        """Decoded pixels at the data set's geometry and channels, or None."""
        if raw is None:
            return None
        if raw.ndim == 2:
            raw = raw[:, :, None]
        if raw.shape[:2] != self.geometry.shape[:2]:
            log.warning("image %s has size %s, not the data set's; skipped", image_id, raw.shape)
            return None
        return to_channels(raw, self.geometry.channels)


def _categories_of(db, ids: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        found.update(db.execute(f"SELECT id, category FROM all_images WHERE id IN ({marks})", chunk).fetchall())
    return found


def _raise_on_conflict(wanted: dict[str, str], stored: dict[str, str]) -> None:
    for image_id, category in stored.items():
        if wanted[image_id] != category:
            raise Conflict(
                f"this image is already stored under category {category!r} (id {image_id}); "
                "relabel it instead of storing it again"
            )


def _version_of(rows: list[tuple[str, str]]) -> str:
    digest = hashlib.sha256()
    for image_id, category in rows:
        digest.update(f"{image_id}\t{category}\n".encode())
    return digest.hexdigest()[:16]


def _is_image_id(value: object) -> bool:
    return isinstance(value, str) and len(value) == 32 and all(c in "0123456789abcdef" for c in value)
