"""Camera pipeline figures: synthetic capture -> ROI crop -> preprocess, on one core.

Run: /work/venv/bin/python benchmarks/bench_camera.py [--frames N]

Prints frames per second of the whole single-threaded pipeline for the synthetic dice camera at
640x480 (uncapped), the time of each stage, the latency from capture to a crop ready for
classification (p50/p99) both inline and through a CaptureThread, and the data set rate.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a source checkout

from dicebox.camera import (  # noqa: E402
    CaptureThread,
    Geometry,
    default_roi,
    open_source,
    preprocess_roi,
    synthetic_dataset,
)

GEOMETRY = Geometry(60, 50, 1)


def pin_to_one_core() -> str:
    cv2.setNumThreads(1)
    if hasattr(os, "sched_setaffinity"):
        core = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {core})
        return f"pinned to CPU {core}, cv2 threads 1"
    return "cv2 threads 1 (no CPU pinning on this OS)"


def ms(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values) * 1e3, q))


def inline_pipeline(frames: int) -> None:
    source = open_source("synthetic:dice?seed=1&width=640&height=480&uncapped=1")
    roi = default_roi(source.frame_size, GEOMETRY)
    for _ in range(20):  # warm up caches (backgrounds, textures)
        preprocess_roi(source.read().image, roi, GEOMETRY)
    render, prep, latency = [], [], []
    started = time.perf_counter()
    for _ in range(frames):
        t0 = time.perf_counter()
        frame = source.read()
        t1 = time.perf_counter()
        preprocess_roi(frame.image, roi, GEOMETRY)
        t2 = time.perf_counter()
        render.append(t1 - t0)
        prep.append(t2 - t1)
        latency.append(time.monotonic() - frame.timestamp)
    elapsed = time.perf_counter() - started
    source.close()
    print(
        f"synthetic 640x480 -> crop {roi.width}x{roi.height} -> {GEOMETRY.width}x{GEOMETRY.height} gray, "
        f"{frames} frames, single thread"
    )
    print(f"  pipeline:            {frames / elapsed:8.1f} fps ({elapsed / frames * 1e3:.2f} ms/frame)")
    print(f"  capture (render):    p50 {ms(render, 50):.3f} ms  p99 {ms(render, 99):.3f} ms")
    print(f"  crop + preprocess:   p50 {ms(prep, 50):.3f} ms  p99 {ms(prep, 99):.3f} ms")
    print(f"  capture -> crop ready latency: p50 {ms(latency, 50):.3f} ms  p99 {ms(latency, 99):.3f} ms")


def threaded_pipeline(seconds: float, fps: int) -> None:
    source = open_source(f"synthetic:dice?seed=2&width=640&height=480&fps={fps}")
    roi = default_roi(source.frame_size, GEOMETRY)
    latency: list[float] = []
    last = -1
    with CaptureThread(source) as capture:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            frame = capture.wait_for_frame(newer_than=last, timeout=1.0)
            if frame is None:
                continue
            preprocess_roi(frame.image, roi, GEOMETRY)
            latency.append(time.monotonic() - frame.timestamp)
            last = frame.seq
        measured = capture.fps
    print(
        f"CaptureThread at {fps} fps for {seconds:.0f} s (reader + consumer thread):"
        f" measured {measured:.1f} fps,"
        f" {len(latency)} frames classified-ready"
    )
    print(f"  capture -> crop ready latency: p50 {ms(latency, 50):.3f} ms  p99 {ms(latency, 99):.3f} ms")


def dataset_rate(per_class: int) -> None:
    started = time.perf_counter()
    images, _ = synthetic_dataset(per_class, GEOMETRY, seed=0)
    elapsed = time.perf_counter() - started
    print(f"synthetic_dataset: {len(images)} crops in {elapsed:.2f} s = {len(images) / elapsed:.0f} images/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    print(
        pin_to_one_core(),
        f"| OpenCV {cv2.__version__}, numpy {np.__version__}, {threading.active_count()} thread",
    )
    inline_pipeline(args.frames)
    threaded_pipeline(args.seconds, 60)
    dataset_rate(100)


if __name__ == "__main__":
    main()
