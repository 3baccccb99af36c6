"""SIGTERM drains a replica: no new connections, the requests under way are finished, then it exits."""

from __future__ import annotations

import base64
import json
import signal
import socket
import time

import requests
from helpers import API_KEY, make_png
from service_process import start_service, stop_service

HEADERS = {"API-ACCESS-KEY": API_KEY, "API-VERSION": "0.3.0"}


def test_sigterm_finishes_the_request_under_way_and_refuses_new_ones(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    proc, url = start_service(data)
    try:
        host, port = url.removeprefix("http://").split(":")
        body = json.dumps(
            {"name": "dice", "width": 60, "height": 50, "category": "a", "data": base64.b64encode(make_png(1)).decode()}
        ).encode()
        head = (
            f"POST /api/sensory/store HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nAPI-ACCESS-KEY: {API_KEY}\r\nAPI-VERSION: 0.3.0\r\n\r\n"
        ).encode()
        with socket.create_connection((host, int(port)), timeout=20) as sock:
            sock.sendall(head + body[:100])
            time.sleep(0.3)
            stopped = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            time.sleep(0.5)
            # A new client is turned away (a load balancer sends it to another replica) ...
            try:
                refused = requests.get(f"{url}/api/v1/health", timeout=2).status_code
            except requests.ConnectionError:
                refused = "refused"
            assert refused == "refused"
            # ... while the request under way is finished and answered.
            sock.sendall(body[100:])
            answer = b""
            while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
        assert b'"sensory_store":true' in answer.replace(b" ", b"")
        assert proc.wait(timeout=30) == 0
        assert time.monotonic() - stopped < 20, "drained within the bound"
    finally:
        stop_service(proc)
    # The acknowledged image is there for the next replica.
    proc, url = start_service(data)
    try:
        info = requests.get(f"{url}/api/v1/datasets/dice_60x50", headers=HEADERS, timeout=10).json()
        assert info["count"] == 1, info
    finally:
        stop_service(proc)
