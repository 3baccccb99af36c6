"""Genetic operators: small pure functions over immutable genomes with an injected ``random.Random``.

Nothing here touches Keras or the file system; the same RNG state always gives the same result.
Scores are :class:`~dicebox.genome.ScoredGenome` (accuracy None = failed, ranked last).

Given a ``geometry``, every genome returned is valid for it (:func:`make_valid`: the genome itself,
else :meth:`Genome.repaired`, else a fresh random genome). This fixes the original's defects:
mutations of kept parents are kept, the last layer mutates like every other, breeding with fewer
than two parents falls back to mutation or random genomes, and conv2d kernels never exceed their
input.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence
from typing import TYPE_CHECKING

from dicebox.evolution.taxonomy import Taxonomy
from dicebox.genome import (
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
    from dicebox.camera.preprocess import Geometry

__all__ = [
    "Taxonomy",
    "crossover_layers",
    "elite",
    "make_valid",
    "mutate",
    "next_generation",
    "random_genome",
    "random_layer",
    "rank",
    "select_tournament",
    "select_truncation",
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


def random_genome(rng: random.Random, taxonomy: Taxonomy, geometry: Geometry, n_classes: int = 2) -> Genome:
    """A random genome within ``taxonomy`` that is valid for ``geometry``.

    Layers are drawn freely and then put in a buildable order by :meth:`Genome.repaired`; a
    genome still invalid (too many parameters) is drawn again.
    """
    for _ in range(_RANDOM_TRIES):
        count = rng.randint(taxonomy.min_layers, taxonomy.max_layers)
        layers = tuple(random_layer(rng, taxonomy) for _ in range(count))
        genome = Genome(layers, rng.choice(taxonomy.optimizers)).repaired(geometry)
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
    genome = Genome((layer,) * taxonomy.min_layers, taxonomy.optimizers[0]).repaired(geometry)
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
    """A child whose layer count, every layer and optimizer each come from either parent."""
    count = rng.choice((len(a.layers), len(b.layers)))
    layers = []
    for i in range(count):
        options = [p.layers[i] for p in (a, b) if i < len(p.layers)]
        layers.append(rng.choice(options))
    child = Genome(tuple(layers), rng.choice((a.optimizer, b.optimizer)))
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
    else:  # pragma: no cover - every layer field is listed above
        raise ValueError(f"no mutation for field {name!r}")
    return dataclasses.replace(layer, **{name: value})


def _fields(layer: Layer) -> list[str]:
    return [f.name for f in dataclasses.fields(layer)]


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
    """Each field of each layer (the last one too), each layer's type, the layer count and the
    optimizer change independently with probability ``chance``.

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
    if force and child.fingerprint() == genome.fingerprint():
        child = _mutate_one_site(genome, rng, taxonomy)
    return child if geometry is None else make_valid(child, rng, taxonomy, geometry, n_classes)


def _mutate_one_site(genome: Genome, rng: random.Random, taxonomy: Taxonomy) -> Genome:
    sites: list[tuple[int, str]] = [(i, name) for i, layer in enumerate(genome.layers) for name in _fields(layer)]
    sites += [(i, "type") for i in range(len(genome.layers))]
    sites += [(-1, "count"), (-1, "optimizer")]
    for _ in range(len(sites)):
        index, name = rng.choice(sites)
        layers = list(genome.layers)
        optimizer = genome.optimizer
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
def next_generation(
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
    selection: str = "truncation",
    tournament_size: int = 3,
) -> list[Genome]:
    """The original GA with its defects fixed: elites unchanged, other kept parents mutated (and
    kept), the rest children of two distinct parents, or mutants/random genomes when fewer than
    two parents survive. Children that repeat a genome already in the new generation get another
    forced mutation (a repeat would only be a cache hit). Always exactly ``size`` valid genomes.

    ``selection`` "truncation" is the original's; "tournament" picks the ``retain`` share of
    parents by tournaments of ``tournament_size`` instead (``random_select`` is then unused).
    """
    if size < 1:
        return []
    best = elite(scored, min(elites, size))
    if selection == "tournament":
        wanted = max(1, int(len(scored) * retain)) if retain > 0 else 0
        winners = select_tournament(scored, tournament_size, wanted, rng)
        parents = list({g.fingerprint(): g for g in winners}.values())
    elif selection == "truncation":
        parents = select_truncation(scored, retain, random_select, rng)
    else:
        raise ValueError(f"unknown selection {selection!r} (truncation or tournament)")
    chosen: list[Genome] = [make_valid(g, rng, taxonomy, geometry, n_classes) for g in best]
    best_prints = {g.fingerprint() for g in best}
    for parent in parents:
        if len(chosen) >= size:
            break
        if parent.fingerprint() in best_prints:
            continue
        chosen.append(mutate(parent, rng, taxonomy, mutate_chance, geometry, n_classes=n_classes))
    seen = {g.fingerprint() for g in chosen}
    while len(chosen) < size:
        child = _child(parents, rng, taxonomy, geometry, mutate_chance, n_classes)
        for _ in range(5):
            if child.fingerprint() not in seen:
                break
            child = mutate(child, rng, taxonomy, mutate_chance, geometry, n_classes=n_classes, force=True)
        seen.add(child.fingerprint())
        chosen.append(child)
    return chosen[:size]


def _child(
    parents: Sequence[Genome],
    rng: random.Random,
    taxonomy: Taxonomy,
    geometry: Geometry,
    chance: float,
    n_classes: int,
) -> Genome:
    if len(parents) >= 2:
        a, b = rng.sample(list(parents), 2)
        child = crossover_layers(a, b, rng, taxonomy, geometry, n_classes=n_classes)
        return mutate(child, rng, taxonomy, chance, geometry, n_classes=n_classes)
    if len(parents) == 1:
        return mutate(parents[0], rng, taxonomy, chance, geometry, n_classes=n_classes, force=True)
    return random_genome(rng, taxonomy, geometry, n_classes)
