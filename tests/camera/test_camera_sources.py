"""Every source type through the one FrameSource shape: cameras (faked), video files, image folders."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from camera_fakes import FakeCameraRig, write_video

from dicebox.camera import FolderSource, Frame, SourceError, VideoSource, open_source
from dicebox.camera import device as device_module


@pytest.fixture
def rig() -> FakeCameraRig:
    return FakeCameraRig()


def level(frame: Frame) -> int:
    return int(round(float(frame.image.mean())))


# -- cameras ------------------------------------------------------------------------------------


def test_device_frames_through_a_fake_capture(rig):
    source = open_source("0", capture_factory=rig)
    assert source.frame_size == (64, 48)
    assert source.nominal_fps == 30.0
    assert source.warmup_frames == 5 and not source.paced and source.can_reopen
    frames = [source.read() for _ in range(4)]
    assert [f.seq for f in frames] == [0, 1, 2, 3]
    assert all(f.image.shape == (48, 64, 3) and f.image.dtype == np.uint8 and f.label is None for f in frames)
    assert len({f.image.tobytes() for f in frames}) == 4
    assert frames[0].timestamp <= frames[-1].timestamp
    source.close()
    assert rig.captures[-1].released
    with pytest.raises(SourceError, match="closed"):
        source.read()


def test_device_options_reach_the_driver(rig):
    source = open_source("0?width=320&height=240&fps=15&warmup=2", capture_factory=rig)
    cap = rig.captures[-1]
    assert cap.sets == {cv2.CAP_PROP_FRAME_WIDTH: 320, cv2.CAP_PROP_FRAME_HEIGHT: 240, cv2.CAP_PROP_FPS: 15}
    assert source.frame_size == (320, 240)
    assert source.nominal_fps == 15 and source.warmup_frames == 2
    source.close()


def test_module_level_factory_is_the_default(rig, monkeypatch):
    monkeypatch.setattr(device_module, "VIDEO_CAPTURE_FACTORY", rig)
    source = open_source("device:0")
    assert source.read().image.shape == (48, 64, 3)
    source.close()


def test_gray_camera_frames_become_bgr(rig):
    rig.channels = 1
    source = open_source("0", capture_factory=rig)
    assert source.read().image.shape == (48, 64, 3)
    source.close()


def test_camera_that_opens_but_delivers_nothing(rig):
    rig.blank = True
    with pytest.raises(SourceError, match="camera 0: opened but delivers no frames"):
        open_source("0", capture_factory=rig)
    assert rig.captures[-1].released


def test_unplugged_camera_read_raises_and_reopen_recovers(rig):
    source = open_source("0", capture_factory=rig)
    source.read()
    rig.plugged = False
    with pytest.raises(SourceError, match="no frame"):
        source.read()
    with pytest.raises(SourceError, match="cannot open"):
        source.reopen()
    rig.plugged = True
    source.reopen()
    assert source.read().image.shape == (48, 64, 3)
    source.close()


# -- video files --------------------------------------------------------------------------------


def test_video_file_plays_to_the_end(tmp_path):
    path = tmp_path / "clip.avi"
    levels = write_video(path)
    source = open_source(str(path))
    assert isinstance(source, VideoSource)
    assert source.frame_size == (64, 48)
    assert source.nominal_fps == pytest.approx(25.0)
    assert source.paced
    frames = []
    while (frame := source.read()) is not None:
        frames.append(frame)
    assert [f.seq for f in frames] == list(range(len(levels)))
    assert [level(f) for f in frames] == pytest.approx(levels, abs=3)
    assert source.read() is None
    source.close()


def test_video_file_loops(tmp_path):
    path = tmp_path / "clip.avi"
    levels = write_video(path, frames=5)
    source = open_source(f"{path}?loop=1&fps=50&uncapped=1")
    assert source.nominal_fps == 50 and not source.paced
    got = [level(source.read()) for _ in range(12)]
    assert got == pytest.approx((levels * 3)[:12], abs=3)
    source.close()


def test_missing_and_corrupt_video_files(tmp_path):
    with pytest.raises(SourceError, match="no such video file"):
        VideoSource(tmp_path / "missing.avi")
    corrupt = tmp_path / "corrupt.avi"
    corrupt.write_bytes(b"RIFF" + bytes(range(256)) * 40)
    with pytest.raises(SourceError, match="corrupt") as info:
        open_source(str(corrupt))
    assert str(corrupt) in str(info.value)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(SourceError, match="corrupt"):
        open_source(str(empty))


# -- image folders ------------------------------------------------------------------------------


def test_folder_slide_show_in_natural_order(tmp_path):
    for i, value in ((10, 200), (2, 100), (1, 50)):
        cv2.imwrite(str(tmp_path / f"img{i}.png"), np.full((40, 60, 3), value, np.uint8))
    cv2.imwrite(str(tmp_path / "wide.jpg"), np.full((30, 90), 150, np.uint8))  # other size, grey
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "broken.png").write_bytes(b"not a png")
    source = open_source(f"{tmp_path}?fps=4")
    assert isinstance(source, FolderSource)
    assert source.frame_size == (60, 40) and source.nominal_fps == 4 and source.paced
    frames = [source.read() for _ in range(6)]
    assert all(f.image.shape == (40, 60, 3) for f in frames)
    assert [level(f) for f in frames] == [50, 100, 200, 150, 50, 100]  # broken.png skipped, loops
    source.close()


def test_folder_without_loop_ends(tmp_path):
    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((8, 8, 3), np.uint8))
    source = open_source(f"{tmp_path}?loop=0&width=16&height=12")
    assert source.read().image.shape == (12, 16, 3)
    assert source.read() is None
    source.close()


def test_empty_and_unreadable_folders(tmp_path):
    with pytest.raises(SourceError, match="contains no images"):
        open_source(str(tmp_path))
    (tmp_path / "a.png").write_bytes(b"garbage")
    with pytest.raises(SourceError, match="none of its 1 images can be read"):
        open_source(str(tmp_path))
