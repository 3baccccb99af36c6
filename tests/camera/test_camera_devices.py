"""Listing cameras for a picker: fast when there are none, bounded when a driver hangs."""

from __future__ import annotations

import threading
import time

import pytest
from camera_fakes import FakeCameraRig

from dicebox.camera import DeviceInfo, list_devices, open_source


@pytest.fixture
def rig() -> FakeCameraRig:
    return FakeCameraRig()


def test_no_camera_on_this_machine_answers_fast():
    started = time.monotonic()
    assert list_devices() == []
    assert time.monotonic() - started < 2.0


def test_lists_the_cameras_a_fake_driver_has(rig):
    rig.indices = (0, 2)
    found = list_devices(4, factory=rig)
    assert found == [DeviceInfo(0, "Camera 0", 64, 48, 30.0), DeviceInfo(2, "Camera 2", 64, 48, 30.0)]
    assert all(cap.released for cap in rig.captures)
    assert len(rig.captures) == 4  # every index probed once
    assert open_source(found[1].spec, capture_factory=rig).frame_size == (64, 48)


def test_a_hanging_driver_cannot_hang_the_picker(rig):
    rig.read_delay = 1.0
    started = time.monotonic()
    assert list_devices(3, factory=rig, timeout=0.2) == []
    assert time.monotonic() - started < 0.6
    rig.read_delay = 0.0  # let the abandoned probe finish so no thread outlives the test
    deadline = time.monotonic() + 3.0
    while any(t.name == "list_devices" for t in threading.enumerate()) and time.monotonic() < deadline:
        time.sleep(0.01)
