"""Session fixtures for the network tests: one tiny network trained once and shared as a bundle."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).parent))

from synthetic_images import TINY, shapes  # noqa: E402


@pytest.fixture(scope="session")
def shapes_data():
    """200 noisy 20x16 grey images of 4 shapes."""
    return shapes(per_class=50, width=20, height=16)


@pytest.fixture(scope="session")
def trained(shapes_data):
    from dicebox.nets.training import TrainOptions, run_training

    return run_training(TINY, shapes_data, TrainOptions(epochs=12, batch_size=32, seed=1, patience=3))


@pytest.fixture(scope="session")
def bundle_dir(trained, tmp_path_factory) -> Path:
    from dicebox.nets.bundle import save_bundle

    path = tmp_path_factory.mktemp("bundles") / "shapes-model"
    save_bundle(trained, path, dataset_id="shapes_20x16")
    return path


@pytest.fixture(scope="session")
def other_bundle_dir(shapes_data, tmp_path_factory) -> Path:
    """An untrained model of the same shape and categories: different outputs, different id."""
    from dicebox.nets.build import build_model
    from dicebox.nets.bundle import save_bundle
    from dicebox.nets.training import data_geometry

    model = build_model(TINY, data_geometry(shapes_data), len(shapes_data.categories), seed=7)
    path = tmp_path_factory.mktemp("bundles") / "other-model"
    save_bundle(model, path, categories=shapes_data.categories, genome=TINY)
    return path


@pytest.fixture(scope="session")
def classifier(bundle_dir):
    from dicebox.nets.inference import Classifier

    return Classifier.from_bundle(bundle_dir)
