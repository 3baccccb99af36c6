"""The batch processor: fills shard orders from the durable task queue with the local data set store.

It runs the broker's confirmed worker loop (:mod:`dicebox.broker.worker`): a shard is acknowledged
only once its result is safe with the broker, so a processor killed at any point leaves the shard to
another processor; the collector drops the repeat if both results arrive.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from dicebox.batches.fill import fill_shard
from dicebox.batches.orders import InvalidOrder, ShardOrder
from dicebox.batches.shards import decode_order, encode_failure, encode_result
from dicebox.broker.connection import connection_parameters
from dicebox.broker.queues import BatchQueues
from dicebox.broker.worker import ConfirmedWorker, RejectTask, Reply
from dicebox.plumbing.backoff import Backoff
from dicebox.store import DatasetStore, StoreError

log = logging.getLogger(__name__)

#: On stop, how long a shard's result being published may take to reach the broker.
DRAIN_SECONDS = 10.0


class _Stopping(Exception):
    """The processor is stopping: abandon the shard (the broker will hand it out again)."""


class BatchProcessor:
    """Consumes shard orders until :meth:`stop`; reconnects with capped backoff when the broker goes."""

    def __init__(self, store: DatasetStore, url: str, queues: BatchQueues | None = None, *,
                 prefetch: int = 1, max_items_per_second: float = 0.0, heartbeat: int = 30,
                 on_ready: Callable[[str], None] | None = None, backoff: Backoff | None = None) -> None:
        self.store = store
        self.queues = queues or BatchQueues()
        # A throttle (0: none) so batch processors reading a shared volume leave its bandwidth to stores.
        self.max_items_per_second = max_items_per_second
        params = connection_parameters(url, name="dicebox batch processor", heartbeat=heartbeat)
        self._worker: ConfirmedWorker[ShardOrder] = ConfirmedWorker(
            url, params, self.queues.task_queue, declare=self.queues.declare_tasks, decode=self._decode,
            work=self._fill, prefetch=prefetch, backoff=backoff or Backoff(0.2, 5.0), on_ready=on_ready,
            drain_seconds=DRAIN_SECONDS, thread_name="dicebox-shard")

    @property
    def filled(self) -> int:
        """Shards whose results the broker has confirmed."""
        return self._worker.replied

    def stop(self) -> None:
        """Ask :meth:`run` to return (safe from signal handlers and other threads)."""
        self._worker.stop()

    def run(self) -> None:
        """Serve shard orders until :meth:`stop`."""
        self._worker.run()

    @staticmethod
    def _decode(body: bytes, _properties) -> ShardOrder:
        try:
            return decode_order(body)
        except InvalidOrder as exc:
            raise RejectTask(f"not a shard order: {exc}") from None

    def _fill(self, shard: ShardOrder) -> Reply | None:
        try:
            payload = self._payload(shard)
        except _Stopping:
            return None
        return Reply(self.queues.result_queue(shard.order_id), payload, "application/x-npz",
                     message_id=f"{shard.order_id}:{shard.index}", correlation_id=shard.order_id,
                     what=f"shard {shard.index} of order {shard.order_id}")

    def _payload(self, shard: ShardOrder) -> bytes:
        log.debug("filling shard %d/%d of order %s (%d items)", shard.index + 1, shard.shards, shard.order_id,
                  shard.count)
        try:
            dataset = self.store.dataset(shard.dataset, create=False)
            items = fill_shard(dataset, shard)
            self._throttle(len(items))
            return encode_result(shard, items)
        except StoreError as exc:
            log.warning("shard %d of order %s cannot be filled: %s", shard.index, shard.order_id, exc)
            return encode_failure(shard, str(exc))
        except _Stopping:
            raise
        except Exception as exc:  # noqa: BLE001 - reported as the order's failure instead of looping forever
            log.exception("filling shard %d of order %s failed", shard.index, shard.order_id)
            return encode_failure(shard, f"internal error in the batch processor: {type(exc).__name__}")

    def _throttle(self, count: int) -> None:
        if self.max_items_per_second <= 0:
            return
        end = time.monotonic() + count / self.max_items_per_second
        while (left := end - time.monotonic()) > 0:
            if self._worker.stopping.wait(min(left, 0.05)):
                raise _Stopping
