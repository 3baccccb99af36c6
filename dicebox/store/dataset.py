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

from dicebox.images import Geometry, LabelledImages, to_channels
from dicebox.plumbing.durable import TEMP_PREFIX, fsync_dir, write_text_atomic
from dicebox.store.augment import augment
from dicebox.store.errors import (
    BatchTooLarge,
    Conflict,
    DiskFull,
    InvalidImage,
    NotFound,
    StoreError,
    disk_full_in,
    is_disk_full,
)
from dicebox.store.images import DEFAULT_MAX_PIXELS, PreparedImage, check_size, prepare_image, store_pixel_limit
from dicebox.store.index import DatasetIndex, ImageRecord, where_id_in
from dicebox.store.materialiser import Materialiser
from dicebox.store.names import check_new_categories, parse_dataset_id, resolve_category, validate_category
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

    def __init__(
        self, path: Path, geometry: Geometry, max_image_pixels: int = DEFAULT_MAX_PIXELS, index_path: Path | None = None
    ) -> None:
        self.path = Path(path)
        self.id = self.path.name
        self.geometry = geometry
        self.max_image_pixels = max_image_pixels
        self.data_dir = self.path / "data"
        self._write_lock = threading.Lock()
        self._pipeline: StorePipeline[_StoreJob] = StorePipeline(self._process_stores)
        self._cache_lock = threading.Lock()
        self._pixels: dict[str, np.ndarray] = {}
        self._stack_key: tuple[str, ...] = ()
        self._stack = np.zeros((0, *geometry.shape), np.uint8)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        index_path = self.path / INDEX_FILE if index_path is None else Path(index_path)
        fresh = not index_path.exists()
        try:
            self.index = DatasetIndex(index_path)
            self.index.count()
        except DiskFull:
            raise  # not damage: the index is sound, the disk has no room to open it
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
        try:
            self.reconcile(log_changes=not fresh)
        except DiskFull as exc:
            # Served as the index has it; the folders are checked again at the next open.
            log.warning("index of %s not checked against its folders: %s", self.id, exc)

    # Opening ----------------------------------------------------------------------------------
    @classmethod
    def open(
        cls,
        path: Path,
        *,
        channels: int = 1,
        create: bool = True,
        max_image_pixels: int = DEFAULT_MAX_PIXELS,
        index_dir: Path | None = None,
        refresh_seconds: float | None = None,
    ) -> Dataset:
        """Open (or create) the data set folder ``path``; its name gives width and height.

        With ``index_dir`` (or when the folder already keeps a change log, ``.journal``) the index
        is kept on this machine's disk instead, for a folder shared by several machines
        (:class:`~dicebox.store.shared.SharedDataset`).
        """
        path = Path(path)
        _name, width, height = parse_dataset_id(path.name)
        info_file = path / INFO_FILE
        if info_file.exists():
            info = json.loads(info_file.read_text(encoding="utf-8"))
            channels = int(info.get("channels", channels))
        elif not create and not path.exists():
            raise NotFound(f"data set {path.name!r} does not exist")
        geometry = Geometry(width, height, channels)
        try:
            path.mkdir(parents=True)
            created = True
        except FileExistsError:
            created = False
        try:
            with disk_full_in(path):
                if not info_file.exists():
                    info = {"width": width, "height": height, "channels": channels, "created": time.time()}
                    write_text_atomic(info_file, json.dumps(info, indent=2))
                from dicebox.store.shared import JOURNAL_FOLDER, SharedDataset

                if index_dir is None and not (path / JOURNAL_FOLDER).is_dir():
                    return cls(path, geometry, max_image_pixels)
                return SharedDataset(
                    path, geometry, max_image_pixels, index_dir=index_dir, refresh_seconds=refresh_seconds
                )
        except DiskFull:
            if created:
                _remove_new_dataset(path)  # a store the disk had no room for creates no data set
            raise

    def close(self) -> None:
        """Finish the stores under way, write every pending image to its file, close the index."""
        self._pipeline.close()
        self.materialiser.close()
        self.index.close()

    def catch_up(self) -> None:
        """See every change other processes made so far (here at once: they share the index)."""

    def flush(self) -> int:
        """Write every acknowledged image to its file now (normally done when stores pause)."""
        return self.materialiser.flush()

    # Consistency ------------------------------------------------------------------------------
    def reconcile(self, log_changes: bool = True) -> int:
        """Make the index match the folders (after a crash, a lost index, or another tool's edits).

        Pending images are written to files first (if the disk has room: else they wait in the
        index, readable, for the materialiser). Returns the number of index rows changed.
        """
        self.materialiser.catch_up()
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
        with self._write_lock:
            return self._ensure_category(validate_category(name))[1]

    def delete_category(self, name: str) -> None:
        """Remove an empty category (images must be deleted or relabelled first)."""
        name = validate_category(name)
        with self._write_lock:
            # Checked and removed in one transaction: no replica can store into the category in
            # between, and a store that comes after finds it gone and creates it again.
            with self.index.transaction() as db:
                name = resolve_category(name, _category_names(db))
                if not db.execute("SELECT 1 FROM categories WHERE name = ?", (name,)).fetchone():
                    raise NotFound(f"category {name!r} does not exist")
                held = db.execute("SELECT COUNT(*) FROM all_images WHERE category = ?", (name,)).fetchone()[0]
                if held:
                    raise Conflict(f"category {name!r} still holds {held} images")
                db.execute("DELETE FROM categories WHERE name = ?", (name,))
                folder = self.data_dir / name
                for leftover in folder.glob(f"{TEMP_PREFIX}*"):
                    leftover.unlink(missing_ok=True)
                try:
                    folder.rmdir()
                except FileNotFoundError:
                    pass
                except OSError:
                    raise Conflict(
                        f"the folder of category {name!r} holds files that are not images of "
                        "this data set; move them away first"
                    ) from None
            self._write_category_map()

    def _ensure_category(self, name: str) -> tuple[str, bool]:
        """The category ``name`` as the index spells it, created (folder and index entry, in a
        transaction of its own) if new; and whether it was created."""
        with self.index.transaction() as db:
            existing = _category_names(db)
            name = resolve_category(name, existing)
            added = name not in existing
            if added:
                check_new_categories([name], existing)
                self._add_category(name, db)
        if added:
            self._write_category_map()
        return name, added

    def _add_category(self, name: str, db) -> bool:
        """The folder now, the index entry in ``db``'s transaction; True if the entry is new."""
        folder = self.data_dir / name
        if not folder.is_dir():
            folder.mkdir(parents=True, exist_ok=True)
            fsync_dir(self.data_dir)
        return db.execute("INSERT OR IGNORE INTO categories (name) VALUES (?)", (name,)).rowcount > 0

    def _remove_unindexed_folders(self, categories: set[str]) -> None:
        """After a failed store transaction (a full disk, say): remove the empty folders it made
        for categories the index does not have, which the next open would take for categories."""
        for name in categories - set(self.index.categories()):
            try:
                (self.data_dir / name).rmdir()
            except OSError:
                pass  # not there, or not empty: not the failed store's to remove

    def _write_category_map(self) -> None:
        text = json.dumps({"category_map": self.category_map()}, indent=2, ensure_ascii=False)
        try:
            write_text_atomic(self.path / CATEGORY_MAP_FILE, text)
        except OSError as exc:
            if not is_disk_full(exc):
                raise
            # A copy of the index's categories for other tools, written after the change committed:
            # failing here would report as refused a change that was made.
            log.warning("%s of %s not updated: %s", CATEGORY_MAP_FILE, self.id, DiskFull(self.path))

    # Counting and listing ---------------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        """Images per category (every category, empty ones included)."""
        return self.index.counts()

    def count(self) -> int:
        return self.index.count()

    def list_images(self, category: str | None = None, offset: int = 0, limit: int = 100) -> list[ImageRecord]:
        if category is not None:
            category = resolve_category(validate_category(category), self.categories())
        return self.index.list(category, offset, limit)

    def image_png(self, image_id: str) -> bytes:
        """The PNG bytes of an image: from the index while it waits there for its file (which
        may not fit on the disk just now), else from its file."""
        if _is_image_id(image_id):
            png = self.index.pending_png([image_id]).get(image_id)
            if png is not None:
                return png
        return self.image_path(image_id).read_bytes()

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
    @property
    def store_pixel_limit(self) -> int:
        """The most pixels an image given to :meth:`store` may have (see
        :func:`~dicebox.store.images.store_pixel_limit`)."""
        return store_pixel_limit(self.geometry, self.max_image_pixels)

    def prepare(self, source: bytes | np.ndarray) -> PreparedImage:
        """Validate and normalise one image for this data set without storing it, on the caller's
        thread (so up to ``max_image_pixels``: larger than :meth:`store` takes)."""
        return prepare_image(source, self.geometry, self.max_image_pixels)

    def store(self, source: bytes | np.ndarray, category: str) -> StoredImage:
        """Store one image (PNG/JPEG bytes or a uint8 array) under ``category``, durably."""
        return self.store_many([(source, category)])[0]

    def store_many(self, items: list[tuple[bytes | np.ndarray, str]]) -> list[StoredImage]:
        """Store several images; all are validated first, so one bad image stores nothing.

        Returns once the images are durable. Concurrent calls share one index commit and one
        fsync, made by the store thread (:mod:`dicebox.store.store_pipeline`).
        """
        items = check_store(items, self.id, self.geometry, self.store_pixel_limit)
        job = _StoreJob(items)
        self._pipeline.submit(job)
        return [StoredImage(image.id, category, duplicate=image.id in job.duplicates)
                for image, category in job.images]

    def _prepare_jobs(self, jobs: list[_StoreJob]) -> tuple[dict[int, BaseException], list[tuple[int, _StoreJob]]]:
        """Decode and check each job's images: the refused jobs by position, and the accepted ones."""
        errors: dict[int, BaseException] = {}
        for position, job in enumerate(jobs):
            try:
                job.images = self._prepare_job(job.items)
            except StoreError as exc:
                errors[position] = exc
        return errors, [(position, job) for position, job in enumerate(jobs) if position not in errors]

    def _process_stores(self, jobs: list[_StoreJob]) -> dict[int, BaseException]:
        """On the store thread: validate, one index transaction, one fsync, for several stores."""
        errors, accepted = self._prepare_jobs(jobs)
        if not accepted:
            return errors
        now = time.time()
        if self._store_one_fast(accepted, now):
            fresh = accepted[0][1].images
        else:
            try:
                fresh = self._store_in_transaction(accepted, now, errors)
            except Exception:
                self._remove_unindexed_folders({category for _, job in accepted for _, category in job.images})
                raise
        self.index.sync()  # the acknowledgement: every commit above is on disk
        if fresh:
            with self._cache_lock:
                for image, _category in fresh:
                    self._pixels[image.id] = image.pixels
            self.materialiser.notify(len(fresh), sum(len(image.png) for image, _ in fresh))
        return errors

    def _store_one_fast(self, accepted: list[tuple[int, _StoreJob]], now: float) -> bool:
        """The common case, one new image into a category the index has: one statement, no
        transaction.

        False when this case does not apply, the image is already there or the category is not
        in the index (new, or just deleted by another replica): the transaction path then sorts
        out duplicate, conflict or new category.
        """
        if len(accepted) != 1 or len(accepted[0][1].images) != 1:
            return False
        image, category = accepted[0][1].images[0]
        return self.index.add_pending_if_new(image.id, category, now, image.png)

    def _store_in_transaction(
        self, accepted: list[tuple[int, _StoreJob]], now: float, errors: dict[int, BaseException]
    ) -> list[tuple[PreparedImage, str]]:
        """Stores that need a transaction: several images, a new category, a duplicate or a
        conflict. Records refused jobs in ``errors``; returns the images newly stored."""
        fresh: list[tuple[PreparedImage, str]] = []
        map_changed = False
        with self.index.transaction() as db:
            # The index, not what this process saw before, says which categories exist: another
            # replica may have deleted one since.
            existing = _category_names(db)
            found = _categories_of(db, [image.id for _, job in accepted for image, _ in job.images])
            for position, job in accepted:
                job.images = [(image, resolve_category(category, existing)) for image, category in job.images]
                stored = {image.id: found[image.id] for image, _ in job.images if image.id in found}
                try:
                    _raise_on_conflict({image.id: category for image, category in job.images}, stored)
                    unique = {image.id: (image, category) for image, category in job.images}
                    new = [(image, category) for image, category in unique.values() if image.id not in stored]
                    created = [c for c in dict.fromkeys(category for _, category in new) if c not in existing]
                    check_new_categories(created, existing)
                except StoreError as exc:
                    errors[position] = exc
                    continue
                for category in created:
                    map_changed |= self._add_category(category, db)
                    existing.append(category)
                job.duplicates = set(stored)
                db.executemany(
                    "INSERT INTO pending (id, category, created, size, png) VALUES (?, ?, ?, ?, ?)",
                    [(image.id, category, now, len(image.png), image.png) for image, category in new],
                )
                found.update({image.id: category for image, category in new})
                fresh.extend(new)
        if map_changed:
            self._write_category_map()
        return fresh

    def _prepare_job(self, items: list[tuple[bytes | np.ndarray, str]]) -> list[tuple[PreparedImage, str]]:
        return prepare_store(items, self.geometry, self.store_pixel_limit)

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
            self._forget_pixels(records)
            return len(records)

    def _forget_pixels(self, records) -> None:
        """Drop deleted images from the cache of decoded pixels."""
        with self._cache_lock:
            for record in records:
                self._pixels.pop(record.id, None)

    def relabel(self, ids: list[str], category: str) -> int:
        """Move images to another category; unknown ids are an error and nothing moves."""
        category = validate_category(category)
        with self._write_lock:
            self.materialiser.flush()
            records = self._records(ids)
            category, _created = self._ensure_category(category)
            records = [r for r in records if r.category != category]
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
        """Every image with its label and when it was stored, from the decoded cache (only new
        images are decoded)."""
        rows, stack = self._current_stack()
        categories = tuple(self.categories())
        lookup = {name: i for i, name in enumerate(categories)}
        labels = np.fromiter((lookup[c] for _, c in rows), np.int64, len(rows))
        version = _version_of(rows)
        created = self.index.created_times()
        # An image deleted by another process since the stack was read has no time: 0 (its own session).
        stored_at = np.fromiter((created.get(image_id, 0.0) for image_id, _ in rows), np.float64, len(rows))
        return LabelledImages(stack, labels, categories, version, stored_at)

    def arrays_with_ids(self) -> tuple[LabelledImages, list[str]]:
        """:meth:`arrays` and the id of each image (batch orders record which images they chose)."""
        rows, stack = self._current_stack()
        categories = tuple(self.categories())
        lookup = {name: i for i, name in enumerate(categories)}
        labels = np.fromiter((lookup[c] for _, c in rows), np.int64, len(rows))
        return LabelledImages(stack, labels, categories, _version_of(rows)), [image_id for image_id, _ in rows]

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


def check_store(
    items: list[tuple[bytes | np.ndarray, str]], dataset_id: str, geometry: Geometry, max_pixels: int
) -> list[tuple[bytes | np.ndarray, str]]:
    """What a store checks before its images are queued: the category names (returned as
    :func:`validate_category` spells them) and, from their headers, the images' sizes."""
    checked = [(source, validate_category(category)) for source, category in items]
    context = f" for data set {dataset_id} ({geometry.width}x{geometry.height} images); scale it down before storing"
    for position, (source, _category) in enumerate(checked):
        try:
            check_size(source, max_pixels, context)
        except InvalidImage as exc:
            raise type(exc)(f"image {position}: {exc}" if len(items) > 1 else str(exc)) from None
    return checked


def prepare_store(
    items: list[tuple[bytes | np.ndarray, str]], geometry: Geometry, max_pixels: int
) -> list[tuple[PreparedImage, str]]:
    """Decode and normalise the images of one store; one bad image refuses them all."""
    prepared: list[tuple[PreparedImage, str]] = []
    wanted: dict[str, str] = {}
    for position, (source, category) in enumerate(items):
        try:
            image = prepare_image(source, geometry, max_pixels)
        except InvalidImage as exc:
            raise type(exc)(f"image {position}: {exc}" if len(items) > 1 else str(exc)) from None
        if wanted.setdefault(image.id, category) != category:
            raise Conflict(f"the same image appears under {wanted[image.id]!r} and {category!r}")
        prepared.append((image, category))
    return prepared


def _remove_new_dataset(path: Path) -> None:
    """Remove what opening a new, empty data set folder made there; leave anything else."""
    for name in (INFO_FILE, CATEGORY_MAP_FILE, INDEX_FILE, f"{INDEX_FILE}-wal", f"{INDEX_FILE}-shm"):
        (path / name).unlink(missing_ok=True)
    for folder in (path / "data", path / ".journal", path):
        try:
            folder.rmdir()
        except OSError:
            pass  # not empty: not only ours


def _category_names(db) -> list[str]:
    return [name for (name,) in db.execute("SELECT name FROM categories")]


def _categories_of(db, ids: list[str]) -> dict[str, str]:
    return dict(where_id_in(db, "SELECT id, category FROM all_images", ids))


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
