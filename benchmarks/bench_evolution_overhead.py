"""Overhead per individual: how much of a searched network's time is spent in its epochs, and how much is fixed cost.

Run from the repository root::

    /work/venv/bin/python benchmarks/bench_evolution_overhead.py                      # mnist and dice, 16 networks each
    /work/venv/bin/python benchmarks/bench_evolution_overhead.py --tasks mnist --networks 8 --processes 1

A genetic algorithm run (population 8, at most 9 epochs per network, rungs at epochs 1 and 3,
batch 16, 30 % validation: the settings of bench_evolution_budget.py) on each task trains
``--networks`` networks through an evaluator: in this process (default), or in ``--processes``
local worker processes kept warm over the run. Per trained network it measures the wall-clock
from the runner's order to its result (building the model, training, scoring, shipping a new
champion's model, the evaluator's own work) and the seconds of its epochs (training plus
validation, as the training reports them). Epoch 1 of a new network also traces its graph, so
the epochs are counted at the speed of its later ones (epochs run x their median); the fixed
cost is the rest of the wall-clock. The first network is reported apart (warm-up). CPU seconds (this process only, so inline) are
printed too: two shared cores make wall-clock noisy, read the load average printed with it.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import threading
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "benchmarks")]

from bench_evolution_budget import TAXONOMY, task_data  # noqa: E402

from dicebox.evolution.dataset import DataSpec  # noqa: E402
from dicebox.evolution.evaluators import InlineEvaluator, ProcessEvaluator  # noqa: E402
from dicebox.evolution.search import Evolution, SearchSettings  # noqa: E402
from dicebox.evolution.training_orders import TrainingOrder, TrainingOrderResult, TrainSpec  # noqa: E402


class Timed:
    """An evaluator that times each order from its submission to its result."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.capacity = inner.capacity
        self.description = inner.description
        self.submitted: dict[str, tuple[float, float]] = {}
        self.rows: list[dict] = []

    def submit(self, order: TrainingOrder) -> None:
        self.submitted[order.order_id] = (time.perf_counter(), time.process_time())
        self.inner.submit(order)

    def next_result(self, cancel: threading.Event) -> TrainingOrderResult:
        result = self.inner.next_result(cancel)
        wall, cpu = self.submitted.pop(result.order_id, (math.nan, math.nan))
        training = (result.evaluation.training if result.evaluation else None) or {}
        self.rows.append({
            "wall": time.perf_counter() - wall,
            "cpu": time.process_time() - cpu,
            "epochs": list(training.get("epoch_seconds") or []),
            "model_bytes": len(result.model) if result.model else 0,
            "status": result.evaluation.status if result.evaluation else result.kind,
        })
        return result

    def acknowledge(self, result: TrainingOrderResult) -> None:
        self.inner.acknowledge(result)

    def close(self, finished: bool = False) -> None:
        self.inner.close(finished)


def measure(task: str, networks: int, workers: int, seed: int) -> list[dict]:
    fit, _test = task_data(task, seed)
    inner = ProcessEvaluator(fit, workers) if workers else InlineEvaluator(fit)
    evaluator = Timed(inner)
    train = TrainSpec(epochs=9, batch_size=16, validation_split=0.3, patience=2, seed=seed)
    settings = SearchSettings(generations=100, population=8, final_epochs=0,
                              rung_eta=3, train=train)
    search = Evolution(settings, DataSpec.of(fit), evaluator, taxonomy=TAXONOMY, seed=seed)
    try:
        for _event in search.run():
            if len(evaluator.rows) >= networks:
                break
    finally:
        evaluator.close()
    return evaluator.rows[:networks]


def steady(row: dict, fallback: float) -> float:
    """Seconds of one epoch of this network once its graph is traced (a median of its later epochs)."""
    return statistics.median(row["epochs"][1:]) if len(row["epochs"]) > 1 else fallback


def report(task: str, rows: list[dict], workers: int) -> None:
    first, rest = rows[0], [r for r in rows[1:] if r["epochs"]]
    failed = len(rows) - 1 - len(rest)
    laters = [s for r in rest for s in r["epochs"][1:]]
    later = statistics.median(laters) if laters else math.nan
    wall = statistics.mean(r["wall"] for r in rest)
    epochs = statistics.mean(sum(r["epochs"]) for r in rest)
    useful = statistics.mean(steady(r, later) * len(r["epochs"]) for r in rest)
    firsts = [r["epochs"][0] for r in rest]
    shipped = [r["model_bytes"] for r in rest if r["model_bytes"]]
    where = f"{workers} warm worker process(es)" if workers else "this process"
    print(f"\n{task}: {len(rows)} networks trained in {where} ({failed} failed before an epoch, left out)")
    print(f"  first network (warm-up): {first['wall']:.2f} s")
    print(f"  per network after it: {wall:.2f} s; its epochs as reported {epochs:.2f} s "
          f"(epoch 1 {statistics.median(firsts):.2f} s median, later epochs {later:.3f} s median, "
          f"{statistics.mean(len(r['epochs']) for r in rest):.1f} epochs run)")
    print(f"  FIXED COST per network {wall - useful:.2f} s; share of its time in epochs {useful / wall:.0%} "
          f"(epochs counted at their traced speed: {useful:.2f} s)")
    if not workers:
        print(f"  CPU seconds per network (this process): {statistics.mean(r['cpu'] for r in rest):.2f}")
    print(f"  models shipped (new champions): {len(shipped)} of {len(rest)}"
          + (f", {statistics.mean(shipped) / 1e6:.2f} MB each" if shipped else ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", default="mnist,dice")
    parser.add_argument("--networks", type=int, default=16, help="networks trained per task (default 16)")
    parser.add_argument("--processes", type=int, default=0, help="local training processes (default 0: in this process)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    from dicebox.evolution.fitness import _quiet_tensorflow

    _quiet_tensorflow()
    print(f"[load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores at start]")
    for task in (t.strip() for t in args.tasks.split(",") if t.strip()):
        rows = measure(task, args.networks, args.processes, args.seed)
        report(task, rows, args.processes)
        print(f"  [load average {os.getloadavg()[0]:.1f}]")


if __name__ == "__main__":
    main()
