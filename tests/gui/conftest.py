"""GUI tests run on Qt's offscreen platform, or on the one DICEBOX_TEST_QT_PLATFORM names (``xcb`` on a
real or virtual X display: tests/test_gui_on_a_display.py runs them there too)."""

import os

os.environ["QT_QPA_PLATFORM"] = os.environ.get("DICEBOX_TEST_QT_PLATFORM", "offscreen")

from dicebox.gui.qt_platform import prepare_environment  # noqa: E402

prepare_environment()  # as the app does, before pytest-qt creates the QApplication

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def dice_bundle(tmp_path_factory):
    """A small, briefly trained dice classifier: right on some frames, wrong on others."""
    import numpy as np

    from dicebox.camera import Geometry, synthetic_dataset
    from dicebox.images import LabelledImages
    from dicebox.nets.bundle import save_bundle
    from dicebox.nets.genome import default_genome
    from dicebox.nets.training import TrainOptions, run_training

    geometry = Geometry(60, 50, 1)
    images, labels = synthetic_dataset(120, geometry, seed=11)
    categories = tuple(sorted(set(labels)))
    data = LabelledImages(images, np.array([categories.index(label) for label in labels]), categories)
    result = run_training(default_genome(), data, TrainOptions(epochs=15, batch_size=32, seed=3, patience=4))
    path = tmp_path_factory.mktemp("bundles") / "dice-weak"
    save_bundle(result, path, dataset_id="dice_60x50")
    return path
