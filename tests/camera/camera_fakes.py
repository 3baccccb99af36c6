"""Fakes for camera tests: a cv2.VideoCapture stand-in whose camera can be unplugged, and test videos.

Deliberately not a conftest.py: tests elsewhere import the root conftest by name, and a second
module called ``conftest`` would shadow it.
"""

from __future__ import annotations

import threading
import time

import cv2
import numpy as np


class FakeCapture:
    """Implements the part of cv2.VideoCapture the camera package uses."""

    def __init__(self, rig: FakeCameraRig, index: object) -> None:
        self.rig = rig
        self.index = index
        self.opened = rig.plugged and index in rig.indices
        self.released = False
        self.sets: dict[int, float] = {}
        self.reads = 0

    def isOpened(self) -> bool:  # noqa: N802 - cv2's spelling
        return self.opened and not self.released

    def read(self) -> tuple[bool, np.ndarray | None]:
        if self.rig.read_delay:
            time.sleep(self.rig.read_delay)
        if self.released or not self.opened or not self.rig.plugged or self.rig.blank:
            return False, None
        self.reads += 1
        w, h = self.rig.size
        image = (
            np.zeros((h, w, self.rig.channels), np.uint8)
            if self.rig.channels > 1
            else np.zeros((h, w), np.uint8)
        )
        image[...] = (self.reads * 7) % 256
        image[0, 0] = self.reads % 256
        with self.rig.lock:
            self.rig.total_reads += 1
        return True, image

    def release(self) -> None:
        self.released = True

    def get(self, prop: int) -> float:
        if prop == cv2.CAP_PROP_FRAME_WIDTH:
            return float(self.rig.size[0])
        if prop == cv2.CAP_PROP_FRAME_HEIGHT:
            return float(self.rig.size[1])
        if prop == cv2.CAP_PROP_FPS:
            return self.rig.fps
        return 0.0

    def set(self, prop: int, value: float) -> bool:
        self.sets[prop] = value
        if prop == cv2.CAP_PROP_FRAME_WIDTH:
            self.rig.size = (int(value), self.rig.size[1])
        elif prop == cv2.CAP_PROP_FRAME_HEIGHT:
            self.rig.size = (self.rig.size[0], int(value))
        return True


class FakeCameraRig:
    """A factory for FakeCapture objects: cameras at ``indices`` that can be unplugged and replugged."""

    def __init__(
        self,
        indices: tuple[int, ...] = (0,),
        size: tuple[int, int] = (64, 48),
        fps: float = 30.0,
        channels: int = 3,
    ) -> None:
        self.indices = indices
        self.size = size
        self.fps = fps
        self.channels = channels
        self.plugged = True
        self.blank = False  # opens but never delivers a frame
        self.read_delay = 0.002  # a real camera blocks until its next frame
        self.captures: list[FakeCapture] = []
        self.lock = threading.Lock()
        self.total_reads = 0

    def __call__(self, index: object, api: int | None = None) -> FakeCapture:
        cap = FakeCapture(self, index)
        self.captures.append(cap)
        return cap


def write_video(path, frames: int = 12, size: tuple[int, int] = (64, 48), fps: float = 25.0) -> list[int]:
    """An MJPG .avi whose frame i is a flat grey of level 10 + 20 * i; returns the levels."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    assert writer.isOpened()
    levels = [10 + 20 * i for i in range(frames)]
    for level in levels:
        writer.write(np.full((size[1], size[0], 3), level, np.uint8))
    writer.release()
    return levels


def wait_until(predicate, timeout: float = 3.0) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` seconds pass; its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.005)
    return bool(predicate())
