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

When files cannot be written (the disk is full, say) the rows simply stay pending: readers are
served from the index, and the background thread tries again after a delay that doubles up to
``RETRY_MAX_SECONDS``, so a full disk costs a few attempts a minute, not a busy loop, and the
backlog is written by itself once space returns.
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

from dicebox.plumbing.durable import fsync_dir, write_atomic
from dicebox.store.errors import DiskFull, disk_full_in, is_disk_full
from dicebox.store.index import DatasetIndex

log = logging.getLogger(__name__)

IDLE_SECONDS = 0.1
BACKLOG_BYTES = 64 * 1024 * 1024
CHUNK = 512
RETRY_FIRST_SECONDS = 0.5
RETRY_MAX_SECONDS = 5.0


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
        self.retry_seconds = (RETRY_FIRST_SECONDS, RETRY_MAX_SECONDS)  # first and longest delay
        self._run_lock = threading.Lock()  # one batch at a time in this process
        self._state = threading.Condition()
        self._waiting = 0  # images acknowledged here and not yet materialised by this process
        self._waiting_bytes = 0
        self._last_store = 0.0
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._retry_at: float | None = None  # set while writing fails: when to try again
        self._retry_delay = 0.0

    @property
    def folder(self) -> Path:
        """The data set's folder, as messages name it."""
        return self.data_dir.parent

    def notify(self, count: int, size: int) -> None:
        """``count`` images of ``size`` PNG bytes in all were just acknowledged: materialise
        them when stores pause."""
        with self._state:
            idle = self._waiting == 0
            self._waiting += count
            self._waiting_bytes += size
            self._last_store = time.monotonic()
            self._start_thread()
            if idle or self._waiting_bytes >= self.backlog_bytes:
                # Otherwise the thread is already timing a pause: waking it per store would cost
                # a thread switch on every request.
                self._state.notify()

    def flush(self) -> int:
        """Materialise every pending image now (this process's and any other's); returns how many.

        Raises :class:`DiskFull` when their files do not fit: the rows stay pending (and readable),
        and the background thread writes them once space returns.
        """
        done = 0
        try:
            while True:
                moved = self._batch(self.chunk)
                done += moved
                if moved == 0:
                    break
        except Exception as exc:
            self._failed(exc)
            raise
        self._succeeded(done)
        return done

    def catch_up(self) -> None:
        """:meth:`flush`, except that images that do not fit on the disk are left to the
        background thread (with one warning) instead of raising."""
        try:
            self.flush()
        except DiskFull:
            pass

    def close(self) -> None:
        """Stop the background thread and materialise what is left (what does not fit on the
        disk stays in the index, durable, and is written when the data set is next opened)."""
        with self._state:
            self._stopping = True
            self._state.notify()
        if self._thread is not None:
            self._thread.join(timeout=60)
            self._thread = None
        try:
            self.flush()
        except DiskFull as exc:
            log.warning(
                "%d acknowledged images of %s stay in its index until it is next opened: %s",
                self.index.pending_count(),
                self.folder.name,
                exc,
            )

    def _start_thread(self) -> None:
        """Start the background thread if it is not running (with ``_state`` held)."""
        if self._thread is None and not self._stopping:
            self._thread = threading.Thread(target=self._run, name="dicebox-materialiser", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            with self._state:
                while not self._stopping and self._waiting == 0 and self._retry_at is None:
                    self._state.wait()
                if self._stopping:
                    return
                now = time.monotonic()
                if self._retry_at is not None:
                    # Writing failed: try again when the delay is over, whatever stores arrive.
                    if now < self._retry_at:
                        self._state.wait(self._retry_at - now)
                        continue
                else:
                    # Stores are cheapest while nothing else competes with them: wait for a pause,
                    # unless the backlog has grown too long.
                    quiet = self._last_store + self.idle_seconds - now
                    if quiet > 0 and self._waiting_bytes < self.backlog_bytes:
                        self._state.wait(quiet)
                        continue
                self._waiting = self._waiting_bytes = 0
            done = 0
            try:
                while True:
                    moved = self._batch(self.chunk)
                    done += moved
                    if moved < self.chunk or self._stopping:
                        break
            except Exception as exc:  # noqa: BLE001 - the rows stay pending and are tried again
                self._failed(exc)
            else:
                self._succeeded(done)

    def _failed(self, exc: BaseException) -> None:
        """Writing failed: try again after a delay that doubles at each failure; say so once."""
        with self._state:
            first = self._retry_at is None
            low, high = self.retry_seconds
            self._retry_delay = low if first else min(self._retry_delay * 2, high)
            self._retry_at = time.monotonic() + self._retry_delay
            self._start_thread()
            self._state.notify()
            if not first or self._stopping:
                return
        if is_disk_full(exc):
            log.warning(
                "%d acknowledged images of %s wait in its index (and are read from there) until "
                "their files can be written: %s",
                self.index.pending_count(),
                self.folder.name,
                exc,
            )
        else:
            log.error("could not write pending images of %s to files; trying again", self.folder.name, exc_info=exc)

    def _succeeded(self, done: int) -> None:
        with self._state:
            if self._retry_at is None:
                return
            self._retry_at = None
        log.info("wrote %d images of %s that waited in its index", done, self.folder.name)

    def _batch(self, limit: int) -> int:
        """Materialise up to ``limit`` pending rows; returns how many were moved to ``images``."""
        with self._run_lock, disk_full_in(self.folder):
            rows = self.index.pending(limit)
            if not rows:
                return 0
            written: list[tuple[str, str, Path]] = []
            full: OSError | None = None
            try:
                for category in {category for _, category, _ in rows}:
                    (self.data_dir / category).mkdir(exist_ok=True)
                for image_id, category, png in rows:
                    path = self.data_dir / category / f"{image_id}.png"
                    write_atomic(path, png, sync=False, sync_dir=False)
                    written.append((image_id, category, path))
            except OSError as exc:
                if not written or not is_disk_full(exc):
                    raise
                full = exc  # settle the files that fitted: the backlog shrinks as space returns
            sync_files([path for _, _, path in written])
            for folder in {path.parent for _, _, path in written}:
                fsync_dir(folder)
            stale = self.index.settle_pending([(image_id, category) for image_id, category, _ in written])
            for image_id, category, path in written:
                if (image_id, category) in stale:
                    # Deleted or relabelled while we wrote it: this file must not stay.
                    path.unlink(missing_ok=True)
            if full is not None:
                raise full
            return len(written)


def sync_files(paths: list[Path]) -> bool:
    """Make the data of ``paths`` durable: one ``syncfs`` on Linux, else one fsync per file.

    True when ``syncfs`` did it: then every change to that file system so far is durable, new
    names and renames included.
    """
    if not paths:
        return False
    syncfs = _syncfs()
    if syncfs is not None:
        fd = os.open(paths[0].parent, os.O_RDONLY)
        try:
            if syncfs(fd) == 0:
                return True
        finally:
            os.close(fd)
    for path in paths:
        fd = os.open(path, os.O_RDONLY if os.name != "nt" else os.O_RDWR)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    return False


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
