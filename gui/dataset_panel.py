"""Reviewing the data set: thumbnails per class, delete or relabel a selection, class balance."""

from __future__ import annotations

from PyQt5.QtCore import QSize, Qt, pyqtSignal
from PyQt5.QtGui import QIcon, QPixmap
from PyQt5.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from .workers import run_in_background

PAGE = 120


class DatasetPanel(QWidget):
    """Thumbnails of one category at a time, loaded from the service off the UI thread."""

    thumbnailsLoaded = pyqtSignal(str, object)  # category, [(id, png bytes)]

    def __init__(self, window, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.window_ = window
        self.category = QComboBox()
        self.category.setObjectName("reviewCategory")
        self.refresh_button = QPushButton("Refresh")
        self.delete_button = QPushButton("Delete selected")
        self.relabel_to = QComboBox()
        self.relabel_button = QPushButton("Relabel selected to")
        self.balance = QLabel("")
        self.grid = QListWidget()
        self.grid.setObjectName("thumbnails")
        self.grid.setViewMode(QListWidget.IconMode)
        self.grid.setIconSize(QSize(window.geometry_.width * 2, window.geometry_.height * 2))
        self.grid.setResizeMode(QListWidget.Adjust)
        self.grid.setSelectionMode(QAbstractItemView.ExtendedSelection)
        self.grid.setFocusPolicy(Qt.NoFocus)
        top = QHBoxLayout()
        top.addWidget(QLabel("Category"))
        top.addWidget(self.category)
        top.addWidget(self.refresh_button)
        top.addStretch(1)
        top.addWidget(self.delete_button)
        top.addWidget(self.relabel_button)
        top.addWidget(self.relabel_to)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.balance)
        layout.addWidget(self.grid, 1)
        self.refresh_button.clicked.connect(self.load)
        self.category.activated.connect(lambda _i: self.load())
        self.delete_button.clicked.connect(self.delete_selected)
        self.relabel_button.clicked.connect(self.relabel_selected)
        self.thumbnailsLoaded.connect(self._show)
        self._categories: list[str] = []

    def dataset_changed(self, info: dict) -> None:
        """New counts from the service: update the category lists and the balance line."""
        names = [c["name"] for c in info["categories"]]
        counts = [c["count"] for c in info["categories"]]
        if names != self._categories:
            self._categories = names
            current = self.category.currentText()
            for box in (self.category, self.relabel_to):
                box.clear()
                box.addItems(names)
            if current in names:
                self.category.setCurrentText(current)
        if counts and max(counts):
            smallest, largest = min(counts), max(counts)
            verdict = "balanced" if smallest >= 0.8 * largest else "unbalanced: record more of the smaller classes"
            self.balance.setText(f"{sum(counts)} images · smallest class {smallest}, largest {largest} · {verdict}")

    def load(self) -> None:
        client = self.window_.link.client
        category = self.category.currentText()
        if client is None or not category:
            return
        dataset = self.window_.dataset_id

        def fetch():
            listing = client.list_images(dataset, category=category, limit=PAGE)
            return [(r["id"], client.image_png(dataset, r["id"])) for r in listing["images"]]

        run_in_background(fetch, on_done=lambda items: self.thumbnailsLoaded.emit(category, items),
                          on_error=lambda m: QMessageBox.warning(self, "Cannot load thumbnails", m))

    def _show(self, category: str, items) -> None:
        self.grid.clear()
        for image_id, png in items:
            pixmap = QPixmap()
            pixmap.loadFromData(png, "PNG")
            item = QListWidgetItem(QIcon(pixmap), "")
            item.setData(Qt.UserRole, image_id)
            item.setToolTip(f"{category} · {image_id}")
            self.grid.addItem(item)

    def selected_ids(self) -> list[str]:
        return [item.data(Qt.UserRole) for item in self.grid.selectedItems()]

    def delete_selected(self) -> None:
        self._change("delete_images", "Delete")

    def relabel_selected(self) -> None:
        self._change("relabel_images", "Relabel", self.relabel_to.currentText())

    def _change(self, method: str, verb: str, *extra: str) -> None:
        client, ids = self.window_.link.client, self.selected_ids()
        if client is None or not ids:
            return
        call = getattr(client, method)
        run_in_background(call, self.window_.dataset_id, ids, *extra,
                          on_done=lambda _n: (self.load(), self.window_.refresh_counts()),
                          on_error=lambda m: QMessageBox.warning(self, f"{verb} failed", m))


def dataset_panel(window) -> tuple[QWidget, str]:
    return DatasetPanel(window), "Data set"
