"""The recording path of one session, without Qt: a crop and its classification -> keep or not -> spool.

The window and the simulated operator (:func:`dicebox.demo.operator.record_faces`) hand every crop
here, so both keep frames by the same rules: the :class:`~dicebox.session.recorder.Recorder` decides
(label, rate, mode, duplicates), a kept crop goes to the :class:`~dicebox.client.delivery.FrameDelivery`
spool under the expected label, and a spool that cannot take it stops the recording and says so.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from dicebox.client.delivery import FrameDelivery
from dicebox.session.recorder import Decision, Recorder

from .events import EventEmitter


@dataclass(frozen=True)
class FrameOffered:
    """A crop was offered for recording (``kept`` when it went to the spool)."""

    label: str | None  # the expected label it would be stored under
    predicted: str | None
    confidence: float | None
    decision: Decision

    @property
    def kept(self) -> bool:
        return self.decision.keep


@dataclass(frozen=True)
class KeepFailed:
    """A kept crop could not be written to the spool; recording was stopped."""

    message: str


RecordingEvent = FrameOffered | KeepFailed


def first_clause(message: str) -> str:
    """The gist of a client error: '503: no model is loaded: start the service ...' -> 'no model is loaded'."""
    status, _, rest = message.partition(": ")
    if status.isdigit() and rest:
        message = rest
    return message.split(": ", 1)[0].strip()


class RecordingSession:
    """Keeps the crops the recorder wants, under the expected label, in the delivery's spool."""

    def __init__(self, recorder: Recorder, delivery: FrameDelivery, dataset_id: str) -> None:
        self.recorder = recorder
        self.delivery = delivery
        self.dataset_id = dataset_id
        self.events: EventEmitter[RecordingEvent] = EventEmitter()

    def classified(self, crop: np.ndarray, label: str, confidence: float, now: float | None = None) -> Decision:
        """A model classified the crop: the modes that need a model can judge it."""
        self.recorder.set_model(True)
        return self._offer(crop, label, confidence, now)

    def unclassified(self, crop: np.ndarray, why: str, now: float | None = None) -> Decision:
        """The model could not classify the crop: still the operator's ("keep every frame" keeps it),
        and the other modes say why they keep nothing."""
        self.recorder.set_model(False, f"the model cannot classify ({first_clause(why)})")
        return self._offer(crop, None, None, now)

    def unjudged(self, crop: np.ndarray, now: float | None = None) -> Decision:
        """No model is in use: the crop is offered as it is."""
        return self._offer(crop, None, None, now)

    def _offer(self, crop: np.ndarray, predicted: str | None, confidence: float | None, now: float | None) -> Decision:
        label = self.recorder.settings.expected
        decision = self.recorder.offer(
            crop, time.monotonic() if now is None else now, predicted=predicted, confidence=confidence
        )
        if decision.keep:
            try:
                self.delivery.submit(self.dataset_id, label, crop)
            except OSError as exc:
                self.recorder.update(recording=False)
                self.events.emit(KeepFailed(f"writing to the spool failed: {exc}"))
                decision = Decision(False, "spool failed")
        self.events.emit(FrameOffered(label, predicted, confidence, decision))
        return decision
