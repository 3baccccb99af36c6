"""Training and evolution from the window: start, watch, stop and resume, without freezing it.

``dicebox evolve`` (or ``dicebox train``) runs as a child process; its JSON event lines arrive
on a reader thread and are handed to the UI thread as signals. What they mean for the operator
(the runs that can be resumed, the champion and where it came from, the model to use, how the
child ended) is kept by a Qt-free :class:`dicebox.session.runs.RunMonitor`; this panel renders
it: best and average accuracy per generation, the population, the champion's box and the
confusion matrix of the current model. "Use this model" and "Follow the champion" are commands to
the window's :class:`dicebox.session.model_source.ModelSource`. A single training (``dicebox train
--json-events``) shows a progress bar and its accuracy per epoch instead. The form is remembered
in the window's settings (``gui.ini``).
"""

from __future__ import annotations

import html
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PyQt5.QtCore import QPointF, QRectF, Qt, pyqtSignal
from PyQt5.QtGui import QColor, QFont, QFontMetricsF, QPainter, QPainterPath, QPen
from PyQt5.QtWidgets import (
    QCheckBox,
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QSplitter,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from dicebox.images import write_npz
from dicebox.nets.bundle import Bundle, load_bundle
from dicebox.plumbing.child_process import ChildProcess
from dicebox.session.model_source import ModelSourceError
from dicebox.session.runs import (
    ChampionFound,
    ChildEnded,
    ModelReady,
    RunFollowed,
    RunMonitor,
    RunsListed,
    describe_champion,
    percent,
)

from .background import run_in_background
from .panel import WindowPanel

BLUE, ORANGE, GREY = QColor(30, 120, 220), QColor(240, 140, 30), QColor(120, 120, 120, 110)


class AccuracyChart(QWidget):
    """Accuracy (0..100 %) against a whole-number x axis, with axis titles and a legend explaining
    every mark; subclasses draw the data in :meth:`draw_data`."""

    x_title = ""
    y_title = "validation accuracy"
    legend: tuple[tuple[str, str], ...] = ()  # (label, mark): mark is "dot", "solid" or "dashed"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumSize(260, 190)

    @staticmethod
    def tick_label(value: float) -> str:
        return f"{value * 100:.0f} %"

    def fitting_y_title(self, length: float) -> str:
        """The y axis title, or its last word when a short chart has no room for all of it."""
        if self.fontMetrics().horizontalAdvance(self.y_title) <= length:
            return self.y_title
        return self.y_title.split()[-1]

    def x_range(self) -> tuple[int, int]:
        return 1, 1

    def draw_data(self, painter: QPainter, x_of, y_of) -> None:
        raise NotImplementedError

    def paintEvent(self, _event) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.Antialiasing)
        painter.fillRect(self.rect(), QColor(252, 252, 252))
        metrics = self.fontMetrics()
        line = metrics.height()
        left = line + metrics.horizontalAdvance("100 %") + 10.0
        right = self.width() - 12.0
        rows = self._legend_rows(self.width() - 12.0)
        top, bottom = len(rows) * line + 10.0, self.height() - 2.0 * line - 8
        painter.setPen(QColor(200, 200, 200))
        for step in range(0, 11, 2):
            y = bottom - (bottom - top) * step / 10
            painter.drawLine(QPointF(left, y), QPointF(right, y))
            painter.setPen(QColor(90, 90, 90))
            painter.drawText(
                QRectF(0, y - line / 2, left - 6, line), Qt.AlignRight | Qt.AlignVCenter, self.tick_label(step / 10)
            )
            painter.setPen(QColor(200, 200, 200))
        low, high = self.x_range()

        def x_of(value: float) -> float:
            return left + (right - left) * ((value - low) / (high - low) if high > low else 0.5)

        def y_of(value: float) -> float:
            return bottom - (bottom - top) * value

        painter.setPen(QColor(90, 90, 90))
        every = max(1, -(-(high - low + 1) * metrics.horizontalAdvance("0000") // max(1, int(right - left))))
        for value in range(low, high + 1, every):
            painter.drawText(QRectF(x_of(value) - 20, bottom + 3, 40, line), Qt.AlignCenter, str(value))
        painter.drawText(QRectF(left, bottom + line + 5, right - left, line), Qt.AlignCenter, self.x_title)
        painter.save()
        painter.translate(2, (top + bottom) / 2)
        painter.rotate(-90)
        painter.drawText(QRectF(-(bottom - top) / 2, 0, bottom - top, line), Qt.AlignCenter,
                         self.fitting_y_title(bottom - top))
        painter.restore()
        self.draw_data(painter, x_of, y_of)
        for row, entries in enumerate(rows):
            self._draw_legend(painter, entries, 6.0, 3.0 + row * line, line)

    def _legend_rows(self, width: float) -> list[list[tuple[str, str]]]:
        """The legend's entries in as many rows as the width needs."""
        rows: list[list[tuple[str, str]]] = [[]]
        used = 0.0
        for label, mark in self.legend:
            needed = 22 + self.fontMetrics().horizontalAdvance(label) + 14
            if rows[-1] and used + needed > width:
                rows.append([])
                used = 0.0
            rows[-1].append((label, mark))
            used += needed
        return rows

    def _draw_legend(self, painter: QPainter, entries, x: float, y: float, line: float) -> None:
        colours = {"dot": GREY, "solid": BLUE, "dashed": ORANGE}
        for label, mark in entries:
            colour = colours[mark]
            middle = y + line / 2
            if mark == "dot":
                painter.setPen(Qt.NoPen)
                painter.setBrush(colour)
                painter.drawEllipse(QPointF(x + 9, middle), 3, 3)
            else:
                painter.setPen(QPen(colour, 2.5, Qt.SolidLine if mark == "solid" else Qt.DashLine))
                painter.drawLine(QPointF(x, middle), QPointF(x + 18, middle))
            painter.setPen(QColor(60, 60, 60))
            width = self.fontMetrics().horizontalAdvance(label)
            painter.drawText(QRectF(x + 22, y, width + 2, line), Qt.AlignLeft | Qt.AlignVCenter, label)
            x += 22 + width + 14

    @staticmethod
    def draw_line(
        painter: QPainter, points: list[tuple[float, float]], colour: QColor, dashed: bool, x_of, y_of
    ) -> None:
        if not points:
            return
        path = QPainterPath(QPointF(x_of(points[0][0]), y_of(points[0][1])))
        for x, value in points[1:]:
            path.lineTo(QPointF(x_of(x), y_of(value)))
        painter.setBrush(Qt.NoBrush)
        painter.setPen(QPen(colour, 2.5, Qt.DashLine if dashed else Qt.SolidLine))
        painter.drawPath(path)
        painter.setPen(Qt.NoPen)
        painter.setBrush(colour)
        for x, value in points:
            painter.drawEllipse(QPointF(x_of(x), y_of(value)), 4, 4)


class AccuracyPlot(AccuracyChart):
    """Best and average accuracy per generation, and every individual network as a grey dot."""

    x_title = "generation"
    legend = (("individual network", "dot"), ("best of generation", "solid"), ("average", "dashed"))

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
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

    def x_range(self) -> tuple[int, int]:
        return 1, self.total_generations

    def draw_data(self, painter: QPainter, x_of, y_of) -> None:
        painter.setPen(Qt.NoPen)
        painter.setBrush(GREY)
        for generation, accuracy in self.individuals:
            painter.drawEllipse(QPointF(x_of(generation), y_of(accuracy)), 3, 3)
        for index, colour in ((1, BLUE), (2, ORANGE)):
            points = [(g[0], g[index]) for g in self.generations if g[index] is not None]
            self.draw_line(painter, points, colour, index == 2, x_of, y_of)


class EpochPlot(AccuracyChart):
    """One network's training: accuracy on the training and on the validation images per epoch."""

    x_title = "epoch"
    y_title = "accuracy"
    legend = (("training images", "solid"), ("validation images", "dashed"))

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.points: list[tuple[int, float, float | None]] = []
        self.epochs = 1

    def reset(self, epochs: int) -> None:
        self.points, self.epochs = [], max(1, epochs)
        self.update()

    def add_epoch(self, epoch: int, accuracy: float, val_accuracy: float | None) -> None:
        self.points.append((epoch, accuracy, val_accuracy))
        self.update()

    def x_range(self) -> tuple[int, int]:
        return 1, self.epochs

    def draw_data(self, painter: QPainter, x_of, y_of) -> None:
        self.draw_line(painter, [(e, a) for e, a, _v in self.points], BLUE, False, x_of, y_of)
        self.draw_line(painter, [(e, v) for e, _a, v in self.points if v is not None], ORANGE, True, x_of, y_of)


class WrappedLabel(QLabel):
    """A word-wrapped label that a short layout never squeezes below what its text needs at its width
    (the plot above it gives up height first)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWordWrap(True)

    def setText(self, text: str) -> None:  # noqa: N802 - Qt's name
        super().setText(text)
        self._fit()

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        self._fit()

    def _fit(self) -> None:
        need = self.heightForWidth(self.width()) if self.text() else 0
        if need != self.minimumHeight():
            self.setMinimumHeight(max(0, need))


@dataclass(frozen=True)
class MatrixPlacement:
    """Where the confusion matrix draws: the cells, and room for whole labels and the titles."""

    x0: float
    y0: float
    side: float  # of one cell
    row_labels: QRectF
    column_label_room: float  # along the reading direction of a column label
    rotated: bool  # column labels read bottom to top when they are wider than a cell


class ConfusionMatrix(QWidget):
    """The current model's confusion matrix (rows: true class, columns: predicted)."""

    row_title = "true"
    column_title = "predicted"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumSize(200, 190)
        self.matrix: np.ndarray | None = None
        self.categories: list[str] = []
        self.title = "no model yet"

    def set_matrix(self, matrix, categories, title: str) -> None:
        self.matrix = np.array(matrix, dtype=float) if matrix else None
        self.categories, self.title = list(categories), title
        self.update()

    def _labels(self) -> list[str]:
        n = 0 if self.matrix is None else len(self.matrix)
        return [self.categories[i] if i < len(self.categories) else str(i) for i in range(n)]

    def placement(self) -> MatrixPlacement:
        metrics = self.fontMetrics()
        line = float(metrics.height())
        labels = self._labels() or [""]
        n = len(labels)
        widest = float(max(metrics.horizontalAdvance(label) for label in labels)) + 6
        left, top = line + 2 + widest, line + 6

        def side_for(bottom_room: float) -> float:
            return max(4.0, min((self.width() - left - 6) / n, (self.height() - top - bottom_room - line - 4) / n))

        side = side_for(line + 2)
        rotated = widest > side
        if rotated:
            side = side_for(widest)
        return MatrixPlacement(
            left, top, side, QRectF(line + 2, top, widest, side * n), widest if rotated else side, rotated
        )

    def count_font(self, side: float) -> QFont:
        """The font of the counts in the cells: smaller when the largest count would spill over a cell."""
        font = QFont(self.font())
        biggest = "" if self.matrix is None or not self.matrix.size else str(int(self.matrix.max()))
        while font.pointSizeF() > 6 and QFontMetricsF(font).horizontalAdvance(biggest) > side - 3:
            font.setPointSizeF(font.pointSizeF() - 0.5)
        return font

    def paintEvent(self, _event) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(252, 252, 252))
        painter.setPen(QColor(60, 60, 60))
        line = float(self.fontMetrics().height())
        painter.drawText(QRectF(0, 0, self.width(), line + 2), Qt.AlignCenter, self.title)
        if self.matrix is None or not self.matrix.size:
            return
        place = self.placement()
        count_font = self.count_font(place.side)
        labels, n, side, x0, y0 = self._labels(), len(self.matrix), place.side, place.x0, place.y0
        biggest = self.matrix.max() or 1.0
        label_room = place.column_label_room if place.rotated else line
        for i, label in enumerate(labels):
            painter.setPen(QColor(60, 60, 60))
            painter.drawText(
                QRectF(place.row_labels.left(), y0 + i * side, place.row_labels.width() - 4, side),
                Qt.AlignRight | Qt.AlignVCenter,
                label,
            )
            if place.rotated:
                painter.save()
                painter.translate(x0 + i * side, y0 + n * side + label_room + 2)
                painter.rotate(-90)
                painter.drawText(QRectF(0, 0, label_room, side), Qt.AlignRight | Qt.AlignVCenter, label)
                painter.restore()
            else:
                painter.drawText(QRectF(x0 + i * side, y0 + n * side + 2, side, line), Qt.AlignCenter, label)
            for j in range(n):
                value = self.matrix[i, j]
                shade = int(255 - 200 * value / biggest)
                colour = QColor(shade, shade, 255) if i == j else QColor(255, shade, shade)
                cell = QRectF(x0 + j * side, y0 + i * side, side - 1, side - 1)
                painter.fillRect(cell, colour if value else QColor(245, 245, 245))
                if side > 16 and value:
                    painter.setPen(QColor(20, 20, 20))
                    painter.setFont(count_font)
                    painter.drawText(cell, Qt.AlignCenter, str(int(value)))
                    painter.setFont(self.font())
        painter.setPen(QColor(90, 90, 90))
        painter.drawText(QRectF(x0, y0 + n * side + label_room + 4, n * side, line), Qt.AlignCenter, self.column_title)
        painter.save()
        painter.translate(0, y0 + n * side / 2 + 40)
        painter.rotate(-90)
        painter.drawText(QRectF(0, 0, 80, line), Qt.AlignCenter, self.row_title)
        painter.restore()


class EvolutionPanel(WindowPanel):
    """Start/stop/resume evolution or training, and watch it live."""

    eventReceived = pyqtSignal(dict)
    lineReceived = pyqtSignal(str)
    childEnded = pyqtSignal(str, int)
    runEvent = pyqtSignal(object)  # a RunMonitor event, delivered on the UI thread

    def __init__(self, window, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.window_ = window
        config = window.config
        self.models = window.models  # the live view's ModelSource: "Use this model" and "Follow" go there
        self.runs = RunMonitor(config.population_dir)
        self.child: ChildProcess | None = None
        self.kind = ""
        self._epoch_batches = 1
        self._scanning = self._scan_again = False

        self.settings = window.settings
        self.strategy = QComboBox()
        self.strategy.addItems(["evolve", "random"])
        self.strategy.setCurrentText(str(self.settings.value("evolution/strategy", "evolve")))
        self.generations = self._remembered_spin("generations", 1, 1000, config.evolution.generations)
        self.population = self._remembered_spin("population", 1, 1000, config.evolution.population)
        self.epochs = self._remembered_spin("epochs", 1, 1000, config.evolution.epochs)
        self.epochs.setToolTip("epochs each network trains, in an evolution and in Train one network")
        self.processes = self._remembered_spin("workers", 1, 64, 1)  # the setting kept its old key
        self.strategy.currentTextChanged.connect(lambda text: self.settings.setValue("evolution/strategy", text))
        self.use_broker = QCheckBox("train on RabbitMQ workers")
        self.use_broker.setEnabled(config.broker_url is not None)
        self.use_broker.setToolTip(
            "dicebox worker processes on any machine take the training orders"
            if config.broker_url
            else "configure [SENSORY_SERVICE] rabbitmq_server first"
        )
        self.start_button = QPushButton("Start evolution")
        self.start_button.setObjectName("startEvolution")
        self.train_button = QPushButton("Train one network")
        self.stop_button = QPushButton("Stop")
        self.stop_button.setEnabled(False)
        self.resume_box = QComboBox()
        self.resume_box.setMinimumWidth(180)
        self.resume_button = QPushButton("Resume")
        self.follow = QPushButton("Follow the champion")
        self.follow.setToolTip("the live view classifies with the newest champion, swapped in as better ones come")
        self.follow.setEnabled(False)
        self.use_model = QPushButton("Use this model")
        self.use_model.setObjectName("useModel")
        self.use_model.setToolTip("classify the live view with the network just trained, or the champion")
        self.use_model.setEnabled(False)
        self.status = QLabel("No run yet.")
        self.status.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setObjectName("trainingProgress")
        self.progress.setVisible(False)
        self.champion = WrappedLabel()
        self.champion.setObjectName("championBox")
        self.champion.setTextFormat(Qt.RichText)
        self.plot = AccuracyPlot()
        self.epoch_plot = EpochPlot()
        self.stack = QStackedWidget()  # the evolution's generations, or one training's epochs
        self.stack.addWidget(self.plot)
        self.stack.addWidget(self.epoch_plot)
        self.matrix = ConfusionMatrix()
        self.table = QTableWidget(0, 5)
        self.table.setObjectName("populationTable")
        self.table.setHorizontalHeaderLabels(["gen", "#", "network", "accuracy", "status"])
        header = self.table.horizontalHeader()
        for column in (0, 1, 3, 4):
            header.setSectionResizeMode(column, QHeaderView.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.Stretch)
        # Whole network descriptions: wrapped at the layers, rows as tall as they need.
        self.table.setWordWrap(True)
        self.table.setTextElideMode(Qt.ElideNone)
        header.sectionResized.connect(lambda *_: self.table.resizeRowsToContents())
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.NoEditTriggers)

        # Two fields a row: the column stays short enough to show the champion on a laptop's screen.
        form = QGridLayout()
        form.addWidget(QLabel("Strategy"), 0, 0)
        form.addWidget(self.strategy, 0, 1, 1, 3)
        for row, pair in enumerate(
            ((("Generations", self.generations), ("Population", self.population)),
             (("Epochs each", self.epochs), ("Local processes", self.processes))),
            start=1,
        ):
            for column, (title, field) in enumerate(pair):
                form.addWidget(QLabel(title), row, 2 * column)
                form.addWidget(field, row, 2 * column + 1)
        form.addWidget(self.use_broker, 3, 0, 1, 4)
        form.setColumnStretch(1, 1)
        form.setColumnStretch(3, 1)
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
        controls_layout.addWidget(self.progress)
        results_row = QHBoxLayout()  # one row: the column stays short enough for a laptop's height
        results_row.addWidget(self.use_model)
        results_row.addWidget(self.follow)
        controls_layout.addLayout(results_row)
        controls_layout.addStretch(1)
        # Scrollable, so the panel never forces the window taller than a laptop screen.
        scroll = QScrollArea()
        scroll.setWidget(controls)
        scroll.setWidgetResizable(True)
        scroll.setMinimumWidth(controls.sizeHint().width() + 20)
        # The population over the champion's confusion matrix: side by side, the four columns
        # needed more width than a 1024-pixel screen has.
        results = QSplitter(Qt.Vertical)
        results.addWidget(self.table)
        results.addWidget(self.matrix)
        results.setStretchFactor(0, 3)
        results.setStretchFactor(1, 2)
        self.table.setMinimumSize(240, 80)
        # The champion's box under the plot: its story beside the generations it came from, and
        # seen without scrolling the controls on a laptop's screen.
        curves = QWidget()
        curves_layout = QVBoxLayout(curves)
        curves_layout.setContentsMargins(0, 0, 0, 0)
        curves_layout.addWidget(self.stack, 1)
        curves_layout.addWidget(self.champion)
        self.champion.setContentsMargins(6, 2, 6, 2)
        splitter = QSplitter(Qt.Horizontal)
        for widget in (scroll, curves, results):
            splitter.addWidget(widget)
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setStretchFactor(2, 1)
        splitter.setSizes([scroll.minimumWidth(), 1000, 1000])  # plot and results share what is left
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)

        self.start_button.clicked.connect(lambda: self.start())
        self.train_button.clicked.connect(self.train_one)
        self.stop_button.clicked.connect(self.stop)
        self.resume_button.clicked.connect(self.resume)
        self.follow.clicked.connect(self._follow_champion)
        self.use_model.clicked.connect(self._use_model)
        self.eventReceived.connect(self.handle_event)
        self.lineReceived.connect(window.service_log.appendPlainText)
        self.childEnded.connect(self._on_ended)
        # One listener object, so closing can take it back (each self.runEvent.emit is a new one).
        self._run_listener = self.runEvent.emit
        self.runs.events.connect(self._run_listener)  # told on a worker thread too: queued to this one
        self.runEvent.connect(self._on_run_event)
        self.refresh_runs()

    def _remembered_spin(self, name: str, low: int, high: int, default: int) -> QSpinBox:
        key = f"evolution/{name}"
        try:
            value = int(self.settings.value(key, default))
        except (TypeError, ValueError):
            value = default
        spin = _spin(low, high, value)
        spin.valueChanged.connect(lambda v: self.settings.setValue(key, v))
        return spin

    # Runs on disk -------------------------------------------------------------------------------
    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.refresh_runs()  # another process may have started, stopped or finished a run meanwhile

    def refresh_runs(self) -> None:
        """Look for the runs that can be resumed (off the UI thread); the list follows when read."""
        if self._scanning:
            self._scan_again = True  # the scan under way may have looked before the change asked about
            return
        self._scanning, self._scan_again = True, False

        def done(_result=None) -> None:
            self._scanning = False
            if self._scan_again:
                self.refresh_runs()

        run_in_background(self.runs.scan, on_done=done, on_error=done)

    def _list_runs(self, runs) -> None:
        chosen = self.resume_box.currentData()
        self.resume_box.clear()
        for run in runs:
            self.resume_box.addItem(run.describe(), run.run_id)
        if chosen is not None and self.resume_box.findData(chosen) >= 0:
            self.resume_box.setCurrentIndex(self.resume_box.findData(chosen))
        self.resume_button.setEnabled(self.resume_box.count() > 0 and self.child is None)

    def resume(self) -> None:
        """Resume the chosen run, unless it finished since the list was made."""
        run = self.resume_box.currentData()
        if run is None:
            return
        if not self.runs.is_resumable(run):  # one small file: the click must not start a finished run
            self.refresh_runs()
            self.status.setText(f"Run {run} has finished already; there is nothing to resume.")
            return
        self.start(resume=run)

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
            write_npz(path, arrays)
            return path

        self.status.setText("Fetching the data set from the service…")
        run_in_background(
            fetch,
            on_done=lambda path: then(["--data-dir", str(config.home), "--npz", str(path)]),
            on_error=lambda m: self._error("Cannot fetch the data set", m),
        )

    def start(self, resume: str | None = None) -> None:
        if self.child is not None:
            return

        def launch(data_args: list[str]) -> None:
            args = ["evolve", *data_args, "--json-events", "--quiet"]
            if resume:
                args += ["--resume", resume]
            else:
                args += [
                    "--strategy",
                    self.strategy.currentText(),
                    "--generations",
                    str(self.generations.value()),
                    "--population",
                    str(self.population.value()),
                    "--epochs",
                    str(self.epochs.value()),
                ]
            if self.use_broker.isChecked():
                args.append("--broker")
            elif self.processes.value() > 1:
                args += ["--processes", str(self.processes.value())]
            if self.window_.config.source is not None:
                args += ["--config", str(self.window_.config.source)]
            self.table.setRowCount(0)
            self.champion.setText("")
            self.plot.reset(self.generations.value())
            self.stack.setCurrentWidget(self.plot)
            self.progress.setFormat("%v of %m networks")
            self.progress.setRange(0, 0)
            self._launch("evolution", args)

        self._data_args(launch)

    def train_one(self) -> None:
        if self.child is not None:
            return
        out = self.window_.config.weights_dir / f"trained-{time.strftime('%Y%m%d-%H%M%S')}"
        epochs = self.epochs.value()

        def launch(data_args: list[str]) -> None:
            args = ["train", *data_args, "--out", str(out), "--epochs", str(epochs), "--json-events", "--quiet"]
            if self.window_.config.source is not None:
                args += ["--config", str(self.window_.config.source)]
            self.epoch_plot.reset(epochs)
            self.stack.setCurrentWidget(self.epoch_plot)
            self.progress.setRange(0, 0)
            self.progress.setFormat("starting")
            self._launch("training", args)

        self._data_args(launch)

    def _launch(self, kind: str, args: list[str]) -> None:
        self.kind = kind
        self.runs.starting(kind)
        if kind == "training":
            self.use_model.setEnabled(False)
            self.follow.setEnabled(False)
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
        self.progress.setVisible(True)
        self._buttons(running=True)

    def stop(self) -> None:
        """Ask the child to stop; an evolution saves its state and can be resumed."""
        if self.child is not None:
            self.status.setText(f"Stopping the {self.kind}…")
            child = self.child
            run_in_background(child.stop)

    def _buttons(self, running: bool) -> None:
        for button in (self.start_button, self.train_button):
            button.setEnabled(not running)
        self.resume_button.setEnabled(not running and self.resume_box.count() > 0)
        self.stop_button.setEnabled(running)

    def _on_ended(self, kind: str, code: int) -> None:
        """The child ended: the monitor lists the runs again (file reads) and tells how it went."""

        def failed(message: str) -> None:
            self._on_run_event(ChildEnded(kind, code, f"{kind.capitalize()} ended ({message})"))

        run_in_background(self.runs.ended, kind, code, on_error=failed)

    # Events -------------------------------------------------------------------------------------
    def handle_event(self, event: dict) -> None:
        """One event line of ``dicebox evolve/train --json-events`` (this panel's child, or the demo's)."""
        self.runs.feed(event)
        kind = event.get("event")
        if kind in ("TrainStarted", "BatchProgress", "EpochEnd", "TrainFinished", "TrainFailed"):
            self._on_training_event(kind, event)
        elif kind == "IndividualTrained":
            row = self.table.rowCount()
            self.table.insertRow(row)
            accuracy = "" if event["accuracy"] is None else percent(event["accuracy"])
            status = event["status"] + (" (cached)" if event.get("cached") else "")
            layers = event["genome"].replace(" > ", "\n")
            tip = f"{event['error']}\n\n{layers}" if event.get("error") else layers
            # Zero-width spaces: a narrow column wraps inside a layer's description instead of cutting it.
            network = event["genome"].replace(",", ",\u200b").replace("(", "(\u200b")
            for column, value in enumerate((event["generation"], event["index"], network, accuracy, status)):
                item = QTableWidgetItem(str(value))
                item.setToolTip(tip)
                self.table.setItem(row, column, item)
            self.table.resizeRowToContents(row)
            self.table.scrollToBottom()
            self.plot.add_individual(event["generation"], event["accuracy"])
            self.progress.setRange(0, event["total"])
            self.progress.setValue(event["done"])
            eta = event.get("eta_seconds")
            self.status.setText(
                f"{event['done']} of {event['total']} networks trained" + (f" · about {eta:.0f} s left" if eta else "")
            )
        elif kind == "GenerationSummary":
            self.plot.add_generation(event["generation"], event["best"], event["average"])
        elif kind == "RunFinished":
            self.status.setText(
                f"Run {event['run_id']} {event['status']}" + (f": {event['message']}" if event.get("message") else "")
            )
            self.refresh_runs()  # also for runs the window did not start (the demo's)

    def _on_run_event(self, event) -> None:
        """What the run monitor tells: render it."""
        if isinstance(event, RunsListed):
            self._list_runs(event.runs)
        elif isinstance(event, RunFollowed):
            self.plot.reset(event.generations)
            self.champion.setText("")
            # Show the run's own sizes (a resumed or outside-started run may differ from the form).
            self.generations.setValue(event.generations)
            self.population.setValue(event.population)
            self.epochs.setValue(event.epochs)
            self.status.setText(
                f"Run {event.run_id}: {event.individuals} networks to train" + (" (resumed)" if event.resumed else "")
            )
        elif isinstance(event, ChampionFound):
            first, *rest = describe_champion(event.champion)
            head, _, tail = first.partition(": ")
            lines = [f"<b>{html.escape(head)}</b>: {html.escape(tail)}", *map(html.escape, rest)]
            self.champion.setText("<br>".join(lines))
            self.champion.setToolTip(event.champion.genome.replace(" > ", "\n"))
        elif isinstance(event, ModelReady):
            self.show_bundle(event.path, event.what)
            self.use_model.setEnabled(True)
            self.follow.setEnabled(event.what == "champion")
        elif isinstance(event, ChildEnded):
            self.child = None
            self._buttons(running=False)
            if self.progress.maximum() == 0:
                self.progress.setVisible(False)  # never got going
            self.status.setText(event.message)

    def _on_training_event(self, kind: str, event: dict) -> None:
        """One line of ``dicebox train --json-events``: progress bar, epoch curve, result."""
        if kind == "TrainStarted":
            self._epoch_batches = max(1, event["batches"])
            self.epoch_plot.reset(event["epochs"])
            self.progress.setRange(0, event["epochs"] * self._epoch_batches)
            self.progress.setValue(0)
            self.progress.setFormat(f"epoch 1 of {event['epochs']}")
            self.status.setText(
                f"Training on {event['train_size']} images, validating on "
                f"{event['validation_size']}, {event['parameter_count']:,} weights"
            )
        elif kind == "BatchProgress":
            self.progress.setValue((event["epoch"] - 1) * self._epoch_batches + event["batch"])
            self.progress.setFormat(f"epoch {event['epoch']} of {event['epochs']}")
        elif kind == "EpochEnd":
            self.epoch_plot.add_epoch(event["epoch"], event["accuracy"], event.get("val_accuracy"))
            self.progress.setValue(event["epoch"] * self._epoch_batches)
            self.progress.setFormat(f"epoch {event['epoch']} of {event['epochs']}")
            validation = event.get("val_accuracy")
            self.status.setText(
                f"Epoch {event['epoch']} of {event['epochs']}: {percent(event['accuracy'])} "
                "on the training images"
                + (f", {percent(validation)} on the validation images" if validation is not None else "")
            )
        elif kind == "TrainFinished":
            self.progress.setValue(self.progress.maximum())  # an early stop ends before the last epoch
        elif kind == "TrainFailed":
            self.status.setText(f"Training failed: {event['message']}")

    def show_bundle(self, path: Path, what: str) -> None:
        """Show the confusion matrix of the bundle at ``path`` (read off the UI thread)."""

        def shown(bundle: Bundle) -> None:
            if bundle.metrics is not None:
                self.matrix.set_matrix(
                    [list(row) for row in bundle.metrics.confusion_matrix],
                    bundle.categories,
                    f"{what}: {percent(bundle.metrics.accuracy)}",
                )

        run_in_background(load_bundle, Path(path), on_done=shown, on_error=lambda _message: None)

    def _follow_champion(self) -> None:
        run_in_background(self.models.follow_champion)  # its first look at the run folders

    def _use_model(self) -> None:
        path = self.runs.model_path
        if path is None:
            return
        try:
            self.models.use_bundle(path)
        except ModelSourceError as exc:
            self.status.setText(str(exc))

    def _error(self, title: str, message: str) -> None:
        QMessageBox.warning(self, title, message)

    def shutdown(self) -> None:
        self.runs.events.disconnect(self._run_listener)  # nothing is told to a closed window
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
