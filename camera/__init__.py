"""Frame sources, threaded capture and regions of interest, installed as ``dicebox.camera``.

Depends on OpenCV, numpy and the core's images package (:mod:`dicebox.images`) only.
"""

from dicebox.images import Geometry, to_geometry

from .capture import CaptureStatus, CaptureThread
from .device import DeviceSource
from .devices import DeviceInfo, list_devices
from .dice import DICE_FACES, DIE_FACES, DIE_STYLES, DieStyle, Shot, random_shot, render_die, render_shot
from .folder import FolderSource
from .frames import Frame, FrameSource, SourceError
from .roi import Roi, crop, preprocess_roi, three_boxes
from .specs import ParsedSpec, open_source, parse_spec
from .synthetic import DEFAULT_GEOMETRY, SyntheticDiceSource, default_roi, synthetic_dataset
from .video import VideoSource

__all__ = [
    "DEFAULT_GEOMETRY",
    "DICE_FACES",
    "DIE_FACES",
    "DIE_STYLES",
    "CaptureStatus",
    "CaptureThread",
    "DeviceInfo",
    "DeviceSource",
    "DieStyle",
    "FolderSource",
    "Frame",
    "FrameSource",
    "Geometry",
    "ParsedSpec",
    "Roi",
    "Shot",
    "SourceError",
    "SyntheticDiceSource",
    "VideoSource",
    "crop",
    "default_roi",
    "list_devices",
    "open_source",
    "parse_spec",
    "preprocess_roi",
    "random_shot",
    "render_die",
    "render_shot",
    "synthetic_dataset",
    "three_boxes",
    "to_geometry",
]
