"""The Train and evolve tab: single training honours its form and draws every epoch; accuracies
are percentages; plots and the confusion matrix explain themselves; the Resume list offers only
runs that can be resumed; the form and the live model survive a restart."""

from __future__ import annotations

import json

import pytest
from helpers import API_KEY, fake_evolution_events
from PyQt5.QtCore import QRect, Qt
from test_gui_operator import window  # noqa: F401 - the fixture

from dicebox.camera import Geometry, synthetic_dataset
from dicebox.client.http import SensoryClient

pytestmark = pytest.mark.timeout(400)

GENOME = (
    "adam: conv2d(16,3x3,s1,same,relu) > maxpool2d(2x2) > conv2d(32,3x3,s1,same,relu) > "
    "maxpool2d(2x2) > dense(128,relu) > dropout(0.25) > dense(64,relu)"
)


def _panel(win):
    from dicebox.gui.evolution_panel import EvolutionPanel

    return next(p for p in win.extra_panels if isinstance(p, EvolutionPanel))


def test_train_one_network_honours_epochs_each_and_draws_every_epoch(qtbot, window):  # noqa: F811
    qtbot.mouseClick(window.service_bar.local_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: window.link.client is not None, timeout=60_000)
    images, labels = synthetic_dataset(24, Geometry(60, 50, 1), seed=7)
    SensoryClient(window.link.url, API_KEY).store_images(window.dataset_id, list(zip(images, labels, strict=True)))
    panel = _panel(window)
    window.tabs.setCurrentWidget(panel)
    panel.epochs.setValue(2)
    qtbot.mouseClick(panel.train_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: panel.child is not None, timeout=30_000)
    qtbot.waitUntil(lambda: panel.child is None, timeout=300_000)
    qtbot.waitUntil(lambda: panel.runs.model_path is not None and "Training finished" in panel.status.text())
    manifest = json.loads((panel.runs.model_path / "bundle.json").read_text())
    assert manifest["training"]["options"]["epochs"] == 2, "the form's 'Epochs each' is what the network trains"
    curve = panel.epoch_plot
    assert [epoch for epoch, _acc, _val in curve.points] == [1, 2]
    assert all(0 <= acc <= 1 for _epoch, acc, _val in curve.points)
    assert panel.progress.value() == panel.progress.maximum() > 0
    assert "epoch 2 of 2" in panel.progress.text()
    assert panel.stack.currentWidget() is curve
    accuracy = manifest["metrics"]["accuracy"]
    assert f"{accuracy * 100:.1f} %" in panel.status.text(), panel.status.text()


def _run_events(panel) -> None:
    panel.handle_event(
        {
            "event": "RunStarted",
            "run_id": "r",
            "run_dir": None,
            "champion_bundle": None,
            "generations": 2,
            "population": 1,
            "epochs": 1,
            "individuals": 2,
        }
    )
    panel.handle_event(
        {
            "event": "IndividualTrained",
            "generation": 1,
            "index": 1,
            "genome": GENOME,
            "accuracy": 0.875,
            "status": "ok",
            "error": None,
            "cached": False,
            "done": 1,
            "total": 2,
            "eta_seconds": 3.0,
        }
    )
    panel.handle_event({"event": "ChampionChanged", "accuracy": 0.875, "bundle": None, "generation": 1, "index": 1})


def test_accuracies_are_percentages_and_networks_are_shown_whole(qtbot, window):  # noqa: F811
    panel = _panel(window)
    window.tabs.setCurrentWidget(panel)
    _run_events(panel)
    qtbot.wait(50)
    assert panel.table.item(0, 3).text() == "87.5 %"
    assert "87.5 %" in panel.champion.text()
    network = panel.table.item(0, 2)
    cell = panel.table.visualItemRect(network)
    needed = panel.table.fontMetrics().boundingRect(
        QRect(0, 0, cell.width() - 8, 10_000), Qt.TextWordWrap, network.text()
    )
    assert cell.height() >= needed.height(), "the network's description is cut off"
    assert network.toolTip().count("\n") == GENOME.count(" > "), "the tooltip lists one layer per line"


def test_the_champion_box_says_where_the_champion_came_from(qtbot, window, tmp_path):  # noqa: F811
    panel = _panel(window)
    window.tabs.setCurrentWidget(panel)
    events = fake_evolution_events(tmp_path, seed=5)  # its champion is a crossover found in generation 4
    for event in events:
        panel.handle_event(event)
    crowned = [e for e in events if e["event"] == "ChampionChanged"][-1]
    assert crowned["origin"] == "child" and len(crowned["parents"]) == 2
    parents = [[e for e in events if e["event"] == "IndividualTrained" and e["fingerprint"] == fingerprint
                    and e["generation"] < crowned["born"]][-1] for fingerprint in crowned["parents"]]
    box = panel.champion
    text = box.text()
    assert f"generation {crowned['generation']} #{crowned['index']}" in text, text
    for parent in parents:
        assert f"generation {parent['generation']} #{parent['index']} ({parent['accuracy'] * 100:.1f} %)" in text
    assert "a crossover of" in text and crowned["born"] == crowned["generation"]
    assert "found by the search" in text and "given" not in text
    assert "Retrained on all search data" in text
    network = next(e["genome"] for e in events if e["event"] == "IndividualTrained"
                   and (e["generation"], e["index"]) == (crowned["generation"], crowned["index"]))
    assert box.toolTip() == network.replace(" > ", "\n"), "the champion's whole network, one layer per line"
    panel.layout().activate()
    qtbot.wait(20)
    assert box.height() >= box.heightForWidth(box.width()), "the champion box is cut"


def test_a_seeded_champion_says_it_was_given(qtbot, window):  # noqa: F811
    panel = _panel(window)
    _run_events(panel)
    panel.handle_event({"event": "ChampionChanged", "accuracy": 0.9, "bundle": None, "generation": 1, "index": 2,
                        "fingerprint": "ab12", "origin": "default", "parents": [], "born": 1})
    assert "the default network, seeded into generation 1 — given, not found by the search" in panel.champion.text()


def test_the_plot_and_the_confusion_matrix_explain_every_mark(qtbot, window):  # noqa: F811
    panel = _panel(window)
    plot = panel.plot
    assert plot.x_title == "generation" and "accuracy" in plot.y_title
    legend = " ".join(label for label, _style in plot.legend)
    assert "individual network" in legend and "best" in legend and "average" in legend
    assert plot.tick_label(0.5) == "50 %"
    # A short chart (1024x700) titles its axis "accuracy" rather than cutting "validation accuracy".
    wide = plot.fontMetrics().horizontalAdvance(plot.y_title)
    assert plot.fitting_y_title(wide + 1) == plot.y_title
    assert plot.fitting_y_title(wide - 10) == "accuracy"
    matrix = panel.matrix
    matrix.resize(260, 220)
    matrix.set_matrix([[3, 1, 0], [0, 4, 0], [1, 0, 5]], ["blank", "1", "2"], "champion: 85.7 %")
    layout = matrix.placement()
    wide = matrix.fontMetrics().horizontalAdvance("blank")
    assert layout.row_labels.width() >= wide, "row labels are cut ('blank' showed as 'ank')"
    assert layout.column_label_room >= wide, "column labels are cut"
    assert matrix.row_title == "true" and matrix.column_title == "predicted"
    # Three-digit counts in small cells are written smaller, not spilled over the next cell.
    from PyQt5.QtGui import QFontMetricsF

    matrix.set_matrix([[104, 0], [1, 110]], ["1", "2"], "trained champion: 99.5 %")
    font = matrix.count_font(21.0)
    assert QFontMetricsF(font).horizontalAdvance("110") <= 21.0 - 3
    assert matrix.count_font(200.0).pointSizeF() == matrix.font().pointSizeF()


def _run_state(root, run_id: str, finished: bool):
    folder = root / run_id
    folder.mkdir(parents=True)
    (folder / "state.json").write_text(json.dumps({"run_id": run_id, "finished": finished}))
    return folder


def test_the_resume_list_never_offers_a_finished_run(qtbot, window):  # noqa: F811
    panel = _panel(window)
    root = window.config.population_dir
    other = _run_state(root, "20260101-000000-aaaa", finished=False)
    _run_state(root, "20260101-000000-bbbb", finished=True)
    window.tabs.setCurrentWidget(panel)
    qtbot.waitUntil(lambda: panel.resume_box.count() == 1, timeout=5_000)
    assert panel.resume_box.itemData(0) == other.name
    # Another process (dicebox evolve, the demo) finishes it while the window is open.
    (other / "state.json").write_text(json.dumps({"run_id": other.name, "finished": True}))
    qtbot.mouseClick(panel.resume_button, Qt.LeftButton)
    assert panel.child is None, "a finished run was started again"
    assert "finished" in panel.status.text()
    qtbot.waitUntil(lambda: panel.resume_box.count() == 0, timeout=5_000)
    assert not panel.resume_button.isEnabled()
    # And a run finished while the tab was hidden is gone when it is shown again.
    _run_state(root, "20260101-000000-cccc", finished=False)
    window.tabs.setCurrentIndex(0)
    window.tabs.setCurrentWidget(panel)
    qtbot.waitUntil(lambda: panel.resume_box.count() == 1, timeout=5_000)
    (root / "20260101-000000-cccc" / "state.json").write_text(json.dumps({"finished": True}))
    panel.handle_event({"event": "RunFinished", "run_id": "20260101-000000-cccc", "status": "finished"})
    qtbot.waitUntil(lambda: panel.resume_box.count() == 0, timeout=5_000)


def test_the_evolution_form_and_the_live_model_survive_a_restart(qtbot, window, dice_bundle):  # noqa: F811
    from dicebox.gui.app import build_window

    panel = _panel(window)
    panel.strategy.setCurrentText("random")
    panel.generations.setValue(7)
    panel.population.setValue(5)
    panel.epochs.setValue(4)
    panel.processes.setValue(2)
    window.classifier.load_bundle(dice_bundle)
    qtbot.waitUntil(lambda: window.classifier.classifier is not None, timeout=60_000)
    model_id = window.classifier.classifier.model_id
    window.close()

    again = build_window(window.config)
    qtbot.addWidget(again)
    try:
        form = _panel(again)
        assert form.strategy.currentText() == "random"
        assert (form.generations.value(), form.population.value(), form.epochs.value(), form.processes.value()) == (
            7,
            5,
            4,
            2,
        )
        again.show()
        again.restore_session()
        qtbot.waitUntil(lambda: again.classifier.classifier is not None, timeout=60_000)
        assert again.classifier.classifier.model_id == model_id
    finally:
        again.close()
