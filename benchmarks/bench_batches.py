"""Batch order throughput: a 20,000-image order (60x50 grayscale) delivered to the client as arrays.

Prints images/s for: reading the arrays straight from the store's decoded cache (in process, and over
HTTP through ``GET /api/v1/datasets/<id>/arrays``); an order filled by the embedded backend (in
process, and collected over HTTP as npz); an order filled through RabbitMQ by 1 and by 2
``dicebox batch-processor`` processes; and the original protocol's shape through the same broker: one
persistent, confirmed JSON message of pixel lists per image, decoded back into arrays. Every figure
is the best of ``--repeat`` runs on warm caches.

    python benchmarks/bench_batches.py [--images 20000] [--json-images 20000] [--broker amqp://...]

Needs a RabbitMQ broker for the last three (default amqp://guest:guest@127.0.0.1:5672/%2F).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import cv2
import numpy as np
import pika

from dicebox.batches.embedded import EmbeddedOrders
from dicebox.client.http import SensoryClient
from dicebox.config import load_config
from dicebox.service import create_app, service_context
from dicebox.service.server import ServiceServer
from dicebox.store import DatasetStore

KEY = "bench-key"
DATASET = "dice_60x50"


def synthetic_store(home: Path, count: int) -> DatasetStore:
    """``count`` distinct noisy 60x50 grayscale images in 6 categories, written in the store's layout."""
    rng = np.random.default_rng(7)
    base = rng.integers(0, 256, (6, 50, 60), dtype=np.uint8)
    data = home / "datasets" / DATASET / "data"
    for category in range(6):
        (data / str(category)).mkdir(parents=True, exist_ok=True)
    for i in range(count):
        image = base[i % 6] ^ rng.integers(0, 32, (50, 60), dtype=np.uint8)
        cv2.imwrite(str(data / str(i % 6) / f"{uuid.uuid4().hex}.png"), image)
    store = DatasetStore(home / "datasets")
    assert len(store.dataset(DATASET).arrays()) == count  # indexes the folders and fills the decoded cache
    return store


def best(runs: int, work) -> float:
    """The shortest of ``runs`` timings of ``work()`` (which checks its own result)."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def report(name: str, count: int, seconds: float) -> float:
    rate = count / seconds
    print(f"{name:<52} {seconds * 1000:8.0f} ms {rate:10.0f} images/s", flush=True)
    return rate


def serve(config, store: DatasetStore):
    app = create_app(config, store=store)
    server = ServiceServer(app, "127.0.0.1", 0, threads=8).start()
    return app, server, SensoryClient(server.url, KEY, timeout=120)


def start_processors(home: Path, env: dict, count: int) -> list[subprocess.Popen]:
    procs = []
    for _ in range(count):
        proc = subprocess.Popen([sys.executable, "-m", "dicebox", "batch-processor", "--data-dir", str(home)],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                env={**os.environ, **env, "PYTHONUNBUFFERED": "1"})
        for line in proc.stdout:
            if "waiting for orders" in line:
                break
        else:
            raise RuntimeError("batch processor did not start")
        threading.Thread(target=proc.stdout.read, daemon=True).start()  # keep its pipe drained
        procs.append(proc)
    return procs


def json_per_image(broker: str, images: np.ndarray, labels: np.ndarray, n_classes: int) -> float:
    """The original shape: each image one persistent, confirmed JSON message; consumed into arrays."""
    queue = f"dicebox.bench.json.{uuid.uuid4().hex[:8]}"
    received: list[np.ndarray] = []
    done = threading.Event()

    def consume() -> None:
        connection = pika.BlockingConnection(pika.URLParameters(broker))
        channel = connection.channel()
        channel.basic_qos(prefetch_count=100)
        channel.queue_declare(queue, durable=True)

        def on_message(ch, method, _props, body) -> None:
            item = json.loads(body)
            received.append(np.array(item["data"], np.uint8))
            ch.basic_ack(method.delivery_tag)
            if len(received) == len(images):
                ch.stop_consuming()

        channel.basic_consume(queue, on_message)
        ready.set()
        channel.start_consuming()
        channel.queue_delete(queue)
        connection.close()
        done.set()

    setup = pika.BlockingConnection(pika.URLParameters(broker))
    setup.channel().queue_declare(queue, durable=True)
    setup.close()
    ready = threading.Event()
    consumer = threading.Thread(target=consume, daemon=True)
    consumer.start()
    ready.wait()
    eye = np.eye(n_classes, dtype=np.int64)
    start = time.perf_counter()
    connection = pika.BlockingConnection(pika.URLParameters(broker))
    channel = connection.channel()
    channel.confirm_delivery()
    persistent = pika.BasicProperties(delivery_mode=2, content_type="application/json")
    for image, label in zip(images, labels, strict=True):
        body = json.dumps({"label": eye[label].tolist(), "data": image.tolist()})
        channel.basic_publish("", queue, body.encode(), persistent)
    connection.close()
    done.wait()
    seconds = time.perf_counter() - start
    assert len(received) == len(images) and received[0].shape == images[0].shape
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20_000, help="order size (and data set size)")
    parser.add_argument("--json-images", type=int, default=20_000, help="images sent one JSON message each")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--broker", default="amqp://guest:guest@127.0.0.1:5672/%2F")
    args = parser.parse_args()
    n = args.images

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        start = time.perf_counter()
        store = synthetic_store(home, n)
        dataset = store.dataset(DATASET)
        print(f"{n} synthetic 60x50 grayscale images stored and cached in {time.perf_counter() - start:.1f} s")
        base_env = {"DICEBOX_HOME": str(home), "DICEBOX_API_ACCESS_KEY": KEY}

        def from_cache() -> None:
            data = dataset.arrays()
            chosen = np.random.default_rng().permutation(len(data))[:n]
            assert len(data.images[chosen]) == n

        cache = report("store cache, in process (arrays() + selection copy)", n, best(args.repeat, from_cache))
        backend = EmbeddedOrders(store)

        def embedded_order() -> None:
            order_id = backend.place(DATASET, n)
            _check(backend.take(order_id, n, 0, wait=60), n)
            backend.cancel(order_id)

        embedded_local = report("order, embedded backend, in process (no HTTP)", n, best(args.repeat, embedded_order))
        backend.close()

        app, server, client = serve(load_config(env=base_env), store)
        try:
            http_arrays = report("store cache over HTTP (GET .../arrays, npz)", n,
                                 best(args.repeat, lambda: client.arrays(DATASET)))
            embedded = report("order, embedded backend (HTTP, npz collects)", n,
                              best(args.repeat, lambda: _check(client.large_batch(DATASET, n), n)))
        finally:
            client.close()
            server.close()
            service_context(app).batches.close()

        suffix = uuid.uuid4().hex[:8]
        names = {
            "DICEBOX_BROKER_URL": args.broker,
            "DICEBOX_RABBITMQ_EXCHANGE": f"dicebox.bench.{suffix}",
            "DICEBOX_RABBITMQ_BATCH_REQUEST_ROUTING_KEY": f"bench.{suffix}",
            "DICEBOX_RABBITMQ_BATCH_REQUEST_TASK_QUEUE": f"dicebox.bench.{suffix}.tasks",
        }
        rabbit = {}
        app, server, client = serve(load_config(env={**base_env, **names}), store)
        processors: list[subprocess.Popen] = []
        try:
            for count in (1, 2):
                processors += start_processors(home, {**names, "DICEBOX_API_ACCESS_KEY": KEY}, count - len(processors))
                _check(client.large_batch(DATASET, n), n)  # new processors decode the data set once
                rabbit[count] = report(f"order, RabbitMQ, {count} batch processor(s)", n,
                                       best(args.repeat, lambda: _check(client.large_batch(DATASET, n), n)))
        finally:
            for proc in processors:
                proc.terminate()
            for proc in processors:
                proc.wait(timeout=30)
            client.close()
            server.close()
            service_context(app).batches.close()
            _delete_topology(args.broker, names)

        data = dataset.arrays()
        m = min(args.json_images, len(data))
        chosen = np.random.default_rng(1).permutation(len(data))[:m]
        seconds = json_per_image(args.broker, data.images[chosen], data.labels[chosen], len(data.categories))
        original = report("original shape: one JSON message per image (RabbitMQ)", m, seconds)
        store.close()

    print()
    print(f"RabbitMQ (2 processors) vs one JSON message per image: {rabbit[2] / original:6.1f}x  (goal >= 20x)")
    print(f"RabbitMQ (1 processor)  vs one JSON message per image: {rabbit[1] / original:6.1f}x")
    print(f"embedded order takes {http_arrays / embedded:5.2f}x the time of the store cache, both over HTTP"
          "   (goal <= 2x)")
    print(f"embedded order takes {cache / embedded_local:5.2f}x the time of the store cache, both in process"
          " (goal <= 2x)")


def _check(batch, n: int) -> None:
    assert len(batch) == n and batch.images.dtype == np.uint8


def _delete_topology(broker: str, names: dict) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(broker))
    channel = connection.channel()
    channel.queue_delete(names["DICEBOX_RABBITMQ_BATCH_REQUEST_TASK_QUEUE"])
    channel.exchange_delete(names["DICEBOX_RABBITMQ_EXCHANGE"])
    connection.close()


if __name__ == "__main__":
    main()
