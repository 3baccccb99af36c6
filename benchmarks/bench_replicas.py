"""Throughput through HAProxy with 1, 2 and 3 ``dicebox serve`` replicas on one data folder.

For each replica count: stores/s (``--clients`` threads storing distinct 60x50 PNGs through the
balancer for ``--seconds``), then batch images/s (orders of ``--batch`` images, noise 0.1, placed and
collected through the balancer, the embedded backend filling them). Every replica is a separate
process; they share this machine's cores with HAProxy and the clients, so the figures show the
overhead and contention of replicas here, not what separate machines would give.

    python benchmarks/bench_replicas.py [--replicas 1 2 3] [--seconds 10] [--clients 8] [--batch 5000]

Needs haproxy on the PATH (apt-get install haproxy).
"""

from __future__ import annotations

import argparse
import base64
import itertools
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import requests

from dicebox.images import read_npz

KEY = "bench-key-0123456789"
HEADERS = {"API-ACCESS-KEY": KEY, "API-VERSION": "0.3.0"}
DATASET = "dice_60x50"
HAPROXY = """global
    maxconn 1024
    tune.bufsize 131072
defaults
    mode http
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    option http-server-close
    option http-buffer-request
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response
frontend dicebox
    bind 127.0.0.1:{front}
    default_backend replicas
backend replicas
    balance roundrobin
{servers}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def png(i: int) -> bytes:
    rng = np.random.default_rng(i)
    return cv2.imencode(".png", rng.integers(0, 256, (50, 60), np.uint8))[1].tobytes()


def start_replica(data: Path, port: int) -> subprocess.Popen:
    env = {**os.environ, "DICEBOX_API_ACCESS_KEY": KEY, "DICEBOX_BROKER_URL": ""}
    proc = subprocess.Popen(
        [sys.executable, "-m", "dicebox", "serve", "--port", str(port), "--data-dir", str(data)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    wait_up(f"http://127.0.0.1:{port}")
    return proc


def wait_up(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/api/v1/health", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def stores_per_second(url: str, seconds: float, clients: int, counter: itertools.count) -> float:
    done = [0] * clients
    stop = time.monotonic() + seconds

    def client(n: int) -> None:
        with requests.Session() as session:
            session.headers.update(HEADERS)
            while time.monotonic() < stop:
                i = next(counter)
                body = {
                    "name": "dice",
                    "width": 60,
                    "height": 50,
                    "category": str(i % 3),
                    "data": base64.b64encode(png(i)).decode(),
                }
                answer = session.post(f"{url}/api/sensory/store", json=body, timeout=60)
                answer.raise_for_status()
                done[n] += 1

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(done) / (time.monotonic() - started)


def batch_images_per_second(url: str, batch: int, orders: int) -> float:
    """``orders`` orders at once (one client each), placed and collected through the balancer."""
    totals = [0] * orders

    def one(n: int) -> None:
        with requests.Session() as session:
            session.headers.update(HEADERS)
            placed = session.post(
                f"{url}/api/v1/datasets/{DATASET}/orders", json={"batch_size": batch, "noise": 0.1}, timeout=60
            )
            placed.raise_for_status()
            order_id = placed.json()["order_id"]
            got = 0
            while got < batch:
                answer = session.post(f"{url}/api/v1/orders/{order_id}/items?start={got}&max=2000&wait=5", timeout=60)
                answer.raise_for_status()
                got += len(read_npz(answer.content).images)
            session.delete(f"{url}/api/v1/orders/{order_id}", timeout=60)
            totals[n] = got

    threads = [threading.Thread(target=one, args=(n,)) for n in range(orders)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(totals) / (time.monotonic() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicas", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--orders", type=int, default=3, help="orders placed and collected at once")
    args = parser.parse_args()
    haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
    counter = itertools.count()
    print(
        f"{os.cpu_count()} cores; {args.clients} storing clients for {args.seconds:g} s; "
        f"{args.orders} orders of {args.batch} images at once"
    )
    print("replicas  stores/s  batch images/s")
    for count in args.replicas:
        with tempfile.TemporaryDirectory() as tmp:
            data = Path(tmp) / "data"
            data.mkdir()
            ports = [free_port() for _ in range(count)]
            front = free_port()
            replicas = [start_replica(data, port) for port in ports]
            config = Path(tmp) / "haproxy.cfg"
            servers = "\n".join(f"    server r{n} 127.0.0.1:{port}" for n, port in enumerate(ports))
            config.write_text(HAPROXY.format(front=front, servers=servers))
            balancer = subprocess.Popen(
                [haproxy, "-f", str(config), "-db"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            url = f"http://127.0.0.1:{front}"
            try:
                wait_up(url)
                stores = stores_per_second(url, args.seconds, args.clients, counter)
                images = batch_images_per_second(url, args.batch, args.orders)
                print(f"{count:8d}  {stores:8.0f}  {images:14.0f}", flush=True)
            finally:
                balancer.terminate()
                balancer.wait()
                for proc in replicas:
                    proc.terminate()
                for proc in replicas:
                    proc.wait(timeout=60)


if __name__ == "__main__":
    main()
