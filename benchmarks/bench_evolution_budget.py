"""Does evolution earn its place? Evolved champion vs random search vs the default network, at equal wall-clock.

Run from the repository root::

    /work/venv/bin/python benchmarks/bench_evolution_budget.py --budget 60 --seeds 4
    /work/venv/bin/python benchmarks/bench_evolution_budget.py --budget 10 --seeds 1 --tasks mnist   # smoke test

Per task and seed (a paired design: all three methods get the same search images, the same test
images and the same wall-clock budget, run one after the other on the same machine):

- ``evolve``: ``Evolution`` with ``time_budget=B`` (generation 1 = the default network and its
  variations, ASHA-like rungs, tournament among the living, two elites) and the champion's final
  retraining inside the budget; its bundle is scored on the test images.
- ``random``: the same with ``strategy="random"`` (random genomes, the same rungs, the same final
  retraining, the same budget in seconds).
- ``default``: :func:`dicebox.nets.genome.default_genome` trained with the final retraining's settings
  (10 % validation for early stopping, patience 5) for up to the whole budget (``time_limit=B``).

Tasks: ``mnist``: the 100 handwritten digits in /work/shared/data/mnist_28x28 (10 per class), a
stratified 70/30 split per seed (the search, and every method's training, sees only the 70).
``dice``: SYNTHETIC dice crops from the camera simulator, 60x50 grey: 20 per face to search and fit,
10 per face to test, drawn from other random scenes (camera seeds) than the search images.
Figures: test accuracy per method (mean +- sd over seeds), the paired differences (evolve - default,
evolve - random) with their sd and wins/ties/losses, and what the search did (trainings, networks
stopped at a rung, the champion's origin). Two shared cores: read the load average printed with it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "benchmarks")]

import numpy as np  # noqa: E402
from bench_evolution import load_mnist, subset  # noqa: E402

from dicebox.config import TaxonomyConfig  # noqa: E402
from dicebox.evolution.dataset import DataSpec  # noqa: E402
from dicebox.evolution.evaluators import InlineEvaluator  # noqa: E402
from dicebox.evolution.events import IndividualTrained  # noqa: E402
from dicebox.evolution.run_folder import RunFolder  # noqa: E402
from dicebox.evolution.search import Evolution, SearchSettings  # noqa: E402
from dicebox.evolution.taxonomy import Taxonomy  # noqa: E402
from dicebox.evolution.training_orders import TrainSpec  # noqa: E402
from dicebox.images import LabelledImages  # noqa: E402
from dicebox.nets.genome import default_genome  # noqa: E402
from dicebox.nets.training import TrainOptions, run_training, stratified_split  # noqa: E402

TAXONOMY = Taxonomy.from_config(TaxonomyConfig())  # the configuration's defaults
FINAL_PATIENCE = 5
FINAL_VALIDATION = 0.1  # what the final retraining holds out for early stopping (see fitness.train_fitness)


def dice(seed: int, per_class: int) -> LabelledImages:
    from dicebox.camera.synthetic import DEFAULT_GEOMETRY, synthetic_dataset

    images, names = synthetic_dataset(per_class, DEFAULT_GEOMETRY, seed=seed)
    categories = tuple(sorted(set(names)))
    labels = np.array([categories.index(n) for n in names], np.int64)
    return LabelledImages(images, labels, categories, f"synthetic-dice-{seed}-{per_class}")


def task_data(task: str, seed: int) -> tuple[LabelledImages, LabelledImages]:
    """(search/fit images, test images) of one task for one seed."""
    if task == "mnist":
        data = load_mnist()
        fit, test = stratified_split(data.labels, 0.3, seed)
        return subset(data, np.sort(fit), f"mnist100-fit-{seed}"), subset(data, test, f"mnist100-test-{seed}")
    # Different camera seeds: every test image comes from scenes the search never saw.
    return dice(10_000 + seed, 20), dice(20_000 + seed, 10)


def accuracy(model, test: LabelledImages) -> float:
    predicted = model(test.images, training=False).numpy().argmax(axis=1)
    return float((predicted == test.labels).mean())


def run_search(strategy: str, fit: LabelledImages, test: LabelledImages, seed: int, budget: float,
               args: argparse.Namespace, scratch: Path) -> dict:
    import keras

    train = TrainSpec(epochs=args.epochs, batch_size=16, validation_split=0.3, patience=2, seed=seed)
    settings = SearchSettings(strategy=strategy, generations=100_000, population=args.population,
                              time_budget=budget, final_share=args.final_share, final_patience=FINAL_PATIENCE,
                              train=train)
    run = RunFolder(scratch / f"{strategy}-{seed}-{uuid.uuid4().hex[:6]}")
    started = time.monotonic()
    search = Evolution(settings, DataSpec.of(fit), InlineEvaluator(fit), taxonomy=TAXONOMY, seed=seed, run=run)
    events = list(search.run())
    seconds = time.monotonic() - started
    trained = [e for e in events if isinstance(e, IndividualTrained) and not e.cached]
    champion = search.champion or {}
    score = 0.0
    if champion.get("bundle"):
        model = keras.models.load_model(Path(champion["bundle"]) / "model.keras", compile=False)
        score = accuracy(model, test)
    return {
        "test": score,
        "seconds": seconds,
        "trainings": len(trained),
        "rung_stops": sum(e.stop_reason == "rung" for e in trained),
        "failed": sum(e.status != "ok" for e in trained),
        "origin": champion.get("origin", "?"),
        "search_accuracy": champion.get("accuracy"),
        "generations": search.generation,
        "final_epochs": (champion.get("retrained") or {}).get("history", {}).get("loss", []).__len__(),
    }


def run_default(fit: LabelledImages, test: LabelledImages, seed: int, budget: float) -> dict:
    started = time.monotonic()
    options = TrainOptions(epochs=1000, batch_size=16, validation_split=FINAL_VALIDATION, patience=FINAL_PATIENCE,
                           seed=seed, time_limit=budget)
    result = run_training(default_genome(), fit, options)
    return {"test": accuracy(result.model, test), "seconds": time.monotonic() - started,
            "epochs": result.epochs_run, "stop": result.stop_reason}


def describe(values: list[float]) -> str:
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):+.3f} +- {spread:.3f}" if min(values) < 0 else \
        f"{statistics.mean(values):.3f} +- {spread:.3f}"


def paired(a: list[float], b: list[float]) -> str:
    diffs = [x - y for x, y in zip(a, b, strict=True)]
    wins = sum(d > 1e-9 for d in diffs)
    losses = sum(d < -1e-9 for d in diffs)
    spread = statistics.stdev(diffs) if len(diffs) > 1 else 0.0
    return (f"{statistics.mean(diffs):+.3f} +- {spread:.3f} (sd; wins/ties/losses {wins}/"
            f"{len(diffs) - wins - losses}/{losses}; per seed {', '.join(f'{d:+.3f}' for d in diffs)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget", type=float, default=60.0, help="wall-clock seconds per method (default 60)")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--tasks", default="mnist,dice")
    parser.add_argument("--population", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=9, help="most epochs per searched network (rungs at 1, 3)")
    parser.add_argument("--final-share", type=float, default=0.25)
    args = parser.parse_args()
    from dicebox.evolution.fitness import _quiet_tensorflow

    _quiet_tensorflow()
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    table: dict[str, dict[str, list[dict]]] = {t: {"evolve": [], "random": [], "default": []} for t in tasks}
    with tempfile.TemporaryDirectory(prefix="dicebox-bench-budget-") as folder:
        scratch = Path(folder)
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            for task in tasks:
                fit, test = task_data(task, seed)
                row = {
                    "evolve": run_search("evolve", fit, test, seed, args.budget, args, scratch),
                    "random": run_search("random", fit, test, seed, args.budget, args, scratch),
                    "default": run_default(fit, test, seed, args.budget),
                }
                for method, result in row.items():
                    table[task][method].append(result)
                e, r, d = row["evolve"], row["random"], row["default"]
                print(f"[{task} seed {seed}] evolve {e['test']:.3f} ({e['trainings']} nets, {e['rung_stops']} "
                      f"stopped at a rung, champion {e['origin']}, {e['seconds']:.0f} s) | random {r['test']:.3f} "
                      f"({r['trainings']} nets, {r['seconds']:.0f} s) | default {d['test']:.3f} ({d['epochs']} "
                      f"epochs, {d['stop'] or 'all epochs'}, {d['seconds']:.0f} s) "
                      f"[load {os.getloadavg()[0]:.1f}]", flush=True)
    print(f"\n== test accuracy at a {args.budget:g} s budget per method, {args.seeds} paired seeds "
          f"({os.cpu_count()} cores) ==")
    for task in tasks:
        t = table[task]
        ev, ra, de = ([x["test"] for x in t[m]] for m in ("evolve", "random", "default"))
        print(f"\n{task}: test images {len(task_data(task, args.first_seed)[1])}")
        print(f"  evolved champion     {describe(ev)}   (mean {statistics.mean(x['trainings'] for x in t['evolve']):.1f}"
              f" trainings, {statistics.mean(x['rung_stops'] for x in t['evolve']):.1f} stopped at a rung; champion "
              f"origins: {', '.join(x['origin'] for x in t['evolve'])})")
        print(f"  random search        {describe(ra)}   (mean {statistics.mean(x['trainings'] for x in t['random']):.1f}"
              f" trainings)")
        print(f"  default network      {describe(de)}   (epochs: {', '.join(str(x['epochs']) for x in t['default'])})")
        print(f"  evolve - default     {paired(ev, de)}")
        print(f"  evolve - random      {paired(ev, ra)}")


if __name__ == "__main__":
    main()
