"""Training fitness: a genome that cannot train is a failed individual, anything else is raised."""

from __future__ import annotations

import pytest
from evolution_fakes import tiny_images

from dicebox.evolution import fitness as fitness_module
from dicebox.evolution.fitness import FakeFitnessRefused, fitness_for, train_fitness
from dicebox.evolution.training_orders import TrainingOrder, TrainingOrderResult, TrainSpec
from dicebox.nets.genome import Conv2DLayer, DenseLayer, Genome

SPEC = TrainSpec(epochs=1, batch_size=4)


def test_a_genome_that_does_not_fit_the_images_fails_without_training():
    too_big = Genome((Conv2DLayer(4, (30, 30), padding="valid"), DenseLayer(4)))
    evaluation, model = train_fitness(too_big, tiny_images(), SPEC)
    assert evaluation.status == "failed" and model is None
    assert "GenomeError" in evaluation.error and "larger than its input" in evaluation.error


@pytest.mark.parametrize("make_error", [
    lambda: __import__("dicebox.nets.training", fromlist=["TrainingFailed"]).TrainingFailed("the loss became nan"),
    lambda: MemoryError("cannot allocate"),
    lambda: __import__("tensorflow").errors.ResourceExhaustedError(None, None, "OOM when allocating tensor"),
])
def test_nan_loss_and_out_of_memory_are_failed_individuals(monkeypatch, make_error):
    error = make_error()

    def broken(*_args, **_kwargs):
        raise error

    monkeypatch.setattr("dicebox.nets.training.run_training", broken)
    evaluation, model = train_fitness(Genome((DenseLayer(4),)), tiny_images(), SPEC)
    assert evaluation.status == "failed" and evaluation.accuracy is None and model is None
    assert type(error).__name__ in evaluation.error


def test_unusable_data_is_not_a_failed_individual_but_an_error(monkeypatch):
    from dicebox.nets.training import TrainingError

    def unusable(*_args, **_kwargs):
        raise TrainingError("need at least 2 categories")

    monkeypatch.setattr("dicebox.nets.training.run_training", unusable)
    with pytest.raises(TrainingError):
        train_fitness(Genome((DenseLayer(4),)), tiny_images(), SPEC)


def test_the_fake_fitness_is_only_available_with_its_test_hook(monkeypatch):
    monkeypatch.delenv("DICEBOX_FAKE_FITNESS", raising=False)
    assert fitness_for(TrainSpec()) is train_fitness
    with pytest.raises(FakeFitnessRefused):
        fitness_for(TrainSpec(fitness="fake"))
    monkeypatch.setenv("DICEBOX_FAKE_FITNESS", "1")
    assert fitness_for(TrainSpec(fitness="fake")) is not train_fitness


def test_orders_and_results_round_trip_as_json():
    order = TrainingOrder("run/1/2/abc", Genome((DenseLayer(4),), "sgd"), "dice_60x50", "v9", SPEC)
    assert TrainingOrder.from_json(order.to_json()) == order
    evaluation = fitness_module.Evaluation("ok", 0.75, seconds=1.5, metrics={"accuracy": 0.75})
    result = TrainingOrderResult(order.order_id, "done", evaluation, model=b"\x00keras", worker="host:1")
    back = TrainingOrderResult.from_json(result.to_json())
    assert (back.order_id, back.evaluation, back.model, back.worker) == (order.order_id, evaluation, b"\x00keras",
                                                                        "host:1")


def test_a_model_comes_back_only_when_it_beats_the_champion_and_fits_the_size_limit():
    import dataclasses

    tiny = Genome((DenseLayer(4),))
    data = tiny_images()
    never, model = train_fitness(tiny, data, SPEC)  # ship_above None: nobody asked for the model
    assert never.ok and model is None
    evaluation, model = train_fitness(tiny, data, dataclasses.replace(SPEC, ship_above=-1.0))
    assert evaluation.ok and model and model[:2] == b"PK"  # a .keras file (zip)
    _, model = train_fitness(tiny, data, dataclasses.replace(SPEC, ship_above=evaluation.accuracy))
    assert model is None  # not better than the champion
    _, model = train_fitness(tiny, data, dataclasses.replace(SPEC, ship_above=-1.0, max_model_bytes=100))
    assert model is None  # too large to ship
