"""Batch orders: what an order and a shard are, and the interface every backend offers.

An order asks for ``batch_size`` distinct images of one data set, augmented with ``noise``. It is
split into shards that processors fill independently; a shard is fully described by its message
(order id, index, position, count, noise, seed), so filling it twice gives the same items and a
redelivered shard is harmless.
"""

from __future__ import annotations

import abc
import math
import secrets
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np

from dicebox.images import LabelledImages
from dicebox.store import BatchTooLarge, Dataset, NotFound

OrderState = Literal["filling", "ready", "delivered", "failed", "expired"]

# One shard's result travels as one message; keep it well under RabbitMQ's message size limit
# (16 MiB by default since RabbitMQ 4.0) whatever the image size.
MAX_SHARD_BYTES = 12 * 1024 * 1024
# Pixels handed out by one collect, whatever ``max`` asks (one HTTP answer stays reasonable).
MAX_TAKE_BYTES = 64 * 1024 * 1024


class OrderError(Exception):
    """Base class of what can go wrong with an order (besides the store's own errors)."""


class InvalidOrder(OrderError, ValueError):
    """An order or a collect request that cannot be valid (noise out of range, ...)."""


class OrderNotFound(NotFound):
    """No order with this id (never placed, cancelled, or expired long ago)."""


class OrderExpired(OrderError):
    """The order was not collected in time and its items were dropped."""


class OrderFailed(OrderError):
    """A shard could not be filled; the order will never complete."""


class ItemsReleased(OrderError):
    """The client asked again for items it had already acknowledged (they are freed)."""


class BrokerUnavailable(OrderError):
    """The message broker cannot be reached: try again later."""


@dataclass(frozen=True)
class ShardOrder:
    """One part of an order, filled by one processor: items ``start .. start+count`` of the order."""

    order_id: str
    dataset: str
    index: int
    shards: int
    start: int
    count: int
    order_size: int
    noise: float
    seed: int
    version: str

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ShardOrder:
        """Parse a shard message; raises InvalidOrder when a field is missing or of the wrong type."""
        kinds = {"order_id": str, "dataset": str, "index": int, "shards": int, "start": int, "count": int,
                 "order_size": int, "noise": (int, float), "seed": int, "version": str}
        values = {}
        for name, kind in kinds.items():
            value = data.get(name) if isinstance(data, dict) else None
            if isinstance(value, bool) or not isinstance(value, kind):
                raise InvalidOrder(f"shard message field {name!r} is missing or not a {kind}")
            values[name] = value
        shard = cls(**values)
        if not (0 <= shard.index < shard.shards and shard.count > 0 and shard.start >= 0
                and shard.start + shard.count <= shard.order_size and 0 <= shard.noise <= 1):
            raise InvalidOrder(f"shard message is inconsistent: {data!r}")
        return shard


@dataclass(frozen=True)
class OrderPlan:
    """An accepted order: what was asked, what the data set looked like, and its shards."""

    order_id: str
    dataset: str
    batch_size: int
    noise: float
    seed: int
    version: str
    categories: tuple[str, ...]
    item_shape: tuple[int, int, int]
    shards: tuple[ShardOrder, ...]
    created: float = field(default_factory=time.time)

    def empty(self) -> LabelledImages:
        """Zero items of this order's shape (the answer when nothing is ready yet)."""
        return LabelledImages(np.zeros((0, *self.item_shape), np.uint8), np.zeros(0, np.int64),
                              self.categories, self.version)


@dataclass(frozen=True)
class OrderStatus:
    """Where an order stands. ``ready`` items can be collected now; ``delivered`` were handed out."""

    order_id: str
    dataset: str
    batch_size: int
    ready: int
    delivered: int
    shards_total: int
    shards_done: int
    failed: bool
    expired: bool
    state: OrderState
    error: str = ""
    expires_in: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def validate_order(batch_size: object, noise: object, available: int) -> tuple[int, float]:
    """The order's size and noise, or BatchTooLarge / InvalidOrder saying what is wrong."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise BatchTooLarge(f"batch_size must be a positive whole number, got {batch_size!r}")
    if batch_size > available:
        raise BatchTooLarge(f"batch_size {batch_size} is larger than the data set ({available} images)")
    if isinstance(noise, bool) or not isinstance(noise, (int, float)) or not math.isfinite(noise):
        raise InvalidOrder(f"noise must be a number between 0 and 1, got {noise!r}")
    if not 0 <= noise <= 1:
        raise InvalidOrder(f"noise must be between 0 and 1, got {noise!r}")
    return batch_size, float(noise)


def effective_shard_size(shard_size: int, item_shape: tuple[int, ...]) -> int:
    """``shard_size``, lowered so one shard's result stays under :data:`MAX_SHARD_BYTES`."""
    item_bytes = max(1, math.prod(item_shape))
    return max(1, min(shard_size, MAX_SHARD_BYTES // item_bytes))


def plan_order(
    dataset: Dataset, batch_size: object, noise: object, *, shard_size: int, seed: int | None = None,
    content: LabelledImages | None = None,
) -> OrderPlan:
    """Validate an order against ``dataset`` and split it into shards of at most ``shard_size``.

    ``content`` is the data set's :meth:`~dicebox.store.Dataset.arrays` when the caller has them
    (the order then describes exactly that content); otherwise only the index is read.
    """
    if content is None:
        available, version, categories = dataset.count(), dataset.version(), tuple(dataset.categories())
    else:
        available, version, categories = len(content), content.version, content.categories
    size, noise_value = validate_order(batch_size, noise, available)
    order_id = str(uuid.uuid4())
    seed = secrets.randbits(63) if seed is None else int(seed)
    shape = dataset.geometry.shape
    step = effective_shard_size(shard_size, shape)
    starts = range(0, size, step)
    shards = tuple(
        ShardOrder(order_id, dataset.id, index, len(starts), start, min(step, size - start), size,
                   noise_value, seed, version)
        for index, start in enumerate(starts)
    )
    return OrderPlan(order_id, dataset.id, size, noise_value, seed, version, categories, shape, shards)


def parse_order_id(value: str) -> str:
    """The canonical form of an order id; InvalidOrder when it is not a UUID."""
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise InvalidOrder(f"{value!r} is not a valid order id (a UUID)") from None


class BatchOrders(abc.ABC):
    """Places orders, reports on them and hands out their items. Thread-safe."""

    def start(self) -> None:  # noqa: B027 - optional: most backends start with their first order
        """Start background work now rather than with the first order (a served replica calls it)."""

    @abc.abstractmethod
    def place(self, dataset_id: str, batch_size: int, noise: float = 0.0, seed: int | None = None) -> str:
        """Accept an order and start filling it; returns its id (a uuid4 string)."""

    @abc.abstractmethod
    def status(self, order_id: str) -> OrderStatus:
        """Where the order stands; OrderNotFound if unknown."""

    @abc.abstractmethod
    def take(self, order_id: str, max_items: int, start: int | None = None, wait: float = 0.0) -> LabelledImages:
        """Items from position ``start`` (default: after those handed out), at most ``max_items``.

        Asking with ``start`` acknowledges (frees) every item before it, so a client that lost an
        answer asks again with the same ``start`` and gets the same items. Waits up to ``wait``
        seconds for a full answer (``max_items``, or the rest of the order), then returns what is
        ready: zero items when none is. At most :data:`MAX_TAKE_BYTES` of pixels per answer.
        """

    @abc.abstractmethod
    def cancel(self, order_id: str) -> None:
        """Stop filling the order and drop its items; OrderNotFound if unknown."""

    @abc.abstractmethod
    def health(self) -> dict:
        """A small JSON-able report for ``/api/v1/health``."""

    @abc.abstractmethod
    def close(self) -> None:
        """Stop every thread and connection; pending orders are dropped."""
