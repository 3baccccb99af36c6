"""Training many networks in one process (an evolution does) must not keep each one's graphs alive.

Keras on TensorFlow registered a custom gradient per training in a global registry that never let
go, and with it every traced graph: 12-17 MB per network, past 20 GB in an hour of evolution.
"""

from __future__ import annotations

import gc

from synthetic_images import TINY


def _graphs() -> int:
    from tensorflow.python.framework.func_graph import FuncGraph

    gc.collect()
    return sum(isinstance(o, FuncGraph) for o in gc.get_objects())


def _custom_gradients() -> int:
    from tensorflow.python.framework import ops

    return sum(name.startswith("CustomGradient-") for name in ops._gradient_registry._registry)


def test_a_finished_training_leaves_no_graph_or_gradient_behind(shapes_data):
    from dicebox.nets.training import TrainOptions, run_training

    options = TrainOptions(epochs=2, batch_size=32, seed=1, patience=0)
    result = run_training(TINY, shapes_data, options)  # warm-up: what TensorFlow keeps once per process
    del result
    graphs, gradients = _graphs(), _custom_gradients()
    for _ in range(3):
        result = run_training(TINY, shapes_data, options)
        assert result.metrics.accuracy > 0
        del result
    assert _custom_gradients() == gradients, "custom gradients registered by finished trainings"
    assert _graphs() <= graphs, "graphs of finished trainings still alive"
