"""Reviewing the data set: thumbnails per class, relabel or delete a selection, rename or remove a
category, undo the last change, class balance.

The changes themselves are :class:`dicebox.session.dataset_review.DatasetReview` calls (Qt-free), run off
the UI thread; this panel asks for confirmation, shows progress and reports what was done.
"""

from __future__ import annotations

from PyQt5.QtCore import QSize, Qt, pyqtSignal
from PyQt5.QtGui import QIcon, QPixmap
from PyQt5.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from dicebox.client.http import NotFoundError
from dicebox.session.dataset_review import DatasetReview

from .background import run_in_background
from .panel import WindowPanel

PAGE = 120


class DatasetPanel(WindowPanel):
    """Thumbnails of one category at a time, loaded from the service off the UI thread."""

    thumbnailsLoaded = pyqtSignal(str, object)  # category, [(id, png bytes)]
    changeProgress = pyqtSignal(int, int)  # done, total

    def __init__(self, window, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("datasetPanel")
        self.window_ = window
        self.category = QComboBox()
        self.category.setObjectName("reviewCategory")
        self.refresh_button = QPushButton("Refresh")
        self.rename_button = QPushButton("Rename…")
        self.rename_button.setToolTip("give the category another name (or merge it into an existing one)")
        self.remove_button = QPushButton("Remove…")
        self.remove_button.setToolTip("remove the category and every image in it")
        self.delete_button = QPushButton("Delete selected")
        self.relabel_to = QComboBox()
        self.relabel_button = QPushButton("Relabel selected to")
        self.undo_button = QPushButton("Undo")
        self.undo_button.setEnabled(False)
        self.balance = QLabel("")
        self.report = QLabel("")
        self.report.setObjectName("reviewReport")
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(220)
        self.progress.setVisible(False)
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
        for button in (self.refresh_button, self.rename_button, self.remove_button):
            top.addWidget(button)
        top.addStretch(1)
        for widget in (self.delete_button, self.relabel_button, self.relabel_to, self.undo_button):
            top.addWidget(widget)
        second = QHBoxLayout()
        second.addWidget(self.balance)
        second.addStretch(1)
        second.addWidget(self.report)
        second.addWidget(self.progress)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addLayout(second)
        layout.addWidget(self.grid, 1)
        self.refresh_button.clicked.connect(self.load)
        self.category.currentIndexChanged.connect(lambda _i: self.load())
        self.rename_button.clicked.connect(self.rename_category)
        self.remove_button.clicked.connect(self.remove_category)
        self.delete_button.clicked.connect(self.delete_selected)
        self.relabel_button.clicked.connect(self.relabel_selected)
        self.undo_button.clicked.connect(self.undo)
        self.thumbnailsLoaded.connect(self._show)
        self.changeProgress.connect(self._progress)
        self._categories: list[str] = []
        self._counts: dict[str, int] = {}
        self._review: DatasetReview | None = None
        self._busy = False
        self._select_after = ""  # the category to show once a rename is done

    # Showing ------------------------------------------------------------------------------------
    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.load()  # the images may have changed while another tab was shown

    def dataset_changed(self, info: dict) -> None:
        """New counts from the service: update the category lists and the balance line."""
        names = [c["name"] for c in info["categories"]]
        counts = {c["name"]: c["count"] for c in info["categories"]}
        changed = counts.get(self.category.currentText()) != self._counts.get(self.category.currentText())
        self._counts = counts
        if names != self._categories:
            self._categories = names
            current, target = self.category.currentText(), self.relabel_to.currentText()
            for box, keep in ((self.category, current), (self.relabel_to, target)):
                box.blockSignals(True)
                box.clear()
                box.addItems(names)
                if keep in names:
                    box.setCurrentText(keep)
                box.blockSignals(False)
            changed = True
        values = list(counts.values())
        if values and max(values):
            smallest, largest = min(values), max(values)
            verdict = "balanced" if smallest >= 0.8 * largest else "unbalanced: record more of the smaller classes"
            self.balance.setText(f"{sum(values)} images · smallest class {smallest}, largest {largest} · {verdict}")
        else:
            self.balance.setText("no images yet" if names else "")
        if changed and self.isVisible():
            self.load()

    def load(self) -> None:
        client = self.window_.link.client
        category = self.category.currentText()
        if client is None or not category:
            self.grid.clear()
            return
        dataset = self.window_.dataset_id

        def fetch():
            listing = client.list_images(dataset, category=category, limit=PAGE)
            thumbnails = []
            for record in listing["images"]:
                try:
                    thumbnails.append((record["id"], client.image_png(dataset, record["id"])))
                except NotFoundError:
                    continue  # deleted or moved since the listing (here or on another station): not shown
            return thumbnails

        run_in_background(
            fetch,
            on_done=lambda items: self.thumbnailsLoaded.emit(category, items),
            on_error=lambda m: self.report.setText(f"Cannot load thumbnails: {m}"),
        )

    def _show(self, category: str, items) -> None:
        if category != self.category.currentText():
            return  # an answer for a category no longer shown
        selected = set(self.selected_ids())
        self.grid.clear()
        for image_id, png in items:
            pixmap = QPixmap()
            pixmap.loadFromData(png, "PNG")
            item = QListWidgetItem(QIcon(pixmap), "")
            item.setData(Qt.UserRole, image_id)
            item.setToolTip(f"{category} · {image_id}")
            self.grid.addItem(item)
            item.setSelected(image_id in selected)

    def selected_ids(self) -> list[str]:
        return [item.data(Qt.UserRole) for item in self.grid.selectedItems()]

    # Changes ------------------------------------------------------------------------------------
    def delete_selected(self) -> None:
        ids, category = self.selected_ids(), self.category.currentText()
        if ids and self._confirm("Delete images", f"Delete {_images(len(ids))} from {category}?"):
            self._run(lambda review, p: review.delete(ids, category, p))

    def relabel_selected(self) -> None:
        ids, source, target = self.selected_ids(), self.category.currentText(), self.relabel_to.currentText()
        if not ids or not target:
            return
        if target == source:
            self.report.setText(f"The images are in {source} already: choose another category to move them to")
            return
        if self._confirm("Relabel images", f"Move {_images(len(ids))} from {source} to {target}?"):
            self._run(lambda review, p: review.relabel(ids, source, target, p))

    def rename_category(self) -> None:
        old = self.category.currentText()
        if not old or self._review_or_none() is None:
            return
        new, ok = QInputDialog.getText(self, "Rename category", f"New name for {old}:", text=old)
        new = new.strip()
        if not ok or not new or new == old:
            return
        count = self._counts.get(old, 0)
        merge = f" (merging into the existing {new})" if new in self._categories else ""
        if self._confirm("Rename category", f"Rename {old} to {new}{merge}, moving its {_images(count)}?"):
            self._select_after = new
            self._run(lambda review, p: review.rename_category(old, new, p))

    def remove_category(self) -> None:
        name = self.category.currentText()
        if not name or self._review_or_none() is None:
            return
        count = self._counts.get(name, 0)
        question = f"Remove category {name} and delete its {_images(count)}?" if count else f"Remove category {name}?"
        if self._confirm("Remove category", question):
            self._run(lambda review, p: review.remove_category(name, p))

    def undo(self) -> None:
        if self._review is not None and self._review.undo_description:
            self._run(lambda review, p: review.undo(p))

    def _confirm(self, title: str, question: str) -> bool:
        return (
            QMessageBox.question(self, title, question, QMessageBox.Yes | QMessageBox.No, QMessageBox.No)
            == QMessageBox.Yes
        )

    def _review_or_none(self) -> DatasetReview | None:
        """The review of the connected service's data set (a new one, without undo, after a switch)."""
        client = self.window_.link.client
        if client is None:
            return None
        review = self._review
        if review is None or review.client is not client or review.dataset_id != self.window_.dataset_id:
            review = self._review = DatasetReview(client, self.window_.dataset_id)
            self.undo_button.setEnabled(False)
        return review

    def _run(self, action) -> None:
        review = self._review_or_none()
        if review is None or self._busy:
            return
        self._busy = True
        self._enable(False)
        self.progress.setRange(0, 0)
        self.progress.setVisible(True)
        self.report.setText("Working…")
        run_in_background(action, review, self.changeProgress.emit, on_done=self._done, on_error=self._failed)

    def _progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, max(1, total))
        self.progress.setValue(done)

    def _done(self, change) -> None:
        self.report.setText(change.message)
        if self._select_after:
            # Shown alone until the next counts rebuild the list with the new name selected.
            self._categories = []
            self.category.blockSignals(True)
            self.category.clear()
            self.category.addItem(self._select_after)
            self.category.blockSignals(False)
        self._finish()

    def _failed(self, message: str) -> None:
        self.report.setText(f"Not done: {message}")
        QMessageBox.warning(self, "The data set was not changed", message)
        self._finish()

    def _finish(self) -> None:
        self._busy = False
        self._select_after = ""
        self.progress.setVisible(False)
        self._enable(True)
        self.window_.refresh_counts()
        self.load()

    def _enable(self, enabled: bool) -> None:
        for button in (
            self.refresh_button,
            self.rename_button,
            self.remove_button,
            self.delete_button,
            self.relabel_button,
        ):
            button.setEnabled(enabled)
        undo = self._review.undo_description if self._review is not None else ""
        self.undo_button.setEnabled(enabled and bool(undo))
        self.undo_button.setToolTip(f"undo: {undo}" if undo else "nothing to undo")


def _images(n: int) -> str:
    return f"{n} image" if n == 1 else f"{n} images"


def dataset_panel(window) -> tuple[QWidget, str]:
    return DatasetPanel(window), "Data set"
