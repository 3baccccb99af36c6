"""The window's keys work wherever the keyboard focus is: real key events on the window and on focused widgets."""

from __future__ import annotations

import pytest
from PyQt5.QtCore import Qt
from PyQt5.QtWidgets import QAbstractSpinBox, QApplication, QComboBox, QLineEdit
from test_gui_operator import window  # noqa: F401 - the fixture

pytestmark = pytest.mark.timeout(120)

DICE = {face: 0 for face in "123456"}


def focused(win):
    """Where a key typed now goes: the application's focus widget, else the one the window will focus."""
    return QApplication.focusWidget() or win.focusWidget() or win


def is_text_field(widget) -> bool:
    return isinstance(widget, (QLineEdit, QAbstractSpinBox)) or (isinstance(widget, QComboBox) and widget.isEditable())


def test_focus_does_not_start_in_a_text_field_and_typed_keys_act(qtbot, window):  # noqa: F811
    window.labels.set_counts(DICE)
    source_text = window.source_box.currentText()
    start = focused(window)
    assert not is_text_field(start), f"focus starts in a text field: {start!r}"
    qtbot.keyClick(start, Qt.Key_3, delay=0)
    qtbot.keyClick(focused(window), Qt.Key_Z)
    assert window.labels.expected == "3"
    assert window.recorder.settings.recording
    assert window.source_box.currentText() == source_text, "the keys were typed into the Source field"


@pytest.mark.parametrize("button", ["remote_button", "local_button"])
def test_space_on_a_focused_button_records_and_never_clicks_it(qtbot, window, button):  # noqa: F811
    window.labels.set_counts(DICE)
    target = getattr(window.service_bar, button)
    target.setFocus()
    clicked = []
    target.clicked.connect(lambda: clicked.append(True))
    qtbot.keyPress(target, Qt.Key_Space)
    assert window.recorder.settings.recording, "holding space records"
    qtbot.keyRelease(target, Qt.Key_Space)
    assert not window.recorder.settings.recording, "releasing space stops"
    assert clicked == [], "space clicked the focused button"
    assert window.link.local is None


def test_digits_still_pick_labels_after_choosing_a_model_in_the_drop_down(qtbot, window):  # noqa: F811
    window.labels.set_counts(DICE)
    combo = window.classify.source
    combo.setFocus()
    combo.showPopup()
    view = combo.view()
    qtbot.waitUntil(view.isVisible)
    # "The service's model", clicked (no service, so nothing is loaded).
    qtbot.mouseClick(view.viewport(), Qt.LeftButton, pos=view.visualRect(view.model().index(2, 0)).center())
    qtbot.waitUntil(lambda: not view.isVisible())
    assert combo.currentIndex() == 2
    for key, face in ((Qt.Key_5, "5"), (Qt.Key_2, "2")):
        qtbot.keyClick(focused(window), key)
        assert window.labels.expected == face
    assert combo.currentIndex() == 2, "the digit changed the drop-down instead"


def test_arrow_keys_move_in_an_open_drop_down_not_the_label(qtbot, window):  # noqa: F811
    window.labels.set_counts(DICE)
    window.labels.select_name("1")
    combo = window.classify.source
    combo.showPopup()
    view = combo.view()
    qtbot.waitUntil(view.isVisible)
    qtbot.keyClick(view, Qt.Key_Down)
    assert view.currentIndex().row() == 1, "Down did not move in the open list"
    assert window.labels.expected == "1", "Down in the open list changed the label"
    combo.hidePopup()


def test_record_toggle_and_roi_keys_work_from_a_focused_drop_down(qtbot, window):  # noqa: F811
    window.labels.set_counts(DICE)
    radio = window.record.mode
    radio.setFocus()
    qtbot.keyClick(radio, Qt.Key_Z)
    assert window.recorder.settings.recording
    qtbot.keyClick(radio, Qt.Key_Z)
    assert not window.recorder.settings.recording
    moves = []
    window.camera.move_roi = lambda dx, dy: moves.append((dx, dy))
    window.camera.scale_roi = lambda factor: moves.append(factor)
    qtbot.keyClick(radio, Qt.Key_Right, Qt.ShiftModifier)
    qtbot.keyClick(radio, Qt.Key_Plus)
    assert moves == [(8, 0), pytest.approx(1.1)]


def test_a_text_field_the_operator_clicked_into_keeps_its_typing_until_enter(qtbot, window):  # noqa: F811
    window.labels.set_counts(DICE)
    window.labels.select_name("1")
    field = window.source_box.lineEdit()
    field.setFocus()
    field.clear()
    qtbot.keyClicks(field, "synthetic:dice?fps=5")
    assert window.source_box.currentText() == "synthetic:dice?fps=5"
    assert window.labels.expected == "1", "typing a source changed the label"
    qtbot.keyClick(field, Qt.Key_Escape)
    assert not is_text_field(focused(window)), "Escape leaves the Source field"
    qtbot.keyClick(focused(window), Qt.Key_4)
    assert window.labels.expected == "4"


def test_keys_go_to_a_dialog_not_to_the_window_behind_it(qtbot, window):  # noqa: F811
    from PyQt5.QtWidgets import QInputDialog

    window.labels.set_counts(DICE)
    window.labels.select_name("1")
    dialog = QInputDialog(window)
    dialog.setWindowModality(Qt.WindowModal)
    dialog.show()
    qtbot.waitExposed(dialog)
    edit = dialog.findChild(QLineEdit)
    edit.setFocus()
    qtbot.keyClicks(edit, "4z")
    assert edit.text() == "4z"
    assert window.labels.expected == "1" and not window.recorder.settings.recording
    dialog.close()
