"""Images as every part of dicebox handles them: the data set geometry and the one preprocessing
function, labelled image arrays, and their PNG and ``.npz`` codecs.

Depends on OpenCV and numpy only. The store, training, inference, the client, the service and the
camera package all build on it; it imports none of them.
"""

from .codecs import encode_png, npz_bytes, read_npz, write_npz
from .geometry import Geometry, center_crop_to_aspect, to_channels, to_geometry
from .labelled import LabelledImages

__all__ = [
    "Geometry",
    "LabelledImages",
    "center_crop_to_aspect",
    "encode_png",
    "npz_bytes",
    "read_npz",
    "to_channels",
    "to_geometry",
    "write_npz",
]
