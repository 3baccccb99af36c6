"""Networks with the newer genes (batch normalisation, global pooling, augmentation) train, classify
and export: every format gives the bundle's answers, and augmentation never acts when classifying.

Same tolerances as test_export_model.py: probabilities within 1e-5 of the bundle's.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_export_model import FLOAT_ATOL, bundle_outputs, run_kit

from dicebox.cli import main
from dicebox.nets.genome import Augmentation, Conv2DLayer, DenseLayer, DropoutLayer, Genome, MaxPool2DLayer

RICH = Genome(
    (
        Conv2DLayer(8, 3, batch_norm=True),
        MaxPool2DLayer(2),
        Conv2DLayer(12, 3, batch_norm=True, activation="elu"),
        DenseLayer(16),
        DropoutLayer(0.2),
    ),
    head="global_average",
    learning_rate=0.003,
    batch_size=16,
    augmentation=Augmentation(translation=0.1, rotation=0.05, zoom=0.1, contrast=0.2, horizontal_flip=True),
)
GLOBAL_MAX_NO_DENSE = Genome((Conv2DLayer(6, 3, batch_norm=True),), head="global_max")


@pytest.fixture(scope="module")
def rich_result(shapes_data):
    from dicebox.nets.training import TrainOptions, run_training

    return run_training(RICH, shapes_data, TrainOptions(epochs=4, batch_size=64, seed=2, patience=0))


@pytest.fixture(scope="module")
def rich_bundle(rich_result, tmp_path_factory):
    from dicebox.nets.bundle import save_bundle

    path = tmp_path_factory.mktemp("rich") / "bundle"
    save_bundle(rich_result, path, dataset_id="shapes_20x16")
    return path


def test_the_genome_genes_are_what_training_used(rich_result):
    assert rich_result.options.batch_size == 16 and rich_result.options.learning_rate == 0.003
    assert rich_result.training_info()["options"]["batch_size"] == 16
    assert float(rich_result.model.optimizer.learning_rate.numpy()) == pytest.approx(0.003)
    # Batch normalisation learned its statistics (not the initial mean 0, variance 1).
    stats = rich_result.model.get_layer("conv2d_0_batch_norm").get_weights()
    assert not np.allclose(stats[2], 0.0) and not np.allclose(stats[3], 1.0)


def test_augmentation_is_off_when_classifying(rich_result, rich_bundle, shapes_data):
    from dicebox.nets.bundle import load_bundle
    from dicebox.nets.inference import Classifier

    frames = shapes_data.images[:40]
    trained = np.asarray(rich_result.model(frames, training=False))
    first, again = bundle_outputs(rich_bundle, frames), bundle_outputs(rich_bundle, frames)
    np.testing.assert_array_equal(first, again)
    np.testing.assert_allclose(first, trained, atol=FLOAT_ATOL)
    # The bundle's file has no augmentation left: even a bare call (training mode by default for
    # Keras' augmentation layers, and for every layer after one) gives the same answers.
    saved = load_bundle(rich_bundle).load_model()
    assert not [la.name for la in saved.layers if type(la).__name__.startswith("Random")]
    np.testing.assert_allclose(np.asarray(saved(frames)), first, atol=FLOAT_ATOL)
    classifier = Classifier.from_bundle(rich_bundle)
    results = [classifier.classify(frame) for frame in frames]
    labels = [shapes_data.categories[i] for i in first.argmax(1)]
    assert [r.label for r in results] == labels


@pytest.mark.parametrize("fmt", ["keras", "savedmodel", "tflite", "onnx"])
def test_export_of_batch_norm_global_pooling_and_augmentation_agrees(rich_bundle, shapes_data, fmt, tmp_path):
    assert main(["export-model", str(rich_bundle), "--format", fmt, "--out", str(tmp_path / fmt)]) == 0
    frames = shapes_data.images
    expected = bundle_outputs(rich_bundle, frames)
    got = run_kit(tmp_path / fmt, fmt, frames)
    assert (got.argmax(1) == expected.argmax(1)).mean() >= 0.99
    np.testing.assert_allclose(got, expected, atol=FLOAT_ATOL)


def test_onnx_global_max_pooling_straight_to_the_output(shapes_data):
    import onnxruntime

    from dicebox.nets.build import build_model
    from dicebox.nets.onnx_export import to_onnx
    from dicebox.nets.training import data_geometry

    model = build_model(GLOBAL_MAX_NO_DENSE, data_geometry(shapes_data), 4, seed=3)
    # Non-trivial batch statistics, as after training.
    bn = model.get_layer("conv2d_0_batch_norm")
    gamma, beta, mean, var = bn.get_weights()
    rng = np.random.default_rng(0)
    bn.set_weights([gamma * 1.5, beta + 0.1, mean + rng.normal(0, 0.2, mean.shape), var * 2.0])
    session = onnxruntime.InferenceSession(to_onnx(model), providers=["CPUExecutionProvider"])
    frames = shapes_data.images[:50]
    got = session.run(None, {"image": frames})[0]
    np.testing.assert_allclose(got, np.asarray(model(frames, training=False)), atol=FLOAT_ATOL)
