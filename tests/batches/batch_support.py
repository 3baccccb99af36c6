"""Helpers for the batch order tests: data sets with known content, batch processors as child processes."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
from helpers import make_png

from dicebox.images import LabelledImages
from dicebox.store import Dataset

# The broker the tests use; another one can be named for a CI job.
BROKER_URL = os.environ.get("DICEBOX_TEST_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")


def broker_problem() -> str:
    """Why the broker at 127.0.0.1:5672 cannot be used, or "" when it can."""
    import pika

    params = pika.URLParameters(BROKER_URL)
    params.connection_attempts = 1
    params.socket_timeout = 2
    try:
        pika.BlockingConnection(params).close()
    except (pika.exceptions.AMQPError, OSError) as exc:
        return repr(exc)
    return ""


def ensure_broker_running() -> None:
    """Start the broker's application if it is stopped (a test restarting it may have failed midway)."""
    subprocess.run(["rabbitmqctl", "start_app"], capture_output=True, timeout=120)
    subprocess.run(["rabbitmqctl", "await_startup"], capture_output=True, timeout=120)


def fill_dataset(dataset: Dataset, count: int, categories: int = 3) -> dict[bytes, str]:
    """Store ``count`` distinct images; returns {pixels: category} to check what orders deliver."""
    dataset.store_many([(make_png(i), str(i % categories)) for i in range(count)])
    data = dataset.arrays()
    return {image.tobytes(): data.categories[label] for image, label in zip(data.images, data.labels, strict=True)}


def expected_selection(dataset: Dataset, batch_size: int, seed: int) -> set[bytes]:
    """The images an order with this seed must deliver (noise 0): the order's seeded selection."""
    data = dataset.arrays()
    chosen = np.random.default_rng(seed).choice(len(data), size=batch_size, replace=False)
    return {data.images[i].tobytes() for i in chosen}


def assert_exact(items: LabelledImages, truth: dict[bytes, str], batch_size: int,
                 expected: set[bytes] | None = None) -> None:
    """Exactly ``batch_size`` items, none repeated, each a stored image with its own label."""
    assert len(items) == batch_size
    keys = [image.tobytes() for image in items.images]
    assert len(set(keys)) == batch_size, f"{batch_size - len(set(keys))} duplicated item(s)"
    for key, label in zip(keys, items.labels, strict=True):
        assert truth[key] == items.categories[label]
    if expected is not None:
        assert set(keys) == expected


class Processor:
    """``dicebox -v batch-processor`` as a child process; its output is kept to read progress from."""

    def __init__(self, data_dir: Path, env: dict[str, str], *extra: str) -> None:
        child_env = {**os.environ, "PYTHONUNBUFFERED": "1", **env}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "dicebox", "-v", "batch-processor", "--data-dir", str(data_dir), *extra],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=child_env,
        )
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        if not self.wait_for("waiting for orders on", 30):
            self.kill()
            raise RuntimeError("batch processor did not start:\n" + self.output())

    def _read(self) -> None:
        for line in self.proc.stdout:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def wait_for(self, text: str, timeout: float) -> str | None:
        """The first output line containing ``text``, waiting up to ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for line in self.lines:
                    if text in line:
                        return line
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self._reader.is_alive()):
                    return None
                self._changed.wait(min(left, 0.2))

    def output(self) -> str:
        with self._changed:
            return "".join(self.lines)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)

    def stop(self, timeout: float = 15) -> int:
        """SIGTERM, then wait; returns the exit status."""
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise
        finally:
            self._reader.join(timeout=5)
