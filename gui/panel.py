"""The interface of a tab the application composes into the main window (training, data set review)."""

from __future__ import annotations

from PyQt5.QtWidgets import QWidget


class WindowPanel(QWidget):
    """A tab of the main window: told when the data set's counts change, stopped when the window closes.

    The window calls these on every panel it was given (:meth:`MainWindow.add_panel`); a panel
    overrides what it needs.
    """

    def dataset_changed(self, info: dict) -> None:
        """New counts from the connected service (``GET /api/v1/datasets/<id>``)."""

    def shutdown(self) -> None:
        """Stop every thread and child process the panel started (the window is closing)."""
