"""Connecting to RabbitMQ: parameters that fail fast, and URLs safe to print.

Shared by the batch-order backend and the evolution workers; pika is imported only in modules
whose names say ``rabbit``.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pika

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


def redacted(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    return f"{parts.scheme}://{host}{port}{parts.path}"
