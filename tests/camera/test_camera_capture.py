"""Threaded capture: latest-frame polling, pacing, warm-up, reconnecting, and clean shutdown."""

from __future__ import annotations

import threading
import time

import pytest
from camera_fakes import FakeCameraRig, wait_until, write_video

from dicebox.camera import CaptureThread, Frame, FrameSource, SourceError, open_source


@pytest.fixture(autouse=True)
def no_new_threads():
    """Fails the test if it leaves a thread running."""
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        extra = set(threading.enumerate()) - before
        if not extra:
            return
        time.sleep(0.01)
    raise AssertionError(f"threads left behind: {sorted(t.name for t in extra)}")


@pytest.fixture
def rig() -> FakeCameraRig:
    return FakeCameraRig()


def test_start_poll_stop_leaves_no_thread():
    before = set(threading.enumerate())
    source = open_source("synthetic:dice?seed=1&width=160&height=120&fps=200")
    capture = CaptureThread(source)
    assert capture.state == "idle" and capture.latest() is None
    capture.start()
    first = capture.wait_for_frame(timeout=3.0)
    assert first is not None and first.label in source.categories
    second = capture.wait_for_frame(newer_than=first.seq, timeout=3.0)
    assert second is not None and second.seq > first.seq
    assert capture.state == "running" and capture.running
    started = time.monotonic()
    assert capture.stop() is True
    assert time.monotonic() - started < 1.0
    assert capture.state == "stopped" and source.closed
    assert set(threading.enumerate()) == before


def test_latest_frame_is_a_private_copy():
    with CaptureThread(open_source("synthetic:dice?width=64&height=48&fps=100")) as capture:
        frame = capture.wait_for_frame(timeout=3.0)
        assert isinstance(frame, Frame) and frame.image.flags.owndata


def test_synthetic_camera_is_paced_at_its_fps():
    source = open_source("synthetic:dice?width=96&height=72&fps=40")
    with CaptureThread(source) as capture:
        assert capture.wait_for_frame(timeout=3.0) is not None
        time.sleep(0.5)
        frames = capture.status().frames
    assert 10 <= frames <= 26  # ~20 expected at 40 fps in 0.5 s; generous for a busy machine
    assert 0 < capture.fps < 60


def test_uncapped_source_is_not_paced():
    source = open_source("synthetic:dice?width=64&height=48&fps=5&uncapped=1")
    with CaptureThread(source) as capture:
        assert wait_until(lambda: capture.status().frames >= 20, timeout=3.0)


def test_camera_warmup_frames_are_skipped(rig):
    published = []
    source = open_source("0", capture_factory=rig)
    with CaptureThread(source, on_frame=lambda f: published.append(f.seq)) as capture:
        assert capture.wait_for_frame(timeout=3.0) is not None
    assert published[0] == 5  # frames 0..4 were warm-up
    published.clear()
    with CaptureThread(
        open_source("0?warmup=2", capture_factory=rig), on_frame=lambda f: published.append(f.seq)
    ):
        assert wait_until(lambda: published)
    assert published[0] == 2
    published.clear()
    with CaptureThread(
        open_source("0", capture_factory=rig), warmup=0, on_frame=lambda f: published.append(f.seq)
    ):
        assert wait_until(lambda: published)
    assert published[0] == 0


def test_unplugged_camera_reconnects_and_stop_is_prompt(rig):
    source = open_source("0?warmup=0", capture_factory=rig)
    capture = CaptureThread(source, initial_backoff=0.01, max_backoff=0.05).start()
    assert capture.wait_for_frame(timeout=3.0) is not None
    rig.plugged = False
    assert wait_until(lambda: capture.state == "reconnecting")
    assert "camera 0" in capture.error
    assert capture.latest() is not None  # the last good frame stays available
    opened_while_unplugged = len(rig.captures)
    time.sleep(0.2)
    assert len(rig.captures) > opened_while_unplugged  # it keeps trying
    rig.plugged = True
    assert wait_until(lambda: capture.state == "running")
    last = capture.latest().seq
    assert capture.wait_for_frame(newer_than=last, timeout=3.0) is not None
    rig.plugged = False
    assert wait_until(lambda: capture.state == "reconnecting")
    started = time.monotonic()
    assert capture.stop() is True
    assert time.monotonic() - started < 0.5
    assert capture.state == "stopped"
    assert all(cap.released or not cap.opened for cap in rig.captures)


def test_stop_returns_even_if_the_driver_hangs(rig):
    source = open_source("0?warmup=0", capture_factory=rig)
    rig.read_delay = 0.6  # every read blocks for 0.6 s
    capture = CaptureThread(source).start()
    first = capture.wait_for_frame(timeout=3.0)  # checked when opening; the next read blocks
    time.sleep(0.05)
    started = time.monotonic()
    assert capture.latest() is first  # polling never waits for the device
    assert time.monotonic() - started < 0.05
    assert capture.stop(timeout=0.1) is False
    assert time.monotonic() - started < 0.3
    # The thread finishes its read, then releases the camera itself.
    assert wait_until(lambda: rig.captures[-1].released, timeout=3.0)


def test_video_end_and_error_states(tmp_path):
    path = tmp_path / "clip.avi"
    write_video(path, frames=6)
    capture = CaptureThread(open_source(f"{path}?uncapped=1")).start()
    assert wait_until(lambda: capture.state == "ended")
    assert capture.latest().seq == 5
    assert capture.stop() is True and capture.state == "ended"

    class Broken(FrameSource):
        nominal_fps = None
        frame_size = (1, 1)

        def read(self):
            raise SourceError("broken: the disk went away")

    capture = CaptureThread(Broken("broken")).start()
    assert wait_until(lambda: capture.state == "error")
    assert capture.error == "broken: the disk went away"
    capture.stop()


def test_callbacks_and_restart_rules():
    seen = []

    def on_frame(frame):
        seen.append(frame.seq)
        if len(seen) == 2:
            raise RuntimeError("consumer bug")  # logged, capture goes on

    capture = CaptureThread(open_source("synthetic:dice?width=64&height=48&uncapped=1"), on_frame=on_frame)
    with capture:
        assert wait_until(lambda: len(seen) >= 5)
        with pytest.raises(RuntimeError, match="only be started once"):
            capture.start()
    assert capture.state == "stopped"
    never_started = CaptureThread(open_source("synthetic:dice"))
    assert never_started.stop() is True and never_started.source.closed
