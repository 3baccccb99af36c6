"""A data set folder shared by several machines (NFS, EFS): each process keeps its index locally.

SQLite's locking and write-ahead log are not safe over a network file system, so here the index
of a data set lives on the local disk (``<index dir>/<data set>-<hash of its folder>/``) and the
shared folder holds only files, changed with what NFSv4 makes safe between machines: exclusive
creates, atomic renames, ``mkdir``/``rmdir``, fsync, and appends to files that one process alone
writes. The folders are the truth:

- a store writes the image's file (temp file, rename) into its category folder, appends a line
  to this process's change log (:mod:`dicebox.store.journal`) and makes both durable before it is
  acknowledged; a delete, a relabel and a category change likewise change the folders first;
- every process reads every change log every ``refresh_seconds`` and, for each image a line
  names, looks at the folders to see where that image is now, so its index follows every other
  machine's changes within about that time;
- opening a data set (a new replica, a restart, a lost index) scans the folders, as the
  single-machine index does when it is opened.

Two machines storing the same image under two categories at the same moment: each looks for the
image in every category folder before and after its rename, and one that finds the other's file
takes its own away and answers 409, so at most one of them acknowledges.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from dicebox.images import Geometry
from dicebox.plumbing.durable import TEMP_PREFIX, fsync_dir, write_atomic
from dicebox.store.dataset import INDEX_FILE, STALE_TEMP_SECONDS, Dataset, _is_image_id, _StoreJob
from dicebox.store.errors import Conflict, NotFound, StoreError, disk_full_in
from dicebox.store.images import DEFAULT_MAX_PIXELS, PreparedImage
from dicebox.store.index import DatasetIndex
from dicebox.store.journal import (
    JOURNAL_FOLDER,
    JournalReader,
    JournalWriter,
    category_line,
    del_line,
    move_line,
    put_line,
)
from dicebox.store.materialiser import Materialiser, sync_files
from dicebox.store.names import check_new_categories, resolve_category, validate_category

log = logging.getLogger(__name__)

__all__ = ["JOURNAL_FOLDER", "REFRESH_SECONDS", "SharedDataset", "default_index_dir", "local_index_path"]

REFRESH_SECONDS = 0.1
# An image a log line names but no folder shows is looked for again this much later: an NFS client
# may hide a new file behind its cache of failed lookups for up to the directory attribute cache
# time (acdirmax, 60 s by default).
RECHECK_SECONDS = 65.0


def default_index_dir() -> Path:
    """Where a process not told otherwise keeps local indexes of shared folders: the temp folder,
    the one place surely not on the shared volume (a container's home may well be on it)."""
    user = os.getuid() if hasattr(os, "getuid") else os.environ.get("USERNAME", "user")
    return Path(tempfile.gettempdir()) / f"dicebox-index-{user}"


def local_index_path(index_dir: Path, dataset_folder: Path) -> Path:
    """The local index of one data set folder: named by the folder's id and full path, so two
    data folders with data sets of the same name never share one."""
    where = hashlib.sha256(str(Path(dataset_folder).resolve()).encode()).hexdigest()[:12]
    return Path(index_dir) / f"{Path(dataset_folder).name}-{where}" / INDEX_FILE


@dataclass
class _Look:
    """What one pass saw: where each image named is (None: in no folder), the category folders."""

    generation: int
    found: dict[str, tuple[str, float, int] | None]
    folders: list[str] | None
    missed: bool = False


class SharedDataset(Dataset):
    """A :class:`Dataset` whose index is local and whose folder other machines change too."""

    def __init__(
        self,
        path: Path,
        geometry: Geometry,
        max_image_pixels: int = DEFAULT_MAX_PIXELS,
        *,
        index_dir: Path | None = None,
        refresh_seconds: float | None = None,
    ) -> None:
        path = Path(path)
        self.refresh_seconds = REFRESH_SECONDS if refresh_seconds is None else refresh_seconds
        self.journal_dir = path / JOURNAL_FOLDER
        self._journal = JournalWriter(self.journal_dir)
        # This process's own lines are skipped: its changes are in its index already.
        self._reader = JournalReader(self.journal_dir, skip=self._journal.writer)
        self._tail_lock = threading.Lock()
        self._recheck: deque[tuple[float, str, list[str]]] = deque()
        self._ready: list[_Look] = []  # looked at, not yet applied to the index
        self._relook: dict[str, list[str]] = {}  # left out of a look by a local change: look again
        # Local changes, numbered: a look begun before a change ended must not undo it.
        self._generation = 0
        self._touched: dict[str, int] = {}
        self._touched_categories: dict[str, int] = {}
        self._stop = threading.Event()
        self._tailer: threading.Thread | None = None
        if not self.journal_dir.is_dir():
            _write_out_folder_index(path)
            self.journal_dir.mkdir(exist_ok=True)
            fsync_dir(path)
        index_path = local_index_path(index_dir or default_index_dir(), path)
        index_path.parent.mkdir(parents=True, exist_ok=True)
        super().__init__(path, geometry, max_image_pixels, index_path=index_path)
        self._write_lock = threading.RLock()  # a mutation that misses an id reads the logs under it
        self._tailer = threading.Thread(target=self._tail, name=f"dicebox-journal-{self.id}", daemon=True)
        self._tailer.start()

    # Opening and closing ----------------------------------------------------------------------
    def reconcile(self, log_changes: bool = True) -> int:
        """Scan the folders into the local index; the change logs are read from here on."""
        with self._tail_lock:
            sizes = self._reader.sizes()  # before the scan: what they say is in the folders now
            changed = super().reconcile(log_changes=False)
            self._reader.start_at(sizes)
        if changed:
            log.info("local index of %s brought up to date with the shared folder: %d entries changed", self.id, changed)
        return changed

    def close(self) -> None:
        self._stop.set()
        if self._tailer is not None and self._tailer is not threading.current_thread():
            self._tailer.join(timeout=10)
        super().close()
        self._journal.close()

    # Following the other machines -------------------------------------------------------------
    # A pass reads the new log lines and opens the files they name (the slow part on a network
    # disk) without blocking this process's stores, then applies what it saw under the write
    # lock, leaving out what a local change made since it began.
    def catch_up(self) -> None:
        """Read every change log now: the index then knows every change acknowledged before.

        Asked when an id is unknown here (a delete, a relabel, a shard naming an image another
        machine stored a moment ago).
        """
        self._pass()

    def _tail(self) -> None:
        while not self._stop.wait(self.refresh_seconds):
            try:
                self._pass()
            except Exception:  # noqa: BLE001 - a bad moment on the shared disk: try again next time
                log.exception("reading the change logs of %s failed; trying again", self.id)
                self._stop.wait(min(5.0, 10 * self.refresh_seconds))

    def _pass(self) -> None:
        with self._tail_lock:
            look = self._look_at_changes()
            if look is not None:
                self._ready.append(look)
        with self._write_lock:
            with self._tail_lock:
                ready, self._ready = self._ready, []
            for look in ready:
                if look.missed:
                    log.warning("a change log of %s was removed before it was read: scanning the folders", self.id)
                    self.reconcile()
                else:
                    self._apply(look)
            if ready:
                # Every look still to come begins after the local changes so far.
                self._touched.clear()
                self._touched_categories.clear()

    def _touch(self, ids=(), categories=()) -> None:
        """At the end of a local change (write lock held): a look begun before it leaves these alone."""
        self._generation += 1
        for image_id in ids:
            self._touched[image_id] = self._generation
        for name in categories:
            self._touched_categories[name] = self._generation

    def _look_at_changes(self) -> _Look | None:
        """Read the new lines and look where the images they name are (``_tail_lock`` held)."""
        changes, missed = self._reader.read()
        # Read after the lines and before the files: a local change ending later is left alone
        # (and looked at again), one ending earlier is in what the files show.
        generation = self._generation
        if missed:
            return _Look(generation, {}, None, missed=True)
        now = time.monotonic()
        again, self._relook = self._relook, {}
        while self._recheck and self._recheck[0][0] <= now:
            _due, image_id, categories = self._recheck.popleft()
            again.setdefault(image_id, []).extend(categories)
        named: dict[str, list[str]] = {}
        for change in changes:
            if change.image_id is not None and _is_image_id(change.image_id):
                named.setdefault(change.image_id, []).extend(change.categories)
        if not (changes or again):
            return None
        merged = {image_id: again.get(image_id, []) + named.get(image_id, []) for image_id in {**again, **named}}
        look = self._look(merged, relist=bool(changes), generation=generation)
        for image_id, place in look.found.items():
            if place is None and image_id in named:
                self._recheck.append((now + RECHECK_SECONDS, image_id, named[image_id]))
        return look

    def _settle(self, named: dict[str, list[str]]) -> None:
        """Look and apply at once (write lock held)."""
        self._apply(self._look(named, relist=True, generation=self._generation))

    def _look(self, named: dict[str, list[str]], *, relist: bool, generation: int) -> _Look:
        """Where each image is in the folders (and, with ``relist``, which category folders exist).

        ``named``: for each image, the categories the logs named for it, oldest first. Every change
        to an image in the folders is followed by a line naming where it went, so looking where
        the lines and the index say is enough.
        """
        folders = self._folder_categories() if relist else None
        current = self.index.get_many(named)
        found: dict[str, tuple[str, float, int] | None] = {}
        for image_id, categories in named.items():
            candidates = [*reversed(categories)]
            if image_id in current:
                candidates.append(current[image_id].category)
            where = []
            for category in dict.fromkeys(candidates):
                stat = _opened_stat(self.data_dir / category / f"{image_id}.png")
                if stat is not None:
                    where.append((category, stat.st_mtime, stat.st_size))
            if len(where) > 1:
                # Normally for a moment only: a store taking back its file (its log says so next).
                log.info("image %s of %s is in several category folders: %s; indexed under %s",
                         image_id, self.id, [w[0] for w in where], min(where)[0])
            found[image_id] = min(where) if where else None
        return _Look(generation, found, folders)

    def _apply(self, look: _Look) -> None:
        """Write what a look saw into the index, but for what local changes made since (write lock held)."""
        def stale(touched: dict[str, int], key: str) -> bool:
            return touched.get(key, 0) > look.generation

        map_changed = False
        with self.index.transaction() as db:
            known = {name for (name,) in db.execute("SELECT name FROM categories")}
            folders = set(look.folders) if look.folders is not None else known
            for name in folders - known:
                if not stale(self._touched_categories, name):
                    db.execute("INSERT OR IGNORE INTO categories (name) VALUES (?)", (name,))
                    map_changed = True
            for image_id, place in look.found.items():
                if stale(self._touched, image_id):
                    with self._tail_lock:
                        self._relook.setdefault(image_id, [])
                    continue
                before = db.execute("SELECT category FROM images WHERE id = ?", (image_id,)).fetchone()
                if place is None:
                    if before is not None:
                        db.execute("DELETE FROM images WHERE id = ?", (image_id,))
                elif before is None or before[0] != place[0]:
                    db.execute("INSERT OR IGNORE INTO categories (name) VALUES (?)", (place[0],))
                    db.execute(
                        "INSERT OR REPLACE INTO images (id, category, created, size) VALUES (?, ?, ?, ?)",
                        (image_id, *place),
                    )
            for name in known - folders:
                if stale(self._touched_categories, name):
                    continue
                if not db.execute("SELECT 1 FROM images WHERE category = ? LIMIT 1", (name,)).fetchone():
                    db.execute("DELETE FROM categories WHERE name = ?", (name,))
                    map_changed = True
        if map_changed:
            with self._cache_lock:
                self._stack_key = ()  # category indices changed: labels must be read again

    def _folder_categories(self) -> list[str]:
        """The category folders as the shared folder has them now."""
        names = []
        for entry in os.scandir(self.data_dir):
            if entry.name.startswith(".") or not entry.is_dir():
                continue
            try:
                names.append(validate_category(entry.name))
            except StoreError:
                continue
        return sorted(names)

    def _locate(self, image_id: str, categories: list[str]) -> list[str]:
        """The category folders among ``categories`` that hold this image's file."""
        return [c for c in categories if (self.data_dir / c / f"{image_id}.png").is_file()]

    def _log(self, lines: list[str]) -> Path | None:
        """Append ``lines`` to this process's change log and make them durable."""
        if not lines:
            return None
        with disk_full_in(self.path):
            path = self._journal.append(lines)
            self._journal.sync()
        return path

    # Reading ids ------------------------------------------------------------------------------
    def _records(self, ids: list[str]):
        try:
            return super()._records(ids)
        except NotFound:
            self.catch_up()  # stored on another machine a moment ago?
            return super()._records(ids)

    def image_png(self, image_id: str) -> bytes:
        try:
            return super().image_png(image_id)
        except (NotFound, FileNotFoundError):
            self.catch_up()
            try:
                return super().image_png(image_id)
            except FileNotFoundError:
                raise NotFound(f"image {image_id!r} is not in data set {self.id!r}") from None

    def image_path(self, image_id: str) -> Path:
        if _is_image_id(image_id) and self.index.get(image_id) is None:
            self.catch_up()
        return super().image_path(image_id)

    # Storing ----------------------------------------------------------------------------------
    def _process_stores(self, jobs: list[_StoreJob]) -> dict[int, BaseException]:
        """On the store thread: the files into the shared folders, one log line each, one sync."""
        errors, accepted = self._prepare_jobs(jobs)
        if not accepted:
            return errors
        with self._write_lock:
            fresh = self._store_files(accepted, errors)
        if fresh:
            with self._cache_lock:
                for image, _category in fresh:
                    self._pixels[image.id] = image.pixels
        return errors

    def _store_files(
        self, accepted: list[tuple[int, _StoreJob]], errors: dict[int, BaseException]
    ) -> list[tuple[PreparedImage, str]]:
        existing = self._folder_categories()
        indexed = self.index.get_many(image.id for _, job in accepted for image, _ in job.images)
        placed: dict[str, str] = {image_id: record.category for image_id, record in indexed.items()}
        lines: list[str] = []
        written: list[tuple[int, PreparedImage, str, Path]] = []
        new_categories: list[str] = []
        learnt: list[tuple[str, str]] = []  # in the folders, not yet in this index
        withdrawn: list[str] = []  # files this store made and took away again (readers may have seen them)
        withdrawn_ids: list[str] = []
        with disk_full_in(self.path):
            try:
                for position, job in accepted:
                    job.images = [(image, resolve_category(category, existing)) for image, category in job.images]
                    unique = {image.id: (image, category) for image, category in job.images}
                    try:
                        for image_id, (_image, category) in unique.items():
                            if image_id not in placed:
                                there = self._locate(image_id, existing)
                                if there:
                                    placed[image_id] = there[0]
                                    learnt.append((image_id, there[0]))
                            if placed.get(image_id, category) != category:
                                raise Conflict(
                                    f"this image is already stored under category {placed[image_id]!r} (id "
                                    f"{image_id}); relabel it instead of storing it again"
                                )
                        created = [c for c in dict.fromkeys(c for _, c in unique.values()) if c not in existing]
                        check_new_categories(created, existing)
                    except StoreError as exc:
                        errors[position] = exc
                        continue
                    job.duplicates = {image_id for image_id in unique if image_id in placed}
                    for category in created:
                        self._make_folder(category)
                        existing.append(category)
                        new_categories.append(category)
                        lines.append(category_line(category))
                    for image_id, (image, category) in unique.items():
                        if image_id in placed:
                            continue
                        path = self._write_image(image, category)
                        placed[image_id] = category
                        written.append((position, image, category, path))
                # Another machine may have stored the same image under another category meanwhile.
                for position, image, category, path in list(written):
                    others = [c for c in existing if c != category]
                    if self._locate(image.id, others):
                        path.unlink(missing_ok=True)
                        withdrawn.append(del_line(image.id, category))
                        withdrawn_ids.append(image.id)
                        written = [w for w in written if w[1].id != image.id]
                        errors[position] = Conflict(
                            f"this image was stored under another category at the same moment (id {image.id}); "
                            "relabel it instead of storing it again"
                        )
                lines.extend(put_line(image.id, category) for _, image, category, _ in written)
                lines.extend(put_line(image_id, category) for image_id, category in learnt)
                lines.extend(withdrawn)
                journal = self._journal.append(lines) if lines else None
                # One syncfs covers the files, their names and the log; without it, each its own.
                if not sync_files([path for *_, path in written] + ([journal] if journal else [])):
                    for folder in {path.parent for *_, path in written}:
                        fsync_dir(folder)
                    if new_categories:
                        fsync_dir(self.data_dir)
                    if journal is not None:
                        self._journal.sync()
            except BaseException:
                for _, image, category, path in written:
                    path.unlink(missing_ok=True)  # not acknowledged: leave no file others would index
                    withdrawn.append(del_line(image.id, category))
                try:
                    self._journal.append(withdrawn)  # so that readers that saw a file look again
                except OSError:
                    pass
                raise
        stats = {}
        for _, image, _, path in written:
            try:
                stats[image.id] = path.stat()
            except FileNotFoundError:
                continue  # deleted or relabelled by another machine already: its log line says so
        with self.index.transaction() as db:
            for category in new_categories:
                db.execute("INSERT OR IGNORE INTO categories (name) VALUES (?)", (category,))
            for position, image, category, _path in written:
                if position in errors or image.id not in stats:
                    continue
                stat = stats[image.id]
                db.execute(
                    "INSERT OR REPLACE INTO images (id, category, created, size) VALUES (?, ?, ?, ?)",
                    (image.id, category, stat.st_mtime, stat.st_size),
                )
        self._touch([image.id for _, image, _, _ in written] + withdrawn_ids, new_categories)
        if learnt:
            self._settle({image_id: [category] for image_id, category in learnt})
        if new_categories:
            self._write_category_map()
        return [(image, category) for position, image, category, _ in written if position not in errors]

    def _make_folder(self, category: str) -> None:
        (self.data_dir / category).mkdir(exist_ok=True)

    def _write_image(self, image: PreparedImage, category: str) -> Path:
        """The image's file in its category folder (made again if another machine just removed it)."""
        path = self.data_dir / category / f"{image.id}.png"
        for attempt in range(5):
            try:
                write_atomic(path, image.png, sync=False, sync_dir=False)
                return path
            except FileNotFoundError:
                if attempt == 4:
                    raise
                self._make_folder(category)
        return path

    # Changing ---------------------------------------------------------------------------------
    def delete(self, ids: list[str]) -> int:
        """Delete images by id; unknown ids are an error and nothing is deleted."""
        with self._write_lock:
            records = self._records(ids)
            folders = self._folder_categories()
            touched: set[Path] = set()
            lines = []
            for record in records:
                places = [record.category]
                try:
                    (self.data_dir / record.category / f"{record.id}.png").unlink()
                except FileNotFoundError:
                    # Relabelled (or deleted) by another machine since this index learnt of it.
                    places = self._locate(record.id, [c for c in folders if c != record.category])
                    for category in places:
                        (self.data_dir / category / f"{record.id}.png").unlink(missing_ok=True)
                for category in places:
                    touched.add(self.data_dir / category)
                    lines.append(del_line(record.id, category))
            for folder in touched:
                fsync_dir(folder)
            self._log(lines)
            with self.index.transaction() as db:
                db.executemany("DELETE FROM images WHERE id = ?", [(r.id,) for r in records])
            self._touch(line.split("\t")[1] for line in lines)
            self._forget_pixels(records)
            return len(records)

    def relabel(self, ids: list[str], category: str) -> int:
        """Move images to another category; unknown ids are an error and nothing moves."""
        category = validate_category(category)
        with self._write_lock:
            records = self._records(ids)
            category, _created = self._ensure_category(category)
            records = [r for r in records if r.category != category]
            target = self.data_dir / category
            folders = self._folder_categories()
            moved, gone, lines, sources = [], [], [], set()
            for record in records:
                source = record.category
                for _attempt in range(3):
                    try:
                        os.replace(self.data_dir / source / f"{record.id}.png", target / f"{record.id}.png")
                        moved.append(record)
                        sources.add(source)
                        lines.append(move_line(record.id, source, category))
                        break
                    except FileNotFoundError:
                        # Moved or deleted by another machine since this index learnt of it.
                        there = self._locate(record.id, folders)
                        if category in there:
                            moved.append(record)
                            break
                        if not there:
                            gone.append(record)
                            break
                        source = there[0]
            for folder in sources | {category}:
                fsync_dir(self.data_dir / folder)
            self._log(lines)
            with self.index.transaction() as db:
                db.executemany("UPDATE images SET category = ? WHERE id = ?", [(category, r.id) for r in moved])
                db.executemany("DELETE FROM images WHERE id = ?", [(r.id,) for r in gone])
            self._touch(line.split("\t")[1] for line in lines)
            return len(moved)

    def _ensure_category(self, name: str) -> tuple[str, bool]:
        existing = self._folder_categories()
        name = resolve_category(name, existing)
        added = name not in existing
        if added:
            check_new_categories([name], existing)
            with disk_full_in(self.path):
                self._make_folder(name)
                fsync_dir(self.data_dir)
                self._log([category_line(name)])
        with self.index.transaction() as db:
            new_here = db.execute("INSERT OR IGNORE INTO categories (name) VALUES (?)", (name,)).rowcount > 0
        if added:
            self._touch(categories=[name])
        if new_here:
            self._write_category_map()
        return name, added

    def delete_category(self, name: str) -> None:
        """Remove an empty category: its folder goes only if it is empty on the shared disk."""
        name = validate_category(name)
        with self._write_lock:
            existing = self._folder_categories()
            name = resolve_category(name, existing)
            if name not in existing:
                self.catch_up()
                if name not in self.categories():
                    raise NotFound(f"category {name!r} does not exist")
            held = self.index.counts().get(name, 0)
            if held:
                raise Conflict(f"category {name!r} still holds {held} images")
            folder = self.data_dir / name
            now = time.time()
            for leftover in folder.glob(f"{TEMP_PREFIX}*"):
                try:
                    # Another machine's store may be writing a young one right now.
                    if now - leftover.stat().st_mtime > STALE_TEMP_SECONDS:
                        leftover.unlink()
                except FileNotFoundError:
                    pass
            try:
                folder.rmdir()
            except FileNotFoundError:
                pass
            except OSError as exc:
                if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                    raise
                images = sum(1 for _ in folder.glob("*.png"))
                raise Conflict(
                    f"category {name!r} still holds {images} images (stored from another machine moments ago)"
                    if images
                    else f"the folder of category {name!r} holds files that are not images of this data set "
                    "(or a store is writing into it); move them away first"
                ) from None
            fsync_dir(self.data_dir)
            self._log([category_line(name, created=False)])
            with self.index.transaction() as db:
                db.execute("DELETE FROM categories WHERE name = ?", (name,))
            self._touch(categories=[name])
            self._write_category_map()


def _opened_stat(path: Path) -> os.stat_result | None:
    """The file's status, or None if it does not exist. Opened, not just looked up: over NFS,
    opening makes the client ask the server (close-to-open consistency), so a file another
    machine removed a moment ago is not taken for present."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    except (FileNotFoundError, NotADirectoryError):
        return None
    try:
        return os.fstat(fd)
    finally:
        os.close(fd)


def _write_out_folder_index(path: Path) -> None:
    """Before a folder's first use with local indexes: write out the images its own index (from
    single-machine use) still holds pending. Its other rows are only a cache of the folders."""
    index_file = path / INDEX_FILE
    if not index_file.exists():
        return
    index = DatasetIndex(index_file)
    try:
        if index.pending_count():
            done = Materialiser(index, path / "data").flush()
            log.info("wrote %d pending images of %s to files before indexing it locally", done, path.name)
    finally:
        index.close()
