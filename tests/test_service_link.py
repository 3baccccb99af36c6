"""The session's service link without Qt: a real local service started, killed, restarted; a remote one checked."""

from __future__ import annotations

import os
import queue
import signal
import threading
import time

import pytest
from helpers import API_KEY

from dicebox.client.http import SensoryClient
from dicebox.client.local_service import LocalService
from dicebox.config import load_config
from dicebox.session.service_link import (
    Connected,
    Disconnected,
    Failed,
    HealthChanged,
    LinkEvent,
    LocalChanged,
    LogLine,
    NoteChanged,
    ServiceLink,
)

pytestmark = pytest.mark.timeout(180)


class Listener:
    """Every event the link emits, in order, waited for by type."""

    def __init__(self, link: ServiceLink) -> None:
        self.queue: queue.Queue[LinkEvent] = queue.Queue()
        self.seen: list[LinkEvent] = []
        link.events.connect(self.queue.put)

    def next(self, kind: type, timeout: float = 60.0, **fields) -> LinkEvent:
        while True:
            event = self.queue.get(timeout=timeout)
            self.seen.append(event)
            if isinstance(event, kind) and all(getattr(event, k) == v for k, v in fields.items()):
                return event


@pytest.fixture
def home_config(tmp_path, monkeypatch):
    monkeypatch.setenv("DICEBOX_API_ACCESS_KEY", API_KEY)
    return load_config(env={"DICEBOX_HOME": str(tmp_path / "home"), "DICEBOX_API_ACCESS_KEY": API_KEY})


@pytest.fixture
def link(home_config):
    link = ServiceLink(home_config, health_interval=0.2)
    yield link
    link.shutdown()
    assert link.local is None


def test_a_local_service_is_started_used_and_stopped_without_qt(link):
    events = Listener(link)
    link.start_local()
    starting = events.next(LocalChanged)
    assert starting.state.local is not None and starting.state.client is None, "shown as starting"
    connected = events.next(Connected)
    assert connected.state.kind == "local" and connected.state.healthy
    assert SensoryClient(connected.client.base_url, API_KEY).health()
    assert any(isinstance(e, LogLine) for e in events.seen), "the service's log is told"
    link.stop_local()
    stopped = events.next(Disconnected)
    assert stopped.why == "local service stopped"
    assert stopped.state.client is None and stopped.state.local is None and not stopped.state.healthy


def test_a_local_service_that_dies_is_told_dead_then_restarted_on_a_new_port(link):
    events = Listener(link)
    link.start_local()
    first = events.next(Connected)
    os.kill(link.local.pid, signal.SIGKILL)
    dropped = events.next(Disconnected)
    assert "exit status -9" in dropped.why and dropped.state.client is None
    assert any(isinstance(e, NoteChanged) and "restarted" in e.note for e in events.seen)
    again = events.next(Connected)
    assert again.state.url != first.state.url and link.local.running
    assert "restart 1 of 3" in again.state.note


def test_a_local_service_that_keeps_dying_is_left_dead(home_config):
    link = ServiceLink(home_config, health_interval=0.2)
    link.MAX_RESTARTS = 0
    events = Listener(link)
    try:
        link.start_local()
        events.next(Connected)
        service = link.local
        os.kill(service.pid, signal.SIGKILL)
        dead = events.next(Disconnected)
        assert dead.state.local_dead and dead.state.local is service and not service.running
        assert "not restarted" in dead.state.note
        link.toggle_local()  # the operator's Restart
        again = events.next(Connected)
        assert again.state.note == "" and not again.state.local_dead
    finally:
        link.shutdown()


def test_a_remote_service_is_checked_used_and_watched(link, app):
    from dicebox.service.server import ServiceServer

    server = ServiceServer(app, "127.0.0.1", 0, threads=4).start()
    events = Listener(link)
    link.connect_remote("http://127.0.0.1:9", API_KEY)
    failed = events.next(Failed, timeout=20)
    assert failed.title == "Cannot connect" and "127.0.0.1:9" in failed.message
    assert link.client is None and link.kind == "none", "a failed connect changes nothing"
    link.connect_remote("ftp://x", API_KEY)
    assert "not an http" in events.next(Failed, timeout=1).message
    link.connect_remote(server.url, "wrong key")
    assert "refused the API key" in events.next(Failed, timeout=20).message
    assert link.client is None
    link.connect_remote(server.url + "/", API_KEY)
    connected = events.next(Connected, timeout=20)
    assert connected.state.kind == "remote" and connected.client.base_url == server.url
    server.close()
    gone = events.next(HealthChanged, timeout=20, healthy=False)
    assert gone.state.client is connected.client, "unreachable is not disconnected: the spool waits for it"


def test_a_local_service_started_from_a_thread_that_ends_keeps_running(home_config):
    service = LocalService(home_config.home)
    starter = threading.Thread(target=service.start)
    starter.start()
    starter.join()
    try:
        time.sleep(1.0)
        assert service.running, "the child was killed when the thread that started it ended"
        assert SensoryClient(service.url, API_KEY).health()
    finally:
        service.stop()
