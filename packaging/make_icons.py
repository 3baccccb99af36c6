"""Draw the dicebox icon (a die in an open box, flat isometric style) and write every icon file.

    python packaging/make_icons.py            # writes into assets/
    python packaging/make_icons.py --out DIR  # somewhere else (the tests compare with assets/)

Outputs: ``dicebox.png`` (256x256 RGBA), ``dicebox-48.png``, ``dicebox.ico`` (16-256 px; small
sizes as 32-bit DIBs, 256 px as PNG, which is what Windows Explorer, PyInstaller's resource
embedding and Inno Setup all read) and ``dicebox.icns`` (PNG entries 16-1024 px, the format
``iconutil`` writes). Only OpenCV and numpy are used; the output is deterministic, so the
committed files can be checked against a fresh run.

The picture is drawn once at 2048 px on a binary canvas and then area-averaged down to each size
(premultiplied alpha, so transparent edges do not turn dark): supersampling is the anti-aliasing.
"""

from __future__ import annotations

import argparse
import struct
from pathlib import Path

import cv2
import numpy as np

MASTER = 2048
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)
ICO_PNG_FROM = 256  # sizes at or above this are stored as PNG inside the ICO
# ICNS element types holding PNG data, by pixel size (the @2x types share sizes with plain ones).
ICNS_TYPES = (
    (b"icp4", 16), (b"icp5", 32), (b"ic11", 32), (b"ic12", 64), (b"ic07", 128),
    (b"ic08", 256), (b"ic13", 256), (b"ic09", 512), (b"ic14", 512), (b"ic10", 1024),
)

# Colours as (B, G, R), OpenCV's order.
CARDBOARD_LEFT = (75, 134, 200)
CARDBOARD_RIGHT = (53, 106, 168)
CARDBOARD_INSIDE = (34, 74, 122)
CARDBOARD_INSIDE_WALL = (44, 92, 148)
FLAP_LEFT = (104, 168, 224)
FLAP_RIGHT = (90, 154, 214)
RIM = (120, 184, 236)
DIE_TOP = (255, 255, 255)
DIE_LEFT = (235, 231, 229)
DIE_RIGHT = (214, 206, 201)
PIP = (55, 41, 31)
PIP_ONE = (38, 38, 220)

# Isometric axes on screen (y grows downwards): x goes right-down, y goes left-down.
EX = np.array([np.cos(np.pi / 6), np.sin(np.pi / 6)])
EY = np.array([-np.cos(np.pi / 6), np.sin(np.pi / 6)])
UP = np.array([0.0, -1.0])
FIT_SCALE, FIT_SHIFT = 0.9, np.array([0.0, -0.05])


class Canvas:
    """A BGRA picture painted with opaque polygons at the master size (unit coordinates in)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.pixels = np.zeros((size, size, 4), np.uint8)

    def mask(self, points) -> np.ndarray:
        mask = np.zeros((self.size, self.size), np.uint8)
        # The drawing below is laid out on the unit square; this fits it inside a margin.
        fitted = (np.asarray(points, float) - 0.5) * FIT_SCALE + 0.5 + FIT_SHIFT
        pts = np.round(fitted * self.size).astype(np.int32)
        cv2.fillPoly(mask, [pts], 255, lineType=cv2.LINE_8)
        return mask

    def paint(self, mask: np.ndarray, colour) -> None:
        self.pixels[mask > 0] = (*colour, 255)

    def polygon(self, points, colour, clip: np.ndarray | None = None) -> None:
        mask = self.mask(points)
        if clip is not None:
            mask &= clip
        self.paint(mask, colour)


def ellipse_on_face(origin, e1, e2, u: float, v: float, radius: float, steps: int = 48) -> np.ndarray:
    """A round pip at face coordinates (u, v) in [0, 1]^2, drawn on the face's parallelogram."""
    angles = np.linspace(0, 2 * np.pi, steps, endpoint=False)
    us = u + radius * np.cos(angles)
    vs = v + radius * np.sin(angles)
    return origin + np.outer(us, e1) + np.outer(vs, e2)


def draw(size: int = MASTER) -> np.ndarray:
    """The icon at ``size`` px, BGRA, with a binary alpha (anti-aliasing comes from downsampling)."""
    canvas = Canvas(size)

    # The box: an open carton seen from above; its top rim is a rhombus around C.
    a, h = 0.46, 0.24  # side of the square footprint, wall height
    c = np.array([0.5, 0.52])
    back, front = c - a / 2 * (EX + EY), c + a / 2 * (EX + EY)
    right, left = c + a / 2 * (EX - EY), c - a / 2 * (EX - EY)
    down = -h * UP

    # Back flaps, opened outwards, behind everything else.
    lean_left, lean_right = np.array([-0.07, -0.17]), np.array([0.07, -0.17])
    canvas.polygon([left, back, back + lean_left, left + lean_left], FLAP_LEFT)
    canvas.polygon([back, right, right + lean_right, back + lean_right], FLAP_RIGHT)

    # The inside: dark floor, a lighter inner back wall on the right to give depth.
    rim = canvas.mask([back, right, front, left])
    canvas.paint(rim, CARDBOARD_INSIDE)
    canvas.polygon([back, right, right + 0.6 * down, back + 0.6 * down], CARDBOARD_INSIDE_WALL, clip=rim)

    # The die: an isometric cube standing in the box, top face with one pip, left two, right three.
    r = 0.22
    centre = np.array([0.5, 0.44])
    # centre is the near corner where the three visible faces meet; r is the cube's side.
    top = centre + r * UP
    up_left, up_right = centre - r * EX, centre - r * EY
    bottom = centre - r * UP
    low_left, low_right = up_left - r * UP, up_right - r * UP
    canvas.polygon([top, up_right, centre, up_left], DIE_TOP)
    canvas.polygon([up_left, centre, bottom, low_left], DIE_LEFT)
    canvas.polygon([centre, up_right, low_right, bottom], DIE_RIGHT)
    pip = 0.1
    # Top face: origin at the top corner, axes along its two upper edges.
    canvas.polygon(ellipse_on_face(top, up_left - top, up_right - top, 0.5, 0.5, pip * 1.5), PIP_ONE)
    # Left face: origin up_left, e1 towards centre, e2 downwards.
    for u, v in ((0.28, 0.28), (0.72, 0.72)):
        canvas.polygon(ellipse_on_face(up_left, centre - up_left, low_left - up_left, u, v, pip), PIP)
    # Right face: origin centre, e1 towards up_right, e2 downwards.
    for u, v in ((0.25, 0.25), (0.5, 0.5), (0.75, 0.75)):
        canvas.polygon(ellipse_on_face(centre, up_right - centre, bottom - centre, u, v, pip), PIP)

    # The front walls hide the bottom of the die: the die is *in* the box.
    canvas.polygon([left, front, front + down, left + down], CARDBOARD_LEFT)
    canvas.polygon([front, right, right + down, front + down], CARDBOARD_RIGHT)
    # A light rim along the front edges reads as the cardboard's thickness.
    t = 0.018
    canvas.polygon([left, front, front + [0, t], left + [0, t]], RIM)
    canvas.polygon([front, right, right + [0, t], front + [0, t]], RIM)
    return canvas.pixels


def resized(master: np.ndarray, size: int) -> np.ndarray:
    """Area-average with premultiplied alpha, so edges blend towards transparent, not black."""
    rgba = master.astype(np.float32) / 255.0
    alpha = rgba[..., 3:4]
    premultiplied = np.concatenate([rgba[..., :3] * alpha, alpha], axis=2)
    small = cv2.resize(premultiplied, (size, size), interpolation=cv2.INTER_AREA)
    a = small[..., 3:4]
    colour = np.where(a > 0, small[..., :3] / np.maximum(a, 1e-6), 0.0)
    out = np.concatenate([colour, a], axis=2)
    return np.clip(np.round(out * 255.0), 0, 255).astype(np.uint8)


def png_bytes(image: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    if not ok:
        raise RuntimeError("PNG encoding failed")
    return data.tobytes()


def dib_bytes(image: np.ndarray) -> bytes:
    """An ICO entry as a 32-bit DIB: BITMAPINFOHEADER, BGRA rows bottom-up, then the AND mask."""
    size = image.shape[0]
    xor = image[::-1].tobytes()  # already BGRA, rows bottom-up
    row_bytes = ((size + 31) // 32) * 4  # 1 bit per pixel, rows padded to 32 bits
    transparent = image[::-1, :, 3] == 0
    and_mask = bytearray()
    for row in transparent:
        bits = np.packbits(row.astype(np.uint8)).tobytes()
        and_mask += bits + b"\0" * (row_bytes - len(bits))
    header = struct.pack("<IiiHHIIiiII", 40, size, size * 2, 1, 32, 0, len(xor) + len(and_mask), 0, 0, 0, 0)
    return header + xor + bytes(and_mask)


def ico_bytes(images: dict[int, np.ndarray]) -> bytes:
    """ICONDIR + ICONDIRENTRY per size + the images (PNG at 256 px, DIB below)."""
    sizes = sorted(images)
    blobs = [png_bytes(images[s]) if s >= ICO_PNG_FROM else dib_bytes(images[s]) for s in sizes]
    out = struct.pack("<HHH", 0, 1, len(sizes))
    offset = 6 + 16 * len(sizes)
    for s, blob in zip(sizes, blobs, strict=True):
        dim = 0 if s >= 256 else s  # 0 means 256 in the one-byte size fields
        out += struct.pack("<BBBBHHII", dim, dim, 0, 0, 1, 32, len(blob), offset)
        offset += len(blob)
    return out + b"".join(blobs)


def icns_bytes(images: dict[int, np.ndarray]) -> bytes:
    """'icns' + big-endian total length, then (type, length incl. 8-byte header, PNG) elements."""
    body = b""
    for kind, size in ICNS_TYPES:
        data = png_bytes(images[size])
        body += kind + struct.pack(">I", len(data) + 8) + data
    return b"icns" + struct.pack(">I", len(body) + 8) + body


def write_icons(out: Path) -> list[Path]:
    master = draw()
    sizes = sorted(set(ICO_SIZES) | {s for _, s in ICNS_TYPES})
    images = {s: resized(master, s) for s in sizes}
    out.mkdir(parents=True, exist_ok=True)
    files = {
        "dicebox.png": png_bytes(images[256]),
        "dicebox-48.png": png_bytes(images[48]),
        "dicebox.ico": ico_bytes({s: images[s] for s in ICO_SIZES}),
        "dicebox.icns": icns_bytes(images),
    }
    written = []
    for name, data in files.items():
        path = out / name
        path.write_bytes(data)
        written.append(path)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "assets",
                        help="folder to write the icons into (default: the repository's assets/)")
    args = parser.parse_args()
    for path in write_icons(args.out):
        print(f"wrote {path} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
