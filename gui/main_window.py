"""The supervised trainer's main window: composes the panels and routes frames between them."""

from __future__ import annotations

import logging
from typing import TypeVar

import numpy as np
from PyQt5.QtCore import QSettings, Qt, QTimer, pyqtSignal
from PyQt5.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QSplitter,
    QTabWidget,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from dicebox.camera import Geometry, SourceError, list_devices
from dicebox.client.delivery import FrameDelivery
from dicebox.config import Config
from dicebox.session.model_source import ModelSource
from dicebox.session.recorder import KeepMode, Recorder, RecorderSettings
from dicebox.session.recording import KeepFailed, RecordingSession

from .background import run_in_background
from .camera_controller import CameraController
from .camera_view import CameraView
from .classify_panel import ClassifierHost, ClassifyPanel
from .images import to_pixmap
from .keys import WindowKeys
from .labels_panel import LabelsPanel
from .panel import WindowPanel
from .record_panel import RecordPanel
from .service_panel import QtServiceLink, ServiceBar, ServiceLog

log = logging.getLogger(__name__)

P = TypeVar("P", bound=WindowPanel)

SYNTHETIC = "synthetic:dice?fps=30"


class PanelTabs(QTabWidget):
    """Tabs whose panels scroll when the window is smaller than they would like, instead of
    forcing the whole window wider than a laptop screen (one wide panel did: 1261 px)."""

    def add_panel(self, widget: QWidget, title: str) -> None:
        scroll = QScrollArea()
        scroll.setWidget(widget)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.NoFrame)
        scroll.setMinimumSize(1, 1)  # its scroll bars' own minimum must not make the window taller
        self.addTab(scroll, title)

    def indexOf(self, widget: QWidget) -> int:  # noqa: N802 - Qt's name
        for index in range(self.count()):
            page = self.widget(index)
            if page is widget or (isinstance(page, QScrollArea) and page.widget() is widget):
                return index
        return -1

    def setCurrentWidget(self, widget: QWidget) -> None:  # noqa: N802 - Qt's name
        index = self.indexOf(widget)
        if index >= 0:
            self.setCurrentIndex(index)


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
        self.recorder = Recorder(
            RecorderSettings(
                max_fps=float(self.settings.value("record/max_fps", 10.0)),
                mode=KeepMode(self.settings.value("record/mode", "all")),
            )
        )
        self.camera = CameraController(self.geometry_, self)
        self.link = QtServiceLink(config, self)
        self.classifier = ClassifierHost(self)
        self.delivery = FrameDelivery(
            config.home / "spool", None, channels=config.dataset.channels, on_change=self.deliveryChanged.emit
        )
        # Frames arrive on the UI thread (camera and classifier signals): its events are handled here at once.
        self.recording = RecordingSession(self.recorder, self.delivery, self.dataset_id)
        self.recording.events.connect(self._on_recording_event)

        # Widgets.
        self.view = CameraView()
        self.crop_preview = QLabel()
        self.crop_preview.setObjectName("cropPreview")
        self.crop_preview.setFixedSize(self.geometry_.width * 3, self.geometry_.height * 3)
        self.crop_preview.setScaledContents(True)
        self.crop_preview.setToolTip("the region of interest as the network sees it")
        self.camera_status = QLabel("")
        self.camera_status.setWordWrap(True)  # a long line must not widen the camera's column
        self.labels = LabelsPanel()
        self.record = RecordPanel(self.recorder)
        # Which model the live view classifies with; the training tab offers its results through it too.
        self.models = ModelSource(config.weights_dir, config.population_dir)
        self.classify = ClassifyPanel(self.classifier, settings=self.settings, model_source=self.models)
        self.service_bar = ServiceBar(self.link)
        self.service_log = ServiceLog(self.link)
        self.source_box = QComboBox()
        self.source_box.setObjectName("sourceBox")
        self.source_box.setEditable(True)
        self.source_box.setMinimumWidth(220)
        self.source_box.setToolTip("a camera number, a video file, a folder of images, or synthetic:dice")
        self.open_button = QPushButton("Open")
        self.tabs = PanelTabs()
        self.tabs.addTab(self.service_log, "Service log")
        self.service_log.setMinimumHeight(30)  # a short log is fine on a short screen
        self.extra_panels: list[WindowPanel] = []
        self._size_splitter_on_show = False
        self._sizes_before_panel: list[int] | None = None
        self._counts_client = None  # the service whose counts are being loaded
        self.quit_dialog: QMessageBox | None = None
        self._operator_quit = False  # the close comes from the operator (q), not from code
        self._quit_confirmed = False
        self._quit_when_delivered = False
        self._build_layout()
        self._wire()
        self._shortcuts()
        self._restore()
        self._counts_timer = QTimer(self)
        self._counts_timer.setInterval(1500)
        self._counts_timer.timeout.connect(self.refresh_counts)

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

        # Three columns: the camera; the labels over the recording controls; the live classification.
        # No scroll area in the middle: its word-wrapped texts would make it take its preferred
        # height and scroll; laid out directly, the label list gives up rows first (down to 6).
        self.middle = QWidget()
        middle_layout = QVBoxLayout(self.middle)
        middle_layout.setContentsMargins(0, 0, 0, 0)
        middle_layout.addWidget(self.labels)
        middle_layout.addWidget(self.record)
        middle_layout.addStretch(1)
        top = QSplitter(Qt.Horizontal)
        top.setChildrenCollapsible(False)
        top.addWidget(left)
        top.addWidget(self.middle)
        top.addWidget(self.classify)
        top.setStretchFactor(0, 5)
        top.setStretchFactor(1, 3)
        top.setStretchFactor(2, 3)
        self.splitter = QSplitter(Qt.Vertical)
        self.splitter.setObjectName("mainSplitter")
        # On a short screen an opened training or data set panel may take height from the live
        # area, which then scrolls instead of squeezing its controls.
        self.live = top
        live_scroll = QScrollArea()
        live_scroll.setWidget(top)
        live_scroll.setWidgetResizable(True)
        live_scroll.setFrameShape(QScrollArea.NoFrame)
        live_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        live_scroll.setMinimumSize(top.minimumSizeHint().width(), 160)
        self.splitter.addWidget(live_scroll)
        self.splitter.addWidget(self.tabs)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.setStretchFactor(0, 4)
        self.splitter.setStretchFactor(1, 1)
        self.setCentralWidget(self.splitter)
        self.statusBar().addPermanentWidget(self.service_bar.notice)
        self.statusBar().showMessage("Pick a camera source, start the local service, choose a label, record.")

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._size_splitter_on_show:
            self._fit_splitter()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self._size_splitter_on_show and self.isVisible():
            self._fit_splitter()  # until the operator drags the divider, it follows the window's size

    def _fit_splitter(self) -> None:
        """Camera, labels, recording and live classification get what they need to be seen together
        (and at least 70 %); the tabs below get the rest, never under 110 px."""
        height = self.splitter.height() - self.splitter.handleWidth()
        top = self.live
        need = max(top.widget(i).minimumSizeHint().height() for i in range(top.count()))
        floor = top.minimumSizeHint().height()
        need = max(need, self.middle.minimumSizeHint().height(), int(height * 0.7))
        top_height = max(floor, min(need, height - 110))
        self.splitter.setSizes([top_height, height - top_height])
        self._sizes_before_panel = None
        if self.tabs.currentIndex() > 0:
            self._tab_changed(self.tabs.currentIndex())

    def _tab_changed(self, index: int) -> None:
        """A panel (training, data set) opened in a small bottom area grows to what it needs; the
        log tab gives the height back, so the live view is as it was."""
        top_height, bottom_height = self.splitter.sizes()
        if index <= 0:
            if self._sizes_before_panel is not None:
                self.splitter.setSizes(self._sizes_before_panel)
                self._sizes_before_panel = None
            return
        page = self.tabs.widget(index)
        inner = page.widget() if isinstance(page, QScrollArea) else page
        total = top_height + bottom_height
        floor = 200  # the live area keeps this much, and scrolls
        want = min(inner.sizeHint().height() + self.tabs.tabBar().sizeHint().height() + 4, total - floor)
        if want > bottom_height:
            if self._sizes_before_panel is None:
                self._sizes_before_panel = [top_height, bottom_height]
            self.splitter.setSizes([total - want, want])

    def add_panel(self, panel: WindowPanel, title: str) -> None:
        """Add a tab (evolution, data set review, ...) composed by the application."""
        if not isinstance(panel, WindowPanel):
            raise TypeError(f"{type(panel).__name__} is not a WindowPanel")
        self.tabs.add_panel(panel, title)
        self.extra_panels.append(panel)

    def panel_of(self, kind: type[P]) -> P:
        """The tab of that class (the demo and tests reach the training tab this way)."""
        for panel in self.extra_panels:
            if isinstance(panel, kind):
                return panel
        raise LookupError(f"no {kind.__name__} in this window")

    # Wiring ---------------------------------------------------------------------------------
    def _wire(self) -> None:
        self.tabs.currentChanged.connect(self._tab_changed)
        self.splitter.splitterMoved.connect(lambda *_: setattr(self, "_size_splitter_on_show", False))
        self.open_button.clicked.connect(lambda: self.open_source(self.source_box.currentText()))
        self.source_box.lineEdit().returnPressed.connect(self._source_entered)
        self.camera.frameReady.connect(self._on_frame)
        self.camera.roiChanged.connect(self.view.set_roi)
        self.camera.stateChanged.connect(self._on_camera_state)
        self.view.roiDragged.connect(self.camera.move_roi)
        self.labels.expectedChanged.connect(self._on_expected)
        self.labels.categoryAdded.connect(self._add_category)
        self.recorder.subscribe(lambda s, _stats: self.view.set_recording(s.recording))
        self.classifier.classified.connect(self._on_classified)
        self.classifier.unclassified.connect(self._on_unclassified)
        self.classifier.modelChanged.connect(lambda description: self.recorder.set_model(bool(description)))
        self.recorder.set_model(self.classifier.active)
        self.classifier.failed.connect(self._dialog)
        self.link.connected.connect(self._on_connected)
        self.link.disconnected.connect(lambda why: self.statusBar().showMessage(f"Service: {why}"))
        self.link.failed.connect(self._dialog)
        self.deliveryChanged.connect(self._on_delivery)
        self.countsLoaded.connect(self._on_counts)
        self._on_delivery(self.delivery.state())

    def _shortcuts(self) -> None:
        keys = self.keys = WindowKeys(self, home=self.view)
        for n in range(1, 10):
            keys.bind(Qt.Key_0 + n, lambda n=n: self.labels.select(n - 1))
        keys.bind(Qt.Key_Up, lambda: self.labels.step(-1))
        keys.bind(Qt.Key_Down, lambda: self.labels.step(1))
        keys.bind(Qt.Key_C, lambda: self.labels.step(1))
        keys.bind(Qt.Key_Z, self.recorder.toggle_recording)
        keys.hold(Qt.Key_Space, lambda down: self.recorder.update(recording=down))
        keys.bind(Qt.Key_B, self.record.cycle_mode_misclassified)
        keys.bind(Qt.Key_Left, lambda: self.camera.move_roi(-8, 0), Qt.ShiftModifier)
        keys.bind(Qt.Key_Right, lambda: self.camera.move_roi(8, 0), Qt.ShiftModifier)
        keys.bind(Qt.Key_Up, lambda: self.camera.move_roi(0, -8), Qt.ShiftModifier)
        keys.bind(Qt.Key_Down, lambda: self.camera.move_roi(0, 8), Qt.ShiftModifier)
        keys.bind(Qt.Key_Plus, lambda: self.camera.scale_roi(1.1))
        keys.bind(Qt.Key_Minus, lambda: self.camera.scale_roi(1 / 1.1))
        keys.bind(Qt.Key_0, self.camera.center_roi)
        keys.bind(Qt.Key_Q, self.quit_as_operator)
        # The keyboard starts on the camera picture, never in the Source field (digits would be typed there).
        self.source_box.setFocusPolicy(Qt.ClickFocus)
        self.view.setFocusPolicy(Qt.ClickFocus)
        self.view.setFocus(Qt.OtherFocusReason)

    def _source_entered(self) -> None:
        if self.open_source(self.source_box.currentText()):
            self.view.setFocus(Qt.OtherFocusReason)  # the keys are the window's again

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
            self.recording.unjudged(crop)

    def _on_unclassified(self, crop: np.ndarray, why: str) -> None:
        self.recording.unclassified(crop, why)

    def _on_classified(self, crop: np.ndarray, classification) -> None:
        expected = self.labels.expected
        ok = self.classify.show_result(classification, expected)
        self.view.set_caption(f"{classification.label} ({classification.confidence:.0%})", ok)
        self.recording.classified(crop, classification.label, classification.confidence)

    def _on_recording_event(self, event) -> None:
        if isinstance(event, KeepFailed):
            self._dialog("Cannot keep the frame", event.message)

    def _on_expected(self, expected: str | None) -> None:
        self.recorder.update(expected=expected)
        self.camera.set_face(expected)

    # Service --------------------------------------------------------------------------------
    def _on_connected(self, client) -> None:
        self.delivery.set_client(client)
        # A local service shares this window's weights folder: a bundle can be copied there and loaded.
        self.classify.service_weights_dir = self.config.weights_dir if self.link.kind == "local" else None
        self.classify.service_client = client
        self.statusBar().showMessage(f"Connected to {client.base_url}")  # a restart's note stays beside it
        self.settings.setValue("service/kind", self.link.kind)
        if self.link.kind == "remote":
            self.settings.setValue("service/url", client.base_url)
        self._counts_timer.start()
        for name in sorted(self.labels.pending):  # added while no service (or another one) was there
            self._add_category(name)
        self.refresh_counts()
        if self.camera.spec.startswith("synthetic:"):
            QTimer.singleShot(300, self._seed_dice_categories)

    def _seed_dice_categories(self) -> None:
        if not self.labels.categories:
            for face in ("1", "2", "3", "4", "5", "6"):
                self._add_category(face)

    def _add_category(self, name: str) -> None:
        client = self.link.client
        self.labels.add_local(name)
        if client is None:
            return  # created on the service the window connects to next

        # On failure it stays listed as added here, and is sent again to the next service connected.
        run_in_background(
            client.add_category,
            self.dataset_id,
            name,
            on_done=lambda _c: self.refresh_counts(),
            on_error=lambda m: self._dialog("Cannot add the category", m),
        )

    def refresh_counts(self) -> None:
        client = self.link.client
        if client is None or self._counts_client is client:
            return  # nothing to ask, or this service's answer is on its way
        self._counts_client = client

        def load():
            return client.ensure_dataset(self.dataset_id, channels=self.geometry_.channels)

        def done(info) -> None:
            if self._counts_client is client:
                self._counts_client = None
            if client is self.link.client:  # not the answer of a service the window has left since
                self.countsLoaded.emit(info)

        def failed(_message: str) -> None:
            if self._counts_client is client:
                self._counts_client = None

        run_in_background(load, on_done=done, on_error=failed)

    def _on_counts(self, info: dict) -> None:
        self.labels.set_counts({c["name"]: c["count"] for c in info["categories"]})
        for panel in self.extra_panels:
            panel.dataset_changed(info)

    def _on_delivery(self, state) -> None:
        self.service_bar.set_spool(state.pending, state.rejected, state.last_error)
        if self._quit_when_delivered and not state.pending:
            self._quit_confirmed = True
            QTimer.singleShot(0, self.close)
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
        self.service_bar.remote_url = str(self.settings.value("service/url", "") or "")
        geometry = self.settings.value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(1280, 800)
        state = self.settings.value("window/splitter")
        if state is not None:
            self.splitter.restoreState(state)
        else:
            self._size_splitter_on_show = True  # first run: sized once the real height is known
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
        self.classify.restore_model()

    def quit_as_operator(self) -> None:
        """Close as the operator asked to (``q``): frames not yet sent are a question first."""
        self._operator_quit = True
        self.close()

    def _ask_before_quitting(self, pending: int) -> None:
        waiting = self.delivery.state().last_error
        frames = "1 frame" if pending == 1 else f"{pending} frames"
        box = QMessageBox(
            QMessageBox.Warning,
            "Frames not sent yet",
            f"{frames} recorded here have not reached the service yet"
            + (f" ({waiting})" if waiting else "")
            + ".\n\nThey stay in the spool on this computer and are sent the next time the window is "
            "connected to a service. Wait until they are sent, or quit now?",
            QMessageBox.Cancel,
            self,
        )
        box.setObjectName("quitDialog")
        self.wait_button = box.addButton("Wait, then quit", QMessageBox.AcceptRole)
        self.quit_anyway_button = box.addButton("Quit anyway", QMessageBox.DestructiveRole)
        box.setDefaultButton(self.wait_button)
        box.setWindowModality(Qt.WindowModal)
        box.buttonClicked.connect(self._quit_answered)
        box.show()
        self.quit_dialog = box

    def _quit_answered(self, button) -> None:
        if button is self.quit_anyway_button:
            self._quit_confirmed = True
            self.close()
        elif button is self.wait_button:
            self._quit_when_delivered = True
            pending = self.delivery.state().pending
            self.statusBar().showMessage(
                f"Quitting once the {pending} frames waiting in the spool are sent (press q to quit without waiting)"
            )
            self._on_delivery(self.delivery.state())

    def closeEvent(self, event) -> None:
        operator, self._operator_quit = self._operator_quit or event.spontaneous(), False
        pending = self.delivery.state().pending
        if operator and pending and not self._quit_confirmed:
            event.ignore()
            self._ask_before_quitting(pending)
            return
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
            panel.shutdown()
        self.camera.close()
        self.classifier.shutdown()
        self.delivery.close()
        self.link.shutdown()
