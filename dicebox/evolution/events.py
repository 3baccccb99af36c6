"""Progress events of a search: plain dataclasses, turned into one JSON object per line for the GUI.

:func:`event_to_dict` gives ``{"event": "<ClassName>", "time": <unix seconds>, ...fields}``;
generations and indices are 1-based; accuracies are validation accuracies in 0..1 (None for a
failed individual); ``eta_seconds`` estimates the time left in the whole run.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RunStarted:
    """Always the first event: where the run lives and where its champion bundle will be."""

    run_id: str
    run_dir: str | None
    champion_bundle: str | None
    state_file: str | None
    strategy: str
    generations: int
    population: int
    epochs: int
    individuals: int  # evaluations in the whole run
    dataset_id: str
    dataset_version: str
    seed: int
    resumed: bool
    generation: int  # where this (possibly resumed) run starts
    evaluator: str  # where networks are trained: this process, N local processes, or workers via a broker
    time_budget: float | None = None  # seconds for the whole run, the final retraining included
    test_samples: int = 0  # images held out as the test split (never seen by the search)


@dataclass(frozen=True)
class GenerationStarted:
    generation: int
    generations: int
    size: int


@dataclass(frozen=True)
class IndividualTrained:
    generation: int
    index: int
    size: int
    genome: str  # one-line summary, e.g. "adam: conv2d(16,3x3,s1,same,relu) > dense(64,relu)"
    fingerprint: str
    accuracy: float | None
    status: str  # "ok" or "failed"
    error: str | None
    seconds: float
    cached: bool
    done: int  # individuals evaluated in the run so far
    total: int
    eta_seconds: float | None
    worker: str = ""
    origin: str = ""  # "default", "seeded", "variation", "mutant", "child", "elite" or "random"
    stop_reason: str = ""  # "rung" (hopeless: stopped early), "early stopping", "time limit" or ""
    epochs_run: int | None = None
    budget_used: float | None = None  # seconds of the time budget spent so far
    budget_seconds: float | None = None
    trial: str = ""  # the trial's status: "completed", "stopped early" (rung, time limit) or "failed"


@dataclass(frozen=True)
class GenerationSummary:
    generation: int
    generations: int
    best: float | None
    average: float | None
    failed: int
    trained: int
    cached: int
    seconds: float
    population_file: str | None
    eta_seconds: float | None


@dataclass(frozen=True)
class ChampionChanged:
    accuracy: float
    bundle: str | None  # None when nothing was exported (the fake test fitness keeps no model)
    genome: dict[str, Any]
    fingerprint: str
    generation: int
    index: int
    origin: str = ""  # how it was made: "default"/"seeded" (given), or found: "variation", "mutant", "child"...
    parents: tuple[str, ...] = ()  # fingerprints
    born: int = 0  # generation


@dataclass(frozen=True)
class ChampionRetrained:
    """The champion trained again at full fidelity on all the search data; ``accuracy`` is on the
    test split the search never saw (``evaluated_on`` "validation" when the run holds none out)."""

    accuracy: float | None
    evaluated_on: str
    test_samples: int
    validation_accuracy: float | None
    search_accuracy: float
    epochs_run: int | None
    stop_reason: str
    seconds: float
    bundle: str | None
    genome: dict[str, Any]
    origin: str
    error: str | None = None


@dataclass(frozen=True)
class RunFinished:
    run_id: str
    status: str  # "finished", "cancelled" (resumable) or "error" (resumable once the cause is fixed)
    message: str
    generation: int
    champion_accuracy: float | None
    champion_genome: dict[str, Any] | None
    champion_bundle: str | None
    trained: int
    cached: int
    failed: int
    seconds: float
    champion_test_accuracy: float | None = None  # of the retrained champion, on the test split


Event = (
    RunStarted | GenerationStarted | IndividualTrained | GenerationSummary | ChampionChanged | ChampionRetrained
    | RunFinished
)


def event_to_dict(event: Event) -> dict[str, Any]:
    """The JSON object of one event line."""
    return {"event": type(event).__name__, "time": round(time.time(), 3), **dataclasses.asdict(event)}


def event_to_json(event: Event) -> str:
    """One line of JSON (no newline inside)."""
    return json.dumps(event_to_dict(event), separators=(",", ":"))


def genome_summary(genome: Any) -> str:
    """A short one-line description of a genome for tables and event lines."""
    parts = []
    for layer in genome.layers:
        if layer.type == "dense":
            parts.append(f"dense({layer.size},{layer.activation})")
        elif layer.type == "dropout":
            parts.append(f"dropout({layer.rate:g})")
        elif layer.type == "conv2d":
            kh, kw = layer.kernel_size
            sh, _sw = layer.strides
            bn = ",bn" if getattr(layer, "batch_norm", False) else ""
            parts.append(f"conv2d({layer.filters},{kh}x{kw},s{sh},{layer.padding},{layer.activation}{bn})")
        else:
            ph, pw = layer.pool_size
            parts.append(f"maxpool2d({ph}x{pw})")
    return f"{genome.optimizer}: " + " > ".join(parts) + _genes_summary(genome)


def _genes_summary(genome: Any) -> str:
    """The training genes that are set, e.g. " | global_average, lr 0.003, batch 32, aug translation 0.1"."""
    genes = genome.genes() if hasattr(genome, "genes") else {}
    words = []
    if "head" in genes:
        words.append(genes["head"])
    if "learning_rate" in genes:
        words.append(f"lr {genes['learning_rate']:g}")
    if "batch_size" in genes:
        words.append(f"batch {genes['batch_size']}")
    if "augmentation" in genes:
        kinds = " ".join(k if v is True else f"{k} {v:g}" for k, v in genes["augmentation"].items())
        words.append(f"aug {kinds}")
    return " | " + ", ".join(words) if words else ""


class EtaEstimator:
    """Time left = measured wall-clock per evaluated individual x individuals left.

    Wall-clock (not training seconds) so parallel workers and cache hits count as they really go.
    """

    def __init__(self, total: int, done: int = 0, elapsed: float = 0.0) -> None:
        self.total = total
        self.done = done
        self.elapsed = elapsed

    def update(self, done: int, elapsed: float) -> float | None:
        self.done, self.elapsed = done, elapsed
        return self.estimate()

    def estimate(self) -> float | None:
        if self.done <= 0:
            return None
        return round(self.elapsed / self.done * max(0, self.total - self.done), 1)
