"""Network benchmarks: classifier latency, training throughput against a plain ``fit``, accuracy.

Run from the repository root::

    /work/venv/bin/python benchmarks/bench_networks.py            # everything (about 2-3 minutes)
    /work/venv/bin/python benchmarks/bench_networks.py --skip-accuracy

1. Latency of :meth:`Classifier.classify` per frame, in process, for the default CNN on 60x50 grey
   input: an exact-size uint8 frame, a 240x200 BGR camera crop (crop + resize + grey inside), and
   PNG bytes (what /api/classify receives after base64). Goal: p99 < 5 ms.
2. Training images per second of dicebox ``train()`` against a plain ``model.fit`` of the same
   model on the same arrays (same split, batch size, validation data). Goal: ratio >= 0.9.
3. Validation accuracy of the default genome on 3000 synthetic 28x28 printed digits (10 classes)
   and the wall time it took. Goal: high accuracy within a couple of minutes.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests" / "networks")]

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from synthetic_images import digits, shapes  # noqa: E402

from dicebox.nets.genome import default_genome  # noqa: E402
from dicebox.nets.training import (  # noqa: E402
    EpochEnd,
    TrainOptions,
    TrainResult,
    data_geometry,
    run_training,
    stratified_split,
    train,
)


def percentiles(seconds: list[float]) -> str:
    ms = np.array(seconds) * 1000
    p50, p99 = np.percentile(ms, [50, 99])
    return f"p50 {p50:6.3f} ms   p99 {p99:6.3f} ms   max {ms.max():6.2f} ms"


def bench_latency(frames: int) -> None:
    from dicebox.nets.bundle import save_bundle
    from dicebox.nets.inference import Classifier

    data = shapes(per_class=50, width=60, height=50)
    result = run_training(default_genome(), data, TrainOptions(epochs=2, seed=0))
    with tempfile.TemporaryDirectory() as scratch:
        bundle = save_bundle(result, Path(scratch) / "bundle")
        started = time.perf_counter()
        classifier = Classifier.from_bundle(bundle.path)
        print(f"Classifier.from_bundle (load + trace + warm-up): {time.perf_counter() - started:.2f} s")
    exact = list(data.images[:64])
    crops = [cv2.cvtColor(cv2.resize(f, (240, 200)), cv2.COLOR_GRAY2BGR) for f in exact]
    pngs = [cv2.imencode(".png", c)[1].tobytes() for c in crops]
    cases = (("60x50 uint8 frame", exact), ("240x200 BGR crop", crops), ("240x200 PNG bytes", pngs))
    for name, inputs in cases:
        for item in inputs[:20]:
            classifier.classify(item)
        times = []
        for i in range(frames):
            started = time.perf_counter()
            classifier.classify(inputs[i % len(inputs)])
            times.append(time.perf_counter() - started)
        print(f"classify {name:<18} {percentiles(times)}")
    model = result.model
    one = data.images[:1]
    times = []
    for _ in range(20):
        started = time.perf_counter()
        model.predict(one, verbose=0)
        times.append(time.perf_counter() - started)
    print(f"(reference) model.predict, 1 frame  {percentiles(times)}")


def bench_throughput(epochs: int, rounds: int) -> None:
    import keras

    from dicebox.nets.build import build_model

    data = shapes(per_class=750, width=60, height=50)  # 3000 images
    options = TrainOptions(epochs=epochs, batch_size=64, seed=0, patience=0)
    train_idx, val_idx = stratified_split(data.labels, options.validation_split, options.seed)
    x_train, y_train = data.images[train_idx], data.labels[train_idx]
    x_val, y_val = data.images[val_idx], data.labels[val_idx]
    geometry = data_geometry(data)

    class EpochTimer(keras.callbacks.Callback):  # epoch hooks only: batch dispatch stays as plain fit
        def on_train_begin(self, logs=None):
            self.seconds = []

        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self.started)

    def plain() -> tuple[float, float]:
        started = time.perf_counter()
        keras.utils.set_random_seed(0)
        model = build_model(default_genome(), geometry, len(data.categories), seed=0)
        timer = EpochTimer()
        model.fit(
            x_train,
            y_train,
            batch_size=64,
            epochs=epochs,
            validation_data=(x_val, y_val),
            shuffle=True,
            verbose=0,
            callbacks=[timer],
        )
        return float(np.sum(timer.seconds[1:])), time.perf_counter() - started

    def dicebox() -> tuple[float, float]:
        started = time.perf_counter()
        epoch_seconds = []
        for event in train(default_genome(), data, options):
            if isinstance(event, EpochEnd):
                epoch_seconds.append(event.seconds)
            elif isinstance(event, TrainResult):
                break
        return float(np.sum(epoch_seconds[1:])), time.perf_counter() - started

    steady: dict[str, list[float]] = {"plain": [], "dicebox": []}
    total: dict[str, list[float]] = {"plain": [], "dicebox": []}
    runs = (("plain", plain), ("dicebox", dicebox))
    for round_ in range(rounds):
        # Back to back, alternating who goes first: the machine is shared, so load drifts.
        for name, run in runs if round_ % 2 == 0 else runs[::-1]:
            epoch_time, wall = run()
            steady[name].append(len(x_train) * (epochs - 1) / epoch_time)
            total[name].append(len(x_train) * epochs / wall)
    for name in ("plain", "dicebox"):
        print(
            f"{name:<8} best {max(steady[name]):5.0f} images/s per epoch (epochs 2..{epochs}), "
            f"median {np.median(steady[name]):5.0f};  end to end (build, fit, final evaluation) "
            f"best {max(total[name]):5.0f}"
        )
    pair = np.array(steady["dicebox"]) / np.array(steady["plain"])
    print(
        f"ratio dicebox/plain: best-of {max(steady['dicebox']) / max(steady['plain']):.3f}, "
        f"median of paired runs {np.median(pair):.3f} per epoch; end to end best-of "
        f"{max(total['dicebox']) / max(total['plain']):.3f} "
        f"({len(x_train)} training images of 60x50, batch 64, {rounds} rounds)"
    )


def bench_accuracy() -> None:
    data = digits(per_class=300)
    started = time.perf_counter()
    result = run_training(default_genome(), data, TrainOptions(epochs=15, batch_size=64, seed=0, patience=3))
    seconds = time.perf_counter() - started
    worst = min(v for v in result.metrics.per_class_accuracy.values() if v is not None)
    print(
        f"default genome on {len(data)} synthetic 28x28 digits: validation accuracy "
        f"{result.metrics.accuracy:.4f} (worst class {worst:.3f}), {result.epochs_run} epochs "
        f"(best {result.best_epoch}), {seconds:.1f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=1000, help="classifications per latency figure")
    parser.add_argument("--epochs", type=int, default=4, help="epochs per throughput run")
    parser.add_argument("--rounds", type=int, default=6, help="throughput runs of each kind")
    parser.add_argument("--skip-accuracy", action="store_true")
    args = parser.parse_args()
    print("== classifier latency (default CNN, 60x50x1) ==")
    bench_latency(args.frames)
    print("== training throughput ==")
    bench_throughput(args.epochs, args.rounds)
    if not args.skip_accuracy:
        print("== accuracy ==")
        bench_accuracy()


if __name__ == "__main__":
    main()
