"""train(): learns, reports progress, cancels at the next batch, fails clearly, splits and weighs classes."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest
from synthetic_images import TINY

from dicebox.images import LabelledImages
from dicebox.nets.genome import Conv2DLayer, Genome, GenomeError
from dicebox.nets.training import (
    BatchProgress,
    EpochEnd,
    TrainingCancelled,
    TrainingError,
    TrainingFailed,
    TrainOptions,
    TrainResult,
    TrainStarted,
    balanced_class_weights,
    evaluate_predictions,
    run_training,
    stratified_split,
    train,
)


def test_tiny_network_learns_well_above_chance(trained, shapes_data):
    metrics = trained.metrics
    assert metrics.evaluated_on == "validation"
    assert metrics.accuracy >= 0.9  # chance is 0.25
    assert metrics.samples == trained.validation_size == 40
    assert set(metrics.per_class_accuracy) == set(shapes_data.categories)
    assert sum(map(sum, metrics.confusion_matrix)) == metrics.samples
    assert [sum(row) for row in metrics.confusion_matrix] == [10, 10, 10, 10]  # stratified
    json.dumps(metrics.to_dict())
    json.dumps(trained.training_info())
    assert len(trained.history["val_loss"]) == trained.epochs_run
    assert 1 <= trained.best_epoch <= trained.epochs_run
    assert trained.parameter_count == TINY.parameter_count(trained.geometry, 4)
    assert trained.dataset_version == shapes_data.version


def test_events_arrive_in_order(shapes_data):
    options = TrainOptions(epochs=2, batch_size=16, seed=2, progress_interval=0)
    events = list(train(TINY, shapes_data, options))
    assert isinstance(events[0], TrainStarted) and isinstance(events[-1], TrainResult)
    started = events[0]
    assert (started.train_size, started.validation_size, started.batches) == (160, 40, 10)
    epoch_ends = [e for e in events if isinstance(e, EpochEnd)]
    assert [e.epoch for e in epoch_ends] == [1, 2]
    assert all(e.val_accuracy is not None and e.seconds > 0 for e in epoch_ends)
    progress = [e for e in events if isinstance(e, BatchProgress)]
    assert [e.batch for e in progress if e.epoch == 1] == list(range(1, 10))
    assert events[-1].epochs_run == 2


def test_same_seed_same_run(shapes_data):
    options = TrainOptions(epochs=2, batch_size=32, seed=5)
    first = run_training(TINY, shapes_data, options).history
    second = run_training(TINY, shapes_data, options).history
    assert first == second


def test_early_stopping_keeps_the_best_epoch(shapes_data):
    options = TrainOptions(epochs=40, batch_size=16, seed=1, patience=1, monitor="val_accuracy")
    result = run_training(TINY, shapes_data, options)
    assert result.stopped_early and result.epochs_run == result.best_epoch + 1 < 40
    best = max(result.history["val_accuracy"])
    assert result.metrics.accuracy == pytest.approx(best, abs=1e-6)  # the restored weights are the best


def test_a_hopeless_network_stops_at_its_rung_and_a_time_limit_stops_before_the_next_epoch(shapes_data):
    hopeless = run_training(TINY, shapes_data, TrainOptions(epochs=6, batch_size=32, seed=1, rungs=((2, 1.01),)))
    assert (hopeless.epochs_run, hopeless.stop_reason) == (2, "rung")
    assert hopeless.training_info()["stop_reason"] == "rung"
    passing = run_training(TINY, shapes_data, TrainOptions(epochs=3, batch_size=32, seed=1, patience=0,
                                                           rungs=((1, 0.0),)))
    assert (passing.epochs_run, passing.stop_reason) == (3, "")
    limited = run_training(TINY, shapes_data, TrainOptions(epochs=6, batch_size=32, seed=1, time_limit=1e-3))
    assert (limited.epochs_run, limited.stop_reason) == (1, "time limit")


class TripAfter(threading.Event):
    """A cancel event that reports itself set from its ``n``-th check on (deterministic)."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n, self.checks = n, 0

    def is_set(self) -> bool:
        self.checks += 1
        return self.checks >= self.n or super().is_set()


def test_cancel_stops_before_the_next_batch(shapes_data):
    # Check 1 is before training starts; check k+2 is before batch k+1 (0-based k+1).
    cancel = TripAfter(6)
    seen = []
    with pytest.raises(TrainingCancelled, match="epoch 1 after 4 batches"):
        for event in train(
            TINY, shapes_data, TrainOptions(epochs=3, batch_size=8, progress_interval=0), cancel
        ):
            seen.append(event)
    assert cancel.checks == 6
    assert [e.batch for e in seen if isinstance(e, BatchProgress)] == [1, 2, 3]
    assert not any(isinstance(e, EpochEnd) for e in seen)


def test_cancel_set_before_start(shapes_data):
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(TrainingCancelled):
        run_training(TINY, shapes_data, TrainOptions(epochs=1), cancel)


def test_closing_the_iterator_stops_the_worker(shapes_data):
    events = train(TINY, shapes_data, TrainOptions(epochs=50, batch_size=8))
    assert isinstance(next(events), TrainStarted)
    events.close()
    assert not [t for t in threading.enumerate() if t.name == "dicebox-train"]


def test_nan_loss_fails_clearly(shapes_data):
    genome = Genome(TINY.layers, optimizer="sgd")
    with pytest.raises(TrainingFailed, match="loss became nan in epoch 1"):
        run_training(genome, shapes_data, TrainOptions(epochs=3, seed=1, learning_rate=1e10))


def test_unusable_input_is_refused_at_once(shapes_data):
    empty = LabelledImages(shapes_data.images[:0], shapes_data.labels[:0], shapes_data.categories)
    with pytest.raises(TrainingError, match="no images"):
        train(TINY, empty)
    one_class = LabelledImages(shapes_data.images[:50], shapes_data.labels[:50], shapes_data.categories)
    with pytest.raises(TrainingError, match="at least 2 categories"):
        train(TINY, one_class)
    with pytest.raises(GenomeError, match="larger than its input"):
        train(Genome((Conv2DLayer(4, 17),)), shapes_data)
    with pytest.raises(ValueError, match="validation_split"):
        TrainOptions(validation_split=1.0)


def test_unbalanced_classes_are_weighted(shapes_data):
    keep = np.concatenate([np.arange(0, 50), np.arange(50, 60), np.arange(100, 150), np.arange(150, 200)])
    data = LabelledImages(shapes_data.images[keep], shapes_data.labels[keep], shapes_data.categories)
    events = list(train(TINY, data, TrainOptions(epochs=1, seed=0)))
    weights = events[0].class_weights
    assert weights is not None and weights[1] > 3 * weights[0]
    assert isinstance(events[-1], TrainResult)
    assert events[-1].metrics.per_class_accuracy["bar_v"] is not None  # 2 of its 10 images held out


def test_stratified_split():
    labels = np.array([0] * 10 + [1] * 5 + [2] * 2 + [3])
    train_idx, val_idx = stratified_split(labels, 0.2, seed=1)
    assert sorted(np.concatenate([train_idx, val_idx]).tolist()) == list(range(len(labels)))
    assert np.bincount(labels[val_idx], minlength=4).tolist() == [2, 1, 1, 0]
    again = stratified_split(labels, 0.2, seed=1)
    assert np.array_equal(again[0], train_idx) and np.array_equal(again[1], val_idx)
    assert len(stratified_split(labels, 0.0, seed=1)[1]) == 0


def test_class_weights():
    assert balanced_class_weights(np.array([0, 0, 1, 1]), 2) is None
    weights = balanced_class_weights(np.array([0, 0, 0, 1]), 3)
    assert weights == pytest.approx({0: 4 / 6, 1: 2.0, 2: 1.0})


def test_evaluate_predictions():
    probabilities = np.array([[0.9, 0.1, 0.0], [0.2, 0.8, 0.0], [0.6, 0.4, 0.0], [0.1, 0.9, 0.0]])
    metrics = evaluate_predictions(np.array([0, 1, 1, 1]), probabilities, ("a", "b", "c"))
    assert metrics.accuracy == 0.75
    assert metrics.per_class_accuracy == {"a": 1.0, "b": pytest.approx(2 / 3), "c": None}
    assert metrics.confusion_matrix == ((1, 0, 0), (1, 2, 0), (0, 0, 0))
    assert metrics.loss == pytest.approx(-np.mean(np.log([0.9, 0.8, 0.4, 0.9])))
