"""Following evolution runs and trainings without Qt: the runs that can be resumed, the followed
run's champion and where it came from, and the model a run or a training leaves to use.

The window's Train and evolve tab, the demo window and tests hand it the event lines of
``dicebox evolve --json-events`` and ``dicebox train --json-events`` (:meth:`RunMonitor.feed`, as
dicts) and how the child process ended (:meth:`RunMonitor.ended`); it tells what changed as
dataclass events through :attr:`RunMonitor.events`. :meth:`RunMonitor.scan` and
:meth:`RunMonitor.ended` read run folders: a window calls them off its UI thread.
"""

from __future__ import annotations

import signal
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from dicebox.evolution.run_folder import RunFolder, RunStateError

from .events import EventEmitter

GIVEN_ORIGINS = ("default", "seeded")


def percent(value: float) -> str:
    """An accuracy (0..1) as the operator reads it: "87.5 %"."""
    return f"{value * 100:.1f} %"


@dataclass(frozen=True)
class ResumableRun:
    """A run with a readable state that has not finished (stopped, crashed or still running elsewhere)."""

    run_id: str
    path: Path
    generation: int | None  # the generation it was in when its state was last written

    def describe(self) -> str:
        return self.run_id if self.generation is None else f"{self.run_id} · generation {self.generation}"


@dataclass(frozen=True)
class Individual:
    """A network of the followed run, as its IndividualTrained event told it."""

    generation: int
    index: int
    accuracy: float | None
    genome: str  # one-line summary

    def describe(self) -> str:
        accuracy = "failed" if self.accuracy is None else percent(self.accuracy)
        return f"generation {self.generation} #{self.index} ({accuracy})"


@dataclass(frozen=True)
class Lineage:
    """Where a network came from: how it was made, in which generation, from which parents."""

    origin: str  # "default", "seeded", "variation", "mutant", "child", "elite", "random" or "" (unknown)
    born: int
    parents: tuple[Individual | str, ...]  # a parent this monitor saw trained, or its fingerprint

    @property
    def given(self) -> bool:
        """Seeded into the run (the default network or one the operator gave), not found by the search."""
        return self.origin in GIVEN_ORIGINS

    def describe(self) -> str:
        """One sentence for the operator, e.g. "a crossover of generation 1 #2 (80.0 %) and ... — found by the search"
        (the champion's own line says the generation it was born in)."""
        parents = [p.describe() if isinstance(p, Individual) else f"network {p[:8]}" for p in self.parents]
        both = " and ".join(parents) or "an earlier network"
        how = {
            "default": "the default network, seeded into generation 1",
            "seeded": "a network the run was seeded with",
            "variation": f"a variation of {both}",
            "mutant": f"a mutant of {both}",
            "child": f"a crossover of {both}",
            "elite": f"kept unchanged from {both}",
            "random": "a random network",
        }.get(self.origin)
        if how is None:
            return ""
        return f"{how} — {'given, not found by the search' if self.given else 'found by the search'}"


@dataclass(frozen=True)
class Champion:
    """The best network of the followed run so far."""

    accuracy: float  # validation accuracy during the search
    generation: int
    index: int
    genome: str  # one-line summary ("" when the event did not say)
    fingerprint: str
    bundle: Path | None
    lineage: Lineage
    test_accuracy: float | None = None  # after the final retraining, on images the search never saw
    evaluated_on: str = ""  # "test" or "validation"
    test_samples: int = 0


@dataclass(frozen=True)
class RunFollowed:
    """A run started (or was resumed): its sizes, as the run itself says them."""

    run_id: str
    run_dir: Path | None
    generations: int
    population: int
    epochs: int
    individuals: int
    resumed: bool


@dataclass(frozen=True)
class ChampionFound:
    """The followed run has a new champion, or its champion was retrained."""

    champion: Champion


@dataclass(frozen=True)
class ModelReady:
    """A bundle to classify with: the network a training made, or the run's champion."""

    path: Path
    what: str  # "trained network" or "champion"


@dataclass(frozen=True)
class RunsListed:
    """The runs that can be resumed, newest first."""

    runs: tuple[ResumableRun, ...]


@dataclass(frozen=True)
class ChildEnded:
    """The training or evolution process ended; ``message`` says how, for the status line."""

    kind: str  # "training" or "evolution"
    code: int
    message: str


RunEvent = RunFollowed | ChampionFound | ModelReady | RunsListed | ChildEnded


def resumable_runs(population_dir: Path) -> list[ResumableRun]:
    """Every run under ``population_dir`` with a readable state that has not finished, newest first."""
    try:
        folders = [RunFolder(p) for p in Path(population_dir).iterdir() if p.is_dir()]
    except OSError:
        return []
    runs = []
    for folder in sorted(folders, key=lambda f: f.run_id, reverse=True):
        state = _unfinished_state(folder)
        if state is not None:
            generation = state.get("generation")
            runs.append(ResumableRun(folder.run_id, folder.path, generation if isinstance(generation, int) else None))
    return runs


def is_resumable(population_dir: Path, run_id: str) -> bool:
    """Whether the run ``run_id`` can be resumed now (it may have finished since it was listed)."""
    try:
        folder = RunFolder.locate(population_dir, run_id)
    except RunStateError:
        return False
    return _unfinished_state(folder) is not None


def _unfinished_state(folder: RunFolder) -> dict[str, Any] | None:
    if not folder.state_file.is_file():
        return None
    try:
        state = folder.read_state()
    except RunStateError:
        return None
    return None if state.get("finished", False) else state


def crash_message(kind: str, code: int, *, resumable: bool) -> str:
    """What the operator reads when the training process was killed by a signal."""
    try:
        name = signal.Signals(-code).name
    except ValueError:
        name = f"signal {-code}"
    text = f"{kind.capitalize()} crashed ({name}); its output is in the service log tab."
    if kind == "evolution" and resumable:
        text += " Its state up to the last finished network is saved: Resume it from the list."
    return text


class RunMonitor:
    """The runs in ``population_dir`` that can be resumed, and the run or training being followed."""

    def __init__(self, population_dir: Path) -> None:
        self.population_dir = Path(population_dir)
        self.events: EventEmitter[RunEvent] = EventEmitter()
        self.runs: tuple[ResumableRun, ...] = ()
        self.run: RunFollowed | None = None
        self.champion: Champion | None = None
        self.model: ModelReady | None = None
        self.trained: dict[str, Any] | None = None  # the TrainFinished event of the last single training
        self.last_status = ""  # the RunFinished status of the followed run ("" until it ends)
        self.last_message = ""  # and its message
        self._individuals: dict[str, list[Individual]] = {}  # fingerprint -> its trainings in this run
        self._lock = threading.Lock()

    @property
    def model_path(self) -> Path | None:
        return None if self.model is None else self.model.path

    # Runs on disk -------------------------------------------------------------------------------
    def scan(self) -> tuple[ResumableRun, ...]:
        """Read which runs can be resumed (file reads) and tell them."""
        runs = tuple(resumable_runs(self.population_dir))
        with self._lock:
            self.runs = runs
        self.events.emit(RunsListed(runs))
        return runs

    def is_resumable(self, run_id: str) -> bool:
        return is_resumable(self.population_dir, run_id)

    # A training or an evolution starting and ending ---------------------------------------------
    def starting(self, kind: str) -> None:
        """A new training or evolution is about to start: forget the last one's results."""
        with self._lock:
            self.trained = None
            self.last_status = self.last_message = ""
            if kind == "training":
                self.model = None

    def ended(self, kind: str, code: int) -> ChildEnded:
        """The child process ended with ``code``: list the runs again and tell how it went."""
        runs = self.scan()
        model = None
        if kind == "training" and code == 0 and self.trained is not None and self.trained.get("bundle"):
            model = ModelReady(Path(self.trained["bundle"]), "trained network")
        if code == 0 and model is not None:
            trained = self.trained or {}
            message = f"Training finished: {model.path.name}"
            if trained.get("accuracy") is not None:
                message += f", {percent(trained['accuracy'])} {trained.get('evaluated_on', 'validation')} accuracy"
            if trained.get("best_epoch") is not None:
                message += f" (best epoch {trained['best_epoch']} of {trained.get('epochs_run', '?')})"
        elif code == 0 and kind == "evolution" and self.run is not None and self.last_status:
            message = f"Run {self.run.run_id} {self.last_status}" + (f": {self.last_message}" if self.last_message else "")
        elif code == 0:
            message = f"{kind.capitalize()} finished"
        elif code in (130, -2):
            message = f"{kind.capitalize()} stopped; resume it from the list."
        elif code < 0:
            message = crash_message(kind, code, resumable=bool(runs))
        else:
            message = f"{kind.capitalize()} ended with status {code}; see the service log tab."
        if model is not None:
            with self._lock:
                self.model = model
            self.events.emit(ModelReady(model.path, model.what))
        event = ChildEnded(kind, code, message)
        self.events.emit(event)
        return event

    # The event stream ---------------------------------------------------------------------------
    def feed(self, event: dict[str, Any]) -> None:
        """One event line of ``dicebox evolve/train --json-events``; what changed is told."""
        kind = event.get("event")
        if kind == "RunStarted":
            run_dir = event.get("run_dir")
            followed = RunFollowed(
                run_id=str(event.get("run_id", "")),
                run_dir=Path(run_dir) if run_dir else None,
                generations=int(event.get("generations", 1)),
                population=int(event.get("population", 1)),
                epochs=int(event.get("epochs", 1)),
                individuals=int(event.get("individuals", 0)),
                resumed=bool(event.get("resumed", False)),
            )
            with self._lock:
                self.run, self.champion, self.last_status, self.last_message = followed, None, "", ""
                self._individuals = {}
            self.events.emit(followed)
        elif kind == "IndividualTrained":
            if event.get("fingerprint"):
                seen = Individual(
                    int(event.get("generation", 0)),
                    int(event.get("index", 0)),
                    event.get("accuracy"),
                    str(event.get("genome", "")),
                )
                self._individuals.setdefault(event["fingerprint"], []).append(seen)
        elif kind == "ChampionChanged":
            self._crown(event)
        elif kind == "ChampionRetrained":
            self._retrained(event)
        elif kind == "TrainFinished":
            with self._lock:
                self.trained = dict(event)
        elif kind == "RunFinished":
            with self._lock:
                self.last_status = str(event.get("status", ""))
                self.last_message = str(event.get("message") or "")

    def _crown(self, event: dict[str, Any]) -> None:
        fingerprint = str(event.get("fingerprint", ""))
        trainings = self._individuals.get(fingerprint)
        generation, index = int(event.get("generation", 0)), int(event.get("index", 0))
        born = int(event.get("born") or generation)
        lineage = Lineage(
            origin=str(event.get("origin", "")),
            born=born,
            parents=tuple(self._parent(str(p), born, (generation, index)) for p in event.get("parents") or ()),
        )
        bundle = Path(event["bundle"]) if event.get("bundle") else None
        champion = Champion(
            accuracy=float(event["accuracy"]),
            generation=generation,
            index=index,
            genome=trainings[-1].genome if trainings else "",
            fingerprint=fingerprint,
            bundle=bundle,
            lineage=lineage,
        )
        self._set_champion(champion, bundle)

    def _set_champion(self, champion, bundle: Path | None) -> None:
        """Keep the champion (and its bundle as the model to use) and tell the listeners."""
        with self._lock:
            self.champion = champion
            if bundle is not None:
                self.model = ModelReady(bundle, "champion")
        self.events.emit(ChampionFound(champion))
        if bundle is not None:
            self.events.emit(ModelReady(bundle, "champion"))

    def _parent(self, fingerprint: str, born: int, child: tuple[int, int]) -> Individual | str:
        """The parent as last trained before generation ``born``; else in it (a variation's seed is
        trained beside it in generation 1), never the ``child`` (generation, index) itself."""
        trainings = [i for i in self._individuals.get(fingerprint, ()) if (i.generation, i.index) != child]
        earlier = [i for i in trainings if i.generation < born] or [i for i in trainings if i.generation == born]
        return earlier[-1] if earlier else fingerprint

    def _retrained(self, event: dict[str, Any]) -> None:
        champion = self.champion
        if champion is None or event.get("accuracy") is None:
            return
        bundle = Path(event["bundle"]) if event.get("bundle") else champion.bundle
        champion = replace(
            champion,
            test_accuracy=float(event["accuracy"]),
            evaluated_on=str(event.get("evaluated_on", "")),
            test_samples=int(event.get("test_samples") or 0),
            bundle=bundle,
        )
        self._set_champion(champion, bundle)


def describe_champion(champion: Champion) -> list[str]:
    """The champion box's lines: accuracy and place, where it came from, the final retraining."""
    lines = [
        f"Champion: {percent(champion.accuracy)} validation accuracy, "
        f"generation {champion.generation} #{champion.index}"
    ]
    origin = champion.lineage.describe()
    if origin:
        lines.append(f"Origin: {origin}")
    if champion.test_accuracy is not None:
        images = f"{champion.test_samples} " if champion.test_samples else ""
        where = f"{images}unseen test images" if champion.evaluated_on == "test" else "the validation images"
        lines.append(f"Retrained on all search data: {percent(champion.test_accuracy)} on {where}")
    return lines
