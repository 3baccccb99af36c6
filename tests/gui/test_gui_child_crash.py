"""A training process that crashes: the window says what happened and offers to resume the run."""

from __future__ import annotations

import os
import signal

from helpers import API_KEY
from PyQt5.QtCore import Qt
from test_gui_operator import window  # noqa: F401 - the fixture

from dicebox.camera import Geometry, synthetic_dataset
from dicebox.client.http import SensoryClient


def test_a_crashed_evolution_is_reported_and_offered_for_resuming(qtbot, window):  # noqa: F811
    qtbot.mouseClick(window.service_bar.local_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: window.link.client is not None, timeout=120_000)
    images, labels = synthetic_dataset(6, Geometry(60, 50, 1), seed=6)
    SensoryClient(window.link.url, API_KEY).store_images(window.dataset_id, list(zip(images, labels, strict=True)))
    panel = window.extra_panels[0]
    panel.generations.setValue(5)
    panel.population.setValue(3)
    panel.epochs.setValue(1)
    panel.start()
    qtbot.waitUntil(lambda: panel.table.rowCount() >= 2, timeout=120_000)
    os.kill(panel.child._proc.pid, signal.SIGSEGV)
    qtbot.waitUntil(lambda: panel.child is None, timeout=120_000)
    status = panel.status.text()
    assert "crashed (SIGSEGV)" in status and "Resume" in status, status
    assert panel.resume_box.count() >= 1 and panel.resume_button.isEnabled()
