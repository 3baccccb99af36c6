"""The supervised trainer driven as an operator: real widgets (offscreen), real service, real camera."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from helpers import API_KEY
from PyQt5.QtCore import Qt

from dicebox.client.http import SensoryClient
from dicebox.config import load_config

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("DICEBOX_API_ACCESS_KEY", API_KEY)
    config = load_config(env={"DICEBOX_HOME": str(tmp_path / "home"), "DICEBOX_API_ACCESS_KEY": API_KEY})
    from dicebox.gui.app import build_window

    threads_before = set(threading.enumerate())
    children_before = set(_children())
    win = build_window(config)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    win.activateWindow()
    yield win
    if win.isVisible():
        win.close()
    local = win.link.local
    assert local is None or not local.running, "closing the window stops the local service"
    assert all(getattr(panel, "child", None) is None for panel in win.extra_panels), "a training child is left"
    try:
        qtbot.waitUntil(lambda: not set(_children()) - children_before, timeout=15_000)
    except Exception:  # noqa: BLE001 - re-raised with the processes named
        raise AssertionError(f"child processes left running: {set(_children()) - children_before}") from None
    def left_running() -> list[str]:
        return [t.name for t in set(threading.enumerate()) - threads_before
                if t.is_alive() and not t.name.startswith(("ThreadPool", "Dummy", "QThread"))]

    # A check of a remote service still in flight ends by its own 5 s timeout; a loaded machine needs more.
    try:
        qtbot.waitUntil(lambda: not left_running(), timeout=30_000)
    except Exception:  # noqa: BLE001 - re-raised with the threads named
        raise AssertionError(f"threads left running: {left_running()}") from None


def _children() -> list[str]:
    """Live child processes of this test process (Linux /proc): pid and command line."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == os.getpid() and fields[0] != "Z":
            command = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            found.append(f"{stat.parent.name} {command}")
    return found


def start_service_and_camera(qtbot, win, spec="synthetic:dice?fps=30&seed=4"):
    qtbot.mouseClick(win.service_bar.local_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: win.link.client is not None, timeout=60_000)
    assert win.open_source(spec)
    qtbot.waitUntil(lambda: win.camera.displayed_fps > 10, timeout=15_000)
    qtbot.waitUntil(lambda: len(win.labels.categories) == 6, timeout=15_000)


def service_counts(win) -> dict[str, int]:
    info = SensoryClient(win.link.url, API_KEY).dataset_info(win.dataset_id)
    return {c["name"]: c["count"] for c in info["categories"]}


def test_record_frames_under_the_label_chosen_by_key(qtbot, window):
    start_service_and_camera(qtbot, window)
    qtbot.keyClick(window, Qt.Key_4)
    assert window.labels.expected == "4"
    qtbot.keyClick(window, Qt.Key_C)
    assert window.labels.expected == "5", "c cycles to the next category"
    qtbot.keyClick(window, Qt.Key_Up)
    assert window.labels.expected == "4"
    qtbot.keyClick(window, Qt.Key_Z)
    assert window.recorder.settings.recording
    qtbot.waitUntil(lambda: window.recorder.stats.kept >= 12, timeout=20_000)
    qtbot.keyClick(window, Qt.Key_Z)
    assert not window.recorder.settings.recording
    kept = window.recorder.stats.kept
    assert window.delivery.flush(timeout=20)
    counts = service_counts(window)
    assert counts["4"] == kept and sum(counts.values()) == kept
    qtbot.waitUntil(lambda: window.labels.counts.get("4") == kept, timeout=10_000)


def test_frames_recorded_while_the_service_is_down_arrive_exactly_once(qtbot, window):
    start_service_and_camera(qtbot, window)
    window.labels.select_name("2")
    window.recorder.update(recording=True, max_fps=15)
    qtbot.waitUntil(lambda: window.recorder.stats.kept >= 8, timeout=20_000)
    data_dir = window.link.local.data_dir
    old_url = window.link.url
    window.link.local.stop()  # the service goes away mid-recording
    qtbot.waitUntil(lambda: window.delivery.state().pending >= 5, timeout=20_000)
    qtbot.waitUntil(lambda: window.service_bar.light.state is False, timeout=10_000)  # the light turns red
    assert int(window.service_bar.spool.text().split()[1]) >= 5
    assert "cannot reach" in window.service_bar.spool.toolTip(), "the operator sees why frames wait"
    window.recorder.update(recording=False)
    kept = window.recorder.stats.kept
    window.link.core.local = None  # forgotten: start_local has nothing to stop
    window.link.start_local()  # back, on a new port
    qtbot.waitUntil(lambda: window.link.client is not None and window.link.url != old_url, timeout=60_000)
    assert window.link.local.data_dir == data_dir
    assert window.delivery.flush(timeout=30), (window.delivery.state(), window.link.url)
    assert service_counts(window)["2"] == kept


def test_bad_camera_source_shows_a_dialog_and_changes_nothing(qtbot, window):
    assert not window.open_source("definitely-not-a-source://x")
    qtbot.waitUntil(lambda: getattr(window, "last_dialog", None) is not None and window.last_dialog.isVisible())
    assert "source" in window.last_dialog.text().lower() or "spec" in window.last_dialog.text().lower()
    window.last_dialog.close()
    assert window.camera.capture is None


def test_unreachable_remote_service_shows_a_dialog(qtbot, window):
    window.link.connect_remote("http://127.0.0.1:9", "key")
    qtbot.waitUntil(lambda: getattr(window, "last_dialog", None) is not None and window.last_dialog.isVisible(),
                    timeout=20_000)
    assert "127.0.0.1:9" in window.last_dialog.text()
    assert window.link.client is None


@pytest.mark.parametrize("typed", ["Dog", "CONIN$"])
def test_a_category_windows_or_macos_would_merge_is_refused_in_a_dialog(qtbot, window, monkeypatch, typed):
    from PyQt5.QtWidgets import QInputDialog, QMessageBox

    window.labels.set_counts({"dog": 3})
    warnings = []
    monkeypatch.setattr(QInputDialog, "getText", staticmethod(lambda *a, **k: (typed, True)))
    monkeypatch.setattr(QMessageBox, "warning", staticmethod(lambda _parent, title, text: warnings.append(text)))
    added = []
    window.labels.categoryAdded.connect(added.append)
    window.labels._ask_category()
    assert len(warnings) == 1 and typed in warnings[0], warnings
    assert window.labels.categories == ["dog"] and added == []
