"""GA operators with seeded RNGs: every field mutates, children are valid, selection keeps the best."""

from __future__ import annotations

import dataclasses
import random

import pytest

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
from dicebox.images import Geometry
from dicebox.nets.genome import (
    Augmentation,
    Conv2DLayer,
    DenseLayer,
    DropoutLayer,
    Genome,
    MaxPool2DLayer,
    ScoredGenome,
)

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


# Training genes ---------------------------------------------------------------------------------
def test_every_training_gene_mutates_one_notch_within_the_taxonomy():
    genome = Genome((CONV, POOL, DENSE), "adam")  # no genes: the optimizer's rate, the training's batch size
    adam_only = dataclasses.replace(ALL_TYPES, optimizers=("adam",))
    rng = random.Random(21)
    heads, rates, sizes, kinds, batch_norms = set(), set(), set(), set(), set()
    for _ in range(400):
        child = mutate(genome, rng, adam_only, 0.3)
        heads.add(child.head)
        rates.add(child.learning_rate)
        sizes.add(child.batch_size)
        kinds.update(k for k, v in child.augmentation.to_dict().items() if v)
        batch_norms.update(la.batch_norm for la in child.layers if isinstance(la, Conv2DLayer))
        assert child.augmentation.to_dict().keys() <= set(ALL_TYPES.augmentations)
        assert set(child.augmentation.to_dict().values()) <= {0.05, 0.1, 0.2}
    assert heads == {"flatten", "global_average"}
    # One log step from adam's 0.001 and from 64 (or unchanged): never a jump across the grid.
    assert rates == {None, 0.0003, 0.003} and sizes == {None, 32, 128}
    assert kinds == {"translation", "rotation", "zoom", "contrast"}  # never a flip by default
    assert batch_norms == {False, True}


def test_a_taxonomy_without_the_genes_never_uses_them():
    off = dataclasses.replace(ALL_TYPES, batch_norm=False, heads=("flatten",), learning_rates=(), batch_sizes=(),
                              augmentations=())
    rng = random.Random(22)
    population = [random_genome(rng, off, Geometry(28, 28)) for _ in range(20)]
    for _ in range(200):
        a, b = rng.sample(population, 2)
        child = mutate(crossover_layers(a, b, rng, off), rng, off, 0.5)
        population.append(child)
    for genome in population:
        assert genome.genes() == {} and not any(getattr(la, "batch_norm", False) for la in genome.layers)


def test_flips_only_when_the_taxonomy_lists_them_and_random_genomes_cover_the_genes():
    flips = dataclasses.replace(ALL_TYPES, augmentations=("horizontal_flip",))
    rng = random.Random(23)
    drawn = [random_genome(rng, flips, Geometry(28, 28)) for _ in range(60)]
    assert {g.augmentation.horizontal_flip for g in drawn} == {False, True}
    assert not any(g.augmentation.vertical_flip or g.augmentation.translation for g in drawn)
    assert {g.head for g in drawn} == {"flatten", "global_average"}
    assert {g.learning_rate for g in drawn} == set(ALL_TYPES.learning_rates)
    assert {g.batch_size for g in drawn} == set(ALL_TYPES.batch_sizes)


def test_crossover_takes_each_gene_from_either_parent():
    a = Genome((CONV, DENSE), "adam", head="global_average", learning_rate=0.01, batch_size=32,
               augmentation=Augmentation(translation=0.1, zoom=0.2))
    b = Genome((Conv2DLayer(8, batch_norm=True), DENSE), "adam", learning_rate=0.0001,
               augmentation=Augmentation(rotation=0.05))
    rng = random.Random(24)
    seen = set()
    for _ in range(200):
        child = crossover_layers(a, b, rng, ALL_TYPES)
        seen.add((child.head, child.learning_rate, child.batch_size, child.augmentation.translation,
                  child.augmentation.rotation))
        assert child.augmentation.zoom == child.augmentation.zoom in (0.0, 0.2)
    heads, rates, sizes, translations, rotations = (set(x) for x in zip(*seen, strict=True))
    assert heads == {"flatten", "global_average"} and rates == {0.01, 0.0001} and sizes == {32, None}
    assert translations == {0.1, 0.0} and rotations == {0.05, 0.0}


def test_a_taxonomy_saved_before_the_genes_existed_resumes_without_them():
    saved = {k: v for k, v in ALL_TYPES.to_dict().items()
             if k not in ("batch_norm", "heads", "learning_rates", "batch_sizes", "augmentations",
                          "augmentation_levels")}
    old = Taxonomy.from_dict(saved)
    assert (old.batch_norm, old.heads, old.learning_rates, old.batch_sizes, old.augmentations) == (
        False, ("flatten",), (), (), ())
    assert Taxonomy.from_dict(ALL_TYPES.to_dict()) == ALL_TYPES


def test_taxonomy_gene_keys_from_the_configuration_and_their_checks():
    config = TaxonomyConfig(batch_norm=False, heads=("global_max",), learning_rates=(0.01, 0.001),
                            batch_sizes=(16,), augmentations=("zoom", "vertical_flip"), augmentation_levels=(0.3,))
    taxonomy = Taxonomy.from_config(config)
    assert taxonomy.learning_rates == (0.001, 0.01)  # sorted: mutation steps along the grid
    assert (taxonomy.heads, taxonomy.batch_sizes, taxonomy.augmentations) == (
        ("global_max",), (16,), ("zoom", "vertical_flip"))
    for bad, message in (
        ({"heads": ("pyramid",)}, "unknown head"),
        ({"learning_rates": (0.0,)}, "learning_rates"),
        ({"batch_sizes": (0,)}, "batch_sizes"),
        ({"augmentations": ("shear",)}, "unknown augmentation"),
        ({"augmentation_levels": (1.5,)}, "augmentation_levels"),
    ):
        with pytest.raises(ValueError, match=message):
            dataclasses.replace(ALL_TYPES, **bad)


def test_the_one_line_summary_in_events_names_the_genes_that_are_set():
    from dicebox.evolution.events import genome_summary

    plain = genome_summary(Genome((CONV, DENSE), "adam"))
    assert plain == "adam: conv2d(8,3x3,s1,same,relu) > dense(16,relu)"
    rich = Genome((Conv2DLayer(8, batch_norm=True), DENSE), "adam", head="global_average", learning_rate=0.003,
                  batch_size=32, augmentation=Augmentation(translation=0.1, horizontal_flip=True))
    assert genome_summary(rich) == (
        "adam: conv2d(8,3x3,s1,same,relu,bn) > dense(16,relu)"
        " | global_average, lr 0.003, batch 32, aug translation 0.1 horizontal_flip"
    )
