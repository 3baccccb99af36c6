"""The data set's categories with live sample counts; the expected label is picked here."""

from __future__ import annotations

from PyQt5.QtCore import QRect, Qt, pyqtSignal
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

from dicebox.store import StoreError, validate_category
from dicebox.store.names import check_new_categories


class CountBarDelegate(QStyledItemDelegate):
    """Draws each row's share of the largest class as a bar right of its label and count."""

    @staticmethod
    def bar_rect(row: QRect, text_width: int) -> QRect:
        """Where the bar goes: after the text (never over the count), at most the right half of the row."""
        left = max(row.left() + row.width() // 2, row.left() + text_width + 16)
        return QRect(left, row.top() + 4, max(0, row.right() - 6 - left), max(0, row.height() - 8))

    def paint(self, painter, option, index) -> None:
        super().paint(painter, option, index)
        share = index.data(Qt.UserRole) or 0.0
        rect = self.bar_rect(option.rect, option.fontMetrics.horizontalAdvance(index.data(Qt.DisplayRole) or ""))
        if rect.width() < 8:
            return  # a narrow list shows the counts without bars
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
        self.title = QLabel("<b>Expected label</b> · keys 1–9, ↑/↓, <i>c</i>")
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
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.title)
        layout.addWidget(self.list, 1)
        row = QHBoxLayout()
        row.addWidget(self.total, 1)
        row.addWidget(self.add_button)
        layout.addLayout(row)
        self.categories: list[str] = []
        self.counts: dict[str, int] = {}
        self.pending: set[str] = set()  # added here, not yet listed by the service
        self.list.currentRowChanged.connect(self._row_changed)
        self.add_button.clicked.connect(self._ask_category)

    @property
    def expected(self) -> str | None:
        row = self.list.currentRow()
        return self.categories[row] if 0 <= row < len(self.categories) else None

    def set_counts(self, counts: dict[str, int]) -> None:
        """Show the service's categories and counts (and those added here it has not confirmed yet).

        The service's answer replaces what was shown: a category it does not have is gone, so a
        switch to another service shows that service's categories, not a mix with the last one's.
        """
        self.pending -= set(counts)
        self._show({**{name: 0 for name in self.pending}, **counts})

    def add_local(self, name: str) -> None:
        """Show a category the operator added before the service has confirmed it."""
        if name not in self.counts:
            self.pending.add(name)
            self._show({**self.counts, name: 0})

    def _show(self, counts: dict[str, int]) -> None:
        selected = self.expected
        names = sorted(counts)
        self.counts = {name: counts[name] for name in names}
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
            elif selected is not None:
                # The label recorded under is gone (another service): record nothing rather than guess.
                self.expectedChanged.emit(None)
        for row, name in enumerate(names):
            n = self.counts[name]
            key = f"[{row + 1}] " if row < 9 else "    "
            item = self.list.item(row)
            item.setText(f"{key}{name:<10} {n:>6}")
            item.setData(Qt.UserRole, n / biggest)
        self.total.setText(f"{sum(self.counts.values())} images in all")
        self.total.setToolTip(f"{len(names)} categories")

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
            name = validate_category(name)
            if name not in self.categories:
                check_new_categories([name], self.categories)
        except StoreError as exc:
            QMessageBox.warning(self, "Invalid category", str(exc))
            return
        self.add_local(name)
        self.select_name(name)
        self.categoryAdded.emit(name)
