"""What the window says about its service is true: a dead local service, another service's counts, a full spool."""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest
from helpers import API_KEY, make_png
from PyQt5.QtCore import Qt
from test_gui_operator import window  # noqa: F401 - the fixture

from dicebox.client.http import SensoryClient
from dicebox.config import load_config
from dicebox.service import service_context
from dicebox.store.names import parse_dataset_id

pytestmark = pytest.mark.timeout(300)


def start_local(qtbot, win) -> None:
    qtbot.mouseClick(win.service_bar.local_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: win.link.client is not None, timeout=60_000)


def kill_local(win) -> str:
    url = win.link.url
    os.kill(win.link.local.pid, signal.SIGKILL)
    return url


def shown_dead(win) -> bool:
    bar = win.service_bar
    return (
        bar.light.state is False and "stopped" in bar.address.text() and "stopped" in win.statusBar().currentMessage()
    )


def test_a_local_service_that_dies_is_shown_dead_then_restarted(qtbot, window):  # noqa: F811
    start_local(qtbot, window)
    old_url = kill_local(window)
    qtbot.waitUntil(lambda: shown_dead(window), timeout=3_000)
    assert window.service_bar.local_button.text() != "Stop local service"
    qtbot.waitUntil(lambda: window.link.client is not None and window.link.url != old_url, timeout=60_000)
    assert window.link.local.running
    assert window.service_bar.light.state is True
    assert window.service_bar.local_button.text() == "Stop local service"
    assert "restarted" in window.service_bar.notice.text(), "the operator is told it was restarted"
    assert "-9" in window.service_bar.notice.toolTip() or "-9" in window.service_bar.notice.text()
    window.resize(1024, 700)
    qtbot.waitUntil(lambda: window.width() == 1024)
    qtbot.wait(50)
    for widget in (
        window.service_bar.light,
        window.service_bar.address,
        window.service_bar.local_button,
        window.service_bar.notice,
    ):
        assert widget.isVisible() and widget.visibleRegion().boundingRect().size() == widget.size(), widget


def test_a_local_service_that_keeps_dying_is_left_dead_with_a_restart_button(qtbot, window):  # noqa: F811
    start_local(qtbot, window)
    limit = window.link.MAX_RESTARTS
    for _ in range(limit):
        old_url = kill_local(window)
        qtbot.waitUntil(lambda old=old_url: window.link.client is not None and window.link.url != old, timeout=60_000)
    kill_local(window)
    qtbot.waitUntil(lambda: shown_dead(window), timeout=3_000)
    qtbot.wait(1500)
    assert window.link.client is None and not window.link.local.running, "restarted beyond the limit"
    assert window.service_bar.local_button.text() == "Restart local service"
    assert window.service_bar.local_button.isEnabled()
    assert "not restarted" in window.service_bar.notice.text()
    qtbot.mouseClick(window.service_bar.local_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: window.link.client is not None, timeout=60_000)
    assert window.service_bar.light.state is True and window.service_bar.notice.text() == ""


def has_dataset(client, dataset_id) -> bool:
    try:
        client.dataset_info(dataset_id)
    except Exception:  # noqa: BLE001 - not there yet
        return False
    return True


@pytest.fixture
def remote(tmp_path):
    """Another service, on its own data folder, holding 3 images of one category."""
    from dicebox.service import create_app
    from dicebox.service.server import ServiceServer

    config = load_config(env={"DICEBOX_HOME": str(tmp_path / "remote"), "DICEBOX_API_ACCESS_KEY": API_KEY})
    app = create_app(config)
    server = ServiceServer(app, "127.0.0.1", 0, threads=4).start()
    yield server.url
    server.close()
    service_context(app).store.close()


def test_switching_to_a_remote_service_shows_its_counts_not_the_local_ones(qtbot, window, remote):  # noqa: F811
    start_local(qtbot, window)
    name, width, height = parse_dataset_id(window.dataset_id)
    local = SensoryClient(window.link.url, API_KEY)
    qtbot.waitUntil(lambda: has_dataset(local, window.dataset_id), timeout=10_000)
    local.store_images(window.dataset_id, [(make_png(i, width, height), "blank") for i in range(5)])
    qtbot.waitUntil(lambda: window.labels.counts == {"blank": 5}, timeout=10_000)
    other = SensoryClient(remote, API_KEY)
    other.create_dataset(name, width, height)
    other.store_images(window.dataset_id, [(make_png(10 + i, width, height), "1") for i in range(3)])
    window.link.connect_remote(remote, API_KEY)
    qtbot.waitUntil(lambda: window.link.kind == "remote", timeout=20_000)
    qtbot.waitUntil(lambda: window.labels.counts == {"1": 3}, timeout=10_000)
    assert window.labels.categories == ["1"]
    assert "3 images" in window.labels.total.text()


def spool_frames(win, n: int) -> None:
    crop = np.zeros((win.geometry_.height, win.geometry_.width, win.geometry_.channels), np.uint8)
    for i in range(n):
        win.delivery.submit(win.dataset_id, "1", crop + i)
    assert win.delivery.state().pending == n


def test_quitting_with_frames_in_the_spool_asks_first(qtbot, window):  # noqa: F811
    spool_frames(window, 3)
    qtbot.keyClick(window, Qt.Key_Q)
    qtbot.waitUntil(lambda: window.quit_dialog is not None and window.quit_dialog.isVisible())
    assert window.isVisible(), "the window closed with frames not sent"
    assert "3 frames" in window.quit_dialog.text()
    window.quit_dialog.button(window.quit_dialog.Cancel).click()
    assert window.isVisible()
    window.windowHandle().close()  # as the window manager's close button does
    qtbot.waitUntil(lambda: window.quit_dialog.isVisible())
    assert window.isVisible()
    window.quit_anyway_button.click()
    qtbot.waitUntil(lambda: not window.isVisible())
    assert window.delivery.state().pending == 3, "the frames stay spooled for next time"


def test_waiting_for_the_spool_quits_once_the_frames_arrive(qtbot, window):  # noqa: F811
    spool_frames(window, 4)
    qtbot.keyClick(window, Qt.Key_Q)
    qtbot.waitUntil(lambda: window.quit_dialog is not None and window.quit_dialog.isVisible())
    window.wait_button.click()
    assert window.isVisible()
    assert "waiting" in window.statusBar().currentMessage()
    start_local(qtbot, window)
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=30_000)
    assert window.delivery.state().pending == 0


def test_quitting_with_an_empty_spool_does_not_ask(qtbot, window):  # noqa: F811
    qtbot.keyClick(window, Qt.Key_Q)
    qtbot.waitUntil(lambda: not window.isVisible())
    assert window.quit_dialog is None


def test_a_shut_down_link_view_hears_nothing_more_from_the_link(qtbot, tmp_path):
    # The link's health thread emits from its own thread; after shutdown the Qt side (which may be
    # deleted next) must be off the link's listeners, or a late emit reaches a dead QObject.
    from dicebox.gui.service_panel import QtServiceLink
    from dicebox.session.service_link import HealthChanged

    view = QtServiceLink(load_config(env={"DICEBOX_HOME": str(tmp_path / "home")}))
    heard = []
    view.event.connect(heard.append)
    view.core.events.emit(HealthChanged(state=view.core.state, healthy=True))
    qtbot.waitUntil(lambda: len(heard) == 1, timeout=2000)
    view.shutdown()
    view.core.events.emit(HealthChanged(state=view.core.state, healthy=False))
    qtbot.wait(100)
    assert len(heard) == 1
