"""TEST HOOK: a fast fake fitness, a pure function of the genome (no TensorFlow, no training).

Registered as the fitness "fake" (:mod:`dicebox.evolution.fitness_registry`), available, and the
default of new runs, only while ``DICEBOX_FAKE_FITNESS=1`` is set in the process that looks it up
(``dicebox evolve``, ``dicebox worker``, their worker processes). ``DICEBOX_FAKE_FITNESS_SECONDS``
makes each evaluation take that long, so tests can kill a process in the middle of one. Never set
these outside tests: the accuracies are made up. About one genome in nine "fails" (a stand-in for
a NaN loss), to exercise failure paths.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping

from dicebox.evolution.training_orders import Evaluation, TrainSpec
from dicebox.images import LabelledImages
from dicebox.nets.genome import DenseLayer, DropoutLayer, Genome

ENV = "DICEBOX_FAKE_FITNESS"
SECONDS_ENV = "DICEBOX_FAKE_FITNESS_SECONDS"
NAME = "fake"


def enabled(environ: Mapping[str, str] | None = None) -> bool:
    """True when the test hook is switched on in ``environ`` (default: this process's)."""
    return (os.environ if environ is None else environ).get(ENV, "") == "1"


def fake_accuracy(genome: Genome) -> float | None:
    """A made-up accuracy with some structure to climb (None: the genome "fails")."""
    digest = int(genome.fingerprint(), 16)
    if digest % 9 == 0:
        return None
    kinds = [layer.type for layer in genome.layers]
    score = 0.35 + (digest % 1000) / 10_000
    if "conv2d" in kinds:
        score += 0.15
    if any(isinstance(la, DenseLayer) and 32 <= la.size <= 128 for la in genome.layers):
        score += 0.1
    if genome.optimizer in ("adam", "adamax", "nadam"):
        score += 0.1
    score -= 0.04 * abs(len(genome.layers) - 3)
    if any(isinstance(la, DropoutLayer) and la.rate > 0.5 for la in genome.layers):
        score -= 0.05
    return round(min(0.99, max(0.01, score)), 4)


def fake_fitness(
    genome: Genome, data: LabelledImages | None, spec: TrainSpec, cancel: threading.Event | None = None
) -> tuple[Evaluation, bytes | None]:
    """The fitness signature of :func:`dicebox.evolution.fitness.train_fitness`, without training."""
    seconds = float(os.environ.get(SECONDS_ENV, "0") or 0)
    if seconds > 0 and (cancel or threading.Event()).wait(seconds):
        from dicebox.nets.training import TrainingCancelled

        raise TrainingCancelled("cancelled")
    accuracy = fake_accuracy(genome)
    if accuracy is None:
        return Evaluation.failed("fake NaN loss (test hook)", seconds), None
    return Evaluation("ok", accuracy, seconds=seconds), None


def register() -> None:
    """Register the fake fitness as "fake", available (and the default) only while the hook is on."""
    from dicebox.evolution.fitness_registry import register_fitness

    register_fitness(
        NAME,
        fake_fitness,
        available=enabled,
        unavailable=f"the order asks for the fake test fitness but {ENV}=1 is not set here",
        default=True,
        notice=f"{ENV}=1: scoring with the FAKE test fitness, nothing is trained",
        replace=False,
    )
