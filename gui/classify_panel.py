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
from PyQt5.QtCore import QObject, QRectF, QSettings, Qt, QTimer, pyqtSignal
from PyQt5.QtGui import QColor, QPainter
from PyQt5.QtWidgets import (
    QComboBox,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from dicebox.nets.export import FORMATS
from dicebox.plumbing.paths import data_home
from dicebox.session.model_source import (
    ModelChosen,
    ModelsListed,
    ModelSource,
    ModelSourceError,
    RecentChanged,
    install_bundle,
)

from .background import run_in_background

log = logging.getLogger(__name__)


class ClassifierHost(QObject):
    """Owns the model (loaded off the UI thread) and a thread classifying the newest crop."""

    modelChanged = pyqtSignal(str)  # description of the model now in use ("" for none)
    classified = pyqtSignal(object, object)  # crop, Classification
    unclassified = pyqtSignal(object, str)  # crop, why the model could not classify it
    failed = pyqtSignal(str, str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.classifier = None  # dicebox.nets.inference.Classifier, imported lazily (TensorFlow)
        self.remote = None  # a SensoryClient when classifying through the service
        self.description = ""
        self.source: tuple[str, str] = ("", "")  # ("bundle"|"champion", path), ("service", url) or none
        self._pending: np.ndarray | None = None
        self._load_request: tuple[Path, bool] | None = None
        self._wake = threading.Condition()
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="dicebox-classify", daemon=True)
        self._thread.start()
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
            from dicebox.nets.inference import Classifier

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
        kind = "champion" if follow else "bundle"
        self.source = (kind, str(path))
        self.description = f"{kind} {path.parent.name}/{path.name} ({classifier.model_id[:8]})"
        self.modelChanged.emit(self.description)

    def use_service(self, client) -> None:
        """Classify through the service's ``/api/v1/classify`` (the model it serves)."""
        self.classifier = None
        self.remote = client
        self.source = ("service", client.base_url)
        self.description = f"service model at {client.base_url}"
        self.modelChanged.emit(self.description)

    def clear(self) -> None:
        self.classifier = None
        self.remote = None
        self.description = ""
        self.source = ("", "")
        self.modelChanged.emit("")

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
            except Exception as exc:  # noqa: BLE001 - the window shows why; classification goes on
                log.debug("classification failed: %s", exc)
                self.unclassified.emit(crop, str(exc) or type(exc).__name__)
                continue
            self.latency_ms = (time.perf_counter() - started) * 1000
            self.classified.emit(crop, result)

    def shutdown(self) -> None:
        """Stop classifying; waits for a model load under way (TensorFlow must not outlive Python)."""
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
            painter.setPen(
                QColor(200, 200, 200) if self.palette().window().color().lightness() < 128 else QColor(30, 30, 30)
            )
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
    """Model choice, the current label and match against the expected label, confidence bars.

    The choice is a :class:`dicebox.session.model_source.ModelSource`: the panel renders its list and its
    choice, sends it the operator's commands, and loads what it tells into the :class:`ClassifierHost`.
    """

    NONE, FILE, SERVICE, CHAMPION = range(4)  # the fixed entries; the models on offer follow a separator
    FIRST_MODEL = 5
    sourceEvent = pyqtSignal(object)  # a ModelSource event, delivered on the UI thread
    messageShown = pyqtSignal(str, str)  # title, text of a result told in a dialog

    def __init__(
        self,
        host: ClassifierHost,
        parent: QWidget | None = None,
        settings: QSettings | None = None,
        model_source: ModelSource | None = None,
    ) -> None:
        super().__init__("Live classification", parent)
        self.host = host
        self.settings = settings  # the model in use (model/kind, model/path) and the recent bundles (models/recent)
        self.model_source = model_source or ModelSource(data_home() / "weights", data_home() / "population")
        if settings is not None:
            self.model_source.restore_recent(_string_list(settings.value("models/recent", [])))
        self.service_weights_dir: Path | None = None  # the connected service's weights folder, when it is local
        self._service_wanted = False  # the remembered model is the service's: use it once connected
        self.source = QComboBox()
        self.source.addItems(["No model", "Bundle file…", "The service's model", "Follow the champion"])
        self.source.setItemData(
            self.CHAMPION, "the newest champion of any evolution run, swapped in whenever a better one is written",
            Qt.ToolTipRole,
        )
        self.source.setObjectName("modelSource")
        # Its longest entry must not set the column's width: the window fits 1024 px with it elided.
        self.source.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.source.setMinimumContentsLength(14)
        self.source.view().setTextElideMode(Qt.ElideMiddle)
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
        self.speed.setWordWrap(True)
        self.reload = QPushButton("Reload")
        self.reload.setToolTip("load the chosen model again and look for new bundles and champions")
        self.to_service = QPushButton("Load into service")
        self.to_service.setObjectName("loadIntoService")
        self.to_service.setToolTip("the service classifies with this model (/api/v1/classify)")
        self.export_button = QPushButton("Export…")
        self.export_button.setObjectName("exportModel")
        self.export_button.setToolTip("write this model for other tools: Keras, SavedModel, TFLite or ONNX")
        for button in (self.to_service, self.export_button):
            button.setEnabled(False)
        self.message: QMessageBox | None = None  # the last result told in a dialog
        row = QHBoxLayout()
        row.addWidget(self.source, 1)
        row.addWidget(self.reload)
        actions = QHBoxLayout()
        actions.addWidget(self.to_service)
        actions.addWidget(self.export_button)
        actions.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addLayout(actions)
        layout.addWidget(self.model)
        layout.addWidget(self.verdict)
        layout.addWidget(self.bars, 1)
        layout.addWidget(self.speed)
        self._service_client = None
        self._polling = False
        self._scanning = False
        self._scan_again = False
        self.matches = 0
        self.mismatches = 0
        self._poll_timer = QTimer(self)
        self._poll_timer.setInterval(2000)
        self._poll_timer.timeout.connect(self._poll_champion)
        self.model_source.subscribe(self.sourceEvent.emit)  # may be told on a worker thread: queued to this one
        self.sourceEvent.connect(self._on_source_event)
        self.source.activated.connect(self._source_chosen)
        self.reload.clicked.connect(self._reload)
        self.to_service.clicked.connect(self.load_into_service)
        self.export_button.clicked.connect(self.export)
        host.modelChanged.connect(self._model_changed)
        host.failed.connect(lambda title, message: self.model.setText(f"{title}: {message}"))
        self.refresh_models()

    @property
    def service_client(self):
        return self._service_client

    @service_client.setter
    def service_client(self, client) -> None:
        self._service_client = client
        if client is not None and self._service_wanted:
            self._service_wanted = False
            self.model_source.use_service()

    # Commands -----------------------------------------------------------------------------------
    def use_model(self, path: str | Path) -> None:
        """Make the bundle at ``path`` the live model (a trained network, a champion, a chosen folder)."""
        self._service_wanted = False
        try:
            self.model_source.use_bundle(path)
        except ModelSourceError as exc:
            self.model.setText(str(exc))

    def follow_champion(self) -> None:
        """Follow the newest champion of any evolution run, including runs started later."""
        run_in_background(self.model_source.follow_champion)  # its first look at the run folders

    def refresh_models(self) -> None:
        """Look for bundles and champions off the UI thread; the list is told when read."""
        if self._scanning:
            self._scan_again = True  # what changed meanwhile may come after this scan read the folders
            return
        self._scanning = True

        def done(_result=None) -> None:
            self._scanning = False
            if self._scan_again:
                self._scan_again = False
                self.refresh_models()

        run_in_background(self.model_source.scan, on_done=done, on_error=done)

    def restore_model(self) -> None:
        """Use the model of the last session again: the same bundle, the newest champion or the service."""
        if self.settings is None:
            return
        kind, where = str(self.settings.value("model/kind", "")), str(self.settings.value("model/path", ""))
        if kind == "bundle":
            try:
                self.model_source.use_bundle(where)
            except ModelSourceError:
                self.model.setText(f"the last model, {where}, is gone: choose another")
        elif kind == "champion":
            self.follow_champion()
        elif kind == "service":
            self._service_wanted = True
            self.service_client = self._service_client

    def _source_chosen(self, index: int) -> None:
        self._service_wanted = False  # the operator's choice wins over the remembered one
        if index == self.NONE:
            self.model_source.clear()
        elif index == self.FILE:
            path = QFileDialog.getExistingDirectory(
                self, "Choose a model bundle folder", str(self.model_source.weights_dir)
            )
            if path:
                self.use_model(path)
            else:
                self._show_choice()
        elif index == self.SERVICE:
            self.model_source.use_service()
        elif index == self.CHAMPION:
            self.follow_champion()
        elif self.source.itemData(index):
            self.use_model(self.source.itemData(index))

    def _reload(self) -> None:
        kind, path = self.model_source.kind, self.model_source.path
        if kind == "bundle" and path is not None:
            self.host.load_bundle(path)
        elif kind == "champion" and path is not None:
            self.host.load_bundle(path, follow=True)
        elif kind == "service":
            self.model_source.use_service()
        self.refresh_models()

    def _poll_champion(self) -> None:
        if self.model_source.kind != "champion":
            self._poll_timer.stop()
        elif not self._polling:
            self._polling = True
            run_in_background(self.model_source.poll, on_done=self._polled, on_error=self._polled)

    def _polled(self, _result=None) -> None:
        self._polling = False

    # What the model source tells ----------------------------------------------------------------
    def _on_source_event(self, event) -> None:
        if isinstance(event, ModelsListed):
            self._list_models(event.entries)
            return
        if isinstance(event, RecentChanged):
            if self.settings is not None:
                self.settings.setValue("models/recent", list(event.paths))
            return
        if not isinstance(event, ModelChosen):
            return
        if event.kind != "service":
            self._service_wanted = False  # a choice made since wins over the remembered service model
        if event.kind == "none":
            self._poll_timer.stop()
            self.host.clear()
        elif event.kind == "bundle":
            self._poll_timer.stop()
            self.host.load_bundle(event.path)
            self.refresh_models()  # a bundle from elsewhere joins the list
        elif event.kind == "champion":
            self._poll_timer.start()  # a newer champion, or a run started later, is looked for every 2 s
            if event.path is None:
                self.model.setText(f"waiting for a champion in {self.model_source.population_dir}")
            else:
                self.host.load_bundle(event.path, follow=True)
        elif event.kind == "service":
            self._poll_timer.stop()
            if self._service_client is None:
                self.model.setText("connect to a service first")
            else:
                self.host.use_service(self._service_client)
        self._show_choice()

    def _list_models(self, entries) -> None:
        while self.source.count() > self.FIRST_MODEL - 1:
            self.source.removeItem(self.source.count() - 1)
        if entries:
            self.source.insertSeparator(self.FIRST_MODEL - 1)
        for entry in entries:
            self.source.addItem(entry.describe(), str(entry.path))
            self.source.setItemData(self.source.count() - 1, str(entry.path), Qt.ToolTipRole)
        self._show_choice()

    def _show_choice(self) -> None:
        """Point the drop-down at the model in use (without telling it as a new choice)."""
        kind, path = self.model_source.kind, self.model_source.path
        index = {"none": self.NONE, "service": self.SERVICE, "champion": self.CHAMPION}.get(kind)
        if kind == "bundle":
            found = self.source.findData(str(path))
            index = found if found >= self.FIRST_MODEL else self.FILE
        if index is not None:
            self.source.setCurrentIndex(index)
        has_bundle = kind in ("bundle", "champion") and path is not None
        self.to_service.setEnabled(has_bundle)
        self.export_button.setEnabled(has_bundle)

    # Load into service, export ------------------------------------------------------------------
    def load_into_service(self) -> None:
        """The connected service classifies with the chosen bundle from now on."""
        path, client = self.model_source.path, self._service_client
        if path is None:
            self._tell("No model chosen", "Choose a bundle or a champion first.", ok=False)
        elif client is None:
            self._tell("No service", "Connect to a service first.", ok=False)
        elif self.service_weights_dir is None:
            self._tell(
                "Cannot load into this service",
                f"The service at {client.base_url} runs elsewhere, and its API cannot take a bundle: it loads "
                f"only bundles already in its own weights folder. Copy {path} there, then choose it with "
                "POST /api/v1/model or dicebox serve --model.",
                ok=False,
            )
        else:
            weights_dir = self.service_weights_dir

            def load() -> dict:
                return client.load_model(install_bundle(path, weights_dir))

            self.to_service.setEnabled(False)
            run_in_background(
                load,
                on_done=lambda info: self._loaded_into_service(info, path),
                on_error=lambda message: self._loaded_into_service(None, path, message),
            )

    def _loaded_into_service(self, info: dict | None, path: Path, error: str = "") -> None:
        self._show_choice()
        if info is None:
            self._tell("Cannot load into the service", f"{path}: {error}", ok=False)
        else:
            self._tell(
                "Loaded into the service",
                f"The service classifies with {path.name} (model {str(info.get('model_id', ''))[:8]}) from now on.",
            )

    def export(self) -> None:
        """Ask for a format and a place, then write the export kit off the UI thread."""
        path = self.model_source.path
        if path is None:
            self._tell("No model chosen", "Choose a bundle or a champion first.", ok=False)
            return
        choices = [f"{name} — {description}" for name, description in EXPORT_CHOICES.items()]
        choice, ok = QInputDialog.getItem(self, "Export the model", "Format", choices, 0, False)
        if not ok:
            return
        fmt = choice.split(" ", 1)[0]
        name = path.parent.name + "-champion" if path.name == "champion" else path.name
        out, _ = QFileDialog.getSaveFileName(
            self, "Export to the folder", str(self.model_source.weights_dir / f"{name}-{fmt}")
        )
        if not out:
            return
        self.export_button.setEnabled(False)

        def write() -> Path:
            from dicebox.nets.export import export_model

            return export_model(path, fmt, out)

        def done(kit: Path) -> None:
            self._show_choice()
            self._tell("Model exported", f"The {fmt} export of {path.name} is in {kit}.")

        def failed(message: str) -> None:
            self._show_choice()
            self._tell("Cannot export the model", message, ok=False)

        run_in_background(write, on_done=done, on_error=failed)

    def _tell(self, title: str, text: str, ok: bool = True) -> None:
        """A result in a dialog that does not block the camera (and in the panel, until the next model)."""
        self.model.setText(text)
        box = QMessageBox(QMessageBox.Information if ok else QMessageBox.Warning, title, text, QMessageBox.Ok, self)
        box.setModal(False)
        box.show()
        self.message = box
        self.messageShown.emit(title, text)

    # Rendering ----------------------------------------------------------------------------------
    def _model_changed(self, description: str) -> None:
        if self.settings is not None:
            kind, where = self.host.source
            self.settings.setValue("model/kind", kind)
            self.settings.setValue("model/path", where)
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
        self.verdict.setText(
            f"<span style='color:{colour}'>{classification.label} {mark}</span>"
            f" <small>({classification.confidence:.0%})</small>"
        )
        self.bars.set_values(dict(classification.probabilities), expected)
        total = self.matches + self.mismatches
        rate = f" · {self.matches / total:.0%} match over {total} frames" if total else ""
        self.speed.setText(f"{self.host.latency_ms:.1f} ms per frame{rate}")
        return ok


_EXPORT_DESCRIPTIONS = {
    "keras": "Keras 3 model (model.keras)",
    "savedmodel": "TensorFlow SavedModel",
    "tflite": "TFLite, for LiteRT",
    "onnx": "ONNX, for onnxruntime",
}
EXPORT_CHOICES = {name: _EXPORT_DESCRIPTIONS.get(name, name) for name in FORMATS}


def _string_list(value) -> list[str]:
    """A list QSettings gives back: a list, one string for a one-entry list, or None."""
    if not value:
        return []
    return [value] if isinstance(value, str) else [str(v) for v in value]
