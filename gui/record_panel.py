"""Recording controls: toggle (z) or hold, keep mode (b: only misclassified), rate cap, duplicates."""

from __future__ import annotations

from PyQt5.QtCore import QSize, pyqtSignal
from PyQt5.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from dicebox.session.recorder import KeepMode, Recorder, RecorderSettings, RecorderStats

MODES = {
    KeepMode.ALL: "every frame",
    KeepMode.MISCLASSIFIED: "only misclassified (b)",
    KeepMode.UNCERTAIN: "only uncertain",
}


class RecordPanel(QGroupBox):
    """A view of a :class:`Recorder`; every control writes to it, every change redraws here.

    Compact (three rows of controls) so that the labels, these controls and the live
    classification fit on a laptop screen together.
    """

    statsChanged = pyqtSignal(object, object)

    def __init__(self, recorder: Recorder, parent: QWidget | None = None) -> None:
        super().__init__("Recording", parent)
        self.recorder = recorder
        self.toggle = QPushButton("● Record (z)")
        self.toggle.setObjectName("recordToggle")
        self.toggle.setCheckable(True)
        self.hold = QPushButton("Hold (space)")
        self.hold.setToolTip("records while you hold it down, as holding the space bar does")
        self.mode = QComboBox()
        self.mode.setObjectName("keepMode")
        for mode, text in MODES.items():
            self.mode.addItem(text, mode)
        self.mode.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.mode.setMinimumContentsLength(10)
        self.mode.setToolTip("which recorded frames are kept: misclassified and uncertain need a model")
        self.uncertain = QDoubleSpinBox()
        self.uncertain.setRange(5.0, 100.0)
        self.uncertain.setSingleStep(5.0)
        self.uncertain.setDecimals(0)
        self.uncertain.setPrefix("below ")
        self.uncertain.setSuffix(" %")
        self.uncertain.setToolTip("keep a frame when the network's confidence in its answer is below this")
        self.fps = QDoubleSpinBox()
        self.fps.setRange(0.0, 60.0)
        self.fps.setDecimals(1)
        self.fps.setSuffix(" frames/s")
        self.fps.setSpecialValueText("no limit")
        self.fps.setToolTip("keep at most this many frames a second")
        self.duplicates = QDoubleSpinBox()
        self.duplicates.setRange(0.0, 50.0)
        self.duplicates.setSingleStep(0.5)
        self.duplicates.setSuffix(" / 255")
        self.duplicates.setSpecialValueText("off")
        self.duplicates.setToolTip(
            "skip a frame whose mean pixel difference to the last kept one is below this\n"
            "(grey levels, 0–255; 0 keeps duplicates)"
        )
        self.stats = QLabel()
        self.stats.setWordWrap(True)
        self.warning = QLabel()
        self.warning.setObjectName("recordWarning")
        self.warning.setWordWrap(True)
        self.warning.setStyleSheet("color: #e05a2a; font-weight: bold;")
        self.warning.hide()
        # Wrapped lines the window's splitter cannot ask for (it has no height-for-width): reserve them.
        lines = self.stats.fontMetrics().lineSpacing()
        self.stats.setMinimumHeight(2 * lines)
        self.warning.setMinimumHeight(3 * lines + 4)
        for spin in (self.uncertain, self.fps, self.duplicates):
            spin.setKeyboardTracking(False)
        buttons = QHBoxLayout()
        buttons.addWidget(self.toggle)
        buttons.addWidget(self.hold)
        keep = QHBoxLayout()
        keep.addWidget(QLabel("Keep"))
        keep.addWidget(self.mode, 1)
        keep.addWidget(self.uncertain)
        limits = QFormLayout()
        limits.addRow("At most", self.fps)
        limits.addRow("Skip near-duplicates", self.duplicates)
        limits.setVerticalSpacing(4)
        layout = QVBoxLayout(self)
        layout.setSpacing(4)
        layout.addLayout(buttons)
        layout.addLayout(keep)
        layout.addLayout(limits)
        layout.addWidget(self.stats)
        layout.addWidget(self.warning)

        self.toggle.toggled.connect(lambda on: recorder.update(recording=on))
        self.hold.pressed.connect(lambda: recorder.update(recording=True))
        self.hold.released.connect(lambda: recorder.update(recording=False))
        self.mode.currentIndexChanged.connect(lambda _i: recorder.update(mode=self.mode.currentData()))
        self.uncertain.valueChanged.connect(lambda v: recorder.update(uncertain_below=v / 100))
        self.fps.valueChanged.connect(lambda v: recorder.update(max_fps=v))
        self.duplicates.valueChanged.connect(lambda v: recorder.update(duplicate_threshold=v))
        # The recorder may be changed from other threads' callbacks: redraw through a signal.
        self.statsChanged.connect(self._render)
        recorder.subscribe(lambda settings, stats: self.statsChanged.emit(settings, stats))
        self._render(recorder.settings, recorder.stats)

    def hasHeightForWidth(self) -> bool:  # noqa: N802 - Qt's name
        # The window's splitter cannot lay out by height-for-width: the minimum below says it instead.
        return False

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        # At least the height its wrapped texts take at its current width: without it the column
        # gave those texts their lines and squeezed the spin boxes.
        hint = super().minimumSizeHint()
        layout = self.layout()
        if layout is not None and layout.hasHeightForWidth() and self.width() > 0:
            hint.setHeight(max(hint.height(), layout.totalHeightForWidth(self.width())))
        return hint

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        if event.size().width() != event.oldSize().width():
            self.updateGeometry()  # the minimum height depends on the width

    def choose_mode(self, mode: KeepMode) -> None:
        """Pick a keep mode as the operator does in the drop-down."""
        self.mode.setCurrentIndex(self.mode.findData(KeepMode(mode)))

    def cycle_mode_misclassified(self) -> None:
        """The original's ``b``: toggle between keeping everything and only misclassified frames."""
        current = self.recorder.settings.mode
        self.recorder.update(mode=KeepMode.ALL if current is KeepMode.MISCLASSIFIED else KeepMode.MISCLASSIFIED)

    def _render(self, settings: RecorderSettings, stats: RecorderStats) -> None:
        # Called for every offered frame: only touch the controls when the settings changed.
        if settings != getattr(self, "_shown_settings", None):
            self._shown_settings = settings
            self._render_settings(settings)
        warning = self.recorder.warning
        if warning != self.warning.text():
            self.warning.setText(warning)
            self.warning.setVisible(bool(warning))
        self.stats.setText(
            f"kept {stats.kept} of {stats.offered} offered · skipped: {stats.skipped_rate} rate, "
            f"{stats.skipped_duplicate} duplicate, {stats.skipped_mode} by mode"
        )

    def _render_settings(self, settings: RecorderSettings) -> None:
        widgets = (self.toggle, self.mode, self.uncertain, self.fps, self.duplicates)
        for widget in widgets:
            widget.blockSignals(True)
        self.toggle.setChecked(settings.recording)
        self.toggle.setText("■ Stop recording (z)" if settings.recording else "● Record (z)")
        self.mode.setCurrentIndex(self.mode.findData(settings.mode))
        self.uncertain.setValue(settings.uncertain_below * 100)
        self.uncertain.setVisible(settings.mode is KeepMode.UNCERTAIN)
        self.fps.setValue(settings.max_fps)
        self.duplicates.setValue(settings.duplicate_threshold)
        for widget in widgets:
            widget.blockSignals(False)
