"""The Connect dialog: wide enough to read an address, and filled with what was typed last."""

from __future__ import annotations

from helpers import API_KEY
from PyQt5.QtCore import QSettings
from test_gui_operator import window  # noqa: F401 - the fixture

from dicebox.config import load_config


def test_connect_dialog_remembers_the_address_and_this_sessions_key(qtbot, window, live_service, monkeypatch):  # noqa: F811
    from PyQt5.QtWidgets import QDialog

    from dicebox.gui.service_panel import RemoteDialog

    url, _app = live_service
    shown = []

    def operator_types(dialog):  # the modal dialog, as the operator fills it in and clicks OK
        shown.append((dialog.url.text(), dialog.key.text(), dialog.minimumWidth()))
        dialog.url.setText(url)
        dialog.key.setText(API_KEY)
        return QDialog.Accepted

    monkeypatch.setattr(RemoteDialog, "exec_", operator_types)
    window.service_bar._ask_remote()
    qtbot.waitUntil(lambda: window.link.client is not None, timeout=20_000)
    window.service_bar._ask_remote()
    assert shown[0][2] >= 480, "wide enough to read an address"
    assert shown[1][:2] == (url, API_KEY), "the second time it offers what was typed the first time"


def test_the_last_remote_address_is_offered_after_a_restart(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("DICEBOX_API_ACCESS_KEY", API_KEY)
    config = load_config(env={"DICEBOX_HOME": str(tmp_path / "home"), "DICEBOX_API_ACCESS_KEY": API_KEY})
    (tmp_path / "home").mkdir()
    settings = QSettings(str(config.home / "gui.ini"), QSettings.IniFormat)
    settings.setValue("service/url", "http://10.1.2.3:5000")
    settings.sync()
    from dicebox.gui.app import build_window

    win = build_window(config)
    qtbot.addWidget(win)
    dialog = win.service_bar.remote_dialog()
    qtbot.addWidget(dialog)
    assert dialog.url.text() == "http://10.1.2.3:5000" and dialog.key.text() == ""
