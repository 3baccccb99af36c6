"""Training and evolution from the window: start, watch, stop and resume, without freezing it.

``dicebox evolve`` (or ``dicebox train``) runs as a child process; its JSON event lines arrive
on a reader thread and are handed to the UI thread as signals. The panel plots best and average
accuracy per generation, lists the population, shows the champion and the confusion matrix of
the current model, and can make the live view follow the champion.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from PyQt5.QtCore import QPointF, QRectF, Qt, pyqtSignal
from PyQt5.QtGui import QColor, QPainter, QPainterPath, QPen
from PyQt5.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from dicebox.evolution.child_process import ChildProcess

from .workers import run_in_background


class AccuracyPlot(QWidget):
    """Best and average accuracy per generation, and every individual as a dot."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumSize(260, 170)
        self.generations: list[tuple[int, float | None, float | None]] = []
        self.individuals: list[tuple[int, float]] = []
        self.total_generations = 1

    def reset(self, total_generations: int) -> None:
        self.generations, self.individuals = [], []
        self.total_generations = max(1, total_generations)
        self.update()

    def add_individual(self, generation: int, accuracy: float | None) -> None:
        if accuracy is not None:
            self.individuals.append((generation, accuracy))
            self.update()

    def add_generation(self, generation: int, best: float | None, average: float | None) -> None:
        self.generations.append((generation, best, average))
        self.update()

    def paintEvent(self, _event) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.Antialiasing)
        painter.fillRect(self.rect(), QColor(252, 252, 252))
        left, top, right, bottom = 40.0, 12.0, self.width() - 12.0, self.height() - 26.0
        painter.setPen(QColor(200, 200, 200))
        for step in range(0, 11, 2):
            y = bottom - (bottom - top) * step / 10
            painter.drawLine(QPointF(left, y), QPointF(right, y))
            painter.drawText(QRectF(0, y - 8, left - 4, 16), Qt.AlignRight | Qt.AlignVCenter, f"{step / 10:.1f}")
        n = self.total_generations

        def x_of(generation: float) -> float:
            return left + (right - left) * ((generation - 1) / max(1, n - 1) if n > 1 else 0.5)

        def y_of(value: float) -> float:
            return bottom - (bottom - top) * value

        painter.setPen(QColor(90, 90, 90))
        for generation in range(1, n + 1):
            painter.drawText(QRectF(x_of(generation) - 15, bottom + 4, 30, 16), Qt.AlignCenter, str(generation))
        painter.setPen(Qt.NoPen)
        painter.setBrush(QColor(120, 120, 120, 110))
        for generation, accuracy in self.individuals:
            painter.drawEllipse(QPointF(x_of(generation), y_of(accuracy)), 3, 3)
        for index, colour in ((1, QColor(30, 120, 220)), (2, QColor(240, 140, 30))):
            points = [(g[0], g[index]) for g in self.generations if g[index] is not None]
            if not points:
                continue
            path = QPainterPath(QPointF(x_of(points[0][0]), y_of(points[0][1])))
            for generation, value in points[1:]:
                path.lineTo(QPointF(x_of(generation), y_of(value)))
            painter.setBrush(Qt.NoBrush)
            painter.setPen(QPen(colour, 2.5, Qt.SolidLine if index == 1 else Qt.DashLine))
            painter.drawPath(path)
            painter.setBrush(colour)
            for generation, value in points:
                painter.drawEllipse(QPointF(x_of(generation), y_of(value)), 4, 4)
        painter.setPen(QColor(30, 120, 220))
        painter.drawText(QRectF(left + 6, top, 120, 16), Qt.AlignLeft, "— best")
        painter.setPen(QColor(240, 140, 30))
        painter.drawText(QRectF(left + 70, top, 120, 16), Qt.AlignLeft, "- - average")


class ConfusionMatrix(QWidget):
    """The current model's confusion matrix (rows: true class, columns: predicted)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumSize(180, 170)
        self.matrix: np.ndarray | None = None
        self.categories: list[str] = []
        self.title = "no model yet"

    def set_matrix(self, matrix, categories, title: str) -> None:
        self.matrix = np.array(matrix, dtype=float) if matrix else None
        self.categories, self.title = list(categories), title
        self.update()

    def paintEvent(self, _event) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(252, 252, 252))
        painter.setPen(QColor(60, 60, 60))
        painter.drawText(QRectF(0, 0, self.width(), 18), Qt.AlignCenter, self.title)
        if self.matrix is None or not self.matrix.size:
            return
        n = len(self.matrix)
        side = min(self.width() - 30, self.height() - 40) / n
        x0, y0 = 24.0, 22.0
        biggest = self.matrix.max() or 1.0
        for i in range(n):
            painter.setPen(QColor(60, 60, 60))
            label = self.categories[i] if i < len(self.categories) else str(i)
            painter.drawText(QRectF(0, y0 + i * side, x0 - 2, side), Qt.AlignRight | Qt.AlignVCenter, label)
            painter.drawText(QRectF(x0 + i * side, y0 + n * side, side, 14), Qt.AlignCenter, label)
            for j in range(n):
                value = self.matrix[i, j]
                shade = int(255 - 200 * value / biggest)
                colour = QColor(shade, shade, 255) if i == j else QColor(255, shade, shade)
                cell = QRectF(x0 + j * side, y0 + i * side, side - 1, side - 1)
                painter.fillRect(cell, colour if value else QColor(245, 245, 245))
                if side > 16 and value:
                    painter.setPen(QColor(20, 20, 20))
                    painter.drawText(cell, Qt.AlignCenter, str(int(value)))


class EvolutionPanel(QWidget):
    """Start/stop/resume evolution or training, and watch it live."""

    eventReceived = pyqtSignal(dict)
    lineReceived = pyqtSignal(str)
    childEnded = pyqtSignal(str, int)

    def __init__(self, window, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.window_ = window
        config = window.config
        self.child: ChildProcess | None = None
        self.kind = ""
        self.run_dir: Path | None = None
        self.champion_path: Path | None = None

        self.strategy = QComboBox()
        self.strategy.addItems(["evolve", "random"])
        self.generations = _spin(1, 1000, config.evolution.generations)
        self.population = _spin(1, 1000, config.evolution.population)
        self.epochs = _spin(1, 1000, config.evolution.epochs)
        self.workers = _spin(1, 64, 1)
        self.use_broker = QCheckBox("train on RabbitMQ workers")
        self.use_broker.setEnabled(config.broker_url is not None)
        self.use_broker.setToolTip("dicebox worker processes on any machine take the training orders"
                                   if config.broker_url else "configure [SENSORY_SERVICE] rabbitmq_server first")
        self.start_button = QPushButton("Start evolution")
        self.start_button.setObjectName("startEvolution")
        self.train_button = QPushButton("Train one network")
        self.stop_button = QPushButton("Stop")
        self.stop_button.setEnabled(False)
        self.resume_box = QComboBox()
        self.resume_box.setMinimumWidth(180)
        self.resume_button = QPushButton("Resume")
        self.follow = QPushButton("Follow the champion in the live view")
        self.follow.setEnabled(False)
        self.status = QLabel("No run yet.")
        self.status.setWordWrap(True)
        self.champion = QLabel("")
        self.champion.setWordWrap(True)
        self.plot = AccuracyPlot()
        self.matrix = ConfusionMatrix()
        self.table = QTableWidget(0, 5)
        self.table.setObjectName("populationTable")
        self.table.setHorizontalHeaderLabels(["gen", "#", "network", "accuracy", "status"])
        header = self.table.horizontalHeader()
        for column in (0, 1, 3, 4):
            header.setSectionResizeMode(column, QHeaderView.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.Stretch)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.NoEditTriggers)

        form = QFormLayout()
        form.addRow("Strategy", self.strategy)
        form.addRow("Generations", self.generations)
        form.addRow("Population", self.population)
        form.addRow("Epochs each", self.epochs)
        form.addRow("Local workers", self.workers)
        form.addRow(self.use_broker)
        buttons = QHBoxLayout()
        for button in (self.start_button, self.train_button, self.stop_button):
            buttons.addWidget(button)
        resume = QHBoxLayout()
        resume.addWidget(self.resume_box, 1)
        resume.addWidget(self.resume_button)
        controls = QWidget()
        controls_layout = QVBoxLayout(controls)
        controls_layout.addLayout(form)
        controls_layout.addLayout(buttons)
        controls_layout.addLayout(resume)
        controls_layout.addWidget(self.status)
        controls_layout.addWidget(self.champion)
        controls_layout.addWidget(self.follow)
        controls_layout.addStretch(1)
        self.matrix.setMaximumWidth(260)
        # Scrollable, so the panel never forces the window taller than a laptop screen.
        scroll = QScrollArea()
        scroll.setWidget(controls)
        scroll.setWidgetResizable(True)
        scroll.setMinimumWidth(controls.sizeHint().width() + 20)
        splitter = QSplitter(Qt.Horizontal)
        for widget in (scroll, self.plot, self.table, self.matrix):
            splitter.addWidget(widget)
        splitter.setStretchFactor(0, 0)
        self.table.setMinimumWidth(380)
        splitter.setStretchFactor(1, 1)
        splitter.setStretchFactor(2, 3)
        splitter.setStretchFactor(3, 0)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)

        self.start_button.clicked.connect(lambda: self.start())
        self.train_button.clicked.connect(self.train_one)
        self.stop_button.clicked.connect(self.stop)
        self.resume_button.clicked.connect(lambda: self.start(resume=self.resume_box.currentData()))
        self.follow.clicked.connect(self._follow_champion)
        self.eventReceived.connect(self._on_event)
        self.lineReceived.connect(window.service_log.appendPlainText)
        self.childEnded.connect(self._on_ended)
        self.refresh_runs()

    # Runs on disk -------------------------------------------------------------------------------
    def refresh_runs(self) -> None:
        """Offer the runs that can be resumed (a state file and no final champion event)."""
        self.resume_box.clear()
        root = self.window_.config.population_dir
        if root.is_dir():
            for run in sorted((p for p in root.iterdir() if (p / "state.json").is_file()), reverse=True):
                try:
                    finished = json.loads((run / "state.json").read_text(encoding="utf-8")).get("finished", False)
                except (OSError, ValueError):
                    continue
                if not finished:
                    self.resume_box.addItem(run.name, run.name)
        self.resume_button.setEnabled(self.resume_box.count() > 0 and self.child is None)

    # Starting and stopping ----------------------------------------------------------------------
    def _data_args(self, then) -> None:
        """Where the child reads the data set: the local store, or arrays fetched from a remote service."""
        link = self.window_.link
        config = self.window_.config
        if link.kind != "remote" or link.client is None:
            then(["--data-dir", str(config.home)])
            return
        client, dataset = link.client, self.window_.dataset_id

        def fetch() -> Path:
            arrays = client.arrays(dataset)
            config.tmp_dir.mkdir(parents=True, exist_ok=True)
            path = config.tmp_dir / f"{dataset}-{int(time.time())}.npz"
            np.savez(path, images=arrays.images, labels=arrays.labels, categories=np.array(arrays.categories))
            return path

        self.status.setText("Fetching the data set from the service…")
        run_in_background(fetch, on_done=lambda path: then(["--data-dir", str(config.home), "--npz", str(path)]),
                          on_error=lambda m: self._error("Cannot fetch the data set", m))

    def start(self, resume: str | None = None) -> None:
        if self.child is not None:
            return

        def launch(data_args: list[str]) -> None:
            args = ["evolve", *data_args, "--json-events", "--quiet"]
            if resume:
                args += ["--resume", resume]
            else:
                args += ["--strategy", self.strategy.currentText(), "--generations", str(self.generations.value()),
                         "--population", str(self.population.value()), "--epochs", str(self.epochs.value())]
            if self.use_broker.isChecked():
                args.append("--broker")
            elif self.workers.value() > 1:
                args += ["--workers", str(self.workers.value())]
            if self.window_.config.source is not None:
                args += ["--config", str(self.window_.config.source)]
            self.table.setRowCount(0)
            self.plot.reset(self.generations.value())
            self._launch("evolution", args)

        self._data_args(launch)

    def train_one(self) -> None:
        if self.child is not None:
            return
        out = self.window_.config.weights_dir / f"trained-{time.strftime('%Y%m%d-%H%M%S')}"
        self.champion_path = out

        def launch(data_args: list[str]) -> None:
            self._launch("training", ["train", *data_args, "--out", str(out)])

        self._data_args(launch)

    def _launch(self, kind: str, args: list[str]) -> None:
        self.kind = kind
        self.child = ChildProcess(args, on_event=self.eventReceived.emit, on_line=self.lineReceived.emit)
        child = self.child
        try:
            child.start()
        except OSError as exc:
            self.child = None
            self._error(f"Cannot start the {kind}", str(exc))
            return

        def wait() -> int:
            return child.wait()

        run_in_background(wait, on_done=lambda code: self.childEnded.emit(kind, code))
        self.status.setText(f"{kind.capitalize()} running…")
        self._buttons(running=True)

    def stop(self) -> None:
        """Ask the child to stop; an evolution saves its state and can be resumed."""
        if self.child is not None:
            self.status.setText(f"Stopping the {self.kind}…")
            child = self.child
            run_in_background(child.stop)

    def _buttons(self, running: bool) -> None:
        for button in (self.start_button, self.train_button, self.resume_button):
            button.setEnabled(not running)
        self.stop_button.setEnabled(running)

    def _on_ended(self, kind: str, code: int) -> None:
        self.child = None
        self._buttons(running=False)
        self.refresh_runs()
        if kind == "training" and code == 0 and self.champion_path is not None:
            self._show_bundle(self.champion_path, "trained network")
            self.follow.setEnabled(True)
            self.status.setText(f"Training finished: {self.champion_path.name}")
        elif code == 0:
            self.status.setText(self.status.text() if "finished" in self.status.text() else f"{kind} finished")
        elif code in (130, -2):
            self.status.setText(f"{kind.capitalize()} stopped; resume it from the list.")
        else:
            self.status.setText(f"{kind.capitalize()} ended with status {code}; see the service log tab.")

    # Events -------------------------------------------------------------------------------------
    def _on_event(self, event: dict) -> None:
        kind = event.get("event")
        if kind == "RunStarted":
            self.run_dir = Path(event["run_dir"]) if event.get("run_dir") else None
            self.champion_path = Path(event["champion_path"]) if event.get("champion_path") else None
            self.window_.classify.champion_path = self.champion_path
            self.plot.reset(event["generations"])
            # Show the run's own sizes (a resumed or outside-started run may differ from the form).
            self.generations.setValue(event["generations"])
            self.population.setValue(event["population"])
            self.epochs.setValue(event["epochs"])
            self.status.setText(f"Run {event['run_id']}: {event['individuals']} networks to train"
                                + (" (resumed)" if event.get("resumed") else ""))
        elif kind == "IndividualTrained":
            row = self.table.rowCount()
            self.table.insertRow(row)
            accuracy = "" if event["accuracy"] is None else f"{event['accuracy']:.3f}"
            status = event["status"] + (" (cached)" if event.get("cached") else "")
            for column, value in enumerate((event["generation"], event["index"], event["genome"], accuracy, status)):
                item = QTableWidgetItem(str(value))
                item.setToolTip(event.get("error") or event["genome"])
                self.table.setItem(row, column, item)
            self.table.scrollToBottom()
            self.plot.add_individual(event["generation"], event["accuracy"])
            eta = event.get("eta_seconds")
            self.status.setText(f"{event['done']} of {event['total']} networks trained"
                                + (f" · about {eta:.0f} s left" if eta else ""))
        elif kind == "GenerationSummary":
            self.plot.add_generation(event["generation"], event["best"], event["average"])
        elif kind == "ChampionChanged":
            self.champion.setText(f"<b>Champion</b>: {event['accuracy']:.3f} validation accuracy "
                                  f"(generation {event['generation']})")
            if event.get("bundle"):
                self.champion_path = Path(event["bundle"])
                self.window_.classify.champion_path = self.champion_path
                self._show_bundle(self.champion_path, "champion")
                self.follow.setEnabled(True)
        elif kind == "RunFinished":
            self.status.setText(f"Run {event['run_id']} {event['status']}"
                                + (f": {event['message']}" if event.get("message") else ""))

    def _show_bundle(self, path: Path, what: str) -> None:
        try:
            manifest = json.loads((path / "bundle.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return
        metrics = manifest.get("metrics") or {}
        self.matrix.set_matrix(metrics.get("confusion_matrix"), manifest.get("categories", []),
                               f"{what}: {metrics.get('accuracy', 0):.1%}")

    def _follow_champion(self) -> None:
        if self.champion_path is not None:
            self.window_.classifier.follow(self.champion_path)
            self.window_.classify.source.setCurrentIndex(3)

    def _error(self, title: str, message: str) -> None:
        QMessageBox.warning(self, title, message)

    def shutdown(self) -> None:
        if self.child is not None:
            self.child.stop(timeout=20)
            self.child = None


def _spin(low: int, high: int, value: int) -> QSpinBox:
    spin = QSpinBox()
    spin.setRange(low, high)
    spin.setValue(value)
    return spin


def evolution_panel(window) -> tuple[QWidget, str]:
    return EvolutionPanel(window), "Train and evolve"
