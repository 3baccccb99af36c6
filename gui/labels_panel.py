"""The data set's categories with live sample counts; the expected label is picked here."""

from __future__ import annotations

from PyQt5.QtCore import Qt, pyqtSignal
from PyQt5.QtGui import QColor, QFontDatabase
from PyQt5.QtWidgets import (
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QStyledItemDelegate,
    QVBoxLayout,
    QWidget,
)

from dicebox.store import InvalidName, validate_category


class CountBarDelegate(QStyledItemDelegate):
    """Draws each row's share of the largest class as a bar behind the right half of the row."""

    def paint(self, painter, option, index) -> None:
        super().paint(painter, option, index)
        share = index.data(Qt.UserRole) or 0.0
        rect = option.rect.adjusted(option.rect.width() // 2, 4, -6, -4)
        painter.save()
        painter.fillRect(rect, QColor(128, 128, 128, 40))
        rect.setWidth(int(rect.width() * share))
        painter.fillRect(rect, QColor(80, 170, 240, 200))
        painter.restore()


class LabelsPanel(QWidget):
    """Categories, their counts and a balance bar; emits the chosen expected label."""

    expectedChanged = pyqtSignal(object)  # str | None
    categoryAdded = pyqtSignal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = QLabel("<b>Expected label</b> — keys 1–9, ↑/↓ or <i>c</i> to cycle")
        self.list = QListWidget()
        self.list.setObjectName("categories")
        self.list.setFocusPolicy(Qt.NoFocus)
        font = QFontDatabase.systemFont(QFontDatabase.FixedFont)
        font.setPointSize(font.pointSize() + 1)
        self.list.setFont(font)
        row = self.list.fontMetrics().height() + 4
        self.list.setMinimumHeight(6 * row)
        self.list.setMaximumHeight(9 * row)
        self.list.setItemDelegate(CountBarDelegate(self.list))
        self.add_button = QPushButton("Add category…")
        self.total = QLabel("")
        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addWidget(self.list, 1)
        row = QHBoxLayout()
        row.addWidget(self.total, 1)
        row.addWidget(self.add_button)
        layout.addLayout(row)
        self.categories: list[str] = []
        self.counts: dict[str, int] = {}
        self.list.currentRowChanged.connect(self._row_changed)
        self.add_button.clicked.connect(self._ask_category)

    @property
    def expected(self) -> str | None:
        row = self.list.currentRow()
        return self.categories[row] if 0 <= row < len(self.categories) else None

    def set_counts(self, counts: dict[str, int]) -> None:
        """Show these categories and counts, keeping the selected label."""
        selected = self.expected
        names = sorted(set(counts) | set(self.categories))
        self.counts = {name: counts.get(name, self.counts.get(name, 0)) for name in names}
        biggest = max(self.counts.values(), default=0) or 1
        if names != self.categories:
            self.categories = names
            self.list.blockSignals(True)
            self.list.clear()
            for name in names:
                self.list.addItem(QListWidgetItem(name))
            self.list.blockSignals(False)
            if selected in names:
                self.list.setCurrentRow(names.index(selected))
            elif names and selected is None:
                self.list.setCurrentRow(0)
        for row, name in enumerate(names):
            n = self.counts[name]
            key = f"[{row + 1}] " if row < 9 else "    "
            item = self.list.item(row)
            item.setText(f"{key}{name:<10} {n:>6}")
            item.setData(Qt.UserRole, n / biggest)
        self.total.setText(f"{sum(self.counts.values())} images in {len(names)} categories")

    def select(self, index: int) -> None:
        if 0 <= index < len(self.categories):
            self.list.setCurrentRow(index)

    def select_name(self, name: str) -> None:
        if name in self.categories:
            self.select(self.categories.index(name))

    def step(self, delta: int) -> None:
        """Move the expected label up/down (wrapping, as the original's ``c`` cycled)."""
        if self.categories:
            row = self.list.currentRow()
            self.select((row + delta) % len(self.categories) if row >= 0 else 0)

    def _row_changed(self, _row: int) -> None:
        self.expectedChanged.emit(self.expected)

    def _ask_category(self) -> None:
        name, ok = QInputDialog.getText(self, "Add category", "Name of the new category:")
        if not ok:
            return
        try:
            validate_category(name)
        except InvalidName as exc:
            QMessageBox.warning(self, "Invalid category", str(exc))
            return
        self.set_counts({**self.counts, name: self.counts.get(name, 0)})
        self.select_name(name)
        self.categoryAdded.emit(name)
