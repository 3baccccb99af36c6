"""Replicas using RabbitMQ on one data folder: any replica answers an order, even once its placer is gone."""

from __future__ import annotations

import time

import pytest
from batch_support import Processor, assert_exact, fill_dataset
from helpers import API_KEY
from service_process import start_service, stop_service

from dicebox.client.http import SensoryClient
from dicebox.store import DatasetStore

pytestmark = pytest.mark.broker


@pytest.mark.parametrize("index", ["in the data folder", "local to each process"])
def test_an_order_placed_on_one_replica_is_collected_through_another_after_the_placer_died(broker, tmp_path, index):
    """``local to each process``: as on separate machines sharing the folder over NFS, each process
    with its own ``DICEBOX_INDEX_DIR`` (the folder was filled with the index in it first)."""

    def env(name: str) -> dict[str, str]:
        local = {"DICEBOX_INDEX_DIR": str(tmp_path / f"index-{name}")} if index.startswith("local") else {}
        return {**broker.env, **local}

    data = tmp_path / "data"
    data.mkdir()
    store = DatasetStore(data / "datasets")
    try:
        truth = fill_dataset(store.dataset("dice_60x50"), 40)
    finally:
        store.close()
    placer, placer_url = start_service(data, env=env("placer"))
    other, other_url = start_service(data, env=env("other"))
    processor = None
    clients = [SensoryClient(url, API_KEY, retries=2, backoff=0.1) for url in (placer_url, other_url)]
    try:
        order_id = clients[0].place_order("dice_60x50", 30, noise=0.0)
        placer.kill()  # SIGKILL before any processor ran: the shards wait in the broker
        placer.wait()
        processor = Processor(data, env("processor"))
        deadline = time.monotonic() + 30
        while clients[1].order_status(order_id)["state"] != "ready":
            assert time.monotonic() < deadline, clients[1].order_status(order_id)
            time.sleep(0.1)
        items = clients[1].collect(order_id, start=0, max_items=100).items
        assert_exact(items, truth, 30)
        if index.startswith("local"):
            for name in ("placer", "other", "processor"):
                assert list((tmp_path / f"index-{name}").glob("dice_60x50-*/index.sqlite3")), name
    finally:
        for client in clients:
            client.close()
        if processor is not None:
            processor.kill()
        stop_service(placer)
        stop_service(other)
