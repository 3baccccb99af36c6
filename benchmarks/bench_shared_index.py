"""Replicas on a shared data folder, each with its own local index (``dicebox serve --index-dir``).

Prints:

- visibility latency: how long after one replica acknowledged a store the others list it (their
  data set's counts include it), p50/p90/p99/max over ``--samples`` stores, first with nothing
  else going on, then while ``--clients`` clients store into the other replicas all along;
- store throughput of one replica, single-image requests (``/api/sensory/store``) and 1,000 images
  per request, with its index in the data folder (the single-machine default) against a local
  index (``--index-dir``).

Every replica is a separate process on this machine's disk, so this measures what the design
costs (change logs read every ``--refresh`` seconds, files written before the answer), not a
network file system's round trips.

    python benchmarks/bench_shared_index.py [--samples 300] [--replicas 3] [--refresh 0.1] [--seconds 8]
"""

from __future__ import annotations

import argparse
import base64
import itertools
import os
import random
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

KEY = "bench-key-0123456789"
HEADERS = {"API-ACCESS-KEY": KEY, "API-VERSION": "0.3.0"}
DATASET = "dice_60x50"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def png(i: int) -> str:
    rng = np.random.default_rng(i)
    return base64.b64encode(cv2.imencode(".png", rng.integers(0, 256, (50, 60), np.uint8))[1].tobytes()).decode()


def start(data: Path, index_dir: Path | None, refresh: float) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "DICEBOX_API_ACCESS_KEY": KEY, "DICEBOX_BROKER_URL": "",
           "DICEBOX_INDEX_REFRESH_SECONDS": str(refresh)}
    extra = ["--index-dir", str(index_dir)] if index_dir else []
    proc = subprocess.Popen(
        [sys.executable, "-m", "dicebox", "serve", "--port", str(port), "--data-dir", str(data), *extra],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if requests.get(f"{url}/api/v1/health", timeout=2).status_code == 200:
                return proc, url
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"{url} did not come up")
        time.sleep(0.1)


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


def category_count(session: requests.Session, url: str, category: str) -> int:
    info = session.get(f"{url}/api/v1/datasets/{DATASET}", timeout=10).json()
    return next((c["count"] for c in info["categories"] if c["name"] == category), 0)


def visibility(writer: str, readers: list[str], samples: int, counter: itertools.count) -> list[float]:
    """Seconds from a store's answer on ``writer`` until every reader counts it (one store at a time)."""
    latencies: list[float] = []
    with requests.Session() as session:
        session.headers.update(HEADERS)
        before = category_count(session, writer, "probe")
        for n in range(before, before + samples):
            body = {"name": "dice", "width": 60, "height": 50, "category": "probe", "data": png(next(counter))}
            session.post(f"{writer}/api/sensory/store", json=body, timeout=30).raise_for_status()
            acknowledged = time.monotonic()
            for reader in readers:
                while category_count(session, reader, "probe") < n + 1:
                    if time.monotonic() - acknowledged > 30:
                        raise RuntimeError(f"a store on {writer} was not seen on {reader} within 30 s")
                    time.sleep(0.002)
                latencies.append(time.monotonic() - acknowledged)
            time.sleep(random.uniform(0.0, 0.05))  # not in step with the readers' refresh
    return latencies


def storing(urls: list[str], clients: int, stop_at: threading.Event, counter: itertools.count, done: list[int]) -> list:
    def client(n: int) -> None:
        with requests.Session() as session:
            session.headers.update(HEADERS)
            url = urls[n % len(urls)]
            while not stop_at.is_set():
                i = next(counter)
                body = {"name": "dice", "width": 60, "height": 50, "category": str(i % 3), "data": png(i)}
                session.post(f"{url}/api/sensory/store", json=body, timeout=60).raise_for_status()
                done[n] += 1

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(clients)]
    for thread in threads:
        thread.start()
    return threads


def throughput(url: str, seconds: float, clients: int, counter: itertools.count) -> tuple[float, float]:
    """Single-image stores/s with ``clients`` connections, then images/s at 1,000 per request."""
    done = [0] * clients
    stop_at = threading.Event()
    started = time.monotonic()
    threads = storing([url], clients, stop_at, counter, done)
    time.sleep(seconds)
    stop_at.set()
    for thread in threads:
        thread.join()
    single = sum(done) / (time.monotonic() - started)
    images = 0
    started = time.monotonic()
    with requests.Session() as session:
        session.headers.update(HEADERS)
        while time.monotonic() - started < seconds:
            items = [{"category": str(i % 3), "data": png(i)} for i in itertools.islice(counter, 1000)]
            session.post(f"{url}/api/v1/datasets/{DATASET}/images", json={"images": items}, timeout=120).raise_for_status()
            images += len(items)
    return single, images / (time.monotonic() - started)


def summary(latencies: list[float]) -> str:
    ms = np.array(latencies) * 1000
    p50, p90, p99 = np.percentile(ms, [50, 90, 99])
    return f"p50 {p50:5.0f} ms  p90 {p90:5.0f} ms  p99 {p99:5.0f} ms  max {ms.max():5.0f} ms  ({len(ms)} samples)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--refresh", type=float, default=0.1, help="[DIRECTORY] index_refresh_seconds")
    parser.add_argument("--seconds", type=float, default=8.0, help="per throughput measurement")
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    counter = itertools.count()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        replicas = [start(root / "shared", root / f"index-{n}", args.refresh) for n in range(args.replicas)]
        urls = [url for _, url in replicas]
        try:
            print(f"{args.replicas} replicas on one data folder, each with its own index, refresh {args.refresh} s:")
            idle = visibility(urls[0], urls[1:], args.samples, counter)
            print(f"  seen by the others, idle:        {summary(idle)}")
            done = [0] * args.clients
            stop_at = threading.Event()
            started = time.monotonic()
            threads = storing(urls[1:], args.clients, stop_at, counter, done)
            try:
                busy = visibility(urls[0], urls[1:], args.samples, counter)
            finally:
                stop_at.set()
                for thread in threads:
                    thread.join()
            rate = sum(done) / (time.monotonic() - started)
            print(f"  seen by the others, under load:  {summary(busy)}  ({rate:.0f} stores/s on the others)")
        finally:
            for proc, _url in replicas:
                stop(proc)
        print(f"one replica, {args.clients} connections, {args.seconds:.0f} s each:")
        for label, index_dir in (("index in the data folder (default)", None), ("local index (--index-dir)", root / "x")):
            data = root / f"alone-{'local' if index_dir else 'default'}"
            proc, url = start(data, index_dir, args.refresh)
            try:
                single, many = throughput(url, args.seconds, args.clients, counter)
            finally:
                stop(proc)
            print(f"  {label:36s} {single:6.0f} single-image stores/s  {many:7.0f} images/s at 1,000 per request")


if __name__ == "__main__":
    main()
