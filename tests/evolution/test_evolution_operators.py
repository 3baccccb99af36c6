"""GA operators with seeded RNGs: every field mutates, children are valid, selection keeps the best."""

from __future__ import annotations

import dataclasses
import random

import pytest

from dicebox.camera.preprocess import Geometry
from dicebox.config import TaxonomyConfig
from dicebox.evolution.operators import (
    Taxonomy,
    crossover_layers,
    elite,
    make_valid,
    mutate,
    next_generation,
    random_genome,
    select_tournament,
    select_truncation,
)
from dicebox.genome import Conv2DLayer, DenseLayer, DropoutLayer, Genome, MaxPool2DLayer, ScoredGenome

ALL_TYPES = Taxonomy(layer_types=("dense", "dropout", "conv2d", "maxpool2d"), min_layers=1, max_layers=6,
                     min_neurons=4, max_neurons=64, max_filters=16)
SMALL = Geometry(width=7, height=5, channels=1)

CONV = Conv2DLayer(8, (3, 3), (1, 1), "same", "relu")
POOL = MaxPool2DLayer((2, 2))
DROP = DropoutLayer(0.2)
DENSE = DenseLayer(16, "relu")


def scored(accuracies: list[float | None], seed: int = 0) -> list[ScoredGenome]:
    rng = random.Random(seed)
    return [ScoredGenome(random_genome(rng, ALL_TYPES, Geometry(28, 28)), a) for a in accuracies]


# Mutation -------------------------------------------------------------------------------------
@pytest.mark.parametrize("layers", [
    (CONV, POOL, DROP, DENSE),  # last: dense
    (DENSE, DROP),  # last: dropout
    (CONV, POOL),  # last: maxpool2d
    (POOL, CONV),  # last: conv2d
])
def test_every_field_of_every_layer_mutates_including_the_last(layers):
    genome = Genome(layers, "adam")
    rng = random.Random(1)
    changed: set[tuple[int, str]] = set()
    sizes, optimizers = set(), set()
    for _ in range(600):
        child = mutate(genome, rng, ALL_TYPES, 0.25)
        sizes.add(len(child.layers))
        optimizers.add(child.optimizer)
        if len(child.layers) != len(genome.layers):
            continue  # a layer was inserted or deleted: positions shifted
        for i, (old, new) in enumerate(zip(genome.layers, child.layers, strict=True)):
            if old.type != new.type:
                changed.add((i, "type"))
                continue
            for f in dataclasses.fields(old):
                if getattr(old, f.name) != getattr(new, f.name):
                    changed.add((i, f.name))
    expected = {(i, f.name) for i, layer in enumerate(layers) for f in dataclasses.fields(layer)}
    expected |= {(i, "type") for i in range(len(layers))}
    assert expected <= changed, sorted(expected - changed)
    assert (len(layers) - 1, "type") in changed  # the original never touched the last layer
    assert {len(layers) - 1, len(layers) + 1} <= sizes  # deletions and insertions
    assert len(optimizers) > 1


def test_no_chance_no_change_and_force_always_changes():
    genome = Genome((CONV, DENSE), "adam")
    rng = random.Random(3)
    assert mutate(genome, rng, ALL_TYPES, 0.0) == genome
    for _ in range(200):
        assert mutate(genome, rng, ALL_TYPES, 0.0, force=True).fingerprint() != genome.fingerprint()


def test_layer_count_stays_in_the_taxonomy_range():
    taxonomy = dataclasses.replace(ALL_TYPES, min_layers=2, max_layers=3)
    rng = random.Random(4)
    genome = Genome((DENSE, DROP), "adam")
    for _ in range(300):
        genome = mutate(genome, rng, taxonomy, 0.5)
        assert 2 <= len(genome.layers) <= 3


# Validity ---------------------------------------------------------------------------------------
def test_children_are_always_valid_for_a_small_geometry():
    taxonomy = dataclasses.replace(ALL_TYPES, kernel_sizes=(1, 3, 5, 7), strides=(1, 2, 3), pool_sizes=(2, 3, 4),
                                   max_parameters=50_000)
    rng = random.Random(5)
    population = [random_genome(rng, taxonomy, SMALL, 3) for _ in range(12)]
    for genome in population:
        genome.validate(SMALL, 3, max_parameters=50_000)
    for generation in range(25):
        members = [ScoredGenome(g, rng.random() if generation % 3 else None) for g in population]
        population = next_generation(members, rng, taxonomy, SMALL, size=12, retain=0.3, random_select=0.2,
                                     mutate_chance=0.4, n_classes=3)
        assert len(population) == 12
        for genome in population:
            genome.validate(SMALL, 3, max_parameters=50_000)
            for layer in genome.layers:
                if isinstance(layer, Conv2DLayer):
                    assert layer.kernel_size[0] <= SMALL.height and layer.kernel_size[1] <= SMALL.width
    a, b = population[0], population[1]
    for _ in range(100):
        crossover_layers(a, b, rng, taxonomy, SMALL, n_classes=3).validate(SMALL, 3, max_parameters=50_000)
        mutate(a, rng, taxonomy, 1.0, SMALL, n_classes=3).validate(SMALL, 3, max_parameters=50_000)


def test_make_valid_repairs_by_the_explicit_rule_before_resampling():
    too_big = Genome((DENSE, Conv2DLayer(4, (9, 9), padding="valid")), "adam")
    fixed = make_valid(too_big, random.Random(0), ALL_TYPES, SMALL)
    # Rule: the conv moves before the first dense layer and its kernel shrinks to the 5x7 input.
    assert fixed == Genome((Conv2DLayer(4, (5, 7), padding="valid"), DENSE), "adam")
    hopeless = Genome((DenseLayer(60_000),), "adam")  # over the parameter limit: resampled
    assert make_valid(hopeless, random.Random(0), ALL_TYPES, SMALL) != hopeless


# Crossover --------------------------------------------------------------------------------------
def test_crossover_takes_count_layers_and_optimizer_from_either_parent():
    a = Genome((CONV, POOL, DENSE), "adam")
    b = Genome((Conv2DLayer(4, 5), DROP), "sgd")
    rng = random.Random(6)
    seen_counts, seen_optimizers = set(), set()
    for _ in range(200):
        child = crossover_layers(a, b, rng, ALL_TYPES)
        seen_counts.add(len(child.layers))
        seen_optimizers.add(child.optimizer)
        for i, layer in enumerate(child.layers):
            assert layer in [p.layers[i] for p in (a, b) if i < len(p.layers)]
    assert seen_counts == {2, 3} and seen_optimizers == {"adam", "sgd"}


# Selection ----------------------------------------------------------------------------------------
def test_truncation_keeps_the_best_retain_fraction():
    members = scored([0.1, 0.9, None, 0.5, 0.7, 0.3, 0.8, 0.2, 0.6, 0.4])
    rng = random.Random(7)
    kept = select_truncation(members, 0.4, 0.0, rng)
    best = [m.genome for m in sorted(members, key=lambda m: m.accuracy or -1, reverse=True)[:4]]
    assert kept == best
    everyone = select_truncation(members, 0.4, 1.0, rng)
    assert everyone[:4] == best and len(everyone) == 10
    assert everyone[-1] == members[2].genome  # the failed one ranks last


def test_elite_and_tournament_pick_the_best():
    members = scored([0.2, None, 0.95, 0.5])
    assert elite(members, 1) == [members[2].genome]
    assert elite(members, 2) == [members[2].genome, members[3].genome]
    rng = random.Random(8)
    assert select_tournament(members, k=4, n=3, rng=rng) == [members[2].genome] * 3
    winners = select_tournament(members, k=2, n=50, rng=rng)
    assert members[1].genome not in winners  # a failed one never beats anyone


def test_next_generation_keeps_the_elite_unchanged_and_keeps_mutated_parents():
    members = scored([0.3, 0.9, 0.5, 0.7])
    rng = random.Random(9)
    nxt = next_generation(members, rng, ALL_TYPES, Geometry(28, 28), size=4, retain=1.0, random_select=0.0,
                          mutate_chance=1.0)
    assert nxt[0] == members[1].genome  # elitism: the best survives as it is
    # The other kept parents were mutated and their mutations kept (the original dropped them).
    others = {m.genome.fingerprint() for m in members if m is not members[1]}
    assert all(g.fingerprint() not in others for g in nxt[1:])


@pytest.mark.timeout(20)
@pytest.mark.parametrize("accuracies,retain,random_select", [
    ([0.5], 0.4, 0.1),  # one parent
    ([0.5, 0.6, 0.7], 0.0, 0.0),  # no parents at all
    ([None, None], 0.4, 0.0),  # everything failed: still one parent
    ([], 0.4, 0.1),  # nothing to breed from
])
def test_breeding_with_fewer_than_two_parents_terminates(accuracies, retain, random_select):
    rng = random.Random(10)
    nxt = next_generation(scored(accuracies), rng, ALL_TYPES, SMALL, size=6, retain=retain,
                          random_select=random_select, mutate_chance=0.2)
    assert len(nxt) == 6
    assert len({g.fingerprint() for g in nxt}) == 6  # repeats are mutated away
    for genome in nxt:
        genome.validate(SMALL, 2)


def test_operators_are_deterministic_for_a_seed():
    def run(seed: int) -> list[str]:
        rng = random.Random(seed)
        population = [random_genome(rng, ALL_TYPES, SMALL) for _ in range(6)]
        for _ in range(5):
            members = [ScoredGenome(g, rng.random()) for g in population]
            population = next_generation(members, rng, ALL_TYPES, SMALL, size=6)
        return [g.fingerprint() for g in population]

    assert run(11) == run(11)
    assert run(11) != run(12)


# Taxonomy ---------------------------------------------------------------------------------------
def test_taxonomy_from_config_and_its_checks():
    taxonomy = Taxonomy.from_config(TaxonomyConfig(min_neurons=4, max_neurons=8, layer_types=("normal", "conv2d"),
                                                   activation=("relu",), optimizer=("adam",)))
    assert taxonomy.layer_types == ("dense", "conv2d")  # the original's "normal" is dense
    assert (taxonomy.min_neurons, taxonomy.max_neurons, taxonomy.optimizers) == (4, 8, ("adam",))
    assert Taxonomy.from_dict(taxonomy.to_dict()) == taxonomy
    with pytest.raises(ValueError, match="unknown layer type"):
        Taxonomy(layer_types=("lstm",))
    with pytest.raises(ValueError, match="neurons"):
        Taxonomy(min_neurons=10, max_neurons=5)
    rng = random.Random(12)
    for _ in range(50):
        genome = random_genome(rng, taxonomy, SMALL)
        assert all(la.type in ("dense", "conv2d") for la in genome.layers)
        assert all(4 <= la.size <= 8 for la in genome.layers if isinstance(la, DenseLayer))


def test_tournament_selection_breeds_valid_generations_and_keeps_the_elite():
    members = scored([0.3, 0.9, 0.5, 0.7, None, 0.1])
    rng = random.Random(13)
    nxt = next_generation(members, rng, ALL_TYPES, Geometry(28, 28), size=6, selection="tournament",
                          tournament_size=3)
    assert nxt[0] == members[1].genome and len(nxt) == 6
    for genome in nxt:
        genome.validate(Geometry(28, 28), 2)
    with pytest.raises(ValueError, match="selection"):
        next_generation(members, rng, ALL_TYPES, SMALL, size=6, selection="roulette")
