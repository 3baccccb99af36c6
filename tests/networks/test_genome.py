"""Genomes: JSON compatibility with the original, validation, repair, fingerprints, populations."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random

import pytest

from dicebox.images import Geometry
from dicebox.nets.genome import (
    ACTIVATIONS,
    Augmentation,
    Conv2DLayer,
    DenseLayer,
    DropoutLayer,
    Genome,
    GenomeError,
    MaxPool2DLayer,
    Population,
    ScoredGenome,
    default_genome,
    load_genome,
    read_population,
    save_genome,
    write_population,
)

# The original's test fixture (dicebox.core test/fixtures/dicebox.lonestar.json), shortened.
ORIGINAL_LONESTAR = """{
    "optimizer": "adamax",
    "input_shape": 784,
    "output_size": 10,
    "layers": [
        {"type": "normal", "size": 987, "activation": "elu"},
        {"type": "dropout", "rate": 0.2},
        {"type": "normal", "size": 89, "activation": "elu"},
        {"type": "dropout", "rate": 0.2}
    ]
}"""

SPEC_EXAMPLE = {
    "optimizer": "adamax",
    "input_shape": [28, 28, 1],
    "output_size": 10,
    "layers": [
        {"type": "dense", "size": 987, "activation": "elu"},
        {"type": "dropout", "rate": 0.2},
        {
            "type": "conv2d",
            "filters": 8,
            "kernel_size": [3, 3],
            "strides": [1, 1],
            "padding": "same",
            "activation": "relu",
        },
    ],
}

MNIST = Geometry(28, 28, 1)


def test_original_lonestar_reads_normal_as_dense_and_round_trips():
    genome = Genome.from_json(ORIGINAL_LONESTAR)
    assert genome.optimizer == "adamax"
    assert genome.layers == (
        DenseLayer(987, "elu"),
        DropoutLayer(0.2),
        DenseLayer(89, "elu"),
        DropoutLayer(0.2),
    )
    expected = json.loads(ORIGINAL_LONESTAR.replace('"normal"', '"dense"'))
    assert genome.to_dict() == expected
    assert Genome.from_json(genome.to_json()) == genome
    genome.validate(MNIST, 10)


def test_conv_layers_round_trip_exactly():
    genome = Genome.from_dict(SPEC_EXAMPLE)
    assert genome.to_dict() == SPEC_EXAMPLE
    assert Genome.from_json(genome.to_json(indent=None)) == genome
    pooled = Genome((Conv2DLayer(4, 5, strides=2, padding="valid"), MaxPool2DLayer(3), DenseLayer(8)))
    assert Genome.from_dict(pooled.to_dict()) == pooled


def test_layers_normalise_their_fields():
    conv = Conv2DLayer(8, 3, activation="ReLU")
    assert conv.kernel_size == (3, 3) and conv.strides == (1, 1) and conv.activation == "relu"
    assert Conv2DLayer(8, [5, 3]).kernel_size == (5, 3)
    assert DenseLayer(12.0).size == 12
    assert Genome([DenseLayer(4)]).layers == (DenseLayer(4),)
    # Frozen, and dataclasses.replace re-validates (for mutation operators).
    with pytest.raises(dataclasses.FrozenInstanceError):
        conv.filters = 9  # type: ignore[misc]
    assert dataclasses.replace(conv, filters=9).filters == 9
    with pytest.raises(GenomeError):
        dataclasses.replace(conv, filters=0)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: DenseLayer(0), "dense size must be at least 1"),
        (lambda: Conv2DLayer(0), "conv2d filters must be at least 1"),
        (lambda: Conv2DLayer(4, (0, 3)), "kernel_size must be at least 1"),
        (lambda: Conv2DLayer(4, (3, 3, 3)), "one number or two"),
        (lambda: DenseLayer(True), "whole number"),
        (lambda: DenseLayer(2.5), "whole number"),
        (lambda: DropoutLayer(1.0), "[0, 1)"),
        (lambda: DropoutLayer(-0.1), "[0, 1)"),
        (lambda: DenseLayer(8, "wiggle"), "unknown activation 'wiggle'"),
        (lambda: Conv2DLayer(8, padding="full"), "unknown padding"),
        (lambda: Genome((DenseLayer(8),), optimizer="adamx"), "unknown optimizer 'adamx'"),
        (lambda: Genome(()), "at least one layer"),
        (lambda: Genome.from_dict({"optimizer": "adam", "layers": []}), "at least one layer"),
        (lambda: Genome.from_dict({"optimizer": "adam"}), "'layers' list"),
        (
            lambda: Genome.from_dict({"layers": [{"type": "lstm", "size": 3}]}),
            "layer 1: unknown layer type 'lstm'",
        ),
        (lambda: Genome.from_dict({"layers": [{"type": "dense"}]}), "layer 1: dense layer needs size"),
        (lambda: Genome.from_dict({"layers": [{"type": "dense", "size": "12"}]}), "whole number"),
        (lambda: Genome.from_json("{not json"), "not valid JSON"),
    ],
)
def test_intrinsic_errors_are_clear(make, message):
    with pytest.raises(GenomeError) as info:
        make()
    assert message in str(info.value)


def test_activation_names_are_keras_names():
    assert {"relu", "elu", "tanh", "sigmoid", "selu", "softmax", "linear"} <= set(ACTIVATIONS)


@pytest.mark.parametrize(
    ("layers", "geometry", "message"),
    [
        (
            (Conv2DLayer(4, (5, 5)), DenseLayer(8)),
            Geometry(4, 4),
            "kernel 5x5 (height x width) is larger than its input 4x4",
        ),
        (
            (
                Conv2DLayer(4, (3, 3), padding="valid"),
                Conv2DLayer(4, (3, 3), padding="valid"),
                Conv2DLayer(4, 3),
            ),
            Geometry(5, 5),
            "layer 3: conv2d kernel 3x3 (height x width) is larger than its input 1x1",
        ),
        (
            (Conv2DLayer(4, 3, strides=2), MaxPool2DLayer(2), MaxPool2DLayer(2), DenseLayer(8)),
            Geometry(6, 6),
            "layer 3: maxpool2d window 2x2 is larger than its input 1x1",
        ),
        ((DenseLayer(8), Conv2DLayer(4)), MNIST, "layer 2: conv2d after a dense layer"),
        (
            (DenseLayer(8), DropoutLayer(0.1), MaxPool2DLayer()),
            MNIST,
            "layer 3: maxpool2d after a dense layer",
        ),
    ],
)
def test_validate_against_geometry(layers, geometry, message):
    genome = Genome(layers)
    with pytest.raises(GenomeError) as info:
        genome.validate(geometry, 3)
    assert message in str(info.value)


def test_validate_classes_and_parameter_limit():
    genome = default_genome()
    assert genome.validated(Geometry(60, 50), 10) is genome
    with pytest.raises(GenomeError, match="at least 2 classes"):
        genome.validate(Geometry(60, 50), 1)
    with pytest.raises(GenomeError, match="more than the limit"):
        genome.validate(Geometry(60, 50), 10, max_parameters=1000)


def test_strided_shapes_follow_keras_rules():
    genome = Genome(
        (Conv2DLayer(4, 3, strides=2, padding="same"), Conv2DLayer(6, 3, strides=2, padding="valid"))
    )
    assert genome.shapes(Geometry(width=11, height=9)) == [(5, 6, 4), (2, 2, 6)]


def test_parameter_count_by_hand():
    genome = Genome.from_json(ORIGINAL_LONESTAR)
    expected = (784 + 1) * 987 + (987 + 1) * 89 + (89 + 1) * 10
    assert genome.parameter_count(MNIST, 10) == expected
    conv = Genome((Conv2DLayer(8, 3, padding="valid"), MaxPool2DLayer(2)))
    assert conv.parameter_count(Geometry(6, 6, 3), 2) == (3 * 3 * 3 + 1) * 8 + (2 * 2 * 8 + 1) * 2


def test_repair_moves_spatial_layers_before_the_first_dense():
    genome = Genome.from_dict(SPEC_EXAMPLE)
    with pytest.raises(GenomeError):
        genome.validate(MNIST, 10)
    fixed = genome.repaired(MNIST)
    assert [layer.type for layer in fixed.layers] == ["conv2d", "dense", "dropout"]
    fixed.validate(MNIST, 10)
    assert fixed.optimizer == genome.optimizer


def test_repair_clamps_kernels_and_windows_to_their_input():
    genome = Genome((Conv2DLayer(4, (9, 2), padding="valid"), MaxPool2DLayer((4, 4)), DenseLayer(8)))
    fixed = genome.repaired(Geometry(width=6, height=5))
    assert fixed.layers[0].kernel_size == (5, 2)  # input 5 high: output 1x5
    assert fixed.layers[1].pool_size == (1, 4)
    fixed.validate(Geometry(width=6, height=5), 2)


def test_repair_leaves_valid_genomes_alone():
    genome = default_genome()
    assert genome.repaired(Geometry(60, 50)) is genome


def random_genome(rng: random.Random) -> Genome:
    layers = []
    for _ in range(rng.randint(1, 6)):
        kind = rng.choice(["dense", "dropout", "conv2d", "maxpool2d"])
        if kind == "dense":
            layers.append(DenseLayer(rng.randint(1, 64), rng.choice(ACTIVATIONS)))
        elif kind == "dropout":
            layers.append(DropoutLayer(rng.choice([0.0, 0.2, 0.5])))
        elif kind == "conv2d":
            layers.append(
                Conv2DLayer(
                    rng.randint(1, 16),
                    (rng.randint(1, 12), rng.randint(1, 12)),
                    (rng.randint(1, 4), rng.randint(1, 4)),
                    rng.choice(["same", "valid"]),
                )
            )
        else:
            layers.append(MaxPool2DLayer((rng.randint(1, 6), rng.randint(1, 6))))
    return Genome(tuple(layers), optimizer=rng.choice(["adam", "sgd", "adadelta"]))


def test_repaired_random_genomes_are_always_valid():
    rng = random.Random(1234)
    for geometry in (Geometry(4, 3), Geometry(20, 16), Geometry(60, 50, 3)):
        for _ in range(200):
            genome = random_genome(rng)
            fixed = genome.repaired(geometry)
            fixed.validate(geometry, 3)
            assert sorted(la.type for la in fixed.layers) == sorted(la.type for la in genome.layers)


def test_fingerprint_is_stable_and_ignores_informational_fields():
    genome = default_genome()
    canonical = json.dumps(
        {"optimizer": "adam", "layers": genome.to_dict()["layers"]}, sort_keys=True, separators=(",", ":")
    )
    assert genome.fingerprint() == hashlib.sha256(canonical.encode()).hexdigest()[:16] == "61d05a7a90622fd8"
    original = Genome.from_json(ORIGINAL_LONESTAR)
    as_dense = Genome.from_json(ORIGINAL_LONESTAR.replace('"normal"', '"dense"').replace("784", "3000"))
    assert original.fingerprint() == as_dense.fingerprint()
    changed = dataclasses.replace(original, layers=(DenseLayer(987, "elu"), DropoutLayer(0.3)))
    assert changed.fingerprint() != original.fingerprint()
    assert dataclasses.replace(original, optimizer="adam").fingerprint() != original.fingerprint()


@pytest.mark.parametrize(
    "geometry", [Geometry(60, 50), Geometry(28, 28), Geometry(20, 16), Geometry(60, 50, 3)]
)
def test_default_genome_fits_common_sizes(geometry):
    default_genome().validate(geometry, 10)


def test_genome_files(tmp_path):
    path = tmp_path / "lonestar.json"
    save_genome(default_genome(), path)
    assert load_genome(path) == default_genome()
    with pytest.raises(GenomeError, match="genome file not found"):
        load_genome(tmp_path / "missing.json")
    path.write_text('{"layers": [{"type": "dense", "size": -1}]}')
    with pytest.raises(GenomeError) as info:
        load_genome(path)
    assert str(path) in str(info.value) and "layer 1" in str(info.value)


def test_population_file_round_trip(tmp_path):
    population = Population(
        (
            ScoredGenome(default_genome(), 0.9),
            ScoredGenome(Genome.from_json(ORIGINAL_LONESTAR), 0.7),
            ScoredGenome(Genome((DenseLayer(3),)), None),
        )
    )
    assert population.average_accuracy == pytest.approx(0.8)
    path = tmp_path / "run-1" / "0" / "population.json"
    write_population(path, population)
    raw = json.loads(path.read_text())
    assert set(raw) == {"population", "average_accuracy"}
    assert raw["population"][0] == {"accuracy": 0.9, "genome": default_genome().to_dict()}
    assert read_population(path) == population


def test_population_reads_the_original_format(tmp_path):
    original = {
        "population": [{"accuracy": 0.93, "genome": json.loads(ORIGINAL_LONESTAR)}],
        "average_accuracy": 0.5,  # recomputed, not trusted
    }
    path = tmp_path / "population.json"
    path.write_text(json.dumps(original))
    population = read_population(path)
    assert population.members[0].accuracy == 0.93
    assert population.members[0].genome.layers[0] == DenseLayer(987, "elu")
    assert population.average_accuracy == 0.93


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[]", "'population' list"),
        ('{"population": [{"accuracy": 0.5}]}', "member 1: needs a 'genome'"),
        (
            '{"population": [{"accuracy": "high", "genome": {"layers": [{"type": "dense", "size": 2}]}}]}',
            "accuracy must be a number",
        ),
        ('{"population": [{"genome": {"layers": []}}]}', "member 1: a genome needs at least one layer"),
        ("{", "cannot read population file"),
    ],
)
def test_population_errors(tmp_path, content, message):
    path = tmp_path / "population.json"
    path.write_text(content)
    with pytest.raises(GenomeError) as info:
        read_population(path)
    assert message in str(info.value)


# Training genes -----------------------------------------------------------------------------------
RICH = {
    "optimizer": "sgd",
    "head": "global_average",
    "learning_rate": 0.003,
    "batch_size": 32,
    "augmentation": {"translation": 0.1, "contrast": 0.2, "vertical_flip": True},
    "layers": [
        {"type": "conv2d", "filters": 8, "kernel_size": [3, 3], "strides": [1, 1], "padding": "same",
         "activation": "relu", "batch_norm": True},
        {"type": "dense", "size": 16, "activation": "relu"},
    ],
}


def test_training_genes_round_trip_and_count_in_the_fingerprint():
    genome = Genome.from_dict(RICH)
    assert genome.to_dict() == RICH
    assert Genome.from_json(genome.to_json()) == genome
    assert (genome.head, genome.learning_rate, genome.batch_size) == ("global_average", 0.003, 32)
    assert genome.augmentation == Augmentation(translation=0.1, contrast=0.2, vertical_flip=True)
    assert genome.layers[0].batch_norm
    prints = {genome.fingerprint()}
    for change in (
        {"head": "flatten"},
        {"learning_rate": None},
        {"batch_size": 64},
        {"augmentation": Augmentation(translation=0.1, contrast=0.2)},
        {"layers": (Conv2DLayer(8), DenseLayer(16))},
    ):
        prints.add(dataclasses.replace(genome, **change).fingerprint())
    assert len(prints) == 6


def test_genes_at_their_defaults_leave_the_json_and_fingerprint_of_old_genomes_alone():
    plain = Genome.from_json(ORIGINAL_LONESTAR)
    explicit = Genome.from_dict(
        {**json.loads(ORIGINAL_LONESTAR), "head": "flatten", "learning_rate": None, "batch_size": None,
         "augmentation": {}}
    )
    assert explicit == plain and explicit.fingerprint() == plain.fingerprint()
    assert "head" not in plain.to_dict() and "augmentation" not in plain.to_dict()
    conv = {**SPEC_EXAMPLE["layers"][2], "batch_norm": False}
    assert Conv2DLayer(**{k: v for k, v in conv.items() if k != "type"}).to_dict() == SPEC_EXAMPLE["layers"][2]
    assert default_genome().fingerprint() == "61d05a7a90622fd8"  # the default network is unchanged


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"head": "pyramid"}, "unknown head 'pyramid'"),
        ({"learning_rate": 0}, "learning_rate must be a number in (0, 10]"),
        ({"learning_rate": "fast"}, "learning_rate must be a number"),
        ({"batch_size": 0}, "batch_size must be at least 1"),
        ({"batch_size": 10**6}, "batch_size must be at most"),
        ({"augmentation": {"rotation": 1.5}}, "augmentation rotation must be a number in [0, 1)"),
        ({"augmentation": {"shear": 0.1}}, "unknown augmentation 'shear'"),
        ({"augmentation": {"horizontal_flip": "yes"}}, "horizontal_flip must be true or false"),
        ({"augmentation": [0.1]}, "augmentation must be a JSON object"),
        ({"layers": [{"type": "conv2d", "filters": 4, "batch_norm": 1}]}, "batch_norm must be true or false"),
    ],
)
def test_bad_training_genes_are_refused_with_their_name(change, message):
    with pytest.raises(GenomeError) as info:
        Genome.from_dict({**RICH, **change})
    assert message in str(info.value)


def test_parameter_count_with_batch_norm_and_global_pooling_by_hand():
    genome = Genome.from_dict(RICH)
    conv = 3 * 3 * 1 * 8 + 4 * 8  # no bias; scale, offset, moving mean and variance
    assert genome.parameter_count(MNIST, 10) == conv + (8 + 1) * 16 + (16 + 1) * 10
    flat = dataclasses.replace(genome, head="flatten")
    assert flat.parameter_count(MNIST, 10) == conv + (28 * 28 * 8 + 1) * 16 + (16 + 1) * 10
    pooled_only = Genome((Conv2DLayer(5),), head="global_max")
    assert pooled_only.parameter_count(MNIST, 3) == (9 + 1) * 5 + (5 + 1) * 3
    assert "learning_rate 0.003" in genome.describe() and "translation=0.1" in genome.describe()
