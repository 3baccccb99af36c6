"""The committed icons are what packaging/make_icons.py draws, in valid PNG, ICO and ICNS files."""

from __future__ import annotations

import importlib.util
import struct
from pathlib import Path

import cv2
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
ASSETS = ROOT / "assets"


def load_make_icons():
    spec = importlib.util.spec_from_file_location("make_icons", ROOT / "packaging" / "make_icons.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def decode(data: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert image is not None
    return image


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    out = tmp_path_factory.mktemp("icons")
    load_make_icons().write_icons(out)
    return out


@pytest.mark.parametrize("name, size", [("dicebox.png", 256), ("dicebox-48.png", 48)])
def test_png_icons_have_alpha_and_match_the_script(fresh, name, size):
    committed = decode((ASSETS / name).read_bytes())
    assert committed.shape == (size, size, 4)
    alpha = committed[..., 3]
    assert alpha[0, 0] == 0 and alpha[size // 2, size // 2] == 255  # transparent corner, opaque die
    # Pixels, not bytes: another zlib may compress the same picture differently. A tolerance of
    # 2 levels absorbs rounding differences between OpenCV versions, not a changed drawing.
    drawn = decode((fresh / name).read_bytes())
    assert np.abs(committed.astype(int) - drawn.astype(int)).max() <= 2, f"assets/{name} is stale: run make_icons.py"


def test_ico_holds_every_size_as_png_or_dib():
    data = (ASSETS / "dicebox.ico").read_bytes()
    reserved, kind, count = struct.unpack_from("<HHH", data)
    assert (reserved, kind) == (0, 1)
    sizes = []
    for index in range(count):
        width, height, _colours, _, planes, bits, length, offset = struct.unpack_from("<BBBBHHII", data, 6 + 16 * index)
        size = width or 256
        assert width == height and planes == 1 and bits == 32
        blob = data[offset:offset + length]
        assert len(blob) == length
        if blob.startswith(b"\x89PNG"):
            assert decode(blob).shape == (size, size, 4)
        else:  # BITMAPINFOHEADER, height doubled for the AND mask, 32 bits per pixel
            header = struct.unpack_from("<IiiHH", blob)
            assert header == (40, size, 2 * size, 1, 32)
            assert length == 40 + size * size * 4 + ((size + 31) // 32) * 4 * size
        sizes.append(size)
    assert sorted(sizes) == [16, 24, 32, 48, 64, 128, 256]


def test_icns_holds_png_elements_up_to_1024():
    data = (ASSETS / "dicebox.icns").read_bytes()
    assert data[:4] == b"icns" and struct.unpack_from(">I", data, 4)[0] == len(data)
    position, kinds = 8, {}
    while position < len(data):
        kind, length = data[position:position + 4], struct.unpack_from(">I", data, position + 4)[0]
        kinds[kind] = decode(data[position + 8:position + length]).shape[0]
        position += length
    assert position == len(data)
    assert kinds[b"ic10"] == 1024 and kinds[b"ic08"] == 256 and kinds[b"icp4"] == 16


def test_assets_are_package_data():
    """setup.py ships the icon types as dicebox.assets package data (importlib.resources)."""
    setup = (ROOT / "setup.py").read_text(encoding="utf-8")
    for pattern in ("*.png", "*.ico", "*.icns"):
        assert f'"{pattern}"' in setup
