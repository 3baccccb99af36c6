"""What the service and the batch processors agree on in RabbitMQ: names, queues, connection settings.

Names come from the original configuration keys (``sensory.exchange``, ``task_queue``,
``sensory.batch.request.task.queue`` by default). Each order's results go to a durable queue
named by the order id, which the broker deletes by itself (``x-expires``) once nobody uses it.
"""

from __future__ import annotations

from dataclasses import dataclass

from pika.adapters.blocking_connection import BlockingChannel

from dicebox.config import Config
from dicebox.rabbit_connection import PERSISTENT, connection_parameters, redacted  # noqa: F401 - re-exported


@dataclass(frozen=True)
class RabbitTopology:
    exchange: str = "sensory.exchange"
    routing_key: str = "task_queue"
    task_queue: str = "sensory.batch.request.task.queue"

    @classmethod
    def from_config(cls, config: Config) -> RabbitTopology:
        s = config.sensory_service
        return cls(s.rabbitmq_exchange, s.rabbitmq_batch_request_routing_key, s.rabbitmq_batch_request_task_queue)

    @staticmethod
    def result_queue(order_id: str) -> str:
        """The queue an order's shard results go to (named by the order id, as in the original)."""
        return order_id

    def declare_tasks(self, channel: BlockingChannel) -> None:
        """The durable exchange and task queue, bound; declaring is idempotent."""
        channel.exchange_declare(self.exchange, exchange_type="direct", durable=True)
        channel.queue_declare(self.task_queue, durable=True)
        channel.queue_bind(self.task_queue, self.exchange, routing_key=self.routing_key)

    def declare_results(self, channel: BlockingChannel, order_id: str, expiry_seconds: float) -> str:
        queue = self.result_queue(order_id)
        channel.queue_declare(queue, durable=True, arguments={"x-expires": max(1000, int(expiry_seconds * 1000))})
        return queue


