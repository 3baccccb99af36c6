"""Fixtures for the evolution tests: tiny data, a fake fitness, the RabbitMQ broker."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "networks"))

BROKER_URL = os.environ.get("DICEBOX_TEST_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")


def _broker_reachable() -> bool:
    parts = urlsplit(BROKER_URL)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5672), timeout=2):
            return True
    except OSError:
        return False


@pytest.fixture
def broker_url() -> str:
    """The test broker; missing, the test skips, but fails under CI=true (CI must run it)."""
    if not _broker_reachable():
        message = f"RabbitMQ broker not reachable at {BROKER_URL} (start it: rabbitmq-server -detached)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return BROKER_URL


@pytest.fixture
def tiny_data():
    from evolution_fakes import tiny_images

    return tiny_images()
