"""Fitness: train one genome with :mod:`dicebox.nets.training` and score it by validation accuracy.

A genome that cannot be trained (does not fit the images, NaN loss, out of memory) gives a
"failed" :class:`Evaluation` with the reason; anything else (unusable data, a bug) raises, because
it would fail every individual alike. TensorFlow is imported only when a network is trained.
"""

from __future__ import annotations

import functools
import os
import threading
import time

from dicebox.evolution.dataset import split_test
from dicebox.evolution.fitness_registry import Fitness, FitnessUnavailable, get_fitness, register_fitness
from dicebox.evolution.training_orders import Evaluation, TrainingOrder, TrainingOrderResult, TrainSpec
from dicebox.images import LabelledImages
from dicebox.nets.genome import Genome, GenomeError

__all__ = ["FakeFitnessRefused", "Fitness", "evaluate_order", "fitness_for", "register", "train_fitness"]

#: The error an order for a fitness not available here raises (the fake one without its test hook).
FakeFitnessRefused = FitnessUnavailable


#: Keras graph state is cleared every this many trainings, not after each (it costs 0.2-0.3 s).
CLEAR_EVERY = 16
_trainings = 0


def train_fitness(
    genome: Genome, data: LabelledImages, spec: TrainSpec, cancel: threading.Event | None = None
) -> tuple[Evaluation, bytes | None]:
    """Train ``genome`` as ``spec`` says (early stopping, rungs, time limit, best weights) and score it.

    ``data`` is the search part, except for the ``final`` order: then it is the whole data set,
    the network trains on the search part and is scored on the test split. The model is
    serialised only when ``spec.ship_above`` asks for it. Raises TrainingCancelled when
    ``cancel`` is set, TrainingError for data no genome can use.
    """
    from dicebox.nets.training import (
        TrainingFailed,
        TrainOptions,
        evaluate_predictions,
        predict_probabilities,
        run_training,
    )

    _quiet_tensorflow()
    test = None
    if spec.final:
        data, test = split_test(data, spec.test_share, spec.seed)
    options = TrainOptions(
        epochs=spec.epochs,
        batch_size=spec.batch_size,
        # The final retraining fits on nearly all the search data; a small part drives early stopping.
        validation_split=min(spec.validation_split, 0.1) if spec.final else spec.validation_split,
        patience=spec.patience,
        seed=spec.seed,
        progress_interval=1.0,
        rungs=spec.rungs,
        time_limit=spec.time_limit,
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
    metrics, training = result.metrics, result.training_info()
    if test is not None and len(test):
        probabilities = predict_probabilities(result.model, test.images)
        metrics = evaluate_predictions(test.labels, probabilities, tuple(test.categories), "test")
        training["validation_accuracy"] = result.metrics.accuracy
    model = None
    try:
        wanted = spec.ship_above is not None and metrics.accuracy > spec.ship_above
        if wanted and 4 * result.parameter_count <= spec.max_model_bytes:
            from dicebox.nets.bundle import inference_file_bytes

            model = inference_file_bytes(result.model)
            if len(model) > spec.max_model_bytes:
                model = None
    finally:
        _release()
    evaluation = Evaluation(
        "ok", metrics.accuracy, seconds=time.perf_counter() - started, metrics=metrics.to_dict(), training=training
    )
    return evaluation, model


def register() -> None:
    """Register :func:`train_fitness` as "train" (kept if a test registered its own first)."""
    register_fitness("train", train_fitness, replace=False)


def fitness_for(spec: TrainSpec) -> Fitness:
    """The fitness registered under the name an order gives; raises FitnessUnavailable."""
    return get_fitness(spec.fitness)


def evaluate_order(
    order: TrainingOrder,
    data: LabelledImages,
    fitness: Fitness | None = None,
    cancel: threading.Event | None = None,
    worker: str = "",
) -> TrainingOrderResult:
    """Run ``order`` on ``data`` (whose version the caller has checked) and wrap the outcome."""
    fitness = fitness or fitness_for(order.spec)
    if not order.spec.final:
        data, _ = split_test(data, order.spec.test_share, order.spec.seed)  # the search never sees the test split
    evaluation, model = fitness(order.genome, data, order.spec, cancel)
    return TrainingOrderResult(order.order_id, "done", evaluation, model=model, worker=worker)


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
    # Every individual builds new layers; without clearing, the Keras graph state grows all run long.
    global _trainings
    _trainings += 1
    if _trainings % CLEAR_EVERY == 0:
        import keras

        keras.backend.clear_session()


@functools.cache
def _quiet_tensorflow() -> None:
    """Set TensorFlow up for training many small networks in this process, once."""
    import tensorflow as tf

    # Each individual is a new model, so tf.function retracing warnings are expected noise here.
    tf.get_logger().setLevel("ERROR")
    # Without a GPU, optimising every new network's training graph (grappler) costs more than it
    # saves in the few epochs a searched network runs: measured, epoch 1 took 2.2 s with it and
    # 1.3 s without, later epochs the same (bench_evolution_overhead.py). A GPU keeps it (layouts).
    if not tf.config.list_physical_devices("GPU"):
        tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})
