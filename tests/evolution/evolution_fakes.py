"""Fast fake fitness functions and data for the evolution tests (importable by spawned workers)."""

from __future__ import annotations

import os
import threading

import numpy as np

from dicebox.evolution.fake_fitness import fake_accuracy
from dicebox.evolution.training_orders import Evaluation, TrainSpec
from dicebox.images import LabelledImages
from dicebox.nets.genome import Genome


def tiny_images(version: str = "tiny-v1") -> LabelledImages:
    """8 images of 16x20 in 2 classes: enough to fix a geometry; the fake fitness ignores pixels."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (8, 16, 20, 1), dtype=np.uint8)
    return LabelledImages(images, np.array([0, 1] * 4, dtype=np.int64), ("a", "b"), version)


def pure_fitness(
    genome: Genome, data: LabelledImages | None, spec: TrainSpec, cancel: threading.Event | None = None
) -> tuple[Evaluation, bytes | None]:
    """A pure function of the genome (the DICEBOX_FAKE_FITNESS one, without sleeping)."""
    accuracy = fake_accuracy(genome)
    if accuracy is None:
        return Evaluation.failed("fake NaN loss"), None
    return Evaluation("ok", accuracy, seconds=0.001), None


class CountingFitness:
    """``pure_fitness`` that counts its calls per genome fingerprint (the champion's final retraining aside)."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}

    def __call__(self, genome, data, spec, cancel=None):
        if not spec.final:
            self.calls[genome.fingerprint()] = self.calls.get(genome.fingerprint(), 0) + 1
        return pure_fitness(genome, data, spec, cancel)


def dying_fitness(genome, data, spec, cancel=None):
    """Kills its worker process for some genomes (as the kernel's OOM killer would)."""
    if int(genome.fingerprint(), 16) % 4 == 0:
        os._exit(9)
    return pure_fitness(genome, data, spec, cancel)
