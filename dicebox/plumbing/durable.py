"""Crash-safe file writes: a reader sees the old file or the complete new one, never a part."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

TEMP_PREFIX = ".tmp-"


def fsync_dir(folder: Path) -> None:
    """Make a rename or a new file in ``folder`` survive a power cut (no-op where unsupported)."""
    if os.name == "nt":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes, *, sync: bool = True, sync_dir: bool = True) -> None:
    """Write ``data`` to ``path``: temp file in the same folder, fsync, rename, fsync the folder.

    ``sync_dir=False`` leaves the folder's fsync to the caller, who may batch it over many files.
    """
    path = Path(path)
    tmp = path.with_name(f"{TEMP_PREFIX}{uuid.uuid4().hex}")
    try:
        with open(tmp, "xb") as fh:
            fh.write(data)
            if sync:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if sync and sync_dir:
        fsync_dir(path.parent)


def sibling_path(path: Path, kind: str) -> Path:
    """A hidden, unique name beside ``path`` (``.<kind>-<random>-<name>``), for staging or setting aside."""
    return path.with_name(f".{kind}-{uuid.uuid4().hex[:12]}-{path.name}")


def replace_dir(ready: Path, path: Path) -> None:
    """Move the complete folder ``ready`` to ``path``, replacing what is there (set aside, then removed)."""
    if path.is_dir() and not any(path.iterdir()):
        path.rmdir()
    old = None
    if path.exists():
        old = sibling_path(path, "old")
        os.rename(path, old)
    os.rename(ready, path)
    fsync_dir(path.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def write_text_atomic(path: Path, text: str, *, sync: bool = True) -> None:
    """:func:`write_atomic` for UTF-8 text."""
    write_atomic(path, text.encode("utf-8"), sync=sync)


def create_exclusive(path: Path, data: bytes, mode: int = 0o600) -> bool:
    """Create ``path`` with ``data`` only if it does not exist yet; False if another process won.

    The file is written completely under a temp name first and linked into place, so a reader
    never sees it empty.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{TEMP_PREFIX}{uuid.uuid4().hex}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        except OSError:
            # Filesystems without hard links: fall back to an exclusive create.
            try:
                with open(path, "xb") as out:
                    out.write(data)
            except FileExistsError:
                return False
        fsync_dir(path.parent)
        return True
    finally:
        tmp.unlink(missing_ok=True)
