"""Fitness: train one genome with :mod:`dicebox.training` and score it by validation accuracy.

A genome that cannot be trained (does not fit the images, NaN loss, out of memory) gives a
"failed" :class:`Evaluation` with the reason; anything else (unusable data, a bug) raises, because
it would fail every individual alike. TensorFlow is imported only when a network is trained.
"""

from __future__ import annotations

import functools
import os
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from dicebox.evolution.orders import Evaluation, OrderResult, TrainingOrder, TrainSpec
from dicebox.genome import Genome, GenomeError
from dicebox.labelled import LabelledImages

#: ``fitness(genome, data, spec, cancel) -> (evaluation, .keras model bytes or None)``
Fitness = Callable[[Genome, LabelledImages, TrainSpec, "threading.Event | None"], tuple[Evaluation, "bytes | None"]]


class FakeFitnessRefused(RuntimeError):
    """An order asks for the fake test fitness in a process where the test hook is off."""


def train_fitness(
    genome: Genome, data: LabelledImages, spec: TrainSpec, cancel: threading.Event | None = None
) -> tuple[Evaluation, bytes | None]:
    """Train ``genome`` for ``spec.epochs`` (early stopping, best weights) and score it.

    Raises TrainingCancelled when ``cancel`` is set, TrainingError for data no genome can use.
    """
    from dicebox.training import TrainingFailed, TrainOptions, run_training

    _quiet_tensorflow()
    options = TrainOptions(
        epochs=spec.epochs,
        batch_size=spec.batch_size,
        validation_split=spec.validation_split,
        patience=spec.patience,
        seed=spec.seed,
        progress_interval=1.0,
    )
    started = time.perf_counter()
    try:
        result = run_training(genome, data, options, cancel)
    except (GenomeError, TrainingFailed, MemoryError) as exc:
        return Evaluation.failed(_reason(exc), time.perf_counter() - started), None
    except Exception as exc:
        if _out_of_memory(exc):
            return Evaluation.failed(f"out of memory: {_reason(exc)}", time.perf_counter() - started), None
        raise
    try:
        model = model_bytes(result.model)
    finally:
        _release()
    evaluation = Evaluation(
        "ok",
        result.metrics.accuracy,
        seconds=time.perf_counter() - started,
        metrics=result.metrics.to_dict(),
        training=result.training_info(),
    )
    return evaluation, model


def fitness_for(spec: TrainSpec) -> Fitness:
    """The fitness an order asks for; the fake one only where its test hook is switched on."""
    if spec.fitness == "fake":
        from dicebox.evolution import fake_fitness

        if not fake_fitness.enabled():
            raise FakeFitnessRefused(
                f"the order asks for the fake test fitness but {fake_fitness.ENV}=1 is not set here"
            )
        return fake_fitness.fake_fitness
    return train_fitness


def evaluate_order(
    order: TrainingOrder,
    data: LabelledImages,
    fitness: Fitness | None = None,
    cancel: threading.Event | None = None,
    worker: str = "",
) -> OrderResult:
    """Run ``order`` on ``data`` (whose version the caller has checked) and wrap the outcome."""
    fitness = fitness or fitness_for(order.spec)
    evaluation, model = fitness(order.genome, data, order.spec, cancel)
    return OrderResult(order.order_id, "done", evaluation, model=model, worker=worker)


def model_bytes(model) -> bytes:
    """The ``.keras`` file of ``model`` without optimizer state (what a bundle needs)."""
    import keras

    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    with tempfile.TemporaryDirectory(prefix="dicebox-model-") as folder:
        path = Path(folder) / "model.keras"
        copy.save(path)
        return path.read_bytes()


def limit_threads(threads: int) -> None:
    """Cap TensorFlow's thread pools (call before TensorFlow runs anything in this process)."""
    for name in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS"):
        os.environ[name] = str(threads)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def _out_of_memory(exc: BaseException) -> bool:
    import tensorflow as tf

    return isinstance(exc, tf.errors.ResourceExhaustedError)


def _release() -> None:
    # Every individual builds new layers; without this the Keras graph state grows all run long.
    import keras

    keras.backend.clear_session()


@functools.cache
def _quiet_tensorflow() -> None:
    # Each individual is a new model, so tf.function retracing warnings are expected noise here.
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
