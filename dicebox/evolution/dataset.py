"""What a run is trained on: the data set's identity, image geometry and categories."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dicebox.images import Geometry, LabelledImages


def split_test(data: LabelledImages, share: float, seed: int | None) -> tuple[LabelledImages, LabelledImages | None]:
    """(search part, test part): ``share`` of every class held out, the same for the same data and seed.

    Where the data knows when each image was stored (the store does), whole recording sessions
    go to one side (:func:`dicebox.nets.training.grouped_split`): neighbouring video frames never sit
    in both parts. Otherwise the split is image by image. The search part keeps the stored times,
    so its own validation split is by session too.
    """
    if share <= 0:
        return data, None
    from dicebox.nets.training import split_images

    search, test = split_images(data, share, 0 if seed is None else seed)
    search.sort()  # the store's order, so training shuffles as it would on the whole
    return data.subset(search), data.subset(test)


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
