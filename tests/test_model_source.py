"""The Qt-free model source: the models on offer, the choice, following the newest run's champion."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import pytest

from dicebox.session.model_source import (
    ModelChosen,
    ModelsListed,
    ModelSource,
    ModelSourceError,
    RecentChanged,
    install_bundle,
    scan_models,
)


def fake_bundle(path: Path, *, created: str, accuracy: float, dataset: str = "dice_60x50", seed: str = "") -> Path:
    """A bundle folder that load_bundle accepts (the model file's bytes are not a network: no TensorFlow)."""
    path.mkdir(parents=True)
    model = f"not a network {path} {seed}".encode()
    (path / "model.keras").write_bytes(model)
    manifest = {
        "format": "dicebox.bundle",
        "format_version": 1,
        "model_id": hashlib.sha256(model).hexdigest()[:16],
        "created": created,
        "categories": ["1", "2"],
        "preprocessing": {
            "width": 60,
            "height": 50,
            "channels": 1,
            "scaling": "uint8 0..255, rescaled inside the model",
            "colour_order": "BGR",
        },
        "metrics": {
            "accuracy": accuracy,
            "per_class_accuracy": {"1": accuracy, "2": accuracy},
            "confusion_matrix": [[1, 0], [0, 1]],
            "samples": 2,
            "evaluated_on": "validation",
        },
        "dataset": {"id": dataset, "version": "v1"},
        "files": {"model.keras": {"sha256": hashlib.sha256(model).hexdigest()}},
    }
    (path / "bundle.json").write_text(json.dumps(manifest))
    return path


@pytest.fixture
def folders(tmp_path):
    weights, population = tmp_path / "weights", tmp_path / "population"
    weights.mkdir()
    population.mkdir()
    return weights, population


def test_the_list_holds_bundles_champions_and_recent_paths_newest_first(folders, tmp_path):
    weights, population = folders
    fake_bundle(weights / "trained-a", created="2026-11-30T10:00:00+00:00", accuracy=0.5)
    fake_bundle(population / "run-1" / "champion", created="2026-12-01T09:00:00+00:00", accuracy=0.9)
    elsewhere = fake_bundle(tmp_path / "usb" / "mine", created="2026-12-01T11:00:00+00:00", accuracy=1.0, dataset="x")
    (weights / "not-a-bundle").mkdir()
    entries = scan_models(weights, population, recent=[str(elsewhere), str(tmp_path / "gone")])
    assert [(e.kind, e.path.name) for e in entries] == [
        ("bundle", "mine"),
        ("champion", "champion"),
        ("bundle", "trained-a"),
    ]
    assert entries[1].describe().startswith("champion of run run-1 · 2026-12-01")
    assert "90.0 % accuracy" in entries[1].describe() and "dice_60x50" in entries[1].describe()
    assert "100.0 % accuracy · x" in entries[0].describe()


def test_a_bundle_named_champion_outside_the_runs_is_a_bundle(folders):
    """The demo trains its final champion into weights/champion: it is no run's champion."""
    weights, population = folders
    final = fake_bundle(weights / "champion", created="2026-12-01T12:00:00+00:00", accuracy=0.99)
    run = fake_bundle(population / "run-1" / "champion", created="2026-12-01T09:00:00+00:00", accuracy=0.9)
    entries = scan_models(weights, population, recent=[str(final), str(run)])
    assert [(e.kind, e.path) for e in entries] == [("bundle", final), ("champion", run)]
    assert entries[0].describe().startswith("bundle champion · 2026-12-01")


def test_choosing_a_bundle_tells_subscribers_and_remembers_it(folders):
    weights, population = folders
    bundle = fake_bundle(weights / "trained-a", created="2026-11-30T10:00:00+00:00", accuracy=0.5)
    source = ModelSource(weights, population, recent=["/somewhere/else"])
    events = []
    source.subscribe(events.append)
    source.use_bundle(bundle)
    assert events == [ModelChosen("bundle", bundle), RecentChanged((str(bundle), "/somewhere/else"))]
    assert source.scan()[0].path == bundle
    assert isinstance(events[-1], ModelsListed)


def test_a_folder_that_is_no_bundle_is_refused_and_changes_nothing(folders, tmp_path):
    source = ModelSource(*folders)
    events = []
    source.subscribe(events.append)
    with pytest.raises(ModelSourceError, match="no model bundle"):
        source.use_bundle(tmp_path)
    assert events == [] and source.kind == "none" and source.recent == ()


def test_following_the_champion_picks_up_a_run_started_after_the_choice(folders):
    weights, population = folders
    first = fake_bundle(population / "run-1" / "champion", created="2026-12-01T09:00:00+00:00", accuracy=0.5)
    source = ModelSource(weights, population)
    events = []
    source.subscribe(events.append)
    source.follow_champion()
    assert events == [ModelChosen("champion"), ModelChosen("champion", first)]
    events.clear()
    source.poll()
    assert events == [], "the same champion is not told twice"

    (population / "run-2").mkdir()  # a new run, no champion yet: the old one stays
    source.poll()
    assert events == []
    second = fake_bundle(population / "run-2" / "champion", created="2026-12-01T10:00:00+00:00", accuracy=0.7)
    later = time.time() + 5
    os.utime(second / "bundle.json", (later, later))
    source.poll()
    assert events[-1] == ModelChosen("champion", second)

    source.use_service()
    fake_bundle(population / "run-3" / "champion", created="2026-12-01T11:00:00+00:00", accuracy=0.9)
    source.poll()
    assert events[-1] == ModelChosen("service"), "no champion is loaded once the operator chose another model"


def test_a_bundle_is_copied_into_a_service_weights_folder_once(folders, tmp_path):
    weights, population = folders
    inside = fake_bundle(weights / "trained-a", created="2026-11-30T10:00:00+00:00", accuracy=0.5)
    assert install_bundle(inside, weights) == "trained-a"
    champion = fake_bundle(population / "run-1" / "champion", created="2026-12-01T09:00:00+00:00", accuracy=0.9)
    name = install_bundle(champion, weights)
    assert name.startswith("champion-run-1-") and (weights / name / "bundle.json").is_file()
    assert install_bundle(champion, weights) == name
    assert sorted(p.name for p in weights.iterdir()) == sorted(["trained-a", name])
    with pytest.raises(ModelSourceError):
        install_bundle(tmp_path / "nothing", weights)
