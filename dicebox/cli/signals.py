"""Stopping long-running commands cleanly on Ctrl-C and SIGTERM."""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable

log = logging.getLogger("dicebox")


def stop_on_signals(stop: Callable[[], None]) -> None:
    """Call ``stop`` (which must only ask the loop to end) on SIGINT or SIGTERM."""

    def handler(signum, _frame) -> None:
        log.info("stopping (signal %d)", signum)
        stop()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
