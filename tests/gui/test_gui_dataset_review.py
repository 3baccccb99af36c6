"""The Data set tab as an operator uses it: it loads when shown, every change is confirmed,
reported and undoable, and categories can be renamed and removed. Real service, real widgets."""

from __future__ import annotations

import pytest
from helpers import API_KEY, make_png
from PyQt5.QtCore import Qt
from PyQt5.QtWidgets import QInputDialog, QMessageBox
from test_gui_operator import window  # noqa: F401 - the fixture

from dicebox.client.http import SensoryClient

pytestmark = pytest.mark.timeout(300)


def _panel(win):
    from dicebox.gui.dataset_panel import DatasetPanel

    return next(p for p in win.extra_panels if isinstance(p, DatasetPanel))


def _connect_and_fill(qtbot, win, counts: dict[str, int]) -> SensoryClient:
    qtbot.mouseClick(win.service_bar.local_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: win.link.client is not None, timeout=60_000)
    client = SensoryClient(win.link.url, API_KEY)
    n = 0
    for category, count in counts.items():
        client.store_images(win.dataset_id, [(make_png(n + i), category) for i in range(count)])
        n += count
    qtbot.waitUntil(lambda: win.labels.counts == counts, timeout=15_000)
    return client


def _counts(client, win) -> dict[str, int]:
    return {c["name"]: c["count"] for c in client.dataset_info(win.dataset_id)["categories"]}


@pytest.fixture
def answers(monkeypatch):
    """The operator's answers to confirmations (popped in order); the questions asked are kept."""
    asked: list[str] = []
    replies: list[bool] = []

    def question(_parent, _title, text, *_args, **_kwargs):
        asked.append(text)
        return QMessageBox.Yes if replies.pop(0) else QMessageBox.No

    monkeypatch.setattr(QMessageBox, "question", staticmethod(question))
    return asked, replies


def test_the_grid_loads_when_the_tab_is_shown(qtbot, window):  # noqa: F811
    _connect_and_fill(qtbot, window, {"1": 3, "2": 2})
    panel = _panel(window)
    assert panel.grid.count() == 0
    window.tabs.setCurrentWidget(panel)
    qtbot.waitUntil(lambda: panel.grid.count() == 3, timeout=15_000)
    assert panel.category.currentText() == "1"
    panel.category.setCurrentText("2")
    qtbot.waitUntil(lambda: panel.grid.count() == 2, timeout=15_000)


def test_an_image_deleted_while_the_thumbnails_load_is_left_out_not_an_error(qtbot, window, monkeypatch):  # noqa: F811
    client = _connect_and_fill(qtbot, window, {"1": 3})
    panel = _panel(window)
    listed = client.list_images(window.dataset_id, category="1")
    gone = listed["images"][0]["id"]
    client.delete_images(window.dataset_id, [gone])  # by another station, after this listing
    station = window.link.client
    monkeypatch.setattr(station, "list_images", lambda *_a, **_k: listed)
    window.tabs.setCurrentWidget(panel)
    qtbot.waitUntil(lambda: panel.grid.count() == 2, timeout=15_000)
    shown = {panel.grid.item(row).data(Qt.UserRole) for row in range(2)}
    assert gone not in shown and "Cannot load" not in panel.report.text()


def test_relabel_and_delete_are_confirmed_reported_and_undone(qtbot, window, answers):  # noqa: F811
    asked, replies = answers
    client = _connect_and_fill(qtbot, window, {"1": 4, "2": 1})
    panel = _panel(window)
    window.tabs.setCurrentWidget(panel)
    qtbot.waitUntil(lambda: panel.grid.count() == 4, timeout=15_000)
    for row in (0, 1):
        panel.grid.item(row).setSelected(True)
    panel.relabel_to.setCurrentText("2")

    replies.append(False)  # the operator says no: nothing changes
    qtbot.mouseClick(panel.relabel_button, Qt.LeftButton)
    assert asked == ["Move 2 images from 1 to 2?"]
    qtbot.wait(300)
    assert _counts(client, window) == {"1": 4, "2": 1}
    assert not panel.undo_button.isEnabled()

    replies.append(True)
    qtbot.mouseClick(panel.relabel_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: panel.report.text() == "Moved 2 images from 1 to 2", timeout=15_000)
    assert _counts(client, window) == {"1": 2, "2": 3}
    qtbot.waitUntil(lambda: panel.grid.count() == 2 and window.labels.counts == {"1": 2, "2": 3}, timeout=15_000)
    assert panel.undo_button.isEnabled() and "back to 1" in panel.undo_button.toolTip()
    qtbot.mouseClick(panel.undo_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: panel.report.text() == "Undone: Moved 2 images back to 1", timeout=15_000)
    assert _counts(client, window) == {"1": 4, "2": 1}
    qtbot.waitUntil(lambda: panel.grid.count() == 4, timeout=15_000)

    ids = {panel.grid.item(row).data(Qt.UserRole) for row in range(4)}
    panel.grid.item(0).setSelected(True)
    panel.relabel_to.setCurrentText("1")  # where they are already: said, not asked, nothing done
    qtbot.mouseClick(panel.relabel_button, Qt.LeftButton)
    assert "already" in panel.report.text() and len(asked) == 2
    panel.grid.clearSelection()
    panel.grid.item(3).setSelected(True)
    replies.append(True)
    qtbot.mouseClick(panel.delete_button, Qt.LeftButton)
    assert asked[-1] == "Delete 1 image from 1?"
    qtbot.waitUntil(lambda: panel.report.text() == "Deleted 1 image from 1", timeout=15_000)
    assert _counts(client, window) == {"1": 3, "2": 1}
    qtbot.mouseClick(panel.undo_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: panel.report.text().startswith("Undone: Restored 1 image"), timeout=15_000)
    assert {r["id"] for r in client.list_images(window.dataset_id, category="1")["images"]} == ids
    assert not panel.undo_button.isEnabled()


def test_categories_can_be_renamed_and_removed(qtbot, window, answers, monkeypatch):  # noqa: F811
    asked, replies = answers
    client = _connect_and_fill(qtbot, window, {"blnak": 3, "1": 2})
    panel = _panel(window)
    window.tabs.setCurrentWidget(panel)
    qtbot.waitUntil(lambda: panel.category.count() == 2, timeout=15_000)
    panel.category.setCurrentText("blnak")
    qtbot.waitUntil(lambda: panel.grid.count() == 3, timeout=15_000)
    typed = []
    monkeypatch.setattr(QInputDialog, "getText", staticmethod(lambda *a, **k: (typed.pop(0), True)))

    typed.append("blank")
    replies.append(True)
    qtbot.mouseClick(panel.rename_button, Qt.LeftButton)
    assert asked[-1] == "Rename blnak to blank, moving its 3 images?"
    qtbot.waitUntil(lambda: panel.report.text() == "Renamed blnak to blank (3 images)", timeout=15_000)
    assert _counts(client, window) == {"1": 2, "blank": 3}
    qtbot.waitUntil(lambda: window.labels.counts == {"1": 2, "blank": 3}, timeout=15_000)
    qtbot.waitUntil(lambda: panel.category.currentText() == "blank" and panel.grid.count() == 3, timeout=15_000)

    replies.append(True)
    qtbot.mouseClick(panel.remove_button, Qt.LeftButton)
    assert asked[-1] == "Remove category blank and delete its 3 images?"
    qtbot.waitUntil(lambda: panel.report.text() == "Removed category blank and its 3 images", timeout=15_000)
    assert _counts(client, window) == {"1": 2}
    qtbot.mouseClick(panel.undo_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: panel.report.text().startswith("Undone: Category blank is back"), timeout=15_000)
    assert _counts(client, window) == {"1": 2, "blank": 3}
