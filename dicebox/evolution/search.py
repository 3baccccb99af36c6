"""The runner: hands a strategy's trials to an evaluator, tells it the outcomes, persists the run.

:class:`Evolution` asks its :class:`~dicebox.evolution.strategies.Strategy` for trials (the
genetic algorithm with ``strategy="evolve"``, the random-search baseline with ``"random"``, both
wrapped in successive halving), has an evaluator train them (in this process, local worker
processes or RabbitMQ workers), tells the strategy how each did, and keeps the run store
(:class:`~dicebox.evolution.run_folder.RunFolder`) up to date. Each :meth:`Evolution.step`
records one trial; :meth:`Evolution.run` is the generator the CLI and the GUI drive. The whole
state (the strategy's generation, trials and RNG, the fitness cache, the champion) is saved to
``state.json`` after every trial, so a run restored with :meth:`Evolution.resume` or
:meth:`Evolution.from_state` ends exactly as an uninterrupted one would (given a deterministic
fitness).

The fitness cache is keyed by (genome fingerprint, data set version): the same network on the
same data is never trained twice, be it a kept parent, a repeated child or a resumed run.
"""

from __future__ import annotations

import dataclasses
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

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
from dicebox.evolution.final import final_order, retrained, time_left
from dicebox.evolution.run_clock import RunClock
from dicebox.evolution.run_folder import Exporter, RunFolder, new_run_id
from dicebox.evolution.settings import SELECTIONS, STRATEGIES, SearchSettings
from dicebox.evolution.strategies import GenerationalSearch, make_strategy
from dicebox.evolution.taxonomy import Taxonomy
from dicebox.evolution.training_orders import Evaluation, TrainingOrder, TrainingOrderResult, TrainSpec
from dicebox.evolution.trial import Trial, TrialStatus
from dicebox.nets.genome import Genome, Population, ScoredGenome

__all__ = ["SELECTIONS", "STRATEGIES", "Evolution", "Exporter", "SearchError", "SearchSettings"]

STATE_FORMAT = "dicebox-evolution-state"
STATE_VERSION = 1


class SearchError(RuntimeError):
    """A fatal error: the search stopped (its state is saved, so it can be resumed once fixed)."""


class Evolution:
    """A resumable search; see the module docstring.

    ``initial`` seeds the first generation (e.g. from a saved ``population.json``): made valid,
    then the default network, then variations of them up to ``population``. ``exporter`` writes
    the champion bundle (default :func:`dicebox.evolution.champion.export_champion`); without a
    ``run`` folder nothing is written at all. ``strategy`` replaces the one ``settings`` names.
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
        strategy: GenerationalSearch | None = None,
    ) -> None:
        self.settings = settings
        self.data = data
        self.evaluator = evaluator
        self.taxonomy = taxonomy or Taxonomy()
        self.seed = seed
        self.run_folder = run
        self.run_id = run_id or (run.run_id if run is not None else new_run_id())
        self.exporter = exporter
        self.rng = random.Random(seed)
        self._own_strategy = strategy is None
        self.strategy = strategy or self._make_strategy(initial)
        self.cache: dict[str, dict[str, Any]] = {}
        self.champion: dict[str, Any] | None = None
        self.history: list[dict[str, Any]] = []
        self.trained = self.cached = self.failed = 0
        self.watch = RunClock(clock)
        self.finished = False
        self.search_done = False  # the search is over; the champion's retraining may still be due
        self.resumed = False
        self._listeners: list[Callable[[Event], None]] = []
        self._in_flight: dict[str, Trial] = {}  # by order id
        self._queue: list[Trial] = []  # handed out by the strategy, waiting for a twin in training or the cache
        self._announced = 0

    def _make_strategy(self, initial: Sequence[Genome] = ()) -> GenerationalSearch:
        return make_strategy(self.settings, self.taxonomy, self.data.geometry, self.data.n_classes, self.rng,
                             initial)

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
    def resume(cls, run: RunFolder, evaluator: Evaluator, *, exporter: Exporter | None = None) -> Evolution:
        """Continue the run saved in ``run`` (its ``state.json``)."""
        return cls.from_state(run.read_state(), evaluator, run=run, exporter=exporter)

    # The strategy's view ------------------------------------------------------------------------
    @property
    def generation(self) -> int:
        return self.strategy.generation

    @property
    def population(self) -> list[Genome]:
        return [t.genome for t in self.strategy.trials]

    @property
    def lineage(self) -> list[dict[str, Any]]:
        return [t.lineage() for t in self.strategy.trials]

    @property
    def results(self) -> dict[int, dict[str, Any]]:
        """The current generation's recorded individuals by 0-based index."""
        return {t.index: t.to_result() for t in self.strategy.trials if t.done}

    @property
    def scored(self) -> list[ScoredGenome]:
        """The current generation with the accuracies recorded so far."""
        return self.strategy.scored()

    @property
    def curves(self) -> list[list[float]]:
        """Validation accuracy per epoch of every network trained (what the rungs are set from)."""
        return list(getattr(self.strategy, "curves", []))

    @property
    def done(self) -> int:
        """Individuals evaluated in the whole run so far."""
        before = sum(self.settings.size_of(g) for g in range(1, self.generation))
        return before + sum(t.done for t in self.strategy.trials)

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
            **self.strategy.get_state(),  # generation, population, lineage, results, rng, curves
            "cache": dict(self.cache),
            "champion": self.champion,
            "history": list(self.history),
            "counts": {"trained": self.trained, "cached": self.cached, "failed": self.failed},
            "elapsed": round(self.watch.elapsed, 3),
            "generation_elapsed": round(self.watch.generation_elapsed, 3),
            "finished": self.finished,
            "search_done": self.search_done,
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
        if self._own_strategy:
            self.strategy = self._make_strategy()
        self.strategy.set_state(state)
        self.cache = dict(state["cache"])
        self.champion = state.get("champion")
        self.history = list(state.get("history", []))
        counts = state.get("counts", {})
        self.trained = int(counts.get("trained", 0))
        self.cached = int(counts.get("cached", 0))
        self.failed = int(counts.get("failed", 0))
        self.watch.restart(float(state.get("elapsed", 0.0)), float(state.get("generation_elapsed", 0.0)))
        self.finished = bool(state.get("finished", False))
        self.search_done = bool(state.get("search_done", self.finished))
        self.resumed = True
        self._abandon()
        self._announced = 0

    @property
    def elapsed(self) -> float:
        """Seconds the run has taken so far, over all its sessions (as of the last save)."""
        return self.watch.elapsed

    def _save(self) -> None:
        self.watch.tick()
        if self.run_folder is not None:
            self.run_folder.write_state(self.get_state())

    # Progress ---------------------------------------------------------------------------------
    def subscribe(self, listener: Callable[[Event], None]) -> None:
        """Call ``listener`` with every event :meth:`step` produces."""
        self._listeners.append(listener)

    def _emit(self, events: list[Event]) -> list[Event]:
        for event in events:
            for listener in self._listeners:
                listener(event)
        return events

    def _eta(self) -> float | None:
        if self.settings.time_budget is not None:
            return round(max(0.0, self.settings.time_budget - self.watch.spent()), 1)
        return EtaEstimator(self.settings.total).update(self.done, self.watch.elapsed)

    def _out_of_time(self) -> bool:
        deadline = self.settings.search_deadline
        return deadline is not None and self.watch.spent() >= deadline

    def started_event(self) -> RunStarted:
        """The first event of a (possibly resumed) run: where its files are."""
        folder = self.run_folder
        return RunStarted(
            run_id=self.run_id,
            run_dir=None if folder is None else str(folder.path),
            champion_bundle=None if folder is None else str(folder.champion_dir),
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
            evaluator=getattr(self.evaluator, "description", ""),
            time_budget=self.settings.time_budget,
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
            seconds=round(self.watch.elapsed, 3),
            champion_test_accuracy=champion.get("test_accuracy"),
        )

    # The loop ---------------------------------------------------------------------------------
    def _key(self, genome: Genome) -> str:
        return f"{genome.fingerprint()}@{self.data.version}"

    def step(self, cancel: threading.Event | None = None) -> list[Event]:
        """Record one trial (from the cache, or the next result the evaluator delivers), and close
        the generation when it was the last. Raises EvaluationCancelled when ``cancel`` is set
        while waiting, SearchError on a fatal error; returns [] once finished."""
        cancel = cancel or threading.Event()
        if self.finished:
            return []
        if self.search_done:
            return self._emit(self._retrain_champion(cancel))
        events: list[Event] = []
        if self._announced != self.generation:
            self._announced = self.generation
            events.append(GenerationStarted(self.generation, self.settings.rounds, len(self.strategy.trials)))
        if not self._queue and len(self._in_flight) < self.evaluator.capacity:
            self._queue += self.strategy.ask(1)
        # Trials are recorded in order where they can be; one whose network is cached, in its turn.
        head = self._queue[0] if self._queue else None
        out_of_time = self._out_of_time()
        if head is None and not self._in_flight:
            pass  # every result is in (a run stopped just before closing its generation)
        elif head is not None and self._key(head.genome) in self.cache:
            self._queue.pop(0)
            events += self._record(head, Evaluation.from_dict(self.cache[self._key(head.genome)]), cached=True)
        elif out_of_time and not self._in_flight:
            self._abandon()
            self.strategy.drop_untold()  # the budget is spent: the generation ends with what was trained
        else:
            self._dispatch(out_of_time)
            events += self._receive(cancel)
        if self.strategy.complete:
            events += self._close_generation() if self.strategy.trials else self._end_search()
        return self._emit(events)

    def _dispatch(self, out_of_time: bool) -> None:
        """Submit waiting trials (in order) while the evaluator has room; a trial whose network is
        in training or cached waits, and is recorded from the cache in its turn."""
        busy = {self._key(t.genome) for t in self._in_flight.values()}

        def room() -> bool:
            return len(self._in_flight) < self.evaluator.capacity and not out_of_time

        def submit(trial: Trial) -> bool:
            key = self._key(trial.genome)
            if key in busy or key in self.cache:
                return False
            order = TrainingOrder(self._order_id(trial), trial.genome, self.data.dataset_id, self.data.version,
                                  self._order_spec(trial))
            self.evaluator.submit(order)
            self._in_flight[order.order_id] = trial
            busy.add(key)
            return True

        for trial in list(self._queue):
            if not room():
                break
            if submit(trial):
                self._queue.remove(trial)
        while room() and (asked := self.strategy.ask(1)):
            if not submit(asked[0]):
                self._queue.append(asked[0])

    def _order_id(self, trial: Trial) -> str:
        return f"{self.run_id}/{trial.generation}/{trial.index + 1}/{trial.fingerprint}"

    def _order_spec(self, trial: Trial) -> TrainSpec:
        """The run's training spec with what this trial needs now: rungs, time left, model wanted."""
        deadline = self.settings.search_deadline
        limit = None if deadline is None else max(1e-3, deadline - self.watch.spent())
        above = -1.0 if self.champion is None else float(self.champion["accuracy"])
        return dataclasses.replace(self.settings.train, rungs=trial.rungs, time_limit=limit, ship_above=above)

    def _abandon(self) -> None:
        """Trials handed out but not recorded go back to the strategy (a restart trains them)."""
        for trial in [*self._in_flight.values(), *self._queue]:
            if not trial.done:
                trial.status = TrialStatus.PENDING
        self._in_flight.clear()
        self._queue.clear()

    def _next(self, cancel: threading.Event) -> tuple[Trial | None, TrainingOrderResult]:
        while True:
            result = self.evaluator.next_result(cancel)
            if result.order_id not in self._in_flight:
                # Redelivered or from before a restart, and recorded already: results count once.
                self.evaluator.acknowledge(result)
                continue
            trial = self._in_flight.pop(result.order_id)
            if result.kind != "done" or result.evaluation is None:
                raise SearchError(f"training order {result.order_id} could not run ({result.kind}): {result.message}")
            return trial, result

    def _receive(self, cancel: threading.Event) -> list[Event]:
        trial, result = self._next(cancel)
        assert trial is not None and result.evaluation is not None
        events = self._record(trial, result.evaluation, cached=False, result=result)
        self.evaluator.acknowledge(result)
        return events

    def _record(
        self, trial: Trial, evaluation: Evaluation, *, cached: bool, result: TrainingOrderResult | None = None
    ) -> list[Event]:
        if cached:
            evaluation = dataclasses.replace(evaluation, seconds=0.0)  # nothing was spent on it now
            self.cached += 1
        else:
            self.cache[self._key(trial.genome)] = evaluation.summary()
            self.trained += 1
        if not evaluation.ok:
            self.failed += 1
        trial.complete(evaluation, cached=cached, worker=result.worker if result is not None else "")
        self.strategy.tell(trial)
        events: list[Event] = []
        if evaluation.ok and not cached and self._beats_champion(evaluation.accuracy):
            events.append(self._crown(trial, evaluation, None if result is None else result.model))
        self._save()
        trained = IndividualTrained(
            generation=trial.generation,
            index=trial.index + 1,
            size=len(self.strategy.trials),
            genome=genome_summary(trial.genome),
            fingerprint=trial.fingerprint,
            accuracy=evaluation.accuracy,
            status=evaluation.status,
            error=evaluation.error,
            seconds=round(evaluation.seconds, 3),
            cached=cached,
            done=self.done,
            total=self.settings.total,
            eta_seconds=self._eta(),
            worker=trial.worker,
            origin=trial.origin,
            stop_reason=trial.stop_reason,
            epochs_run=trial.epochs_run,
            budget_used=None if self.settings.time_budget is None else round(self.watch.spent(), 3),
            budget_seconds=self.settings.time_budget,
            trial=trial.status.value,
        )
        return [trained, *events]

    def _beats_champion(self, accuracy: float | None) -> bool:
        return accuracy is not None and (self.champion is None or accuracy > self.champion["accuracy"])

    def _crown(self, trial: Trial, evaluation: Evaluation, model: bytes | None) -> ChampionChanged:
        bundle = None
        if model is not None and self.run_folder is not None:
            bundle = self.run_folder.export_champion(model, trial.genome, evaluation, self.data, self.exporter)
        assert evaluation.accuracy is not None
        self.champion = {
            "accuracy": evaluation.accuracy,
            "genome": trial.genome.to_dict(),
            "fingerprint": trial.fingerprint,
            "generation": trial.generation,
            "index": trial.index + 1,
            "bundle": bundle,
            **trial.lineage(),
        }
        return ChampionChanged(evaluation.accuracy, bundle, trial.genome.to_dict(), trial.fingerprint,
                               trial.generation, trial.index + 1, origin=trial.origin, parents=trial.parents,
                               born=trial.born)

    def _close_generation(self) -> list[Event]:
        trials = self.strategy.trials
        results = [t.to_result() for t in trials]
        scored = self.strategy.scored()
        population_file = None
        if self.run_folder is not None:
            population = Population(tuple(ScoredGenome(self._annotated(m.genome), m.accuracy) for m in scored))
            population_file = str(self.run_folder.write_generation(self.generation, population, results))
        self.watch.tick()
        accuracies = [m.accuracy for m in scored if m.accuracy is not None]
        summary = GenerationSummary(
            generation=self.generation,
            generations=self.settings.rounds,
            best=max(accuracies) if accuracies else None,
            average=sum(accuracies) / len(accuracies) if accuracies else None,
            failed=sum(not t.ok for t in trials),
            trained=sum(not t.cached for t in trials),
            cached=sum(t.cached for t in trials),
            seconds=round(self.watch.generation_elapsed, 3),
            population_file=population_file,
            eta_seconds=self._eta(),
        )
        self.history.append(dataclasses.asdict(summary))
        if self._out_of_time() or not self.strategy.advance():
            return [summary, *self._end_search()]
        self.watch.generation_elapsed = 0.0
        self._save()
        return [summary]

    def _end_search(self) -> list[Event]:
        self.search_done = True
        self._save()
        return []

    def _retrain_champion(self, cancel: threading.Event) -> list[Event]:
        """Train the champion again at full fidelity (all the search data, its own early stopping,
        within what is left of the time budget), export it as the run's bundle and score it on the
        test split; then the run is finished."""
        s, champion = self.settings, self.champion
        events: list[Event] = []
        left = time_left(s, self.watch.spent())
        if champion is not None and s.final_epochs and (left is None or left > 0):
            order = final_order(self.run_id, champion, s, self.data, left)
            self.evaluator.submit(order)
            self._in_flight[order.order_id] = Trial(order.genome, self.generation, -1, status=TrialStatus.RUNNING)
            _, result = self._next(cancel)
            evaluation = result.evaluation
            assert evaluation is not None
            bundle = champion.get("bundle")
            if evaluation.ok and result.model is not None and self.run_folder is not None:
                bundle = self.run_folder.export_champion(result.model, order.genome, evaluation, self.data,
                                                         self.exporter)
            events.append(retrained(champion, evaluation, bundle, s))
            self.evaluator.acknowledge(result)
        self.finished = True
        self._save()
        return [*events, self.finished_event("finished")]

    def _annotated(self, genome: Genome) -> Genome:
        """The genome as the original wrote it: with its (flat) input size and class count."""
        g = self.data.geometry
        return dataclasses.replace(genome, input_shape=g.width * g.height * g.channels,
                                   output_size=self.data.n_classes)

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
            self._abandon()
            self._save()
            yield self._emit([self.finished_event("cancelled", "stopped; resume to continue")])[0]
        except Exception as exc:
            self._abandon()
            message = str(exc) if isinstance(exc, SearchError) else f"{type(exc).__name__}: {exc}"
            yield self._emit([self.finished_event("error", message)])[0]
            if isinstance(exc, SearchError):
                raise
            raise SearchError(message) from exc
