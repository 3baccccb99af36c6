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

import collections
import dataclasses
import functools
import hashlib
import math
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from dicebox.images import Geometry, LabelledImages
from dicebox.nets.genome import DEFAULT_MAX_PARAMETERS, Genome

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
    """How to train. ``patience`` 0 disables early stopping (best weights are still restored).

    ``batch_size`` and ``learning_rate`` are what a genome without those genes trains with; a
    genome's own genes win (the result's ``options`` record what was used).
    """

    epochs: int = 20
    batch_size: int = 64
    validation_split: float = 0.2
    patience: int = 5
    seed: int | None = 0
    balance_classes: bool = True
    learning_rate: float | None = None
    monitor: str = "val_loss"
    progress_interval: float = 0.25  # seconds between BatchProgress events; 0 = every batch
    # Multi-fidelity: (epoch, minimum) pairs; a network whose best validation accuracy after that
    # epoch is below the minimum stops there (it is hopeless next to the networks measured before).
    rungs: tuple[tuple[int, float], ...] = ()
    # Seconds: no epoch starts that would (by the last epoch's time) end past this.
    time_limit: float | None = None

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
    stop_reason: str = ""  # "early stopping", "rung", "time limit" or "" (ran every epoch)
    epoch_seconds: tuple[float, ...] = ()  # wall-clock of each epoch, its validation included

    def training_info(self) -> dict[str, Any]:
        """JSON-friendly description of the run (everything but the model and metrics)."""
        return {
            "epochs_run": self.epochs_run,
            "best_epoch": self.best_epoch,
            "stopped_early": self.stopped_early,
            "stop_reason": self.stop_reason,
            "train_size": self.train_size,
            "validation_size": self.validation_size,
            "parameter_count": self.parameter_count,
            "seconds": round(self.seconds, 3),
            "options": dataclasses.asdict(self.options),
            "history": self.history,
            "epoch_seconds": [round(s, 4) for s in self.epoch_seconds],
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
    return _join(train_parts, val_parts, rng)


def _join(train_parts: list[np.ndarray], val_parts: list[np.ndarray], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    empty = np.empty(0, dtype=np.int64)
    train = rng.permutation(np.concatenate(train_parts)) if train_parts else empty
    val = np.sort(np.concatenate(val_parts)) if val_parts else empty
    return train.astype(np.int64), val.astype(np.int64)


#: Seconds without a stored image of a label that end its recording session.
SESSION_GAP = 10.0
#: A class whose whole sessions cannot come near its held-out share (within half of it) is cut
#: into this many blocks of images neighbouring in time instead.
BLOCKS = 10


def recording_sessions(labels: np.ndarray, stored_at: np.ndarray, gap: float = SESSION_GAP) -> np.ndarray:
    """A session number per image: per label, images stored in time order with no pause over ``gap``
    seconds are one session (a burst of video frames). Numbers are unique across labels."""
    sessions = np.zeros(len(labels), dtype=np.int64)
    next_id = 0
    for cls in np.unique(labels):
        idx = np.flatnonzero(labels == cls)
        order = idx[np.argsort(stored_at[idx], kind="stable")]
        breaks = np.diff(stored_at[order]) > gap
        sessions[order] = next_id + np.concatenate([[0], np.cumsum(breaks)])
        next_id = int(sessions[order].max()) + 1
    return sessions


def _sessions(idx: np.ndarray, stored_at: np.ndarray, gap: float) -> list[np.ndarray]:
    """The images ``idx`` of one class as recording sessions, each in time order."""
    order = idx[np.argsort(stored_at[idx], kind="stable")]
    return np.split(order, np.flatnonzero(np.diff(stored_at[order]) > gap) + 1)


def _blocks(sessions: list[np.ndarray], stored_at: np.ndarray) -> list[np.ndarray]:
    """The sessions cut into blocks of neighbouring images, about BLOCKS for the class, never between
    images stored at the same instant (one delivered batch): only block edges have neighbours
    across the split."""
    size = max(1, -(-sum(len(s) for s in sessions) // BLOCKS))
    blocks: list[np.ndarray] = []
    for session in sessions:
        t = stored_at[session]
        start = 0
        while start < len(session):
            end = min(start + size, len(session))
            while end < len(session) and t[end] == t[end - 1]:
                end += 1
            blocks.append(session[start:end])
            start = end
    return blocks


def _hold_out(groups: list[np.ndarray], fraction: float, rng: np.random.Generator) -> tuple[list, list, int]:
    """(held, kept, held count): whole groups, each held while it brings the held count closer to
    ``fraction``, in the best of a few random orders; with two or more groups at least one on
    each side."""
    target = sum(len(g) for g in groups) * fraction
    best: tuple[list, list, int] | None = None
    for _ in range(_ORDERS):
        held: list[np.ndarray] = []
        kept: list[np.ndarray] = []
        count = 0
        for i in rng.permutation(len(groups)):
            group = groups[i]
            if fraction > 0 and abs(count + len(group) - target) < abs(count - target):
                held.append(group)
                count += len(group)
            else:
                kept.append(group)
        if fraction > 0 and len(groups) >= 2:
            if not held:  # every group overshoots: hold out the smallest
                held.append(kept.pop(min(range(len(kept)), key=lambda k: len(kept[k]))))
            if not kept:
                kept.append(held.pop(max(range(len(held)), key=lambda k: len(held[k]))))
        count = sum(len(g) for g in held)
        if best is None or abs(count - target) < abs(best[2] - target):
            best = (held, kept, count)
    assert best is not None
    return best


_ORDERS = 16


def grouped_split(
    labels: np.ndarray, stored_at: np.ndarray, fraction: float, seed: int | None, gap: float = SESSION_GAP
) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, validation) holding out about ``fraction`` of every class in whole recording
    sessions (:func:`recording_sessions`), so neighbouring video frames never sit on both sides.

    A class whose whole sessions cannot come within half of its share (one long take, or two
    sessions for a 20 % share) is split in blocks of neighbouring images instead (:func:`_blocks`).
    A class with two or more groups keeps at least one on each side (when ``fraction`` > 0).
    Train indices shuffled, validation sorted; the same for the same inputs and seed.
    """
    rng = np.random.default_rng(seed)
    stored_at = np.asarray(stored_at, dtype=np.float64)
    train_parts, val_parts = [], []
    for cls in np.unique(labels):
        sessions = _sessions(np.flatnonzero(labels == cls), stored_at, gap)
        target = sum(len(s) for s in sessions) * fraction
        held, kept, count = _hold_out(sessions, fraction, rng)
        if fraction > 0 and (len(sessions) < 2 or abs(count - target) > target / 2):
            held, kept, count = _hold_out(_blocks(sessions, stored_at), fraction, rng)
        val_parts.append(np.concatenate(held) if held else np.empty(0, np.int64))
        train_parts.append(np.concatenate(kept) if kept else np.empty(0, np.int64))
    return _join(train_parts, val_parts, rng)


def split_images(data: LabelledImages, fraction: float, seed: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, held out) of ``data``: by recording session when it knows when each image
    was stored (:func:`grouped_split`), else image by image (:func:`stratified_split`).

    The split depends only on the labels, the stored times, ``fraction`` and ``seed``; the last
    few are remembered, since an evolution splits the same images again for every network.
    """
    key = (_digest(data.labels), None if data.stored_at is None else _digest(data.stored_at), fraction, seed)
    with _splits_lock:
        found = _splits.get(key)
        if found is not None:
            _splits.move_to_end(key)
            return found[0].copy(), found[1].copy()
    if data.stored_at is not None:
        split = grouped_split(data.labels, data.stored_at, fraction, seed)
    else:
        split = stratified_split(data.labels, fraction, seed)
    with _splits_lock:
        _splits[key] = (split[0].copy(), split[1].copy())
        while len(_splits) > _SPLITS_KEPT:
            _splits.popitem(last=False)
    return split


_SPLITS_KEPT = 4
_splits: collections.OrderedDict[tuple, tuple[np.ndarray, np.ndarray]] = collections.OrderedDict()
_splits_lock = threading.Lock()


def _digest(values: np.ndarray) -> str:
    return hashlib.blake2b(np.ascontiguousarray(values).tobytes(), digest_size=16).hexdigest() + str(values.dtype)


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
    return Metrics(
        accuracy=accuracy,
        per_class_accuracy=per_class,
        confusion_matrix=tuple(tuple(int(v) for v in row) for row in confusion),
        samples=samples,
        evaluated_on=evaluated_on,
        loss=crossentropy(labels, probabilities) if samples else None,
    )


def crossentropy(labels: np.ndarray, probabilities: np.ndarray) -> float:
    """Mean sparse categorical cross-entropy of softmax outputs (as Keras computes it)."""
    picked = probabilities[np.arange(len(labels)), labels].astype(np.float64)
    return float(-np.mean(np.log(np.clip(picked, 1e-7, 1.0))))


def predict_probabilities(model: keras.Model, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Softmax outputs of ``model`` for ``images`` by plain forward passes (inference mode).

    ``model.predict`` traces a graph for every new model first, which costs more than scoring a
    few hundred images eagerly.
    """
    if not len(images):
        return np.empty((0, model.output_shape[-1]), np.float32)
    parts = [np.asarray(model(images[i:i + batch_size], training=False)) for i in range(0, len(images), batch_size)]
    return np.concatenate(parts)


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
    *,
    max_parameters: int | None = DEFAULT_MAX_PARAMETERS,
) -> Iterator[TrainEvent]:
    """Train ``genome`` on ``data``; an iterator of progress events ending with a TrainResult.

    Raises TrainingError (unusable data) or GenomeError (genome does not fit the images, or has
    more than ``max_parameters`` weights) right away; TrainingCancelled / TrainingFailed come out
    of the iterator.
    """
    options = options or TrainOptions()
    if len(data) == 0:
        raise TrainingError("no images to train on")
    if len(data.categories) < 2:
        raise TrainingError(f"need at least 2 categories, got {len(data.categories)}")
    if np.count_nonzero(np.bincount(data.labels, minlength=len(data.categories))) < 2:
        raise TrainingError("need images of at least 2 categories")
    geometry = data_geometry(data)
    genome.validate(geometry, len(data.categories), max_parameters=max_parameters)
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

    from dicebox.nets.build import build_model
    from dicebox.nets.gradient_registry import forget_custom_gradients

    started = time.perf_counter()
    if stop_requested():
        raise TrainingCancelled("cancelled before training started")
    if options.seed is not None:
        keras.utils.set_random_seed(options.seed)
    n_classes = len(data.categories)
    options = dataclasses.replace(
        options,
        batch_size=genome.batch_size or options.batch_size,
        learning_rate=genome.learning_rate or options.learning_rate,
    )
    train_idx, val_idx = split_images(data, options.validation_split, options.seed)
    x_train, y_train = data.images[train_idx], data.labels[train_idx]
    x_val, y_val = data.images[val_idx], data.labels[val_idx]
    has_val = len(val_idx) > 0
    weights = balanced_class_weights(y_train, n_classes) if options.balance_classes else None
    model = build_model(genome, geometry, n_classes, seed=options.seed, learning_rate=options.learning_rate)
    _build_training_state(model, x_train, y_train)
    batches = math.ceil(len(x_train) / options.batch_size)
    emit(TrainStarted(len(x_train), len(x_val), options.epochs, batches, model.count_params(), weights))

    monitor = options.monitor if has_val else options.monitor.removeprefix("val_")
    stopper = keras.callbacks.EarlyStopping(
        monitor=monitor,
        patience=options.patience or options.epochs,
        restore_best_weights=True,
        mode="min" if monitor.endswith("loss") else "max",
    )
    # Validation is scored by the callback with plain forward passes: Keras's evaluate would trace
    # one more graph per new network (a fixed cost that dwarfs a small validation set's epochs).
    progress = _progress_class()(options, batches, stop_requested, emit, (x_val, y_val) if has_val else None)
    try:
        with forget_custom_gradients():
            history = model.fit(
                x_train,
                y_train,
                batch_size=options.batch_size,
                epochs=options.epochs,
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
    probabilities = predict_probabilities(model, x_eval)
    metrics = evaluate_predictions(y_eval, probabilities, data.categories, "validation" if has_val else "training")
    record = {k: [float(v) for v in values] for k, values in history.history.items()}
    scores = record.get(monitor, [])
    pick = np.argmin if monitor.endswith("loss") else np.argmax
    best = int(pick(scores)) + 1 if scores else 0
    epochs_run = len(record.get("loss", []))
    stop_reason = progress.stop_reason or ("early stopping" if epochs_run < options.epochs else "")
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
        stop_reason=stop_reason,
        epoch_seconds=tuple(progress.epoch_seconds),
    )


def _build_training_state(model: keras.Model, x: np.ndarray, y: np.ndarray) -> None:
    """Create the metrics' and the optimizer's variables now, outside the traced training step.

    Created lazily inside it (Keras's way without a distribution strategy), they make TensorFlow
    trace the step twice, once to create them and once without: about a second per new network.
    """
    build = getattr(model, "_symbolic_build", None)  # Keras 3's own, used by fit under a strategy
    if build is not None:
        build(data_batch=(x[:1], y[:1], None))
    else:
        model.optimizer.build(model.trainable_variables)


@functools.cache
def _progress_class() -> type:
    """The Keras callback class, defined on first use so this module imports without TensorFlow.

    It checks for cancellation before every batch, emits throttled BatchProgress and EpochEnd, and
    fails on a NaN loss. Only batch *begin* is hooked, so Keras still dispatches its batch-end work
    asynchronously, as in a plain ``fit``.
    """
    import keras

    class Progress(keras.callbacks.Callback):
        def __init__(self, options: TrainOptions, batches: int, stop_requested, emit, validation=None) -> None:
            super().__init__()
            self.options, self.batches, self.validation = options, batches, validation
            self.stop_requested, self.emit = stop_requested, emit
            self.epoch = 0
            self.epoch_started = self.last_emit = self.fit_started = 0.0
            self.best_val: float | None = None
            self.stop_reason = ""
            self.epoch_seconds: list[float] = []
            self.steady_from: float | None = None  # after the first batch: tracing is done

        def on_train_begin(self, logs: dict | None = None) -> None:
            self.fit_started = time.perf_counter()

        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            self.epoch = epoch + 1
            self.epoch_started = self.last_emit = time.perf_counter()
            self.steady_from = None

        def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
            if self.stop_requested():
                raise TrainingCancelled(f"cancelled in epoch {self.epoch} after {batch} batches")
            now = time.perf_counter()
            if batch == 1:
                self.steady_from = now
            if batch and now - self.last_emit >= self.options.progress_interval:
                self.last_emit = now
                self.emit(BatchProgress(self.epoch, self.options.epochs, batch, self.batches))

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            logs = {} if logs is None else logs
            loss = float(logs.get("loss", math.nan))
            if not math.isfinite(loss):
                raise TrainingFailed(
                    f"the loss became {loss} in epoch {epoch + 1}: this network cannot be trained "
                    "with these settings (try another optimizer, learning rate or layers)"
                )
            if self.validation is not None:
                # Written into the logs every later callback (early stopping, History) reads.
                images, labels = self.validation
                probabilities = predict_probabilities(self.model, images)
                logs["val_loss"] = crossentropy(labels, probabilities)
                logs["val_accuracy"] = float(np.mean(probabilities.argmax(axis=1) == labels))

            def opt(key: str) -> float | None:
                return float(logs[key]) if key in logs else None

            now = time.perf_counter()
            val_accuracy = opt("val_accuracy")
            self.emit(
                EpochEnd(
                    epoch=epoch + 1,
                    epochs=self.options.epochs,
                    loss=loss,
                    accuracy=float(logs.get("accuracy", math.nan)),
                    val_loss=opt("val_loss"),
                    val_accuracy=val_accuracy,
                    seconds=now - self.epoch_started,
                )
            )
            self.epoch_seconds.append(now - self.epoch_started)
            if val_accuracy is not None:
                self.best_val = val_accuracy if self.best_val is None else max(self.best_val, val_accuracy)
            if epoch + 1 >= self.options.epochs:
                return
            for at, minimum in self.options.rungs:
                if at == epoch + 1 and self.best_val is not None and self.best_val < minimum:
                    self.stop_reason = "rung"
                    self.model.stop_training = True
            limit = self.options.time_limit
            # The next epoch's time, judged by this one's batches after the first (the first one of a
            # new model traces the graph: several times a later batch).
            if self.steady_from is not None and self.batches > 1:
                per_epoch = (now - self.steady_from) * self.batches / (self.batches - 1)
            else:
                per_epoch = now - self.epoch_started
            if limit is not None and (now - self.fit_started) + per_epoch > limit:
                self.stop_reason = self.stop_reason or "time limit"
                self.model.stop_training = True

    return Progress
