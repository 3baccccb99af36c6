"""Recording controls: toggle (z) or hold, keep mode (b: only misclassified), rate cap, duplicates."""

from __future__ import annotations

from PyQt5.QtCore import pyqtSignal
from PyQt5.QtWidgets import (
    QButtonGroup,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from dicebox.recorder import KeepMode, Recorder, RecorderSettings, RecorderStats


class RecordPanel(QGroupBox):
    """A view of a :class:`Recorder`; every control writes to it, every change redraws here."""

    statsChanged = pyqtSignal(object, object)

    def __init__(self, recorder: Recorder, parent: QWidget | None = None) -> None:
        super().__init__("Recording", parent)
        self.recorder = recorder
        self.toggle = QPushButton("● Record (z)")
        self.toggle.setObjectName("recordToggle")
        self.toggle.setCheckable(True)
        self.hold = QPushButton("Hold to record (space)")
        self.modes = QButtonGroup(self)
        self.mode_buttons = {
            KeepMode.ALL: QRadioButton("Keep every frame"),
            KeepMode.MISCLASSIFIED: QRadioButton("Only keep misclassified (b)"),
            KeepMode.UNCERTAIN: QRadioButton("Only keep uncertain"),
        }
        self.uncertain = QDoubleSpinBox()
        self.uncertain.setRange(0.05, 1.0)
        self.uncertain.setSingleStep(0.05)
        self.uncertain.setPrefix("below ")
        self.fps = QDoubleSpinBox()
        self.fps.setRange(0.0, 60.0)
        self.fps.setSuffix(" frames/s")
        self.fps.setSpecialValueText("no limit")
        self.duplicates = QDoubleSpinBox()
        self.duplicates.setRange(0.0, 50.0)
        self.duplicates.setSingleStep(0.5)
        self.duplicates.setSpecialValueText("keep duplicates")
        self.duplicates.setToolTip("skip a frame whose mean pixel difference to the last kept one is below this")
        self.stats = QLabel()
        row = QHBoxLayout()
        row.addWidget(self.toggle)
        row.addWidget(self.hold)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        for mode, button in self.mode_buttons.items():
            self.modes.addButton(button)
            if mode is KeepMode.UNCERTAIN:
                line = QHBoxLayout()
                line.addWidget(button)
                line.addWidget(self.uncertain)
                layout.addLayout(line)
            else:
                layout.addWidget(button)
        form = QFormLayout()
        form.addRow("Rate cap", self.fps)
        form.addRow("Skip near-duplicates", self.duplicates)
        layout.addLayout(form)
        layout.addWidget(self.stats)

        self.toggle.toggled.connect(lambda on: recorder.update(recording=on))
        self.hold.pressed.connect(lambda: recorder.update(recording=True))
        self.hold.released.connect(lambda: recorder.update(recording=False))
        for mode, button in self.mode_buttons.items():
            button.toggled.connect(lambda on, m=mode: on and recorder.update(mode=m))
        self.uncertain.valueChanged.connect(lambda v: recorder.update(uncertain_below=v))
        self.fps.valueChanged.connect(lambda v: recorder.update(max_fps=v))
        self.duplicates.valueChanged.connect(lambda v: recorder.update(duplicate_threshold=v))
        # The recorder may be changed from other threads' callbacks: redraw through a signal.
        self.statsChanged.connect(self._render)
        recorder.subscribe(lambda settings, stats: self.statsChanged.emit(settings, stats))
        self._render(recorder.settings, recorder.stats)

    def cycle_mode_misclassified(self) -> None:
        """The original's ``b``: toggle between keeping everything and only misclassified frames."""
        current = self.recorder.settings.mode
        self.recorder.update(mode=KeepMode.ALL if current is KeepMode.MISCLASSIFIED else KeepMode.MISCLASSIFIED)

    def _render(self, settings: RecorderSettings, stats: RecorderStats) -> None:
        # Called for every offered frame: only touch the controls when the settings changed.
        if settings != getattr(self, "_shown_settings", None):
            self._shown_settings = settings
            self._render_settings(settings)
        self.stats.setText(
            f"kept {stats.kept} of {stats.offered} offered · skipped: {stats.skipped_rate} rate, "
            f"{stats.skipped_duplicate} duplicate, {stats.skipped_mode} by mode"
        )

    def _render_settings(self, settings: RecorderSettings) -> None:
        for widget in (self.toggle, *self.mode_buttons.values(), self.uncertain, self.fps, self.duplicates):
            widget.blockSignals(True)
        self.toggle.setChecked(settings.recording)
        self.toggle.setText("■ Stop recording (z)" if settings.recording else "● Record (z)")
        self.mode_buttons[settings.mode].setChecked(True)
        self.uncertain.setValue(settings.uncertain_below)
        self.fps.setValue(settings.max_fps)
        self.duplicates.setValue(settings.duplicate_threshold)
        for widget in (self.toggle, *self.mode_buttons.values(), self.uncertain, self.fps, self.duplicates):
            widget.blockSignals(False)
