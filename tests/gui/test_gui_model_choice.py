"""From training to use: "Use this model", the list of recent bundles and past champions (remembered),
following the newest run's champion, loading a bundle into the service, and exporting it."""

from __future__ import annotations

import json
import os
import shutil
import time

import pytest
from helpers import API_KEY
from PyQt5.QtCore import Qt
from PyQt5.QtWidgets import QFileDialog, QInputDialog
from test_gui_operator import start_service_and_camera, window  # noqa: F401 - the fixture

from dicebox.client.http import SensoryClient

pytestmark = pytest.mark.timeout(300)


def _evolution_panel(win):
    from dicebox.gui.evolution_panel import EvolutionPanel

    return next(p for p in win.extra_panels if isinstance(p, EvolutionPanel))


def _model_id(bundle) -> str:
    return json.loads((bundle / "bundle.json").read_text())["model_id"]


def _loaded(win, bundle) -> bool:
    classifier = win.classifier.classifier
    return classifier is not None and classifier.model_id == _model_id(bundle) and bundle.name in win.classify.model.text()


def _entries(win) -> list[tuple[str, str]]:
    combo = win.classify.source
    return [(combo.itemText(i), combo.itemData(i)) for i in range(win.classify.FIRST_MODEL, combo.count())]


def test_use_this_model_after_train_one_network_and_after_an_evolution(qtbot, window, dice_bundle):  # noqa: F811
    panel = _evolution_panel(window)
    assert not panel.use_model.isEnabled(), "nothing trained yet"
    trained = shutil.copytree(dice_bundle, window.config.weights_dir / "trained-20261201-120000")
    # What `dicebox train --json-events` ends with.
    panel.handle_event({"event": "TrainFinished", "bundle": str(trained), "accuracy": 0.5,
                        "evaluated_on": "validation", "best_epoch": 3, "epochs_run": 5})
    panel.childEnded.emit("training", 0)
    # The monitor tells "model ready" and then "child ended": two queued events, both must arrive.
    finished = "Training finished: trained-20261201-120000, 50.0 % validation accuracy"
    qtbot.waitUntil(lambda: panel.use_model.isEnabled() and finished in panel.status.text(), timeout=5_000)
    qtbot.mouseClick(panel.use_model, Qt.LeftButton)
    qtbot.waitUntil(lambda: _loaded(window, trained), timeout=60_000)
    assert window.classify.source.currentData() == str(trained), "the drop-down shows the model in use"

    champion = shutil.copytree(dice_bundle, window.config.population_dir / "20261201-121000-abcd" / "champion")
    panel.handle_event({"event": "ChampionChanged", "accuracy": 0.75, "generation": 1, "bundle": str(champion)})
    qtbot.mouseClick(panel.use_model, Qt.LeftButton)
    qtbot.waitUntil(lambda: window.classifier.source == ("bundle", str(champion)), timeout=60_000)


def test_a_model_list_refresh_asked_during_a_scan_is_not_lost(qtbot, window, dice_bundle, monkeypatch):  # noqa: F811
    import threading

    config, source = window.config, window.classify.model_source
    shutil.copytree(dice_bundle, config.weights_dir / "first")
    scan, release = source.scan, threading.Event()

    def slow_scan():
        found = scan()
        release.wait(30)  # the scan has read the folders; the operator acts before it ends
        return found

    monkeypatch.setattr(source, "scan", slow_scan)
    window.classify.refresh_models()
    qtbot.waitUntil(lambda: len(_entries(window)) == 1, timeout=10_000)
    shutil.copytree(dice_bundle, config.weights_dir / "second")
    window.classify.refresh_models()  # while the first scan is still running
    release.set()
    qtbot.waitUntil(lambda: len(_entries(window)) == 2, timeout=10_000)


def test_the_model_list_offers_recent_bundles_and_champions_and_survives_a_restart(
    qtbot, window, dice_bundle, tmp_path  # noqa: F811
):
    config = window.config
    shutil.copytree(dice_bundle, config.weights_dir / "trained-a")
    shutil.copytree(dice_bundle, config.population_dir / "run-1" / "champion")
    elsewhere = shutil.copytree(dice_bundle, tmp_path / "usb" / "kept")
    window.classify.refresh_models()
    qtbot.waitUntil(lambda: len(_entries(window)) == 2, timeout=10_000)
    texts = [text for text, _path in _entries(window)]
    assert any(t.startswith("bundle trained-a") for t in texts) and any(t.startswith("champion of run run-1") for t in texts)
    assert all("% accuracy" in t and "dice_60x50" in t for t in texts), texts

    window.classify.use_model(elsewhere)  # as a folder chosen in "Bundle file…"
    qtbot.waitUntil(lambda: _loaded(window, elsewhere), timeout=60_000)
    qtbot.waitUntil(lambda: len(_entries(window)) == 3, timeout=10_000)
    assert str(elsewhere) in [path for _text, path in _entries(window)]
    window.settings.sync()

    from dicebox.gui.app import build_window

    again = build_window(config)
    qtbot.addWidget(again)
    try:
        qtbot.waitUntil(lambda: len(_entries(again)) == 3, timeout=10_000)
        assert str(elsewhere) in [path for _text, path in _entries(again)], "the recent bundle is remembered"
        again.classify.restore_model()  # as dicebox gui does when it opens
        qtbot.waitUntil(lambda: _loaded(again, elsewhere), timeout=60_000)
        combo = again.classify.source
        index = next(i for i in range(combo.count()) if combo.itemData(i) == str(config.weights_dir / "trained-a"))
        combo.setCurrentIndex(index)
        combo.activated.emit(index)
        qtbot.waitUntil(lambda: again.classifier.source == ("bundle", str(config.weights_dir / "trained-a")),
                        timeout=60_000)
    finally:
        again.close()
        again.classifier.shutdown()


def test_following_the_champion_picks_up_a_run_started_after_it_was_chosen(qtbot, window, dice_bundle):  # noqa: F811
    population = window.config.population_dir
    first = shutil.copytree(dice_bundle, population / "20261201-100000-aaaa" / "champion")
    combo = window.classify.source
    combo.setCurrentIndex(window.classify.CHAMPION)
    combo.activated.emit(window.classify.CHAMPION)
    qtbot.waitUntil(lambda: window.classifier.source == ("champion", str(first)), timeout=60_000)

    second = shutil.copytree(dice_bundle, population / "20261201-110000-bbbb" / "champion")
    later = time.time() + 5
    os.utime(second / "bundle.json", (later, later))
    qtbot.waitUntil(lambda: window.classifier.source == ("champion", str(second)), timeout=60_000)
    qtbot.waitUntil(lambda: "20261201-110000-bbbb" in window.classify.model.text(), timeout=5_000)
    assert combo.currentIndex() == window.classify.CHAMPION


def test_load_into_the_local_service_then_classify_through_it(qtbot, window, dice_bundle):  # noqa: F811
    start_service_and_camera(qtbot, window)
    client = SensoryClient(window.link.url, API_KEY)
    assert client.model() == {"loaded": False}
    window.classify.use_model(dice_bundle)  # a bundle outside the service's weights folder
    qtbot.waitUntil(lambda: _loaded(window, dice_bundle), timeout=60_000)
    assert window.classify.to_service.isEnabled()
    qtbot.mouseClick(window.classify.to_service, Qt.LeftButton)
    qtbot.waitUntil(lambda: window.classify.message is not None and window.classify.message.isVisible(),
                    timeout=120_000)
    assert window.classify.message.windowTitle() == "Loaded into the service", window.classify.message.text()
    assert client.model()["model_id"] == _model_id(dice_bundle)
    result = client.classify(_frame())
    assert result.model_id == _model_id(dice_bundle) and result.label in ("1", "2", "3", "4", "5", "6")


def _names(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def _frame():
    from dicebox.camera import Geometry, synthetic_dataset

    images, _labels = synthetic_dataset(1, Geometry(60, 50, 1), seed=5)
    return images[0]


def test_a_remote_service_is_told_it_cannot_take_an_upload_and_nothing_changes(qtbot, window, dice_bundle):  # noqa: F811
    start_service_and_camera(qtbot, window)
    window.classify.service_weights_dir = None  # as for a service on another machine
    window.classify.use_model(dice_bundle)
    qtbot.waitUntil(lambda: _loaded(window, dice_bundle), timeout=60_000)
    before = _names(window.config.weights_dir)
    qtbot.mouseClick(window.classify.to_service, Qt.LeftButton)
    assert window.classify.message.windowTitle() == "Cannot load into this service"
    assert "cannot take a bundle" in window.classify.message.text()
    assert "cannot take a bundle" in window.classify.model.text(), "the panel says it too"
    assert SensoryClient(window.link.url, API_KEY).model() == {"loaded": False}
    assert _names(window.config.weights_dir) == before


def test_export_writes_the_chosen_format_where_the_operator_says(qtbot, window, dice_bundle, monkeypatch):  # noqa: F811
    asked = {}

    def get_item(_parent, _title, _label, items, *_args):
        asked["formats"] = items
        return next(item for item in items if item.startswith("keras")), True

    def get_save(_parent, _caption, directory, *_args):
        asked["directory"] = directory
        return str(window.config.weights_dir.parent / "exports" / "my-kit"), ""

    monkeypatch.setattr(QInputDialog, "getItem", staticmethod(get_item))
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(get_save))
    window.classify.use_model(dice_bundle)
    qtbot.waitUntil(lambda: _loaded(window, dice_bundle), timeout=60_000)
    qtbot.mouseClick(window.classify.export_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: window.classify.message is not None, timeout=120_000)
    assert window.classify.message.windowTitle() == "Model exported", window.classify.message.text()
    kit = window.config.weights_dir.parent / "exports" / "my-kit"
    assert (kit / "model.keras").is_file() and (kit / "labels.txt").read_text().split() == ["1", "2", "3", "4", "5", "6"]
    assert [item.split(" ")[0] for item in asked["formats"]] == ["keras", "savedmodel", "tflite", "onnx"]
    assert asked["directory"].startswith(str(window.config.weights_dir)), "the dialog opens in the weights folder"


def test_an_export_that_cannot_be_written_says_why_and_leaves_the_file(qtbot, window, dice_bundle, monkeypatch):  # noqa: F811
    target = window.config.weights_dir.parent / "notes.txt"
    target.write_text("mine")
    monkeypatch.setattr(QInputDialog, "getItem", staticmethod(lambda _p, _t, _l, items, *_a: (items[0], True)))
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *_a: (str(target), "")))
    window.classify.use_model(dice_bundle)
    qtbot.waitUntil(lambda: _loaded(window, dice_bundle), timeout=60_000)
    qtbot.mouseClick(window.classify.export_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: window.classify.message is not None, timeout=60_000)
    assert window.classify.message.windowTitle() == "Cannot export the model"
    assert target.read_text() == "mine"
