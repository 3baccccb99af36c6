"""The code shape: strategies (ask/tell), typed trials with a status, registered fitness functions."""

from __future__ import annotations

import json
import random

import pytest
from evolution_fakes import CountingFitness, pure_fitness, tiny_images

from dicebox.evolution.dataset import DataSpec
from dicebox.evolution.evaluators import InlineEvaluator
from dicebox.evolution.events import IndividualTrained
from dicebox.evolution.fitness_registry import (
    FitnessUnavailable,
    available_fitnesses,
    get_fitness,
    register_fitness,
    unregister_fitness,
)
from dicebox.evolution.run_folder import RunFolder
from dicebox.evolution.search import Evolution, SearchError, SearchSettings
from dicebox.evolution.strategies import GeneticAlgorithm, RandomSearch, make_strategy
from dicebox.evolution.taxonomy import Taxonomy
from dicebox.evolution.training_orders import Evaluation, TrainSpec
from dicebox.evolution.trial import Trial, TrialStatus
from dicebox.nets.genome import default_genome

TAXONOMY = Taxonomy(min_neurons=4, max_neurons=64, max_layers=4, max_filters=16)
SETTINGS = SearchSettings(generations=3, population=5, train=TrainSpec(epochs=1, fitness="fake"))
SPEC = DataSpec.of(tiny_images(), "tiny_20x16")


def strategy(cls=GeneticAlgorithm, settings=SETTINGS, seed=3):
    return cls(settings, TAXONOMY, SPEC.geometry, SPEC.n_classes, random.Random(seed))


def tell(strategy, trial: Trial) -> None:
    evaluation, _ = pure_fitness(trial.genome, None, SETTINGS.train)
    trial.complete(evaluation)
    strategy.tell(trial)


def test_the_genetic_algorithm_hands_out_a_generation_in_order_and_breeds_only_when_asked_to():
    ga = strategy()
    first = ga.ask(2)
    assert [t.index for t in first] == [0, 1] and all(t.status is TrialStatus.RUNNING for t in first)
    assert first[0].genome == default_genome() and first[0].origin == "default"
    rest = ga.ask(10)
    assert [t.index for t in rest] == [2, 3, 4] and ga.ask(10) == []  # nothing until it hears back
    for trial in [*rest, *first]:
        assert not ga.complete
        tell(ga, trial)
    assert ga.complete and ga.generation == 1  # a complete generation waits for the runner
    assert ga.advance() and ga.generation == 2
    second = ga.ask(10)
    assert [t.generation for t in second] == [2] * 5 and {t.origin for t in second} <= {"elite", "mutant", "child",
                                                                                         "random"}
    with pytest.raises(ValueError):
        ga.tell(first[0])  # a trial of another generation


def test_a_restored_strategy_proposes_exactly_what_the_original_would():
    a = strategy()
    for trial in a.ask(3):
        tell(a, trial)
    state = json.loads(json.dumps(a.get_state()))
    b = strategy(seed=99)
    b.set_state(state)
    assert [t.status for t in b.trials] == [t.status for t in a.trials[:3]] + [TrialStatus.PENDING] * 2
    assert all(t.done for t in b.trials[:3])
    for s in (a, b):
        for trial in s.ask(10):
            tell(s, trial)
        s.advance()
    assert [t.genome for t in a.trials] == [t.genome for t in b.trials]
    assert [t.lineage() for t in a.trials] == [t.lineage() for t in b.trials]


def test_random_search_proposes_random_networks_in_batches():
    rs = strategy(RandomSearch, SearchSettings(strategy="random", population=3, budget=4, train=SETTINGS.train))
    assert {t.origin for t in rs.trials} == {"random"} and len(rs.trials) == 3
    for trial in rs.ask(3):
        tell(rs, trial)
    assert rs.advance() and len(rs.trials) == 1
    tell(rs, rs.ask(1)[0])
    assert not rs.advance()  # the budget of 4 is spent


def test_successive_halving_holds_trials_to_rungs_from_the_curves_it_was_told():
    settings = SearchSettings(generations=3, population=6, rung_eta=3, train=TrainSpec(epochs=9, fitness="fake"))
    wrapped = make_strategy(settings, TAXONOMY, SPEC.geometry, SPEC.n_classes, random.Random(1))
    for i, trial in enumerate(wrapped.ask(6)):
        assert trial.rungs == ()  # no curves yet
        curve = [0.6 + 0.05 * i, 0.7, 0.8 + 0.01 * i]
        trial.complete(Evaluation("ok", max(curve), training={"history": {"val_accuracy": curve}}))
        wrapped.tell(trial)
        assert trial.rung_scores == ((1, round(curve[0], 6)), (3, round(max(curve), 6)))
    assert wrapped.advance()
    rungs = wrapped.ask(1)[0].rungs
    assert [epoch for epoch, _ in rungs] == [1, 3]
    assert rungs[0][1] == pytest.approx(0.6 + 0.05 * 4)  # the worst of the best third at epoch 1


def test_trials_end_completed_stopped_early_or_failed_and_the_run_keeps_that(tmp_path):
    def staged(genome, data, spec, cancel=None):
        evaluation, _ = pure_fitness(genome, data, spec, cancel)
        if not evaluation.ok:
            return evaluation, None
        stop = "rung" if int(genome.fingerprint(), 16) % 2 else ""
        return Evaluation("ok", evaluation.accuracy, training={"stop_reason": stop, "epochs_run": 1}), None

    data = tiny_images()
    search = Evolution(SETTINGS, SPEC, InlineEvaluator(data, staged), taxonomy=TAXONOMY, seed=5,
                       run=RunFolder(tmp_path / "run"), run_id="run")
    events = [e for e in search.run() if isinstance(e, IndividualTrained)]
    statuses = {e.trial for e in events}
    assert statuses == {"completed", "stopped early", "failed"}
    for event in events:
        if event.trial == "stopped early":
            assert event.stop_reason == "rung" and event.status == "ok"
        assert (event.trial == "failed") == (event.status == "failed")
    results = json.loads((tmp_path / "run" / "1" / "results.json").read_text())
    assert {r["trial"] for r in results} <= {"completed", "stopped early", "failed"}


def test_a_state_json_written_before_trials_had_a_status_resumes(tmp_path):
    whole = Evolution(SETTINGS, SPEC, InlineEvaluator(tiny_images(), pure_fitness), taxonomy=TAXONOMY, seed=2)
    list(whole.run())
    cut = Evolution(SETTINGS, SPEC, InlineEvaluator(tiny_images(), pure_fitness), taxonomy=TAXONOMY, seed=2,
                    run=RunFolder(tmp_path / "old"), run_id="old")
    done = 0
    for event in cut.run():
        done += isinstance(event, IndividualTrained)
        if done == 7:
            break
    state = json.loads((tmp_path / "old" / "state.json").read_text())
    for result in state["results"].values():
        del result["trial"], result["rung_scores"]  # as the previous version wrote it
    (tmp_path / "old" / "state.json").write_text(json.dumps(state))
    resumed = Evolution.resume(RunFolder(tmp_path / "old"), InlineEvaluator(tiny_images(), pure_fitness))
    assert resumed.generation == 2 and len(resumed.results) == 2
    list(resumed.run())
    assert resumed.get_state()["champion"] == whole.get_state()["champion"]
    assert resumed.population == whole.population


def test_an_order_trains_with_the_fitness_registered_under_the_name_it_gives():
    counting = CountingFitness()
    register_fitness("counting", counting)
    try:
        assert "counting" in available_fitnesses() and get_fitness("counting") is counting
        settings = SearchSettings(generations=2, population=4, train=TrainSpec(epochs=1, fitness="counting"))
        search = Evolution(settings, SPEC, InlineEvaluator(tiny_images()), taxonomy=TAXONOMY, seed=1)
        list(search.run())
        assert sum(counting.calls.values()) == search.trained > 0
    finally:
        unregister_fitness("counting")
    with pytest.raises(FitnessUnavailable, match="no fitness 'counting'"):
        get_fitness("counting")
    search = Evolution(settings, SPEC, InlineEvaluator(tiny_images()), taxonomy=TAXONOMY, seed=1)
    with pytest.raises(SearchError, match="no fitness 'counting'"):
        list(search.run())


def test_the_fake_fitness_is_the_default_only_while_its_test_hook_is_on(monkeypatch):
    from dicebox.evolution.fitness_registry import default_fitness

    monkeypatch.delenv("DICEBOX_FAKE_FITNESS", raising=False)
    assert default_fitness() == ("train", "")
    assert "fake" not in available_fitnesses()
    monkeypatch.setenv("DICEBOX_FAKE_FITNESS", "1")
    name, notice = default_fitness()
    assert name == "fake" and "FAKE" in notice
