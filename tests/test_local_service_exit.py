"""A local service child that dies is reported to its owner; one that is stopped is not."""

from __future__ import annotations

import os
import signal
import threading

import pytest
from helpers import API_KEY

from dicebox.client.local_service import LocalService

pytestmark = pytest.mark.timeout(120)


def test_a_child_that_dies_is_reported_with_its_status(tmp_path, monkeypatch):
    monkeypatch.setenv("DICEBOX_API_ACCESS_KEY", API_KEY)
    exited = []
    heard = threading.Event()
    service = LocalService(tmp_path / "data", on_exit=lambda status: (exited.append(status), heard.set()))
    service.start()
    try:
        os.kill(service.pid, signal.SIGKILL)
        assert heard.wait(10), "nobody was told the service died"
        assert exited == [-signal.SIGKILL]
        assert not service.running
    finally:
        service.stop()


def test_a_child_that_is_stopped_is_not_reported(tmp_path, monkeypatch):
    monkeypatch.setenv("DICEBOX_API_ACCESS_KEY", API_KEY)
    exited = []
    service = LocalService(tmp_path / "data", on_exit=exited.append)
    service.start()
    reader = service._reader
    service.stop()
    reader.join(10)
    assert exited == []
