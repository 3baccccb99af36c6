"""Running work off the UI thread: a callable or a progress generator on Qt's thread pool.

The work itself is Qt-free; these wrappers only carry its results back as signals, which Qt
delivers on the UI thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

from PyQt5.QtCore import QCoreApplication, QObject, QRunnable, QThreadPool, pyqtSignal

log = logging.getLogger(__name__)


class WorkerSignals(QObject):
    yielded = pyqtSignal(object)
    finished = pyqtSignal(object)
    errored = pyqtSignal(str)
    ended = pyqtSignal()  # after finished or errored: nothing more will be emitted


class Worker(QRunnable):
    """Runs ``fn(*args)``; a generator's items are emitted as ``yielded``, its end as ``finished``.

    ``cancel`` is an Event passed to the work (``cancel=`` keyword) when ``cancellable``; the work
    checks it between steps, so cancelling takes effect at its next yield.
    """

    def __init__(self, fn: Callable[..., Any], *args: Any, cancellable: bool = False, **kwargs: Any) -> None:
        super().__init__()
        self.fn, self.args, self.kwargs = fn, args, kwargs
        # Owned by Qt (parented to the application), not by this wrapper, and deleted on the UI
        # thread after their last signal is delivered there (``ended`` -> deleteLater). Owned by
        # the wrapper, they went with it on the pool's thread when the pool deleted the runnable,
        # while the UI thread could still be delivering their queued signals.
        self.signals = WorkerSignals(QCoreApplication.instance())
        self.cancel_event = threading.Event()
        if cancellable:
            self.kwargs["cancel"] = self.cancel_event
        self.setAutoDelete(True)

    def cancel(self) -> None:
        self.cancel_event.set()

    def run(self) -> None:
        try:
            result = self.fn(*self.args, **self.kwargs)
            if isinstance(result, Iterator):
                last = None
                for item in result:
                    last = item
                    self.signals.yielded.emit(item)
                result = last
            self.signals.finished.emit(result)
        except Exception as exc:  # noqa: BLE001 - reported to the operator as a dialog/status
            log.warning("background work failed: %s", exc, exc_info=True)
            self.signals.errored.emit(str(exc) or type(exc).__name__)
        finally:
            self.signals.ended.emit()


def run_in_background(fn: Callable[..., Any], *args: Any, on_done: Callable[[Any], None] | None = None,
                      on_error: Callable[[str], None] | None = None, pool: QThreadPool | None = None,
                      **kwargs: Any) -> Worker:
    """Start ``fn`` on the thread pool; ``on_done``/``on_error`` run on the UI thread."""
    worker = Worker(fn, *args, **kwargs)
    if on_done is not None:
        worker.signals.finished.connect(on_done)
    if on_error is not None:
        worker.signals.errored.connect(on_error)
    # Queued after the callbacks' own deliveries: the signals go once the callbacks have run.
    worker.signals.ended.connect(worker.signals.deleteLater)
    (pool or QThreadPool.globalInstance()).start(worker)
    return worker
