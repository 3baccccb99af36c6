"""The settings of a search: its strategy, budget (individuals or seconds) and the genetic algorithm's knobs."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dicebox.evolution.training_orders import TrainSpec

if TYPE_CHECKING:
    from dicebox.config import Config

STRATEGIES = ("evolve", "random")
SELECTIONS = ("truncation", "tournament")


@dataclass(frozen=True)
class SearchSettings:
    """The budget and the genetic algorithm's knobs (the original's ``[EVOLUTION]`` section)."""

    strategy: str = "evolve"
    generations: int = 4
    population: int = 8
    retain: float = 0.4
    random_select: float = 0.1
    mutate_chance: float = 0.2
    elites: int = 2
    selection: str = "tournament"
    tournament_size: int = 3
    # Generation 1 holds the default network (dicebox.nets.genome.default_genome) besides any given genomes.
    seed_default: bool = True
    # Seconds for the whole run, the final retraining included: no training starts once spent.
    time_budget: float | None = None
    final_share: float = 0.25  # of the time budget, kept for the final retraining
    final_epochs: int = 30  # the champion's retraining (0: none); it has its own early stopping
    final_patience: int = 4
    # Multi-fidelity (ASHA-like): at epochs 1, eta, eta^2... a network not in the best 1/eta of the
    # curves measured so far at that epoch stops there. 0: every network runs all its epochs.
    rung_eta: int = 3
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
        if self.time_budget is not None and not (self.time_budget > 0 and math.isfinite(self.time_budget)):
            raise ValueError(f"time budget must be a positive number of seconds, got {self.time_budget}")
        if not 0 <= self.final_share < 1 or self.final_epochs < 0 or self.final_patience < 0:
            raise ValueError("final_share must be in [0, 1), final_epochs and final_patience at least 0")
        if self.rung_eta == 1 or self.rung_eta < 0:
            raise ValueError(f"rung_eta must be 0 (off) or at least 2, got {self.rung_eta}")
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

    @property
    def search_deadline(self) -> float | None:
        """Seconds of the budget after which no search training starts (the rest is the final's)."""
        if self.time_budget is None:
            return None
        return self.time_budget * (1 - self.final_share) if self.final_epochs else self.time_budget

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
