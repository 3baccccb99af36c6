"""The collector side of orders: filled shards kept until collected, exactly once each.

Both backends put shard results here. A shard result counts once, whatever the number of times it
arrives (redelivery, a processor killed after publishing, a broker restart), so an order holds
exactly ``batch_size`` items. Items get positions in arrival order; a collect from position ``k``
frees everything before ``k``, which makes collecting safe to retry.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from dicebox.batches.orders import (
    MAX_TAKE_BYTES,
    BatchOrders,
    InvalidOrder,
    ItemsReleased,
    OrderExpired,
    OrderFailed,
    OrderNotFound,
    OrderPlan,
    OrderState,
    OrderStatus,
)
from dicebox.images import LabelledImages

log = logging.getLogger(__name__)

# Expired orders are remembered (without their items) so their status says "expired", not 404.
MAX_TOMBSTONES = 10_000


@dataclass
class _Order:
    plan: OrderPlan
    last_access: float
    done: set[int] = field(default_factory=set)
    chunks: deque = field(default_factory=deque)  # (position of the first item, LabelledImages)
    received: int = 0
    released: int = 0
    handed: int = 0
    error: str = ""
    expired: bool = False

    @property
    def complete(self) -> bool:
        return len(self.done) == len(self.plan.shards)

    @property
    def state(self) -> OrderState:
        if self.expired:
            return "expired"
        if self.error:
            return "failed"
        if self.handed >= self.plan.batch_size:
            return "delivered"
        return "ready" if self.complete else "filling"


class OrderBook:
    """Thread-safe bookkeeping of every order one service holds."""

    def __init__(self, expiry_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.expiry_seconds = expiry_seconds
        self._clock = clock
        self._orders: dict[str, _Order] = {}
        self._tombstones: OrderedDict[str, tuple[float, _Order]] = OrderedDict()
        self._changed = threading.Condition()

    # Orders -----------------------------------------------------------------------------------
    def add(self, plan: OrderPlan) -> None:
        with self._changed:
            self._orders[plan.order_id] = _Order(plan, self._clock())

    def remove(self, order_id: str) -> None:
        """Forget an order and its items (cancelled, or never published); OrderNotFound if unknown."""
        with self._changed:
            if self._orders.pop(order_id, None) is None and self._tombstones.pop(order_id, None) is None:
                raise OrderNotFound(f"order {order_id} does not exist")
            self._changed.notify_all()

    def accepting(self, order_id: str) -> bool:
        """True while the order still waits for shard results."""
        with self._changed:
            order = self._orders.get(order_id)
            return order is not None and not order.complete and not order.error

    def open_orders(self) -> list[OrderPlan]:
        """Orders still waiting for shard results (a reconnecting collector resumes these)."""
        with self._changed:
            return [o.plan for o in self._orders.values() if not o.complete and not o.error]

    def __len__(self) -> int:
        with self._changed:
            return len(self._orders)

    # Results ----------------------------------------------------------------------------------
    def deliver(self, order_id: str, shard_index: int, items: LabelledImages) -> bool:
        """Add one shard's items. False (and nothing changes) for an unknown order or a repeat."""
        with self._changed:
            order = self._orders.get(order_id)
            if order is None or order.error or shard_index in order.done:
                return False
            plan = order.plan
            if not 0 <= shard_index < len(plan.shards):
                return False
            problem = _mismatch(plan, shard_index, items)
            if problem:
                self._fail(order, problem)
                return False
            labels = _relabel(items, plan.categories)
            if labels is None:
                self._fail(order, f"shard {shard_index} has categories {list(items.categories)}, "
                                  f"the order {list(plan.categories)}")
                return False
            order.done.add(shard_index)
            order.chunks.append((order.received, LabelledImages(items.images, labels, plan.categories,
                                                                plan.version)))
            order.received += len(items)
            self._changed.notify_all()
            return True

    def fail(self, order_id: str, shard_index: int, message: str) -> bool:
        """A shard could not be filled: the order fails with ``message``."""
        with self._changed:
            order = self._orders.get(order_id)
            if order is None or order.error or shard_index in order.done:
                return False
            self._fail(order, f"shard {shard_index}: {message}")
            return True

    def _fail(self, order: _Order, message: str) -> None:
        order.error = message
        order.chunks.clear()
        self._changed.notify_all()

    # Clients ----------------------------------------------------------------------------------
    def status(self, order_id: str) -> OrderStatus:
        with self._changed:
            order = self._get(order_id)
            if not order.expired:
                order.last_access = self._clock()
            return self._status(order)

    def take(self, order_id: str, max_items: int, start: int | None = None, wait: float = 0.0) -> LabelledImages:
        """See :meth:`dicebox.batches.orders.BatchOrders.take`."""
        if max_items < 1:
            raise InvalidOrder("max must be at least 1")
        deadline = self._clock() + max(0.0, wait)
        with self._changed:
            order = self._usable(order_id)
            position = order.handed if start is None else start
            if position < order.released:
                raise ItemsReleased(f"items before {order.released} were acknowledged and freed; "
                                    f"cannot start at {position}")
            if position > order.handed:
                raise InvalidOrder(f"start {position} is past the {order.handed} items handed out")
            self._release(order, position)
            item_bytes = max(1, int(np.prod(order.plan.item_shape)))
            wanted = min(max_items, max(1, MAX_TAKE_BYTES // item_bytes), order.plan.batch_size - position)
            while order.received - position < wanted and not order.complete:
                remaining = deadline - self._clock()
                if remaining <= 0:
                    break
                self._changed.wait(remaining)
                order = self._usable(order_id)
            order.last_access = self._clock()
            items = self._slice(order, position, min(wanted, order.received - position))
            order.handed = max(order.handed, position + len(items))
            return items

    def _usable(self, order_id: str) -> _Order:
        order = self._get(order_id)
        if order.expired:
            raise OrderExpired(f"order {order_id} expired: it was not collected for "
                               f"{self.expiry_seconds:g} s and its items were dropped")
        if order.error:
            raise OrderFailed(f"order {order_id} failed: {order.error}")
        return order

    @staticmethod
    def _release(order: _Order, position: int) -> None:
        while order.chunks and order.chunks[0][0] + len(order.chunks[0][1]) <= position:
            order.chunks.popleft()
        order.released = position

    def _slice(self, order: _Order, position: int, count: int) -> LabelledImages:
        if count <= 0:
            return order.plan.empty()
        images, labels = [], []
        end = position + count
        for first, chunk in order.chunks:
            lo, hi = max(position, first), min(end, first + len(chunk))
            if lo < hi:
                images.append(chunk.images[lo - first : hi - first])
                labels.append(chunk.labels[lo - first : hi - first])
            if first + len(chunk) >= end:
                break
        plan = order.plan
        if len(images) == 1:
            return LabelledImages(images[0], labels[0], plan.categories, plan.version)
        return LabelledImages(np.concatenate(images), np.concatenate(labels), plan.categories, plan.version)

    # Expiry -----------------------------------------------------------------------------------
    def expire(self) -> list[str]:
        """Drop the items of orders nobody touched for ``expiry_seconds``; returns their ids."""
        now = self._clock()
        expired = []
        with self._changed:
            for order_id, order in list(self._orders.items()):
                if now - order.last_access > self.expiry_seconds:
                    del self._orders[order_id]
                    order.expired = True
                    order.chunks.clear()
                    self._tombstones[order_id] = (now, order)
                    expired.append(order_id)
            while self._tombstones:
                order_id, (when, _order) = next(iter(self._tombstones.items()))
                if now - when <= self.expiry_seconds and len(self._tombstones) <= MAX_TOMBSTONES:
                    break
                del self._tombstones[order_id]
            if expired:
                self._changed.notify_all()
        return expired

    # Internals --------------------------------------------------------------------------------
    def _get(self, order_id: str) -> _Order:
        order = self._orders.get(order_id)
        if order is None:
            tomb = self._tombstones.get(order_id)
            if tomb is None:
                raise OrderNotFound(f"order {order_id} does not exist")
            order = tomb[1]
        return order

    def _status(self, order: _Order) -> OrderStatus:
        plan = order.plan
        left = 0.0 if order.expired else max(0.0, self.expiry_seconds - (self._clock() - order.last_access))
        return OrderStatus(
            order_id=plan.order_id,
            dataset=plan.dataset,
            batch_size=plan.batch_size,
            ready=0 if order.expired or order.error else order.received - order.handed,
            delivered=order.handed,
            shards_total=len(plan.shards),
            shards_done=len(order.done),
            failed=bool(order.error),
            expired=order.expired,
            state=order.state,
            error=order.error,
            expires_in=round(left, 3),
        )


def _mismatch(plan: OrderPlan, shard_index: int, items: LabelledImages) -> str:
    expected = plan.shards[shard_index].count
    if len(items) != expected:
        return f"shard {shard_index} brought {len(items)} items, expected {expected}"
    if items.images.shape[1:] != plan.item_shape:
        return f"shard {shard_index} has images of shape {items.images.shape[1:]}, expected {plan.item_shape}"
    return ""


def _relabel(items: LabelledImages, categories: tuple[str, ...]) -> np.ndarray | None:
    """The labels as indices into ``categories`` (the data set may have gained a category since)."""
    if items.categories == categories:
        return items.labels
    lookup = {name: i for i, name in enumerate(categories)}
    if any(name not in lookup for name in items.categories):
        return None
    mapping = np.array([lookup[name] for name in items.categories], np.int64)
    return mapping[items.labels]


class Reaper:
    """A thread that expires a book's idle orders every little while and reports them."""

    def __init__(self, book: OrderBook, on_expired: Callable[[str], None] | None = None) -> None:
        self.book = book
        self.on_expired = on_expired
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="dicebox-order-reaper", daemon=True)

    def start(self) -> Reaper:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        interval = max(0.05, min(1.0, self.book.expiry_seconds / 4))
        while not self._stop.wait(interval):
            for order_id in self.book.expire():
                log.info("order %s expired uncollected; its items were freed", order_id)
                if self.on_expired is not None:
                    self.on_expired(order_id)


class BookedOrders(BatchOrders):
    """A backend whose collecting side is an :class:`OrderBook`: status and items come from it."""

    _book: OrderBook

    def status(self, order_id: str) -> OrderStatus:
        return self._book.status(order_id)

    def take(self, order_id: str, max_items: int, start: int | None = None, wait: float = 0.0) -> LabelledImages:
        return self._book.take(order_id, max_items, start, wait)
