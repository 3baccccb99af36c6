"""Train one network on labelled images: a Qt-free generator of small progress records.

``train(genome, data, options, cancel)`` checks its inputs at once, then returns an iterator of
:class:`TrainStarted`, :class:`BatchProgress` (throttled), :class:`EpochEnd` and finally one
:class:`TrainResult`. The Keras work runs in a worker thread started by the first ``next()``, so a
consumer (CLI progress bar, GUI worker) sees batch progress while ``model.fit`` runs; closing the
iterator cancels and joins that thread. Setting ``cancel`` stops training before the next batch
and the iterator raises :class:`TrainingCancelled`. A NaN loss or running out of memory raises
:class:`TrainingFailed` (an evolution run records the individual as failed and goes on).

Training is a plain ``model.fit`` on the uint8 arrays: the callbacks only do work per epoch, plus a
flag check per batch, so throughput matches a bare ``fit``.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from dicebox.camera.preprocess import Geometry
from dicebox.genome import Genome
from dicebox.labelled import LabelledImages

if TYPE_CHECKING:
    import keras

    from dicebox.config import Config


class TrainingError(Exception):
    """Training could not run (unusable data or options)."""


class TrainingFailed(TrainingError):
    """This network failed to train (NaN loss, out of memory): a property of the genome."""


class TrainingCancelled(TrainingError):
    """The cancel event was set; training stopped before the next batch."""


MONITORS = ("val_loss", "val_accuracy")


@dataclass(frozen=True)
class TrainOptions:
    """How to train. ``patience`` 0 disables early stopping (best weights are still restored)."""

    epochs: int = 20
    batch_size: int = 64
    validation_split: float = 0.2
    patience: int = 5
    seed: int | None = 0
    balance_classes: bool = True
    learning_rate: float | None = None
    monitor: str = "val_loss"
    progress_interval: float = 0.25  # seconds between BatchProgress events; 0 = every batch

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.patience < 0:
            raise ValueError("epochs and batch_size must be at least 1, patience at least 0")
        if not 0 <= self.validation_split < 1:
            raise ValueError(f"validation_split must be in [0, 1), got {self.validation_split}")
        if self.monitor not in MONITORS:
            raise ValueError(f"monitor must be one of {', '.join(MONITORS)}, got {self.monitor!r}")
        if self.learning_rate is not None and not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be positive, got {self.learning_rate}")

    @classmethod
    def from_config(cls, config: Config, **overrides: Any) -> TrainOptions:
        """Options from the ``[TRAINING]`` section; keyword overrides whose value is None are ignored."""
        t = config.training
        values: dict[str, Any] = {
            "epochs": t.epochs,
            "batch_size": t.batch_size,
            "validation_split": t.validation_split,
            "seed": t.seed,
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


# Progress records -------------------------------------------------------------------------------
@dataclass(frozen=True)
class TrainStarted:
    train_size: int
    validation_size: int
    epochs: int
    batches: int  # per epoch
    parameter_count: int
    class_weights: dict[int, float] | None


@dataclass(frozen=True)
class BatchProgress:
    epoch: int  # 1-based
    epochs: int
    batch: int  # batches finished in this epoch
    batches: int


@dataclass(frozen=True)
class EpochEnd:
    epoch: int  # 1-based
    epochs: int
    loss: float
    accuracy: float
    val_loss: float | None
    val_accuracy: float | None
    seconds: float


@dataclass(frozen=True)
class Metrics:
    """Classification quality on ``samples`` held-out images (JSON-friendly via :meth:`to_dict`).

    ``per_class_accuracy`` is the share of each category's images classified correctly (None if
    the category had none); ``confusion_matrix[true][predicted]`` counts images.
    """

    accuracy: float
    per_class_accuracy: dict[str, float | None]
    confusion_matrix: tuple[tuple[int, ...], ...]
    samples: int
    evaluated_on: str  # "validation", or "training" when nothing was held out
    loss: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "accuracy": self.accuracy,
            "loss": self.loss,
            "per_class_accuracy": dict(self.per_class_accuracy),
            "confusion_matrix": [list(row) for row in self.confusion_matrix],
            "samples": self.samples,
            "evaluated_on": self.evaluated_on,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Metrics:
        return cls(
            accuracy=float(data["accuracy"]),
            loss=None if data.get("loss") is None else float(data["loss"]),
            per_class_accuracy=dict(data["per_class_accuracy"]),
            confusion_matrix=tuple(tuple(int(v) for v in row) for row in data["confusion_matrix"]),
            samples=int(data["samples"]),
            evaluated_on=str(data["evaluated_on"]),
        )


@dataclass(frozen=True, eq=False)
class TrainResult:
    """The last event: the trained model (best weights) and everything a bundle records."""

    model: keras.Model
    genome: Genome
    geometry: Geometry
    categories: tuple[str, ...]
    metrics: Metrics
    history: dict[str, list[float]]
    options: TrainOptions
    dataset_version: str
    epochs_run: int
    best_epoch: int
    train_size: int
    validation_size: int
    parameter_count: int
    seconds: float
    stopped_early: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def training_info(self) -> dict[str, Any]:
        """JSON-friendly description of the run (everything but the model and metrics)."""
        return {
            "epochs_run": self.epochs_run,
            "best_epoch": self.best_epoch,
            "stopped_early": self.stopped_early,
            "train_size": self.train_size,
            "validation_size": self.validation_size,
            "parameter_count": self.parameter_count,
            "seconds": round(self.seconds, 3),
            "options": dataclasses.asdict(self.options),
            "history": self.history,
        }


TrainEvent = TrainStarted | BatchProgress | EpochEnd | TrainResult


# Pure helpers -----------------------------------------------------------------------------------
def stratified_split(labels: np.ndarray, fraction: float, seed: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, validation) holding out about ``fraction`` of every class.

    A class with at least two images keeps one in each part (when ``fraction`` > 0); a class with
    one image trains. Train indices are shuffled, validation indices sorted.
    """
    rng = np.random.default_rng(seed)
    train_parts, val_parts = [], []
    for cls in np.unique(labels):
        idx = np.flatnonzero(labels == cls)
        rng.shuffle(idx)
        n_val = int(round(len(idx) * fraction))
        if fraction > 0 and len(idx) >= 2:
            n_val = min(max(n_val, 1), len(idx) - 1)
        else:
            n_val = 0
        val_parts.append(idx[:n_val])
        train_parts.append(idx[n_val:])
    empty = np.empty(0, dtype=np.int64)
    train = rng.permutation(np.concatenate(train_parts)) if train_parts else empty
    val = np.sort(np.concatenate(val_parts)) if val_parts else empty
    return train.astype(np.int64), val.astype(np.int64)


def balanced_class_weights(labels: np.ndarray, n_classes: int) -> dict[int, float] | None:
    """Keras class weights n / (k * count) over the k present classes; None when already balanced."""
    counts = np.bincount(labels, minlength=n_classes)
    present = counts > 0
    if len(set(counts[present].tolist())) <= 1:
        return None
    weights = np.ones(n_classes)
    weights[present] = len(labels) / (present.sum() * counts[present])
    return {i: float(w) for i, w in enumerate(weights)}


def evaluate_predictions(
    labels: np.ndarray,
    probabilities: np.ndarray,
    categories: tuple[str, ...],
    evaluated_on: str = "validation",
) -> Metrics:
    """Accuracy, per-class accuracy, confusion matrix and loss of softmax outputs."""
    n = len(categories)
    predicted = probabilities.argmax(axis=1) if len(probabilities) else np.empty(0, dtype=np.int64)
    confusion = np.zeros((n, n), dtype=np.int64)
    np.add.at(confusion, (labels, predicted), 1)
    per_class: dict[str, float | None] = {}
    for i, name in enumerate(categories):
        total = int(confusion[i].sum())
        per_class[name] = float(confusion[i, i] / total) if total else None
    samples = len(labels)
    accuracy = float(np.trace(confusion) / samples) if samples else 0.0
    loss = None
    if samples:
        picked = probabilities[np.arange(samples), labels].astype(np.float64)
        loss = float(-np.mean(np.log(np.clip(picked, 1e-7, 1.0))))
    return Metrics(
        accuracy=accuracy,
        per_class_accuracy=per_class,
        confusion_matrix=tuple(tuple(int(v) for v in row) for row in confusion),
        samples=samples,
        evaluated_on=evaluated_on,
        loss=loss,
    )


def data_geometry(data: LabelledImages) -> Geometry:
    """The geometry of the images in ``data``."""
    _, height, width, channels = data.images.shape
    return Geometry(width=width, height=height, channels=channels)


# Training ---------------------------------------------------------------------------------------
def train(
    genome: Genome,
    data: LabelledImages,
    options: TrainOptions | None = None,
    cancel: threading.Event | None = None,
) -> Iterator[TrainEvent]:
    """Train ``genome`` on ``data``; an iterator of progress events ending with a TrainResult.

    Raises TrainingError (unusable data) or GenomeError (genome does not fit the images) right
    away; TrainingCancelled / TrainingFailed come out of the iterator.
    """
    options = options or TrainOptions()
    if len(data) == 0:
        raise TrainingError("no images to train on")
    if len(data.categories) < 2:
        raise TrainingError(f"need at least 2 categories, got {len(data.categories)}")
    if np.count_nonzero(np.bincount(data.labels, minlength=len(data.categories))) < 2:
        raise TrainingError("need images of at least 2 categories")
    geometry = data_geometry(data)
    genome.validate(geometry, len(data.categories))
    return _events(genome, data, options, cancel or threading.Event(), geometry)


def run_training(
    genome: Genome,
    data: LabelledImages,
    options: TrainOptions | None = None,
    cancel: threading.Event | None = None,
    on_event: Callable[[TrainEvent], None] | None = None,
) -> TrainResult:
    """Drive :func:`train` to the end and return its result (``on_event`` sees every event)."""
    for event in train(genome, data, options, cancel):
        if on_event is not None:
            on_event(event)
        if isinstance(event, TrainResult):
            return event
    raise TrainingError("training ended without a result")  # pragma: no cover - _events always yields one


_DONE = object()


def _events(
    genome: Genome, data: LabelledImages, options: TrainOptions, cancel: threading.Event, geometry: Geometry
) -> Iterator[TrainEvent]:
    inbox: queue.Queue = queue.Queue()
    abandoned = threading.Event()

    def stop_requested() -> bool:
        return cancel.is_set() or abandoned.is_set()

    def work() -> None:
        try:
            inbox.put(_fit(genome, data, options, geometry, stop_requested, inbox.put))
        except BaseException as exc:  # noqa: BLE001 - handed to the consuming thread, which re-raises it
            inbox.put(exc)
        finally:
            inbox.put(_DONE)

    worker = threading.Thread(target=work, name="dicebox-train", daemon=True)
    worker.start()
    try:
        while (item := inbox.get()) is not _DONE:
            if isinstance(item, BaseException):
                raise item
            yield item
            if isinstance(item, TrainResult):
                return
    finally:
        abandoned.set()
        worker.join()


def _fit(
    genome: Genome,
    data: LabelledImages,
    options: TrainOptions,
    geometry: Geometry,
    stop_requested: Callable[[], bool],
    emit: Callable[[TrainEvent], None],
) -> TrainResult:
    import keras
    import tensorflow as tf

    from dicebox.networks import build_model

    started = time.perf_counter()
    if stop_requested():
        raise TrainingCancelled("cancelled before training started")
    if options.seed is not None:
        keras.utils.set_random_seed(options.seed)
    n_classes = len(data.categories)
    train_idx, val_idx = stratified_split(data.labels, options.validation_split, options.seed)
    x_train, y_train = data.images[train_idx], data.labels[train_idx]
    x_val, y_val = data.images[val_idx], data.labels[val_idx]
    has_val = len(val_idx) > 0
    weights = balanced_class_weights(y_train, n_classes) if options.balance_classes else None
    model = build_model(genome, geometry, n_classes, seed=options.seed, learning_rate=options.learning_rate)
    batches = math.ceil(len(x_train) / options.batch_size)
    emit(TrainStarted(len(x_train), len(x_val), options.epochs, batches, model.count_params(), weights))

    monitor = options.monitor if has_val else options.monitor.removeprefix("val_")
    stopper = keras.callbacks.EarlyStopping(
        monitor=monitor,
        patience=options.patience or options.epochs,
        restore_best_weights=True,
        mode="min" if monitor.endswith("loss") else "max",
    )
    progress = _progress_class()(options, batches, stop_requested, emit)
    try:
        history = model.fit(
            x_train,
            y_train,
            batch_size=options.batch_size,
            epochs=options.epochs,
            validation_data=(x_val, y_val) if has_val else None,
            class_weight=weights,
            callbacks=[progress, stopper],
            shuffle=True,
            verbose=0,
        )
    except (tf.errors.ResourceExhaustedError, MemoryError) as exc:
        raise TrainingFailed(f"out of memory while training: {str(exc).splitlines()[0]}") from exc
    if stop_requested():
        raise TrainingCancelled("cancelled")

    x_eval, y_eval = (x_val, y_val) if has_val else (x_train, y_train)
    probabilities = model.predict(x_eval, batch_size=256, verbose=0)
    metrics = evaluate_predictions(
        y_eval, probabilities, data.categories, "validation" if has_val else "training"
    )
    record = {k: [float(v) for v in values] for k, values in history.history.items()}
    scores = record.get(monitor, [])
    pick = np.argmin if monitor.endswith("loss") else np.argmax
    best = int(pick(scores)) + 1 if scores else 0
    epochs_run = len(record.get("loss", []))
    return TrainResult(
        model=model,
        genome=genome,
        geometry=geometry,
        categories=tuple(data.categories),
        metrics=metrics,
        history=record,
        options=options,
        dataset_version=data.version,
        epochs_run=epochs_run,
        best_epoch=best,
        train_size=len(x_train),
        validation_size=len(x_val),
        parameter_count=model.count_params(),
        seconds=time.perf_counter() - started,
        stopped_early=epochs_run < options.epochs,
    )


@functools.cache
def _progress_class() -> type:
    """The Keras callback class, defined on first use so this module imports without TensorFlow.

    It checks for cancellation before every batch, emits throttled BatchProgress and EpochEnd, and
    fails on a NaN loss. Only batch *begin* is hooked, so Keras still dispatches its batch-end work
    asynchronously, as in a plain ``fit``.
    """
    import keras

    class Progress(keras.callbacks.Callback):
        def __init__(self, options: TrainOptions, batches: int, stop_requested, emit) -> None:
            super().__init__()
            self.options, self.batches = options, batches
            self.stop_requested, self.emit = stop_requested, emit
            self.epoch = 0
            self.epoch_started = self.last_emit = 0.0

        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            self.epoch = epoch + 1
            self.epoch_started = self.last_emit = time.perf_counter()

        def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
            if self.stop_requested():
                raise TrainingCancelled(f"cancelled in epoch {self.epoch} after {batch} batches")
            now = time.perf_counter()
            if batch and now - self.last_emit >= self.options.progress_interval:
                self.last_emit = now
                self.emit(BatchProgress(self.epoch, self.options.epochs, batch, self.batches))

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            logs = logs or {}
            loss = float(logs.get("loss", math.nan))
            if not math.isfinite(loss):
                raise TrainingFailed(
                    f"the loss became {loss} in epoch {epoch + 1}: this network cannot be trained "
                    "with these settings (try another optimizer, learning rate or layers)"
                )

            def opt(key: str) -> float | None:
                return float(logs[key]) if key in logs else None

            self.emit(
                EpochEnd(
                    epoch=epoch + 1,
                    epochs=self.options.epochs,
                    loss=loss,
                    accuracy=float(logs.get("accuracy", math.nan)),
                    val_loss=opt("val_loss"),
                    val_accuracy=opt("val_accuracy"),
                    seconds=time.perf_counter() - self.epoch_started,
                )
            )

    return Progress
