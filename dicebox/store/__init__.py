"""The data set store: labelled images on disk in the original (ImageFolder) layout."""

from dicebox.store.dataset import Dataset, StoredImage
from dicebox.store.errors import (
    BatchTooLarge,
    Conflict,
    DiskFull,
    ImageTooLarge,
    InvalidImage,
    InvalidName,
    NotFound,
    StoreError,
)
from dicebox.store.index import ImageRecord
from dicebox.store.names import dataset_id, parse_dataset_id, validate_category
from dicebox.store.store import DatasetStore

__all__ = [
    "BatchTooLarge",
    "Conflict",
    "Dataset",
    "DatasetStore",
    "DiskFull",
    "ImageRecord",
    "ImageTooLarge",
    "InvalidImage",
    "InvalidName",
    "NotFound",
    "StoreError",
    "StoredImage",
    "dataset_id",
    "parse_dataset_id",
    "validate_category",
]
