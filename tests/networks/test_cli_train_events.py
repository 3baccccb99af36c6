"""``dicebox train --json-events``: one JSON object per line on stdout, so a window can draw epochs live."""

from __future__ import annotations

import json

import numpy as np

from dicebox.cli import main


def _events(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def test_json_events_stream_every_epoch_and_the_result(shapes_data, tmp_path, capsys):
    npz = tmp_path / "shapes.npz"
    np.savez(npz, images=shapes_data.images, labels=shapes_data.labels, categories=np.array(shapes_data.categories))
    out = tmp_path / "model"
    argv = ["train", "--data-dir", str(tmp_path / "home"), "--npz", str(npz), "--out", str(out)]
    code = main([*argv, "--epochs", "3", "--patience", "0", "--seed", "1", "--quiet", "--json-events"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    events = _events(captured.out)
    names = [e["event"] for e in events]
    assert names[0] == "TrainStarted" and events[0]["epochs"] == 3 and events[0]["batches"] >= 1
    epochs = [e for e in events if e["event"] == "EpochEnd"]
    assert [e["epoch"] for e in epochs] == [1, 2, 3]
    assert all(0 <= e["accuracy"] <= 1 and 0 <= e["val_accuracy"] <= 1 for e in epochs)
    assert names[-1] == "TrainFinished"
    finished = events[-1]
    assert finished["bundle"] == str(out) and (out / "bundle.json").is_file()
    assert json.loads((out / "bundle.json").read_text())["model_id"] == finished["model_id"]
    assert 0 <= finished["accuracy"] <= 1 and finished["epochs_run"] == 3
