"""Stopping long-running commands cleanly on Ctrl-C and SIGTERM."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable

log = logging.getLogger("dicebox")

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def on_stop_signals(handler: Callable[[int], None]) -> Callable[[], None]:
    """Call ``handler(signum)`` on SIGINT or SIGTERM; returns what puts the previous handlers back.

    Only the main thread may set signal handlers: elsewhere (a command run from a test's thread)
    nothing is set and the returned function does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = {sig: signal.signal(sig, lambda signum, _frame: handler(signum)) for sig in STOP_SIGNALS}

    def restore() -> None:
        for sig, old in previous.items():
            signal.signal(sig, old)

    return restore


def stop_on_signals(stop: Callable[[], None]) -> None:
    """Call ``stop`` (which must only ask the loop to end) on SIGINT or SIGTERM."""

    def handler(signum: int) -> None:
        log.info("stopping (signal %d)", signum)
        stop()

    on_stop_signals(handler)
