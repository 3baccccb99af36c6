"""Procedural dice on a turntable, rendered with OpenCV: the pictures behind ``synthetic:dice``.

A :class:`Shot` holds everything that decides one frame (die, face, colours, turntable angle,
wobble, camera, light, blur, noise, background); :func:`render_shot` turns it into a BGR image.
The die is a small polyhedron projected with a pinhole camera: its visible faces are textures
(pips or numbers) warped into place, shaded by a directional light that also casts a soft shadow
on a turntable platter. Backgrounds, light maps and sensor noise are pre-rendered once per frame
size and cut at random offsets, so a 640x480 frame costs a few OpenCV calls, no per-pixel Python.

Sizes are in die units (a d6 is 2 units wide) and scale with the frame height, so the die always
fills about the same part of the centred region of interest (see :func:`default_roi`).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import cv2
import numpy as np

#: The faces of a six-sided die, in order: the categories of the synthetic d6 camera.
DICE_FACES: tuple[str, ...] = ("1", "2", "3", "4", "5", "6")

#: The faces of every die type the renderer knows.
DIE_FACES: dict[str, tuple[str, ...]] = {
    "d4": ("1", "2", "3", "4"),
    "d6": DICE_FACES,
    "d8": ("1", "2", "3", "4", "5", "6", "7", "8"),
}

#: Focal length in frame heights: a d6 at the nominal distance is ~0.24 frame heights wide.
_FOCAL = 1.1
_NOMINAL_DISTANCE = 9.0
#: Sensor noise sigmas (grey levels) of noise levels 1, 2 and 3; level 0 is noise-free.
NOISE_SIGMAS = (2.5, 5.0, 9.0)


@dataclass(frozen=True)
class DieStyle:
    """The colours of a die: plastic body and pips/numbers, BGR."""

    name: str
    body: tuple[int, int, int]
    ink: tuple[int, int, int]


#: Die colourings; all keep pips and body far apart in grey level.
DIE_STYLES: tuple[DieStyle, ...] = (
    DieStyle("white", (236, 238, 240), (28, 26, 30)),
    DieStyle("ivory", (196, 226, 240), (34, 38, 44)),
    DieStyle("red", (48, 44, 188), (244, 244, 244)),
    DieStyle("black", (42, 40, 38), (236, 236, 236)),
    DieStyle("blue", (168, 96, 36), (244, 244, 244)),
    DieStyle("green", (72, 150, 52), (244, 244, 244)),
    DieStyle("yellow", (48, 204, 236), (30, 30, 30)),
)

#: Platter (turntable mat) colours by name, BGR; ``Shot.platter`` indexes them in this order.
PLATTERS: dict[str, tuple[int, int, int]] = {
    "black": (38, 38, 40),
    "grey": (92, 92, 96),
    "cork": (74, 112, 150),
    "white": (196, 198, 200),
    "navy": (96, 56, 34),
}
PLATTER_COLOURS: tuple[tuple[int, int, int], ...] = tuple(PLATTERS.values())

#: Light tints (B, G, R gains): neutral, warm tungsten, cool daylight.
_TINTS = ((1.0, 1.0, 1.0), (0.78, 0.9, 1.0), (1.0, 0.95, 0.86))


def die_style(name: str) -> DieStyle:
    """The :class:`DieStyle` called ``name``; ValueError lists the known names."""
    for style in DIE_STYLES:
        if style.name == name:
            return style
    raise ValueError(f"unknown die style {name!r} (known: {', '.join(s.name for s in DIE_STYLES)})")


@dataclass(frozen=True)
class Shot:
    """Everything that decides one rendered frame. Angles in degrees, lengths in die units."""

    die: str = "d6"
    face: str = "1"
    style: DieStyle = DIE_STYLES[0]
    yaw: float = 0.0  # turntable angle
    tilt: tuple[float, float] = (0.0, 0.0)  # wobble about the x and y axes
    offset: tuple[float, float] = (0.0, 0.0)  # die position on the platter
    elevation: float = 62.0  # camera angle above the table; 90 looks straight down
    distance: float = _NOMINAL_DISTANCE
    light_azimuth: float = 135.0
    light_elevation: float = 50.0
    light_spot: tuple[float, float] = (0.5, 0.45)  # brightest point, fractions of the frame
    gain: float = 1.0  # exposure
    tint: int = 0  # index into the light tints
    blur: float = 0.8  # defocus sigma in pixels of a 480-pixel-high frame
    noise: int = 2  # 0 (none) .. 3, see NOISE_SIGMAS
    noise_offset: tuple[int, int] = (0, 0)
    background: int = 0
    background_offset: tuple[float, float] = (0.5, 0.5)  # fractions of the spare margin
    platter: int | None = 0  # index into PLATTER_COLOURS, None for none
    platter_radius: float = 3.2
    shadow: float = 0.5  # shadow darkness 0..1
    marker: bool = True  # a dot on the platter rim that turns with it


# --------------------------------------------------------------------------------------------
# Geometry


def _rot_x(deg: float) -> np.ndarray:
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def _rot_y(deg: float) -> np.ndarray:
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def _rot_z(deg: float) -> np.ndarray:
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _rotation_onto(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The smallest rotation taking unit vector ``a`` onto unit vector ``b``."""
    v = np.cross(a, b)
    c = float(np.dot(a, b))
    if c < -0.999999:  # opposite: turn half way round any axis perpendicular to a
        axis = np.cross(a, [1.0, 0.0, 0.0] if abs(a[0]) < 0.9 else [0.0, 1.0, 0.0])
        axis /= np.linalg.norm(axis)
        return 2.0 * np.outer(axis, axis) - np.eye(3)
    k = np.array([[0.0, -v[2], v[1]], [v[2], 0.0, -v[0]], [-v[1], v[0], 0.0]])
    return np.eye(3) + k + k @ k / (1.0 + c)


@dataclass(frozen=True)
class _Mesh:
    vertices: np.ndarray  # (V, 3), centred on the origin
    faces: tuple[tuple[int, ...], ...]  # clockwise seen from outside, like the texture corners
    normals: np.ndarray  # (F, 3) outward unit normals
    numbers: tuple[tuple[str, ...], ...]  # per face: its number (d6, d8) or its corners' (d4)
    rest: dict[str, np.ndarray]  # face label -> rotation that shows it on top


def _wind(vertices: np.ndarray, face: tuple[int, ...]) -> tuple[int, ...]:
    """``face`` ordered clockwise as seen from outside, matching the texture corner order."""
    pts = vertices[list(face)]
    centre = pts.mean(axis=0)
    normal = centre / np.linalg.norm(centre)
    right = pts[0] - centre
    right /= np.linalg.norm(right)
    up = np.cross(normal, right)
    angles = np.arctan2((pts - centre) @ up, (pts - centre) @ right)
    return tuple(face[i] for i in np.argsort(-angles))


def _make_mesh(
    vertices: np.ndarray,
    faces: list[tuple[int, ...]],
    numbers: list[tuple[str, ...]],
    rest_axes: dict[str, np.ndarray],
) -> _Mesh:
    faces_cw = [_wind(vertices, f) for f in faces]
    # d4 corner numbers must follow their vertices through the re-ordering.
    numbers = [
        tuple(num[face.index(i)] for i in wound) if len(num) > 1 else num
        for face, wound, num in zip(faces, faces_cw, numbers, strict=True)
    ]
    normals = np.array([vertices[list(f)].mean(axis=0) for f in faces_cw])
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    up = np.array([0.0, 0.0, 1.0])
    rest = {label: _rotation_onto(axis / np.linalg.norm(axis), up) for label, axis in rest_axes.items()}
    return _Mesh(vertices, tuple(faces_cw), normals, tuple(numbers), rest)


@functools.cache
def _mesh(die: str) -> _Mesh:
    if die == "d6":
        v = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], dtype=float)
        axes = {
            "1": (0, 0, 1),
            "6": (0, 0, -1),
            "2": (1, 0, 0),
            "5": (-1, 0, 0),
            "3": (0, 1, 0),
            "4": (0, -1, 0),
        }
        faces, numbers = [], []
        for label, axis in axes.items():
            k = int(np.nonzero(axis)[0][0])
            faces.append(tuple(i for i in range(8) if v[i, k] == axis[k]))
            numbers.append((label,))
        return _make_mesh(v, faces, numbers, {k: np.array(a, float) for k, a in axes.items()})
    if die == "d8":
        v = 1.75 * np.array(
            [[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]], dtype=float
        )
        # Opposite faces add up to 9, as on a real d8.
        signs = {
            (1, 1, 1): "1",
            (1, 1, -1): "2",
            (1, -1, 1): "3",
            (-1, 1, 1): "4",
            (1, -1, -1): "5",
            (-1, 1, -1): "6",
            (-1, -1, 1): "7",
            (-1, -1, -1): "8",
        }
        faces, numbers, rest = [], [], {}
        for (sx, sy, sz), label in signs.items():
            faces.append((0 if sx > 0 else 1, 2 if sy > 0 else 3, 4 if sz > 0 else 5))
            numbers.append((label,))
            rest[label] = np.array([sx, sy, sz], float)
        return _make_mesh(v, faces, numbers, rest)
    if die == "d4":
        v = 1.0 * np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]], dtype=float)
        # A d4 reads the number at its top vertex, printed at that corner of every face.
        faces = [tuple(j for j in range(4) if j != i) for i in range(4)]
        numbers = [tuple(str(j + 1) for j in f) for f in faces]
        return _make_mesh(v, faces, numbers, {str(i + 1): v[i] for i in range(4)})
    raise ValueError(f"unknown die {die!r} (known: {', '.join(DIE_FACES)})")


# --------------------------------------------------------------------------------------------
# Textures


def _texture_size(frame_height: int) -> int:
    """Texture side close to the on-screen face size, so warping neither blurs nor aliases much."""
    return int(min(512, max(64, round(frame_height * 0.26 / 16) * 16)))


def _triangle_corners(size: int) -> np.ndarray:
    pad = 0.02 * size
    side = size - 2 * pad
    height = side * math.sqrt(3) / 2
    top = pad + (size - 2 * pad - height) / 2
    return np.float32([[size / 2, top], [size - pad, top + height], [pad, top + height]])


def _square_corners(size: int) -> np.ndarray:
    return np.float32([[0, 0], [size, 0], [size, size], [0, size]])


def _shade(colour: tuple[int, int, int], factor: float) -> tuple[int, int, int]:
    return tuple(int(min(255, round(c * factor))) for c in colour)


def _pip_face(size: int, number: int, style: DieStyle) -> np.ndarray:
    edge = _shade(style.body, 0.62)
    tex = np.full((size, size, 3), edge, np.uint8)
    # Rounded corners: the face is a rounded square, the rest reads as the bevelled edge.
    r = int(size * 0.16)
    cv2.rectangle(tex, (r, 1), (size - 1 - r, size - 2), style.body, -1)
    cv2.rectangle(tex, (1, r), (size - 2, size - 1 - r), style.body, -1)
    for cx, cy in ((r, r), (size - 1 - r, r), (r, size - 1 - r), (size - 1 - r, size - 1 - r)):
        cv2.circle(tex, (cx, cy), r - 1, style.body, -1, cv2.LINE_AA)
    lo, mid, hi = 0.26, 0.5, 0.74
    layouts = {
        1: [(mid, mid)],
        2: [(lo, lo), (hi, hi)],
        3: [(lo, lo), (mid, mid), (hi, hi)],
        4: [(lo, lo), (hi, lo), (lo, hi), (hi, hi)],
        5: [(lo, lo), (hi, lo), (mid, mid), (lo, hi), (hi, hi)],
        6: [(lo, lo), (lo, mid), (lo, hi), (hi, lo), (hi, mid), (hi, hi)],
    }
    radius = size * (0.13 if number == 1 else 0.085)
    rim = tuple(int(0.55 * i + 0.45 * b * 0.6) for i, b in zip(style.ink, style.body, strict=True))
    for fx, fy in layouts[number]:
        centre = (int(round(fx * size * 16)), int(round(fy * size * 16)))
        cv2.circle(tex, centre, int(radius * 16), rim, -1, cv2.LINE_AA, 4)
        cv2.circle(tex, centre, int(radius * 0.8 * 16), style.ink, -1, cv2.LINE_AA, 4)
    return tex


def _digit_stamp(
    text: str, height: float, colour: tuple[int, int, int], angle: float, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """``text`` centred in a size x size stamp, turned by ``angle`` degrees; (image, mask)."""
    font = cv2.FONT_HERSHEY_DUPLEX
    (tw, th), _ = cv2.getTextSize(text, font, 1.0, 1)
    scale = height / th
    thickness = max(1, int(round(height / 9)))
    (tw, th), base = cv2.getTextSize(text, font, scale, thickness)
    mask = np.zeros((size, size), np.uint8)
    org = (int(round((size - tw) / 2)), int(round((size + th) / 2)))
    cv2.putText(mask, text, org, font, scale, 255, thickness, cv2.LINE_AA)
    if text in ("6", "9"):  # the underline that tells 6 from an upside-down 9
        y = org[1] + max(2, thickness + 1)
        cv2.line(mask, (org[0], y), (org[0] + tw, y), 255, thickness, cv2.LINE_AA)
    if angle:
        rot = cv2.getRotationMatrix2D((size / 2, size / 2), angle, 1.0)
        mask = cv2.warpAffine(mask, rot, (size, size), flags=cv2.INTER_LINEAR)
    image = np.empty((size, size, 3), np.uint8)
    image[:] = colour
    return image, mask


def _paste(tex: np.ndarray, stamp: tuple[np.ndarray, np.ndarray], centre: tuple[float, float]) -> None:
    image, mask = stamp
    s = mask.shape[0]
    x0, y0 = int(round(centre[0] - s / 2)), int(round(centre[1] - s / 2))
    region = tex[y0 : y0 + s, x0 : x0 + s]
    alpha = mask[: region.shape[0], : region.shape[1], None] / 255.0
    region[:] = (region * (1 - alpha) + image[: region.shape[0], : region.shape[1]] * alpha).astype(np.uint8)


def _triangle_face(size: int, numbers: tuple[str, ...], style: DieStyle) -> np.ndarray:
    tex = np.full((size, size, 3), style.body, np.uint8)
    corners = _triangle_corners(size)
    centre = corners.mean(axis=0)
    if len(numbers) == 1:  # d8: one number in the middle, upright over the bottom edge
        stamp = _digit_stamp(numbers[0], size * 0.3, style.ink, 0.0, size // 2)
        _paste(tex, stamp, (centre[0], centre[1] + size * 0.02))
        return tex
    for corner, number in zip(
        corners, numbers, strict=True
    ):  # d4: each number near its corner, pointing at it
        direction = corner - centre
        angle = math.degrees(math.atan2(direction[0], -direction[1]))
        stamp = _digit_stamp(number, size * 0.17, style.ink, -angle, size // 4)
        _paste(tex, stamp, tuple(centre + 0.54 * direction))
    return tex


@functools.lru_cache(maxsize=64)
def _textures(die: str, style: DieStyle, size: int) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    """The face textures of a die in the mesh's face order, and their corner points."""
    mesh = _mesh(die)
    if die == "d6":
        return tuple(_pip_face(size, int(n[0]), style) for n in mesh.numbers), _square_corners(size)
    return tuple(_triangle_face(size, n, style) for n in mesh.numbers), _triangle_corners(size)


# --------------------------------------------------------------------------------------------
# Backgrounds, light and noise, pre-rendered once per frame size


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], cell: int) -> np.ndarray:
    """Low-frequency noise in about -1..1, float32."""
    small = rng.standard_normal((max(2, shape[0] // cell + 2), max(2, shape[1] // cell + 2))).astype(
        np.float32
    )
    return cv2.resize(small, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC) * 0.6


def _colourise(value: np.ndarray, dark: tuple[int, int, int], light: tuple[int, int, int]) -> np.ndarray:
    t = np.clip(value, 0.0, 1.0)[:, :, None]
    out = np.float32(dark) * (1 - t) + np.float32(light) * t
    return out


def _wood(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    h, w = shape
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    warp = _smooth_noise(rng, (h, max(2, w // 4)), max(8, h // 5)) * 5.0
    warp = cv2.resize(warp, (w, h), interpolation=cv2.INTER_LINEAR)
    rings = 0.5 + 0.5 * np.sin((y * 0.09 + x * 0.003) + warp)
    streaks = cv2.resize(
        rng.random((h, max(2, w // 24))).astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR
    )
    value = 0.55 * rings**1.5 + 0.35 * streaks + 0.1 * rng.random(shape, dtype=np.float32)
    return _colourise(value, (40, 78, 128), (110, 162, 210))


def _felt(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    value = 0.5 + 0.15 * _smooth_noise(rng, shape, 40) + 0.12 * rng.standard_normal(shape, dtype=np.float32)
    return _colourise(value, (30, 70, 20), (90, 150, 70))


def _laminate(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    value = 0.6 + 0.12 * _smooth_noise(rng, shape, 60) + 0.05 * rng.standard_normal(shape, dtype=np.float32)
    specks = rng.random(shape, dtype=np.float32)
    value = value - 0.35 * (specks > 0.985) + 0.2 * (specks < 0.01)
    return _colourise(value, (70, 72, 76), (205, 206, 200))


def _weave(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    h, w = shape
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    threads = 0.5 + 0.25 * np.sin(x * 1.3) * np.sin(y * 1.3 + 0.5 * np.sin(x * 0.05))
    value = (
        threads + 0.2 * _smooth_noise(rng, shape, 50) + 0.08 * rng.standard_normal(shape, dtype=np.float32)
    )
    return _colourise(value, (44, 40, 38), (120, 110, 104))


def _gingham(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    h, w = shape
    period = max(8, h // 12)
    y, x = np.mgrid[0:h, 0:w]
    bands = ((x // period) % 2).astype(np.float32) + ((y // period) % 2).astype(np.float32)
    value = 1.0 - 0.33 * bands + 0.05 * rng.standard_normal(shape, dtype=np.float32)
    out = _colourise(value, (40, 40, 150), (225, 228, 235))
    return cv2.GaussianBlur(out, (0, 0), 1.2)


def _paper(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    value = 0.8 + 0.1 * _smooth_noise(rng, shape, 30) + 0.04 * rng.standard_normal(shape, dtype=np.float32)
    return _colourise(value, (120, 130, 140), (226, 232, 238))


_BACKGROUND_MAKERS = (_wood, _felt, _laminate, _weave, _gingham, _paper)
#: How many pre-rendered backgrounds there are (``Shot.background`` is taken modulo this).
BACKGROUND_COUNT = len(_BACKGROUND_MAKERS)


class _Assets:
    """What every frame of one size reuses: backgrounds, light maps and sensor noise."""

    def __init__(self, size: tuple[int, int]) -> None:
        w, h = size
        self.margin = max(16, h // 8)
        rng = np.random.default_rng(20240917)
        shape = (h + 2 * self.margin, w + 2 * self.margin)
        self.backgrounds = tuple(
            np.clip(cv2.GaussianBlur(make(rng, shape), (0, 0), 0.7), 0, 255).astype(np.uint8)
            for make in _BACKGROUND_MAKERS
        )
        # A soft spotlight twice the frame size; a frame-sized view of it puts the spot anywhere.
        yy, xx = np.mgrid[-1.0 : 1.0 : complex(0, 2 * h // 8 + 1), -1.0 : 1.0 : complex(0, 2 * w // 8 + 1)]
        falloff = 0.5 + 0.5 * np.exp(-(xx**2 * (w / h) ** 2 + yy**2) / 0.6)
        falloff = cv2.resize(falloff.astype(np.float32), (2 * w, 2 * h), interpolation=cv2.INTER_LINEAR)
        self.lightmaps = tuple(
            np.clip(falloff[:, :, None] * np.float32(tint) * 255.0, 0, 255).astype(np.uint8)
            for tint in _TINTS
        )
        noise_shape = (h + self.margin, w + self.margin, 3)
        self.noise = []
        for sigma in NOISE_SIGMAS:
            # Partly shared between channels, like the luminance noise of a real sensor.
            common = rng.standard_normal(noise_shape[:2], dtype=np.float32)[:, :, None]
            n = sigma * (0.75 * common + 0.66 * rng.standard_normal(noise_shape, dtype=np.float32))
            self.noise.append((np.clip(n, 0, 255).astype(np.uint8), np.clip(-n, 0, 255).astype(np.uint8)))
        self.texture_size = _texture_size(h)


@functools.lru_cache(maxsize=3)
def _assets(size: tuple[int, int]) -> _Assets:
    return _Assets(size)


# --------------------------------------------------------------------------------------------
# Rendering


class _Camera:
    """A pinhole camera south of the turntable centre, looking at it from ``elevation`` degrees."""

    def __init__(self, shot: Shot, size: tuple[int, int]) -> None:
        e = math.radians(shot.elevation)
        self.position = shot.distance * np.array([0.0, -math.cos(e), math.sin(e)])
        forward = -self.position / shot.distance
        right = np.array([1.0, 0.0, 0.0])
        up = np.cross(right, forward)
        self.axes = np.stack([right, up, forward])
        self.focal = _FOCAL * min(size[1], size[0] * 0.75)  # portrait frames: fit the width
        self.centre = np.array([size[0] / 2.0, size[1] / 2.0])

    def project(self, points: np.ndarray) -> np.ndarray:
        cam = (points - self.position) @ self.axes.T
        z = np.maximum(cam[:, 2:3], 1e-3)
        return self.centre + self.focal * np.hstack([cam[:, 0:1], -cam[:, 1:2]]) / z


def _circle(radius: float, z: float, n: int = 72) -> np.ndarray:
    t = np.linspace(0.0, 2 * math.pi, n, endpoint=False)
    return np.stack([radius * np.cos(t), radius * np.sin(t), np.full(n, z)], axis=1)


def _fixed(points: np.ndarray) -> np.ndarray:
    """Points as the int32 4-bit fixed point that cv2 drawing functions take with ``shift=4``."""
    return np.round(points * 16).astype(np.int32)


def _table_height(shot: Shot) -> float:
    """Height of the table under a die lying flat (the die's centre is at height 0)."""
    mesh = _mesh(shot.die)
    return float(np.min(mesh.vertices @ mesh.rest[shot.face].T, axis=0)[2])


def _draw_platter(image: np.ndarray, shot: Shot, camera: _Camera) -> None:
    colour = PLATTER_COLOURS[shot.platter % len(PLATTER_COLOURS)]
    z = _table_height(shot)
    r = shot.platter_radius
    side = _fixed(camera.project(_circle(r, z - 0.3)))
    top = _fixed(camera.project(_circle(r, z)))
    cv2.fillPoly(image, [side], _shade(colour, 0.55), cv2.LINE_AA, 4)
    cv2.fillPoly(image, [top], colour, cv2.LINE_AA, 4)
    groove = _shade(colour, 1.18) if sum(colour) < 400 else _shade(colour, 0.88)
    for fraction in (0.93, 0.72, 0.5):
        ring = _fixed(camera.project(_circle(r * fraction, z)))
        cv2.polylines(image, [ring], True, groove, 1, cv2.LINE_AA, 4)
    cv2.polylines(image, [top], True, _shade(colour, 1.35), 1, cv2.LINE_AA, 4)


def scene_background(shot: Shot, size: tuple[int, int]) -> np.ndarray:
    """The unlit background of ``shot`` (table and platter), reusable while the camera stays put."""
    assets = _assets(size)
    w, h = size
    bg = assets.backgrounds[shot.background % len(assets.backgrounds)]
    m2 = 2 * assets.margin
    ox = int(round(min(max(shot.background_offset[0], 0.0), 1.0) * m2))
    oy = int(round(min(max(shot.background_offset[1], 0.0), 1.0) * m2))
    image = bg[oy : oy + h, ox : ox + w].copy()
    if shot.platter is not None:
        _draw_platter(image, shot, _Camera(shot, size))
    return image


def _posed(shot: Shot) -> tuple[_Mesh, np.ndarray, np.ndarray]:
    """The mesh, its vertices and its face normals, turned and placed as in ``shot``."""
    mesh = _mesh(shot.die)
    pose = _rot_x(shot.tilt[0]) @ _rot_y(shot.tilt[1]) @ _rot_z(shot.yaw) @ mesh.rest[shot.face]
    verts = mesh.vertices @ pose.T + np.array([shot.offset[0], shot.offset[1], 0.0])
    return mesh, verts, mesh.normals @ pose.T


def die_bounds(shot: Shot, size: tuple[int, int] = (640, 480)) -> tuple[float, float, float, float]:
    """(left, top, right, bottom) in pixels of the die in the frame ``render_shot`` makes of ``shot``."""
    _, verts, _ = _posed(shot)
    points = _Camera(shot, size).project(verts)
    (x0, y0), (x1, y1) = points.min(axis=0), points.max(axis=0)
    return (float(x0), float(y0), float(x1), float(y1))


def _draw_die(out: np.ndarray, shot: Shot, camera: _Camera, light_rgb: np.ndarray, frame_height: int) -> None:
    """Composite the die and its soft shadow into ``out`` around where the die lands."""
    mesh, verts, normals = _posed(shot)
    z_table = float(verts[:, 2].min())

    la, le = math.radians(shot.light_azimuth), math.radians(shot.light_elevation)
    light = np.array([math.cos(la) * math.cos(le), math.sin(la) * math.cos(le), math.sin(le)])
    shadow3d = verts - light[None, :] * ((verts[:, 2] - z_table) / light[2])[:, None]

    die2d = camera.project(verts)
    shadow2d = camera.project(shadow3d)
    scale = frame_height / 480.0
    blur = max(0.45, shot.blur * scale)
    soft = 0.022 * frame_height
    pts = np.vstack([die2d, shadow2d])
    margin = int(3 * max(blur, soft)) + 4
    h, w = out.shape[:2]
    x0 = max(0, int(pts[:, 0].min()) - margin)
    y0 = max(0, int(pts[:, 1].min()) - margin)
    x1 = min(w, int(pts[:, 0].max()) + margin + 1)
    y1 = min(h, int(pts[:, 1].max()) + margin + 1)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return
    pw, ph = x1 - x0, y1 - y0
    origin = np.array([x0, y0], float)

    layer = np.zeros((ph, pw, 3), np.uint8)
    alpha = np.zeros((ph, pw), np.uint8)
    hull = cv2.convexHull(_fixed(die2d - origin))
    cv2.fillConvexPoly(alpha, hull, 255, cv2.LINE_8, 4)
    edge = np.float64(shot.style.body) * 0.45 * light_rgb
    cv2.fillConvexPoly(layer, hull, tuple(float(c) for c in np.minimum(edge, 255)), cv2.LINE_8, 4)

    textures, corners = _textures(shot.die, shot.style, _assets((w, h)).texture_size)
    centres = np.array([verts[list(f)].mean(axis=0) for f in mesh.faces])
    facing = np.einsum("ij,ij->i", normals, camera.position - centres) > 0
    for i in np.nonzero(facing)[0]:
        face = mesh.faces[i]
        # The drawn face is a little smaller than the solid, leaving the hull colour as its edges.
        corners3d = centres[i] + (verts[list(face)] - centres[i]) * 0.95
        poly = camera.project(corners3d) - origin
        bx0, by0 = np.floor(poly.min(axis=0)).astype(int) - 1
        bx1, by1 = np.ceil(poly.max(axis=0)).astype(int) + 2
        bx0, by0, bx1, by1 = max(bx0, 0), max(by0, 0), min(bx1, pw), min(by1, ph)
        if bx1 - bx0 < 2 or by1 - by0 < 2:
            continue
        local = (poly - [bx0, by0]).astype(np.float32)
        lambert = 0.42 + 0.62 * max(0.0, float(normals[i] @ light))
        gains = np.diag(np.minimum(lambert * light_rgb, 4.0))
        tex = cv2.transform(textures[i], gains)
        size = (bx1 - bx0, by1 - by0)
        if len(face) == 4:
            matrix = cv2.getPerspectiveTransform(corners, local)
            warped = cv2.warpPerspective(
                tex, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
            )
        else:
            matrix = cv2.getAffineTransform(corners, local)
            warped = cv2.warpAffine(
                tex, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
            )
        mask = np.zeros((size[1], size[0]), np.uint8)
        cv2.fillConvexPoly(mask, _fixed(local), 255, cv2.LINE_8, 4)
        cv2.copyTo(warped, mask, layer[by0:by1, bx0:bx1])

    # Soft shadow at quarter resolution: it is blurry anyway.
    sw, sh = max(2, pw // 4), max(2, ph // 4)
    shadow = np.zeros((sh, sw), np.uint8)
    shadow_hull = cv2.convexHull(_fixed((shadow2d - origin) / 4.0))
    cv2.fillConvexPoly(shadow, shadow_hull, int(255 * min(max(shot.shadow, 0.0), 1.0)), cv2.LINE_AA, 4)
    shadow = cv2.GaussianBlur(shadow, (0, 0), soft / 4.0)
    shadow = cv2.resize(shadow, (pw, ph), interpolation=cv2.INTER_LINEAR)

    # Defocus the die layer and its coverage together: premultiplied "over" compositing.
    layer = cv2.GaussianBlur(layer, (0, 0), blur)
    alpha = cv2.GaussianBlur(alpha, (0, 0), blur)
    keep = cv2.multiply(255 - alpha, 255 - shadow, scale=1.0 / 255.0)
    region = out[y0:y1, x0:x1]
    cv2.multiply(region, cv2.cvtColor(keep, cv2.COLOR_GRAY2BGR), dst=region, scale=1.0 / 255.0)
    cv2.add(region, layer, dst=region)


def render_shot(
    shot: Shot,
    size: tuple[int, int] = (640, 480),
    *,
    background: np.ndarray | None = None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Render ``shot`` as a uint8 BGR image of ``size`` (width, height).

    ``background`` is :func:`scene_background` of a shot with the same camera, passed by callers
    that render many frames of one scene; ``out`` is an optional buffer to render into.
    """
    if shot.die not in DIE_FACES:
        raise ValueError(f"unknown die {shot.die!r} (known: {', '.join(DIE_FACES)})")
    if shot.face not in DIE_FACES[shot.die]:
        raise ValueError(f"a {shot.die} has no face {shot.face!r} (faces: {', '.join(DIE_FACES[shot.die])})")
    w, h = size
    assets = _assets(size)
    if out is None:
        out = np.empty((h, w, 3), np.uint8)
    if background is None:
        background = scene_background(shot, size)
    camera = _Camera(shot, size)

    lightmap = assets.lightmaps[shot.tint % len(assets.lightmaps)]
    lx = int(round(w * (1.0 - min(max(shot.light_spot[0], 0.0), 1.0))))
    ly = int(round(h * (1.0 - min(max(shot.light_spot[1], 0.0), 1.0))))
    light_view = lightmap[ly : ly + h, lx : lx + w]
    cv2.multiply(background, light_view, dst=out, scale=shot.gain / 255.0)
    light_rgb = light_view[h // 2, w // 2].astype(np.float64) * (shot.gain / 255.0)

    if shot.platter is not None and shot.marker:
        angle = math.radians(shot.yaw + 30.0)
        r = shot.platter_radius * 0.965
        dot = np.array([[r * math.cos(angle), r * math.sin(angle), _table_height(shot)]])
        centre = camera.project(dot)[0]
        colour = tuple(float(c) for c in np.minimum(np.float64((215, 225, 235)) * light_rgb, 255))
        radius = max(1.5, 0.012 * h)
        cv2.circle(out, tuple(_fixed(centre)), int(radius * 16), colour, -1, cv2.LINE_AA, 4)

    _draw_die(out, shot, camera, light_rgb, h)

    if shot.noise > 0:
        positive, negative = assets.noise[min(shot.noise, len(NOISE_SIGMAS)) - 1]
        nx = shot.noise_offset[0] % (assets.margin + 1)
        ny = shot.noise_offset[1] % (assets.margin + 1)
        cv2.add(out, positive[ny : ny + h, nx : nx + w], dst=out)
        cv2.subtract(out, negative[ny : ny + h, nx : nx + w], dst=out)
    return out


def random_shot(face: str, rng: np.random.Generator, die: str = "d6", style: DieStyle | None = None) -> Shot:
    """A shot of ``face`` with everything else drawn from ``rng``: the spread a data set needs."""
    r = rng.random(16)
    radius, angle = 0.35 * math.sqrt(r[0]), 2 * math.pi * r[1]
    return Shot(
        die=die,
        face=face,
        style=style if style is not None else DIE_STYLES[int(rng.integers(len(DIE_STYLES)))],
        yaw=360.0 * r[2],
        tilt=tuple(float(t) for t in np.clip(rng.normal(0.0, 2.5, 2), -6.0, 6.0)),
        offset=(radius * math.cos(angle), radius * math.sin(angle)),
        elevation=52.0 + 36.0 * r[3],
        distance=8.3 + 2.2 * r[4],
        light_azimuth=360.0 * r[5],
        light_elevation=30.0 + 45.0 * r[6],
        light_spot=(0.2 + 0.6 * r[7], 0.2 + 0.6 * r[8]),
        gain=0.6 + 0.7 * r[9],
        tint=int(rng.integers(len(_TINTS))),
        blur=0.5 + 1.5 * r[10],
        noise=int(rng.integers(1, len(NOISE_SIGMAS) + 1)),
        noise_offset=(int(rng.integers(1 << 16)), int(rng.integers(1 << 16))),
        background=int(rng.integers(BACKGROUND_COUNT)),
        background_offset=(float(r[11]), float(r[12])),
        platter=None if r[13] < 0.2 else int(rng.integers(len(PLATTER_COLOURS))),
        platter_radius=2.7 + 1.3 * r[14],
        shadow=0.25 + 0.45 * r[15],
    )


def render_die(
    face: str,
    rng: np.random.Generator,
    size: tuple[int, int] = (640, 480),
    die: str = "d6",
    style: DieStyle | None = None,
) -> np.ndarray:
    """One full frame of ``die`` showing ``face`` in a random scene drawn from ``rng`` (no thread, no source).

    The die sits in the centre; :func:`~dicebox.camera.synthetic.default_roi` frames it.
    """
    return render_shot(random_shot(face, rng, die, style), size)
