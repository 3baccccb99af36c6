"""A durable on-disk queue of recorded frames waiting to reach the sensory service.

Every recorded frame is written here first (atomically, fsynced) and removed only after the
service acknowledged it, so a frame survives the service going away, the network failing and
the app being closed and reopened. The service stores an image by its pixels, so delivering a
frame twice (a crash between acknowledgement and removal) still stores it once.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from dicebox.plumbing.durable import TEMP_PREFIX, write_atomic

SUFFIX = ".frame"
REJECTED = "rejected"


@dataclass(frozen=True)
class SpooledFrame:
    """One frame waiting for delivery: where it goes and its PNG bytes."""

    path: Path
    dataset_id: str
    category: str
    png: bytes
    recorded: float


class FrameSpool:
    """Frames kept in ``folder`` until delivered, oldest first."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / REJECTED).mkdir(exist_ok=True)
        self._lock = threading.Lock()
        self._count = sum(1 for _ in self._files())

    def _files(self):
        return (p for p in self.folder.iterdir() if p.suffix == SUFFIX and not p.name.startswith(TEMP_PREFIX))

    def put(self, dataset_id: str, category: str, png: bytes) -> Path:
        """Keep a frame durably; returns its file."""
        header = json.dumps({"dataset": dataset_id, "category": category, "recorded": time.time()}).encode()
        name = f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}{SUFFIX}"
        path = self.folder / name
        # Counted before it is visible: the delivery thread may send and remove it at once.
        with self._lock:
            self._count += 1
        try:
            write_atomic(path, header + b"\n" + png)
        except BaseException:
            with self._lock:
                self._count -= 1
            raise
        return path

    def __len__(self) -> int:
        with self._lock:
            return self._count

    def peek(self, limit: int = 64) -> list[SpooledFrame]:
        """The oldest ``limit`` frames (unreadable files are moved aside as rejected)."""
        frames = []
        for path in sorted(self._files())[:limit]:
            try:
                raw = path.read_bytes()
                header, png = raw.split(b"\n", 1)
                meta = json.loads(header)
                frames.append(SpooledFrame(path, meta["dataset"], meta["category"], png, meta["recorded"]))
            except FileNotFoundError:
                continue
            except (ValueError, KeyError):
                self.reject(path)
        return frames

    def remove(self, frames: list[SpooledFrame]) -> None:
        """Forget frames the service acknowledged."""
        for frame in frames:
            try:
                frame.path.unlink()
            except FileNotFoundError:
                continue
            with self._lock:
                self._count -= 1

    def reject(self, path: Path) -> None:
        """Move a frame the service refused (bad input) aside, kept for the operator to inspect."""
        try:
            os.replace(path, self.folder / REJECTED / path.name)
        except FileNotFoundError:
            return
        with self._lock:
            self._count -= 1

    def rejected_count(self) -> int:
        return sum(1 for p in (self.folder / REJECTED).iterdir() if p.suffix == SUFFIX)
