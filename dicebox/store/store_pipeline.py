"""One thread does the work of every store; request threads hand their images over and wait.

Why a thread of its own: on the workstations and VMs we measured, what a store costs is mostly
thread switches, not work. Every call that releases Python's GIL (decoding a PNG, hashing it,
each SQLite statement, each fsync) hands the interpreter to another runnable request thread
and waits to get it back. Done by request threads, a store pays that on every step; done here,
while the request threads sleep, the same steps rarely find anyone to hand over to, and one
commit and one fsync serve every store that arrived meanwhile.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

Job = TypeVar("Job")


class _Ticket(Generic[Job]):
    __slots__ = ("job", "done", "error")

    def __init__(self, job: Job) -> None:
        self.job = job
        self.done = threading.Event()
        self.error: BaseException | None = None


class StorePipeline(Generic[Job]):
    """Runs ``process(jobs) -> {position: error}`` on one thread, for batches of submitted jobs."""

    def __init__(self, process: Callable[[list[Job]], dict[int, BaseException]], name: str = "dicebox-store") -> None:
        self._process = process
        self._name = name
        self._wake = threading.Condition()
        self._queue: list[_Ticket[Job]] = []
        self._thread: threading.Thread | None = None
        self._closed = False

    def submit(self, job: Job) -> None:
        """Process ``job`` (with whatever else is queued); raises that job's own error."""
        ticket = _Ticket(job)
        with self._wake:
            if self._closed:
                raise RuntimeError("the data set is closed")
            self._queue.append(ticket)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            if len(self._queue) == 1:
                self._wake.notify()
        ticket.done.wait()
        if ticket.error is not None:
            raise ticket.error

    def close(self) -> None:
        """Finish the queued jobs and stop the thread."""
        with self._wake:
            self._closed = True
            self._wake.notify()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._queue and not self._closed:
                    self._wake.wait()
                batch, self._queue = self._queue, []
                if not batch and self._closed:
                    return
            try:
                errors = self._process([t.job for t in batch])
            except BaseException as exc:  # noqa: BLE001 - handed to every job of the batch
                errors = dict.fromkeys(range(len(batch)), exc)
            for position, ticket in enumerate(batch):
                ticket.error = errors.get(position)
                ticket.done.set()
