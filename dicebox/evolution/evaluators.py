"""Where individuals are trained: in this process, in local worker processes, or (see
:mod:`dicebox.evolution.rabbit_evaluator`) on worker machines through RabbitMQ.

An evaluator takes :class:`TrainingOrder`s with :meth:`submit` (at most ``capacity`` at a time
are worth submitting) and hands back one :class:`OrderResult` per :meth:`next_result` call, in
completion order. The search calls :meth:`acknowledge` once it has recorded a result durably.
"""

from __future__ import annotations

import collections
import multiprocessing
import os
import queue
import signal
import threading
from typing import Protocol

from dicebox.evolution.fitness import Fitness, evaluate_order, limit_threads
from dicebox.evolution.orders import Evaluation, OrderResult, TrainingOrder
from dicebox.labelled import LabelledImages


class EvaluationCancelled(Exception):
    """The cancel event was set while waiting for a result."""


class EvaluatorError(RuntimeError):
    """The evaluator cannot go on (workers keep dying at start, broker refuses): fatal for the run."""


class Evaluator(Protocol):
    capacity: int
    description: str

    def submit(self, order: TrainingOrder) -> None: ...

    def next_result(self, cancel: threading.Event) -> OrderResult: ...

    def acknowledge(self, result: OrderResult) -> None: ...

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

    def next_result(self, cancel: threading.Event) -> OrderResult:
        from dicebox.training import TrainingCancelled

        if cancel.is_set():
            raise EvaluationCancelled
        order = self._orders.popleft()
        try:
            return evaluate_order(order, self.data, self.fitness, cancel, worker="inline")
        except TrainingCancelled:
            raise EvaluationCancelled from None

    def acknowledge(self, result: OrderResult) -> None:
        pass

    def close(self, finished: bool = False) -> None:
        self._orders.clear()


def default_threads(workers: int) -> int:
    """TensorFlow threads per worker process so ``workers`` processes share the cores without oversubscribing."""
    return max(1, (os.cpu_count() or 1) // max(1, workers))


def _child_main(inbox, outbox, data: LabelledImages, fitness: Fitness | None, threads: int) -> None:
    """A worker process: train orders from ``inbox`` until it reads None."""
    # Ctrl-C reaches the whole process group; the parent decides when children stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    limit_threads(threads)
    name = f"process {os.getpid()}"
    while (order := inbox.get()) is not None:
        try:
            result = evaluate_order(order, data, fitness, None, worker=name)
        except Exception as exc:  # noqa: BLE001 - reported to the parent, which stops the run
            result = OrderResult(order.order_id, "error", message=f"{type(exc).__name__}: {exc}", worker=name)
        outbox.put(result)


class _Child:
    def __init__(self, process) -> None:
        self.process = process
        self.inbox = None
        self.order: TrainingOrder | None = None


class ProcessEvaluator:
    """``workers`` spawned processes, each importing TensorFlow itself with its share of the cores.

    A process that dies while training (the kernel's out-of-memory killer, a crash in native
    code) makes that individual "failed" and is replaced; processes that die before taking any
    order three times in a row are a fatal error.
    """

    def __init__(
        self,
        data: LabelledImages,
        workers: int,
        fitness: Fitness | None = None,
        threads: int | None = None,
    ) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        self.data = data
        self.capacity = workers
        self.description = f"{workers} local process(es)"
        self.fitness = fitness
        self.threads = threads or default_threads(workers)
        self._ctx = multiprocessing.get_context("spawn")
        self._outbox = None
        self._children: list[_Child] = []
        self._waiting: collections.deque[TrainingOrder] = collections.deque()
        self._early_deaths = 0

    def _start(self, slot: int | None = None) -> _Child:
        inbox = self._ctx.Queue()
        process = self._ctx.Process(
            target=_child_main,
            args=(inbox, self._outbox, self.data, self.fitness, self.threads),
            name="dicebox-evolution-worker",
            daemon=True,
        )
        process.start()
        child = _Child(process)
        child.inbox = inbox
        if slot is None:
            self._children.append(child)
        else:
            self._children[slot] = child
        return child

    def _ensure_started(self) -> None:
        if self._outbox is None:
            self._outbox = self._ctx.Queue()
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

    def next_result(self, cancel: threading.Event) -> OrderResult:
        self._ensure_started()
        while True:
            self._dispatch()
            try:
                result = self._outbox.get(timeout=0.2)
            except queue.Empty:
                if cancel.is_set():
                    raise EvaluationCancelled from None
                lost = self._reap()
                if lost is not None:
                    return lost
                continue
            for child in self._children:
                if child.order is not None and child.order.order_id == result.order_id:
                    child.order = None
                    self._early_deaths = 0
            return result

    def _reap(self) -> OrderResult | None:
        """Replace dead processes; the order a dead one held comes back as a failed individual."""
        for slot, child in enumerate(self._children):
            if child.process.is_alive():
                continue
            code = child.process.exitcode
            order = child.order
            child.process.join()
            if order is None:
                self._early_deaths += 1
                if self._early_deaths >= 3:
                    raise EvaluatorError(f"worker processes keep exiting at start (exit code {code})")
            self._start(slot)
            if order is not None:
                error = f"worker process died while training (exit code {code}; out of memory?)"
                return OrderResult(order.order_id, "done", Evaluation.failed(error), worker=f"process {child.process.pid}")
        return None

    def acknowledge(self, result: OrderResult) -> None:
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
        self._children.clear()
        self._waiting.clear()
        self._outbox = None
