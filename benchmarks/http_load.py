"""A lean HTTP load generator: pre-built keep-alive requests over raw sockets, one process each.

``requests`` costs more CPU per call than the service does for a cheap route, so a benchmark
driven by it partly measures the client. This one spends a few microseconds per request, so the
service is what runs out first.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import socket
import time


def build_post(path: str, body: dict, headers: dict[str, str], host: str) -> bytes:
    data = json.dumps(body).encode()
    head = (f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n")
    return head.encode() + data


def _read_response(sock: socket.socket, buffer: bytes) -> tuple[int, bytes]:
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        buffer += chunk
    head, _, rest = buffer.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        rest += chunk
    return int(head[9:12]), rest[length:]


def _connection(host: str, port: int, requests: list[bytes], start, results) -> None:
    sock = socket.create_connection((host, port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    start.wait()
    buffer, failed = b"", 0
    for request in requests:
        sock.sendall(request)
        status, buffer = _read_response(sock, buffer)
        failed += status >= 300
    sock.close()
    results.put(failed)


def hammer(host: str, port: int, requests: list[bytes], connections: int) -> float:
    """Requests per second with ``connections`` keep-alive connections (one process each)."""
    per = len(requests) // connections
    context = mp.get_context("fork")
    start, results = context.Event(), context.Queue()
    workers = [context.Process(target=_connection,
                               args=(host, port, requests[k * per : (k + 1) * per], start, results))
               for k in range(connections)]
    for worker in workers:
        worker.start()
    time.sleep(0.5)  # every connection open and waiting
    began = time.perf_counter()
    start.set()
    failed = sum(results.get() for _ in workers)
    elapsed = time.perf_counter() - began
    for worker in workers:
        worker.join()
    if failed:
        raise RuntimeError(f"{failed} requests failed")
    return per * connections / elapsed
