"""Evolution benchmarks: genetic algorithm against random search at equal budget, workers, broker.

Run from the repository root::

    /work/venv/bin/python benchmarks/bench_evolution.py                  # default: about 9-13 minutes
    /work/venv/bin/python benchmarks/bench_evolution.py --seeds 3 --skip-broker
    /work/venv/bin/python benchmarks/bench_evolution.py --data dice --skip-processes --skip-broker

1. Search quality on REAL images: the 100 handwritten MNIST digits in /work/shared/data/mnist_28x28
   (10 per class). Per seed, a stratified 70/30 split: the search trains on 70 images (its fitness
   is the validation accuracy on a stratified 30% of those), the other 30 are a held-out test set
   only used to score each run's champion afterwards. The genetic algorithm runs G generations of
   P individuals; random search then trains exactly as many networks as the GA really trained
   (the GA's cache hits are free, so "same budget" means the same number of trainings), for the
   same epochs. Both start from the same random first generation (same seed: a paired design, so
   the difference comes from what each does with the rest of the budget). Reported over >= 5
   seeds: best validation accuracy and champion test accuracy, means, the paired difference and
   its spread. 100 images is far too few to rank methods with confidence: read the spread first.
   ``--data dice`` runs the same on SYNTHETIC dice crops from the camera simulator.
2. Wall-clock per generation with 1 worker (in process, TensorFlow on both cores) and 2 local
   worker processes (one thread each) on the same random genomes: generation 1 includes the
   workers' start (TensorFlow import), generation 2 is the steady state.
3. Broker overhead per order: fake (instant) fitness through RabbitMQ and one ``dicebox worker``,
   against the same in process; then a projection for N worker machines like this one.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO)]

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from dicebox.config import TaxonomyConfig  # noqa: E402
from dicebox.evolution.dataset import DataSpec  # noqa: E402
from dicebox.evolution.evaluators import InlineEvaluator, ProcessEvaluator  # noqa: E402
from dicebox.evolution.events import GenerationSummary  # noqa: E402
from dicebox.evolution.run_folder import RunFolder  # noqa: E402
from dicebox.evolution.search import Evolution, SearchSettings  # noqa: E402
from dicebox.evolution.taxonomy import Taxonomy  # noqa: E402
from dicebox.evolution.training_orders import TrainSpec  # noqa: E402
from dicebox.images import LabelledImages  # noqa: E402
from dicebox.nets.training import stratified_split  # noqa: E402

MNIST = Path("/work/shared/data/mnist_28x28/data")
TAXONOMY = Taxonomy.from_config(TaxonomyConfig())  # the configuration's defaults


def load_mnist() -> LabelledImages:
    categories = tuple(sorted(p.name for p in MNIST.iterdir() if p.is_dir()))
    images, labels = [], []
    for label, name in enumerate(categories):
        for path in sorted((MNIST / name).glob("*.png")):
            images.append(cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)[:, :, None])
            labels.append(label)
    return LabelledImages(np.stack(images), np.array(labels, np.int64), categories, "mnist100")


def load_dice(per_class: int = 20) -> LabelledImages:
    """SYNTHETIC dice crops (60x50 grey) from the camera simulator: not real photographs."""
    from dicebox.camera.synthetic import DEFAULT_GEOMETRY, synthetic_dataset

    images, names = synthetic_dataset(per_class, DEFAULT_GEOMETRY, seed=0)
    categories = tuple(sorted(set(names)))
    labels = np.array([categories.index(n) for n in names], np.int64)
    return LabelledImages(images, labels, categories, f"synthetic-dice-{per_class}")


def subset(data: LabelledImages, idx: np.ndarray, version: str) -> LabelledImages:
    return LabelledImages(data.images[idx], data.labels[idx], data.categories, version)


def best(run: Evolution) -> float:
    return run.champion["accuracy"] if run.champion else 0.0


def champion_test_accuracy(run: Evolution, test: LabelledImages) -> float:
    """The champion bundle's accuracy on images the search never saw (0 if every network failed)."""
    if not run.champion or not run.champion.get("bundle"):
        return 0.0
    bundle = run.champion["bundle"]
    import keras

    model = keras.models.load_model(Path(bundle) / "model.keras", compile=False)
    predicted = model(test.images, training=False).numpy().argmax(axis=1)
    return float((predicted == test.labels).mean())


def search(strategy: str, data: LabelledImages, evaluator, folder: Path, seed: int, *, generations: int,
           population: int, epochs: int, budget: int | None = None) -> Evolution:
    settings = SearchSettings(strategy=strategy, generations=generations, population=population, budget=budget,
                              train=TrainSpec(epochs=epochs, batch_size=16, validation_split=0.3, patience=2,
                                              seed=seed))
    run = RunFolder(folder / f"{strategy}-{seed}-{uuid.uuid4().hex[:6]}")
    evolution = Evolution(settings, DataSpec.of(data), evaluator, taxonomy=TAXONOMY, seed=seed, run=run)
    for _event in evolution.run():
        pass
    return evolution


def load() -> str:
    """The 1-minute load average: other processes on the same cores distort every timing here."""
    return f"[load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores]"


def describe(values: list[float]) -> str:
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.3f} +- {spread:.3f} (sd)"


def bench_quality(name: str, data: LabelledImages, seeds: int, generations: int, population: int, epochs: int,
                  workers: int, scratch: Path) -> None:
    print(f"\n== 1. {name}: evolution vs random search, {generations} x {population} individuals, "
          f"{epochs} epochs each, {seeds} seeds, {workers} worker(s)")
    rows = []
    for seed in range(seeds):
        search_idx, test_idx = stratified_split(data.labels, 0.3, seed)
        searched = subset(data, search_idx, f"{data.version}-search-{seed}")
        test = subset(data, test_idx, f"{data.version}-test-{seed}")
        evaluator = ProcessEvaluator(searched, workers) if workers > 1 else InlineEvaluator(searched)
        try:
            started = time.perf_counter()
            ga = search("evolve", searched, evaluator, scratch, seed, generations=generations,
                        population=population, epochs=epochs)
            ga_seconds = time.perf_counter() - started
            started = time.perf_counter()
            rnd = search("random", searched, evaluator, scratch, seed, generations=generations,
                         population=population, epochs=epochs, budget=ga.trained)
            rnd_seconds = time.perf_counter() - started
        finally:
            evaluator.close()
        row = {
            "seed": seed,
            "trained": (ga.trained, rnd.trained),
            "val": (best(ga), best(rnd)),
            "test": (champion_test_accuracy(ga, test), champion_test_accuracy(rnd, test)),
            "failed": (ga.failed, rnd.failed),
            "seconds": (ga_seconds, rnd_seconds),
        }
        rows.append(row)
        print(f"  seed {seed}: trained {row['trained'][0]:>2} / {row['trained'][1]:>2}   best val "
              f"{row['val'][0]:.3f} / {row['val'][1]:.3f}   champion test {row['test'][0]:.3f} / "
              f"{row['test'][1]:.3f}   failed {row['failed'][0]} / {row['failed'][1]}   "
              f"{row['seconds'][0]:.0f} s / {row['seconds'][1]:.0f} s   (evolution / random)")
    for key, label in (("val", "best validation accuracy"), ("test", "champion held-out test accuracy")):
        ga = [r[key][0] for r in rows]
        rnd = [r[key][1] for r in rows]
        diff = [a - b for a, b in zip(ga, rnd, strict=True)]
        wins = sum(d > 0 for d in diff)
        ties = sum(d == 0 for d in diff)
        print(f"  {label}: evolution {describe(ga)}, random {describe(rnd)}; difference {describe(diff)} "
              f"(evolution better in {wins}/{len(diff)} seeds, equal in {ties})")


def bench_workers(data: LabelledImages, population: int, epochs: int, scratch: Path) -> dict[int, float]:
    """Seconds per generation with 1 and 2 workers; returns the steady seconds per generation."""
    print(f"\n== 2. Wall-clock per generation ({population} distinct random genomes, {epochs} epochs, "
          f"{len(data)} real images, {os.cpu_count()} cores)")
    steady = {}
    for workers in (1, 2):
        loaded = "tensorflow" in sys.modules
        evaluator = ProcessEvaluator(data, workers) if workers > 1 else InlineEvaluator(data)
        try:
            run = search("random", data, evaluator, scratch, 123, generations=2, population=population,
                         epochs=epochs)
        finally:
            evaluator.close()
        first, second = (h["seconds"] for h in run.history)
        steady[workers] = second
        if workers > 1:
            start = "process start-up and TensorFlow import"
        else:
            start = "nothing new: TensorFlow was loaded" if loaded else "TensorFlow import"
        print(f"  {workers} worker(s): generation 1 {first:6.1f} s (includes {start}), "
              f"generation 2 {second:6.1f} s  ({second / population:.2f} s per individual)  {load()}")
    print(f"  2 workers vs 1: {steady[1] / steady[2]:.2f}x faster per generation")
    return steady


def bench_broker(data: LabelledImages, orders: int, scratch: Path, steady: dict[int, float], population: int) -> None:
    print(f"\n== 3. Broker overhead per order ({orders} orders, instant fake fitness, 1 'dicebox worker')")
    import socket

    try:
        socket.create_connection(("127.0.0.1", 5672), timeout=2).close()
    except OSError:
        print("  skipped: no RabbitMQ broker at 127.0.0.1:5672")
        return
    from dicebox.evolution.fake_fitness import fake_fitness
    from dicebox.evolution.rabbit_evaluator import RabbitEvaluator
    from dicebox.store import DatasetStore

    home = scratch / "broker-home"
    store = DatasetStore(home / "datasets")
    dataset = store.dataset("mnist_28x28", channels=1)
    dataset.store_many([(image[:, :, 0], data.categories[label]) for image, label in zip(data.images, data.labels,
                                                                                           strict=True)])
    stored = dataset.arrays()
    store.close()
    url, queue = "amqp://guest:guest@127.0.0.1:5672/%2F", f"dicebox.bench.orders.{uuid.uuid4().hex[:6]}"
    env = {**os.environ, "DICEBOX_HOME": str(home), "DICEBOX_FAKE_FITNESS": "1"}
    worker = subprocess.Popen([sys.executable, "-m", "dicebox", "worker", "--broker", url, "--queue", queue],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env, cwd=REPO)
    try:
        assert "waiting" in worker.stdout.readline()
        settings = SearchSettings(strategy="random", population=orders, budget=orders,
                                  train=TrainSpec(epochs=1, fitness="fake"))
        timings = {}
        for kind in ("in process", "broker"):
            os.environ["DICEBOX_FAKE_FITNESS"] = "1"
            evaluator = (RabbitEvaluator(url, f"bench-{uuid.uuid4().hex[:6]}", queue=queue) if kind == "broker"
                         else InlineEvaluator(stored, fake_fitness))
            run = RunFolder(scratch / f"broker-{kind.replace(' ', '-')}")
            evolution = Evolution(settings, DataSpec.of(stored, "mnist_28x28"), evaluator, taxonomy=TAXONOMY,
                                  seed=1, run=run)
            started = time.perf_counter()
            events = [e for e in evolution.run() if isinstance(e, GenerationSummary)]
            timings[kind] = (time.perf_counter() - started) / orders
            evaluator.close(finished=True)
            assert events and evolution.trained == orders
        overhead = max(0.0, timings["broker"] - timings["in process"])
        print(f"  per order: {timings['in process'] * 1000:.1f} ms in process (state.json fsync per individual), "
              f"{timings['broker'] * 1000:.1f} ms through the broker -> broker overhead "
              f"{overhead * 1000:.1f} ms per order (one worker, sequential round trips)")
    finally:
        worker.terminate()
        worker.wait(timeout=10)
        import pika

        connection = pika.BlockingConnection(pika.URLParameters(url))
        connection.channel().queue_delete(queue)
        connection.close()
    project(steady, overhead, population)


def project(steady: dict[int, float], overhead: float, population: int) -> None:
    # Each machine runs whichever was faster here: one worker on all cores, or two with one thread each.
    per_machine = 2 if steady[2] < steady[1] else 1
    per_worker = steady[per_machine] / -(-population // per_machine)
    setup = "two 'dicebox worker --threads 1'" if per_machine == 2 else "one 'dicebox worker'"
    print(f"\n== Projection: N worker machines like this one (2 cores, {setup} each, {per_worker:.2f} s per "
          f"individual per worker, measured), {overhead * 1000:.1f} ms broker overhead per order:")
    machines = "2N" if per_machine == 2 else "N"
    print(f"   time per generation ~ ceil(P / {machines}) x t_individual + P x overhead; a generation waits "
          "for its slowest individual.")
    for size in sorted({population, 32}):
        cells = []
        for n in (1, 2, 4, 8, 16):
            seconds = -(-size // (per_machine * n)) * per_worker + size * overhead
            cells.append(f"N={n}: {seconds:5.1f} s")
        print(f"   P={size:>3}: " + "   ".join(cells))
    print(f"   Near-linear while {machines} <= P, flat beyond (a generation has only P orders: use a larger population "
          "for more machines). A few ms per order is negligible next to seconds of training; what real "
          "runs lose is uneven network sizes (the slowest individual sets the pace) and what they gain is "
          "cache hits (kept parents are free).")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=6)
    parser.add_argument("--generations", type=int, default=5)
    parser.add_argument("--population", type=int, default=6)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--processes", type=int, default=2, help="local training processes for part 1")
    parser.add_argument("--data", choices=("mnist", "dice", "both"), default="mnist",
                        help="part 1 on REAL mnist digits, SYNTHETIC dice crops, or both")
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--skip-processes", action="store_true")
    parser.add_argument("--skip-broker", action="store_true")
    parser.add_argument("--broker-orders", type=int, default=40)
    args = parser.parse_args()
    mnist = load_mnist()
    print(f"real data: {len(mnist)} MNIST digits {mnist.images.shape[1:]} in {len(mnist.categories)} classes  "
          f"{load()}")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="dicebox-bench-evolution-") as folder:
        scratch = Path(folder)
        if not args.skip_quality and args.data in ("mnist", "both"):
            bench_quality("REAL MNIST digits", mnist, args.seeds, args.generations, args.population, args.epochs,
                          args.processes, scratch)
        if not args.skip_quality and args.data in ("dice", "both"):
            bench_quality("SYNTHETIC dice crops (camera simulator, not real photos)", load_dice(), args.seeds,
                          args.generations, args.population, args.epochs, args.processes, scratch)
        steady = {1: 2.0 * args.population, 2: 1.0 * args.population}
        if not args.skip_processes:
            steady = bench_workers(mnist, args.population, args.epochs, scratch)
        if not args.skip_broker:
            bench_broker(mnist, args.broker_orders, scratch, steady, args.population)
    print(f"\ntotal {time.perf_counter() - started:.0f} s  {load()}")


if __name__ == "__main__":
    main()
