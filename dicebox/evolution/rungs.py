"""Successive halving (ASHA-like rungs) around any generational strategy.

Every trial handed out carries rungs: at epochs 1, eta, eta^2... below its last epoch, the
minimum validation accuracy it must have reached by then, else it stops there. The minimum is
the worst of the best 1/eta among the curves measured so far at that epoch (never below chance),
and a rung is set only once 2 x eta curves reached it. The learning curves are what it is told.
"""

from __future__ import annotations

from typing import Any

from dicebox.evolution.operators import chance_level
from dicebox.evolution.strategies import GenerationalStrategy
from dicebox.evolution.trial import Trial
from dicebox.nets.genome import ScoredGenome


def rung_epochs(eta: int, epochs: int) -> tuple[int, ...]:
    """1, eta, eta^2... below ``epochs`` (none when ``eta`` is 0: rungs off)."""
    out, epoch = [], 1
    while eta and epoch < epochs:
        out.append(epoch)
        epoch *= eta
    return tuple(out)


class SuccessiveHalving:
    """Wraps ``inner``: asks it for trials and sets their rungs; collects the curves it is told."""

    def __init__(self, inner: GenerationalStrategy, *, eta: int, epochs: int, n_classes: int) -> None:
        self.inner = inner
        self.eta, self.epochs, self.n_classes = eta, epochs, n_classes
        self.curves: list[list[float]] = []  # validation accuracy per epoch of every network trained

    def rungs(self) -> tuple[tuple[int, float], ...]:
        """The rungs a trial started now is held to."""
        out = []
        for epoch in rung_epochs(self.eta, self.epochs):
            values = sorted((max(c[:epoch]) for c in self.curves if len(c) >= epoch), reverse=True)
            if len(values) >= 2 * self.eta:
                minimum = max(values[max(1, len(values) // self.eta) - 1], chance_level(self.n_classes))
                out.append((epoch, round(minimum, 6)))
        return tuple(out)

    # Strategy ------------------------------------------------------------------------------------
    def ask(self, n: int) -> list[Trial]:
        trials = self.inner.ask(n)
        rungs = self.rungs()
        for trial in trials:
            trial.rungs = rungs
        return trials

    def tell(self, trial: Trial) -> None:
        curve = trial.history.get("val_accuracy") or []
        if not trial.cached and curve:
            self.curves.append([round(float(v), 6) for v in curve])
            trial.rung_scores = tuple((e, round(max(curve[:e]), 6))
                                      for e in rung_epochs(self.eta, self.epochs) if len(curve) >= e)
        self.inner.tell(trial)

    def get_state(self) -> dict[str, Any]:
        return {**self.inner.get_state(), "curves": [list(c) for c in self.curves]}

    def set_state(self, state: dict[str, Any]) -> None:
        self.inner.set_state(state)
        self.curves = [list(c) for c in state.get("curves", [])]

    # The inner strategy's generations ------------------------------------------------------------
    @property
    def generation(self) -> int:
        return self.inner.generation

    @property
    def trials(self) -> list[Trial]:
        return self.inner.trials

    @property
    def rounds(self) -> int:
        return self.inner.rounds

    @property
    def complete(self) -> bool:
        return self.inner.complete

    def scored(self) -> list[ScoredGenome]:
        return self.inner.scored()

    def advance(self) -> bool:
        return self.inner.advance()

    def drop_untold(self) -> None:
        self.inner.drop_untold()
