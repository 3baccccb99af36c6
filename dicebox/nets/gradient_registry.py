"""Letting go of what TensorFlow keeps of every network trained in this process.

Each ``model.fit`` of Keras 3 on TensorFlow traces a training step whose gradient all-reduce goes
through ``tf.custom_gradient``; in a traced graph that registers a new gradient function in
TensorFlow's global registry under a fresh ``CustomGradient-N`` name, and nothing ever removes it.
The function holds the traced graph, so every network trained leaves its graphs behind: measured
with the default network on 70 digits, 12-17 MB per training, whether or not
``keras.backend.clear_session`` ran, so an evolution training networks in one process for an
hour grew past 20 GB. A gradient function is only looked up while a graph is being built, so once a
training has ended the ones registered during it can go.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator

log = logging.getLogger(__name__)

# Trainings in one process take turns here: a gradient registered by one training is never
# removed while another is still building its graph with it.
_turn = threading.Lock()


def _registry() -> dict | None:
    try:
        from tensorflow.python.framework import ops

        registry = ops._gradient_registry._registry  # noqa: SLF001 - no public way to unregister
    except (ImportError, AttributeError):  # pragma: no cover - a TensorFlow without it
        return None
    return registry if isinstance(registry, dict) else None


@contextlib.contextmanager
def forget_custom_gradients() -> Iterator[None]:
    """Around one training: the custom gradients it registered are unregistered when it ends."""
    with _turn:
        registry = _registry()
        before = set(registry) if registry is not None else set()
        try:
            yield
        finally:
            if registry is not None:
                added = [name for name in list(registry) if name not in before and name.startswith("CustomGradient-")]
                for name in added:
                    registry.pop(name, None)
                log.debug("unregistered %d custom gradients", len(added))
