"""All data sets under one base folder (the original ``dataset_base_directory``)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from dicebox.store.dataset import Dataset
from dicebox.store.errors import InvalidName, NotFound
from dicebox.store.images import DEFAULT_MAX_PIXELS
from dicebox.store.names import dataset_id, parse_dataset_id


class DatasetStore:
    """Opens data sets by id (``<name>_<width>x<height>``) and keeps them open."""

    def __init__(
        self, root: Path, *, default_channels: int = 1, max_image_pixels: int = DEFAULT_MAX_PIXELS
    ) -> None:
        self.root = Path(root)
        self.default_channels = default_channels
        self.max_image_pixels = max_image_pixels
        self._open: dict[str, Dataset] = {}
        self._lock = threading.Lock()

    def dataset(self, ident: str, *, create: bool = True, channels: int | None = None) -> Dataset:
        """The data set with this id; created empty (with ``channels``) if missing and ``create``."""
        parse_dataset_id(ident)
        with self._lock:
            found = self._open.get(ident)
            if found is None:
                path = self.root / ident
                if not create and not path.is_dir():
                    raise NotFound(f"data set {ident!r} does not exist")
                self.root.mkdir(parents=True, exist_ok=True)
                found = Dataset.open(
                    path,
                    channels=channels or self.default_channels,
                    create=create,
                    max_image_pixels=self.max_image_pixels,
                )
                self._open[ident] = found
            return found

    def open(self, name: str, width: int, height: int, *, create: bool = True) -> Dataset:
        """The data set named as the original's store request names it."""
        return self.dataset(dataset_id(name, width, height), create=create)

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
