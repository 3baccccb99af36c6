"""Recording policy, the durable spool and delivery to a real local service that goes away."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import API_KEY

from dicebox.client.delivery import FrameDelivery
from dicebox.client.http import SensoryClient
from dicebox.client.local_service import LocalService, LocalServiceError
from dicebox.client.spool import FrameSpool
from dicebox.session.recorder import KeepMode, Recorder


def crop(value: int) -> np.ndarray:
    rng = np.random.default_rng(value)
    return rng.integers(0, 256, (50, 60, 1), dtype=np.uint8)


def test_recorder_follows_the_original_keys_and_limits():
    recorder = Recorder()
    assert recorder.offer(crop(1), 0.0).reason == "not recording"
    recorder.toggle_recording()
    assert recorder.offer(crop(1), 0.0).reason == "no label"
    recorder.update(expected="3", max_fps=10)
    assert recorder.offer(crop(1), 0.0).keep
    assert recorder.offer(crop(2), 0.05).reason == "rate"
    assert recorder.offer(crop(1), 0.2).reason == "duplicate"
    assert recorder.offer(crop(2), 0.3).keep
    recorder.update(mode=KeepMode.MISCLASSIFIED)
    assert recorder.offer(crop(3), 1.0).reason == "no model"
    assert recorder.offer(crop(3), 1.0, predicted="3").reason == "classified right"
    assert recorder.offer(crop(3), 1.0, predicted="5").keep
    recorder.update(mode=KeepMode.UNCERTAIN, uncertain_below=0.8)
    assert recorder.offer(crop(4), 2.0, predicted="3", confidence=0.95).reason == "certain"
    assert recorder.offer(crop(4), 2.0, predicted="3", confidence=0.5).keep
    assert recorder.stats.kept == 4


def test_spool_survives_reopening(tmp_path):
    spool = FrameSpool(tmp_path / "spool")
    spool.put("dice_60x50", "1", b"png-1")
    spool.put("dice_60x50", "2", b"png-2")
    again = FrameSpool(tmp_path / "spool")
    frames = again.peek()
    assert len(again) == 2 and [f.category for f in frames] == ["1", "2"] and frames[0].png == b"png-1"
    again.remove(frames[:1])
    assert len(FrameSpool(tmp_path / "spool")) == 1


@pytest.fixture
def service_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("DICEBOX_API_ACCESS_KEY", API_KEY)
    return tmp_path / "service-data"


def test_frames_recorded_while_the_service_is_down_arrive_exactly_once(service_dir, tmp_path):
    service = LocalService(service_dir)
    url = service.start()
    delivery = FrameDelivery(tmp_path / "spool", SensoryClient(url, API_KEY, retries=0, timeout=2))
    try:
        for i in range(15):
            delivery.submit("dice_60x50", str(i % 3), crop(i))
        assert delivery.flush(timeout=20)
        service.stop()
        for i in range(15, 30):
            delivery.submit("dice_60x50", str(i % 3), crop(i))
        assert len(delivery.spool) == 15
        delivery.close()  # the app is closed with frames still spooled...
        delivery = FrameDelivery(tmp_path / "spool", None)  # ...and opened again
        assert delivery.state().pending == 15
        url = service.start()
        delivery.set_client(SensoryClient(url, API_KEY, retries=0, timeout=2))
        assert delivery.flush(timeout=30)
        info = SensoryClient(url, API_KEY).dataset_info("dice_60x50")
        assert info["count"] == 30
        assert {c["name"]: c["count"] for c in info["categories"]} == {"0": 10, "1": 10, "2": 10}
    finally:
        delivery.close()
        service.stop()
    assert not service.running


def test_refused_frames_are_set_aside_not_retried_forever(service_dir, tmp_path):
    service = LocalService(service_dir)
    url = service.start()
    delivery = FrameDelivery(tmp_path / "spool", SensoryClient(url, API_KEY, retries=0))
    try:
        delivery.submit("dice_60x50", "ok", crop(1))
        delivery.submit("dice_60x50", "ok", b"this is not a png")
        assert delivery.flush(timeout=20)
        state = delivery.state()
        assert state.delivered == 1 and state.rejected == 1 and "image" in state.last_rejection
    finally:
        delivery.close()
        service.stop()


def test_local_service_reports_a_failed_start(tmp_path):
    bad = LocalService(tmp_path / "d", config_file=tmp_path / "missing.config")
    with pytest.raises(LocalServiceError, match="configuration file not found"):
        bad.start(timeout=30)
    assert not bad.running
