"""Search strategies: what to evaluate next (``ask``) and what to learn from an outcome (``tell``).

A :class:`Strategy` proposes :class:`~dicebox.evolution.trial.Trial`s and is told how each did;
it never trains anything and never touches files (KerasTuner's Oracle; the runner in
:mod:`dicebox.evolution.search` is its Tuner). The strategies here work in generations of
``population`` trials: the genetic algorithm (:class:`GeneticAlgorithm`, built from the pure
operators in :mod:`dicebox.evolution.operators`) and the random-search baseline
(:class:`RandomSearch`). Multi-fidelity (successive halving) wraps either one, see
:mod:`dicebox.evolution.rungs`. All randomness comes from one ``random.Random`` used only to make
a generation, so a strategy restored from :meth:`get_state` proposes exactly what it would have.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from dicebox.evolution.operators import Offspring, breed, make_valid, random_genome, variations
from dicebox.evolution.settings import SearchSettings
from dicebox.evolution.taxonomy import Taxonomy
from dicebox.evolution.trial import Trial, TrialStatus
from dicebox.nets.genome import Genome, ScoredGenome, default_genome

if TYPE_CHECKING:
    from dicebox.images import Geometry


class Strategy(Protocol):
    """Proposes trials and learns from their outcomes.

    ``ask(n)`` hands out up to ``n`` trials to evaluate now ([] when it must first hear about the
    ones out, or when it has no more). ``tell(trial)`` gives back a trial handed out, completed,
    stopped early or failed. A trial handed out that the runner abandons (a cancelled run) is set
    back to pending, and ``ask`` hands it out again. ``get_state``/``set_state`` are JSON-ready.
    """

    def ask(self, n: int) -> list[Trial]: ...

    def tell(self, trial: Trial) -> None: ...

    def get_state(self) -> dict[str, Any]: ...

    def set_state(self, state: dict[str, Any]) -> None: ...


class GenerationalSearch(Strategy, Protocol):
    """A strategy that proposes its trials in generations, as the runner records and files them."""

    @property
    def generation(self) -> int: ...

    @property
    def trials(self) -> list[Trial]: ...  # the current generation's

    @property
    def rounds(self) -> int: ...

    @property
    def complete(self) -> bool: ...  # every trial of the current generation was told

    def scored(self) -> list[ScoredGenome]: ...

    def advance(self) -> bool: ...  # the next generation, once complete; False after the last

    def drop_untold(self) -> None: ...  # end the generation with the trials told so far


def _rng_to_json(state: tuple) -> list:
    version, internal, gauss = state
    return [version, list(internal), gauss]


def _rng_from_json(data: list) -> tuple:
    version, internal, gauss = data
    return (version, tuple(internal), gauss)


class GenerationalStrategy:
    """Trials in generations: a generation is handed out in order, and the next is made from it
    (:meth:`advance`) once every trial of it was told and the runner wants more."""

    def __init__(
        self,
        settings: SearchSettings,
        taxonomy: Taxonomy,
        geometry: Geometry,
        n_classes: int,
        rng: random.Random,
        initial: Sequence[Genome] = (),
    ) -> None:
        self.settings, self.taxonomy, self.geometry, self.n_classes = settings, taxonomy, geometry, n_classes
        self.rng = rng
        self.generation = 1
        self.trials: list[Trial] = self._trials(self.first_generation(initial), 1)

    # What a concrete strategy decides --------------------------------------------------------------
    def first_generation(self, initial: Sequence[Genome]) -> list[Offspring]:
        raise NotImplementedError

    def next_generation(self, scored: list[ScoredGenome]) -> list[Offspring]:
        raise NotImplementedError

    # Strategy ------------------------------------------------------------------------------------
    def ask(self, n: int) -> list[Trial]:
        out = []
        for trial in self.trials:
            if len(out) >= n:
                break
            if trial.status is TrialStatus.PENDING:
                trial.status = TrialStatus.RUNNING
                out.append(trial)
        return out

    def tell(self, trial: Trial) -> None:
        if not trial.done:
            raise ValueError(f"trial {trial.generation}/{trial.index + 1} told before it was evaluated")
        if trial.generation != self.generation or self.trials[trial.index] is not trial:
            raise ValueError(f"trial {trial.generation}/{trial.index + 1} is not one of generation {self.generation}")

    # Generations ---------------------------------------------------------------------------------
    @property
    def rounds(self) -> int:
        return self.settings.rounds

    @property
    def complete(self) -> bool:
        """Every trial of this generation was told."""
        return all(t.done for t in self.trials)

    def scored(self) -> list[ScoredGenome]:
        """This generation with the accuracies told so far (None: failed or not yet told)."""
        return [ScoredGenome(t.genome, t.accuracy if t.ok else None) for t in self.trials]

    def advance(self) -> bool:
        """Make the next generation from this complete one; False when the last one is done."""
        if not self.complete:
            raise ValueError(f"generation {self.generation} is not complete")
        if self.generation >= self.rounds:
            return False
        offspring = self.next_generation(self.scored())
        self.generation += 1
        self.trials = self._trials(offspring, self.generation)
        return True

    def drop_untold(self) -> None:
        """End this generation with the trials told so far (renumbered), e.g. when time is up."""
        told = [t for t in self.trials if t.done]
        for index, trial in enumerate(told):
            trial.index = index
        self.trials = told

    def _random(self) -> Offspring:
        return Offspring(random_genome(self.rng, self.taxonomy, self.geometry, self.n_classes), "random")

    def _trials(self, offspring: list[Offspring], generation: int) -> list[Trial]:
        return [Trial(o.genome, generation, i, origin=o.origin, parents=tuple(o.parents), born=generation)
                for i, o in enumerate(offspring)]

    # State ---------------------------------------------------------------------------------------
    def get_state(self) -> dict[str, Any]:
        return {
            "generation": self.generation,
            "population": [t.genome.to_dict() for t in self.trials],
            "lineage": [t.lineage() for t in self.trials],
            "results": {str(t.index): t.to_result() for t in self.trials if t.done},
            "rng": _rng_to_json(self.rng.getstate()),
        }

    def set_state(self, state: dict[str, Any]) -> None:
        self.generation = int(state["generation"])
        genomes = [Genome.from_dict(g) for g in state["population"]]
        lineage = state.get("lineage") or [{"origin": "", "parents": [], "born": self.generation} for _ in genomes]
        results = {int(i): dict(r) for i, r in state["results"].items()}
        self.trials = [Trial.from_result(g, self.generation, i, lineage[i], results.get(i))
                       for i, g in enumerate(genomes)]
        self.rng.setstate(_rng_from_json(state["rng"]))


class GeneticAlgorithm(GenerationalStrategy):
    """Generation 1: the operator's genomes and the default network, then variations of them; then
    two elites unchanged, parents by tournament among the living that beat chance, mutants and
    children (:func:`dicebox.evolution.operators.breed`)."""

    def first_generation(self, initial: Sequence[Genome]) -> list[Offspring]:
        s, size = self.settings, self.settings.size_of(1)
        known = [Offspring(g, "seeded") for g in initial]
        if s.seed_default:
            known.append(Offspring(default_genome(), "default"))
        offspring: list[Offspring] = []
        for o in known:
            genome = make_valid(o.genome, self.rng, self.taxonomy, self.geometry, self.n_classes)
            if len(offspring) < size and genome not in [x.genome for x in offspring]:
                offspring.append(dataclasses.replace(o, genome=genome))
        if offspring:
            offspring += variations([o.genome for o in offspring], self.rng, self.taxonomy, self.geometry,
                                    size=size - len(offspring), mutate_chance=s.mutate_chance,
                                    n_classes=self.n_classes)
        while len(offspring) < size:
            offspring.append(self._random())
        return offspring

    def next_generation(self, scored: list[ScoredGenome]) -> list[Offspring]:
        s = self.settings
        return breed(
            scored, self.rng, self.taxonomy, self.geometry, size=s.population, retain=s.retain,
            random_select=s.random_select, mutate_chance=s.mutate_chance, elites=s.elites,
            n_classes=self.n_classes, selection=s.selection, tournament_size=s.tournament_size,
        )



class RandomSearch(GenerationalStrategy):
    """The baseline: every trial a fresh random genome, in batches of ``population``."""

    def first_generation(self, initial: Sequence[Genome]) -> list[Offspring]:
        return [self._random() for _ in range(self.settings.size_of(1))]

    def next_generation(self, scored: list[ScoredGenome]) -> list[Offspring]:
        return [self._random() for _ in range(self.settings.size_of(self.generation + 1))]


STRATEGY_CLASSES: dict[str, type[GenerationalStrategy]] = {"evolve": GeneticAlgorithm, "random": RandomSearch}


def make_strategy(
    settings: SearchSettings,
    taxonomy: Taxonomy,
    geometry: Geometry,
    n_classes: int,
    rng: random.Random,
    initial: Sequence[Genome] = (),
) -> GenerationalSearch:
    """The strategy ``settings.strategy`` names, wrapped in successive halving (its rungs)."""
    from dicebox.evolution.rungs import SuccessiveHalving

    inner = STRATEGY_CLASSES[settings.strategy](settings, taxonomy, geometry, n_classes, rng, initial)
    return SuccessiveHalving(inner, eta=settings.rung_eta, epochs=settings.train.epochs, n_classes=n_classes)
