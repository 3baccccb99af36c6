"""Where individuals are trained: in this process, in local worker processes, or (see
:mod:`dicebox.evolution.rabbit_evaluator`) on worker machines through RabbitMQ.

An evaluator takes :class:`TrainingOrder`s with :meth:`submit` (at most ``capacity`` at a time
are worth submitting) and hands back one :class:`TrainingOrderResult` per :meth:`next_result` call, in
completion order. The search calls :meth:`acknowledge` once it has recorded a result durably.
"""

from __future__ import annotations

import collections
import multiprocessing
import os
import signal
import threading
from multiprocessing.connection import wait
from typing import Protocol

from dicebox.evolution.fitness import Fitness, evaluate_order, limit_threads
from dicebox.evolution.training_orders import Evaluation, TrainingOrder, TrainingOrderResult
from dicebox.images import LabelledImages


class EvaluationCancelled(Exception):
    """The cancel event was set while waiting for a result."""


class EvaluatorError(RuntimeError):
    """The evaluator cannot go on (workers keep dying at start, broker refuses): fatal for the run."""


class Evaluator(Protocol):
    capacity: int
    description: str

    def submit(self, order: TrainingOrder) -> None: ...

    def next_result(self, cancel: threading.Event) -> TrainingOrderResult: ...

    def acknowledge(self, result: TrainingOrderResult) -> None: ...

    def close(self, finished: bool = False) -> None: ...


class InlineEvaluator:
    """Trains in the calling thread, one order at a time (cancel stops training at the next batch)."""

    capacity = 1
    description = "this process"

    def __init__(self, data: LabelledImages, fitness: Fitness | None = None) -> None:
        self.data = data
        self.fitness = fitness
        self._orders: collections.deque[TrainingOrder] = collections.deque()

    def submit(self, order: TrainingOrder) -> None:
        self._orders.append(order)

    def next_result(self, cancel: threading.Event) -> TrainingOrderResult:
        from dicebox.nets.training import TrainingCancelled

        if cancel.is_set():
            raise EvaluationCancelled
        order = self._orders.popleft()
        try:
            return evaluate_order(order, self.data, self.fitness, cancel, worker="inline")
        except TrainingCancelled:
            raise EvaluationCancelled from None

    def acknowledge(self, result: TrainingOrderResult) -> None:
        pass

    def close(self, finished: bool = False) -> None:
        self._orders.clear()


def default_threads(processes: int) -> int:
    """TensorFlow threads per training process so ``processes`` processes share the cores without oversubscribing."""
    return max(1, (os.cpu_count() or 1) // max(1, processes))


def _child_main(inbox, outbox, data: LabelledImages, fitness: Fitness | None, threads: int) -> None:
    """A worker process: train orders from ``inbox`` until it reads None.

    ``outbox`` is this process's own pipe, written synchronously: a queue shared by all workers
    is written by a feeder thread under a shared lock, and a process killed (out of memory) right
    after handing in a result could die holding that lock and block every other worker for good.
    """
    # Ctrl-C reaches the whole process group; the parent decides when children stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    limit_threads(threads)
    name = f"process {os.getpid()}"
    while (order := inbox.get()) is not None:
        try:
            result = evaluate_order(order, data, fitness, None, worker=name)
        except Exception as exc:  # noqa: BLE001 - reported to the parent, which stops the run
            result = TrainingOrderResult(order.order_id, "error", message=f"{type(exc).__name__}: {exc}", worker=name)
        outbox.send(result)


class _Child:
    def __init__(self, process, inbox, results) -> None:
        self.process = process
        self.inbox = inbox
        self.results = results  # the parent's end of this process's result pipe
        self.order: TrainingOrder | None = None


class ProcessEvaluator:
    """``processes`` spawned processes, each importing TensorFlow itself with its share of the cores.

    A process that dies while training (the kernel's out-of-memory killer, a crash in native
    code) makes that individual "failed" and is replaced; processes that die before taking any
    order three times in a row are a fatal error.
    """

    def __init__(
        self,
        data: LabelledImages,
        processes: int,
        fitness: Fitness | None = None,
        threads: int | None = None,
    ) -> None:
        if processes < 1:
            raise ValueError(f"processes must be at least 1, got {processes}")
        self.data = data
        self.capacity = processes
        self.description = f"{processes} local process(es)"
        self.fitness = fitness
        self.threads = threads or default_threads(processes)
        self._ctx = multiprocessing.get_context("spawn")
        self._started = False
        self._children: list[_Child] = []
        self._waiting: collections.deque[TrainingOrder] = collections.deque()
        self._early_deaths = 0

    def _start(self, slot: int | None = None) -> _Child:
        inbox = self._ctx.Queue()
        results, outbox = self._ctx.Pipe(duplex=False)
        process = self._ctx.Process(
            target=_child_main,
            args=(inbox, outbox, self.data, self.fitness, self.threads),
            name="dicebox-evolution-worker",
            daemon=True,
        )
        process.start()
        outbox.close()  # the child holds the writing end: its death then reads as end of file here
        child = _Child(process, inbox, results)
        if slot is None:
            self._children.append(child)
        else:
            self._children[slot] = child
        return child

    def _ensure_started(self) -> None:
        if not self._started:
            self._started = True
            for _ in range(self.capacity):
                self._start()

    def submit(self, order: TrainingOrder) -> None:
        self._ensure_started()
        self._waiting.append(order)
        self._dispatch()

    def _dispatch(self) -> None:
        for child in self._children:
            if child.order is None and self._waiting:
                child.order = self._waiting.popleft()
                child.inbox.put(child.order)

    def next_result(self, cancel: threading.Event) -> TrainingOrderResult:
        self._ensure_started()
        while True:
            self._dispatch()
            for child in self._children:
                if child.order is not None and child.results.poll():
                    try:
                        result = child.results.recv()
                    except (EOFError, OSError):
                        break  # it died: _reap below fails its order and replaces it
                    child.order = None
                    self._early_deaths = 0
                    return result
            if cancel.is_set():
                raise EvaluationCancelled
            lost = self._reap()
            if lost is not None:
                return lost
            wait([c.results for c in self._children if c.order is not None] or [], timeout=0.2)

    def _reap(self) -> TrainingOrderResult | None:
        """Replace dead processes; the order a dead one held comes back as a failed individual."""
        for slot, child in enumerate(self._children):
            if child.process.is_alive():
                continue
            order, late = child.order, None
            if order is not None and child.results.poll():
                try:
                    late = child.results.recv()  # handed in just before it died: still counts
                except (EOFError, OSError):
                    late = None
            code = child.process.exitcode
            child.process.join()
            child.results.close()
            if order is None:
                self._early_deaths += 1
                if self._early_deaths >= 3:
                    raise EvaluatorError(f"worker processes keep exiting at start (exit code {code})")
            self._start(slot)
            if late is not None:
                return late
            if order is not None:
                error = f"worker process died while training (exit code {code}; out of memory?)"
                return TrainingOrderResult(
                    order.order_id, "done", Evaluation.failed(error), worker=f"process {child.process.pid}"
                )
        return None

    def acknowledge(self, result: TrainingOrderResult) -> None:
        pass

    def close(self, finished: bool = False) -> None:
        """Stop the processes; one still training is terminated (its order was never recorded)."""
        for child in self._children:
            if child.order is None and child.process.is_alive():
                child.inbox.put(None)
        for child in self._children:
            if child.order is None:
                child.process.join(timeout=5)
            if child.process.is_alive():
                child.process.terminate()
                child.process.join(timeout=5)
            child.results.close()
        self._children.clear()
        self._waiting.clear()
        self._started = False
