"""The search loop with a fast fake fitness: resume, cache, failures, random search, parallel workers."""

from __future__ import annotations

import json
import threading

import pytest
from evolution_fakes import CountingFitness, pure_fitness, tiny_images

from dicebox.evolution.dataset import DataSpec
from dicebox.evolution.evaluators import InlineEvaluator, ProcessEvaluator
from dicebox.evolution.events import (
    ChampionChanged,
    GenerationSummary,
    IndividualTrained,
    RunFinished,
    RunStarted,
    event_to_json,
)
from dicebox.evolution.run_folder import RunFolder
from dicebox.evolution.search import Evolution, SearchError, SearchSettings
from dicebox.evolution.taxonomy import Taxonomy
from dicebox.evolution.training_orders import Evaluation, TrainingOrderResult, TrainSpec
from dicebox.nets.genome import read_population

TAXONOMY = Taxonomy(min_neurons=4, max_neurons=64, max_layers=4, max_filters=16)
SETTINGS = SearchSettings(generations=4, population=6, train=TrainSpec(epochs=1, fitness="fake"))


def new_search(tmp_path=None, fitness=pure_fitness, settings=SETTINGS, seed=7, run_id="run", **kwargs) -> Evolution:
    data = tiny_images()
    run = RunFolder(tmp_path / run_id) if tmp_path is not None else None
    return Evolution(settings, DataSpec.of(data, "tiny_20x16"), InlineEvaluator(data, fitness), taxonomy=TAXONOMY,
                     seed=seed, run=run, run_id=run_id, **kwargs)


def finish(search: Evolution) -> list:
    events = []
    while not search.finished:
        events += search.step()
    return events


def outcome(search: Evolution) -> dict:
    """What must not depend on interruptions: populations, results, cache, champion."""
    state = search.get_state()
    return {
        "population": state["population"],
        "results": {i: {k: r[k] for k in ("fingerprint", "status", "accuracy", "cached")}
                    for i, r in state["results"].items()},
        "history": [{k: h[k] for k in ("best", "average", "failed", "trained", "cached")} for h in state["history"]],
        "cache": {k: {f: v[f] for f in ("status", "accuracy")} for k, v in state["cache"].items()},
        "champion": state["champion"],
        "rng": state["rng"],
    }


def test_a_run_evaluates_every_generation_and_ends(tmp_path):
    search = new_search(tmp_path)
    events = list(search.run())
    assert isinstance(events[0], RunStarted) and isinstance(events[-1], RunFinished)
    assert events[0].run_dir == str(tmp_path / "run") and events[0].champion_bundle == str(tmp_path / "run" / "champion")
    assert events[-1].status == "finished"
    trained = [e for e in events if isinstance(e, IndividualTrained)]
    assert [(e.generation, e.index) for e in trained] == [(g, i) for g in range(1, 5) for i in range(1, 7)]
    assert trained[-1].done == trained[-1].total == 24 and trained[-1].eta_seconds == 0
    summaries = [e for e in events if isinstance(e, GenerationSummary)]
    assert [s.generation for s in summaries] == [1, 2, 3, 4]
    champions = [e for e in events if isinstance(e, ChampionChanged)]
    assert champions and all(b.accuracy > a.accuracy for a, b in zip(champions, champions[1:], strict=False))
    assert events[-1].champion_accuracy == max(e.accuracy for e in trained if e.accuracy is not None)
    for generation in range(1, 5):
        population = read_population(tmp_path / "run" / str(generation) / "population.json")
        assert len(population.members) == 6
        assert population.members[0].genome.output_size == 2  # written as the original did
    for event in events:
        json.loads(event_to_json(event))  # every event is one JSON line


@pytest.mark.parametrize("stop_after", [1, 5, 6, 7, 13, 23])
def test_restoring_the_state_after_k_individuals_ends_as_an_uninterrupted_run(stop_after):
    whole = new_search()
    finish(whole)

    first = new_search()
    individuals = 0
    while individuals < stop_after:
        individuals += sum(isinstance(e, IndividualTrained) for e in first.step())
    state = json.loads(json.dumps(first.get_state()))  # as if read back from state.json
    data = tiny_images()
    resumed = Evolution.from_state(state, InlineEvaluator(data, pure_fitness))
    assert resumed.generation == first.generation and resumed.results == first.results
    finish(resumed)
    assert outcome(resumed) == outcome(whole)


def test_resume_from_state_json_after_cancel(tmp_path):
    whole = new_search(tmp_path, run_id="whole")
    list(whole.run())

    cancel = threading.Event()
    search = new_search(tmp_path, run_id="cut")
    seen = 0
    for event in search.run(cancel):
        if isinstance(event, IndividualTrained):
            seen += 1
            if seen == 9:
                cancel.set()
    assert event.status == "cancelled" and seen == 9
    data = tiny_images()
    resumed = Evolution.resume(RunFolder(tmp_path / "cut"), InlineEvaluator(data, pure_fitness))
    events = list(resumed.run())
    assert events[0].resumed and events[0].generation == 2
    assert outcome(resumed) == outcome(whole)
    for generation in range(1, 5):
        cut = (tmp_path / "cut" / str(generation) / "population.json").read_text()
        assert cut == (tmp_path / "whole" / str(generation) / "population.json").read_text()


def test_the_fitness_cache_never_trains_the_same_genome_twice():
    fitness = CountingFitness()
    search = new_search(fitness=fitness, settings=SearchSettings(generations=6, population=6))
    events = list(search.run())
    assert max(fitness.calls.values()) == 1
    trained = [e for e in events if isinstance(e, IndividualTrained)]
    cached = [e for e in trained if e.cached]
    assert cached, "kept parents should come from the cache"
    assert len(fitness.calls) == len(trained) - len(cached) == search.trained
    assert all(e.seconds == 0 or e.cached is False for e in trained)


def test_the_cache_is_keyed_by_the_data_set_version():
    search = new_search()
    finish(search)
    keys = list(search.cache)
    assert all(key.endswith("@tiny-v1") for key in keys)


def test_a_failing_individual_is_recorded_and_the_run_goes_on(tmp_path):
    def fitness(genome, data, spec, cancel=None):
        if any(layer.type == "dropout" for layer in genome.layers):
            return Evaluation.failed("TrainingFailed: the loss became nan in epoch 1"), None
        return pure_fitness(genome, data, spec, cancel)

    search = new_search(tmp_path, fitness=fitness)
    events = list(search.run())
    failed = [e for e in events if isinstance(e, IndividualTrained) and e.status == "failed"]
    assert failed and all(e.accuracy is None and "nan" in e.error.lower() for e in failed)
    assert events[-1].status == "finished" and events[-1].failed == len(failed)
    results = json.loads((tmp_path / "run" / "1" / "results.json").read_text())
    population = json.loads((tmp_path / "run" / "1" / "population.json").read_text())
    for result, member in zip(results, population["population"], strict=True):
        if result["status"] == "failed":
            assert member["accuracy"] is None and result["error"]


def test_a_fatal_error_stops_the_run_resumably(tmp_path):
    calls = []

    def broken(genome, data, spec, cancel=None):
        calls.append(genome)
        if len(calls) == 4:
            raise RuntimeError("disk on fire")
        return pure_fitness(genome, data, spec, cancel)

    search = new_search(tmp_path, fitness=broken)
    events = []
    with pytest.raises(SearchError, match="disk on fire"):
        for event in search.run():
            events.append(event)
    assert events[-1].status == "error" and "disk on fire" in events[-1].message
    resumed = Evolution.resume(RunFolder(tmp_path / "run"), InlineEvaluator(tiny_images(), pure_fitness))
    assert len(resumed.results) == 3
    finish(resumed)
    whole = new_search()
    finish(whole)
    assert outcome(resumed) == outcome(whole)


def test_random_search_spends_the_budget_in_population_sized_files(tmp_path):
    settings = SearchSettings(strategy="random", population=3, budget=7, train=TrainSpec(epochs=1))
    search = new_search(tmp_path, settings=settings)
    events = list(search.run())
    assert events[0].individuals == 7 and events[0].generations == 3
    sizes = [len(read_population(tmp_path / "run" / str(g) / "population.json").members) for g in (1, 2, 3)]
    assert sizes == [3, 3, 1]
    assert not (tmp_path / "run" / "4").exists()
    assert sum(isinstance(e, IndividualTrained) for e in events) == 7


def test_results_delivered_twice_are_recorded_once():
    class Doubling(InlineEvaluator):
        """Hands every result out twice, as a broker redelivery would."""

        def __init__(self, data, fitness):
            super().__init__(data, fitness)
            self.repeat = []

        def next_result(self, cancel):
            if self.repeat:
                return self.repeat.pop()
            result = super().next_result(cancel)
            self.repeat.append(TrainingOrderResult(result.order_id, result.kind, result.evaluation))
            return result

    data = tiny_images()
    search = Evolution(SETTINGS, DataSpec.of(data), Doubling(data, pure_fitness), taxonomy=TAXONOMY, seed=7,
                       run_id="run")
    events = list(search.run())
    keys = [(e.generation, e.index) for e in events if isinstance(e, IndividualTrained)]
    assert len(keys) == len(set(keys)) == 24
    whole = new_search()
    finish(whole)
    assert outcome(search) == outcome(whole)


def test_seeding_from_a_population_keeps_those_genomes_first():
    seeds = [g for g in new_search(seed=99).population[:4]]
    search = new_search(initial=seeds)
    assert search.population[:4] == seeds and len(search.population) == 6


def test_local_worker_processes_give_the_same_run(monkeypatch):
    monkeypatch.setenv("DICEBOX_FAKE_FITNESS", "1")
    data = tiny_images()
    settings = SearchSettings(generations=2, population=6, train=TrainSpec(epochs=1, fitness="fake"))
    evaluator = ProcessEvaluator(data, processes=2)
    try:
        parallel = Evolution(settings, DataSpec.of(data), evaluator, taxonomy=TAXONOMY, seed=7, run_id="run")
        events = list(parallel.run())
    finally:
        evaluator.close()
    workers = {e.worker for e in events if isinstance(e, IndividualTrained) and not e.cached}
    assert len(workers) == 2  # both processes trained
    inline = new_search(settings=settings)
    finish(inline)
    assert outcome(parallel) == outcome(inline)


def test_a_worker_process_that_dies_fails_its_individual_and_is_replaced():
    from evolution_fakes import dying_fitness

    data = tiny_images()
    settings = SearchSettings(generations=2, population=6, train=TrainSpec(epochs=1))
    evaluator = ProcessEvaluator(data, processes=2, fitness=dying_fitness)
    try:
        search = Evolution(settings, DataSpec.of(data), evaluator, taxonomy=TAXONOMY, seed=7, run_id="run")
        events = list(search.run())
    finally:
        evaluator.close()
    died = [e for e in events if isinstance(e, IndividualTrained) and e.error and "died" in e.error]
    assert died and events[-1].status == "finished"
