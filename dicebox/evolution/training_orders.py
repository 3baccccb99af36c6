"""Training orders and their results: what the search hands to an evaluator and gets back.

The same records travel to local worker processes (pickled) and through RabbitMQ (JSON via
:meth:`TrainingOrder.to_json` / :meth:`TrainingOrderResult.to_json`; the trained model rides along as
base64 so the search can export a champion trained on another machine).
"""

from __future__ import annotations

import base64
import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any

from dicebox.nets.genome import Genome, GenomeError

STATUSES = ("ok", "failed")
# What happened to an order: "done" (an Evaluation, ok or failed), "refused" (this worker cannot
# train it, e.g. its data set version differs: another worker may) or "error" (fatal for the run).
KINDS = ("done", "refused", "error")


class InvalidMessage(ValueError):
    """A message that is not a training order or result."""


#: A trained model larger than this is not shipped back (base64 over RabbitMQ grows it by a third).
MAX_MODEL_BYTES = 32_000_000


@dataclass(frozen=True)
class TrainSpec:
    """How an individual is trained; ``fitness`` names a registered fitness function
    (:mod:`dicebox.evolution.fitness_registry`: "train" trains, "fake" is the test hook).

    ``test_share`` of the data (stratified, fixed by ``seed``) is the run's test split: search
    orders never see it; the ``final`` order (the champion's retraining) trains on the rest and
    is scored on it. Per order the search also sets ``rungs`` ((epoch, minimum validation
    accuracy so far) pairs: below it, training stops there), ``time_limit`` (seconds: no epoch
    starts that would end past it) and ``ship_above`` (the model comes back only when its
    accuracy beats this, and it is at most ``max_model_bytes``; None: never).
    """

    epochs: int = 3
    batch_size: int = 64
    validation_split: float = 0.2
    patience: int = 2
    seed: int | None = 0
    fitness: str = "train"
    test_share: float = 0.0
    final: bool = False
    rungs: tuple[tuple[int, float], ...] = ()
    time_limit: float | None = None
    ship_above: float | None = None
    max_model_bytes: int = MAX_MODEL_BYTES

    def __post_init__(self) -> None:
        if not isinstance(self.fitness, str) or not self.fitness:
            raise ValueError(f"fitness must name a registered fitness function, got {self.fitness!r}")
        if self.epochs < 1:
            raise ValueError(f"epochs must be at least 1, got {self.epochs}")
        if not 0 <= self.test_share < 1:
            raise ValueError(f"test_share must be in [0, 1), got {self.test_share}")
        if self.time_limit is not None and not (self.time_limit > 0 and math.isfinite(self.time_limit)):
            raise ValueError(f"time_limit must be a positive number of seconds, got {self.time_limit}")
        object.__setattr__(self, "rungs", tuple((int(e), float(m)) for e, m in self.rungs))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainSpec:
        return cls(**data)


@dataclass(frozen=True)
class Evaluation:
    """How one genome did: ``accuracy`` (validation) for "ok", ``error`` for "failed"."""

    status: str
    accuracy: float | None = None
    error: str | None = None
    seconds: float = 0.0
    metrics: dict[str, Any] | None = None
    training: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"unknown status {self.status!r}")

    @classmethod
    def failed(cls, error: str, seconds: float = 0.0) -> Evaluation:
        return cls("failed", None, error, seconds)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def summary(self) -> dict[str, Any]:
        """The small part kept in the fitness cache and state.json."""
        return {"status": self.status, "accuracy": self.accuracy, "error": self.error,
                "seconds": round(self.seconds, 3)}

    def to_dict(self) -> dict[str, Any]:
        return {**self.summary(), "metrics": self.metrics, "training": self.training}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Evaluation:
        accuracy = data.get("accuracy")
        return cls(
            status=str(data["status"]),
            accuracy=None if accuracy is None else float(accuracy),
            error=data.get("error"),
            seconds=float(data.get("seconds", 0.0)),
            metrics=data.get("metrics"),
            training=data.get("training"),
        )


@dataclass(frozen=True)
class TrainingOrder:
    """Train ``genome`` on data set ``dataset_id`` at ``dataset_version`` as ``spec`` says."""

    order_id: str
    genome: Genome
    dataset_id: str
    dataset_version: str
    spec: TrainSpec = field(default_factory=TrainSpec)

    def to_json(self) -> bytes:
        return json.dumps({
            "order_id": self.order_id,
            "genome": self.genome.to_dict(),
            "dataset_id": self.dataset_id,
            "dataset_version": self.dataset_version,
            "spec": self.spec.to_dict(),
        }).encode("utf-8")

    @classmethod
    def from_json(cls, body: bytes | str) -> TrainingOrder:
        try:
            data = json.loads(body)
            return cls(
                order_id=str(data["order_id"]),
                genome=Genome.from_dict(data["genome"]),
                dataset_id=str(data["dataset_id"]),
                dataset_version=str(data["dataset_version"]),
                spec=TrainSpec.from_dict(data["spec"]),
            )
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError, GenomeError) as exc:
            raise InvalidMessage(f"not a training order: {exc}") from None


@dataclass(frozen=True, eq=False)
class TrainingOrderResult:
    """The answer to one order; ``model`` is the trained ``.keras`` file (None if not kept)."""

    order_id: str
    kind: str = "done"
    evaluation: Evaluation | None = None
    message: str = ""
    model: bytes | None = None
    worker: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown result kind {self.kind!r}")
        if self.kind == "done" and self.evaluation is None:
            raise ValueError("a done result needs an evaluation")

    def to_json(self) -> bytes:
        return json.dumps({
            "order_id": self.order_id,
            "kind": self.kind,
            "evaluation": None if self.evaluation is None else self.evaluation.to_dict(),
            "message": self.message,
            "model": None if self.model is None else base64.b64encode(self.model).decode("ascii"),
            "worker": self.worker,
        }).encode("utf-8")

    @classmethod
    def from_json(cls, body: bytes | str) -> TrainingOrderResult:
        try:
            data = json.loads(body)
            evaluation = data.get("evaluation")
            model = data.get("model")
            return cls(
                order_id=str(data["order_id"]),
                kind=str(data.get("kind", "done")),
                evaluation=None if evaluation is None else Evaluation.from_dict(evaluation),
                message=str(data.get("message", "")),
                model=None if model is None else base64.b64decode(model),
                worker=str(data.get("worker", "")),
            )
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError) as exc:
            raise InvalidMessage(f"not a training result: {exc}") from None
