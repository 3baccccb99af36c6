"""Model bundles: contents, parity in a fresh process, atomic replace, clear errors, exports."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import dicebox
from dicebox.images import Geometry
from dicebox.nets import bundle as bundle_module
from dicebox.nets.bundle import (
    FORMAT_VERSION,
    BundleError,
    IncompatibleBundle,
    export_savedmodel,
    export_tflite,
    load_bundle,
    save_bundle,
)

REPO = Path(__file__).resolve().parents[2]


def test_bundle_contents(bundle_dir, trained):
    assert sorted(p.name for p in bundle_dir.iterdir()) == ["bundle.json", "model.keras"]
    manifest = json.loads((bundle_dir / "bundle.json").read_text())
    assert manifest["format_version"] == FORMAT_VERSION
    assert manifest["categories"] == list(trained.categories)
    assert manifest["category_map"] == {"bar_h": 0, "bar_v": 1, "circle": 2, "cross": 3}
    assert manifest["preprocessing"]["width"] == 20 and manifest["preprocessing"]["height"] == 16
    assert manifest["preprocessing"]["scaling"] == "uint8 0..255, rescaled inside the model"
    assert manifest["preprocessing"]["colour_order"] == "BGR"
    assert manifest["metrics"]["accuracy"] == trained.metrics.accuracy
    assert len(manifest["metrics"]["confusion_matrix"]) == 4
    assert manifest["dataset"] == {"id": "shapes_20x16", "version": trained.dataset_version}
    assert manifest["dicebox_version"] == dicebox.__version__
    assert manifest["genome"] == trained.genome.to_dict()
    bundle = load_bundle(bundle_dir)
    assert len(bundle.model_id) == 16 and bundle.model_id == manifest["model_id"]
    assert bundle.geometry == Geometry(20, 16, 1)
    assert bundle.genome == trained.genome and bundle.metrics == trained.metrics


PARITY_SCRIPT = """
import sys, numpy as np
from dicebox.nets.inference import Classifier
frames = np.load(sys.argv[2])
classifier = Classifier.from_bundle(sys.argv[1])
results = classifier.classify_batch(list(frames))
single = classifier.classify(frames[0])
np.save(sys.argv[3], np.array([[r.probabilities[c] for c in classifier.categories] for r in results]))
print(classifier.model_id, single.label)
"""


def test_fresh_process_classifies_exactly_as_in_memory(bundle_dir, trained, shapes_data, tmp_path):
    frames = shapes_data.images[::10]
    expected = np.asarray(trained.model(frames, training=False))
    np.save(tmp_path / "frames.npy", frames)
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            PARITY_SCRIPT,
            str(bundle_dir),
            str(tmp_path / "frames.npy"),
            str(tmp_path / "out.npy"),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    model_id, label = done.stdout.split()
    assert model_id == load_bundle(bundle_dir).model_id
    assert label == trained.categories[int(expected[0].argmax())]
    np.testing.assert_allclose(np.load(tmp_path / "out.npy"), expected, atol=1e-5)


def test_replacing_a_bundle(bundle_dir, other_bundle_dir, trained, tmp_path):
    target = tmp_path / "models" / "live"
    first = save_bundle(trained, target)
    second = save_bundle(load_bundle(other_bundle_dir).load_model(), target, categories=trained.categories)
    assert load_bundle(target).model_id == second.model_id != first.model_id
    assert sorted(p.name for p in target.parent.iterdir()) == ["live"]  # no temp or old folders left


def test_failed_save_keeps_the_old_bundle(trained, tmp_path, monkeypatch):
    target = tmp_path / "live"
    first = save_bundle(trained, target)

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(bundle_module, "write_text_atomic", crash)
    with pytest.raises(OSError, match="disk full"):
        save_bundle(trained, target)
    assert load_bundle(target).model_id == first.model_id
    assert sorted(p.name for p in tmp_path.iterdir()) == ["live"]


def test_interrupted_replace_is_recovered(bundle_dir, tmp_path):
    # A crash between "rename old aside" and "rename new into place" leaves only the old copy.
    shutil.copytree(bundle_dir, tmp_path / ".old-0123456789ab-live")
    bundle_module._recover(tmp_path / "live", min_age=0)
    assert load_bundle(tmp_path / "live").model_id == load_bundle(bundle_dir).model_id


def test_refuses_to_replace_something_else(trained, tmp_path):
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "holiday.jpg").write_bytes(b"x")
    with pytest.raises(BundleError, match="not a model bundle; refusing"):
        save_bundle(trained, tmp_path / "photos")
    assert (tmp_path / "photos" / "holiday.jpg").exists()
    (tmp_path / "empty").mkdir()
    save_bundle(trained, tmp_path / "empty")
    assert load_bundle(tmp_path / "empty")


def _broken_copy(bundle_dir: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "copy"
    shutil.copytree(bundle_dir, copy)
    return copy


def _edit_manifest(path: Path, **changes) -> None:
    manifest = json.loads((path / "bundle.json").read_text())
    manifest.update(changes)
    (path / "bundle.json").write_text(json.dumps(manifest))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda p: shutil.rmtree(p), "no model bundle at"),
        (lambda p: (shutil.rmtree(p), p.write_text("x")), "is not a model bundle folder"),
        (lambda p: (p / "bundle.json").unlink(), "bundle.json is missing"),
        (lambda p: (p / "bundle.json").write_text("{oops"), "bundle.json is corrupt"),
        (lambda p: _edit_manifest(p, format="something.else"), "does not describe a dicebox model bundle"),
        (lambda p: _edit_manifest(p, format_version=FORMAT_VERSION + 1), "written by a newer dicebox"),
        (lambda p: _edit_manifest(p, format_version="one"), "unknown format version"),
        (lambda p: (p / "model.keras").unlink(), "model.keras is missing"),
        (lambda p: (p / "model.keras").open("ab").write(b"\0"), "corrupt or was changed (checksum mismatch)"),
        (lambda p: _edit_manifest(p, categories=["only"]), "at least 2 distinct categories"),
        (lambda p: _edit_manifest(p, preprocessing={"width": 20}), "missing or invalid field"),
        (lambda p: _edit_manifest(p, genome={"layers": []}), "invalid genome"),
    ],
)
def test_load_errors_are_clear(bundle_dir, tmp_path, damage, message):
    copy = _broken_copy(bundle_dir, tmp_path)
    damage(copy)
    with pytest.raises(BundleError) as info:
        load_bundle(copy)
    assert message in str(info.value)


def test_model_that_does_not_match_its_manifest(bundle_dir, tmp_path):
    copy = _broken_copy(bundle_dir, tmp_path)
    _edit_manifest(copy, categories=["a", "b", "c"], category_map={"a": 0, "b": 1, "c": 2})
    with pytest.raises(BundleError, match="outputs 4 classes"):
        load_bundle(copy).load_model()


def test_check_compatible(bundle_dir):
    bundle = load_bundle(bundle_dir)
    bundle.check_compatible(Geometry(20, 16, 1), ["bar_h", "bar_v", "circle", "cross"])
    with pytest.raises(IncompatibleBundle, match="expects 20x16 images with 1 channel"):
        bundle.check_compatible(Geometry(60, 50, 1), bundle.categories)
    with pytest.raises(IncompatibleBundle, match="not in the model: star; not in the data set: cross"):
        bundle.check_compatible(bundle.geometry, ["bar_h", "bar_v", "circle", "star"])
    with pytest.raises(IncompatibleBundle, match="different order"):
        bundle.check_compatible(bundle.geometry, ["bar_v", "bar_h", "circle", "cross"])


def test_exports_agree_with_the_keras_model(bundle_dir, shapes_data, tmp_path):
    import tensorflow as tf

    bundle = load_bundle(bundle_dir)
    frames = shapes_data.images[::25]
    expected = np.asarray(bundle.load_model()(frames, training=False))

    saved = export_savedmodel(bundle, tmp_path / "savedmodel")
    spec = json.loads((saved / "preprocessing.json").read_text())
    assert spec["preprocessing"] == bundle.preprocessing() and spec["model_id"] == bundle.model_id
    loaded = tf.saved_model.load(str(saved))
    served = loaded.serve(tf.constant(frames)).numpy()
    np.testing.assert_allclose(served, expected, atol=1e-5)

    lite = export_tflite(bundle, tmp_path / "lite" / "model.tflite")
    assert json.loads((lite.parent / "preprocessing.json").read_text())["categories"] == list(
        bundle.categories
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "tf.lite.Interpreter is deprecated" (LiteRT)
        interpreter = tf.lite.Interpreter(model_path=str(lite))
    entry = interpreter.get_input_details()[0]
    assert entry["dtype"] == np.uint8
    interpreter.resize_tensor_input(entry["index"], list(frames.shape))
    interpreter.allocate_tensors()
    interpreter.set_tensor(entry["index"], frames)
    interpreter.invoke()
    out = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    np.testing.assert_allclose(out, expected, atol=1e-5)
