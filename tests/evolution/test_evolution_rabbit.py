"""Distributed evaluation through the real broker: ``dicebox worker`` processes, one SIGKILLed mid-order."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

from dicebox.evolution.dataset import DataSpec
from dicebox.evolution.events import IndividualTrained
from dicebox.evolution.run_folder import RunFolder
from dicebox.evolution.search import Evolution, SearchError, SearchSettings
from dicebox.evolution.taxonomy import Taxonomy
from dicebox.evolution.training_orders import TrainSpec
from dicebox.nets.genome import read_population

pytestmark = pytest.mark.broker

REPO = Path(__file__).resolve().parents[2]
DATASET = "tiny_20x16"


class Worker:
    """A ``dicebox worker`` process whose output lines are collected by a thread."""

    def __init__(self, home: Path, url: str, queue: str, *, kill_on_first_order: bool = False) -> None:
        env = {**os.environ, "DICEBOX_HOME": str(home), "DICEBOX_FAKE_FITNESS": "1",
               "DICEBOX_FAKE_FITNESS_SECONDS": "0.5"}
        self.proc = subprocess.Popen([sys.executable, "-m", "dicebox", "worker", "--broker", url, "--queue", queue],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env, cwd=REPO)
        self.lines: list[str] = []
        self.ready = threading.Event()
        self.killed_on: str | None = None
        self.kill_on_first_order = kill_on_first_order
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line.strip())
            if "waiting for training orders" in line:
                self.ready.set()
            if self.kill_on_first_order and line.startswith("dicebox worker training "):
                self.killed_on = line.split()[-1]
                self.proc.send_signal(signal.SIGKILL)  # in the middle of training this order
                return

    @property
    def orders(self) -> list[str]:
        return [line.split()[-1] for line in self.lines if line.startswith("dicebox worker training ")]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()


def store_tiny_dataset(home: Path, seed: int = 0):
    from dicebox.store import DatasetStore

    rng = np.random.default_rng(seed)
    store = DatasetStore(home / "datasets")
    try:
        dataset = store.dataset(DATASET, channels=1)
        dataset.store_many([(rng.integers(0, 256, (16, 20), dtype=np.uint8), "ab"[i % 2]) for i in range(8)])
        return dataset.arrays()
    finally:
        store.close()


@pytest.fixture
def queue_name(broker_url):
    name = f"dicebox.test.orders.{uuid.uuid4().hex[:8]}"
    yield name
    import pika

    connection = pika.BlockingConnection(pika.URLParameters(broker_url))
    connection.channel().queue_delete(name)
    connection.close()


def search_via_broker(tmp_path: Path, url: str, queue: str, spec: DataSpec, generations: int = 2) -> Evolution:
    from dicebox.evolution.rabbit_evaluator import RabbitEvaluator

    run_id = f"test-{uuid.uuid4().hex[:8]}"
    settings = SearchSettings(generations=generations, population=4, train=TrainSpec(epochs=1, fitness="fake"))
    return Evolution(settings, spec, RabbitEvaluator(url, run_id, queue=queue), taxonomy=Taxonomy(max_filters=8),
                     seed=5, run=RunFolder(tmp_path / run_id), run_id=run_id)


def test_a_worker_killed_mid_order_loses_nothing_and_nothing_counts_twice(tmp_path, broker_url, queue_name):
    home = tmp_path / "home"
    data = store_tiny_dataset(home)
    doomed = Worker(home, broker_url, queue_name, kill_on_first_order=True)
    survivor = Worker(home, broker_url, queue_name)
    try:
        assert doomed.ready.wait(30) and survivor.ready.wait(30), doomed.lines + survivor.lines
        search = search_via_broker(tmp_path, broker_url, queue_name, DataSpec.of(data, DATASET))
        started = time.monotonic()
        try:
            events = list(search.run())
        finally:
            search.evaluator.close(finished=search.finished)
        assert time.monotonic() - started < 60
    finally:
        doomed.stop()
        survivor.stop()
    assert doomed.killed_on is not None and doomed.proc.returncode == -signal.SIGKILL
    assert doomed.killed_on in survivor.orders  # redelivered and trained again by the other worker
    assert events[-1].status == "finished"
    recorded = [(e.generation, e.index) for e in events if isinstance(e, IndividualTrained)]
    assert sorted(recorded) == [(g, i) for g in (1, 2) for i in range(1, 5)]  # each exactly once
    assert all(e.worker.endswith(f":{survivor.proc.pid}") for e in events
               if isinstance(e, IndividualTrained) and not e.cached)
    for generation in (1, 2):
        assert len(read_population(search.run_folder.population_file(generation)).members) == 4


def test_orders_for_data_a_worker_does_not_have_are_refused_then_stop_the_run(tmp_path, broker_url, queue_name):
    home = tmp_path / "home"
    data = store_tiny_dataset(home)
    worker = Worker(home, broker_url, queue_name)
    try:
        assert worker.ready.wait(30), worker.lines
        stale = DataSpec(DATASET, "another-version", DataSpec.of(data).geometry, data.categories)
        search = search_via_broker(tmp_path, broker_url, queue_name, stale, generations=1)
        try:
            with pytest.raises(SearchError, match="refused 3 times.*version"):
                list(search.run())
            assert search.run_folder.state_file.exists()  # stopped resumably
        finally:
            search.evaluator.close(finished=True)  # a test leaves no result queue behind
    finally:
        worker.stop()
