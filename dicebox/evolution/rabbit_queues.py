"""What the search and the ``dicebox worker`` processes agree on in RabbitMQ.

Training orders go to one durable queue (default ``dicebox.evolution.orders``) as persistent
JSON messages whose ``reply_to`` names the run's durable result queue
(``dicebox.evolution.results.<run id>``). The broker deletes a result queue nobody has used for
``RESULT_QUEUE_EXPIRY_HOURS`` (an abandoned run); a finished run deletes its own.
"""

from __future__ import annotations

import pika
from pika.adapters.blocking_connection import BlockingChannel

from dicebox.backoff import Backoff  # noqa: F401 - re-exported for the evolution's broker modules
from dicebox.rabbit_connection import PERSISTENT, connection_parameters, redacted  # noqa: F401 - re-exported


def parameters(url: str, *, name: str, heartbeat: int = 30) -> pika.URLParameters:
    """Evolution connections: training takes long, so a blocked broker is waited on longer."""
    return connection_parameters(url, name=name, heartbeat=heartbeat, timeout=5.0, blocked_timeout=30.0)


ORDERS_QUEUE = "dicebox.evolution.orders"
RESULTS_PREFIX = "dicebox.evolution.results."
RESULT_QUEUE_EXPIRY_HOURS = 72


def result_queue(run_id: str) -> str:
    return RESULTS_PREFIX + run_id


def declare_orders(channel: BlockingChannel, queue: str = ORDERS_QUEUE) -> None:
    channel.queue_declare(queue, durable=True)


def declare_results(channel: BlockingChannel, queue: str, expiry_hours: float = RESULT_QUEUE_EXPIRY_HOURS) -> None:
    channel.queue_declare(queue, durable=True, arguments={"x-expires": int(expiry_hours * 3600 * 1000)})


