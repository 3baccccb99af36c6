"""Connections that send nothing, or send their request too slowly, cannot lock clients out."""

from __future__ import annotations

import socket
import threading
import time

import pytest
import requests
from helpers import API_KEY

from dicebox.service.server import ServiceServer


@pytest.fixture
def serve(app):
    servers = []

    def start(**settings) -> ServiceServer:
        server = ServiceServer(app, "127.0.0.1", 0, threads=4, **settings).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def sockets():
    opened: list[socket.socket] = []

    def open_many(server: ServiceServer, count: int) -> list[socket.socket]:
        new = [socket.create_connection(("127.0.0.1", server.port), timeout=5) for _ in range(count)]
        opened.extend(new)
        return new

    yield open_many
    for sock in opened:
        sock.close()


def health_seconds(server: ServiceServer, timeout: float) -> float:
    started = time.monotonic()
    answer = requests.get(f"{server.url}/api/v1/health", timeout=timeout)
    assert answer.status_code == 200 and answer.json()["status"] == "ok"
    return time.monotonic() - started


def closed_by_server(sock: socket.socket, within: float) -> bool:
    """True when the server closes ``sock`` within ``within`` seconds (reading whatever it sends)."""
    deadline = time.monotonic() + within
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            if not sock.recv(4096):
                return True
        except TimeoutError:
            return False
        except ConnectionResetError:
            return True
    return False


def test_150_idle_connections_leave_health_answering(serve, sockets):
    server = serve()  # the settings dicebox serve uses
    sockets(server, 150)
    time.sleep(0.5)
    assert health_seconds(server, timeout=10) < 2


def test_idle_connections_are_closed_after_the_idle_bound(serve, sockets):
    server = serve(idle_seconds=1)
    idle = sockets(server, 150)
    started = time.monotonic()
    assert all(closed_by_server(sock, within=max(0.1, 4 - (time.monotonic() - started))) for sock in idle)
    assert health_seconds(server, timeout=5) < 1


def test_beyond_the_connection_limit_the_longest_idle_make_room(serve, sockets):
    server = serve(connection_limit=20)  # the default idle bound (10 s) plays no part here
    arriving = sockets(server, 1)[0]
    arriving.sendall(b"GET /api/v1/health HTTP/1.1\r\n")  # half a request: not idle, kept
    idle = sockets(server, 40)
    time.sleep(0.3)
    assert health_seconds(server, timeout=10) < 2
    assert closed_by_server(idle[0], within=2), "the oldest idle connection made room"
    arriving.sendall(b"Host: t\r\n\r\n")
    assert arriving.recv(64).startswith(b"HTTP/1.1 200")


def test_a_request_trickling_in_is_closed(serve, sockets):
    server = serve(idle_seconds=5, request_seconds=1)
    slow = sockets(server, 10)
    stop = threading.Event()

    def trickle():
        for sock in slow:
            sock.sendall(b"GET /api/v1/health HTTP/1.1\r\n")
        while not stop.wait(0.2):
            for sock in slow:
                try:
                    sock.send(b"X")
                except OSError:
                    pass

    sender = threading.Thread(target=trickle, daemon=True)
    sender.start()
    try:
        assert all(closed_by_server(sock, within=4) for sock in slow), "a byte every 0.2 s must not hold a slot"
    finally:
        stop.set()
        sender.join()


def test_a_slow_but_steady_upload_and_a_keep_alive_client_are_served(serve, app):
    server = serve(idle_seconds=2, request_seconds=1, min_upload_rate=8192)
    body = b'{"name": "steady", "width": 8, "height": 8, "pad": "' + b"x" * 40_000 + b'"}'
    head = (
        f"POST /api/v1/datasets HTTP/1.1\r\nHost: t\r\nAPI-ACCESS-KEY: {API_KEY}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(head)
        for start in range(0, len(body), 4000):  # 20 kB/s for two seconds
            sock.sendall(body[start : start + 4000])
            time.sleep(0.2)
        assert sock.recv(64).startswith(b"HTTP/1.1 201")
    with requests.Session() as session:
        for _ in range(3):  # a pause shorter than the idle bound keeps the connection
            assert session.get(f"{server.url}/api/v1/health", timeout=5).status_code == 200
            time.sleep(0.5)
