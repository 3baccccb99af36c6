"""A recording station (requirements/station.txt: no TensorFlow, no Flask, no matplotlib) picks an ONNX
export kit as the live model and classifies with it through onnxruntime, with the bundle's answers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from dicebox.nets.export import export_model

REPO = Path(__file__).resolve().parents[2]
STATION_LEAVES_OUT = ("tensorflow", "keras", "flask", "werkzeug", "waitress", "pika", "matplotlib")

CHILD = """
import json, sys
import numpy as np
from dicebox.nets.inference import Classifier
from dicebox.session.model_source import ModelSource

kit, frames, weights = sys.argv[1], np.load(sys.argv[2]), sys.argv[3]
chosen = []
source = ModelSource(weights, weights)
source.subscribe(chosen.append)
source.use_bundle(kit)  # what the window's "Choose a model" does
classifier = Classifier.from_bundle(chosen[0].path)
labels = [result.label for result in classifier.classify_batch(list(frames))]
loaded = sorted(name for name in sys.argv[4:] if sys.modules.get(name))
print(json.dumps({"runtime": classifier.runtime, "labels": labels, "loaded": loaded}))
"""


def test_a_station_classifies_with_an_onnx_kit_chosen_like_a_bundle(bundle_dir, classifier, shapes_data, tmp_path):
    kit = export_model(bundle_dir, "onnx", tmp_path / "kit")
    frames = shapes_data.images[:60]
    np.save(tmp_path / "frames.npy", frames)
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        "import sys\n" + "".join(f"sys.modules[{name!r}] = None\n" for name in STATION_LEAVES_OUT)
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(REPO)]), "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(kit), str(tmp_path / "frames.npy"), str(tmp_path / "w"), *STATION_LEAVES_OUT],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer["runtime"] == "onnx" and answer["loaded"] == []
    assert answer["labels"] == [result.label for result in classifier.classify_batch(list(frames))]
