"""The evolution panel follows a real (tiny) run started from the window, without freezing it."""

from __future__ import annotations

import time

from helpers import API_KEY
from PyQt5.QtCore import Qt
from test_gui_operator import window  # noqa: F401 - the fixture

from dicebox.camera import Geometry, synthetic_dataset
from dicebox.client.http import SensoryClient


def test_evolution_panel_plots_a_real_run(qtbot, window):  # noqa: F811
    qtbot.mouseClick(window.service_bar.local_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: window.link.client is not None, timeout=60_000)
    images, labels = synthetic_dataset(8, Geometry(60, 50, 1), seed=5)
    SensoryClient(window.link.url, API_KEY).store_images(window.dataset_id, list(zip(images, labels, strict=True)))
    panel = window.extra_panels[0]
    panel.generations.setValue(2)
    panel.population.setValue(2)
    panel.epochs.setValue(1)
    qtbot.mouseClick(panel.start_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: panel.child is not None, timeout=30_000)
    # The window stays responsive while TensorFlow trains in the child process.
    stalls = []
    deadline = time.monotonic() + 240
    while len(panel.plot.generations) < 2 and time.monotonic() < deadline:
        started = time.monotonic()
        qtbot.wait(20)
        stalls.append(time.monotonic() - started - 0.02)
    assert len(panel.plot.generations) == 2, panel.status.text()
    assert max(stalls) < 0.5, f"the event loop stalled for {max(stalls):.2f} s"
    assert panel.table.rowCount() == 4
    qtbot.waitUntil(lambda: panel.child is None, timeout=60_000)
    assert "finished" in panel.status.text()
    assert panel.runs.model_path is not None and (panel.runs.model_path / "bundle.json").is_file()
    qtbot.waitUntil(lambda: panel.matrix.matrix is not None, timeout=10_000)
    assert panel.matrix.matrix.sum() > 0
    qtbot.mouseClick(panel.follow, Qt.LeftButton)
    qtbot.waitUntil(lambda: window.classifier.classifier is not None, timeout=60_000)


def test_stopping_an_evolution_leaves_it_resumable(qtbot, window):  # noqa: F811
    qtbot.mouseClick(window.service_bar.local_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: window.link.client is not None, timeout=60_000)
    images, labels = synthetic_dataset(6, Geometry(60, 50, 1), seed=6)
    SensoryClient(window.link.url, API_KEY).store_images(window.dataset_id, list(zip(images, labels, strict=True)))
    panel = window.extra_panels[0]
    panel.generations.setValue(5)
    panel.population.setValue(3)
    panel.epochs.setValue(1)
    panel.start()
    qtbot.waitUntil(lambda: panel.table.rowCount() >= 1, timeout=120_000)
    qtbot.mouseClick(panel.stop_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: panel.child is None, timeout=60_000)
    assert panel.resume_box.count() >= 1, "the stopped run is offered for resuming"
    assert panel.resume_button.isEnabled()
