"""A trial: one genome to evaluate, with its lineage, its status and, once told, how it did.

A :class:`Trial` is shared by the strategy that proposed it (``ask``) and the runner that has it
trained and reports back (``tell``), as KerasTuner's Oracle and Tuner share theirs. Its
:meth:`Trial.to_result` is the record a run keeps per individual (``results.json`` and
``state.json``), in the format runs have always written, so older runs resume.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from dicebox.evolution.training_orders import Evaluation
from dicebox.nets.genome import Genome

#: Stop reasons that cut a network short by the search's decision (not its own early stopping).
SEARCH_STOPS = ("rung", "time limit")


class TrialStatus(str, enum.Enum):
    PENDING = "pending"  # proposed, not handed out (again, after a restart)
    RUNNING = "running"  # handed to the runner: queued or training
    COMPLETED = "completed"
    STOPPED_EARLY = "stopped early"  # cut short at a rung or by the time limit: a lower-fidelity score
    FAILED = "failed"

    @property
    def done(self) -> bool:
        return self in (TrialStatus.COMPLETED, TrialStatus.STOPPED_EARLY, TrialStatus.FAILED)


@dataclass(eq=False)
class Trial:
    """``index`` is 0-based within ``generation``; ``born`` is the generation it was bred for."""

    genome: Genome
    generation: int
    index: int
    origin: str = ""  # "default", "seeded", "variation", "mutant", "child", "elite" or "random"
    parents: tuple[str, ...] = ()  # fingerprints
    born: int = 0
    status: TrialStatus = TrialStatus.PENDING
    rungs: tuple[tuple[int, float], ...] = ()  # (epoch, minimum validation accuracy) it is held to
    accuracy: float | None = None
    error: str | None = None
    seconds: float = 0.0
    cached: bool = False
    worker: str = ""
    stop_reason: str = ""
    epochs_run: int | None = None
    history: dict[str, list[float]] = field(default_factory=dict)
    rung_scores: tuple[tuple[int, float], ...] = ()  # (epoch, best validation accuracy up to it)

    @property
    def fingerprint(self) -> str:
        return self.genome.fingerprint()

    @property
    def done(self) -> bool:
        return self.status.done

    @property
    def ok(self) -> bool:
        return self.status in (TrialStatus.COMPLETED, TrialStatus.STOPPED_EARLY)

    def lineage(self) -> dict[str, Any]:
        return {"origin": self.origin, "parents": list(self.parents), "born": self.born}

    def evaluation(self) -> Evaluation:
        """What the fitness cache keeps of it."""
        return Evaluation("ok" if self.ok else "failed", self.accuracy, self.error, self.seconds)

    def complete(self, evaluation: Evaluation, *, cached: bool = False, worker: str = "") -> None:
        """Record ``evaluation``: the trial is then completed, stopped early or failed."""
        training = evaluation.training or {}
        self.accuracy, self.error, self.seconds = evaluation.accuracy, evaluation.error, evaluation.seconds
        self.cached, self.worker = cached, worker
        self.stop_reason = str(training.get("stop_reason", "") or "")
        self.epochs_run = training.get("epochs_run")
        self.history = dict(training.get("history") or {})
        if not evaluation.ok:
            self.status = TrialStatus.FAILED
        elif self.stop_reason in SEARCH_STOPS:
            self.status = TrialStatus.STOPPED_EARLY
        else:
            self.status = TrialStatus.COMPLETED

    def to_result(self) -> dict[str, Any]:
        """The per-individual record of ``results.json`` (1-based ``index``)."""
        return {
            "index": self.index + 1,
            "fingerprint": self.fingerprint,
            **self.evaluation().summary(),
            "cached": self.cached,
            "worker": self.worker,
            **self.lineage(),
            "stop_reason": self.stop_reason,
            "epochs_run": self.epochs_run,
            "history": self.history,
            "trial": self.status.value,
            "rung_scores": [list(pair) for pair in self.rung_scores],
        }

    @classmethod
    def from_result(cls, genome: Genome, generation: int, index: int, lineage: dict[str, Any],
                    result: dict[str, Any] | None) -> Trial:
        """A trial as a run saved it; without ``result`` it is still to be evaluated."""
        trial = cls(genome, generation, index, origin=str(lineage.get("origin", "")),
                    parents=tuple(lineage.get("parents") or ()), born=int(lineage.get("born", generation)))
        if result is None:
            return trial
        evaluation = Evaluation.from_dict(result)
        trial.accuracy, trial.error, trial.seconds = evaluation.accuracy, evaluation.error, evaluation.seconds
        trial.cached, trial.worker = bool(result.get("cached", False)), str(result.get("worker", ""))
        trial.stop_reason = str(result.get("stop_reason", "") or "")
        trial.epochs_run = result.get("epochs_run")
        trial.history = dict(result.get("history") or {})
        trial.rung_scores = tuple((int(e), float(s)) for e, s in result.get("rung_scores") or ())
        status = result.get("trial")
        if status in {s.value for s in TrialStatus if s.done}:
            trial.status = TrialStatus(status)
        elif not evaluation.ok:
            trial.status = TrialStatus.FAILED
        else:  # written before trials had a status
            trial.status = (TrialStatus.STOPPED_EARLY if trial.stop_reason in SEARCH_STOPS
                            else TrialStatus.COMPLETED)
        return trial
