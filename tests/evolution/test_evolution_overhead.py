"""Overhead per individual: no work per network that is not needed (one traced graph, splits computed once)."""

from __future__ import annotations

import numpy as np
from evolution_fakes import tiny_images

from dicebox.evolution.dataset import split_test
from dicebox.images import LabelledImages
from dicebox.nets.genome import Conv2DLayer, DenseLayer, Genome
from dicebox.nets.training import TrainOptions, run_training

GENOME = Genome((Conv2DLayer(4, (3, 3)), DenseLayer(8)))


def test_a_network_traces_one_training_graph_and_no_evaluation_or_prediction_graph(monkeypatch):
    import keras

    traces = []
    train_step = keras.Model.train_step

    def counting(self, data):
        traces.append(1)  # runs once per trace: the traced graph runs without Python
        return train_step(self, data)

    monkeypatch.setattr(keras.Model, "train_step", counting)
    options = TrainOptions(epochs=3, batch_size=4, validation_split=0.25, patience=0, seed=0)
    result = run_training(GENOME, tiny_images(), options)
    assert len(traces) == 1
    assert result.model.test_function is None and result.model.predict_function is None
    # The validation curve is still there, per epoch, and the metrics are those of the best weights.
    assert len(result.history["val_accuracy"]) == len(result.history["val_loss"]) == result.epochs_run == 3
    assert result.metrics.samples == result.validation_size == 2
    best = int(np.argmin(result.history["val_loss"]))
    assert result.metrics.accuracy == result.history["val_accuracy"][best]
    assert result.metrics.loss == result.history["val_loss"][best]
    assert len(result.training_info()["epoch_seconds"]) == 3


def test_the_same_images_are_split_once_for_every_network(monkeypatch):
    import dicebox.nets.training as training

    calls = []
    grouped = training.grouped_split

    def counting(*args, **kwargs):
        calls.append(args[2:])
        return grouped(*args, **kwargs)

    monkeypatch.setattr(training, "grouped_split", counting)
    rng = np.random.default_rng(3)
    labels = np.repeat([0, 1], 40)
    data = LabelledImages(np.zeros((80, 4, 4, 1), np.uint8), labels, ("a", "b"), "v1",
                          np.arange(80.0) * 30 + rng.uniform(0, 1, 80))
    first = [split_test(data, 0.25, 7) for _ in range(3)]
    for search, test in first[1:]:
        assert np.array_equal(search.stored_at, first[0][0].stored_at)
        assert np.array_equal(test.stored_at, first[0][1].stored_at)
    assert len(calls) == 1
    relabelled = LabelledImages(data.images, labels[::-1].copy(), data.categories, "v1", data.stored_at)
    split_test(relabelled, 0.25, 7)  # other labels: split again, whatever the version says
    split_test(data, 0.25, 8)  # another seed
    assert len(calls) == 3
