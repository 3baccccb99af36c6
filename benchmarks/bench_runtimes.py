"""Classifier latency per runtime on the same model, in one run: Keras (tf.function), ONNX Runtime, TFLite.

Run from the repository root::

    /work/venv/bin/python benchmarks/bench_runtimes.py [--frames 2000]

The model is the default CNN on 60x50 grey input (what ``dicebox demo`` trains), saved as a bundle
and exported with ``dicebox.nets.export``; each runtime classifies the same exact-size uint8 frames
one at a time through :meth:`Classifier.classify` (preprocessing included) and then in batches of 32.
The TFLite runtime is ai-edge-litert when installed, otherwise TensorFlow's own interpreter.
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
sys.path[:0] = [str(REPO)]

import numpy as np  # noqa: E402

from dicebox.images import Geometry  # noqa: E402
from dicebox.nets.build import build_model  # noqa: E402
from dicebox.nets.bundle import save_bundle  # noqa: E402
from dicebox.nets.export import export_model  # noqa: E402
from dicebox.nets.genome import default_genome  # noqa: E402
from dicebox.nets.inference import Classifier  # noqa: E402
from dicebox.nets.runtimes import installed  # noqa: E402

GEOMETRY = Geometry(60, 50, 1)
CATEGORIES = tuple(str(face) for face in range(1, 7))


def percentiles(seconds: list[float]) -> tuple[float, float]:
    ms = np.array(seconds) * 1000
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=2000, help="single-frame calls per runtime")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (args.frames, *GEOMETRY.shape), dtype=np.uint8)
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        model = build_model(default_genome(), GEOMETRY, len(CATEGORIES), seed=1, compile=False)
        bundle = save_bundle(model, root / "bundle", categories=CATEGORIES)
        kit = export_model(bundle, "onnx", root / "kit")
        tflite = export_model(bundle, "tflite", root / "tflite")
        (kit / "model.tflite").write_bytes((tflite / "model.tflite").read_bytes())
        runtimes = {"keras": Classifier.from_bundle(bundle)}
        runtimes["onnx"] = Classifier.from_bundle(kit, runtime="onnx")
        runtimes["tflite"] = Classifier.from_bundle(kit, runtime="tflite")
        tflite_name = "ai-edge-litert" if installed("ai_edge_litert") else "tf.lite.Interpreter"
        print(
            f"default CNN, {GEOMETRY.width}x{GEOMETRY.height}x{GEOMETRY.channels}, {args.frames} frames, "
            f"{os.cpu_count()} CPUs; tflite through {tflite_name}"
        )
        reference = None
        for name, classifier in runtimes.items():
            for frame in frames[:50]:  # warm up
                classifier.classify(frame)
            single = []
            labels = []
            for frame in frames:
                started = time.perf_counter()
                labels.append(classifier.classify(frame).index)
                single.append(time.perf_counter() - started)
            batched = []
            for i in range(0, len(frames) - 31, 32):
                started = time.perf_counter()
                classifier.classify_batch(list(frames[i : i + 32]))
                batched.append(time.perf_counter() - started)
            reference = labels if reference is None else reference
            agree = np.mean(np.array(labels) == np.array(reference)) * 100
            p50, p99 = percentiles(single)
            b50, b99 = percentiles(batched)
            print(
                f"{name:7s} one frame p50 {p50:6.3f} ms  p99 {p99:6.3f} ms | batch of 32 p50 {b50:6.2f} ms "
                f"p99 {b99:6.2f} ms | top-1 same as keras: {agree:.1f} %"
            )


if __name__ == "__main__":
    main()
