"""``dicebox serve`` as a child process for the benchmarks that measure the real service."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path


def start_service(data_dir: Path, key: str) -> tuple[subprocess.Popen, str]:
    """The service on a free port with ``data_dir`` and API key ``key``: (process, base URL)."""
    env = {**os.environ, "DICEBOX_API_ACCESS_KEY": key, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "dicebox", "serve", "--port", "0", "--data-dir", str(data_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    for line in proc.stdout:
        if "listening on " in line:
            threading.Thread(target=proc.stdout.read, daemon=True).start()  # keep the pipe drained
            return proc, line.rsplit("listening on ", 1)[1].strip()
    proc.kill()
    raise RuntimeError("the service did not start")
