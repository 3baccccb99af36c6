"""Finding the cameras attached to this computer, for a device picker."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import cv2

from . import device as _device


@dataclass(frozen=True)
class DeviceInfo:
    """A camera that opened and delivered a frame."""

    index: int
    name: str
    width: int
    height: int
    fps: float | None

    @property
    def spec(self) -> str:
        """The spec string that opens this camera."""
        return str(self.index)


def _linux_name(index: int) -> str | None:
    try:
        with open(f"/sys/class/video4linux/video{index}/name", encoding="utf-8") as f:
            return f.read().strip() or None
    except OSError:
        return None


def _may_exist(index: int) -> bool:
    """On Linux a camera is a /dev/videoN node; elsewhere there is no cheap check, so probe."""
    if sys.platform.startswith("linux"):
        return os.path.exists(f"/dev/video{index}")
    return True


def _probe(index: int, factory: Callable[..., Any]) -> DeviceInfo | None:
    try:
        cap = factory(index)
    except _device.CAPTURE_ERRORS:
        return None
    try:
        if cap is None or not cap.isOpened():
            return None
        ok, image = cap.read()
        if not ok or image is None:
            return None
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
    except _device.CAPTURE_ERRORS:
        return None
    finally:
        _device.release_quietly(cap)
    name = _linux_name(index) or f"Camera {index}"
    return DeviceInfo(index, name, int(image.shape[1]), int(image.shape[0]), fps if 0 < fps < 1000 else None)


def list_devices(
    max_index: int = 8, *, factory: Callable[..., Any] | None = None, timeout: float = 5.0
) -> list[DeviceInfo]:
    """The cameras among indices 0..max_index-1 that open and deliver a frame.

    With the real ``cv2.VideoCapture`` on Linux, indices without a /dev/videoN node are not even
    tried, so a machine without cameras answers at once. Probing runs on a helper thread and is
    abandoned after ``timeout`` seconds (some drivers hang), returning what was found so far.
    OpenCV's warnings about missing devices are silenced meanwhile.
    """
    make = _device.capture_factory(factory)
    real = make is cv2.VideoCapture
    indices = [i for i in range(max(0, max_index)) if not real or _may_exist(i)]
    if not indices:
        return []
    found: list[DeviceInfo] = []

    def probe_all() -> None:
        for index in indices:
            info = _probe(index, make)
            if info is not None:
                found.append(info)

    with _device.quiet_opencv():
        worker = threading.Thread(target=probe_all, name="list_devices", daemon=True)
        worker.start()
        worker.join(timeout)
    return sorted(list(found), key=lambda d: d.index)
