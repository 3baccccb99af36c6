"""Live classification: the network's label for every frame, per-class confidence bars, and the
choice of model (a bundle file, the service's model, or the evolution's champion, followed).

Classification runs on its own thread: the newest crop replaces any crop not yet classified, so
the camera never waits for the network and the UI thread never runs it.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import numpy as np
from PyQt5.QtCore import QObject, QRectF, Qt, QTimer, pyqtSignal
from PyQt5.QtGui import QColor, QPainter
from PyQt5.QtWidgets import (
    QComboBox,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

log = logging.getLogger(__name__)


class ClassifierHost(QObject):
    """Owns the model (loaded off the UI thread) and a thread classifying the newest crop."""

    modelChanged = pyqtSignal(str)  # description of the model now in use ("" for none)
    classified = pyqtSignal(object, object)  # crop, Classification
    failed = pyqtSignal(str, str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.classifier = None  # dicebox.inference.Classifier, imported lazily (TensorFlow)
        self.remote = None  # a SensoryClient when classifying through the service
        self.description = ""
        self.follow_path: Path | None = None
        self._followed_id = ""
        self._pending: np.ndarray | None = None
        self._load_request: tuple[Path, bool] | None = None
        self._wake = threading.Condition()
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="dicebox-classify", daemon=True)
        self._thread.start()
        self._follow_timer = QTimer(self)
        self._follow_timer.setInterval(2000)
        self._follow_timer.timeout.connect(self._check_champion)
        self.latency_ms = 0.0

    @property
    def active(self) -> bool:
        return self.classifier is not None or self.remote is not None

    # Choosing the model ---------------------------------------------------------------------
    def load_bundle(self, path: str | Path, follow: bool = False) -> None:
        """Load (or swap in) a bundle; the old model keeps classifying until the new one is ready.

        Loading happens on the classification thread: all TensorFlow work of the window stays on
        that one thread (Keras is not safe to build models on several threads at once).
        """
        with self._wake:
            self._load_request = (Path(path), follow)
            self._wake.notify()

    def _load(self, path: Path, follow: bool) -> None:
        try:
            from dicebox.inference import Classifier

            if self.classifier is not None:
                self.classifier.swap(path)
                classifier = self.classifier
            else:
                classifier = Classifier.from_bundle(path)
        except Exception as exc:  # noqa: BLE001 - shown to the operator; the old model stays
            self.failed.emit("Cannot load the model", str(exc))
            return
        self.classifier = classifier
        self.remote = None
        self._followed_id = classifier.model_id
        kind = "champion" if follow else "bundle"
        self.description = f"{kind} {path.parent.name}/{path.name} ({classifier.model_id[:8]})"
        self.modelChanged.emit(self.description)

    def use_service(self, client) -> None:
        """Classify through the service's ``/api/v1/classify`` (the model it serves)."""
        self.classifier = None
        self.follow(None)
        self.remote = client
        self.description = f"service model at {client.base_url}"
        self.modelChanged.emit(self.description)

    def follow(self, bundle_path: Path | None) -> None:
        """Keep using the newest champion written at ``bundle_path`` (checked every 2 s)."""
        self.follow_path = Path(bundle_path) if bundle_path else None
        self._followed_id = ""
        if self.follow_path is None:
            self._follow_timer.stop()
        else:
            self._follow_timer.start()
            self._check_champion()

    def clear(self) -> None:
        self.classifier = None
        self.remote = None
        self.follow(None)
        self.description = ""
        self.modelChanged.emit("")

    def _check_champion(self) -> None:
        path = self.follow_path
        if path is None or not (path / "bundle.json").is_file():
            return
        try:
            import json

            model_id = json.loads((path / "bundle.json").read_text(encoding="utf-8")).get("model_id", "")
        except (OSError, ValueError):
            return  # being replaced right now; look again next time
        if model_id and model_id != self._followed_id:
            self._followed_id = model_id
            self.load_bundle(path, follow=True)

    # Classifying ----------------------------------------------------------------------------
    def submit(self, crop: np.ndarray) -> None:
        with self._wake:
            self._pending = crop
            self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._wake:
                while self._pending is None and self._load_request is None and not self._stop:
                    self._wake.wait()
                if self._stop:
                    return
                request, self._load_request = self._load_request, None
                crop, self._pending = self._pending, None
            if request is not None:
                self._load(*request)
            if crop is None:
                continue
            classifier, remote = self.classifier, self.remote
            if classifier is None and remote is None:
                continue
            started = time.perf_counter()
            try:
                result = classifier.classify(crop) if classifier is not None else remote.classify(crop)
            except Exception as exc:  # noqa: BLE001 - shown in the status bar, classification goes on
                log.debug("classification failed: %s", exc)
                continue
            self.latency_ms = (time.perf_counter() - started) * 1000
            self.classified.emit(crop, result)

    def shutdown(self) -> None:
        """Stop classifying; waits for a model load under way (TensorFlow must not outlive Python)."""
        self._follow_timer.stop()
        with self._wake:
            self._stop = True
            self._wake.notify()
        self._thread.join(timeout=60)
        self.classifier = None


class ConfidenceBars(QWidget):
    """One horizontal bar per class; the expected class outlined, the winner filled brighter."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.probabilities: dict[str, float] = {}
        self.expected: str | None = None
        self.setMinimumHeight(120)

    def set_values(self, probabilities: dict[str, float], expected: str | None) -> None:
        self.probabilities, self.expected = probabilities, expected
        self.setMinimumHeight(18 * max(1, len(probabilities)) + 4)
        self.update()

    def paintEvent(self, _event) -> None:
        painter = QPainter(self)
        if not self.probabilities:
            painter.setPen(QColor(140, 140, 140))
            painter.drawText(self.rect(), Qt.AlignCenter, "no model loaded")
            return
        rows = len(self.probabilities)
        height = min(22.0, (self.height() - 4) / rows)
        label_width = 60.0
        best = max(self.probabilities, key=self.probabilities.get)
        for row, (name, p) in enumerate(self.probabilities.items()):
            y = 2 + row * height
            painter.setPen(QColor(200, 200, 200) if self.palette().window().color().lightness() < 128
                           else QColor(30, 30, 30))
            painter.drawText(QRectF(0, y, label_width - 6, height), Qt.AlignRight | Qt.AlignVCenter, name)
            width = (self.width() - label_width - 50) * p
            colour = QColor(80, 170, 240) if name == best else QColor(80, 130, 170)
            painter.fillRect(QRectF(label_width, y + 3, width, height - 6), colour)
            if name == self.expected:
                painter.setPen(QColor(240, 200, 60))
                painter.drawRect(QRectF(label_width - 2, y + 1, self.width() - label_width - 48, height - 2))
            painter.setPen(QColor(150, 150, 150))
            painter.drawText(QRectF(self.width() - 48, y, 46, height), Qt.AlignRight | Qt.AlignVCenter, f"{p:.0%}")


class ClassifyPanel(QGroupBox):
    """Model choice, the current label and match against the expected label, confidence bars."""

    def __init__(self, host: ClassifierHost, parent: QWidget | None = None) -> None:
        super().__init__("Live classification", parent)
        self.host = host
        self.source = QComboBox()
        self.source.addItems(["No model", "Bundle file…", "The service's model", "Follow the evolution's champion"])
        self.source.setObjectName("modelSource")
        self.model = QLabel("no model loaded")
        self.model.setWordWrap(True)
        self.verdict = QLabel("—")
        self.verdict.setObjectName("verdict")
        font = self.verdict.font()
        font.setPointSize(font.pointSize() + 6)
        font.setBold(True)
        self.verdict.setFont(font)
        self.bars = ConfidenceBars()
        self.speed = QLabel("")
        self.reload = QPushButton("Reload")
        row = QHBoxLayout()
        row.addWidget(self.source, 1)
        row.addWidget(self.reload)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(self.model)
        layout.addWidget(self.verdict)
        layout.addWidget(self.bars, 1)
        layout.addWidget(self.speed)
        self.champion_path: Path | None = None
        self.service_client = None
        self.matches = 0
        self.mismatches = 0
        self.source.activated.connect(self._source_chosen)
        self.reload.clicked.connect(lambda: self._source_chosen(self.source.currentIndex()))
        host.modelChanged.connect(self._model_changed)
        host.failed.connect(lambda title, message: self.model.setText(f"{title}: {message}"))

    def _source_chosen(self, index: int) -> None:
        if index == 0:
            self.host.clear()
        elif index == 1:
            path = QFileDialog.getExistingDirectory(self, "Choose a model bundle folder")
            if path:
                self.host.follow(None)
                self.host.load_bundle(path)
        elif index == 2:
            if self.service_client is None:
                self.model.setText("connect to a service first")
            else:
                self.host.use_service(self.service_client)
        elif index == 3:
            if self.champion_path is None:
                self.model.setText("no evolution run yet: start one in the Evolution tab")
            else:
                self.host.follow(self.champion_path)
                self.model.setText(f"waiting for a champion in {self.champion_path}")

    def _model_changed(self, description: str) -> None:
        self.matches = self.mismatches = 0
        self.model.setText(description or "no model loaded")
        if not description:
            self.bars.set_values({}, None)
            self.verdict.setText("—")

    def show_result(self, classification, expected: str | None) -> bool | None:
        """Render one classification; returns whether it matches the expected label."""
        ok = None if expected is None else classification.label == expected
        if ok is not None:
            self.matches += ok
            self.mismatches += not ok
        mark = {True: "✓", False: "✗", None: ""}[ok]
        colour = {True: "#3c3", False: "#e44", None: "#ccc"}[ok]
        self.verdict.setText(f"<span style='color:{colour}'>{classification.label} {mark}</span>"
                             f" <small>({classification.confidence:.0%})</small>")
        self.bars.set_values(dict(classification.probabilities), expected)
        total = self.matches + self.mismatches
        rate = f" · {self.matches / total:.0%} match over {total} frames" if total else ""
        self.speed.setText(f"{self.host.latency_ms:.1f} ms per frame{rate}")
        return ok
