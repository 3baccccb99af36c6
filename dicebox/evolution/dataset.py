"""What a run is trained on: the data set's identity, image geometry and categories."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dicebox.camera.preprocess import Geometry
from dicebox.labelled import LabelledImages


@dataclass(frozen=True)
class DataSpec:
    """``dataset_id`` names the data set in every worker's store; ``version`` its exact content."""

    dataset_id: str
    version: str
    geometry: Geometry
    categories: tuple[str, ...]

    @property
    def n_classes(self) -> int:
        return len(self.categories)

    @classmethod
    def of(cls, data: LabelledImages, dataset_id: str = "") -> DataSpec:
        """The spec of labelled images in memory."""
        _, height, width, channels = data.images.shape
        return cls(dataset_id, data.version, Geometry(width, height, channels), tuple(data.categories))

    def to_dict(self) -> dict[str, Any]:
        g = self.geometry
        return {
            "dataset_id": self.dataset_id,
            "version": self.version,
            "geometry": {"width": g.width, "height": g.height, "channels": g.channels},
            "categories": list(self.categories),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DataSpec:
        g = data["geometry"]
        return cls(
            str(data["dataset_id"]),
            str(data["version"]),
            Geometry(int(g["width"]), int(g["height"]), int(g["channels"])),
            tuple(str(c) for c in data["categories"]),
        )
