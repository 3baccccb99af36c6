"""``dicebox demo`` with tiny sizes: what it prints and what it leaves behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import cv2
import pytest

pytestmark = pytest.mark.timeout(600)


def test_tiny_demo_runs_end_to_end(tmp_path):
    out = tmp_path / "demo"
    env = {**os.environ, "DICEBOX_HOME": str(tmp_path / "home"), "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("DICEBOX_API_ACCESS_KEY", None)
    proc = subprocess.run(
        [sys.executable, "-m", "dicebox", "demo", "--out", str(out), "--per-face", "12", "--scenes", "3", "--misclassified", "2",
         "--generations", "2", "--population", "2", "--epochs", "1", "--final-epochs", "2", "--test-frames", "30"],
        capture_output=True, text=True, env=env, timeout=600, cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for step in ("[1/5]", "[2/5]", "[3/5]", "[5/5]"):
        assert step in proc.stdout
    assert "accuracy on 30 fresh frames:" in proc.stdout and "frames/s through the classification route" in proc.stdout
    # What it leaves behind: data set, population files, champion bundle, report and plots.
    images = list((out / "data" / "datasets" / "dice_60x50" / "data").rglob("*.png"))
    assert len(images) >= 6 * 12
    assert {p.parent.name for p in images} == {"1", "2", "3", "4", "5", "6"}
    populations = sorted((out / "data" / "population").glob("*/*/population.json"))
    assert len(populations) == 2
    first = json.loads(populations[0].read_text())
    assert set(first) == {"population", "average_accuracy"} and len(first["population"]) == 2
    bundle = json.loads((out / "data" / "weights" / "champion" / "bundle.json").read_text())
    assert bundle["categories"] == ["1", "2", "3", "4", "5", "6"]
    report = (out / "report.txt").read_text()
    assert "accuracy:" in report and "confusion matrix" in report
    assert "evolution's contribution: " in report and "seeded dice CNN" in report and "not measured" not in report
    for png in ("accuracy.png", "confusion.png"):
        assert cv2.imread(str(out / png)) is not None
    # The demo never touched the user's data folder, and stopped its service.
    assert not (tmp_path / "home" / "datasets").exists()


def test_demo_refuses_a_folder_in_use(tmp_path):
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "file").write_text("x")
    proc = subprocess.run([sys.executable, "-m", "dicebox", "demo", "--out", str(tmp_path / "used")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "not empty" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
