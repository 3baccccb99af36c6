"""The RabbitMQ backend, service side: publish shard orders, collect shard results.

One thread owns the service's one broker connection (pika connections are not thread-safe): it
keeps heartbeats going, consumes the result queues of open orders and runs the publishes request
threads hand it through ``add_callback_threadsafe``. When the connection drops it reconnects with
capped backoff and resumes consuming every open order's results; results survive in their durable
queues meanwhile. An unreachable broker makes :meth:`RabbitOrders.place` fail with
:class:`BrokerUnavailable` within a few seconds; everything else keeps working.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import TypeVar

import pika
from pika.adapters.blocking_connection import BlockingChannel
from pika.exceptions import AMQPError

from dicebox.batches.book import BookedOrders, Reaper
from dicebox.batches.folder import ORDERS_FOLDER, FolderOrderBook
from dicebox.batches.orders import (
    BrokerUnavailable,
    InvalidOrder,
    OrderNotFound,
    OrderPlan,
    plan_order,
)
from dicebox.batches.shards import decode_result, encode_order
from dicebox.broker.connection import PERSISTENT, connection_parameters, redacted
from dicebox.broker.queues import BatchQueues
from dicebox.config import ConfigError
from dicebox.plumbing.backoff import Backoff
from dicebox.store import DatasetStore

log = logging.getLogger(__name__)

T = TypeVar("T")

# Unacknowledged shard results the broker may push at once (each up to 12 MiB).
RESULT_PREFETCH = 4
# How often the link looks in the shared folder for open orders whose results nobody here consumes yet.
RESCAN_SECONDS = 1.0


class RabbitOrders(BookedOrders):
    """Orders filled by ``dicebox batch-processor`` processes through RabbitMQ."""

    def __init__(self, store: DatasetStore, url: str, queues: BatchQueues | None = None, *,
                 shard_size: int = 5000, expiry_seconds: float = 600.0, connect_timeout: float = 3.0,
                 publish_timeout: float = 5.0) -> None:
        self.store = store
        self.shard_size = shard_size
        self.connect_timeout = connect_timeout
        self.publish_timeout = publish_timeout
        # Orders live in the shared data folder: every replica consumes the results of every open order.
        self._book = FolderOrderBook(Path(store.root) / ORDERS_FOLDER, expiry_seconds)
        self._link = BrokerLink(url, queues or BatchQueues(), self._book, connect_timeout=connect_timeout)
        self._lock = threading.Lock()
        self._reaper: Reaper | None = None
        self._closed = False

    def place(self, dataset_id: str, batch_size: int, noise: float = 0.0, seed: int | None = None) -> str:
        dataset = self.store.dataset(dataset_id, create=False)
        plan = plan_order(dataset, batch_size, noise, shard_size=self.shard_size, seed=seed)
        self._start()
        self._book.add(plan)  # before publishing: a fast processor's result must find its order
        try:
            self._link.call(functools.partial(self._link.publish_order, plan=plan), self.publish_timeout)
        except Exception:
            # Not placed: forget it here and on the broker (shards already published find no queue).
            with contextlib.suppress(OrderNotFound):
                self._book.remove(plan.order_id)
            self._link.forget(plan.order_id)
            raise
        return plan.order_id

    def cancel(self, order_id: str) -> None:
        self._book.remove(order_id)
        self._link.forget(order_id)

    def health(self) -> dict:
        return {"backend": "rabbitmq", "broker": redacted(self._link.url), "connected": self._link.connected,
                "last_error": self._link.last_error, "orders": len(self._book)}

    def close(self) -> None:
        with self._lock:
            self._closed = True
            reaper, self._reaper = self._reaper, None
        if reaper is not None:
            reaper.stop()
        self._link.stop()

    def start(self) -> None:
        """Connect now: a served replica collects the results of orders other replicas placed."""
        self._start()

    def _start(self) -> None:
        with self._lock:
            if self._closed:
                raise RuntimeError("the batch order backend is closed")
            if self._reaper is None:
                self._reaper = Reaper(self._book, on_expired=self._link.forget).start()
                self._link.start()


class BrokerLink:
    """The one connection of a service to the broker, run by its own thread."""

    def __init__(self, url: str, queues: BatchQueues, book: FolderOrderBook, *, connect_timeout: float = 3.0,
                 backoff: Backoff | None = None) -> None:
        self.url = url
        self.queues = queues
        self.book = book
        self.connect_timeout = connect_timeout
        try:
            self._params = connection_parameters(url, name="dicebox sensory service", timeout=connect_timeout)
        except ValueError as exc:
            raise ConfigError(f"broker URL {redacted(url)}: {exc}") from None
        self._backoff = backoff or Backoff(0.2, 5.0)
        self._state = threading.Condition()
        self._connection: pika.BlockingConnection | None = None
        self._attempts = 0
        self.last_error = ""
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._consumers: dict[str, str] = {}  # order id -> consumer tag; used on the link thread only
        self._pending: set[Future] = set()  # calls handed to the current connection, not yet run
        self._channel: BlockingChannel | None = None

    @property
    def connected(self) -> bool:
        with self._state:
            return self._connection is not None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="dicebox-broker-link", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    # Called from request threads --------------------------------------------------------------
    def call(self, work: Callable[[BlockingChannel], T], timeout: float) -> T:
        """Run ``work(channel)`` on the link thread and return its result.

        BrokerUnavailable when there is no connection within ``connect_timeout`` (one fresh
        connection attempt is made at once) or no answer within ``timeout``.
        """
        connection = self._connection_or_fail()
        future: Future = Future()

        def task() -> None:
            if future.done() or not future.set_running_or_notify_cancel():
                return
            try:
                future.set_result(work(self._channel))
            except AMQPError as exc:
                future.set_exception(exc)
                raise  # the connection or channel is broken: the link reconnects
            except Exception as exc:  # noqa: BLE001 - handed to the waiting request thread
                future.set_exception(exc)

        with self._state:
            self._pending.add(future)
        try:
            connection.add_callback_threadsafe(task)
            return future.result(timeout)
        except FutureTimeout:
            future.cancel()
            raise self._unavailable(f"no answer within {timeout:g} s") from None
        except AMQPError as exc:
            raise self._unavailable(_describe(exc)) from None
        finally:
            with self._state:
                self._pending.discard(future)

    def forget(self, order_id: str) -> None:
        """Stop consuming an order's results and delete its queue (best effort, asynchronous)."""
        with self._state:
            connection = self._connection
        if connection is None:
            return  # the queue expires by itself
        try:
            connection.add_callback_threadsafe(functools.partial(self._drop_queue, order_id))
        except AMQPError:
            pass

    def _connection_or_fail(self) -> pika.BlockingConnection:
        deadline = time.monotonic() + self.connect_timeout
        with self._state:
            if self._connection is not None:
                return self._connection
            seen = self._attempts
            self._wake.set()
            while self._connection is None and self._attempts <= seen:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._state.wait(left)
            if self._connection is not None:
                return self._connection
        raise self._unavailable(self.last_error or "no connection yet")

    def _unavailable(self, reason: str) -> BrokerUnavailable:
        return BrokerUnavailable(f"the message broker at {redacted(self.url)} is unavailable ({reason}); "
                                 "try again later")

    # The link thread --------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            connection = None
            self._wake.clear()  # a request that wants a connection from now on skips the next wait
            try:
                connection = pika.BlockingConnection(self._params)
                self._on_connected(connection)
                self._backoff.reset()
                rescanned = time.monotonic()
                while not self._stop.is_set():
                    connection.process_data_events(time_limit=0.25)
                    if time.monotonic() - rescanned >= RESCAN_SECONDS:
                        # Orders other replicas placed (or left behind when they stopped).
                        rescanned = time.monotonic()
                        for plan in self.book.open_orders():
                            self._consume_results(plan.order_id)
            except (AMQPError, OSError) as exc:
                self._on_lost(connection, _describe(exc))
            except Exception as exc:  # noqa: BLE001 - the link must outlive any single failure
                log.exception("broker link failed")
                self._on_lost(connection, f"{type(exc).__name__}: {exc}")
            else:
                self._on_lost(connection, "")
                break
            self._wake.wait(self._backoff.next())

    def _on_connected(self, connection: pika.BlockingConnection) -> None:
        channel = connection.channel()
        channel.confirm_delivery()
        channel.basic_qos(prefetch_count=RESULT_PREFETCH)
        self.queues.declare_tasks(channel)
        self._channel = channel
        self._consumers.clear()
        # Results that arrived while we were away wait in their durable queues.
        for plan in self.book.open_orders():
            self._consume_results(plan.order_id)
        with self._state:
            self._connection = connection
            self._attempts += 1
            self.last_error = ""
            self._state.notify_all()
        log.info("connected to the message broker at %s", redacted(self.url))

    def _on_lost(self, connection: pika.BlockingConnection | None, reason: str) -> None:
        with self._state:
            was_connected = self._connection is not None
            self._connection = None
            self._attempts += 1
            if reason:
                self.last_error = reason
            # Calls handed to the lost connection will never run: fail them now rather than at their timeout.
            for future in self._pending:
                if not future.done():
                    future.set_exception(self._unavailable(reason or "connection closed"))
            self._state.notify_all()
        self._channel = None
        if connection is not None and connection.is_open:
            try:
                connection.close()
            except AMQPError:
                pass
        if reason:
            level = logging.WARNING if was_connected else logging.DEBUG
            log.log(level, "message broker at %s unavailable (%s); reconnecting", redacted(self.url), reason)

    # Work done on the link thread -------------------------------------------------------------
    def publish_order(self, channel: BlockingChannel, plan: OrderPlan) -> None:
        """Declare the order's result queue, consume it, publish every shard with confirms."""
        self._consume_results(plan.order_id)  # declares the queue (durable, x-expires) first
        for shard in plan.shards:
            properties = pika.BasicProperties(
                delivery_mode=PERSISTENT,
                content_type="application/json",
                message_id=f"{plan.order_id}:{shard.index}",
                correlation_id=plan.order_id,
                reply_to=self.queues.result_queue(plan.order_id),
            )
            # With confirms on, this returns once the broker has the message on disk (or raises).
            channel.basic_publish(self.queues.exchange, self.queues.routing_key, encode_order(shard),
                                  properties, mandatory=True)

    def _consume_results(self, order_id: str) -> None:
        channel = self._channel
        if channel is None or order_id in self._consumers:
            return
        queue = self.queues.declare_results(channel, order_id, self.book.expiry_seconds)
        self._consumers[order_id] = channel.basic_consume(queue, self._on_result)

    def _on_result(self, channel: BlockingChannel, method, _properties, body: bytes) -> None:
        try:
            result = decode_result(body)
        except InvalidOrder as exc:
            log.warning("dropping a damaged shard result from %s: %s", method.routing_key, exc)
            channel.basic_ack(method.delivery_tag)
            return
        if result.error:
            accepted = self.book.fail(result.order_id, result.index, result.error)
        else:
            accepted = self.book.deliver(result.order_id, result.index, result.items)
        if not accepted:
            log.debug("dropping shard %d of order %s: a repeat, or the order is gone", result.index,
                      result.order_id)
        # Acknowledged only once the items are in the book: a lost ack means a repeat, never a loss.
        channel.basic_ack(method.delivery_tag)
        if not self.book.accepting(result.order_id):
            self._drop_queue(result.order_id)

    def _drop_queue(self, order_id: str) -> None:
        channel = self._channel
        if channel is None or not channel.is_open:
            return
        tag = self._consumers.pop(order_id, None)
        if tag is not None:
            channel.basic_cancel(tag)
        channel.queue_delete(self.queues.result_queue(order_id))


def _describe(exc: BaseException) -> str:
    text = str(exc) or repr(exc)
    return f"{type(exc).__name__}: {text}" if type(exc).__name__ not in text else text
