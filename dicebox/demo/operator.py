"""A simulated operator: records labelled frames from a camera the way a person at the GUI does.

The demo uses it with the synthetic dice camera: for each face it picks the expected label, lets
the camera show that face and records crops of the region of interest through the same
:class:`~dicebox.session.recording.RecordingSession` the window hands its frames to (recorder,
spool, delivery), so frames are kept by the same rules and go through the spool to the service. With a classifier it can record in the
original's "only keep misclassified" mode.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from dicebox.camera import FrameSource, Geometry, Roi, preprocess_roi
from dicebox.client.delivery import FrameDelivery
from dicebox.client.http import SensoryClient
from dicebox.session.recorder import KeepMode, Recorder, RecorderSettings
from dicebox.session.recording import KeepFailed, RecordingSession


@dataclass
class RecordingReport:
    """How a recording session went, per face."""

    kept: dict[str, int] = field(default_factory=dict)
    offered: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def total_kept(self) -> int:
        return sum(self.kept.values())


def record_faces(
    sources: FrameSource | Sequence[FrameSource],
    client: SensoryClient,
    dataset_id: str,
    geometry: Geometry,
    spool_dir: Path,
    *,
    faces: Sequence[str],
    per_face: int,
    mode: KeepMode = KeepMode.ALL,
    classifier=None,
    max_offers_per_face: int | None = None,
    roi: Roi | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    cancel: threading.Event | None = None,
) -> RecordingReport:
    """Record up to ``per_face`` kept frames of each face; returns once all are delivered.

    Each source must be able to show a chosen face (``set_face``), as the synthetic camera can.
    With several sources (scenes: other lighting, backgrounds, dice) the frames of each face
    are taken from them in turn, as an operator varies the set-up.
    In ``MISCLASSIFIED``/``UNCERTAIN`` mode a ``classifier`` judges every crop and at most
    ``max_offers_per_face`` crops are looked at per face.
    """
    recorder = Recorder(RecorderSettings(recording=True, mode=mode, max_fps=0.0, duplicate_threshold=1.0))
    delivery = FrameDelivery(spool_dir, client, batch_size=64)
    session = RecordingSession(recorder, delivery, dataset_id)
    failures: list[str] = []
    session.events.connect(lambda event: failures.append(event.message) if isinstance(event, KeepFailed) else None)
    report = RecordingReport()
    started = time.monotonic()
    offers_cap = max_offers_per_face or per_face * 50
    scenes = [sources] if isinstance(sources, FrameSource) else list(sources)
    try:
        for face in faces:
            for scene in scenes:
                scene.set_face(face)
            recorder.update(expected=face)
            kept = offered = 0
            while kept < per_face and offered < offers_cap:
                if cancel is not None and cancel.is_set():
                    raise KeyboardInterrupt
                frame = scenes[offered % len(scenes)].read()
                if frame is None:
                    break
                box = roi or Roi.centered(frame.size, geometry, 0.5)
                crop = preprocess_roi(frame.image, box, geometry)
                offered += 1
                if classifier is not None:
                    result = classifier.classify(crop)
                    decision = session.classified(crop, result.label, result.confidence, now=frame.timestamp)
                else:
                    decision = session.unjudged(crop, now=frame.timestamp)
                if failures:
                    raise OSError(failures[0])
                if decision.keep:
                    kept += 1
                    if progress is not None:
                        progress(face, kept, per_face)
            report.kept[face] = kept
            report.offered[face] = offered
        if not delivery.flush(timeout=120):
            raise RuntimeError(f"{len(delivery.spool)} recorded frames could not be delivered to {client.base_url}")
    finally:
        delivery.close()
        for scene in scenes:
            scene.set_face(None)
    report.seconds = time.monotonic() - started
    return report
