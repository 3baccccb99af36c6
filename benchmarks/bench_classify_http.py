"""Classification over localhost: latency of ``/api/classify`` (original) and ``/api/v1/classify``.

For the default small CNN on 60x50 grayscale input, a client sends the same PNG frames a camera
crop produces, one request at a time over a keep-alive connection. Goal: p99 under 15 ms.

    python benchmarks/bench_classify_http.py [--frames 500]
"""

from __future__ import annotations

import argparse
import base64
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import requests  # noqa: E402

from dicebox.camera import Geometry, synthetic_dataset  # noqa: E402
from dicebox.config import load_config  # noqa: E402
from dicebox.images import LabelledImages  # noqa: E402
from dicebox.nets.bundle import save_bundle  # noqa: E402
from dicebox.nets.genome import default_genome  # noqa: E402
from dicebox.nets.inference import Classifier  # noqa: E402
from dicebox.nets.training import TrainOptions, run_training  # noqa: E402
from dicebox.service import create_app  # noqa: E402
from dicebox.service.server import ServiceServer  # noqa: E402

KEY = "bench-key"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=500)
    args = parser.parse_args()
    geometry = Geometry(60, 50, 1)
    images, labels = synthetic_dataset(20, geometry, seed=1)
    categories = tuple(sorted(set(labels)))
    data = LabelledImages(images, np.array([categories.index(x) for x in labels]), categories)
    result = run_training(default_genome(), data, TrainOptions(epochs=1, seed=0))
    with tempfile.TemporaryDirectory() as scratch:
        bundle = save_bundle(result, Path(scratch) / "bundle")
        classifier = Classifier.from_bundle(bundle.path)
        config = load_config(env={"DICEBOX_HOME": scratch, "DICEBOX_API_ACCESS_KEY": KEY})
        server = ServiceServer(create_app(config, classifier=classifier), "127.0.0.1", 0, threads=4).start()
        try:
            frames, _ = synthetic_dataset(max(1, args.frames // 6), geometry, seed=2)
            bodies = [{"data": base64.b64encode(cv2.imencode(".png", f)[1].tobytes()).decode()} for f in frames]
            session = requests.Session()
            session.headers.update({"API-ACCESS-KEY": KEY, "API-VERSION": "0.3.0"})
            for route in ("/api/classify", "/api/v1/classify"):
                for body in bodies[:20]:
                    session.post(server.url + route, json=body).raise_for_status()
                times = []
                for body in bodies:
                    started = time.perf_counter()
                    session.post(server.url + route, json=body).raise_for_status()
                    times.append(time.perf_counter() - started)
                ms = np.array(times) * 1000
                p50, p99 = np.percentile(ms, [50, 99])
                print(f"{route:18s} over localhost, {len(times)} frames: p50 {p50:5.2f} ms  p99 {p99:5.2f} ms"
                      f"  (goal p99 < 15 ms)")
        finally:
            server.close()


if __name__ == "__main__":
    main()
