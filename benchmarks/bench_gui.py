"""Responsiveness of the supervised trainer (offscreen Qt).

1. Time from launching ``dicebox gui`` to the window being shown (goal: within 3 s; TensorFlow is
   only loaded later, off the UI thread).
2. With the synthetic camera at 30 fps and a trained network classifying every frame: distinct
   frames shown per second (goal: at least 29).
3. The longest stall of the UI event loop while an evolution runs (goal: never over 50 ms).

    python benchmarks/bench_gui.py [--seconds 10]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def time_to_window(home: Path, runs: int = 3) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "dicebox", "gui", "--smoke-test", "--fresh"],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                env={**os.environ, "DICEBOX_HOME": str(home)})
        for line in proc.stdout:
            if "window shown" in line:
                times.append(time.perf_counter() - started)
                break
        proc.wait(timeout=60)
    return times


def wait(app, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.002)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        home = Path(scratch)
        launches = time_to_window(home / "launch")
        print(f"window shown after launch: {', '.join(f'{t:.2f} s' for t in launches)}  (goal: within 3 s)")

        import numpy as np
        from PyQt5.QtCore import QTimer

        from dicebox.camera import Geometry, synthetic_dataset
        from dicebox.client.http import SensoryClient
        from dicebox.config import load_config
        from dicebox.gui.app import build_window
        from dicebox.gui.qt_platform import application
        from dicebox.images import LabelledImages
        from dicebox.nets.bundle import save_bundle
        from dicebox.nets.genome import default_genome
        from dicebox.nets.training import TrainOptions, run_training

        geometry = Geometry(60, 50, 1)
        images, labels = synthetic_dataset(20, geometry, seed=1)
        categories = tuple(sorted(set(labels)))
        data = LabelledImages(images, np.array([categories.index(x) for x in labels]), categories)
        bundle = save_bundle(run_training(default_genome(), data, TrainOptions(epochs=1)), home / "bundle")

        app = application()
        os.environ["DICEBOX_API_ACCESS_KEY"] = "bench"
        config = load_config(env={"DICEBOX_HOME": str(home / "gui"), "DICEBOX_API_ACCESS_KEY": "bench"})
        window = build_window(config)
        window.resize(1280, 800)
        window.show()
        window.open_source("synthetic:dice?fps=30&seed=2")
        window.classifier.load_bundle(bundle.path)
        deadline = time.monotonic() + 60
        while window.classifier.classifier is None and time.monotonic() < deadline:
            wait(app, 0.1)
        wait(app, 2.0)
        shown, results = [], []
        window.camera.frameReady.connect(lambda frame, _crop: shown.append(frame.seq))
        window.classifier.classified.connect(lambda _crop, result: results.append(result))
        wait(app, args.seconds)
        classified = len(results)
        distinct = len(set(shown)) / args.seconds
        print(f"synthetic camera at 30 fps, classifying every frame: {distinct:.1f} distinct frames shown per second, "
              f"{classified / args.seconds:.1f} classified per second  (goal: at least 29 shown)")

        window.link.start_local()
        while window.link.client is None and time.monotonic() < deadline + 60:
            wait(app, 0.1)
        images, labels = synthetic_dataset(20, geometry, seed=3)
        SensoryClient(window.link.url, "bench").store_images(window.dataset_id, list(zip(images, labels, strict=True)))
        panel = window.extra_panels[0]
        panel.generations.setValue(2)
        panel.population.setValue(3)
        panel.epochs.setValue(2)
        panel.start()
        gaps: list[float] = []
        last = [time.perf_counter()]

        def tick() -> None:
            now = time.perf_counter()
            gaps.append(now - last[0])
            last[0] = now

        timer = QTimer()
        timer.setInterval(10)
        timer.timeout.connect(tick)
        timer.start()
        started = time.monotonic()
        while (panel.child is not None or time.monotonic() - started < 3) and time.monotonic() - started < 300:
            app.processEvents()
            time.sleep(0.001)
        timer.stop()
        stalls = np.array(gaps[5:]) * 1000 - 10
        print(f"event loop while evolution ran ({time.monotonic() - started:.0f} s, {len(panel.plot.generations)} "
              f"generations plotted): longest stall {stalls.max():.1f} ms, p99 {np.percentile(stalls, 99):.1f} ms  "
              f"(goal: never over 50 ms)")
        window.close()


if __name__ == "__main__":
    main()
