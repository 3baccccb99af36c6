"""A tiny evented-model helper: callbacks registered with ``connect``, called with dataclass events.

No Qt: a Qt view that needs an event on its UI thread connects a callback that re-emits it as a
signal (Qt queues it across threads).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

E = TypeVar("E")


class EventEmitter(Generic[E]):
    """Calls every connected callback with each event, in the order they were connected.

    Callbacks run on the thread that emits; one that raises is logged and the others still run.
    """

    def __init__(self) -> None:
        self._callbacks: list[Callable[[E], object]] = []
        self._lock = threading.Lock()

    def connect(self, callback: Callable[[E], object]) -> Callable[[E], object]:
        """Call ``callback(event)`` for every event from now on; returns it (usable as a decorator)."""
        with self._lock:
            self._callbacks.append(callback)
        return callback

    def disconnect(self, callback: Callable[[E], object]) -> None:
        with self._lock:
            if callback in self._callbacks:
                self._callbacks.remove(callback)

    def emit(self, event: E) -> None:
        with self._lock:
            callbacks = list(self._callbacks)
        for callback in callbacks:
            try:
                callback(event)
            except Exception:  # noqa: BLE001 - one broken listener must not silence the others
                log.exception("a listener of %s failed", type(event).__name__)
