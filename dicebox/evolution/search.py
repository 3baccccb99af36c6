"""The search loop: a resumable object that evaluates a population, generation after generation.

:class:`Evolution` runs the genetic algorithm (``strategy="evolve"``) or the random-search
baseline (``strategy="random"``: the same number of individuals, each a fresh random genome, in
batches of ``population``). Each :meth:`Evolution.step` records one individual; :meth:`run` is
the generator the CLI and the GUI drive. All randomness comes from one ``random.Random`` that is
used only between generations, and the whole state (population, generation, results so far, RNG
state, fitness cache, champion) is saved to ``state.json`` after every individual, so a run
restored with :meth:`Evolution.resume` or :meth:`Evolution.from_state` ends exactly as an
uninterrupted one would (given a deterministic fitness).

The fitness cache is keyed by (genome fingerprint, data set version): the same network on the
same data is never trained twice, be it a kept parent, a repeated child or a resumed run.
"""

from __future__ import annotations

import dataclasses
import math
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dicebox.evolution.dataset import DataSpec
from dicebox.evolution.evaluators import EvaluationCancelled, Evaluator
from dicebox.evolution.events import (
    ChampionChanged,
    EtaEstimator,
    Event,
    GenerationStarted,
    GenerationSummary,
    IndividualTrained,
    RunFinished,
    RunStarted,
    genome_summary,
)
from dicebox.evolution.operators import make_valid, next_generation, random_genome
from dicebox.evolution.orders import Evaluation, OrderResult, TrainingOrder, TrainSpec
from dicebox.evolution.run_folder import RunFolder, new_run_id
from dicebox.evolution.taxonomy import Taxonomy
from dicebox.genome import Genome, Population, ScoredGenome

if TYPE_CHECKING:
    from dicebox.config import Config

STATE_FORMAT = "dicebox-evolution-state"
STATE_VERSION = 1
STRATEGIES = ("evolve", "random")
SELECTIONS = ("truncation", "tournament")

#: ``exporter(model_bytes, bundle_path, genome, evaluation, data) -> bundle path``
Exporter = Callable[[bytes, Path, Genome, Evaluation, DataSpec], Path]


class SearchError(RuntimeError):
    """A fatal error: the search stopped (its state is saved, so it can be resumed once fixed)."""


@dataclass(frozen=True)
class SearchSettings:
    """The budget and the genetic algorithm's knobs (the original's ``[EVOLUTION]`` section)."""

    strategy: str = "evolve"
    generations: int = 4
    population: int = 8
    retain: float = 0.4
    random_select: float = 0.1
    mutate_chance: float = 0.2
    elites: int = 1
    selection: str = "truncation"
    tournament_size: int = 3
    # Random strategy only: individuals in all (default generations x population).
    budget: int | None = None
    train: TrainSpec = field(default_factory=TrainSpec)

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}, got {self.strategy!r}")
        if self.generations < 1 or self.population < 1:
            raise ValueError("generations and population must be at least 1")
        if self.selection not in SELECTIONS:
            raise ValueError(f"selection must be one of {', '.join(SELECTIONS)}, got {self.selection!r}")
        if self.budget is not None and self.budget < 1:
            raise ValueError(f"budget must be at least 1, got {self.budget}")
        for name in ("retain", "random_select", "mutate_chance"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be between 0 and 1")

    @property
    def total(self) -> int:
        """Individuals evaluated in the whole run."""
        if self.strategy == "random" and self.budget is not None:
            return self.budget
        return self.generations * self.population

    @property
    def rounds(self) -> int:
        """Generations (for random search: batches of ``population``)."""
        return math.ceil(self.total / self.population)

    def size_of(self, generation: int) -> int:
        return min(self.population, self.total - (generation - 1) * self.population)

    @classmethod
    def from_config(cls, config: Config, **overrides: Any) -> SearchSettings:
        """``[EVOLUTION]`` and ``[TRAINING]`` settings; keyword overrides that are None are ignored."""
        e, t = config.evolution, config.training
        train = TrainSpec(epochs=e.epochs, batch_size=t.batch_size, validation_split=t.validation_split, seed=t.seed)
        values: dict[str, Any] = {
            "generations": e.generations,
            "population": e.population,
            "retain": e.retain,
            "random_select": e.random_select,
            "mutate_chance": e.mutate_chance,
            "train": train,
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "train": self.train.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SearchSettings:
        return cls(**{**data, "train": TrainSpec.from_dict(data["train"])})


def _rng_to_json(state: tuple) -> list:
    version, internal, gauss = state
    return [version, list(internal), gauss]


def _rng_from_json(data: list) -> tuple:
    version, internal, gauss = data
    return (version, tuple(internal), gauss)


class Evolution:
    """A resumable search; see the module docstring.

    ``initial`` seeds the first generation (e.g. from a saved ``population.json``): made valid,
    cut or filled up with random genomes to ``population``. ``exporter`` writes the champion
    bundle (default :func:`dicebox.evolution.champion.export_champion`); without a ``run``
    folder nothing is written at all.
    """

    def __init__(
        self,
        settings: SearchSettings,
        data: DataSpec,
        evaluator: Evaluator,
        *,
        taxonomy: Taxonomy | None = None,
        seed: int = 0,
        run: RunFolder | None = None,
        run_id: str | None = None,
        initial: Sequence[Genome] = (),
        exporter: Exporter | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.data = data
        self.evaluator = evaluator
        self.taxonomy = taxonomy or Taxonomy()
        self.seed = seed
        self.run_folder = run
        self.run_id = run_id or (run.run_id if run is not None else new_run_id())
        self.exporter = exporter
        self.clock = clock
        self.rng = random.Random(seed)
        self.generation = 1
        self.results: dict[int, dict[str, Any]] = {}
        self.cache: dict[str, dict[str, Any]] = {}
        self.champion: dict[str, Any] | None = None
        self.history: list[dict[str, Any]] = []
        self.trained = self.cached = self.failed = 0
        self.elapsed = self.generation_elapsed = 0.0
        self.finished = False
        self.resumed = False
        self.population: list[Genome] = self._first_generation(initial)
        self._listeners: list[Callable[[Event], None]] = []
        self._in_flight: dict[str, tuple[int, str]] = {}
        self._announced = 0
        self._mark = clock()

    # Construction -----------------------------------------------------------------------------
    def _first_generation(self, initial: Sequence[Genome]) -> list[Genome]:
        size = self.settings.size_of(1)
        geometry, n_classes = self.data.geometry, self.data.n_classes
        seeded = [make_valid(g, self.rng, self.taxonomy, geometry, n_classes) for g in list(initial)[:size]]
        while len(seeded) < size:
            seeded.append(random_genome(self.rng, self.taxonomy, geometry, n_classes))
        return seeded

    @classmethod
    def from_state(
        cls,
        state: dict[str, Any],
        evaluator: Evaluator,
        *,
        run: RunFolder | None = None,
        exporter: Exporter | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> Evolution:
        """A search restored from :meth:`get_state` output; it continues where that one stood."""
        search = cls(
            SearchSettings.from_dict(state["settings"]),
            DataSpec.from_dict(state["data"]),
            evaluator,
            taxonomy=Taxonomy.from_dict(state["taxonomy"]),
            seed=int(state["seed"]),
            run=run,
            run_id=state["run_id"],
            exporter=exporter,
            clock=clock,
        )
        search.set_state(state)
        return search

    @classmethod
    def resume(
        cls, run: RunFolder, evaluator: Evaluator, *, exporter: Exporter | None = None
    ) -> Evolution:
        """Continue the run saved in ``run`` (its ``state.json``)."""
        return cls.from_state(run.read_state(), evaluator, run=run, exporter=exporter)

    # State ------------------------------------------------------------------------------------
    def get_state(self) -> dict[str, Any]:
        """Everything needed to continue exactly, as JSON-ready data."""
        return {
            "format": STATE_FORMAT,
            "version": STATE_VERSION,
            "run_id": self.run_id,
            "settings": self.settings.to_dict(),
            "seed": self.seed,
            "data": self.data.to_dict(),
            "taxonomy": self.taxonomy.to_dict(),
            "generation": self.generation,
            "population": [g.to_dict() for g in self.population],
            "results": {str(i): r for i, r in sorted(self.results.items())},
            "rng": _rng_to_json(self.rng.getstate()),
            "cache": dict(self.cache),
            "champion": self.champion,
            "history": list(self.history),
            "counts": {"trained": self.trained, "cached": self.cached, "failed": self.failed},
            "elapsed": round(self.elapsed, 3),
            "generation_elapsed": round(self.generation_elapsed, 3),
            "finished": self.finished,
        }

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`get_state` output (the evaluator, listeners and run folder stay)."""
        if state.get("format") != STATE_FORMAT or state.get("version") != STATE_VERSION:
            raise ValueError("not a dicebox evolution state (or written by another version)")
        self.run_id = str(state["run_id"])
        self.settings = SearchSettings.from_dict(state["settings"])
        self.seed = int(state["seed"])
        self.data = DataSpec.from_dict(state["data"])
        self.taxonomy = Taxonomy.from_dict(state["taxonomy"])
        self.generation = int(state["generation"])
        self.population = [Genome.from_dict(g) for g in state["population"]]
        self.results = {int(i): dict(r) for i, r in state["results"].items()}
        self.rng.setstate(_rng_from_json(state["rng"]))
        self.cache = dict(state["cache"])
        self.champion = state.get("champion")
        self.history = list(state.get("history", []))
        counts = state.get("counts", {})
        self.trained = int(counts.get("trained", 0))
        self.cached = int(counts.get("cached", 0))
        self.failed = int(counts.get("failed", 0))
        self.elapsed = float(state.get("elapsed", 0.0))
        self.generation_elapsed = float(state.get("generation_elapsed", 0.0))
        self.finished = bool(state.get("finished", False))
        self.resumed = True
        self._in_flight.clear()
        self._announced = 0
        self._mark = self.clock()

    def _save(self) -> None:
        self._tick()
        if self.run_folder is not None:
            self.run_folder.write_state(self.get_state())

    def _tick(self) -> None:
        now = self.clock()
        self.elapsed += now - self._mark
        self.generation_elapsed += now - self._mark
        self._mark = now

    # Progress ---------------------------------------------------------------------------------
    def subscribe(self, listener: Callable[[Event], None]) -> None:
        """Call ``listener`` with every event :meth:`step` produces."""
        self._listeners.append(listener)

    def _emit(self, events: list[Event]) -> list[Event]:
        for event in events:
            for listener in self._listeners:
                listener(event)
        return events

    @property
    def done(self) -> int:
        """Individuals evaluated in the whole run so far."""
        before = sum(self.settings.size_of(g) for g in range(1, self.generation))
        return before + len(self.results)

    def _eta(self) -> float | None:
        return EtaEstimator(self.settings.total).update(self.done, self.elapsed)

    def started_event(self) -> RunStarted:
        """The first event of a (possibly resumed) run: where its files are."""
        folder = self.run_folder
        return RunStarted(
            run_id=self.run_id,
            run_dir=None if folder is None else str(folder.path),
            champion_path=None if folder is None else str(folder.champion_dir),
            state_file=None if folder is None else str(folder.state_file),
            strategy=self.settings.strategy,
            generations=self.settings.rounds,
            population=self.settings.population,
            epochs=self.settings.train.epochs,
            individuals=self.settings.total,
            dataset_id=self.data.dataset_id,
            dataset_version=self.data.version,
            seed=self.seed,
            resumed=self.resumed,
            generation=self.generation,
            workers=getattr(self.evaluator, "description", ""),
        )

    def finished_event(self, status: str, message: str = "") -> RunFinished:
        champion = self.champion or {}
        return RunFinished(
            run_id=self.run_id,
            status=status,
            message=message,
            generation=self.generation,
            champion_accuracy=champion.get("accuracy"),
            champion_genome=champion.get("genome"),
            champion_bundle=champion.get("bundle"),
            trained=self.trained,
            cached=self.cached,
            failed=self.failed,
            seconds=round(self.elapsed, 3),
        )

    # The loop ---------------------------------------------------------------------------------
    def _key(self, genome: Genome) -> str:
        return f"{genome.fingerprint()}@{self.data.version}"

    def _order_id(self, index: int, genome: Genome) -> str:
        return f"{self.run_id}/{self.generation}/{index + 1}/{genome.fingerprint()}"

    def step(self, cancel: threading.Event | None = None) -> list[Event]:
        """Record one individual (from the cache, or the next result the evaluator delivers), and
        close the generation when it was the last. Raises EvaluationCancelled when ``cancel`` is
        set while waiting, SearchError on a fatal error; returns [] once finished."""
        cancel = cancel or threading.Event()
        if self.finished:
            return []
        events: list[Event] = []
        if self._announced != self.generation:
            self._announced = self.generation
            events.append(GenerationStarted(self.generation, self.settings.rounds, len(self.population)))
        busy = {key for _, key in self._in_flight.values()}
        taken = {i for i, _ in self._in_flight.values()}
        waiting = [i for i in range(len(self.population)) if i not in self.results and i not in taken]
        # Individuals are taken in order; one whose network is cached is recorded when its turn comes.
        hit = waiting[0] if waiting and self._key(self.population[waiting[0]]) in self.cache else None
        if not waiting and not taken:
            pass  # every result is in (a run stopped just before closing its generation)
        elif hit is not None:
            cached = Evaluation.from_dict(self.cache[self._key(self.population[hit])])
            events += self._record(hit, cached, cached=True)
        else:
            for i in waiting:
                if len(self._in_flight) >= self.evaluator.capacity:
                    break
                genome, key = self.population[i], self._key(self.population[i])
                if key in busy or key in self.cache:
                    continue  # training already, or cached: recorded from the cache in its turn
                order = TrainingOrder(self._order_id(i, genome), genome, self.data.dataset_id, self.data.version,
                                      self.settings.train)
                self.evaluator.submit(order)
                self._in_flight[order.order_id] = (i, key)
                busy.add(key)
            events += self._receive(cancel)
        if len(self.results) == len(self.population):
            events += self._close_generation()
        return self._emit(events)

    def _receive(self, cancel: threading.Event) -> list[Event]:
        while True:
            result = self.evaluator.next_result(cancel)
            entry = self._in_flight.pop(result.order_id, None)
            if entry is None:
                # Redelivered or from before a restart, and recorded already: results count once.
                self.evaluator.acknowledge(result)
                continue
            if result.kind != "done" or result.evaluation is None:
                raise SearchError(f"training order {result.order_id} could not run ({result.kind}): {result.message}")
            events = self._record(entry[0], result.evaluation, cached=False, result=result)
            self.evaluator.acknowledge(result)
            return events

    def _record(
        self, index: int, evaluation: Evaluation, *, cached: bool, result: OrderResult | None = None
    ) -> list[Event]:
        genome = self.population[index]
        if cached:
            evaluation = dataclasses.replace(evaluation, seconds=0.0)  # nothing was spent on it now
            self.cached += 1
        else:
            self.cache[self._key(genome)] = evaluation.summary()
            self.trained += 1
        if not evaluation.ok:
            self.failed += 1
        worker = result.worker if result is not None else ""
        self.results[index] = {
            "index": index + 1,
            "fingerprint": genome.fingerprint(),
            **evaluation.summary(),
            "cached": cached,
            "worker": worker,
        }
        events: list[Event] = []
        if evaluation.ok and not cached and self._beats_champion(evaluation.accuracy):
            events.append(self._crown(index, genome, evaluation, None if result is None else result.model))
        self._save()
        trained = IndividualTrained(
            generation=self.generation,
            index=index + 1,
            size=len(self.population),
            genome=genome_summary(genome),
            fingerprint=genome.fingerprint(),
            accuracy=evaluation.accuracy,
            status=evaluation.status,
            error=evaluation.error,
            seconds=round(evaluation.seconds, 3),
            cached=cached,
            done=self.done,
            total=self.settings.total,
            eta_seconds=self._eta(),
            worker=worker,
        )
        return [trained, *events]

    def _beats_champion(self, accuracy: float | None) -> bool:
        return accuracy is not None and (self.champion is None or accuracy > self.champion["accuracy"])

    def _crown(self, index: int, genome: Genome, evaluation: Evaluation, model: bytes | None) -> ChampionChanged:
        bundle = None
        if model is not None and self.run_folder is not None:
            exporter = self.exporter
            if exporter is None:
                from dicebox.evolution.champion import export_champion as exporter
            bundle = str(exporter(model, self.run_folder.champion_dir, genome, evaluation, self.data))
        assert evaluation.accuracy is not None
        self.champion = {
            "accuracy": evaluation.accuracy,
            "genome": genome.to_dict(),
            "fingerprint": genome.fingerprint(),
            "generation": self.generation,
            "index": index + 1,
            "bundle": bundle,
        }
        return ChampionChanged(evaluation.accuracy, bundle, genome.to_dict(), genome.fingerprint(),
                               self.generation, index + 1)

    def _close_generation(self) -> list[Event]:
        results = [self.results[i] for i in range(len(self.population))]
        scored = [
            ScoredGenome(g, r["accuracy"] if r["status"] == "ok" else None)
            for g, r in zip(self.population, results, strict=True)
        ]
        population_file = None
        if self.run_folder is not None:
            population = Population(tuple(ScoredGenome(self._annotated(m.genome), m.accuracy) for m in scored))
            population_file = str(self.run_folder.write_generation(self.generation, population, results))
        self._tick()
        accuracies = [m.accuracy for m in scored if m.accuracy is not None]
        summary = GenerationSummary(
            generation=self.generation,
            generations=self.settings.rounds,
            best=max(accuracies) if accuracies else None,
            average=sum(accuracies) / len(accuracies) if accuracies else None,
            failed=sum(r["status"] != "ok" for r in results),
            trained=sum(not r["cached"] for r in results),
            cached=sum(bool(r["cached"]) for r in results),
            seconds=round(self.generation_elapsed, 3),
            population_file=population_file,
            eta_seconds=self._eta(),
        )
        self.history.append(dataclasses.asdict(summary))
        if self.generation >= self.settings.rounds:
            self.finished = True
            self._save()
            return [summary, self.finished_event("finished")]
        self.population = self._breed(scored)
        self.generation += 1
        self.results = {}
        self.generation_elapsed = 0.0
        self._save()
        return [summary]

    def _annotated(self, genome: Genome) -> Genome:
        """The genome as the original wrote it: with its (flat) input size and class count."""
        g = self.data.geometry
        return dataclasses.replace(genome, input_shape=g.width * g.height * g.channels,
                                   output_size=self.data.n_classes)

    def _breed(self, scored: list[ScoredGenome]) -> list[Genome]:
        s, geometry, n_classes = self.settings, self.data.geometry, self.data.n_classes
        if s.strategy == "random":
            size = s.size_of(self.generation + 1)
            return [random_genome(self.rng, self.taxonomy, geometry, n_classes) for _ in range(size)]
        return next_generation(
            scored, self.rng, self.taxonomy, geometry, size=s.population, retain=s.retain,
            random_select=s.random_select, mutate_chance=s.mutate_chance, elites=s.elites, n_classes=n_classes,
            selection=s.selection, tournament_size=s.tournament_size,
        )

    def run(self, cancel: threading.Event | None = None) -> Iterator[Event]:
        """Yield :class:`RunStarted`, then every event until the run ends with :class:`RunFinished`.

        Setting ``cancel`` ends it after saving (status "cancelled"; resumable). A fatal error
        yields RunFinished with status "error" and is then raised as SearchError.
        """
        cancel = cancel or threading.Event()
        self._save()  # resumable from the first moment, before any individual is done
        yield self._emit([self.started_event()])[0]
        if self.finished:
            yield self._emit([self.finished_event("finished", "the run had finished already")])[0]
            return
        try:
            while not self.finished:
                if cancel.is_set():
                    raise EvaluationCancelled
                yield from self.step(cancel)
        except EvaluationCancelled:
            self._in_flight.clear()
            self._save()
            yield self._emit([self.finished_event("cancelled", "stopped; resume to continue")])[0]
        except Exception as exc:
            self._in_flight.clear()
            message = str(exc) if isinstance(exc, SearchError) else f"{type(exc).__name__}: {exc}"
            yield self._emit([self.finished_event("error", message)])[0]
            if isinstance(exc, SearchError):
                raise
            raise SearchError(message) from exc

    @property
    def scored(self) -> list[ScoredGenome]:
        """The current generation with the accuracies recorded so far."""
        out = []
        for i, genome in enumerate(self.population):
            r = self.results.get(i)
            out.append(ScoredGenome(genome, r["accuracy"] if r and r["status"] == "ok" else None))
        return out
