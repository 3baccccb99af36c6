"""Filling one shard from the local data set store: deterministic, so redelivery is harmless."""

from __future__ import annotations

import logging

import numpy as np

from dicebox.batches.orders import ShardOrder
from dicebox.labelled import LabelledImages
from dicebox.store import BatchTooLarge, Dataset
from dicebox.store.augment import augment

log = logging.getLogger(__name__)


def fill_shard(dataset: Dataset, shard: ShardOrder, content: LabelledImages | None = None) -> LabelledImages:
    """The shard's items: positions ``start .. start+count`` of the order's random selection.

    Every shard of an order draws the same selection (seeded by the order), so shards filled by
    different processors never repeat an image; the augmentation is seeded per shard. ``content``
    is the data set's arrays when the caller already has them.
    """
    data = dataset.arrays() if content is None else content
    if data.version != shard.version:
        log.warning("data set %s changed since order %s was placed; filling from its current content",
                    dataset.id, shard.order_id)
    if shard.order_size > len(data):
        raise BatchTooLarge(f"order {shard.order_id} wants {shard.order_size} images, "
                            f"data set {dataset.id} holds {len(data)}")
    selection = np.random.default_rng(shard.seed).choice(len(data), size=shard.order_size, replace=False)
    chosen = selection[shard.start : shard.start + shard.count]
    images = data.images[chosen]
    if shard.noise > 0:
        images = augment(images, shard.noise, np.random.default_rng([shard.seed, shard.index]))
    return LabelledImages(images, data.labels[chosen], data.categories, data.version)
