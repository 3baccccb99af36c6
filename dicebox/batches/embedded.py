"""The embedded backend: orders filled by threads inside the service process (no broker).

Orders live in the data folder (:class:`~dicebox.batches.folder.FolderOrderBook`), so every
replica of the service sharing that folder answers every order, and an order outlives the replica
that took it: each replica's sweeper fills shards nobody holds a live claim on.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from dicebox.batches.book import BookedOrders
from dicebox.batches.fill import fill_shard, order_selection, snapshot
from dicebox.batches.folder import ORDERS_FOLDER, FolderOrderBook
from dicebox.batches.orders import OrderNotFound, ShardOrder, plan_order
from dicebox.images import LabelledImages
from dicebox.store import DatasetStore, StoreError

log = logging.getLogger(__name__)


class EmbeddedOrders(BookedOrders):
    """Shards filled by a small thread pool; a sweeper frees idle orders and adopts orphaned shards.

    Threads start with :meth:`start` or the first order, so building the backend costs nothing.
    """

    def __init__(
        self,
        store: DatasetStore,
        *,
        shard_size: int = 5000,
        expiry_seconds: float = 600.0,
        threads: int = 2,
        orders_dir: Path | None = None,
    ) -> None:
        self.store = store
        self.shard_size = shard_size
        self.threads = threads
        self._book = FolderOrderBook(orders_dir or Path(store.root) / ORDERS_FOLDER, expiry_seconds)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._pool: ThreadPoolExecutor | None = None
        self._sweeper: threading.Thread | None = None
        self._mine: set[tuple[str, int]] = set()  # shards this replica claimed and has not filled yet

    def start(self) -> None:
        """Start filling and sweeping now (a served replica adopts orphaned orders at once)."""
        self._started()

    def place(self, dataset_id: str, batch_size: int, noise: float = 0.0, seed: int | None = None) -> str:
        dataset = self.store.dataset(dataset_id, create=False)
        # One snapshot of the content for the whole order: planned and filled from the same images,
        # whose ids are recorded so that a replica filling a shard for this one uses them too.
        content, ids = snapshot(dataset)
        plan = plan_order(dataset, batch_size, noise, shard_size=self.shard_size, seed=seed, content=content)
        chosen = order_selection(plan.seed, len(content), plan.batch_size)
        pool = self._started()
        self._book.add(plan, claim=True, selection=[ids[i] for i in chosen])  # durable before the client hears
        for shard in plan.shards:
            self._submit(pool, shard, content)
        return plan.order_id

    def cancel(self, order_id: str) -> None:
        self._book.remove(order_id)

    def health(self) -> dict:
        return {"backend": "embedded", "orders": len(self._book)}

    def close(self) -> None:
        """Finish the shards being filled; hand back the claims on those not started (another
        replica fills them at once; a single service fills them when it starts again)."""
        self._stop.set()
        with self._lock:
            pool, self._pool = self._pool, None
            sweeper, self._sweeper = self._sweeper, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        if sweeper is not None:
            sweeper.join(timeout=5)
        with self._lock:
            left, self._mine = list(self._mine), set()
        for order_id, index in left:
            self._book.release(order_id, index)

    # Internals --------------------------------------------------------------------------------
    def _started(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._stop.is_set():
                raise RuntimeError("the batch order backend is closed")
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="dicebox-batch")
                self._sweeper = threading.Thread(target=self._sweep, name="dicebox-order-sweeper", daemon=True)
                self._sweeper.start()
            return self._pool

    def _submit(self, pool: ThreadPoolExecutor, shard: ShardOrder, content: LabelledImages | None) -> None:
        with self._lock:
            self._mine.add((shard.order_id, shard.index))
        pool.submit(self._fill, shard, content)

    def _sweep(self) -> None:
        interval = max(0.05, min(1.0, self._book.expiry_seconds / 4, self._book.lease_seconds / 4))
        while not self._stop.wait(interval):
            try:
                for order_id in self._book.expire():
                    log.info("order %s expired uncollected; its items were freed", order_id)
                with self._lock:
                    mine = set(self._mine)
                for order_id, index in mine:
                    self._book.claim(order_id, index)  # renew: this replica is alive and will fill it
                for shard in self._book.orphans():
                    if (shard.order_id, shard.index) in mine or not self._book.claim(shard.order_id, shard.index):
                        continue
                    log.info("filling shard %d of order %s for a replica that stopped", shard.index, shard.order_id)
                    with self._lock:
                        pool = self._pool
                    if pool is None:
                        break
                    self._submit(pool, shard, None)
            except Exception:  # noqa: BLE001 - the sweeper must outlive one bad order folder
                log.exception("sweeping batch orders failed")

    def _fill(self, shard: ShardOrder, content: LabelledImages | None) -> None:
        if self._stop.is_set():
            return  # left claimed: close() hands the claim back
        try:
            self._fill_now(shard, content)
        finally:
            with self._lock:
                self._mine.discard((shard.order_id, shard.index))

    def _fill_now(self, shard: ShardOrder, content: LabelledImages | None) -> None:
        if not self._book.accepting(shard.order_id):
            return  # cancelled, expired or already filled by another replica
        try:
            dataset = self.store.dataset(shard.dataset, create=False)
            if content is None:
                items = fill_shard(dataset, shard, None, self._book.selection(shard.order_id))
            else:
                items = fill_shard(dataset, shard, content)
        except (StoreError, OrderNotFound) as exc:
            self._book.fail(shard.order_id, shard.index, str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - a shard that cannot be filled fails its order, loudly
            log.exception("filling shard %d of order %s failed", shard.index, shard.order_id)
            self._book.fail(shard.order_id, shard.index, f"internal error: {type(exc).__name__}")
            return
        self._book.deliver(shard.order_id, shard.index, items)
