"""Batch orders: large training batches filled in shards, in the service or by batch processors.

Two backends share one interface (:class:`BatchOrders`): the embedded one (threads inside the
service, the default) and RabbitMQ (``dicebox batch-processor`` processes), chosen by
``Config.broker_url``. pika is imported only by the RabbitMQ modules, and only when used.
"""

from __future__ import annotations

from dicebox.batches.orders import (
    BatchOrders,
    BrokerUnavailable,
    InvalidOrder,
    ItemsReleased,
    OrderError,
    OrderExpired,
    OrderFailed,
    OrderNotFound,
    OrderPlan,
    OrderStatus,
    ShardOrder,
)
from dicebox.config import Config
from dicebox.store import DatasetStore

__all__ = [
    "BatchOrders",
    "BrokerUnavailable",
    "InvalidOrder",
    "ItemsReleased",
    "OrderError",
    "OrderExpired",
    "OrderFailed",
    "OrderNotFound",
    "OrderPlan",
    "OrderStatus",
    "ShardOrder",
    "create_orders",
]


def create_orders(config: Config, store: DatasetStore) -> BatchOrders:
    """The backend the configuration asks for; cheap: no thread or connection starts here."""
    service = config.sensory_service
    if config.broker_url is None:
        from dicebox.batches.embedded import EmbeddedOrders

        return EmbeddedOrders(store, shard_size=service.shard_size, expiry_seconds=service.order_expiry_seconds)
    from dicebox.batches.rabbitmq import RabbitOrders
    from dicebox.broker.queues import BatchQueues

    return RabbitOrders(store, config.broker_url, BatchQueues.from_config(config),
                        shard_size=service.shard_size, expiry_seconds=service.order_expiry_seconds)
