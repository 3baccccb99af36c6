"""Genetic operators: small pure functions over immutable genomes with an injected ``random.Random``.

Nothing here touches Keras or the file system; the same RNG state always gives the same result.
Scores are :class:`~dicebox.nets.genome.ScoredGenome` (accuracy None = failed, ranked last).

Given a ``geometry``, every genome returned is valid for it (:func:`make_valid`: the genome itself,
else :meth:`Genome.repaired`, else a fresh random genome). This fixes the original's defects:
mutations of kept parents are kept, the last layer mutates like every other, breeding with fewer
than two parents falls back to mutation or random genomes, and conv2d kernels never exceed their
input.
"""

from __future__ import annotations

import dataclasses
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dicebox.evolution.taxonomy import Taxonomy
from dicebox.nets.genome import (
    DEFAULT_LEARNING_RATES,
    Augmentation,
    Conv2DLayer,
    DenseLayer,
    DropoutLayer,
    Genome,
    GenomeError,
    Layer,
    MaxPool2DLayer,
    ScoredGenome,
)

if TYPE_CHECKING:
    from dicebox.images import Geometry

__all__ = [
    "CHANCE_MARGIN",
    "Offspring",
    "Taxonomy",
    "breed",
    "chance_level",
    "crossover_layers",
    "elite",
    "make_valid",
    "mutate",
    "next_generation",
    "random_genes",
    "random_genome",
    "random_layer",
    "rank",
    "select_tournament",
    "select_truncation",
    "variations",
]

_RANDOM_TRIES = 200


# Ranking and selection --------------------------------------------------------------------------
def _score(member: ScoredGenome) -> float:
    return -1.0 if member.accuracy is None else member.accuracy


def rank(scored: Sequence[ScoredGenome]) -> list[ScoredGenome]:
    """Best first; failed (None) last; ties keep their order, so ranking is deterministic."""
    return sorted(scored, key=_score, reverse=True)


def elite(scored: Sequence[ScoredGenome], n: int) -> list[Genome]:
    """The ``n`` best genomes, unchanged."""
    return [m.genome for m in rank(scored)[: max(0, n)]]


def select_truncation(
    scored: Sequence[ScoredGenome], retain: float, random_select: float, rng: random.Random
) -> list[Genome]:
    """The original's selection: the best ``retain`` fraction, plus each other one with ``random_select``.

    At least one genome is kept when ``retain`` > 0 and there is any.
    """
    ranked = rank(scored)
    keep = int(len(ranked) * retain)
    if retain > 0 and ranked:
        keep = max(1, keep)
    parents = [m.genome for m in ranked[:keep]]
    for member in ranked[keep:]:
        if rng.random() < random_select:
            parents.append(member.genome)
    return parents


def select_tournament(scored: Sequence[ScoredGenome], k: int, n: int, rng: random.Random) -> list[Genome]:
    """``n`` winners, each the best of ``k`` members drawn without replacement (ties: earliest)."""
    if not scored or n <= 0:
        return []
    size = max(1, min(k, len(scored)))
    winners = []
    for _ in range(n):
        drawn = sorted(rng.sample(range(len(scored)), size))
        best = max(drawn, key=lambda i: (_score(scored[i]), -i))
        winners.append(scored[best].genome)
    return winners


# Random genomes -----------------------------------------------------------------------------------
def _square(n: int) -> tuple[int, int]:
    return (n, n)


def random_layer(rng: random.Random, taxonomy: Taxonomy, kind: str | None = None) -> Layer:
    """One layer of ``kind`` (default: a random type of the taxonomy) with random fields."""
    kind = kind or rng.choice(taxonomy.layer_types)
    if kind == "dense":
        return DenseLayer(rng.randint(taxonomy.min_neurons, taxonomy.max_neurons), rng.choice(taxonomy.activations))
    if kind == "dropout":
        return DropoutLayer(_dropout_rate(rng, taxonomy))
    if kind == "conv2d":
        return Conv2DLayer(
            rng.randint(taxonomy.min_filters, taxonomy.max_filters),
            _square(rng.choice(taxonomy.kernel_sizes)),
            _square(rng.choice(taxonomy.strides)),
            rng.choice(taxonomy.paddings),
            rng.choice(taxonomy.activations),
            batch_norm=taxonomy.batch_norm and rng.random() < 0.5,
        )
    if kind == "maxpool2d":
        return MaxPool2DLayer(_square(rng.choice(taxonomy.pool_sizes)))
    raise ValueError(f"unknown layer type {kind!r}")


def _dropout_rate(rng: random.Random, taxonomy: Taxonomy) -> float:
    return round(rng.uniform(0.0, taxonomy.max_dropout), 2)


def _is_valid(genome: Genome, geometry: Geometry, n_classes: int, taxonomy: Taxonomy) -> bool:
    try:
        genome.validate(geometry, n_classes, max_parameters=taxonomy.max_parameters)
    except GenomeError:
        return False
    return True


def random_genes(rng: random.Random, taxonomy: Taxonomy) -> dict:
    """Training genes drawn uniformly from the taxonomy (defaults for genes it leaves out)."""
    a = taxonomy
    strengths = {k: rng.choice((0.0, *a.augmentation_levels)) for k in a.strengths}
    flips = {k: rng.random() < 0.5 for k in a.augmentations if k.endswith("_flip")}
    return {
        "head": rng.choice(a.heads),
        "learning_rate": rng.choice(a.learning_rates) if a.learning_rates else None,
        "batch_size": rng.choice(a.batch_sizes) if a.batch_sizes else None,
        "augmentation": Augmentation(**strengths, **flips),
    }


def random_genome(rng: random.Random, taxonomy: Taxonomy, geometry: Geometry, n_classes: int = 2) -> Genome:
    """A random genome within ``taxonomy`` that is valid for ``geometry``.

    Layers are drawn freely and then put in a buildable order by :meth:`Genome.repaired`; a
    genome still invalid (too many parameters) is drawn again.
    """
    for _ in range(_RANDOM_TRIES):
        count = rng.randint(taxonomy.min_layers, taxonomy.max_layers)
        layers = tuple(random_layer(rng, taxonomy) for _ in range(count))
        genome = Genome(layers, rng.choice(taxonomy.optimizers), **random_genes(rng, taxonomy)).repaired(geometry)
        if _is_valid(genome, geometry, n_classes, taxonomy):
            return genome
    return _smallest(taxonomy, geometry, n_classes)


def _smallest(taxonomy: Taxonomy, geometry: Geometry, n_classes: int) -> Genome:
    """The cheapest genome the taxonomy allows, for when random draws keep failing."""
    kind = "dense" if "dense" in taxonomy.layer_types else taxonomy.layer_types[0]
    layer: Layer
    if kind == "dense":
        layer = DenseLayer(taxonomy.min_neurons, taxonomy.activations[0])
    elif kind == "conv2d":
        layer = Conv2DLayer(taxonomy.min_filters, (1, 1), (max(taxonomy.strides),) * 2, "same", taxonomy.activations[0])
    elif kind == "maxpool2d":
        layer = MaxPool2DLayer(_square(max(taxonomy.pool_sizes)))
    else:
        layer = DropoutLayer(0.0)
    genome = Genome((layer,) * taxonomy.min_layers, taxonomy.optimizers[0], head=taxonomy.heads[-1]).repaired(geometry)
    if not _is_valid(genome, geometry, n_classes, taxonomy):
        raise ValueError(
            f"the taxonomy cannot make any valid network for {geometry.width}x{geometry.height} images "
            f"within {taxonomy.max_parameters:,} parameters"
        )
    return genome


def make_valid(
    genome: Genome, rng: random.Random, taxonomy: Taxonomy, geometry: Geometry, n_classes: int = 2
) -> Genome:
    """``genome`` if valid for ``geometry``; else its :meth:`~Genome.repaired` form; else a random genome."""
    if _is_valid(genome, geometry, n_classes, taxonomy):
        return genome
    fixed = genome.repaired(geometry)
    if _is_valid(fixed, geometry, n_classes, taxonomy):
        return fixed
    return random_genome(rng, taxonomy, geometry, n_classes)


# Crossover ----------------------------------------------------------------------------------------
def crossover_layers(
    a: Genome,
    b: Genome,
    rng: random.Random,
    taxonomy: Taxonomy,
    geometry: Geometry | None = None,
    *,
    n_classes: int = 2,
) -> Genome:
    """A child whose layer count, every layer, the optimizer and each training gene (each kind of
    augmentation on its own) come from either parent."""
    count = rng.choice((len(a.layers), len(b.layers)))
    layers = []
    for i in range(count):
        options = [p.layers[i] for p in (a, b) if i < len(p.layers)]
        layers.append(rng.choice(options))
    augmentation = Augmentation(
        **{f.name: getattr(rng.choice((a, b)).augmentation, f.name) for f in dataclasses.fields(Augmentation)}
    )
    child = Genome(
        tuple(layers),
        rng.choice((a.optimizer, b.optimizer)),
        head=rng.choice((a.head, b.head)),
        learning_rate=rng.choice((a.learning_rate, b.learning_rate)),
        batch_size=rng.choice((a.batch_size, b.batch_size)),
        augmentation=augmentation,
    )
    return child if geometry is None else make_valid(child, rng, taxonomy, geometry, n_classes)


# Mutation -----------------------------------------------------------------------------------------
def _other_int(rng: random.Random, low: int, high: int, current: int) -> int:
    if low >= high:
        return low
    if not low <= current <= high:
        return rng.randint(low, high)
    value = rng.randint(low, high - 1)
    return value if value < current else value + 1


def _other_choice(rng: random.Random, options: Sequence, current: object) -> object:
    others = [o for o in options if o != current]
    return rng.choice(others) if others else current


def _other_square(rng: random.Random, options: Sequence[int], current: tuple[int, int]) -> tuple[int, int]:
    others = [o for o in options if _square(o) != current]
    return _square(rng.choice(others)) if others else current


def _mutate_field(layer: Layer, name: str, rng: random.Random, taxonomy: Taxonomy) -> Layer:
    """``layer`` with field ``name`` set to a different value the taxonomy allows (when there is one)."""
    current = getattr(layer, name)
    if name == "size":
        value: object = _other_int(rng, taxonomy.min_neurons, taxonomy.max_neurons, current)
    elif name == "filters":
        value = _other_int(rng, taxonomy.min_filters, taxonomy.max_filters, current)
    elif name == "activation":
        value = _other_choice(rng, taxonomy.activations, current)
    elif name == "rate":
        value = _dropout_rate(rng, taxonomy)
        if value == current:
            value = 0.0 if current else round(taxonomy.max_dropout / 2, 2)
    elif name == "kernel_size":
        value = _other_square(rng, taxonomy.kernel_sizes, current)
    elif name == "strides":
        value = _other_square(rng, taxonomy.strides, current)
    elif name == "padding":
        value = _other_choice(rng, taxonomy.paddings, current)
    elif name == "pool_size":
        value = _other_square(rng, taxonomy.pool_sizes, current)
    elif name == "batch_norm":
        value = not current if taxonomy.batch_norm or current else current
    else:  # pragma: no cover - every layer field is listed above
        raise ValueError(f"no mutation for field {name!r}")
    return dataclasses.replace(layer, **{name: value})


def _fields(layer: Layer) -> list[str]:
    return [f.name for f in dataclasses.fields(layer)]


#: The [TRAINING] batch size a genome without the gene trains with (the configuration's default).
_USUAL_BATCH_SIZE = 64


def _neighbour(rng: random.Random, grid: Sequence[float], current: float | None, usual: float) -> float | None:
    """A value next to ``current`` (``usual`` when None) on the sorted log-spaced ``grid``: one
    step up or down, so a mutation changes a rate or size by one notch, never by 100x."""
    if not grid:
        return current
    here = usual if current is None else current
    nearest = min(range(len(grid)), key=lambda i: abs(math.log(grid[i]) - math.log(here)))
    options = [grid[i] for i in (nearest - 1, nearest, nearest + 1) if 0 <= i < len(grid) and grid[i] != here]
    return rng.choice(options) if options else current


def _mutate_augmentation(augmentation: Augmentation, rng: random.Random, taxonomy: Taxonomy) -> Augmentation:
    """One kind of augmentation the taxonomy allows changed: a flip toggled, a strength moved to
    another level (0 = off)."""
    kinds = list(taxonomy.augmentations)
    if not kinds:
        return augmentation
    kind = rng.choice(kinds)
    current = getattr(augmentation, kind)
    if kind.endswith("_flip"):
        return dataclasses.replace(augmentation, **{kind: not current})
    value = _other_choice(rng, (0.0, *taxonomy.augmentation_levels), current)
    return dataclasses.replace(augmentation, **{kind: value})


def _mutate_gene(genome: Genome, name: str, rng: random.Random, taxonomy: Taxonomy) -> Genome:
    """``genome`` with training gene ``name`` changed as the taxonomy allows (unchanged when it cannot)."""
    if name == "head":
        return dataclasses.replace(genome, head=str(_other_choice(rng, taxonomy.heads, genome.head)))
    if name == "learning_rate":
        usual = DEFAULT_LEARNING_RATES[genome.optimizer]
        return dataclasses.replace(
            genome, learning_rate=_neighbour(rng, taxonomy.learning_rates, genome.learning_rate, usual)
        )
    if name == "batch_size":
        size = _neighbour(rng, taxonomy.batch_sizes, genome.batch_size, _USUAL_BATCH_SIZE)
        return dataclasses.replace(genome, batch_size=None if size is None else int(size))
    if name == "augmentation":
        return dataclasses.replace(genome, augmentation=_mutate_augmentation(genome.augmentation, rng, taxonomy))
    raise ValueError(f"no mutation for gene {name!r}")  # pragma: no cover - GENES lists them all


#: The training genes, mutated like layer fields.
GENES = ("head", "learning_rate", "batch_size", "augmentation")


def _retype(layer: Layer, rng: random.Random, taxonomy: Taxonomy) -> Layer:
    kinds = [k for k in taxonomy.layer_types if k != layer.type]
    return random_layer(rng, taxonomy, rng.choice(kinds)) if kinds else layer


def _resize(layers: list[Layer], rng: random.Random, taxonomy: Taxonomy) -> list[Layer]:
    """Insert a random layer or delete one (at a random position), as the layer count range allows."""
    moves = []
    if len(layers) < taxonomy.max_layers:
        moves.append("insert")
    if len(layers) > taxonomy.min_layers:
        moves.append("delete")
    if not moves:
        return layers
    if rng.choice(moves) == "insert":
        at = rng.randint(0, len(layers))
        return [*layers[:at], random_layer(rng, taxonomy), *layers[at:]]
    at = rng.randrange(len(layers))
    return layers[:at] + layers[at + 1 :]


def mutate(
    genome: Genome,
    rng: random.Random,
    taxonomy: Taxonomy,
    chance: float,
    geometry: Geometry | None = None,
    *,
    n_classes: int = 2,
    force: bool = False,
) -> Genome:
    """Each field of each layer (the last one too), each layer's type, the layer count, the
    optimizer and each training gene change independently with probability ``chance``.

    ``force`` makes at least one change (one random site) when chance alone made none: the
    fallback when there is a single parent to breed from.
    """
    layers = []
    for layer in genome.layers:
        if rng.random() < chance:
            layer = _retype(layer, rng, taxonomy)
        else:
            for name in _fields(layer):
                if rng.random() < chance:
                    layer = _mutate_field(layer, name, rng, taxonomy)
        layers.append(layer)
    if rng.random() < chance:
        layers = _resize(layers, rng, taxonomy)
    optimizer = genome.optimizer
    if rng.random() < chance:
        optimizer = str(_other_choice(rng, taxonomy.optimizers, optimizer))
    child = dataclasses.replace(genome, layers=tuple(layers), optimizer=optimizer)
    for name in GENES:
        if rng.random() < chance:
            child = _mutate_gene(child, name, rng, taxonomy)
    if force and child.fingerprint() == genome.fingerprint():
        child = _mutate_one_site(genome, rng, taxonomy)
    return child if geometry is None else make_valid(child, rng, taxonomy, geometry, n_classes)


def _mutate_one_site(genome: Genome, rng: random.Random, taxonomy: Taxonomy) -> Genome:
    sites: list[tuple[int, str]] = [(i, name) for i, layer in enumerate(genome.layers) for name in _fields(layer)]
    sites += [(i, "type") for i in range(len(genome.layers))]
    sites += [(-1, "count"), (-1, "optimizer")] + [(-1, gene) for gene in GENES]
    for _ in range(len(sites)):
        index, name = rng.choice(sites)
        layers = list(genome.layers)
        optimizer = genome.optimizer
        if name in GENES:
            child = _mutate_gene(genome, name, rng, taxonomy)
        else:
            if name == "count":
                layers = _resize(layers, rng, taxonomy)
            elif name == "optimizer":
                optimizer = str(_other_choice(rng, taxonomy.optimizers, optimizer))
            elif name == "type":
                layers[index] = _retype(layers[index], rng, taxonomy)
            else:
                layers[index] = _mutate_field(layers[index], name, rng, taxonomy)
            child = dataclasses.replace(genome, layers=tuple(layers), optimizer=optimizer)
        if child.fingerprint() != genome.fingerprint():
            return child
    return genome


# One generation -----------------------------------------------------------------------------------
#: A parent must beat chance (1 / classes) by this much: a chance-level network carries no signal.
CHANCE_MARGIN = 0.05


@dataclass(frozen=True)
class Offspring:
    """A genome of the next generation and where it came from (``parents`` are fingerprints)."""

    genome: Genome
    origin: str  # "elite" (kept unchanged), "mutant", "child" (crossover), "variation" or "random"
    parents: tuple[str, ...] = ()


def chance_level(n_classes: int) -> float:
    """The accuracy at or below which a network is never bred from (or kept as an elite)."""
    return 1.0 / max(2, n_classes) + CHANCE_MARGIN


def next_generation(scored: Sequence[ScoredGenome], *args, **kwargs) -> list[Genome]:
    """The genomes of :func:`breed` (same arguments)."""
    return [o.genome for o in breed(scored, *args, **kwargs)]


def breed(
    scored: Sequence[ScoredGenome],
    rng: random.Random,
    taxonomy: Taxonomy,
    geometry: Geometry,
    *,
    size: int,
    retain: float = 0.4,
    random_select: float = 0.1,
    mutate_chance: float = 0.2,
    elites: int = 1,
    n_classes: int = 2,
    selection: str = "tournament",
    tournament_size: int = 3,
) -> list[Offspring]:
    """The next generation of the living ``scored`` (the current generation; older ones have died).

    The ``elites`` best survive unchanged; the rest are children of two parents (crossover then
    mutation) or mutants of one. Parents are the ``retain`` share picked by tournaments of
    ``tournament_size`` (or the original's truncation plus ``random_select``), but only among
    networks that beat :func:`chance_level`: a failed or chance-level network is never a parent
    nor an elite. With no such network the generation is filled with random genomes. Children
    repeating a genome already chosen get another forced mutation (a repeat would only be a cache
    hit). Always exactly ``size`` valid genomes.
    """
    if size < 1:
        return []
    floor = chance_level(n_classes)
    useful = [m for m in scored if m.accuracy is not None and m.accuracy > floor]
    best = elite(useful, min(elites, size))
    if selection == "tournament":
        wanted = max(1, int(len(scored) * retain)) if retain > 0 else 0
        winners = select_tournament(useful, tournament_size, wanted, rng)
        parents = list({g.fingerprint(): g for g in winners}.values())
    elif selection == "truncation":
        parents = select_truncation(useful, retain, random_select, rng)
    else:
        raise ValueError(f"unknown selection {selection!r} (truncation or tournament)")
    chosen: list[Offspring] = [
        Offspring(make_valid(g, rng, taxonomy, geometry, n_classes), "elite", (g.fingerprint(),)) for g in best
    ]
    best_prints = {g.fingerprint() for g in best}
    for parent in parents:
        if len(chosen) >= size:
            break
        if parent.fingerprint() in best_prints:
            continue
        child = mutate(parent, rng, taxonomy, mutate_chance, geometry, n_classes=n_classes)
        chosen.append(Offspring(child, "mutant", (parent.fingerprint(),)))
    # Elites are bred from too: with few useful parents, the best must not be left out.
    pool = list({g.fingerprint(): g for g in [*parents, *best]}.values())
    seen = {o.genome.fingerprint() for o in chosen}
    while len(chosen) < size:
        offspring = _child(pool, rng, taxonomy, geometry, mutate_chance, n_classes)
        child = offspring.genome
        for _ in range(5):
            if child.fingerprint() not in seen:
                break
            child = mutate(child, rng, taxonomy, mutate_chance, geometry, n_classes=n_classes, force=True)
        seen.add(child.fingerprint())
        chosen.append(dataclasses.replace(offspring, genome=child))
    return chosen[:size]


def variations(
    seeds: Sequence[Genome],
    rng: random.Random,
    taxonomy: Taxonomy,
    geometry: Geometry,
    *,
    size: int,
    mutate_chance: float = 0.2,
    n_classes: int = 2,
) -> list[Offspring]:
    """``size`` distinct mutants of ``seeds`` (in turn), none repeating a seed: a first generation
    that starts from known networks and explores around them."""
    seen = {g.fingerprint() for g in seeds}
    out: list[Offspring] = []
    for i in range(size):
        parent = seeds[i % len(seeds)]
        child = mutate(parent, rng, taxonomy, mutate_chance, geometry, n_classes=n_classes, force=True)
        for _ in range(5):
            if child.fingerprint() not in seen:
                break
            child = mutate(child, rng, taxonomy, mutate_chance, geometry, n_classes=n_classes, force=True)
        seen.add(child.fingerprint())
        out.append(Offspring(child, "variation", (parent.fingerprint(),)))
    return out


def _child(
    parents: Sequence[Genome],
    rng: random.Random,
    taxonomy: Taxonomy,
    geometry: Geometry,
    chance: float,
    n_classes: int,
) -> Offspring:
    if len(parents) >= 2:
        a, b = rng.sample(list(parents), 2)
        child = crossover_layers(a, b, rng, taxonomy, geometry, n_classes=n_classes)
        child = mutate(child, rng, taxonomy, chance, geometry, n_classes=n_classes)
        return Offspring(child, "child", (a.fingerprint(), b.fingerprint()))
    if len(parents) == 1:
        child = mutate(parents[0], rng, taxonomy, chance, geometry, n_classes=n_classes, force=True)
        return Offspring(child, "mutant", (parents[0].fingerprint(),))
    return Offspring(random_genome(rng, taxonomy, geometry, n_classes), "random")
