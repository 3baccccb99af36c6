"""``dicebox worker``: train evolution orders from RabbitMQ with the local data set store.

The connection's thread only talks to the broker (heartbeats keep flowing however long a
network trains); one training thread trains the order. It hands the result back with
``add_callback_threadsafe``; the connection thread publishes it (persistent, confirmed) to the
order's ``reply_to`` queue and only then acknowledges the order. Prefetch is 1: a worker holds
one order at a time. A worker killed at any point leaves its order unacknowledged and the
broker gives it to another worker; the search records a repeated result once.
"""

from __future__ import annotations

import functools
import logging
import os
import socket
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pika
from pika.exceptions import AMQPError, NackError, UnroutableError

from dicebox.evolution.fitness import FakeFitnessRefused, evaluate_order, fitness_for
from dicebox.evolution.orders import InvalidMessage, OrderResult, TrainingOrder
from dicebox.evolution.rabbit_queues import ORDERS_QUEUE, PERSISTENT, Backoff, declare_orders, parameters
from dicebox.labelled import LabelledImages
from dicebox.rabbit_connection import consume_until_stopped

log = logging.getLogger(__name__)


class DataUnavailable(Exception):
    """This worker does not have the order's data set at the order's version."""


#: ``load(dataset_id, version) -> images``; raises DataUnavailable.
DataLoader = Callable[[str, str], LabelledImages]


def store_loader(store) -> DataLoader:
    """Load orders' data sets from a :class:`~dicebox.store.DatasetStore`, checking the version."""
    from dicebox.store import StoreError

    def load(dataset_id: str, version: str) -> LabelledImages:
        try:
            data = store.dataset(dataset_id, create=False).arrays()
        except StoreError as exc:
            raise DataUnavailable(f"data set {dataset_id}: {exc}") from None
        if data.version != version:
            raise DataUnavailable(
                f"data set {dataset_id} here is version {data.version or '(empty)'}, the order needs {version}"
            )
        return data

    return load


class TrainingWorker:
    """Consumes training orders until :meth:`stop`; reconnects with capped backoff when the broker goes."""

    def __init__(
        self,
        url: str,
        load: DataLoader,
        *,
        queue: str = ORDERS_QUEUE,
        heartbeat: int = 30,
        on_ready: Callable[[str], None] | None = None,
        on_order: Callable[[TrainingOrder], None] | None = None,
    ) -> None:
        self.url = url
        self.load = load
        self.queue = queue
        self.on_ready = on_ready
        self.on_order = on_order
        self.name = f"{socket.gethostname()}:{os.getpid()}"
        self.trained = 0
        self._params = parameters(url, name=f"dicebox worker {self.name}", heartbeat=heartbeat)
        self._stop = threading.Event()
        self._cancel_training = threading.Event()
        self._backoff = Backoff()
        self._trainer = ThreadPoolExecutor(1, thread_name_prefix="dicebox-train-order")

    def stop(self) -> None:
        """Ask :meth:`run` to return; an order in training is abandoned (the broker redelivers it)."""
        self._stop.set()
        self._cancel_training.set()

    def run(self) -> None:
        """Train orders until :meth:`stop`."""
        ready = functools.partial(self.on_ready, self.queue) if self.on_ready else None
        try:
            consume_until_stopped(self.url, self._params, self._stop, self._backoff, self._subscribe,
                                  on_first_connect=ready)
        finally:
            self._trainer.shutdown(wait=True, cancel_futures=True)

    def _subscribe(self, connection: pika.BlockingConnection):
        channel = connection.channel()
        channel.confirm_delivery()
        channel.basic_qos(prefetch_count=1)
        declare_orders(channel, self.queue)
        channel.basic_consume(self.queue, functools.partial(self._on_order, connection))
        return channel

    # On the connection's thread ---------------------------------------------------------------
    def _on_order(self, connection, channel, method, properties, body: bytes) -> None:
        try:
            order = TrainingOrder.from_json(body)
        except InvalidMessage as exc:
            log.error("rejecting a message that is not a training order: %s", exc)
            channel.basic_reject(method.delivery_tag, requeue=False)
            return
        if not properties.reply_to:
            log.error("rejecting order %s without reply_to", order.order_id)
            channel.basic_reject(method.delivery_tag, requeue=False)
            return
        self._trainer.submit(self._work, connection, channel, method.delivery_tag, properties.reply_to, order)

    def _finish(self, channel, tag: int, reply_to: str, result: OrderResult | None) -> None:
        if result is None:
            channel.basic_nack(tag, requeue=True)
            return
        properties = pika.BasicProperties(
            delivery_mode=PERSISTENT,
            content_type="application/json",
            message_id=result.order_id,
            correlation_id=result.order_id,
        )
        try:
            channel.basic_publish("", reply_to, result.to_json(), properties, mandatory=True)
        except UnroutableError:
            log.info("the run of order %s is gone (finished or expired); result dropped", result.order_id)
        except NackError:
            log.warning("broker refused the result of order %s; it will be trained again", result.order_id)
            channel.basic_nack(tag, requeue=True)
            return
        # Only now is the result safe with the broker.
        channel.basic_ack(tag)
        self.trained += 1

    # On the training thread -------------------------------------------------------------------
    def _work(self, connection, channel, tag: int, reply_to: str, order: TrainingOrder) -> None:
        result = self._evaluate(order)
        try:
            connection.add_callback_threadsafe(functools.partial(self._finish, channel, tag, reply_to, result))
        except AMQPError:
            pass  # the connection is gone; the broker hands the order out again

    def _evaluate(self, order: TrainingOrder) -> OrderResult | None:
        from dicebox.training import TrainingCancelled

        if self.on_order is not None:
            self.on_order(order)
        try:
            fitness = fitness_for(order.spec)
            data = self.load(order.dataset_id, order.dataset_version)
            return evaluate_order(order, data, fitness, self._cancel_training, worker=self.name)
        except (DataUnavailable, FakeFitnessRefused) as exc:
            log.warning("refusing order %s: %s", order.order_id, exc)
            return OrderResult(order.order_id, "refused", message=str(exc), worker=self.name)
        except TrainingCancelled:
            return None
        except Exception as exc:  # noqa: BLE001 - reported to the search, which stops the run with it
            log.exception("order %s failed", order.order_id)
            return OrderResult(order.order_id, "error", message=f"{type(exc).__name__}: {exc}", worker=self.name)
