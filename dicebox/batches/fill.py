"""Filling one shard from the local data set store: deterministic, so redelivery is harmless."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from dicebox.batches.orders import ShardOrder
from dicebox.images import LabelledImages
from dicebox.store import BatchTooLarge, Dataset, NotFound
from dicebox.store.augment import augment

log = logging.getLogger(__name__)


def snapshot(dataset: Dataset) -> tuple[LabelledImages, list[str]]:
    """The data set's arrays and the id of each image, read consistently (stores may run meanwhile)."""
    return dataset.arrays_with_ids()


def order_selection(seed: int, available: int, size: int) -> np.ndarray:
    """Positions in the data set's content of an order's items, in order (seeded by the order)."""
    return np.random.default_rng(seed).choice(available, size=size, replace=False)


def fill_shard(
    dataset: Dataset, shard: ShardOrder, content: LabelledImages | None = None, selection: Sequence[str] | None = None
) -> LabelledImages:
    """The shard's items: positions ``start .. start+count`` of the order's random selection.

    Every shard of an order draws the same selection (seeded by the order), so shards filled by
    different processors never repeat an image; the augmentation is seeded per shard. ``content``
    is the data set's arrays when the caller already has them. ``selection`` (the ids of the
    order's images, recorded when it was placed) fills the shard with exactly those images
    however the data set changed since.
    """
    if selection is not None and content is None:
        wanted = selection[shard.start : shard.start + shard.count]
        data, ids = snapshot(dataset)
        if not set(wanted) <= set(ids):
            dataset.catch_up()  # an index of its own (shared folder): stored elsewhere a moment ago?
            data, ids = snapshot(dataset)
        where = {image_id: n for n, image_id in enumerate(ids)}
        gone = [image_id for image_id in wanted if image_id not in where]
        if gone:
            raise NotFound(f"{len(gone)} image(s) of order {shard.order_id} were deleted since it was placed")
        chosen = np.array([where[image_id] for image_id in wanted], np.int64)
    else:
        data = dataset.arrays() if content is None else content
        if data.version != shard.version:
            log.warning(
                "data set %s changed since order %s was placed; filling from its current content",
                dataset.id,
                shard.order_id,
            )
        if shard.order_size > len(data):
            raise BatchTooLarge(
                f"order {shard.order_id} wants {shard.order_size} images, data set {dataset.id} holds {len(data)}"
            )
        chosen = order_selection(shard.seed, len(data), shard.order_size)[shard.start : shard.start + shard.count]
    images = data.images[chosen]
    if shard.noise > 0:
        images = augment(images, shard.noise, np.random.default_rng([shard.seed, shard.index]))
    return LabelledImages(images, data.labels[chosen], data.categories, data.version)
