"""The confirmed worker loop: take a task, work on it off the connection's thread, publish its reply
(persistent, confirmed by the broker) and only then acknowledge the task.

The connection's thread only talks to the broker, so heartbeats keep flowing however long the work
takes; one work thread does the work and hands the reply back with ``add_callback_threadsafe``. A
worker killed at any point leaves its task unacknowledged and the broker hands it to another
worker; the side that collects replies drops a repeat.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import pika
from pika.adapters.blocking_connection import BlockingChannel
from pika.exceptions import AMQPError, NackError, UnroutableError

from dicebox.broker.connection import PERSISTENT, consume_until_stopped, redacted
from dicebox.plumbing.backoff import Backoff

log = logging.getLogger(__name__)

Task = TypeVar("Task")


class RejectTask(Exception):
    """The message is not a task this worker can take: rejected, never redelivered."""


@dataclass(frozen=True)
class Reply:
    """What a task's work produced, and where it goes."""

    queue: str
    body: bytes
    content_type: str
    message_id: str
    correlation_id: str
    what: str  # names the task in log lines ("shard 3 of order ab12")


class ConfirmedWorker(Generic[Task]):
    """Consumes ``queue`` until :meth:`stop`, reconnecting with capped backoff when the broker goes.

    ``decode(body, properties)`` turns a message into a task (raises :class:`RejectTask`);
    ``work(task)`` returns its :class:`Reply`, or None to hand the task back to the queue.
    ``drain_seconds`` > 0: on stop, stop taking tasks and let a reply being published finish first.
    """

    def __init__(
        self,
        url: str,
        params: pika.URLParameters,
        queue: str,
        *,
        declare: Callable[[BlockingChannel], None],
        decode: Callable[[bytes, Any], Task],
        work: Callable[[Task], Reply | None],
        prefetch: int = 1,
        backoff: Backoff | None = None,
        on_ready: Callable[[str], None] | None = None,
        drain_seconds: float = 0.0,
        thread_name: str = "dicebox-work",
    ) -> None:
        self.url = url
        self.queue = queue
        self.replied = 0
        self._params = params
        self._declare = declare
        self._decode = decode
        self._work = work
        self._prefetch = prefetch
        self._backoff = backoff or Backoff()
        self._on_ready = on_ready
        self._drain_seconds = drain_seconds
        self._stop = threading.Event()
        self._worker = ThreadPoolExecutor(1, thread_name_prefix=thread_name)
        # (connection, delivery tag) of tasks taken and not yet acknowledged or handed back.
        self._in_flight: set[tuple[int, int]] = set()
        self._in_flight_lock = threading.Lock()
        self._consumer_tag = ""

    @property
    def stopping(self) -> threading.Event:
        """Set once :meth:`stop` is called: long work checks it to give up early."""
        return self._stop

    def stop(self) -> None:
        """Ask :meth:`run` to return (safe from signal handlers and other threads)."""
        self._stop.set()

    def run(self) -> None:
        """Serve tasks until :meth:`stop`."""
        ready = functools.partial(self._on_ready, self.queue) if self._on_ready else None
        try:
            consume_until_stopped(self.url, self._params, self._stop, self._backoff, self._subscribe,
                                  on_first_connect=ready,
                                  before_close=self._drain if self._drain_seconds > 0 else None)
        finally:
            self._worker.shutdown(wait=True, cancel_futures=True)

    def _subscribe(self, connection: pika.BlockingConnection) -> BlockingChannel:
        channel = connection.channel()
        channel.confirm_delivery()
        channel.basic_qos(prefetch_count=self._prefetch)
        self._declare(channel)
        self._consumer_tag = channel.basic_consume(self.queue, functools.partial(self._on_message, connection))
        log.info("waiting for tasks on %s at %s", self.queue, redacted(self.url))
        return channel

    def _drain(self, connection: pika.BlockingConnection, channel: BlockingChannel) -> None:
        channel.basic_cancel(self._consumer_tag)
        deadline = time.monotonic() + self._drain_seconds
        while self._busy(connection) and time.monotonic() < deadline:
            connection.process_data_events(time_limit=0.1)

    def _busy(self, connection: pika.BlockingConnection) -> bool:
        with self._in_flight_lock:
            return any(conn == id(connection) for conn, _tag in self._in_flight)

    # On the connection's thread ---------------------------------------------------------------
    def _on_message(self, connection: pika.BlockingConnection, channel: BlockingChannel, method, properties,
                    body: bytes) -> None:
        try:
            task = self._decode(body, properties)
        except RejectTask as exc:
            log.error("rejecting a message on %s: %s", self.queue, exc)
            channel.basic_reject(method.delivery_tag, requeue=False)
            return
        with self._in_flight_lock:
            self._in_flight.add((id(connection), method.delivery_tag))
        self._worker.submit(self._do, connection, channel, method.delivery_tag, task)

    def _publish_and_ack(self, connection: pika.BlockingConnection, channel: BlockingChannel, tag: int,
                         reply: Reply | None) -> None:
        try:
            if reply is None:
                channel.basic_nack(tag, requeue=True)
                return
            properties = pika.BasicProperties(delivery_mode=PERSISTENT, content_type=reply.content_type,
                                              message_id=reply.message_id, correlation_id=reply.correlation_id)
            try:
                channel.basic_publish("", reply.queue, reply.body, properties, mandatory=True)
            except UnroutableError:
                log.info("nobody waits for %s any more (cancelled, expired or complete); reply dropped", reply.what)
            except NackError:
                log.warning("the broker refused the reply for %s; it will be done again", reply.what)
                channel.basic_nack(tag, requeue=True)
                return
            # Only now is the reply safe with the broker: acknowledge the task.
            channel.basic_ack(tag)
            self.replied += 1
        finally:
            with self._in_flight_lock:
                self._in_flight.discard((id(connection), tag))

    # On the work thread -----------------------------------------------------------------------
    def _do(self, connection: pika.BlockingConnection, channel: BlockingChannel, tag: int, task: Task) -> None:
        reply = self._work(task)
        try:
            connection.add_callback_threadsafe(
                functools.partial(self._publish_and_ack, connection, channel, tag, reply))
        except AMQPError:
            # The connection is gone; the broker hands the task out again.
            with self._in_flight_lock:
                self._in_flight.discard((id(connection), tag))
