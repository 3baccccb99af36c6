"""Opening any frame source from one spec string, typed on the command line or in a GUI.

Spec syntax: ``TARGET`` or ``TARGET?OPTIONS``, where OPTIONS are ``key=value`` pairs separated by
``&`` or ``,`` (the comma needs no quoting in a shell; a bare ``key`` means ``key=1``). Quote a spec
with ``?`` or ``&`` on the command line. Yes/no options take 1/0, true/false, yes/no or on/off.

TARGET is one of:

``0``, ``1``, ... or ``device:N``
    Camera number N. Options: ``width``, ``height``, ``fps`` (requests to the driver),
    ``warmup`` (frames dropped after opening, default 5), ``backend`` (any, v4l2, dshow, msmf,
    avfoundation, gstreamer, ffmpeg). Example: ``0?width=1280&height=720&fps=30``.
a video file path, or ``file:PATH``
    Options: ``loop`` (start over at the end, default 0), ``fps`` (playback rate, default the
    file's), ``uncapped`` (deliver frames as fast as they decode, default 0).
    Example: ``clips/dice.mp4?loop=1``.
a folder path, or ``folder:PATH``
    A slide show of the folder's images in name order. Options: ``fps`` (default 1), ``loop``
    (default 1), ``uncapped``, ``width`` and ``height`` (frame size; default the first image's).
``synthetic:dice``
    The synthetic dice camera (see :mod:`dicebox.camera.synthetic`). Options: ``seed`` (default 0,
    decides the scene), ``fps`` (default 30), ``width``/``height`` (default 640x480), ``die``
    (d4, d6, d8; default d6), ``face`` (always show this face), ``hold`` (frames per face when
    not forced, default 2 s worth), ``rpm`` (turntable speed, default 8), ``style`` (die colour:
    white, ivory, red, black, blue, green, yellow; default from the seed), ``elevation``
    (camera angle in degrees, 90 = straight down), ``noise`` (0..3, default 2), ``blur``
    (defocus sigma in pixels at 480 lines), ``platter`` (turntable colour: black, grey, cork,
    white, navy or none; default from the seed), ``uncapped``.
    Example: ``synthetic:dice?seed=3&fps=30&width=640&height=480``.

``camera:N`` and ``video:PATH`` are accepted as spellings of ``device:N`` and ``file:PATH``.

Every problem (unknown target, missing file, corrupt video, empty folder, absent camera, unknown
or malformed option) raises :class:`~dicebox.camera.frames.SourceError` with a one-line message.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .device import BACKENDS, DeviceSource
from .dice import DIE_FACES, DIE_STYLES, PLATTERS
from .folder import FolderSource
from .frames import FrameSource, SourceError
from .options import Options
from .synthetic import SyntheticDiceSource
from .video import VideoSource

#: Kinds of source a spec can name.
KINDS = ("device", "video", "folder", "synthetic")
_SCHEMES = {
    "device": "device",
    "camera": "device",
    "file": "video",
    "video": "video",
    "folder": "folder",
    "synthetic": "synthetic",
}
_HELP = "expected a camera number (0), a video file, a folder of images or synthetic:dice"


@dataclass(frozen=True)
class ParsedSpec:
    """A spec split into its kind, its target (index, path or synthetic kind) and its raw options."""

    kind: str
    target: str
    options: dict[str, str] = field(default_factory=dict)


def _parse_options(spec: str, query: str) -> dict[str, str]:
    options: dict[str, str] = {}
    for item in re.split(r"[&,]", query):
        item = item.strip()
        if not item:
            continue
        key, _, value = item.partition("=")
        key = key.strip().lower()
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", key):
            raise SourceError(f"{spec}: malformed option {item!r} (expected key=value)")
        if key in options:
            raise SourceError(f"{spec}: option {key} given twice")
        options[key] = value.strip()
    return options


def parse_spec(spec: str) -> ParsedSpec:
    """Split ``spec`` without opening anything; raises :class:`SourceError` if it cannot be a source."""
    if not isinstance(spec, str):
        raise SourceError(f"a source spec must be a string, got {type(spec).__name__}")
    text = spec.strip()
    if not text:
        raise SourceError(f"empty source spec; {_HELP}")
    # A file whose name really contains "?" wins over option parsing.
    if "?" in text and os.path.exists(text):
        target, query = text, ""
    else:
        target, _, query = text.partition("?")
        target = target.strip()
    options = _parse_options(text, query)
    if not target:
        raise SourceError(f"{text}: no source before the options; {_HELP}")

    if target.isdigit():
        return ParsedSpec("device", target, options)
    scheme, colon, rest = target.partition(":")
    # One letter before the colon is a Windows drive (C:\clips), not a scheme.
    if colon and len(scheme) > 1 and re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*", scheme):
        kind = _SCHEMES.get(scheme.lower())
        if kind is None:
            raise SourceError(f"{text}: unknown source type {scheme!r}; {_HELP}")
        rest = rest.strip()
        if kind == "device":
            if not rest.isdigit():
                raise SourceError(f"{text}: camera number must be a whole number >= 0, got {rest!r}")
        elif kind == "synthetic":
            rest = rest.lower() or "dice"
            if rest != "dice":
                raise SourceError(f"{text}: unknown synthetic source {rest!r} (known: dice)")
        elif not rest:
            raise SourceError(f"{text}: no path after {scheme}:")
        return ParsedSpec(kind, rest, options)
    if re.fullmatch(r"-\d+", target):
        raise SourceError(f"{text}: camera number must be a whole number >= 0")
    path = os.path.expanduser(target)
    if os.path.isdir(path):
        return ParsedSpec("folder", path, options)
    if os.path.isfile(path):
        return ParsedSpec("video", path, options)
    if os.path.exists(path):
        raise SourceError(f"{text}: not a regular file or folder")
    raise SourceError(f"no such file or folder: {target} ({_HELP})")


def open_source(spec: str, *, capture_factory: Callable[..., Any] | None = None) -> FrameSource:
    """Open the source ``spec`` names (see the module docstring for the syntax).

    ``capture_factory`` replaces ``cv2.VideoCapture`` for cameras and video files (tests).
    Raises :class:`SourceError` with a one-line message on any problem; never hangs on a missing
    camera or file.
    """
    parsed = parse_spec(spec)
    text = spec.strip()
    opts = Options(text, parsed.options)
    if parsed.kind == "device":
        kwargs: dict[str, Any] = dict(
            width=opts.get_int("width", None, 1, 16384),
            height=opts.get_int("height", None, 1, 16384),
            fps=opts.get_float("fps", None, 0.1, 1000),
            warmup=opts.get_int("warmup", 5, 0, 1000),
            backend=opts.get_choice("backend", None, BACKENDS),
        )
        opts.finish()
        return DeviceSource(int(parsed.target), factory=capture_factory, spec=text, **kwargs)
    if parsed.kind == "video":
        kwargs = dict(
            loop=opts.get_bool("loop", False),
            fps=opts.get_float("fps", None, 0.1, 1000),
            uncapped=opts.get_bool("uncapped", False),
        )
        opts.finish()
        if not os.path.exists(parsed.target):
            raise SourceError(f"no such video file: {parsed.target}")
        if os.path.isdir(parsed.target):
            raise SourceError(f"{parsed.target} is a folder; use folder:{parsed.target} or the bare path")
        return VideoSource(parsed.target, factory=capture_factory, spec=text, **kwargs)
    if parsed.kind == "folder":
        kwargs = dict(
            fps=opts.get_float("fps", 1.0, 0.01, 1000),
            loop=opts.get_bool("loop", True),
            uncapped=opts.get_bool("uncapped", False),
            width=opts.get_int("width", None, 1, 16384),
            height=opts.get_int("height", None, 1, 16384),
        )
        opts.finish()
        if (kwargs["width"] is None) != (kwargs["height"] is None):
            raise SourceError(f"{text}: give both width and height, or neither")
        if not os.path.isdir(parsed.target):
            raise SourceError(f"no such folder: {parsed.target}")
        return FolderSource(parsed.target, spec=text, **kwargs)
    die = opts.get_choice("die", "d6", DIE_FACES)
    kwargs = dict(
        seed=opts.get_int("seed", 0, 0, 2**63 - 1),
        fps=opts.get_float("fps", 30.0, 0.1, 1000),
        width=opts.get_int("width", 640, 16, 8192),
        height=opts.get_int("height", 480, 16, 8192),
        die=die,
        face=opts.get_choice("face", None, DIE_FACES[die]),
        hold=opts.get_int("hold", None, 1, 10**9),
        rpm=opts.get_float("rpm", 8.0, -600, 600),
        style=opts.get_choice("style", None, (s.name for s in DIE_STYLES)),
        elevation=opts.get_float("elevation", None, 30, 90),
        noise=opts.get_int("noise", 2, 0, 3),
        blur=opts.get_float("blur", None, 0, 10),
        platter=opts.get_choice("platter", None, ("none", *PLATTERS)),
        uncapped=opts.get_bool("uncapped", False),
    )
    opts.finish()
    return SyntheticDiceSource(spec=text, **kwargs)
