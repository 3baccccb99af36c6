"""The window's keys, wherever the keyboard focus is in it: one event filter on the application.

Qt's shortcuts lose to the focused widget: a focused button takes space, an editable field takes
digits, and a shortcut for Down steals the key from an open drop-down. This filter sees each key
before the focused widget does and acts when the key belongs to the window, except while the
operator types into a text field (Escape leaves it) or works in a popup or a dialog.
"""

from __future__ import annotations

from collections.abc import Callable

from PyQt5.QtCore import QEvent, QObject, Qt
from PyQt5.QtWidgets import QAbstractSpinBox, QApplication, QComboBox, QLineEdit, QPlainTextEdit, QTextEdit, QWidget

MODIFIERS = Qt.ShiftModifier | Qt.ControlModifier | Qt.AltModifier | Qt.MetaModifier


def is_text_field(widget: QWidget | None) -> bool:
    """Does this widget take typed characters (so the window's keys must leave them to it)?"""
    if isinstance(widget, (QLineEdit, QAbstractSpinBox)):
        return True
    if isinstance(widget, QComboBox):
        return widget.isEditable()
    if isinstance(widget, (QPlainTextEdit, QTextEdit)):
        return not widget.isReadOnly()
    return False


class WindowKeys(QObject):
    """Routes the window's keys to actions: ``bind(Qt.Key_Z, action)``, ``hold(Qt.Key_Space, on_change)``."""

    def __init__(self, window: QWidget, home: QWidget) -> None:
        super().__init__(window)
        self.window = window
        self.home = home  # takes the focus when the operator leaves a text field with Escape
        self._actions: dict[tuple[int, int], Callable[[], object]] = {}
        self._holds: dict[int, Callable[[bool], object]] = {}
        QApplication.instance().installEventFilter(self)

    def bind(self, key: int, action: Callable[[], object], modifiers: int = Qt.NoModifier) -> None:
        self._actions[(int(key), int(modifiers))] = action

    def hold(self, key: int, on_change: Callable[[bool], object]) -> None:
        """``on_change(True)`` when the key goes down, ``on_change(False)`` when it comes up."""
        self._holds[int(key)] = on_change

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        kind = event.type()
        if kind != QEvent.KeyPress and kind != QEvent.KeyRelease:
            return False
        # A popup (an open drop-down) and a dialog are windows of their own: their keys stay theirs.
        if not isinstance(watched, QWidget) or watched.window() is not self.window:
            return False
        pressed = kind == QEvent.KeyPress
        key = event.key()
        if is_text_field(QApplication.focusWidget()):
            if key == Qt.Key_Escape and pressed:
                self.home.setFocus(Qt.OtherFocusReason)
                return True
            return False
        modifiers = int(event.modifiers() & MODIFIERS)
        hold = self._holds.get(key)
        if hold is not None and not modifiers:
            if not event.isAutoRepeat():
                hold(pressed)
            return True  # also the auto-repeats and the release: a focused button never sees them
        action = self._actions.get((key, modifiers))
        if action is None and modifiers == Qt.ShiftModifier:
            action = self._actions.get((key, int(Qt.NoModifier)))  # "+" is Shift+= on many layouts
        if action is None:
            return False
        if pressed:
            action()
        return True
