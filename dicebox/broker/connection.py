"""Connecting to RabbitMQ: parameters that fail fast, URLs safe to print, and the consume loop
that reconnects (:func:`consume_until_stopped`)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from urllib.parse import urlsplit

import pika
from pika.adapters.blocking_connection import BlockingChannel
from pika.exceptions import AMQPError

from dicebox.plumbing.backoff import Backoff

log = logging.getLogger(__name__)

PERSISTENT = 2  # AMQP delivery mode: written to disk by the broker


def connection_parameters(
    url: str, *, name: str, heartbeat: int = 30, timeout: float = 3.0, blocked_timeout: float = 10.0
) -> pika.URLParameters:
    """Parameters that fail fast when the broker is unreachable and notice a dead peer.

    Settings given in the URL's query (``?heartbeat=...``) win.
    """
    params = pika.URLParameters(url)
    query = urlsplit(url).query
    if "heartbeat" not in query:
        params.heartbeat = heartbeat
    if "socket_timeout" not in query:
        params.socket_timeout = timeout
    if "stack_timeout" not in query:
        params.stack_timeout = timeout + 2
    if "blocked_connection_timeout" not in query:
        # A broker that blocks publishers (memory or disk alarm) must not hang a request forever.
        params.blocked_connection_timeout = blocked_timeout
    params.connection_attempts = 1
    params.client_properties = {"connection_name": name}
    return params


def training_parameters(url: str, *, name: str, heartbeat: int = 30) -> pika.URLParameters:
    """Evolution connections: training takes long, so a blocked broker is waited on longer."""
    return connection_parameters(url, name=name, heartbeat=heartbeat, timeout=5.0, blocked_timeout=30.0)


def redacted(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def consume_until_stopped(
    url: str,
    params: pika.URLParameters,
    stop: threading.Event,
    backoff: Backoff,
    subscribe: Callable[[pika.BlockingConnection], BlockingChannel],
    *,
    on_first_connect: Callable[[], None] | None = None,
    before_close: Callable[[pika.BlockingConnection, BlockingChannel], None] | None = None,
) -> None:
    """Connect, ``subscribe``, and serve deliveries until ``stop`` is set; when the broker goes
    away, reconnect with ``backoff``.

    ``before_close`` runs on a clean stop (to let a delivery under way finish). Deliveries not
    acknowledged when a connection closes go back to their queue, for another consumer.
    """
    connected_once = False
    while not stop.is_set():
        connection = None
        try:
            connection = pika.BlockingConnection(params)
            channel = subscribe(connection)
            backoff.reset()
            if not connected_once and on_first_connect is not None:
                on_first_connect()
            connected_once = True
            while not stop.is_set():
                connection.process_data_events(time_limit=0.5)
            if before_close is not None:
                before_close(connection, channel)
        except (AMQPError, OSError) as exc:
            delay = backoff.next()
            log.warning("broker at %s unavailable (%s: %s); reconnecting in %.1f s",
                        redacted(url), type(exc).__name__, exc, delay)
            stop.wait(delay)
        finally:
            if connection is not None and connection.is_open:
                try:
                    connection.close()
                except AMQPError:
                    pass
