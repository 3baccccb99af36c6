"""A recording mode that cannot keep frames says so in the recording panel, and says why."""

from __future__ import annotations

import pytest
from PyQt5.QtCore import QSettings, Qt
from test_gui_operator import start_service_and_camera, window  # noqa: F401 - the fixture

from dicebox.session.recorder import KeepMode

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def remembered_misclassified(tmp_path):
    """The settings file of an operator who last used "only keep misclassified"."""
    home = tmp_path / "home"
    home.mkdir(parents=True, exist_ok=True)
    settings = QSettings(str(home / "gui.ini"), QSettings.IniFormat)
    settings.setValue("record/mode", "misclassified")
    settings.sync()
    return home


def warning_shown(win) -> str:
    label = win.record.warning
    return label.text() if label.isVisible() else ""


def test_only_misclassified_with_no_model_says_why_before_and_while_recording(
    qtbot,
    remembered_misclassified,
    window,  # noqa: F811
):
    assert window.recorder.settings.mode is KeepMode.MISCLASSIFIED
    qtbot.waitUntil(lambda: "no model" in warning_shown(window))
    start_service_and_camera(qtbot, window)
    window.labels.select_name("3")
    qtbot.keyClick(window, Qt.Key_Z)
    qtbot.waitUntil(lambda: window.recorder.stats.skipped_mode >= 5, timeout=20_000)
    assert window.recorder.stats.kept == 0
    assert "keeps nothing" in warning_shown(window).lower() and "no model" in warning_shown(window)
    window.record.choose_mode(KeepMode.ALL)
    qtbot.waitUntil(lambda: warning_shown(window) == "")
    qtbot.waitUntil(lambda: window.recorder.stats.kept >= 3, timeout=20_000)


def test_only_uncertain_with_no_model_says_why(qtbot, window):  # noqa: F811
    assert warning_shown(window) == ""
    window.record.choose_mode(KeepMode.UNCERTAIN)
    qtbot.waitUntil(lambda: "no model" in warning_shown(window))
    assert "keeps nothing" in warning_shown(window).lower()


def choose_service_model(qtbot, win) -> None:
    combo = win.classify.source
    combo.setCurrentIndex(2)
    combo.activated.emit(2)
    qtbot.waitUntil(lambda: win.classifier.remote is not None)


def test_the_services_model_when_the_service_has_none_says_why(qtbot, window):  # noqa: F811
    start_service_and_camera(qtbot, window)
    choose_service_model(qtbot, window)
    window.labels.select_name("2")
    window.record.choose_mode(KeepMode.MISCLASSIFIED)
    qtbot.keyClick(window, Qt.Key_Z)
    qtbot.waitUntil(lambda: "no model is loaded" in warning_shown(window), timeout=20_000)
    assert window.recorder.stats.kept == 0
    assert window.recorder.stats.skipped_mode > 0, "the frames were dropped without being counted"


def test_keep_every_frame_keeps_them_when_the_services_model_is_missing(qtbot, window):  # noqa: F811
    start_service_and_camera(qtbot, window)
    choose_service_model(qtbot, window)
    window.labels.select_name("5")
    window.recorder.update(recording=True)
    qtbot.waitUntil(lambda: window.recorder.stats.kept >= 5, timeout=20_000)
    assert warning_shown(window) == ""
    assert window.delivery.flush(timeout=20)
