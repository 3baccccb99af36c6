"""The session's recording path without Qt: classify result -> keep decision -> spool -> the service."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from dicebox.camera import Geometry, open_source
from dicebox.client.delivery import FrameDelivery
from dicebox.demo.operator import record_faces
from dicebox.session.recorder import KeepMode, Recorder, RecorderSettings
from dicebox.session.recording import FrameOffered, KeepFailed, RecordingSession

pytestmark = pytest.mark.timeout(120)

GEOMETRY = Geometry(60, 50, 1)


def crop(value: int) -> np.ndarray:
    return np.full((GEOMETRY.height, GEOMETRY.width, GEOMETRY.channels), value, np.uint8)


@pytest.fixture
def dataset(sensory_client):
    sensory_client.create_dataset("dice", GEOMETRY.width, GEOMETRY.height, channels=GEOMETRY.channels)
    return "dice_60x50"


def counts(client, dataset: str) -> dict[str, int]:
    """The images per category the service holds (categories with none left out)."""
    return {c["name"]: c["count"] for c in client.dataset_info(dataset)["categories"] if c["count"]}


def session_for(tmp_path, client, dataset, mode: KeepMode) -> RecordingSession:
    recorder = Recorder(RecorderSettings(recording=True, expected="3", mode=mode, max_fps=0.0))
    delivery = FrameDelivery(tmp_path / "spool", client, channels=GEOMETRY.channels)
    return RecordingSession(recorder, delivery, dataset)


def test_only_misclassified_frames_reach_the_service_under_the_expected_label(tmp_path, sensory_client, dataset):
    session = session_for(tmp_path, sensory_client, dataset, KeepMode.MISCLASSIFIED)
    told = []
    session.events.connect(told.append)
    try:
        assert not session.classified(crop(10), "3", 0.9).keep, "classified right: not kept"
        assert session.classified(crop(60), "5", 0.8).keep, "classified wrong: kept"
        assert not session.unclassified(crop(120), "503: no model is loaded: start the service with --model").keep
        assert session.recorder.warning.startswith("Keeps nothing: the model cannot classify (no model is loaded)")
        assert session.delivery.flush(timeout=20)
    finally:
        session.delivery.close()
    assert counts(sensory_client, dataset) == {"3": 1}
    assert [(e.predicted, e.kept) for e in told if isinstance(e, FrameOffered)] == [
        ("3", False),
        ("5", True),
        (None, False),
    ]


def test_keep_every_frame_keeps_a_frame_the_model_could_not_classify(tmp_path, sensory_client, dataset):
    session = session_for(tmp_path, sensory_client, dataset, KeepMode.ALL)
    try:
        assert session.unclassified(crop(10), "timed out").keep
        assert session.unjudged(crop(90)).keep
        assert session.delivery.flush(timeout=20)
    finally:
        session.delivery.close()
    assert counts(sensory_client, dataset) == {"3": 2}


def test_a_spool_that_cannot_take_a_frame_stops_the_recording_and_says_why(tmp_path):
    session = session_for(tmp_path, None, "dice_60x50", KeepMode.ALL)
    told = []
    session.events.connect(told.append)
    try:
        shutil.rmtree(tmp_path / "spool")
        (tmp_path / "spool").write_text("not a folder")
        assert not session.unjudged(crop(10)).keep
    finally:
        session.delivery.close()
    assert not session.recorder.settings.recording
    failed = [e for e in told if isinstance(e, KeepFailed)]
    assert len(failed) == 1 and failed[0].message.startswith("writing to the spool failed")


def test_the_simulated_operator_records_through_the_same_session(tmp_path, sensory_client, dataset, monkeypatch):
    offered = []
    original = RecordingSession._offer

    def spy(self, crop, predicted, confidence, now):
        decision = original(self, crop, predicted, confidence, now)
        offered.append(decision.keep)
        return decision

    monkeypatch.setattr(RecordingSession, "_offer", spy)
    source = open_source("synthetic:dice?seed=7&uncapped=1&hold=1&rpm=60")
    try:
        report = record_faces(
            source, sensory_client, dataset, GEOMETRY, tmp_path / "spool", faces=["1", "2"], per_face=3
        )
    finally:
        source.close()
    assert report.kept == {"1": 3, "2": 3} and sum(offered) == 6
    assert counts(sensory_client, dataset) == {"1": 3, "2": 3}
