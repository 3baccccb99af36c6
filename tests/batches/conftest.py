"""Fixtures for batch orders: a small service config, the real RabbitMQ broker with per-test names."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass

import pytest
from batch_support import BROKER_URL, broker_problem, ensure_broker_running
from helpers import API_KEY

from dicebox.broker.connection import redacted


@dataclass
class Broker:
    url: str
    env: dict[str, str]  # configuration for the service and the processors: unique names for this test

    @property
    def task_queue(self) -> str:
        return self.env["DICEBOX_RABBITMQ_BATCH_REQUEST_TASK_QUEUE"]

    @property
    def exchange(self) -> str:
        return self.env["DICEBOX_RABBITMQ_EXCHANGE"]


@pytest.fixture
def broker():
    """The broker (127.0.0.1:5672) with names unique to this test; they are deleted afterwards.

    Missing broker: the test fails when CI is set, and is skipped otherwise.
    """
    import pika

    problem = broker_problem()
    if problem:
        message = f"RabbitMQ is not reachable at {redacted(BROKER_URL)} ({problem}); start it: rabbitmq-server -detached"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    suffix = uuid.uuid4().hex[:12]
    env = {
        "DICEBOX_API_ACCESS_KEY": API_KEY,
        "DICEBOX_BROKER_URL": BROKER_URL,
        "DICEBOX_RABBITMQ_EXCHANGE": f"dicebox.test.{suffix}",
        "DICEBOX_RABBITMQ_BATCH_REQUEST_ROUTING_KEY": f"task.{suffix}",
        "DICEBOX_RABBITMQ_BATCH_REQUEST_TASK_QUEUE": f"dicebox.test.{suffix}.tasks",
        "DICEBOX_SHARD_SIZE": "50",
        # Result queues left behind by a failing test vanish by themselves after a minute.
        "DICEBOX_ORDER_EXPIRY_SECONDS": "60",
    }
    yield Broker(BROKER_URL, env)
    if broker_problem():
        ensure_broker_running()
    connection = pika.BlockingConnection(pika.URLParameters(BROKER_URL))
    try:
        channel = connection.channel()
        channel.queue_delete(env["DICEBOX_RABBITMQ_BATCH_REQUEST_TASK_QUEUE"])
        channel.exchange_delete(env["DICEBOX_RABBITMQ_EXCHANGE"])
    finally:
        connection.close()

