"""Write-behind of acknowledged images: from the index's ``pending`` table to PNG files.

A store is acknowledged once its PNG bytes are committed (fsynced) to the ``pending`` table of
the data set's SQLite index: one commit serves every store that arrived meanwhile, and the
request path creates no file. This module turns pending rows into files of the ImageFolder
layout in batches: write each file (temp name, rename), make them durable together, then move
the rows from ``pending`` to ``images`` in one transaction. Only then are the bytes dropped.

Batches run when stores pause (``idle_seconds``), when the PNG bytes waiting grow past
``backlog_bytes`` (a bound on how much the index holds, whatever the image size), or on demand (:meth:`Materialiser.flush`: reads of files, mutations, close, open).
Any process may materialise any pending row (a crashed replica's rows are finished by the next
one); writing a file is idempotent because image ids are content hashes.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import os
import sys
import threading
import time
from pathlib import Path

from dicebox.durable import fsync_dir, write_atomic
from dicebox.store.index import DatasetIndex

log = logging.getLogger(__name__)

IDLE_SECONDS = 0.1
BACKLOG_BYTES = 64 * 1024 * 1024
CHUNK = 512


class Materialiser:
    """Moves pending images of one data set into files, in the background and on demand."""

    def __init__(
        self,
        index: DatasetIndex,
        data_dir: Path,
        *,
        idle_seconds: float = IDLE_SECONDS,
        backlog_bytes: int = BACKLOG_BYTES,
        chunk: int = CHUNK,
    ) -> None:
        self.index = index
        self.data_dir = Path(data_dir)
        self.idle_seconds = idle_seconds
        self.backlog_bytes = backlog_bytes
        self.chunk = chunk
        self._run_lock = threading.Lock()  # one batch at a time in this process
        self._state = threading.Condition()
        self._waiting = 0  # images acknowledged here and not yet materialised by this process
        self._waiting_bytes = 0
        self._last_store = 0.0
        self._stopping = False
        self._thread: threading.Thread | None = None

    def notify(self, count: int, size: int) -> None:
        """``count`` images of ``size`` PNG bytes in all were just acknowledged: materialise
        them when stores pause."""
        with self._state:
            idle = self._waiting == 0
            self._waiting += count
            self._waiting_bytes += size
            self._last_store = time.monotonic()
            if self._thread is None and not self._stopping:
                self._thread = threading.Thread(target=self._run, name="dicebox-materialiser", daemon=True)
                self._thread.start()
            if idle or self._waiting_bytes >= self.backlog_bytes:
                # Otherwise the thread is already timing a pause: waking it per store would cost
                # a thread switch on every request.
                self._state.notify()

    def flush(self) -> int:
        """Materialise every pending image now (this process's and any other's); returns how many."""
        done = 0
        while True:
            moved = self._batch(self.chunk)
            done += moved
            if moved == 0:
                return done

    def close(self) -> None:
        """Stop the background thread and materialise what is left."""
        with self._state:
            self._stopping = True
            self._state.notify()
        if self._thread is not None:
            self._thread.join(timeout=60)
            self._thread = None
        self.flush()

    def _run(self) -> None:
        while True:
            with self._state:
                while not self._stopping and self._waiting == 0:
                    self._state.wait()
                if self._stopping:
                    return
                # Stores are cheapest while nothing else competes with them: wait for a pause,
                # unless the backlog has grown too long.
                quiet = self._last_store + self.idle_seconds - time.monotonic()
                if quiet > 0 and self._waiting_bytes < self.backlog_bytes:
                    self._state.wait(quiet)
                    continue
                self._waiting = self._waiting_bytes = 0
            try:
                while self._batch(self.chunk) == self.chunk and not self._stopping:
                    pass
            except Exception:  # noqa: BLE001 - the rows stay pending; the next flush retries them
                log.exception("could not write pending images of %s to files", self.data_dir.parent.name)
                with self._state:
                    self._waiting += 1
                    self._state.wait(1.0)

    def _batch(self, limit: int) -> int:
        """Materialise up to ``limit`` pending rows; returns how many were moved to ``images``."""
        with self._run_lock:
            rows = self.index.pending(limit)
            if not rows:
                return 0
            for category in {category for _, category, _ in rows}:
                (self.data_dir / category).mkdir(exist_ok=True)
            written: list[tuple[str, str, Path]] = []
            for image_id, category, png in rows:
                path = self.data_dir / category / f"{image_id}.png"
                write_atomic(path, png, sync=False, sync_dir=False)
                written.append((image_id, category, path))
            sync_files([path for _, _, path in written])
            for folder in {path.parent for _, _, path in written}:
                fsync_dir(folder)
            stale = self.index.settle_pending([(image_id, category) for image_id, category, _ in written])
            for image_id, category, path in written:
                if (image_id, category) in stale:
                    # Deleted or relabelled while we wrote it: this file must not stay.
                    path.unlink(missing_ok=True)
            return len(written)


def sync_files(paths: list[Path]) -> None:
    """Make the data of ``paths`` durable: one ``syncfs`` on Linux, else one fsync per file."""
    if not paths:
        return
    syncfs = _syncfs()
    if syncfs is not None:
        fd = os.open(paths[0].parent, os.O_RDONLY)
        try:
            if syncfs(fd) == 0:
                return
        finally:
            os.close(fd)
    for path in paths:
        fd = os.open(path, os.O_RDONLY if os.name != "nt" else os.O_RDWR)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@functools.cache
def _syncfs():
    """libc's ``syncfs`` (Linux): one call makes every file of the filesystem durable."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        function = ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int]
    function.restype = ctypes.c_int
    return function
