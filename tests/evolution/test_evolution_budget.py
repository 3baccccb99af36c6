"""Evolution that earns its place: seeded first generation, safe selection, budgets, the final retraining."""

from __future__ import annotations

import random

from evolution_fakes import pure_fitness, tiny_images

from dicebox.config import TaxonomyConfig
from dicebox.evolution.dataset import DataSpec
from dicebox.evolution.evaluators import InlineEvaluator
from dicebox.evolution.operators import breed, random_genome
from dicebox.evolution.search import Evolution, SearchSettings
from dicebox.evolution.taxonomy import Taxonomy
from dicebox.evolution.training_orders import TrainSpec
from dicebox.images import Geometry
from dicebox.nets.genome import Conv2DLayer, DenseLayer, Genome, MaxPool2DLayer, ScoredGenome, default_genome

TAXONOMY = Taxonomy(min_neurons=4, max_neurons=64, max_layers=4, max_filters=16)
SETTINGS = SearchSettings(generations=3, population=6, train=TrainSpec(epochs=1, fitness="fake"))


def new_search(settings=SETTINGS, fitness=pure_fitness, seed=7, taxonomy=TAXONOMY, **kwargs) -> Evolution:
    data = tiny_images()
    return Evolution(
        settings,
        DataSpec.of(data, "tiny_20x16"),
        InlineEvaluator(data, fitness),
        taxonomy=taxonomy,
        seed=seed,
        run_id="run",
        **kwargs,
    )


# 1. Start from what is known --------------------------------------------------------------------
def test_the_default_search_space_can_express_the_default_network():
    taxonomy = Taxonomy.from_config(TaxonomyConfig())
    genome = default_genome()
    assert {layer.type for layer in genome.layers} <= set(taxonomy.layer_types)
    assert taxonomy.min_layers <= len(genome.layers) <= taxonomy.max_layers
    assert genome.optimizer in taxonomy.optimizers
    for layer in genome.layers:
        if isinstance(layer, DenseLayer):
            assert taxonomy.min_neurons <= layer.size <= taxonomy.max_neurons
            assert layer.activation in taxonomy.activations
        elif isinstance(layer, Conv2DLayer):
            assert taxonomy.min_filters <= layer.filters <= taxonomy.max_filters
            assert layer.kernel_size[0] in taxonomy.kernel_sizes and layer.activation in taxonomy.activations
        elif isinstance(layer, MaxPool2DLayer):
            assert layer.pool_size[0] in taxonomy.pool_sizes
        else:
            assert layer.rate <= taxonomy.max_dropout


def test_generation_one_holds_the_operators_genomes_and_the_default_network_then_their_variations():
    mine = Genome((DenseLayer(32, "relu"),), "adam")
    search = new_search(initial=[mine])
    population = search.population
    assert population[0] == mine and population[1] == default_genome()
    seeds = {mine.fingerprint(), default_genome().fingerprint()}
    lineage = search.lineage
    assert [entry["origin"] for entry in lineage[:2]] == ["seeded", "default"]
    for genome, entry in zip(population[2:], lineage[2:], strict=True):
        assert genome.fingerprint() not in seeds  # a variation, not a copy
        assert entry["origin"] == "variation" and set(entry["parents"]) <= seeds and entry["parents"]
    assert len({g.fingerprint() for g in population}) == len(population) == 6


def test_random_search_still_starts_from_random_networks():
    search = new_search(SearchSettings(strategy="random", generations=2, population=4, train=SETTINGS.train))
    assert default_genome() not in search.population
    assert {entry["origin"] for entry in search.lineage} == {"random"}


def _scored(accuracies: list[float | None]) -> list[ScoredGenome]:
    rng = random.Random(0)
    geometry = Geometry(28, 28)
    return [ScoredGenome(random_genome(rng, TAXONOMY, geometry), a) for a in accuracies]


def test_the_best_few_survive_unchanged_and_chance_level_networks_are_never_parents():
    # Two classes: 0.5 is chance; 0.52 is within the margin of it.
    members = _scored([0.9, 0.5, 0.52, 0.8, None, 0.75, 0.3, 0.7])
    offspring = breed(members, random.Random(3), TAXONOMY, Geometry(28, 28), size=8, elites=2, n_classes=2)
    assert [o.genome for o in offspring[:2]] == [members[0].genome, members[3].genome]
    assert [o.origin for o in offspring[:2]] == ["elite", "elite"]
    hopeless = {m.genome.fingerprint() for m in members if m.accuracy is None or m.accuracy <= 0.55}
    assert all(not hopeless & set(o.parents) for o in offspring)
    assert all(o.parents for o in offspring)  # every child comes from a living, useful parent


def test_a_generation_of_chance_level_networks_breeds_fresh_random_ones():
    members = _scored([0.1, 0.11, None, 0.1])  # ten classes: 0.1 is chance
    offspring = breed(members, random.Random(4), TAXONOMY, Geometry(28, 28), size=4, n_classes=10)
    assert [o.origin for o in offspring] == ["random"] * 4 and not any(o.parents for o in offspring)


# 2. Time budget, 3. the final retraining on a test split the search never sees --------------------
class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class ClockedFitness:
    """``pure_fitness`` that takes one second of a fake clock and records what each call was given."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.calls: list[dict] = []

    def __call__(self, genome, data, spec, cancel=None):
        self.calls.append({"start": self.clock.now, "spec": spec, "images": {bytes(x) for x in data.images}})
        self.clock.now += 1.0
        return pure_fitness(genome, data, spec, cancel)


def budget_run(strategy: str = "evolve"):
    from dicebox.evolution.events import ChampionRetrained, IndividualTrained, RunFinished

    clock = Clock()
    fitness = ClockedFitness(clock)
    train = TrainSpec(epochs=1, fitness="fake", test_share=0.25)
    settings = SearchSettings(
        strategy=strategy, generations=100, population=4, time_budget=10.0, final_share=0.3, train=train
    )
    search = new_search(settings, fitness, clock=clock)
    events = list(search.run())
    assert isinstance(events[-1], RunFinished) and events[-1].status == "finished"
    trained = [e for e in events if isinstance(e, IndividualTrained)]
    retrained = [e for e in events if isinstance(e, ChampionRetrained)]
    return search, fitness, trained, retrained, events


def test_no_training_starts_once_the_budget_is_spent_and_the_final_retraining_counts_inside_it():
    search, fitness, trained, retrained, events = budget_run()
    searched = [c for c in fitness.calls if not c["spec"].final]
    final = [c for c in fitness.calls if c["spec"].final]
    assert all(c["start"] < 7.0 for c in searched) and len(searched) == 7  # 10 s less the 30 % kept for the final
    assert len(final) == 1 and final[0]["start"] < 10.0
    assert final[0]["spec"].time_limit is not None and final[0]["start"] + final[0]["spec"].time_limit <= 10.0
    assert final[0]["spec"].epochs > search.settings.train.epochs  # full fidelity, its own early stopping
    assert len(retrained) == 1 and retrained[0].accuracy is not None
    assert trained[-1].budget_seconds == 10.0 and 0 < trained[-1].budget_used <= 10.0
    assert events[-1].champion_test_accuracy == retrained[0].accuracy
    assert events[0].time_budget == 10.0


def test_random_search_gets_the_same_budget_in_the_same_units():
    _, evolved, *_ = budget_run("evolve")
    _, randomly, *_ = budget_run("random")
    assert [c["start"] for c in randomly.calls] == [c["start"] for c in evolved.calls]
    assert [c["spec"].final for c in randomly.calls] == [c["spec"].final for c in evolved.calls]


def test_the_test_split_is_fixed_at_the_start_and_never_seen_by_the_search():
    from dicebox.evolution.dataset import split_test

    search, fitness, *_ = budget_run()
    _, test = split_test(tiny_images(), 0.25, search.settings.train.seed)
    held_out = {bytes(x) for x in test.images}
    assert len(held_out) == 2  # one image of each class
    for call in fitness.calls:
        if call["spec"].final:
            assert held_out <= call["images"]  # the final retraining scores on it
        else:
            assert not held_out & call["images"]


def test_the_champion_event_says_where_it_came_from():
    from dicebox.evolution.events import ChampionChanged

    search = new_search()
    events = list(search.run())
    changes = [e for e in events if isinstance(e, ChampionChanged)]
    assert changes
    for change in changes:
        assert change.origin in ("default", "variation", "mutant", "child", "random")
        assert change.born == change.generation
        if change.origin in ("variation", "mutant", "child"):
            assert change.parents


# 4. Multi-fidelity: hopeless networks stop early, by the measured curves -------------------------
def test_orders_carry_rungs_from_the_measured_curves_and_histories_are_kept(tmp_path):
    import json

    from dicebox.evolution.run_folder import RunFolder
    from dicebox.evolution.training_orders import Evaluation

    seen = []

    def curved(genome, data, spec, cancel=None):
        seen.append(spec)
        evaluation, _ = pure_fitness(genome, data, spec, cancel)
        if not evaluation.ok:
            return evaluation, None
        a = evaluation.accuracy
        curve = [round(a * f, 4) for f in (0.6, 0.7, 0.8, 0.9, 0.95, 1.0, 1.0, 1.0, 1.0)]
        return Evaluation("ok", a, seconds=0.01, training={"history": {"val_accuracy": curve}}), None

    settings = SearchSettings(generations=3, population=6, rung_eta=3, train=TrainSpec(epochs=9, fitness="fake"))
    data = tiny_images()
    search = Evolution(
        settings,
        DataSpec.of(data),
        InlineEvaluator(data, curved),
        taxonomy=TAXONOMY,
        seed=7,
        run=RunFolder(tmp_path / "run"),
        run_id="run",
    )
    list(search.run())
    searched = [s for s in seen if not s.final]
    assert all(not s.rungs for s in searched[:6])  # too few curves to judge by
    later = [s for s in searched[6:] if s.rungs]
    assert later
    for spec in later:
        assert [epoch for epoch, _ in spec.rungs] == [1, 3]
        assert all(minimum > 0.5 for _, minimum in spec.rungs)  # never below chance for two classes
    results = json.loads((tmp_path / "run" / "1" / "results.json").read_text())
    assert any(r.get("history", {}).get("val_accuracy") for r in results)
