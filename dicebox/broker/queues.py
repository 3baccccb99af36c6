"""The queues each side of dicebox declares in RabbitMQ, in one style: a frozen description whose
``task_queue`` takes work, ``result_queue(key)`` names where one request's replies go, and whose
``declare_*`` methods are idempotent.

Batch orders keep the original's names (``sensory.exchange``, ``task_queue``,
``sensory.batch.request.task.queue``) and send each order's shards to a queue named by the order id.
Training orders go to ``dicebox.evolution.orders`` and each run's results to
``dicebox.evolution.results.<run id>``. Result queues are durable and deleted by the broker itself
(``x-expires``) once nobody uses them.
"""

from __future__ import annotations

from dataclasses import dataclass

from pika.adapters.blocking_connection import BlockingChannel

from dicebox.config import Config


def _declare_results(channel: BlockingChannel, queue: str, expiry_seconds: float) -> str:
    channel.queue_declare(queue, durable=True, arguments={"x-expires": max(1000, int(expiry_seconds * 1000))})
    return queue


@dataclass(frozen=True)
class BatchQueues:
    """Shard orders of large batches, filled by ``dicebox batch-processor``."""

    exchange: str = "sensory.exchange"
    routing_key: str = "task_queue"
    task_queue: str = "sensory.batch.request.task.queue"

    @classmethod
    def from_config(cls, config: Config) -> BatchQueues:
        s = config.sensory_service
        return cls(s.rabbitmq_exchange, s.rabbitmq_batch_request_routing_key, s.rabbitmq_batch_request_task_queue)

    @staticmethod
    def result_queue(order_id: str) -> str:
        """The queue an order's shard results go to (named by the order id, as in the original)."""
        return order_id

    def declare_tasks(self, channel: BlockingChannel) -> None:
        """The durable exchange and task queue, bound."""
        channel.exchange_declare(self.exchange, exchange_type="direct", durable=True)
        channel.queue_declare(self.task_queue, durable=True)
        channel.queue_bind(self.task_queue, self.exchange, routing_key=self.routing_key)

    def declare_results(self, channel: BlockingChannel, order_id: str, expiry_seconds: float) -> str:
        return _declare_results(channel, self.result_queue(order_id), expiry_seconds)


@dataclass(frozen=True)
class TrainingQueues:
    """Training orders of an evolution, trained by ``dicebox worker``."""

    task_queue: str = "dicebox.evolution.orders"
    results_prefix: str = "dicebox.evolution.results."
    #: An abandoned run's result queue is deleted after this long unused.
    result_expiry_seconds: float = 72 * 3600

    def result_queue(self, run_id: str) -> str:
        return self.results_prefix + run_id

    def declare_tasks(self, channel: BlockingChannel) -> None:
        channel.queue_declare(self.task_queue, durable=True)

    def declare_results(self, channel: BlockingChannel, run_id: str, expiry_seconds: float | None = None) -> str:
        return _declare_results(channel, self.result_queue(run_id), expiry_seconds or self.result_expiry_seconds)
