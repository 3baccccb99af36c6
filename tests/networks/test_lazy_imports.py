"""Importing the network modules or starting the CLI must not pay for TensorFlow (or touch Qt)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

CHECK = """
import sys
import dicebox.nets.genome, dicebox.nets.build, dicebox.nets.training, dicebox.nets.bundle, dicebox.nets.inference
import dicebox.cli.train
from dicebox.cli import build_parser
build_parser()
heavy = sorted(m for m in sys.modules if m.split(".")[0] in {"tensorflow", "keras", "PyQt5"})
print(",".join(heavy) or "clean")
"""


def test_network_modules_import_without_tensorflow():
    done = subprocess.run(
        [sys.executable, "-c", CHECK],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "clean"
