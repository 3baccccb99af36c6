"""build_model: uint8 input, scaling inside the model, parameter counts as the genome estimates."""

from __future__ import annotations

import numpy as np
import pytest

from dicebox.camera.preprocess import Geometry
from dicebox.genome import (
    OPTIMIZERS,
    Conv2DLayer,
    DenseLayer,
    DropoutLayer,
    Genome,
    GenomeError,
    default_genome,
)
from dicebox.networks import LEARNING_RATES, build_model


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


def test_invalid_genome_is_refused_before_building():
    with pytest.raises(GenomeError, match="larger than its input"):
        build_model(Genome((Conv2DLayer(2, 9),)), Geometry(4, 4), 2)
