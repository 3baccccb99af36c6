"""Group commit: concurrent writers share one folder fsync and one index transaction.

Each writer makes its own image files durable (those fsyncs run in parallel); the last step —
fsync of the folders that hold the new names, and the index commit — is done by whichever
writer arrives first for everyone queued behind it. Under load, one fsync serves many stores.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

Item = TypeVar("Item")


class _Ticket(Generic[Item]):
    __slots__ = ("item", "done", "error")

    def __init__(self, item: Item) -> None:
        self.item = item
        self.done = threading.Event()
        self.error: BaseException | None = None


class GroupCommit(Generic[Item]):
    """Runs ``commit(items) -> {position: error}`` for batches of concurrently submitted items."""

    def __init__(self, commit: Callable[[list[Item]], dict[int, BaseException]]) -> None:
        self._commit = commit
        self._lock = threading.Lock()
        self._queue: list[_Ticket[Item]] = []
        self._leading = False

    def submit(self, item: Item) -> None:
        """Commit ``item`` (possibly together with others); raises that item's own error."""
        ticket = _Ticket(item)
        with self._lock:
            self._queue.append(ticket)
            lead = not self._leading
            if lead:
                self._leading = True
        if lead:
            self._lead()
        ticket.done.wait()
        if ticket.error is not None:
            raise ticket.error

    def _lead(self) -> None:
        while True:
            with self._lock:
                batch, self._queue = self._queue, []
                if not batch:
                    self._leading = False
                    return
            try:
                errors = self._commit([t.item for t in batch])
            except BaseException as exc:  # noqa: BLE001 - handed to every writer of the batch
                errors = dict.fromkeys(range(len(batch)), exc)
            for position, ticket in enumerate(batch):
                ticket.error = errors.get(position)
                ticket.done.set()
