"""Change logs in a shared data set folder: how replicas on several machines learn of each other's changes.

When each replica keeps its index on its own disk (:mod:`dicebox.store.shared`), the image files in
the shared folder are the truth and these logs only say *what to look at*. Every process that
changes a data set appends one line per change to a log file of its own in ``<data set>/.journal/``
(one writer per file: appends from several machines to one file are not atomic over NFS), after
the change is made in the folders. Every replica reads every log from where it left off, and for
each image a line names, looks at the folders to see where the image is now. Reading a line twice,
late or out of order between logs is therefore harmless.

Lines are tab-separated (category names cannot hold tabs or newlines)::

    put   <id> <category>           an image was stored
    del   <id> <category>           an image was deleted
    move  <id> <from> <to>          an image was relabelled
    cat   <name>                    a category was created
    uncat <name>                    a category was deleted

A log file is ``<unix seconds it was started>-<writer>.log``. A writer starts a new file at least
every :data:`ROTATE_SECONDS`, so a file older than that (plus a margin for clocks that differ
between machines) never grows again: a reader that has read it to its end stops opening it, and
any replica removes it once it has been unchanged for :data:`KEEP_SECONDS`.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from dicebox.plumbing.durable import fsync_dir

log = logging.getLogger(__name__)

JOURNAL_FOLDER = ".journal"
ROTATE_SECONDS = 3600.0
# How far the clocks of two machines sharing a folder may differ.
CLOCK_SKEW_SECONDS = 600.0
KEEP_SECONDS = 24 * 3600.0
CLEANUP_EVERY_SECONDS = 600.0
MAX_READ = 8 * 1024 * 1024
_NAME = re.compile(r"(?P<started>[0-9]{1,12})-[A-Za-z0-9._-]{1,120}\.log")


@dataclass(frozen=True)
class Change:
    """One line of a log: ``op`` and the names it carries (an image id first, then categories)."""

    op: str
    image_id: str | None
    categories: tuple[str, ...]


def put_line(image_id: str, category: str) -> str:
    return f"put\t{image_id}\t{category}\n"


def del_line(image_id: str, category: str) -> str:
    return f"del\t{image_id}\t{category}\n"


def move_line(image_id: str, source: str, target: str) -> str:
    return f"move\t{image_id}\t{source}\t{target}\n"


def category_line(name: str, created: bool = True) -> str:
    return f"{'cat' if created else 'uncat'}\t{name}\n"


_ARITY = {"put": 3, "del": 3, "move": 4, "cat": 2, "uncat": 2}


def parse_line(line: str) -> Change | None:
    """The change a line says, or None for a line this version does not know."""
    parts = line.split("\t")
    if _ARITY.get(parts[0]) != len(parts):
        return None
    if parts[0] in ("cat", "uncat"):
        return Change(parts[0], None, (parts[1],))
    return Change(parts[0], parts[1], tuple(parts[2:]))


def _writer_name() -> str:
    host = re.sub(r"[^A-Za-z0-9._-]", "_", socket.gethostname())[:40] or "host"
    return f"{host}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


class JournalWriter:
    """This process's log in one data set's ``.journal`` folder (created on the first change)."""

    def __init__(self, folder: Path, *, rotate_seconds: float = ROTATE_SECONDS) -> None:
        self.folder = Path(folder)
        self.rotate_seconds = rotate_seconds
        self.writer = _writer_name()
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._path: Path | None = None
        self._started = 0.0

    @property
    def path(self) -> Path | None:
        """The file written now (None before the first change)."""
        return self._path

    def append(self, lines: list[str]) -> Path:
        """Append ``lines`` in one write; returns the file (for the caller to sync with others)."""
        data = "".join(lines).encode("utf-8")
        with self._lock:
            fd = self._current()
            try:
                written = os.write(fd, data)
                if written != len(data):
                    raise OSError(f"short write to {self._path} ({written} of {len(data)} bytes)")
            except OSError:
                # A torn line would join the next one: start a new file instead (readers skip the tail).
                self._close()
                raise
            return self._path

    def sync(self) -> None:
        """Make every line appended so far durable."""
        with self._lock:
            if self._fd is not None:
                getattr(os, "fdatasync", os.fsync)(self._fd)

    def close(self) -> None:
        with self._lock:
            self._close()

    def _current(self) -> int:
        now = time.time()
        if self._fd is not None and now - self._started < self.rotate_seconds:
            return self._fd
        self._close()
        self.folder.mkdir(exist_ok=True)
        path = self.folder / f"{int(now)}-{self.writer}.log"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | getattr(os, "O_BINARY", 0)
        self._fd = os.open(path, flags, 0o644)
        self._path, self._started = path, now
        fsync_dir(self.folder)
        return self._fd

    def _close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class JournalReader:
    """Reads every log of one ``.journal`` folder from where it left off.

    Each file is opened anew at each read: over NFS, opening is what makes the client ask the
    server for the file's current size (close-to-open consistency).
    """

    def __init__(self, folder: Path, *, skip: str | None = None) -> None:
        """``skip``: a writer whose logs are not read (this process's own)."""
        self.folder = Path(folder)
        self._skip = None if skip is None else f"-{skip}.log"
        self.offsets: dict[str, int] = {}
        self.finished: set[str] = set()
        self._next_cleanup = 0.0

    def sizes(self) -> dict[str, int]:
        """Every log and its size now (taken before the folders are scanned: see :meth:`start_at`)."""
        found = {}
        for name in self._names():
            try:
                found[name] = (self.folder / name).stat().st_size
            except FileNotFoundError:
                continue
        return found

    def start_at(self, sizes: dict[str, int]) -> None:
        """Read only what is appended after ``sizes`` (what came before is in the folders already)."""
        self.offsets = dict(sizes)
        self.finished = {name for name in sizes if self._closed(name)}

    def read(self) -> tuple[list[Change], bool]:
        """The changes appended since the last read, and whether some may have been missed (a log
        removed before it was read to its end: the caller must then scan the folders)."""
        names = set(self._names())
        missed = False
        for name in [n for n in self.offsets if n not in names]:
            if name not in self.finished:
                missed = True
            del self.offsets[name]
            self.finished.discard(name)
        changes: list[Change] = []
        for name in sorted(names - self.finished):
            changes.extend(self._read_one(name))
        self._cleanup(names)
        return changes, missed

    def _read_one(self, name: str) -> list[Change]:
        offset = self.offsets.get(name, 0)
        closed = self._closed(name)  # decided before reading: nothing can be appended after it
        try:
            with open(self.folder / name, "rb") as fh:
                size = os.fstat(fh.fileno()).st_size
                if size > offset:
                    fh.seek(offset)
                    data = fh.read(min(size - offset, MAX_READ))
                else:
                    data = b""
        except FileNotFoundError:
            return []
        end = data.rfind(b"\n") + 1  # a line still being written is read next time
        self.offsets[name] = offset + end
        if closed and offset + end >= size:
            self.finished.add(name)
        changes = []
        for raw in data[:end].splitlines():
            change = parse_line(raw.decode("utf-8", "replace"))
            if change is None:
                log.warning("ignoring an unknown line in %s: %r", name, raw[:80])
            else:
                changes.append(change)
        return changes

    def _closed(self, name: str) -> bool:
        match = _NAME.fullmatch(name)
        return match is not None and time.time() > int(match["started"]) + ROTATE_SECONDS + CLOCK_SKEW_SECONDS

    def _names(self, own: bool = False) -> list[str]:
        """The logs in the folder (``own``: this process's too)."""
        try:
            names = [name for name in os.listdir(self.folder) if _NAME.fullmatch(name)]
        except FileNotFoundError:
            return []
        return [name for name in names if own or not (self._skip and name.endswith(self._skip))]

    def _cleanup(self, names: set[str]) -> None:
        """Remove logs read to their end that nobody has written to for :data:`KEEP_SECONDS`."""
        now = time.time()
        if now < self._next_cleanup:
            return
        self._next_cleanup = now + CLEANUP_EVERY_SECONDS
        mine = {name for name in self._names(own=True) if name not in names and self._closed(name)}
        for name in (names & self.finished) | mine:
            path = self.folder / name
            try:
                if now - path.stat().st_mtime > KEEP_SECONDS:
                    path.unlink()
                    self.finished.discard(name)
                    self.offsets.pop(name, None)
            except FileNotFoundError:
                self.finished.discard(name)
                self.offsets.pop(name, None)
