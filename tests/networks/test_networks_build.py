"""build_model: uint8 input, scaling inside the model, parameter counts as the genome estimates."""

from __future__ import annotations

import numpy as np
import pytest

from dicebox.images import Geometry
from dicebox.nets.build import LEARNING_RATES, build_model
from dicebox.nets.genome import (
    OPTIMIZERS,
    Augmentation,
    Conv2DLayer,
    DenseLayer,
    DropoutLayer,
    Genome,
    GenomeError,
    MaxPool2DLayer,
    default_genome,
)


@pytest.mark.parametrize(
    ("genome", "geometry"),
    [
        (default_genome(), Geometry(60, 50, 1)),
        (default_genome(), Geometry(28, 28, 3)),
        (
            Genome((Conv2DLayer(4, (5, 3), strides=(2, 1), padding="valid"), DropoutLayer(0.1))),
            Geometry(20, 16),
        ),
        (Genome((DenseLayer(7, "tanh"), DropoutLayer(0.5), DenseLayer(5, "elu"))), Geometry(9, 7)),
        (
            Genome(
                (Conv2DLayer(6, 3, batch_norm=True), MaxPool2DLayer(2), Conv2DLayer(4, 3, activation="selu"),
                 DenseLayer(5)),
                head="global_average",
                augmentation=Augmentation(translation=0.1, rotation=0.1, zoom=0.1, contrast=0.1,
                                          horizontal_flip=True, vertical_flip=True),
            ),
            Geometry(20, 16, 3),
        ),
        (Genome((Conv2DLayer(3, 3, batch_norm=True, activation="tanh"),), head="global_max"), Geometry(9, 7)),
        (Genome((DropoutLayer(0.1),), head="global_average"), Geometry(9, 7, 3)),
    ],
)
def test_model_shape_and_parameter_count(genome, geometry):
    model = build_model(genome, geometry, 4, seed=0)
    assert tuple(model.input_shape) == (None, geometry.height, geometry.width, geometry.channels)
    assert model.inputs[0].dtype == "uint8"
    assert tuple(model.output_shape) == (None, 4)
    assert model.count_params() == genome.parameter_count(geometry, 4)
    out = np.asarray(model(np.full((2, *geometry.shape), 255, np.uint8), training=False))
    assert out.shape == (2, 4) and np.allclose(out.sum(axis=1), 1.0, atol=1e-5)


def test_rescaling_is_inside_the_model():
    model = build_model(default_genome(), Geometry(8, 8), 2, seed=0, compile=False)
    assert model.get_layer("rescale").scale == pytest.approx(1 / 255)


def test_seed_makes_initial_weights_reproducible():
    a = build_model(default_genome(), Geometry(12, 10), 3, seed=3).get_weights()
    b = build_model(default_genome(), Geometry(12, 10), 3, seed=3).get_weights()
    c = build_model(default_genome(), Geometry(12, 10), 3, seed=4).get_weights()
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c, strict=True))


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_every_optimizer_compiles(optimizer):
    genome = Genome((DenseLayer(4),), optimizer=optimizer)
    model = build_model(genome, Geometry(4, 4), 2)
    assert float(model.optimizer.learning_rate.numpy()) == pytest.approx(LEARNING_RATES[optimizer])


def test_the_genome_learning_rate_wins_over_the_callers_and_the_optimizers():
    genome = Genome((DenseLayer(4),), optimizer="sgd", learning_rate=0.0003)
    model = build_model(genome, Geometry(4, 4), 2, learning_rate=0.5)
    assert float(model.optimizer.learning_rate.numpy()) == pytest.approx(0.0003)
    model = build_model(Genome((DenseLayer(4),), optimizer="sgd"), Geometry(4, 4), 2, learning_rate=0.5)
    assert float(model.optimizer.learning_rate.numpy()) == pytest.approx(0.5)


def test_augmentation_changes_images_only_in_training_and_batch_norm_sits_before_the_activation():
    genome = Genome(
        (Conv2DLayer(4, 3, batch_norm=True, activation="elu"),),
        augmentation=Augmentation(translation=0.2, rotation=0.1),
    )
    model = build_model(genome, Geometry(12, 10), 2, seed=1)
    names = [layer.name for layer in model.layers]
    assert names.index("augment_translation") < names.index("conv2d_0") < names.index("conv2d_0_batch_norm")
    assert names.index("conv2d_0_batch_norm") < names.index("conv2d_0_elu")
    assert model.get_layer("conv2d_0").get_config()["activation"] == "linear"
    images = np.random.default_rng(0).integers(0, 256, (8, 10, 12, 1), dtype=np.uint8)
    seen = keras_model_upto(model, "augment_rotation")
    scaled = images / 255.0
    np.testing.assert_allclose(np.asarray(seen(images, training=False)), scaled, atol=1e-6)
    assert np.abs(np.asarray(seen(images, training=True)) - scaled).max() > 0.1
    # No flip unless asked: the default genome's network has no augmentation at all.
    assert not [n for n in [la.name for la in build_model(default_genome(), Geometry(12, 10), 2).layers]
                if n.startswith("augment")]


def keras_model_upto(model, name):
    import keras

    return keras.Model(model.input, model.get_layer(name).output)


def test_invalid_genome_is_refused_before_building():
    with pytest.raises(GenomeError, match="larger than its input"):
        build_model(Genome((Conv2DLayer(2, 9),)), Geometry(4, 4), 2)
