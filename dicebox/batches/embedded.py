"""The embedded backend: orders filled by threads inside the service process (no broker)."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor

from dicebox.batches.book import BookedOrders, OrderBook, Reaper
from dicebox.batches.fill import fill_shard
from dicebox.batches.orders import ShardOrder, plan_order
from dicebox.labelled import LabelledImages
from dicebox.store import Dataset, DatasetStore, StoreError

log = logging.getLogger(__name__)


class EmbeddedOrders(BookedOrders):
    """Shards filled by a small thread pool; a reaper frees orders nobody collects.

    Threads start with the first order, so building the backend costs nothing.
    """

    def __init__(self, store: DatasetStore, *, shard_size: int = 5000, expiry_seconds: float = 600.0,
                 workers: int = 2) -> None:
        self.store = store
        self.shard_size = shard_size
        self.workers = workers
        self._book = OrderBook(expiry_seconds)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._pool: ThreadPoolExecutor | None = None
        self._reaper: Reaper | None = None

    def place(self, dataset_id: str, batch_size: int, noise: float = 0.0, seed: int | None = None) -> str:
        dataset = self.store.dataset(dataset_id, create=False)
        # One snapshot of the content for the whole order: planned and filled from the same images.
        content = dataset.arrays()
        plan = plan_order(dataset, batch_size, noise, shard_size=self.shard_size, seed=seed, content=content)
        self._book.add(plan)
        pool = self._started()
        for shard in plan.shards:
            pool.submit(self._fill, dataset, shard, content)
        return plan.order_id

    def cancel(self, order_id: str) -> None:
        self._book.remove(order_id)

    def health(self) -> dict:
        return {"backend": "embedded", "orders": len(self._book)}

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            pool, self._pool = self._pool, None
            reaper, self._reaper = self._reaper, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        if reaper is not None:
            reaper.stop()

    # Internals --------------------------------------------------------------------------------
    def _started(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._stop.is_set():
                raise RuntimeError("the batch order backend is closed")
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="dicebox-batch")
                self._reaper = Reaper(self._book).start()
            return self._pool

    def _fill(self, dataset: Dataset, shard: ShardOrder, content: LabelledImages) -> None:
        if not self._book.accepting(shard.order_id):
            return  # cancelled or expired while queued
        try:
            items = fill_shard(dataset, shard, content)
        except StoreError as exc:
            self._book.fail(shard.order_id, shard.index, str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - a shard that cannot be filled fails its order, loudly
            log.exception("filling shard %d of order %s failed", shard.index, shard.order_id)
            self._book.fail(shard.order_id, shard.index, f"internal error: {type(exc).__name__}")
            return
        self._book.deliver(shard.order_id, shard.index, items)
