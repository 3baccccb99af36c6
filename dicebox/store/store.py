"""All data sets under one base folder (the original ``dataset_base_directory``)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np

from dicebox.images import Geometry
from dicebox.store.dataset import Dataset, StoredImage, check_store, prepare_store
from dicebox.store.errors import InvalidName, NotFound
from dicebox.store.images import DEFAULT_MAX_PIXELS, store_pixel_limit
from dicebox.store.names import check_new_categories, check_new_dataset, parse_dataset_id


class DatasetStore:
    """Opens data sets by id (``<name>_<width>x<height>``) and keeps them open."""

    def __init__(
        self,
        root: Path,
        *,
        default_channels: int = 1,
        max_image_pixels: int = DEFAULT_MAX_PIXELS,
        index_dir: Path | None = None,
        refresh_seconds: float | None = None,
    ) -> None:
        """``index_dir``: keep each data set's index in this local folder instead of in the data
        set's folder, for a ``root`` shared by several machines (see :mod:`dicebox.store.shared`);
        ``refresh_seconds``: how often such an index reads the other machines' changes."""
        self.root = Path(root)
        self.default_channels = default_channels
        self.max_image_pixels = max_image_pixels
        self.index_dir = None if index_dir is None else Path(index_dir)
        if self.index_dir is not None and self.index_dir.resolve().is_relative_to(self.root.resolve()):
            raise ValueError(
                f"the index folder {self.index_dir} is inside the data folder {self.root}: it must be on "
                "this machine's own disk, outside the shared folder"
            )
        self.refresh_seconds = refresh_seconds
        self._open: dict[str, Dataset] = {}
        self._lock = threading.Lock()

    def dataset(self, ident: str, *, create: bool = True, channels: int | None = None) -> Dataset:
        """The data set with this id; created empty (with ``channels``) if missing and ``create``."""
        parse_dataset_id(ident)
        with self._lock:
            found = self._open.get(ident)
            if found is None:
                path = self.root / ident
                if not path.is_dir():
                    if not create:
                        raise NotFound(f"data set {ident!r} does not exist")
                    check_new_dataset(ident, self.dataset_ids())
                self.root.mkdir(parents=True, exist_ok=True)
                found = Dataset.open(
                    path,
                    channels=channels or self.default_channels,
                    create=create,
                    max_image_pixels=self.max_image_pixels,
                    index_dir=self.index_dir,
                    refresh_seconds=self.refresh_seconds,
                )
                self._open[ident] = found
            return found

    @classmethod
    def from_config(cls, config) -> DatasetStore:
        """The store a :class:`~dicebox.config.Config` describes (data folder, channels, limits, index)."""
        return cls(
            config.datasets_dir,
            default_channels=config.dataset.channels,
            max_image_pixels=config.server.max_image_pixels,
            index_dir=config.index_dir,
            refresh_seconds=config.directory.index_refresh_seconds,
        )

    def store_many(self, ident: str, items: list[tuple[bytes | np.ndarray, str]]) -> list[StoredImage]:
        """Store images into data set ``ident``, creating it if missing, but only for a store it
        would accept: a refused store creates no data set."""
        _name, width, height = parse_dataset_id(ident)
        if not (self.root / ident).is_dir():
            check_new_dataset(ident, self.dataset_ids())
            geometry = Geometry(width, height, self.default_channels)
            limit = store_pixel_limit(geometry, self.max_image_pixels)
            checked = check_store(items, ident, geometry, limit)
            check_new_categories(dict.fromkeys(category for _, category in checked), [])
            prepare_store(checked, geometry, limit)  # decoded twice, for a data set's first store only
        return self.dataset(ident).store_many(items)

    def dataset_ids(self) -> list[str]:
        """Ids of every data set folder under the root."""
        if not self.root.is_dir():
            return []
        found = []
        for entry in os.scandir(self.root):
            if entry.is_dir():
                try:
                    parse_dataset_id(entry.name)
                except InvalidName:
                    continue
                found.append(entry.name)
        return sorted(found)

    def close(self) -> None:
        with self._lock:
            for dataset in self._open.values():
                dataset.close()
            self._open.clear()
