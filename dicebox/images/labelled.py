"""Labelled image arrays: what the store hands to training and what training consumes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LabelledImages:
    """Images with their class indices.

    ``images`` is uint8 of shape (N, height, width, channels), colour in BGR order; ``labels``
    holds int64 indices into ``categories`` (sorted names, as the category map); ``version``
    identifies the exact data set content the arrays came from (empty when unknown).
    ``stored_at`` (float seconds since the epoch, per image, or None when unknown) is when the
    store took each image in: held-out splits keep recording sessions whole by it
    (:func:`dicebox.nets.training.split_images`).
    """

    images: np.ndarray
    labels: np.ndarray
    categories: tuple[str, ...]
    version: str = ""
    stored_at: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.images.dtype != np.uint8 or self.images.ndim != 4:
            raise ValueError(f"images must be uint8 (N, H, W, C), got {self.images.dtype} {self.images.shape}")
        if self.labels.shape != (len(self.images),):
            raise ValueError(f"expected {len(self.images)} labels, got shape {self.labels.shape}")
        if len(self.labels) and (self.labels.min() < 0 or self.labels.max() >= len(self.categories)):
            raise ValueError("labels must index into categories")
        if self.stored_at is not None and np.shape(self.stored_at) != (len(self.images),):
            raise ValueError(f"expected {len(self.images)} stored_at times, got shape {np.shape(self.stored_at)}")

    def subset(self, indices: np.ndarray) -> LabelledImages:
        """The images at ``indices`` (in that order), with their labels and stored times."""
        stored_at = None if self.stored_at is None else self.stored_at[indices]
        return LabelledImages(self.images[indices], self.labels[indices], self.categories, self.version, stored_at)

    def __len__(self) -> int:
        return len(self.images)

    @property
    def counts(self) -> dict[str, int]:
        """Images per category."""
        per_class = np.bincount(self.labels, minlength=len(self.categories))
        return {name: int(n) for name, n in zip(self.categories, per_class, strict=True)}
