"""What can go wrong with the data set store, as exceptions the service maps to HTTP answers."""

from __future__ import annotations

import errno
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# Out of space, as the OS says it (ENOSPC, or a quota: EDQUOT) and as SQLite does: SQLITE_FULL, or
# SQLITE_IOERR_SHMSIZE when its shared-memory file cannot grow.
_FULL_ERRNOS = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}
_FULL_SQLITE_CODES = {sqlite3.SQLITE_FULL, getattr(sqlite3, "SQLITE_IOERR_SHMSIZE", sqlite3.SQLITE_FULL)}


class StoreError(Exception):
    """Base class: the request cannot be done and nothing was changed."""


class InvalidName(StoreError):
    """A data set or category name that is not allowed (it could leave the data folder, ...)."""


class InvalidImage(StoreError):
    """Bytes that are not a usable image."""


class ImageTooLarge(InvalidImage):
    """An image whose pixel count is over the limit (decompression bombs included)."""


class NotFound(StoreError):
    """An image, category or data set that does not exist."""


class Conflict(StoreError):
    """The request contradicts what is stored (the same image under another category, ...)."""


class BatchTooLarge(StoreError):
    """A batch larger than the data set (or than allowed)."""


class DiskFull(StoreError):
    """The disk holding a data set has no space left: nothing was stored, try again once freed."""

    def __init__(self, folder: Path) -> None:
        super().__init__(f"the disk is full: no space left in {folder} (free some space and try again)")
        self.folder = Path(folder)


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` says that the disk (or the user's quota) is full."""
    if isinstance(exc, DiskFull):
        return True
    if isinstance(exc, OSError):
        return exc.errno in _FULL_ERRNOS
    if isinstance(exc, sqlite3.OperationalError):
        code = getattr(exc, "sqlite_errorcode", None)  # Python 3.11+
        return code in _FULL_SQLITE_CODES if code is not None else "disk is full" in str(exc)
    return False


@contextmanager
def disk_full_in(folder: Path) -> Iterator[None]:
    """Turn an out-of-space error raised inside into :class:`DiskFull` for ``folder``."""
    try:
        yield
    except (OSError, sqlite3.OperationalError) as exc:
        if is_disk_full(exc):
            raise DiskFull(folder) from exc
        raise
