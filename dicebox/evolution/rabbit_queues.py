"""What the search and the ``dicebox worker`` processes agree on in RabbitMQ.

Training orders go to one durable queue (default ``dicebox.evolution.orders``) as persistent
JSON messages whose ``reply_to`` names the run's durable result queue
(``dicebox.evolution.results.<run id>``). The broker deletes a result queue nobody has used for
``RESULT_QUEUE_EXPIRY_HOURS`` (an abandoned run); a finished run deletes its own.
"""

from __future__ import annotations

import random
from urllib.parse import urlsplit

import pika
from pika.adapters.blocking_connection import BlockingChannel

ORDERS_QUEUE = "dicebox.evolution.orders"
RESULTS_PREFIX = "dicebox.evolution.results."
RESULT_QUEUE_EXPIRY_HOURS = 72
PERSISTENT = 2  # AMQP delivery mode: the broker writes the message to disk


def result_queue(run_id: str) -> str:
    return RESULTS_PREFIX + run_id


def declare_orders(channel: BlockingChannel, queue: str = ORDERS_QUEUE) -> None:
    channel.queue_declare(queue, durable=True)


def declare_results(channel: BlockingChannel, queue: str, expiry_hours: float = RESULT_QUEUE_EXPIRY_HOURS) -> None:
    channel.queue_declare(queue, durable=True, arguments={"x-expires": int(expiry_hours * 3600 * 1000)})


def parameters(url: str, *, name: str, heartbeat: int = 30, timeout: float = 5.0) -> pika.URLParameters:
    """Connection parameters that fail fast and notice a dead peer; settings in the URL win."""
    params = pika.URLParameters(url)
    query = urlsplit(url).query
    if "heartbeat" not in query:
        params.heartbeat = heartbeat
    if "socket_timeout" not in query:
        params.socket_timeout = timeout
    if "blocked_connection_timeout" not in query:
        params.blocked_connection_timeout = 30
    params.connection_attempts = 1
    params.client_properties = {"connection_name": name}
    return params


def redacted(url: str) -> str:
    """The URL without user and password, for messages and logs."""
    parts = urlsplit(url)
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    return f"{parts.scheme}://{parts.hostname or 'localhost'}{port}{parts.path}"


class Backoff:
    """Capped exponential delays with jitter between reconnection attempts."""

    def __init__(self, initial: float = 0.2, cap: float = 10.0) -> None:
        self.initial, self.cap = initial, cap
        self._next = initial
        self._rng = random.Random()

    def next(self) -> float:
        delay = self._next
        self._next = min(self.cap, self._next * 2)
        return delay * (1 - 0.2 * self._rng.random())

    def reset(self) -> None:
        self._next = self.initial
