"""Idle connections against ``dicebox serve``: how long until ``/api/v1/health`` answers again.

Opens N TCP connections that send nothing (or, with ``--trickle``, one header byte a second, as a
slow client or a slowloris attack does), then asks for ``/api/v1/health`` on a fresh connection and
times the answer. Also reports when the service had closed every idle connection.

    python benchmarks/bench_idle_connections.py --idle 105 300 [--trickle] [--give-up 600]
"""

from __future__ import annotations

import argparse
import selectors
import socket
import tempfile
import threading
import time
from pathlib import Path

from service_child import start_service

KEY = "bench-idle-connections-key-0123456789"


def health_seconds(port: int, give_up: float) -> float:
    """Seconds until GET /api/v1/health answers 200 on a new connection (inf when it never did)."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=give_up) as sock:
        sock.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
        try:
            answer = sock.recv(64)
        except TimeoutError:
            return float("inf")
    return time.monotonic() - started if answer.startswith(b"HTTP/1.1 200") else float("inf")


def closed_after(sockets: list[socket.socket], started: float, give_up: float) -> float:
    """Seconds from ``started`` until the service had closed every one of ``sockets``."""
    selector = selectors.DefaultSelector()
    for sock in sockets:
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ)
    open_count = len(sockets)
    while open_count and time.monotonic() - started < give_up:
        for key, _ in selector.select(timeout=1):
            try:
                data = key.fileobj.recv(4096)
            except (ConnectionResetError, BlockingIOError):
                data = b""
            if not data:
                selector.unregister(key.fileobj)
                open_count -= 1
    return time.monotonic() - started if not open_count else float("inf")


def trickle(sockets: list[socket.socket], stop: threading.Event) -> None:
    """One byte of a never-ending request header per connection per second."""
    for sock in sockets:
        sock.sendall(b"GET /api/v1/health HTTP/1.1\r\n")
    while not stop.wait(1.0):
        for sock in sockets:
            try:
                sock.send(b"X")
            except OSError:
                pass


def run(port: int, idle: int, trickling: bool, give_up: float) -> tuple[float, float]:
    sockets = [socket.create_connection(("127.0.0.1", port)) for _ in range(idle)]
    stop = threading.Event()
    if trickling:
        threading.Thread(target=trickle, args=(sockets, stop), daemon=True).start()
    time.sleep(0.5)  # let the service accept what it will
    started = time.monotonic()
    try:
        answered = health_seconds(port, give_up)
        stop.set()
        closed = closed_after(sockets, started, give_up)
    finally:
        stop.set()
        for sock in sockets:
            sock.close()
    return answered, closed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--idle", type=int, nargs="+", default=[105, 300], help="idle connections per round")
    parser.add_argument("--trickle", action="store_true", help="send one header byte a second on each")
    parser.add_argument("--give-up", type=float, default=600.0, help="seconds to wait at most")
    args = parser.parse_args()
    kind = "trickling" if args.trickle else "idle"
    for idle in args.idle:
        with tempfile.TemporaryDirectory() as scratch:
            proc, url = start_service(Path(scratch) / "data", KEY)
            port = int(url.rsplit(":", 1)[1])
            try:
                answered, closed = run(port, idle, args.trickle, args.give_up)
            finally:
                proc.terminate()
                proc.wait(timeout=30)
        print(
            f"{idle:5d} {kind} connections: /api/v1/health answered after {answered:7.2f} s; "
            f"all {kind} connections closed by the service after {closed:7.2f} s",
            flush=True,
        )


if __name__ == "__main__":
    main()
