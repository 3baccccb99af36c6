"""What to record: the operator's recording policy, independent of any window.

The GUI and the demo offer every camera crop to a :class:`Recorder`; it decides whether the crop
is stored under the expected label, as the original supervised trainer did (``z`` toggles
recording, ``b`` keeps only frames the current network gets wrong), plus a frame-rate cap, a
near-duplicate filter and an "only keep uncertain" mode.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import Enum

import numpy as np


class KeepMode(str, Enum):
    """Which recorded frames are kept."""

    ALL = "all"
    MISCLASSIFIED = "misclassified"
    UNCERTAIN = "uncertain"


@dataclass(frozen=True)
class RecorderSettings:
    recording: bool = False
    expected: str | None = None
    mode: KeepMode = KeepMode.ALL
    max_fps: float = 10.0
    # Mean absolute pixel difference below which a frame counts as a duplicate of the last kept.
    duplicate_threshold: float = 1.5
    uncertain_below: float = 0.8


@dataclass(frozen=True)
class Decision:
    keep: bool
    reason: str


@dataclass(frozen=True)
class RecorderStats:
    offered: int = 0
    kept: int = 0
    skipped_rate: int = 0
    skipped_duplicate: int = 0
    skipped_mode: int = 0


class Recorder:
    """Decides, frame by frame, what gets stored. Thread-safe; listeners get every change."""

    def __init__(self, settings: RecorderSettings | None = None) -> None:
        self._settings = settings or RecorderSettings()
        self._stats = RecorderStats()
        self._last_kept_time: float | None = None
        self._last_kept: np.ndarray | None = None
        self._lock = threading.Lock()
        self._listeners: list[Callable[[RecorderSettings, RecorderStats], None]] = []
        self._model_problem = ""

    @property
    def settings(self) -> RecorderSettings:
        return self._settings

    @property
    def stats(self) -> RecorderStats:
        return self._stats

    @property
    def warning(self) -> str:
        """Why the current mode can keep no frame at all, for the operator ("" when it can keep frames)."""
        mode, problem = self._settings.mode, self._model_problem
        if mode is KeepMode.ALL or not problem:
            return ""
        return f"Keeps nothing: {problem}. Choose a model, or keep every frame."

    def set_model(self, available: bool, why: str = "") -> None:
        """Say whether a model classifies the offered frames, and if not why (modes other than ALL need one)."""
        problem = "" if available else (why or "no model is loaded")
        if problem != self._model_problem:
            self._model_problem = problem
            self._notify()

    def subscribe(self, listener: Callable[[RecorderSettings, RecorderStats], None]) -> None:
        self._listeners.append(listener)

    def update(self, **changes: object) -> RecorderSettings:
        """Change settings (``recording=True``, ``expected="3"``, ``mode=KeepMode.UNCERTAIN`` ...)."""
        if "mode" in changes:
            changes["mode"] = KeepMode(changes["mode"])
        with self._lock:
            self._settings = replace(self._settings, **changes)
            if not self._settings.recording:
                self._last_kept = None
        self._notify()
        return self._settings

    def toggle_recording(self) -> bool:
        return self.update(recording=not self._settings.recording).recording

    def offer(
        self, crop: np.ndarray, now: float, *, predicted: str | None = None, confidence: float | None = None
    ) -> Decision:
        """Should this crop (taken at ``now``, classified as ``predicted``) be stored?"""
        with self._lock:
            decision = self._decide(crop, now, predicted, confidence)
            if decision.reason == "not recording":
                return decision
            stats = self._stats
            self._stats = replace(
                stats,
                offered=stats.offered + 1,
                kept=stats.kept + decision.keep,
                skipped_rate=stats.skipped_rate + (decision.reason == "rate"),
                skipped_duplicate=stats.skipped_duplicate + (decision.reason == "duplicate"),
                skipped_mode=stats.skipped_mode + (decision.reason in ("classified right", "certain", "no model")),
            )
            if decision.keep:
                self._last_kept_time = now
                self._last_kept = crop.astype(np.int16)
        self._notify()
        return decision

    def _decide(self, crop: np.ndarray, now: float, predicted: str | None, confidence: float | None) -> Decision:
        s = self._settings
        if not s.recording:
            return Decision(False, "not recording")
        if s.expected is None:
            return Decision(False, "no label")
        if s.max_fps > 0 and self._last_kept_time is not None and now - self._last_kept_time < 1.0 / s.max_fps:
            return Decision(False, "rate")
        if s.mode is KeepMode.MISCLASSIFIED:
            if predicted is None:
                return Decision(False, "no model")
            if predicted == s.expected:
                return Decision(False, "classified right")
        elif s.mode is KeepMode.UNCERTAIN:
            if confidence is None:
                return Decision(False, "no model")
            if confidence >= s.uncertain_below:
                return Decision(False, "certain")
        if self._last_kept is not None and self._last_kept.shape == crop.shape:
            difference = float(np.abs(crop.astype(np.int16) - self._last_kept).mean())
            if difference < s.duplicate_threshold:
                return Decision(False, "duplicate")
        return Decision(True, "kept")

    def _notify(self) -> None:
        for listener in list(self._listeners):
            listener(self._settings, self._stats)
