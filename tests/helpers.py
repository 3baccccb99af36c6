"""Helpers shared by the test modules (imported as ``helpers``: a conftest cannot be imported
by name once sub-folders have their own conftest)."""

from __future__ import annotations

import cv2
import numpy as np

API_KEY = "test-key-0123456789"


def make_png(seed: int, width: int = 60, height: int = 50, channels: int = 1) -> bytes:
    """A distinct PNG per seed."""
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (height, width, channels), dtype=np.uint8)
    return cv2.imencode(".png", image)[1].tobytes()


def fake_evolution_events(folder, *, generations: int = 4, population: int = 6, seed: int = 5) -> list[dict]:
    """The event lines of a real ``dicebox evolve --json-events`` run scored by the fake test fitness
    (no TensorFlow: it takes a second or two); the run is ``<folder>/home/population/r``."""
    import json
    import os
    import subprocess
    import sys

    rng = np.random.default_rng(0)
    npz = folder / "tiny.npz"
    np.savez(npz, images=rng.integers(0, 256, (8, 16, 20, 1), dtype=np.uint8),
             labels=np.array([0, 1] * 4), categories=np.array(["a", "b"]), version=np.array("v1"))
    argv = ["evolve", "--data-dir", str(folder / "home"), "--npz", str(npz), "--generations", str(generations),
            "--population", str(population), "--seed", str(seed), "--run-id", "r", "--json-events", "--quiet"]
    done = subprocess.run([sys.executable, "-m", "dicebox", *argv], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "DICEBOX_FAKE_FITNESS": "1"})
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]
