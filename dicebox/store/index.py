"""The index of one data set: which image is in which category, without rescanning folders.

SQLite in WAL mode: several processes (service replicas on one shared folder) read and write it at
once. It is only a cache of the folders: the image files are made durable before the index
commits, and opening a data set reconciles the index with them. So the index may use
``synchronous=NORMAL`` (a commit survives a process crash; a power cut may lose the last commits,
which reconciliation restores from the files) and an acknowledged image is never lost.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS images (
    id TEXT PRIMARY KEY,
    category TEXT NOT NULL,
    created REAL NOT NULL,
    size INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS images_by_category ON images(category, created);
CREATE TABLE IF NOT EXISTS categories (name TEXT PRIMARY KEY);
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
        self._db().executescript(SCHEMA)

    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA busy_timeout=30000")
            self._local.db = db
            with self._lock:
                self._connections.append(db)
        return db

    def transaction(self) -> _Transaction:
        """``with index.transaction() as db:`` — BEGIN IMMEDIATE ... COMMIT (ROLLBACK on error)."""
        return _Transaction(self._db())

    def close(self) -> None:
        with self._lock:
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
        for name, n in self._db().execute("SELECT category, COUNT(*) FROM images GROUP BY category"):
            counts[name] = n
        return counts

    def count(self) -> int:
        return self._db().execute("SELECT COUNT(*) FROM images").fetchone()[0]

    def get(self, image_id: str) -> ImageRecord | None:
        row = self._db().execute(
            "SELECT id, category, created, size FROM images WHERE id = ?", (image_id,)
        ).fetchone()
        return ImageRecord(*row) if row else None

    def get_many(self, ids: Iterable[str]) -> dict[str, ImageRecord]:
        found: dict[str, ImageRecord] = {}
        ids = list(ids)
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for row in self._db().execute(
                f"SELECT id, category, created, size FROM images WHERE id IN ({marks})", chunk
            ):
                found[row[0]] = ImageRecord(*row)
        return found

    def list(self, category: str | None = None, offset: int = 0, limit: int = 100) -> list[ImageRecord]:
        if category is None:
            rows = self._db().execute(
                "SELECT id, category, created, size FROM images ORDER BY created, id LIMIT ? OFFSET ?",
                (limit, offset),
            )
        else:
            rows = self._db().execute(
                "SELECT id, category, created, size FROM images WHERE category = ? "
                "ORDER BY created, id LIMIT ? OFFSET ?",
                (category, limit, offset),
            )
        return [ImageRecord(*row) for row in rows]

    def labelled_ids(self) -> list[tuple[str, str]]:
        """Every (id, category), ordered by id: the content of the data set."""
        return self._db().execute("SELECT id, category FROM images ORDER BY id").fetchall()


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

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
            self.db.execute("COMMIT")
        else:
            self.db.execute("ROLLBACK")
