"""The supervised trainer's main window: composes the panels and routes frames between them."""

from __future__ import annotations

import logging
import time

import numpy as np
from PyQt5.QtCore import QSettings, Qt, QTimer, pyqtSignal
from PyQt5.QtGui import QKeySequence
from PyQt5.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QShortcut,
    QSplitter,
    QTabWidget,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from dicebox.camera import Geometry, SourceError, list_devices
from dicebox.config import Config
from dicebox.delivery import FrameDelivery
from dicebox.recorder import KeepMode, Recorder, RecorderSettings

from .camera_controller import CameraController
from .camera_view import CameraView
from .classify_panel import ClassifierHost, ClassifyPanel
from .images import to_pixmap
from .labels_panel import LabelsPanel
from .record_panel import RecordPanel
from .service_panel import ServiceBar, ServiceLink, ServiceLog
from .workers import run_in_background

log = logging.getLogger(__name__)

SYNTHETIC = "synthetic:dice?fps=30"


class MainWindow(QMainWindow):
    """Camera, labels, recording, service, classification, evolution and data set review."""

    deliveryChanged = pyqtSignal(object)
    countsLoaded = pyqtSignal(object)

    def __init__(self, config: Config, settings: QSettings | None = None) -> None:
        super().__init__()
        self.config = config
        self.settings = settings or QSettings(str(config.home / "gui.ini"), QSettings.IniFormat)
        self.geometry_ = Geometry(config.dataset.image_width, config.dataset.image_height, config.dataset.channels)
        self.dataset_id = config.dataset_id
        self.setWindowTitle("dicebox — supervised trainer")

        # Models (Qt-free) and controllers.
        self.recorder = Recorder(RecorderSettings(max_fps=float(self.settings.value("record/max_fps", 10.0)),
                                                  mode=KeepMode(self.settings.value("record/mode", "all"))))
        self.camera = CameraController(self.geometry_, self)
        self.link = ServiceLink(config, self)
        self.classifier = ClassifierHost(self)
        self.delivery = FrameDelivery(config.home / "spool", None, channels=config.dataset.channels,
                                      on_change=self.deliveryChanged.emit)

        # Widgets.
        self.view = CameraView()
        self.crop_preview = QLabel()
        self.crop_preview.setObjectName("cropPreview")
        self.crop_preview.setFixedSize(self.geometry_.width * 3, self.geometry_.height * 3)
        self.crop_preview.setScaledContents(True)
        self.crop_preview.setToolTip("the region of interest as the network sees it")
        self.camera_status = QLabel("")
        self.labels = LabelsPanel()
        self.record = RecordPanel(self.recorder)
        self.classify = ClassifyPanel(self.classifier)
        self.service_bar = ServiceBar(self.link)
        self.service_log = ServiceLog(self.link)
        self.source_box = QComboBox()
        self.source_box.setObjectName("sourceBox")
        self.source_box.setEditable(True)
        self.source_box.setMinimumWidth(260)
        self.source_box.setToolTip("a camera number, a video file, a folder of images, or synthetic:dice")
        self.open_button = QPushButton("Open")
        self.tabs = QTabWidget()
        self.tabs.addTab(self.service_log, "Service log")
        self.extra_panels: list = []
        self._build_layout()
        self._wire()
        self._shortcuts()
        self._restore()
        self._counts_timer = QTimer(self)
        self._counts_timer.setInterval(1500)
        self._counts_timer.timeout.connect(self.refresh_counts)
        self._loading_counts = False

    # Layout ---------------------------------------------------------------------------------
    def _build_layout(self) -> None:
        toolbar = QToolBar("Camera and service")
        toolbar.setObjectName("mainToolbar")
        toolbar.setMovable(False)
        toolbar.addWidget(QLabel(" Source "))
        toolbar.addWidget(self.source_box)
        toolbar.addWidget(self.open_button)
        toolbar.addSeparator()
        toolbar.addWidget(self.service_bar)
        self.addToolBar(toolbar)

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.view, 1)
        under = QHBoxLayout()
        under.addWidget(self.crop_preview)
        under.addWidget(self.camera_status, 1)
        left_layout.addLayout(under)

        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(self.labels, 1)
        right_layout.addWidget(self.record)
        right_layout.addWidget(self.classify, 2)

        # Scrollable, so the window fits a laptop screen; on a large screen nothing scrolls.
        right_scroll = QScrollArea()
        right_scroll.setWidget(right)
        right_scroll.setWidgetResizable(True)
        right_scroll.setFrameShape(QScrollArea.NoFrame)
        right_scroll.setMinimumWidth(right.minimumSizeHint().width() + 16)
        top = QSplitter(Qt.Horizontal)
        top.addWidget(left)
        top.addWidget(right_scroll)
        top.setStretchFactor(0, 3)
        top.setStretchFactor(1, 2)
        self.splitter = QSplitter(Qt.Vertical)
        self.splitter.setObjectName("mainSplitter")
        self.splitter.addWidget(top)
        self.splitter.addWidget(self.tabs)
        self.splitter.setStretchFactor(0, 4)
        self.splitter.setStretchFactor(1, 1)
        self.setCentralWidget(self.splitter)
        self.statusBar().showMessage("Pick a camera source, start the local service, choose a label, record.")

    def add_panel(self, widget: QWidget, title: str) -> None:
        """Add a tab (evolution, data set review, ...) composed by the application."""
        self.tabs.addTab(widget, title)
        self.extra_panels.append(widget)

    # Wiring ---------------------------------------------------------------------------------
    def _wire(self) -> None:
        self.open_button.clicked.connect(lambda: self.open_source(self.source_box.currentText()))
        self.source_box.lineEdit().returnPressed.connect(lambda: self.open_source(self.source_box.currentText()))
        self.camera.frameReady.connect(self._on_frame)
        self.camera.roiChanged.connect(self.view.set_roi)
        self.camera.stateChanged.connect(self._on_camera_state)
        self.view.roiDragged.connect(self.camera.move_roi)
        self.labels.expectedChanged.connect(self._on_expected)
        self.labels.categoryAdded.connect(self._add_category)
        self.recorder.subscribe(lambda s, _stats: self.view.set_recording(s.recording))
        self.classifier.classified.connect(self._on_classified)
        self.classifier.failed.connect(self._dialog)
        self.link.connected.connect(self._on_connected)
        self.link.disconnected.connect(lambda why: self.statusBar().showMessage(f"Service: {why}"))
        self.link.failed.connect(self._dialog)
        self.deliveryChanged.connect(self._on_delivery)
        self.countsLoaded.connect(self._on_counts)
        self._on_delivery(self.delivery.state())

    def _shortcuts(self) -> None:
        def key(sequence, slot) -> None:
            shortcut = QShortcut(QKeySequence(sequence), self)
            shortcut.setContext(Qt.ApplicationShortcut)
            shortcut.activated.connect(slot)

        for n in range(1, 10):
            key(str(n), lambda n=n: self.labels.select(n - 1))
        key("Up", lambda: self.labels.step(-1))
        key("Down", lambda: self.labels.step(1))
        key("C", lambda: self.labels.step(1))
        key("Z", self.recorder.toggle_recording)
        key("B", self.record.cycle_mode_misclassified)
        key("Shift+Left", lambda: self.camera.move_roi(-8, 0))
        key("Shift+Right", lambda: self.camera.move_roi(8, 0))
        key("Shift+Up", lambda: self.camera.move_roi(0, -8))
        key("Shift+Down", lambda: self.camera.move_roi(0, 8))
        key("+", lambda: self.camera.scale_roi(1.1))
        key("-", lambda: self.camera.scale_roi(1 / 1.1))
        key("0", self.camera.center_roi)
        key("Q", self.close)

    def keyPressEvent(self, event) -> None:
        # Space held down records a burst, as long as it is held.
        if event.key() == Qt.Key_Space and not event.isAutoRepeat():
            self.recorder.update(recording=True)
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event) -> None:
        if event.key() == Qt.Key_Space and not event.isAutoRepeat():
            self.recorder.update(recording=False)
            return
        super().keyReleaseEvent(event)

    # Camera ---------------------------------------------------------------------------------
    def open_source(self, spec: str) -> bool:
        spec = spec.strip()
        try:
            self.camera.open(spec)
        except SourceError as exc:
            self._dialog("Cannot open the camera source", str(exc))
            return False
        self.settings.setValue("camera/spec", spec)
        self.view.set_message("")
        self.camera.set_face(self.labels.expected)
        if spec.startswith("synthetic:") and self.link.client is not None and not self.labels.categories:
            for face in ("1", "2", "3", "4", "5", "6"):
                self._add_category(face)
        return True

    def _on_camera_state(self, state: str, message: str) -> None:
        if state in ("error", "reconnecting"):
            self.view.set_message(f"Camera {state}: {message}")
            self.statusBar().showMessage(f"Camera {state}: {message}")

    def _on_frame(self, frame, crop: np.ndarray) -> None:
        self.view.show_frame(frame.image)
        self.crop_preview.setPixmap(to_pixmap(crop))
        self.camera_status.setText(
            f"{self.camera.displayed_fps:5.1f} frames/s · latency {self.camera.latency_ms:4.1f} ms · "
            f"{frame.size[0]}x{frame.size[1]}" + (f" · true face {frame.label}" if frame.label else "")
        )
        if self.classifier.active:
            self.classifier.submit(crop)
        else:
            self._offer(crop, None, None)

    def _on_classified(self, crop: np.ndarray, classification) -> None:
        expected = self.labels.expected
        ok = self.classify.show_result(classification, expected)
        self.view.set_caption(f"{classification.label} ({classification.confidence:.0%})", ok)
        self._offer(crop, classification.label, classification.confidence)

    def _offer(self, crop: np.ndarray, predicted: str | None, confidence: float | None) -> None:
        decision = self.recorder.offer(crop, time.monotonic(), predicted=predicted, confidence=confidence)
        if decision.keep:
            try:
                self.delivery.submit(self.dataset_id, self.recorder.settings.expected, crop)
            except OSError as exc:
                self.recorder.update(recording=False)
                self._dialog("Cannot keep the frame", f"writing to the spool failed: {exc}")

    def _on_expected(self, expected: str | None) -> None:
        self.recorder.update(expected=expected)
        self.camera.set_face(expected)

    # Service --------------------------------------------------------------------------------
    def _on_connected(self, client) -> None:
        self.delivery.set_client(client)
        self.classify.service_client = client
        self.statusBar().showMessage(f"Connected to {client.base_url}")
        self.settings.setValue("service/kind", self.link.kind)
        if self.link.kind == "remote":
            self.settings.setValue("service/url", client.base_url)
        self._counts_timer.start()
        self.refresh_counts()
        if self.camera.spec.startswith("synthetic:"):
            QTimer.singleShot(300, self._seed_dice_categories)

    def _seed_dice_categories(self) -> None:
        if not self.labels.categories:
            for face in ("1", "2", "3", "4", "5", "6"):
                self._add_category(face)

    def _add_category(self, name: str) -> None:
        client = self.link.client
        self.labels.set_counts({**self.labels.counts, name: self.labels.counts.get(name, 0)})
        if client is None:
            return
        run_in_background(client.add_category, self.dataset_id, name, on_done=lambda _c: self.refresh_counts(),
                          on_error=lambda m: self._dialog("Cannot add the category", m))

    def refresh_counts(self) -> None:
        client = self.link.client
        if client is None or self._loading_counts:
            return
        self._loading_counts = True

        def load():
            try:
                return client.dataset_info(self.dataset_id)
            except Exception:  # noqa: BLE001 - a new service may not have the data set yet
                client.create_dataset(*self._dataset_parts(), channels=self.geometry_.channels)
                return client.dataset_info(self.dataset_id)

        def done(info) -> None:
            self._loading_counts = False
            self.countsLoaded.emit(info)

        run_in_background(load, on_done=done, on_error=lambda _m: setattr(self, "_loading_counts", False))

    def _dataset_parts(self) -> tuple[str, int, int]:
        return self.config.dataset.name, self.geometry_.width, self.geometry_.height

    def _on_counts(self, info: dict) -> None:
        self.labels.set_counts({c["name"]: c["count"] for c in info["categories"]})
        for panel in self.extra_panels:
            if hasattr(panel, "dataset_changed"):
                panel.dataset_changed(info)

    def _on_delivery(self, state) -> None:
        self.service_bar.set_spool(state.pending, state.rejected)
        if state.last_rejection:
            self.statusBar().showMessage(f"The service refused a frame: {state.last_rejection}")

    # Dialogs, settings, closing -------------------------------------------------------------
    def _dialog(self, title: str, message: str) -> None:
        log.warning("%s: %s", title, message)
        box = QMessageBox(QMessageBox.Warning, title, message, QMessageBox.Ok, self)
        box.setObjectName("errorDialog")
        box.setWindowModality(Qt.WindowModal)
        box.show()
        self.last_dialog = box

    def _restore(self) -> None:
        specs = [SYNTHETIC]
        saved = self.settings.value("camera/spec", "")
        if saved and saved not in specs:
            specs.insert(0, saved)
        self.source_box.addItems(specs)
        geometry = self.settings.value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(1280, 800)
        state = self.settings.value("window/splitter")
        if state is not None:
            self.splitter.restoreState(state)
        else:
            # First run: camera and controls get most of the height; training and logs below.
            height = self.height()
            self.splitter.setSizes([int(height * 0.74), int(height * 0.26)])
        run_in_background(list_devices, on_done=self._add_devices)

    def _add_devices(self, devices) -> None:
        for device in devices:
            if self.source_box.findText(device.spec) < 0:
                self.source_box.addItem(device.spec)

    def restore_session(self) -> None:
        """Reopen what the operator had: the camera source, and the service if it was local."""
        spec = self.settings.value("camera/spec", "")
        if spec:
            self.open_source(spec)
        if self.settings.value("service/kind", "") == "local":
            self.link.start_local()

    def closeEvent(self, event) -> None:
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/splitter", self.splitter.saveState())
        self.settings.setValue("record/max_fps", self.recorder.settings.max_fps)
        self.settings.setValue("record/mode", self.recorder.settings.mode.value)
        self.settings.sync()
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self) -> None:
        """Stop every thread and child process the window started."""
        self._counts_timer.stop()
        for panel in self.extra_panels:
            if hasattr(panel, "shutdown"):
                panel.shutdown()
        self.camera.close()
        self.classifier.shutdown()
        self.delivery.close()
        self.link.shutdown()
