"""Sensory service throughput over localhost, 60x50 grayscale PNGs (issue: foundation).

Prints: single-image store requests/s against an empty endpoint on the same server stack (same
auth, same waitress, same client), measured twice:

- with the service in a process of its own, as deployed, driven by a lean raw-socket load
  generator (``http_load.py``) that leaves the service as the bottleneck, in interleaved rounds,
  with the service's CPU time per request; beside the store, the ceiling: bench-only routes that
  do only the least any durable store must do before answering (sync the bytes in the request
  thread, or wait for another thread or process to sync them), so a store's ratio can be read
  against the best this stack and this disk allow;
- in one process, with ``requests`` clients on threads beside the service (as before);

then the many-images store in images/s, and a 10,000-image training batch through the native
binary route against the compatible JSON route.

    python benchmarks/bench_service.py [--requests 2000] [--clients 4] [--rounds 6] [--threads 8]
"""

from __future__ import annotations

import argparse
import base64
import logging
import os
import queue
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
from flask import jsonify, request

from dicebox.client.http import SensoryClient
from dicebox.config import load_config
from dicebox.service import create_app, service_context
from dicebox.service.server import ServiceServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import http_load  # noqa: E402 - a sibling script, not a package

KEY = "bench-key"
HEADERS = {"API-ACCESS-KEY": KEY, "API-VERSION": "0.3.0"}


def pngs(count: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (50, 60, 1), dtype=np.uint8)
    out = []
    for i in range(count):
        image = base.copy()
        image.flat[i % image.size] ^= 0xFF
        image.flat[(i * 7919) % image.size] = i % 251
        out.append(base64.b64encode(cv2.imencode(".png", image)[1].tobytes()).decode())
    return out


def hammer(url: str, bodies: list | None, requests_total: int, clients: int, method: str = "post") -> float:
    """Requests per second with ``clients`` keep-alive sessions sharing ``requests_total`` calls."""
    per_client = requests_total // clients
    barrier = threading.Barrier(clients + 1)

    def worker(n: int) -> None:
        session = requests.Session()
        session.headers.update(HEADERS)
        barrier.wait()
        for i in range(per_client):
            if bodies is None:
                answer = session.get(url)
            else:
                answer = session.post(url, json=bodies[n * per_client + i])
            assert answer.status_code < 300, answer.text

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    return per_client * clients / (time.perf_counter() - start)


def bench_app(home: str, floors: bool = False):
    """The service as ``dicebox serve`` builds it, plus an empty route on the same stack.

    With ``floors``, also the bench-only routes that measure what any durable store must at least
    do on this stack (see :func:`add_floor_routes`), and ``/api/bench/settle``, which writes the
    pending files so that no measurement pays for the one before it.
    """
    config = load_config(env={"DICEBOX_HOME": home, "DICEBOX_API_ACCESS_KEY": KEY})
    app = create_app(config)
    app.add_url_rule("/api/bench/empty", "empty", lambda: jsonify({}), methods=["GET", "POST"])
    if floors:
        add_floor_routes(app, Path(home))
    return app


def add_floor_routes(app, home: Path) -> None:
    """Routes that do nothing but the least a durable store must do before it answers.

    A store is durable when its bytes are on disk, so its answer waits for an fsync one of two
    ways: the request thread syncs itself (``/api/bench/fsync``), or it hands the bytes to another
    thread that syncs for everyone waiting and wakes it (``/api/bench/group-fsync``, the group
    commit). ``/api/bench/handoff`` is the bare wait for another thread, with no disk at all.
    ``/api/bench/process-fsync`` hands the bytes to a process that syncs them, as a store process
    would. No image is decoded, checked or indexed: a real store can only be slower than these.
    """
    fd = os.open(home / "floor.bin", os.O_CREAT | os.O_RDWR, 0o600)
    os.pwrite(fd, bytes(1 << 16), 0)
    os.fsync(fd)
    sync = getattr(os, "fdatasync", os.fsync)

    def fsync_in_request():
        os.pwrite(fd, request.get_data(), 0)
        sync(fd)
        return jsonify({})

    def handed_to_a_thread(with_disk: bool):
        """A route that waits for one thread serving every waiting request at once."""
        waiting: queue.SimpleQueue = queue.SimpleQueue()

        def serve_waiting() -> None:
            while True:
                batch = [waiting.get()]
                while not waiting.empty():
                    batch.append(waiting.get())
                if with_disk:
                    for data, _ in batch:
                        os.pwrite(fd, data, 0)
                    sync(fd)
                for _, done in batch:
                    done.set()

        def route():
            done = threading.Event()
            waiting.put((request.get_data(), done))
            done.wait()
            return jsonify({})

        threading.Thread(target=serve_waiting, daemon=True).start()
        return route

    app.add_url_rule("/api/bench/fsync", "fsync", fsync_in_request, methods=["POST"])
    app.add_url_rule("/api/bench/group-fsync", "group_fsync", handed_to_a_thread(with_disk=True), methods=["POST"])
    app.add_url_rule("/api/bench/handoff", "handoff", handed_to_a_thread(with_disk=False), methods=["POST"])

    # The same group fsync by another process: no GIL shared with the request threads at all.
    address = str(home / "floor.sock")
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(address)
    listener.listen(64)
    subprocess.Popen([sys.executable, "-c", _GROUP_FSYNC_PROCESS, str(listener.fileno()), str(home / "floor2.bin")],
                     pass_fds=[listener.fileno()], stdout=subprocess.DEVNULL)
    connections = threading.local()

    def other_process():
        if not hasattr(connections, "socket"):
            connections.socket = socket.socket(socket.AF_UNIX)
            connections.socket.connect(address)
        connections.socket.sendall(request.get_data())
        connections.socket.recv(16)
        return jsonify({})

    app.add_url_rule("/api/bench/process-fsync", "process_fsync", other_process, methods=["POST"])

    def settle():
        store = service_context(app).store
        for ident in store.dataset_ids():
            store.dataset(ident).flush()
        return jsonify({})

    app.add_url_rule("/api/bench/settle", "settle", settle, methods=["POST"])


_GROUP_FSYNC_PROCESS = """
import os, selectors, socket, sys
listener = socket.socket(fileno=int(sys.argv[1]))
fd = os.open(sys.argv[2], os.O_CREAT | os.O_RDWR, 0o600)
selector = selectors.DefaultSelector()
selector.register(listener, selectors.EVENT_READ)
service = os.getppid()
while os.getppid() == service:  # ends with the service
    ready = []
    for key, _ in selector.select(timeout=1.0):
        if key.fileobj is listener:
            selector.register(listener.accept()[0], selectors.EVENT_READ)
            continue
        data = key.fileobj.recv(1 << 20)
        if not data:
            selector.unregister(key.fileobj)
            continue
        os.pwrite(fd, data, 0)
        ready.append(key.fileobj)
    if ready:
        os.fdatasync(fd)
        for client in ready:
            client.sendall(b"k")
"""


def serve(home: str, threads: int) -> None:
    """The service process of the separate-process measurement (quiet, as ``dicebox serve`` is)."""
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    server = ServiceServer(bench_app(home, floors=True), "127.0.0.1", 0, threads=threads)
    print(server.port, flush=True)
    server.serve_forever()


FLOORS = [("/api/bench/fsync", "fsync in the request thread"),
          ("/api/bench/group-fsync", "group fsync by another thread"),
          ("/api/bench/process-fsync", "group fsync by another process"),
          ("/api/bench/handoff", "bare wait for another thread")]


def separate_process(images: list[str], clients: int, rounds: int, threads: int = 8) -> None:
    """Interleaved rounds: empty, store, then the floors, so that drift in the machine's speed
    (other tenants of a VM) falls on every route alike. Files left pending by a store round are
    written, untimed, before the next round starts."""
    per = len(images) // rounds
    with tempfile.TemporaryDirectory() as home:
        service = subprocess.Popen([sys.executable, __file__, "--serve", home, "--threads", str(threads)], stdout=subprocess.PIPE, text=True)
        try:
            port = int(service.stdout.readline())

            def cpu_seconds() -> float:
                fields = open(f"/proc/{service.pid}/stat").read().rsplit(")", 1)[1].split()
                return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

            def run(path: str, bodies: list[dict]) -> tuple[float, float]:
                requests_ = [http_load.build_post(path, b, HEADERS, "127.0.0.1") for b in bodies]
                before = cpu_seconds()
                rate = http_load.hammer("127.0.0.1", port, requests_, clients)
                return rate, cpu_seconds() - before

            def settle() -> None:
                requests.post(f"http://127.0.0.1:{port}/api/bench/settle", headers=HEADERS, timeout=600).raise_for_status()

            def bodies(chunk: list[str]) -> list[dict]:
                return [{"name": "dice", "width": 60, "height": 50, "category": str(i % 6), "data": d}
                        for i, d in enumerate(chunk)]

            fixed = bodies(images[:per])
            run("/api/bench/empty", fixed[:300])  # warm up
            routes = ["/api/bench/empty", "/api/sensory/store"] + [path for path, _ in FLOORS]
            rates: dict[str, list[float]] = {path: [] for path in routes}
            cpu: dict[str, float] = dict.fromkeys(routes, 0.0)
            for k in range(rounds):
                for path in routes:
                    chunk = bodies(images[k * per : (k + 1) * per]) if path == "/api/sensory/store" else fixed
                    rate, seconds = run(path, chunk)
                    rates[path].append(rate)
                    cpu[path] += seconds
                    if path == "/api/sensory/store":
                        settle()

            def overall(path: str) -> float:  # requests/s over all rounds together
                return rounds / sum(1 / r for r in rates[path])

            empty = overall("/api/bench/empty")

            def line(label: str, path: str) -> str:
                ratios = sorted(a / b for a, b in zip(rates[path], rates["/api/bench/empty"], strict=True))
                return (f"  {label:38s} {overall(path):7.0f} requests/s  ratio {overall(path) / empty:.2f} "
                        f"(rounds {ratios[0]:.2f}-{ratios[-1]:.2f})  {cpu[path] / (rounds * per) * 1e6:5.0f} us service CPU each")

            print(f"  service in its own process ({threads} request threads), lean load generator, {clients} connections, "
                  f"{rounds} interleaved rounds of {per} requests:")
            print(f"  {'empty endpoint':38s} {empty:7.0f} requests/s"
                  f"{'':38s}{cpu['/api/bench/empty'] / (rounds * per) * 1e6:5.0f} us service CPU each")
            print(line("single-image store, durable", "/api/sensory/store") + "  (goal >= 0.80)")
            print("  the least any durable store does before answering, with no image work (the ceiling):")
            for path, label in FLOORS:
                print(line(label, path))
        finally:
            service.terminate()
            service.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=6, help="interleaved rounds of the separate-process measurement")
    parser.add_argument("--threads", type=int, default=8, help="the service's request threads ([SERVER] threads)")
    parser.add_argument("--serve", metavar="HOME", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.threads)
        return

    if sys.platform.startswith("linux"):
        separate_process(pngs(args.requests * 2, seed=2), args.clients, args.rounds, args.threads)
    with tempfile.TemporaryDirectory() as home:
        app = bench_app(home)
        server = ServiceServer(app, "127.0.0.1", 0, threads=8).start()
        url = server.url
        try:
            images = pngs(args.requests + args.batch, seed=1)
            store_bodies = [{"name": "dice", "width": 60, "height": 50, "category": str(i % 6), "data": d}
                            for i, d in enumerate(images[: args.requests])]
            empty_bodies = [{"name": "dice", "width": 60, "height": 50, "category": "0", "data": d}
                            for d in images[: args.requests]]
            hammer(f"{url}/api/bench/empty", empty_bodies[:200], 200, args.clients)  # warm up
            empty = hammer(f"{url}/api/bench/empty", empty_bodies, args.requests, args.clients)
            single = hammer(f"{url}/api/sensory/store", store_bodies, args.requests, args.clients)
            print(f"  service and requests clients in one process ({args.clients} threads):")
            print(f"  empty endpoint (same body, auth, server): {empty:8.0f} requests/s")
            print(f"  single-image store, durable:              {single:8.0f} requests/s  "
                  f"ratio {single / empty:.2f} (goal >= 0.80)")

            client = SensoryClient(url, KEY, timeout=120)
            service_context(app).store.dataset("dice_60x50").flush()  # start settled, as above
            bulk = [(base64.b64decode(d), str(i % 6)) for i, d in enumerate(images[args.requests:])]
            start = time.perf_counter()
            for chunk in range(0, len(bulk), 1000):
                client.store_images("dice_60x50", bulk[chunk : chunk + 1000])
            many = len(bulk) / (time.perf_counter() - start)
            print(f"many-images store (1000 per request):     {many:8.0f} images/s  (goal >= 3000)")
            # Stores are durable when answered; the PNG files are written behind. How long that takes:
            dataset = service_context(app).store.dataset("dice_60x50")
            waiting, start = dataset.index.pending_count(), time.perf_counter()
            while dataset.index.pending_count():
                time.sleep(0.05)
            behind = time.perf_counter() - start
            print(f"  then {waiting} files written behind in {behind:.1f} s "
                  f"({waiting / max(behind, 1e-9):.0f} files/s)")

            total = client.dataset_info("dice_60x50")["count"]
            n = min(args.batch, total)
            client.batch("dice_60x50", 10)  # fill the decoded cache once, as a running service has
            start = time.perf_counter()
            native = client.batch("dice_60x50", n, noise=0.0)
            native_s = time.perf_counter() - start
            start = time.perf_counter()
            answer = requests.post(f"{url}/api/sensory/request", json={"batch_size": n, "noise": 0.0},
                                   headers=HEADERS, timeout=600)
            answer.raise_for_status()
            labels = np.array(answer.json()["labels"])
            compat_s = time.perf_counter() - start
            assert native.images.shape[0] == labels.shape[0] == n
            print(f"{n}-image batch, native binary (npz):    {native_s * 1000:8.0f} ms")
            print(f"{n}-image batch, compatible JSON:        {compat_s * 1000:8.0f} ms  "
                  f"native is {compat_s / native_s:.0f}x faster (goal >= 50x)")
        finally:
            server.close()
            service_context(app).store.close()  # finish writing files before the folder goes


if __name__ == "__main__":
    main()
