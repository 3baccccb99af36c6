"""The synthetic dice camera (``synthetic:dice``) and data sets rendered without a camera.

:class:`SyntheticDiceSource` films one die on a slowly turning turntable: the die turns in the
image plane, wobbles a little (the platter is not quite level and the die is off centre, so its
perspective and size change over a turn), the light drifts and flickers, focus hunts, and every
frame carries fresh sensor noise. The scene (die colour, table, platter, camera angle, light) is
fixed by the seed. The die shows a forced face (:meth:`~SyntheticDiceSource.set_face`, option
``face``) or a new random face every ``hold`` frames, and every :class:`~dicebox.camera.frames.Frame`
carries that true face as its label. Frame ``n`` of a seed always looks the same.

:func:`synthetic_dataset` renders labelled crops in random scenes exactly as the live path
produces them: full frame, :func:`default_roi` crop, :func:`~dicebox.images.to_geometry`.
"""

from __future__ import annotations

import math
import threading

import numpy as np

from dicebox.images import Geometry

from .dice import (
    BACKGROUND_COUNT,
    DIE_FACES,
    DIE_STYLES,
    NOISE_SIGMAS,
    PLATTERS,
    Shot,
    die_style,
    random_shot,
    render_shot,
    scene_background,
)
from .frames import Frame, FrameSource, SourceError
from .roi import Roi, preprocess_roi

#: The data set geometry the synthetic dice are sized for: 60x50 grayscale.
DEFAULT_GEOMETRY = Geometry(60, 50, 1)
#: Height of :func:`default_roi` as a fraction of the frame height.
ROI_SCALE = 0.5


def default_roi(frame_size: tuple[int, int] = (640, 480), geometry: Geometry = DEFAULT_GEOMETRY) -> Roi:
    """The centred box, half the frame high, that contains the synthetic die."""
    return Roi.centered(frame_size, geometry, ROI_SCALE)


class SyntheticDiceSource(FrameSource):
    """A labelled camera filming a die on a turntable; see the module docstring."""

    paced = True

    def __init__(
        self,
        *,
        seed: int = 0,
        fps: float = 30.0,
        width: int = 640,
        height: int = 480,
        die: str = "d6",
        face: str | None = None,
        hold: int | None = None,
        rpm: float = 8.0,
        style: str | None = None,
        elevation: float | None = None,
        noise: int = 2,
        blur: float | None = None,
        platter: str | None = None,
        uncapped: bool = False,
        spec: str | None = None,
    ) -> None:
        super().__init__(spec if spec is not None else f"synthetic:dice?seed={seed}")
        if die not in DIE_FACES:
            raise SourceError(f"{self.spec}: unknown die {die!r} (known: {', '.join(DIE_FACES)})")
        if width < 16 or height < 16:
            raise SourceError(f"{self.spec}: frame size {width}x{height} is too small (at least 16x16)")
        if not fps > 0:
            raise SourceError(f"{self.spec}: fps must be positive, got {fps}")
        if not 0 <= noise <= len(NOISE_SIGMAS):
            raise SourceError(f"{self.spec}: noise must be 0..{len(NOISE_SIGMAS)}, got {noise}")
        self.categories = DIE_FACES[die]
        self.die = die
        self.seed = seed
        self.paced = not uncapped
        self._fps = float(fps)
        self._size = (int(width), int(height))
        self._hold = hold if hold is not None else max(1, int(round(2 * fps)))
        if self._hold < 1:
            raise SourceError(f"{self.spec}: hold must be at least 1 frame, got {hold}")
        self._rpm = rpm
        self._face: str | None = None
        self._schedule: list[str] = []
        self._schedule_lock = threading.Lock()
        try:
            chosen_style = die_style(style) if style is not None else None
        except ValueError as exc:
            raise SourceError(f"{self.spec}: {exc}") from None
        if face is not None:
            self._check_face(face)
            self._face = face
        if platter is not None and platter != "none" and platter not in PLATTERS:
            raise SourceError(
                f"{self.spec}: unknown platter {platter!r} (known: none, {', '.join(PLATTERS)})"
            )

        r = np.random.default_rng([seed, 0xD1CE])
        u = r.random(16)
        self._scene = Shot(
            die=die,
            face=self.categories[0],
            style=chosen_style or DIE_STYLES[int(r.integers(len(DIE_STYLES)))],
            elevation=elevation if elevation is not None else 56.0 + 18.0 * u[0],
            distance=8.7 + 0.8 * u[1],
            light_azimuth=360.0 * u[2],
            light_elevation=38.0 + 30.0 * u[3],
            gain=0.8 + 0.35 * u[4],
            tint=int(r.integers(3)),
            blur=blur if blur is not None else 0.6 + 0.5 * u[5],
            noise=noise,
            background=int(r.integers(BACKGROUND_COUNT)),
            background_offset=(float(u[6]), float(u[7])),
            platter=self._platter_index(platter, int(r.integers(len(PLATTERS)))),
            platter_radius=2.9 + 0.8 * u[8],
            shadow=0.3 + 0.3 * u[9],
        )
        self._yaw0 = 360.0 * u[10]
        self._phases = 2 * math.pi * u[11:15]
        self._focus_jitter = blur is None
        # Built lazily so opening the source (and listing options) stays instant.
        self._background: np.ndarray | None = None

    @staticmethod
    def _platter_index(name: str | None, drawn: int) -> int | None:
        if name is None:
            return drawn
        return None if name == "none" else list(PLATTERS).index(name)

    @property
    def nominal_fps(self) -> float | None:
        return self._fps

    @property
    def frame_size(self) -> tuple[int, int]:
        return self._size

    @property
    def face(self) -> str | None:
        """The forced face, or None while the die changes face by itself every ``hold`` frames."""
        return self._face

    def _check_face(self, face: str) -> None:
        if face not in self.categories:
            raise SourceError(
                f"{self.spec}: a {self.die} has no face {face!r} (faces: {', '.join(self.categories)})"
            )

    def set_face(self, face: str | None) -> None:
        """Show ``face`` from the next frame on; None lets the die change face by itself again."""
        if face is not None:
            self._check_face(face)
        self._face = face

    def face_at(self, seq: int) -> str:
        """The face frame ``seq`` shows when no face is forced: a new one every ``hold`` frames."""
        segment = seq // self._hold
        n = len(self.categories)
        with self._schedule_lock:
            return self._extend_schedule(segment, n)

    def _extend_schedule(self, segment: int, n: int) -> str:
        while len(self._schedule) <= segment:
            r = np.random.default_rng([self.seed, 0xFACE, len(self._schedule)])
            if not self._schedule:
                self._schedule.append(self.categories[int(r.integers(n))])
            else:  # always a different face, so every change is visible
                previous = self.categories.index(self._schedule[-1])
                self._schedule.append(self.categories[(previous + 1 + int(r.integers(n - 1))) % n])
        return self._schedule[segment]

    def shot(self, seq: int, face: str | None = None) -> Shot:
        """Everything that decides frame ``seq`` (showing ``face``, else the forced or scheduled face)."""
        if face is None:
            face = self._face if self._face is not None else self.face_at(seq)
        t = seq / self._fps
        yaw = self._yaw0 + 6.0 * self._rpm * t
        turn = math.radians(yaw)
        p = self._phases
        r = np.random.default_rng([self.seed, seq])
        jitter = r.standard_normal(2)
        s = self._scene
        return Shot(
            die=s.die,
            face=face,
            style=s.style,
            yaw=yaw,
            # The platter is not quite level and the die sits off centre: one wobble per turn.
            tilt=(2.5 * math.sin(turn + p[0]), 2.5 * math.cos(turn + p[0])),
            offset=(0.3 * math.cos(turn + p[1]), 0.3 * math.sin(turn + p[1])),
            elevation=s.elevation,
            distance=s.distance,
            light_azimuth=s.light_azimuth + 15.0 * math.sin(2 * math.pi * t / 11.0 + p[2]),
            light_elevation=s.light_elevation,
            light_spot=(
                0.5 + 0.12 * math.sin(2 * math.pi * t / 17.0),
                0.42 + 0.06 * math.cos(2 * math.pi * t / 13.0),
            ),
            gain=s.gain
            * (1.0 + 0.04 * math.sin(2 * math.pi * t / 5.0 + p[3]))
            * (1.0 + 0.01 * float(jitter[0])),
            tint=s.tint,
            blur=s.blur + (0.25 * abs(float(jitter[1])) if self._focus_jitter else 0.0),
            noise=s.noise,
            noise_offset=(int(r.integers(1 << 16)), int(r.integers(1 << 16))),
            background=s.background,
            background_offset=s.background_offset,
            platter=s.platter,
            platter_radius=s.platter_radius,
            shadow=s.shadow,
        )

    def render(self, seq: int, face: str | None = None) -> np.ndarray:
        """Frame ``seq`` as an image, without advancing the source."""
        if self._background is None:
            self._background = scene_background(self._scene, self._size)
        return render_shot(self.shot(seq, face), self._size, background=self._background)

    def read(self) -> Frame | None:
        self._check_open()
        seq = self._seq
        face = self._face if self._face is not None else self.face_at(seq)
        return self._frame(self.render(seq, face), label=face)


def synthetic_dataset(
    n_per_class: int,
    geometry: Geometry = DEFAULT_GEOMETRY,
    seed: int = 0,
    *,
    die: str = "d6",
    frame_size: tuple[int, int] = (640, 480),
    roi: Roi | None = None,
) -> tuple[np.ndarray, list[str]]:
    """``n_per_class`` labelled images of every face of ``die``, each in its own random scene.

    Every image goes the live way: a full ``frame_size`` frame, cropped to ``roi`` (default
    :func:`default_roi`) and brought to ``geometry`` by :func:`~dicebox.camera.roi.preprocess_roi`.
    Returns (uint8 array N x H x W x C, labels), grouped by face in :data:`DIE_FACES` order;
    image ``i`` of a face depends only on (seed, face, i).
    """
    if die not in DIE_FACES:
        raise ValueError(f"unknown die {die!r} (known: {', '.join(DIE_FACES)})")
    if n_per_class < 0:
        raise ValueError(f"n_per_class must not be negative, got {n_per_class}")
    faces = DIE_FACES[die]
    box = roi if roi is not None else default_roi(frame_size, geometry)
    images = np.empty((n_per_class * len(faces), *geometry.shape), np.uint8)
    labels: list[str] = []
    frame = np.empty((frame_size[1], frame_size[0], 3), np.uint8)
    for k, face in enumerate(faces):
        for i in range(n_per_class):
            rng = np.random.default_rng([seed, k, i])
            shot = random_shot(face, rng, die)
            render_shot(shot, frame_size, out=frame)
            images[len(labels)] = preprocess_roi(frame, box, geometry)
            labels.append(face)
    return images, labels
