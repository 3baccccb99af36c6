"""The index of one data set: which image is in which category, without rescanning folders.

SQLite in WAL mode: several processes (service replicas on one shared folder) read and write it at
once. Two tables hold images:

- ``images``: images whose PNG file is durable in the folders. For these the index is a cache of
  the folders, rebuilt from them if lost;
- ``pending``: acknowledged images whose PNG bytes are kept here until
  :mod:`dicebox.store.materialiser` has written and synced their files (moments, normally).

A pending row is the only durable copy of its image, so a store is acknowledged only after
:meth:`DatasetIndex.sync` has fsynced the write-ahead log holding its commit. Commits themselves
run with ``synchronous=NORMAL`` and the fsync comes after, outside the write lock: one fsync then
covers every commit that finished before it started, and the next commit need not wait for it.
Reads see both tables as one (``all_images``).

A write that finds the disk full raises :class:`~dicebox.store.errors.DiskFull` and changes nothing;
reads go on working.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from dicebox.store.errors import DiskFull, disk_full_in, is_disk_full

IDS_PER_QUERY = 500  # under SQLite's smallest limit on bound parameters (999)


def where_id_in(db: sqlite3.Connection, select: str, ids: list[str]) -> Iterator[tuple]:
    """Rows of ``select ... WHERE id IN (ids)``, asked ``IDS_PER_QUERY`` ids at a time."""
    for start in range(0, len(ids), IDS_PER_QUERY):
        chunk = ids[start : start + IDS_PER_QUERY]
        yield from db.execute(f"{select} WHERE id IN ({','.join('?' * len(chunk))})", chunk)


SCHEMA = """
CREATE TABLE IF NOT EXISTS images (
    id TEXT PRIMARY KEY,
    category TEXT NOT NULL,
    created REAL NOT NULL,
    size INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS images_by_category ON images(category, created);
CREATE TABLE IF NOT EXISTS categories (name TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS pending (
    id TEXT PRIMARY KEY,
    category TEXT NOT NULL,
    created REAL NOT NULL,
    size INTEGER NOT NULL,
    png BLOB NOT NULL
);
CREATE VIEW IF NOT EXISTS all_images AS
    SELECT id, category, created, size FROM images
    UNION ALL
    SELECT id, category, created, size FROM pending WHERE id NOT IN (SELECT id FROM images);
"""


@dataclass(frozen=True)
class ImageRecord:
    """One stored image as the index knows it."""

    id: str
    category: str
    created: float
    size: int


class DatasetIndex:
    """Thread-safe access to one data set's SQLite index (one connection per thread)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._wal_fd: int | None = None
        with disk_full_in(self.path.parent):
            self._db().executescript(SCHEMA)

    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
            try:
                with disk_full_in(self.path.parent):  # the shared-memory file may not fit
                    db.execute("PRAGMA journal_mode=WAL")
            except BaseException:
                db.close()
                raise
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA busy_timeout=30000")
            self._local.db = db
            with self._lock:
                self._connections.append(db)
        return db

    def transaction(self) -> _Transaction:
        """``with index.transaction() as db:`` — BEGIN IMMEDIATE ... COMMIT (ROLLBACK on error)."""
        return _Transaction(self._db(), self.path.parent)

    def sync(self) -> None:
        """Make every commit finished so far durable: fsync the write-ahead log.

        Sound with ``synchronous=NORMAL``: a commit's frames are in the log when COMMIT returns,
        and a checkpoint syncs the log before copying it and the database after.
        """
        with self._lock:
            if self._wal_fd is None:
                try:
                    # Kept open: the log is not removed while this index holds connections.
                    self._wal_fd = os.open(f"{self.path}-wal", os.O_RDWR if os.name == "nt" else os.O_RDONLY)
                except FileNotFoundError:
                    return  # no log yet: every commit is in the database file
            fd = self._wal_fd
        with disk_full_in(self.path.parent):
            getattr(os, "fdatasync", os.fsync)(fd)

    def close(self) -> None:
        with self._lock:
            if self._wal_fd is not None:
                os.close(self._wal_fd)
                self._wal_fd = None
            for db in self._connections:
                db.close()
            self._connections.clear()
        self._local = threading.local()

    # Reads ------------------------------------------------------------------------------------
    def categories(self) -> list[str]:
        rows = self._db().execute("SELECT name FROM categories ORDER BY name").fetchall()
        return [name for (name,) in rows]

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(self.categories(), 0)
        for name, n in self._db().execute("SELECT category, COUNT(*) FROM all_images GROUP BY category"):
            counts[name] = n
        return counts

    def count(self) -> int:
        return self._db().execute("SELECT COUNT(*) FROM all_images").fetchone()[0]

    def get(self, image_id: str) -> ImageRecord | None:
        row = (
            self._db()
            .execute("SELECT id, category, created, size FROM all_images WHERE id = ?", (image_id,))
            .fetchone()
        )
        return ImageRecord(*row) if row else None

    def get_many(self, ids: Iterable[str]) -> dict[str, ImageRecord]:
        rows = self._where_id_in("SELECT id, category, created, size FROM all_images", list(ids))
        return {row[0]: ImageRecord(*row) for row in rows}

    def _where_id_in(self, select: str, ids: list[str]) -> Iterator[tuple]:
        return where_id_in(self._db(), select, ids)

    def list(self, category: str | None = None, offset: int = 0, limit: int = 100) -> list[ImageRecord]:
        if category is None:
            rows = self._db().execute(
                "SELECT id, category, created, size FROM all_images ORDER BY created, id LIMIT ? OFFSET ?",
                (limit, offset),
            )
        else:
            rows = self._db().execute(
                "SELECT id, category, created, size FROM all_images WHERE category = ? "
                "ORDER BY created, id LIMIT ? OFFSET ?",
                (category, limit, offset),
            )
        return [ImageRecord(*row) for row in rows]

    def labelled_ids(self) -> list[tuple[str, str]]:
        """Every (id, category), ordered by id: the content of the data set."""
        return self._db().execute("SELECT id, category FROM all_images ORDER BY id").fetchall()

    def created_times(self) -> dict[str, float]:
        """When each image was stored (seconds since the epoch; file time for re-indexed files)."""
        return dict(self._db().execute("SELECT id, created FROM all_images").fetchall())

    # Pending images (acknowledged, file not yet written) ---------------------------------------
    def add_pending_if_new(self, image_id: str, category: str, created: float, png: bytes) -> bool:
        """Add one pending image in a single statement (no explicit transaction); False if the
        id is already stored or pending, in any category, or if the category is not in the index
        (checked in the same statement: another process may have just deleted it)."""
        with disk_full_in(self.path.parent):
            added = self._db().execute(
                "INSERT INTO pending (id, category, created, size, png) SELECT ?, ?, ?, ?, ? "
                "WHERE NOT EXISTS (SELECT 1 FROM images WHERE id = ?) "
                "AND EXISTS (SELECT 1 FROM categories WHERE name = ?) ON CONFLICT (id) DO NOTHING",
                (image_id, category, created, len(png), png, image_id, category),
            )
        return added.rowcount == 1

    def is_pending(self, image_id: str) -> bool:
        return self._db().execute("SELECT 1 FROM pending WHERE id = ?", (image_id,)).fetchone() is not None

    def pending_count(self) -> int:
        return self._db().execute("SELECT COUNT(*) FROM pending").fetchone()[0]

    def pending(self, limit: int) -> list[tuple[str, str, bytes]]:
        """Up to ``limit`` pending ``(id, category, png)``, oldest first."""
        return (
            self._db()
            .execute("SELECT id, category, png FROM pending ORDER BY created, id LIMIT ?", (limit,))
            .fetchall()
        )

    def pending_png(self, ids: list[str]) -> dict[str, bytes]:
        """The PNG bytes of those ``ids`` that are still pending."""
        return dict(self._where_id_in("SELECT id, png FROM pending", ids))

    def settle_pending(self, written: list[tuple[str, str]]) -> set[tuple[str, str]]:
        """Move pending rows whose files were written (and synced) to ``images``.

        Returns the ``(id, category)`` files that must not stay: the image was deleted or
        relabelled while its file was being written.
        """
        stale: set[tuple[str, str]] = set()
        with self.transaction() as db:
            for image_id, category in written:
                moved = db.execute(
                    "INSERT OR REPLACE INTO images (id, category, created, size) "
                    "SELECT id, category, created, size FROM pending WHERE id = ? AND category = ?",
                    (image_id, category),
                ).rowcount
                if moved:
                    db.execute("DELETE FROM pending WHERE id = ?", (image_id,))
                    continue
                row = db.execute("SELECT category FROM images WHERE id = ?", (image_id,)).fetchone()
                if row is None or row[0] != category:
                    stale.add((image_id, category))  # else another process moved it first
        return stale


class _Transaction:
    def __init__(self, db: sqlite3.Connection, folder: Path) -> None:
        self.db = db
        self.folder = folder

    def __enter__(self) -> sqlite3.Connection:
        for attempt in range(50):
            try:
                self.db.execute("BEGIN IMMEDIATE")
                break
            except sqlite3.OperationalError as exc:
                # busy_timeout covers most waits; a locked WAL during checkpoint can still say so.
                if "locked" not in str(exc) or attempt == 49:
                    raise
                time.sleep(0.05)
        return self.db

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            try:
                self.db.execute("COMMIT")
                return
            except sqlite3.Error as failed:
                exc = failed
                self._rollback()
                if not is_disk_full(exc):
                    raise
        else:
            self._rollback()
        if is_disk_full(exc) and not isinstance(exc, DiskFull):
            raise DiskFull(self.folder) from exc

    def _rollback(self) -> None:
        # SQLite ends the transaction itself on some errors (SQLITE_FULL while spilling pages or
        # committing): a ROLLBACK then fails, and would hide the error that matters.
        if self.db.in_transaction:
            self.db.execute("ROLLBACK")
