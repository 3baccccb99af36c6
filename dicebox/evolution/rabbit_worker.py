"""``dicebox worker``: train evolution orders from RabbitMQ with the local data set store.

It runs the broker's confirmed worker loop (:mod:`dicebox.broker.worker`): the result goes to the
order's ``reply_to`` queue, persistent and confirmed, and only then is the order acknowledged. A
worker killed at any point leaves its order unacknowledged and the broker gives it to another
worker; the search records a repeated result once.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable

from dicebox.broker.connection import training_parameters
from dicebox.broker.queues import TrainingQueues
from dicebox.broker.worker import ConfirmedWorker, RejectTask, Reply
from dicebox.evolution.fitness import FakeFitnessRefused, evaluate_order, fitness_for
from dicebox.evolution.training_orders import InvalidMessage, TrainingOrder, TrainingOrderResult
from dicebox.images import LabelledImages

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
        queue: str = TrainingQueues.task_queue,
        heartbeat: int = 30,
        on_ready: Callable[[str], None] | None = None,
        on_order: Callable[[TrainingOrder], None] | None = None,
    ) -> None:
        self.url = url
        self.load = load
        self.queue = queue
        self.on_order = on_order
        self.name = f"{socket.gethostname()}:{os.getpid()}"
        self._cancel_training = threading.Event()
        queues = TrainingQueues(task_queue=queue)
        # Prefetch 1: a worker holds one order at a time.
        self._worker: ConfirmedWorker[tuple[TrainingOrder, str]] = ConfirmedWorker(
            url, training_parameters(url, name=f"dicebox worker {self.name}", heartbeat=heartbeat), queue,
            declare=queues.declare_tasks, decode=self._decode, work=self._train, prefetch=1, on_ready=on_ready,
            thread_name="dicebox-train-order")

    @property
    def trained(self) -> int:
        """Orders whose results the broker has confirmed."""
        return self._worker.replied

    def stop(self) -> None:
        """Ask :meth:`run` to return; an order in training is abandoned (the broker redelivers it)."""
        self._worker.stop()
        self._cancel_training.set()

    def run(self) -> None:
        """Train orders until :meth:`stop`."""
        self._worker.run()

    @staticmethod
    def _decode(body: bytes, properties) -> tuple[TrainingOrder, str]:
        try:
            order = TrainingOrder.from_json(body)
        except InvalidMessage as exc:
            raise RejectTask(f"not a training order: {exc}") from None
        if not properties.reply_to:
            raise RejectTask(f"order {order.order_id} has no reply_to")
        return order, properties.reply_to

    def _train(self, task: tuple[TrainingOrder, str]) -> Reply | None:
        order, reply_to = task
        result = self._evaluate(order)
        if result is None:
            return None
        return Reply(reply_to, result.to_json(), "application/json", message_id=result.order_id,
                     correlation_id=result.order_id, what=f"training order {result.order_id}")

    def _evaluate(self, order: TrainingOrder) -> TrainingOrderResult | None:
        from dicebox.nets.training import TrainingCancelled

        if self.on_order is not None:
            self.on_order(order)
        try:
            fitness = fitness_for(order.spec)
            data = self.load(order.dataset_id, order.dataset_version)
            return evaluate_order(order, data, fitness, self._cancel_training, worker=self.name)
        except (DataUnavailable, FakeFitnessRefused) as exc:
            log.warning("refusing order %s: %s", order.order_id, exc)
            return TrainingOrderResult(order.order_id, "refused", message=str(exc), worker=self.name)
        except TrainingCancelled:
            return None
        except Exception as exc:  # noqa: BLE001 - reported to the search, which stops the run with it
            log.exception("order %s failed", order.order_id)
            return TrainingOrderResult(order.order_id, "error", message=f"{type(exc).__name__}: {exc}", worker=self.name)
