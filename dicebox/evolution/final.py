"""The champion's final retraining: at full fidelity on all the search data, scored on the test split.

The runner submits :func:`final_order` to its evaluator like any other order and turns the answer
into the champion's record and a :class:`~dicebox.evolution.events.ChampionRetrained` event with
:func:`retrained`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from dicebox.evolution.dataset import DataSpec
from dicebox.evolution.events import ChampionRetrained
from dicebox.evolution.settings import SearchSettings
from dicebox.evolution.training_orders import Evaluation, TrainingOrder
from dicebox.nets.genome import Genome

#: Of the time left, the share the epochs may use: building, scoring and exporting come on top.
EPOCH_SHARE = 0.9


def time_left(settings: SearchSettings, spent: float) -> float | None:
    """Seconds the retraining's epochs may take (None: no budget; <= 0: none left)."""
    if settings.time_budget is None:
        return None
    return (settings.time_budget - spent) * EPOCH_SHARE


def final_order(run_id: str, champion: dict[str, Any], settings: SearchSettings, data: DataSpec,
                left: float | None) -> TrainingOrder:
    """The order that trains ``champion`` again: more epochs, its own early stopping, no rungs."""
    genome = Genome.from_dict(champion["genome"])
    spec = dataclasses.replace(
        settings.train, final=True, epochs=max(settings.final_epochs, settings.train.epochs),
        patience=settings.final_patience, rungs=(), time_limit=left, ship_above=-1.0,
    )
    return TrainingOrder(f"{run_id}/final/{genome.fingerprint()}", genome, data.dataset_id, data.version, spec)


def retrained(champion: dict[str, Any], evaluation: Evaluation, bundle: str | None,
              settings: SearchSettings) -> ChampionRetrained:
    """Record the retraining in ``champion`` (bundle, test accuracy) and say so as an event."""
    training = evaluation.training or {}
    metrics = evaluation.metrics or {}
    champion["bundle"] = bundle
    champion["test_accuracy"] = evaluation.accuracy
    champion["retrained"] = {"status": evaluation.status, "accuracy": evaluation.accuracy,
                             "error": evaluation.error, "evaluated_on": metrics.get("evaluated_on", ""),
                             "samples": metrics.get("samples", 0), "history": training.get("history", {})}
    return ChampionRetrained(
        accuracy=evaluation.accuracy,
        evaluated_on=metrics.get("evaluated_on", "test" if settings.train.test_share else "validation"),
        test_samples=int(metrics.get("samples", 0)),
        validation_accuracy=training.get("validation_accuracy"),
        search_accuracy=champion["accuracy"],
        epochs_run=training.get("epochs_run"),
        stop_reason=training.get("stop_reason", ""),
        seconds=round(evaluation.seconds, 3),
        bundle=bundle,
        genome=champion["genome"],
        origin=champion.get("origin", ""),
        error=evaluation.error,
    )
