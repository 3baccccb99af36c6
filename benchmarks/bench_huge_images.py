"""Huge-but-legal images against ``dicebox serve``: how long they hold the data set's store thread.

Sends one request of N 4000x4000 16-bit RGBA PNGs of zeros (124 KB each, 16 million pixels: legal
under ``max_image_pixels``) to ``POST /api/v1/datasets/dice_60x50/images`` and, while it runs,
normal one-image stores (``/api/sensory/store``, 60x50) one after another. Reports the huge
request's answer and time, and the normal stores' latencies.

    python benchmarks/bench_huge_images.py [--images 30] [--side 4000]
"""

from __future__ import annotations

import argparse
import base64
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import requests
from service_child import start_service

KEY = "bench-huge-images-key-0123456789"
HEADERS = {"API-ACCESS-KEY": KEY, "API-VERSION": "0.3.0"}


def normal_body(seed: int) -> dict:
    image = np.random.default_rng(seed).integers(0, 256, (50, 60, 1), dtype=np.uint8)
    data = base64.b64encode(cv2.imencode(".png", image)[1].tobytes()).decode()
    return {"name": "dice", "width": 60, "height": 50, "category": "normal", "data": data}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=30)
    parser.add_argument("--side", type=int, default=4000)
    args = parser.parse_args()
    zeros = cv2.imencode(".png", np.zeros((args.side, args.side, 4), np.uint16))[1].tobytes()
    huge = {"images": [{"category": "huge", "data": base64.b64encode(zeros).decode()}] * args.images}
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start_service(Path(tmp) / "data", KEY)
        try:
            session = requests.Session()
            for seed in range(20):  # warm up: the data set, the connection, the store thread
                session.post(f"{url}/api/sensory/store", json=normal_body(seed), headers=HEADERS, timeout=30)
            outcome: dict = {}

            def send_huge() -> None:
                started = time.perf_counter()
                answer = requests.post(
                    f"{url}/api/v1/datasets/dice_60x50/images", json=huge, headers=HEADERS, timeout=600
                )
                outcome.update(status=answer.status_code, seconds=time.perf_counter() - started, text=answer.text[:160])

            sender = threading.Thread(target=send_huge)
            sender.start()
            time.sleep(0.3)  # the huge request is on the store thread (or refused) by now
            latencies = []
            seed = 1000
            while sender.is_alive() or len(latencies) < 20:
                started = time.perf_counter()
                answer = session.post(f"{url}/api/sensory/store", json=normal_body(seed), headers=HEADERS, timeout=600)
                latencies.append(time.perf_counter() - started)
                assert answer.status_code == 200, answer.text
                seed += 1
            sender.join()
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    print(
        f"{args.images} images of {args.side}x{args.side} 16-bit RGBA zeros ({len(zeros)} bytes each): "
        f"{outcome['status']} in {outcome['seconds']:.2f} s  {outcome['text']}"
    )
    print(
        f"normal stores meanwhile: {len(latencies)}, median {statistics.median(latencies) * 1000:.1f} ms, "
        f"max {max(latencies) * 1000:.1f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
