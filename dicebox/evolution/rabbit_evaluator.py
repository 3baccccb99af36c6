"""Evaluate individuals on ``dicebox worker`` machines through RabbitMQ.

Orders are published persistent, with publisher confirms, to the durable orders queue; results
come back on the run's durable result queue and are acknowledged only after the search recorded
them (:meth:`RabbitEvaluator.acknowledge`), so a search killed in between gets them again on
resume. A worker killed mid-training never acknowledged its order, so the broker hands it to
another worker. Results may thus arrive twice; the search records each order once.

A worker that cannot train an order (its data set version differs, say) answers "refused"; the
order is published again, up to ``max_refusals`` times, then the run stops with that message.
"""

from __future__ import annotations

import collections
import logging
import threading

import pika
from pika.exceptions import AMQPError

from dicebox.broker.connection import PERSISTENT, redacted, training_parameters
from dicebox.broker.queues import TrainingQueues
from dicebox.evolution.evaluators import EvaluationCancelled
from dicebox.evolution.training_orders import InvalidMessage, TrainingOrder, TrainingOrderResult
from dicebox.plumbing.backoff import Backoff

log = logging.getLogger(__name__)


class RabbitEvaluator:
    """Publishes every order of a generation at once; any number of workers take them."""

    capacity = 100_000

    def __init__(
        self,
        url: str,
        run_id: str,
        *,
        queue: str = TrainingQueues.task_queue,
        heartbeat: int = 60,
        max_refusals: int = 3,
        prefetch: int = 32,
        cancel: threading.Event | None = None,
    ) -> None:
        self.url = url
        self.queue = queue
        self._queues = TrainingQueues(task_queue=queue)
        self._run_id = run_id
        self.results_queue = self._queues.result_queue(run_id)
        self.max_refusals = max_refusals
        self.prefetch = prefetch
        self.description = f"workers via {redacted(url)} (queue {queue})"
        self._params = training_parameters(url, name=f"dicebox evolve {run_id}", heartbeat=heartbeat)
        self._connection: pika.BlockingConnection | None = None
        self._channel = None
        self._consumer = ""
        self._epoch = 0  # delivery tags belong to one connection
        self._orders: dict[str, TrainingOrder] = {}
        self._refusals: collections.Counter[str] = collections.Counter()
        self._ready: collections.deque[tuple[int, int, TrainingOrderResult]] = collections.deque()
        self._tags: dict[int, tuple[int, int]] = {}
        self._backoff = Backoff()
        # Lets a cancel interrupt reconnection attempts inside submit() too.
        self._cancel = cancel or threading.Event()

    # Connection -------------------------------------------------------------------------------
    def connect(self) -> None:
        """Connect now (the first submit does it otherwise); raises AMQPError/OSError when down."""
        if self._connection is not None and self._connection.is_open:
            return
        connection = pika.BlockingConnection(self._params)
        channel = connection.channel()
        channel.confirm_delivery()
        self._queues.declare_tasks(channel)
        self._queues.declare_results(channel, self._run_id)
        channel.basic_qos(prefetch_count=self.prefetch)
        self._consumer = channel.basic_consume(self.results_queue, self._on_result)
        self._connection, self._channel = connection, channel
        self._epoch += 1
        self._backoff.reset()

    def _drop(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None and connection.is_open:
            try:
                connection.close()
            except AMQPError:
                pass

    def _with_broker(self, action) -> None:
        """Run ``action()`` on a live connection, reconnecting with capped backoff until it works
        (or the cancel event is set)."""
        while True:
            try:
                self.connect()
                action()
                return
            except (AMQPError, OSError) as exc:
                self._drop()
                delay = self._backoff.next()
                log.warning("broker %s unavailable (%s: %s); retrying in %.1f s",
                            redacted(self.url), type(exc).__name__, exc, delay)
                if self._cancel.wait(delay):
                    raise EvaluationCancelled from None

    def _publish(self, order: TrainingOrder) -> None:
        properties = pika.BasicProperties(
            delivery_mode=PERSISTENT,
            content_type="application/json",
            message_id=order.order_id,
            correlation_id=order.order_id,
            reply_to=self.results_queue,
        )
        self._channel.basic_publish("", self.queue, order.to_json(), properties, mandatory=True)

    def _on_result(self, _channel, method, _properties, body: bytes) -> None:
        try:
            result = TrainingOrderResult.from_json(body)
        except InvalidMessage as exc:
            log.error("dropping a message on %s that is not a result: %s", self.results_queue, exc)
            self._channel.basic_ack(method.delivery_tag)
            return
        self._ready.append((self._epoch, method.delivery_tag, result))

    # Evaluator --------------------------------------------------------------------------------
    def submit(self, order: TrainingOrder) -> None:
        # A confirmed publish is safe with the broker (durable queue, persistent message); only
        # one that failed is published again, on a new connection.
        self._orders[order.order_id] = order
        self._with_broker(lambda: self._publish(order))

    def next_result(self, cancel: threading.Event) -> TrainingOrderResult:
        self._cancel = cancel
        while True:
            while self._ready:
                epoch, tag, result = self._ready.popleft()
                if result.kind == "refused":
                    self._ack(epoch, tag)
                    retry = self._refused(result)
                    if retry is not None:
                        return retry
                    continue
                self._tags[id(result)] = (epoch, tag)
                return result
            if cancel.is_set():
                raise EvaluationCancelled
            self._with_broker(lambda: self._connection.process_data_events(time_limit=0.2))

    def _refused(self, result: TrainingOrderResult) -> TrainingOrderResult | None:
        order = self._orders.get(result.order_id)
        if order is None:
            return None
        self._refusals[result.order_id] += 1
        if self._refusals[result.order_id] >= self.max_refusals:
            message = f"refused {self._refusals[result.order_id]} times, last by {result.worker}: {result.message}"
            return TrainingOrderResult(result.order_id, "error", message=message, worker=result.worker)
        log.warning("worker %s refused order %s (%s); publishing it again", result.worker, result.order_id,
                    result.message)
        self._with_broker(lambda: self._publish(order))
        return None

    def acknowledge(self, result: TrainingOrderResult) -> None:
        self._orders.pop(result.order_id, None)
        epoch, tag = self._tags.pop(id(result), (0, 0))
        self._ack(epoch, tag)

    def _ack(self, epoch: int, tag: int) -> None:
        # A tag from an older connection is void; the broker redelivers that message and the
        # search drops it as a repeat.
        if epoch != self._epoch or self._channel is None:
            return
        try:
            self._channel.basic_ack(tag)
        except (AMQPError, OSError):
            self._drop()

    def close(self, finished: bool = False) -> None:
        """Disconnect; a finished run also deletes its result queue (orders still queued are then
        dropped by the workers that take them)."""
        if self._channel is not None:
            try:
                self._channel.basic_cancel(self._consumer)
                if finished:
                    self._channel.queue_delete(self.results_queue)
            except (AMQPError, OSError):
                pass
        self._drop()
        self._orders.clear()
        self._ready.clear()
        self._tags.clear()
