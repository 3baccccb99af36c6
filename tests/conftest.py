"""Shared fixtures: a fresh data folder per test, the service in process and over real HTTP."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402
from helpers import API_KEY  # noqa: E402

from dicebox.config import load_config  # noqa: E402


@pytest.fixture
def env(tmp_path):
    return {"DICEBOX_HOME": str(tmp_path / "home"), "DICEBOX_API_ACCESS_KEY": API_KEY}


@pytest.fixture
def config(env):
    return load_config(env=env)


@pytest.fixture
def app(config):
    from dicebox.service import create_app, service_context

    application = create_app(config)
    yield application
    service_context(application).close()


@pytest.fixture
def http(app):
    """Flask's test client with the headers an original client sends."""
    client = app.test_client()
    client.environ_base.update({"HTTP_API_ACCESS_KEY": API_KEY, "HTTP_API_VERSION": "0.3.0"})
    return client


@pytest.fixture
def live_service(app):
    """The same app served by waitress on a free port: (url, app)."""
    from dicebox.service.server import ServiceServer

    server = ServiceServer(app, "127.0.0.1", 0, threads=8).start()
    yield server.url, app
    server.close()


@pytest.fixture
def sensory_client(live_service):
    from dicebox.client.http import SensoryClient

    url, _app = live_service
    client = SensoryClient(url, API_KEY, retries=1, backoff=0.05)
    yield client
    client.close()
