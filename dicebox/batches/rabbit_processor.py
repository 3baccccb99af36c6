"""The batch processor: fills shard orders from the durable task queue with the local data set store.

The connection's thread only talks to the broker; a worker thread fills the shard, so heartbeats
keep flowing however long a shard takes. The worker hands the result back with
``add_callback_threadsafe``; the connection thread publishes it (persistent, confirmed) and only
then acknowledges the shard. A processor killed at any point leaves the shard unacknowledged, and
the broker gives it to another processor; the collector drops the repeat if both results arrive.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pika
from pika.adapters.blocking_connection import BlockingChannel
from pika.exceptions import AMQPError, NackError, UnroutableError

from dicebox.backoff import Backoff
from dicebox.batches.fill import fill_shard
from dicebox.batches.orders import InvalidOrder, ShardOrder
from dicebox.batches.rabbit_topology import PERSISTENT, RabbitTopology, connection_parameters, redacted
from dicebox.batches.shards import decode_order, encode_failure, encode_result
from dicebox.rabbit_connection import consume_until_stopped
from dicebox.store import DatasetStore, StoreError

log = logging.getLogger(__name__)


class _Stopping(Exception):
    """The processor is stopping: abandon the shard (the broker will hand it out again)."""


class BatchProcessor:
    """Consumes shard orders until :meth:`stop`; reconnects with capped backoff when the broker goes."""

    def __init__(self, store: DatasetStore, url: str, topology: RabbitTopology | None = None, *,
                 prefetch: int = 1, item_delay: float = 0.0, heartbeat: int = 30,
                 on_ready: Callable[[str], None] | None = None, backoff: Backoff | None = None) -> None:
        self.store = store
        self.url = url
        self.topology = topology or RabbitTopology()
        self.prefetch = prefetch
        # Seconds of extra work per item: lets tests catch a processor in the middle of a shard.
        self.item_delay = item_delay
        self.on_ready = on_ready
        self.filled = 0
        self._params = connection_parameters(url, name="dicebox batch processor", heartbeat=heartbeat)
        self._backoff = backoff or Backoff(0.2, 5.0)
        self._stop = threading.Event()
        self._workers = ThreadPoolExecutor(1, thread_name_prefix="dicebox-shard")
        # (connection, delivery tag) of shards taken and not yet acknowledged or abandoned.
        self._in_flight: set[tuple[int, int]] = set()
        self._in_flight_lock = threading.Lock()
        self._consumer_tag = ""

    def stop(self) -> None:
        """Ask :meth:`run` to return (safe from signal handlers and other threads)."""
        self._stop.set()

    def run(self) -> None:
        """Serve shard orders until :meth:`stop`."""
        ready = functools.partial(self.on_ready, self.topology.task_queue) if self.on_ready else None
        try:
            consume_until_stopped(self.url, self._params, self._stop, self._backoff, self._subscribe,
                                  on_first_connect=ready, before_close=self._drain)
        finally:
            self._workers.shutdown(wait=True, cancel_futures=True)

    def _subscribe(self, connection: pika.BlockingConnection) -> BlockingChannel:
        channel = connection.channel()
        channel.confirm_delivery()
        channel.basic_qos(prefetch_count=self.prefetch)
        self.topology.declare_tasks(channel)
        self._consumer_tag = channel.basic_consume(self.topology.task_queue,
                                                   functools.partial(self._on_order, connection))
        log.info("waiting for orders on %s at %s", self.topology.task_queue, redacted(self.url))
        return channel

    def _drain(self, connection: pika.BlockingConnection, channel: BlockingChannel, grace: float = 10.0) -> None:
        """Stop taking shards; let a shard being published finish. Unfinished ones go back to the queue."""
        channel.basic_cancel(self._consumer_tag)
        deadline = time.monotonic() + grace
        while self._busy(connection) and time.monotonic() < deadline:
            connection.process_data_events(time_limit=0.1)

    def _busy(self, connection: pika.BlockingConnection) -> bool:
        with self._in_flight_lock:
            return any(conn == id(connection) for conn, _tag in self._in_flight)

    # On the connection's thread ---------------------------------------------------------------
    def _on_order(self, connection: pika.BlockingConnection, channel: BlockingChannel, method, _properties,
                  body: bytes) -> None:
        try:
            shard = decode_order(body)
        except InvalidOrder as exc:
            log.error("rejecting a message that is not a shard order: %s", exc)
            channel.basic_reject(method.delivery_tag, requeue=False)
            return
        with self._in_flight_lock:
            self._in_flight.add((id(connection), method.delivery_tag))
        self._workers.submit(self._fill, connection, channel, method.delivery_tag, shard)

    def _publish_and_ack(self, connection: pika.BlockingConnection, channel: BlockingChannel, delivery_tag: int,
                         shard: ShardOrder, payload: bytes) -> None:
        try:
            properties = pika.BasicProperties(
                delivery_mode=PERSISTENT,
                content_type="application/x-npz",
                message_id=f"{shard.order_id}:{shard.index}",
                correlation_id=shard.order_id,
            )
            try:
                channel.basic_publish("", self.topology.result_queue(shard.order_id), payload, properties,
                                      mandatory=True)
            except UnroutableError:
                log.info("order %s is gone (cancelled, expired or complete); shard %d dropped",
                         shard.order_id, shard.index)
            except NackError:
                log.warning("broker refused the result of shard %d of order %s; it will be redone",
                            shard.index, shard.order_id)
                channel.basic_nack(delivery_tag, requeue=True)
                return
            # Only now is the result safe with the broker: acknowledge the shard.
            channel.basic_ack(delivery_tag)
            self.filled += 1
            log.debug("shard %d/%d of order %s delivered", shard.index + 1, shard.shards, shard.order_id)
        finally:
            self._done(connection, delivery_tag)

    def _done(self, connection: pika.BlockingConnection, delivery_tag: int) -> None:
        with self._in_flight_lock:
            self._in_flight.discard((id(connection), delivery_tag))

    # On the worker thread ---------------------------------------------------------------------
    def _fill(self, connection: pika.BlockingConnection, channel: BlockingChannel, delivery_tag: int,
              shard: ShardOrder) -> None:
        try:
            payload = self._payload(shard)
        except _Stopping:
            self._done(connection, delivery_tag)
            return
        try:
            connection.add_callback_threadsafe(
                functools.partial(self._publish_and_ack, connection, channel, delivery_tag, shard, payload))
        except AMQPError:
            # The connection is gone; the broker hands the shard out again.
            self._done(connection, delivery_tag)

    def _payload(self, shard: ShardOrder) -> bytes:
        log.debug("filling shard %d/%d of order %s (%d items)", shard.index + 1, shard.shards, shard.order_id,
                  shard.count)
        try:
            dataset = self.store.dataset(shard.dataset, create=False)
            items = fill_shard(dataset, shard)
            self._pretend_work(len(items))
            return encode_result(shard, items)
        except StoreError as exc:
            log.warning("shard %d of order %s cannot be filled: %s", shard.index, shard.order_id, exc)
            return encode_failure(shard, str(exc))
        except _Stopping:
            raise
        except Exception as exc:  # noqa: BLE001 - reported as the order's failure instead of looping forever
            log.exception("filling shard %d of order %s failed", shard.index, shard.order_id)
            return encode_failure(shard, f"internal error in the batch processor: {type(exc).__name__}")

    def _pretend_work(self, count: int) -> None:
        if self.item_delay <= 0:
            return
        end = time.monotonic() + self.item_delay * count
        while (left := end - time.monotonic()) > 0:
            if self._stop.wait(min(left, 0.05)):
                raise _Stopping
