"""Spec strings: parsing, and one clear SourceError for every kind of bad input."""

from __future__ import annotations

import os

import cv2
import numpy as np
import pytest
from camera_fakes import FakeCameraRig

from dicebox.camera import (
    DeviceSource,
    FolderSource,
    SourceError,
    SyntheticDiceSource,
    open_source,
    parse_spec,
)


@pytest.fixture
def rig() -> FakeCameraRig:
    return FakeCameraRig()


def test_parse_device_synthetic_and_option_syntaxes():
    assert parse_spec("0").kind == "device"
    assert parse_spec(" 2 ").target == "2"
    assert parse_spec("device:1").target == "1"
    p = parse_spec("0?width=1280&height=720&fps=30")
    assert (p.kind, p.target, p.options) == ("device", "0", {"width": "1280", "height": "720", "fps": "30"})
    p = parse_spec("synthetic:dice?seed=3,fps=30, width=640 & height=480")
    assert (p.kind, p.target) == ("synthetic", "dice")
    assert p.options == {"seed": "3", "fps": "30", "width": "640", "height": "480"}
    assert parse_spec("synthetic:").target == "dice"
    assert parse_spec("synthetic:dice?uncapped").options == {"uncapped": ""}


def test_parse_paths(tmp_path):
    video = tmp_path / "clip.avi"
    video.write_bytes(b"x")
    assert parse_spec(f"{video}?loop=1").kind == "video"
    assert parse_spec(f"file:{video}").target == str(video)
    assert parse_spec(str(tmp_path)).kind == "folder"
    assert parse_spec(f"folder:{tmp_path}?fps=2").options == {"fps": "2"}
    odd = tmp_path / "what?.avi"  # a real file name with a question mark is taken literally
    odd.write_bytes(b"x")
    assert parse_spec(str(odd)).target == str(odd)


@pytest.mark.parametrize(
    "spec, words",
    [
        ("", "empty source spec"),
        ("   ", "empty source spec"),
        ("?seed=1", "no source before the options"),
        ("ftp:thing", "unknown source type 'ftp'"),
        ("C:\\no\\such\\clip.mp4", "no such file or folder"),
        ("no/such/clip.mp4", "no such file or folder"),
        ("-1", "camera number must be a whole number"),
        ("device:abc", "camera number must be a whole number"),
        ("synthetic:cats", "unknown synthetic source 'cats'"),
        ("synthetic:dice?colour=red", "unknown option colour"),
        ("synthetic:dice?seed=abc", "option seed must be an integer, got 'abc'"),
        ("synthetic:dice?seed=-4", "option seed must be >= 0"),
        ("synthetic:dice?fps=0", "option fps must be >= 0.1"),
        ("synthetic:dice?fps=nan", "option fps must be a finite number"),
        ("synthetic:dice?width=8", "option width must be >= 16"),
        ("synthetic:dice?face=7", "option face must be one of 1, 2, 3, 4, 5, 6"),
        ("synthetic:dice?die=d20", "option die must be one of d4, d6, d8"),
        ("synthetic:dice?die=d4&face=6", "option face must be one of 1, 2, 3, 4"),
        ("synthetic:dice?uncapped=maybe", "option uncapped must be 1 or 0"),
        ("synthetic:dice?seed=1&seed=2", "option seed given twice"),
        ("synthetic:dice?=3", "malformed option"),
        ("synthetic:dice?style=plaid", "option style must be one of"),
        ("0?backend=teapot", "option backend must be one of"),
        ("0?width=wide", "option width must be an integer"),
    ],
)
def test_bad_specs_raise_one_clear_line(spec, words):
    with pytest.raises(SourceError) as info:
        open_source(spec)
    message = str(info.value)
    assert words in message
    assert "\n" not in message


def test_non_string_spec():
    with pytest.raises(SourceError, match="must be a string"):
        open_source(3)  # type: ignore[arg-type]


def test_missing_camera_raises_without_hanging(rig):
    with pytest.raises(SourceError, match="camera 5: cannot open"):
        open_source("5", capture_factory=rig)
    assert all(cap.released or not cap.opened for cap in rig.captures)


def test_real_missing_camera_fails_fast():
    # This machine has no camera; whatever OpenCV does, the answer must be a SourceError.
    with pytest.raises(SourceError, match="camera 7"):
        open_source("7")


def test_file_and_folder_prefixes_check_the_kind(tmp_path):
    with pytest.raises(SourceError, match="is a folder"):
        open_source(f"file:{tmp_path}")
    with pytest.raises(SourceError, match="no such folder"):
        open_source(f"folder:{tmp_path / 'missing'}")
    with pytest.raises(SourceError, match="give both width and height"):
        open_source(f"folder:{tmp_path}?width=10")


def test_open_each_kind(tmp_path, rig):
    assert isinstance(open_source("0", capture_factory=rig), DeviceSource)
    assert isinstance(open_source("synthetic:dice?seed=3&fps=30&width=640&height=480"), SyntheticDiceSource)
    cv2.imwrite(os.path.join(tmp_path, "a.png"), np.zeros((10, 12, 3), np.uint8))
    assert isinstance(open_source(str(tmp_path)), FolderSource)
