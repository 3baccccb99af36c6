"""Start ``dicebox serve`` as a real child process and learn its URL."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from helpers import API_KEY


def start_service(
    data_dir: Path, *extra: str, env: dict | None = None, printed: list[str] | None = None
) -> tuple[subprocess.Popen, str]:
    """Run the service on a free port with ``data_dir``; returns (process, base URL).

    ``printed`` receives the lines the service wrote before it listened.
    """
    child_env = {**os.environ, "DICEBOX_API_ACCESS_KEY": API_KEY, "PYTHONUNBUFFERED": "1", **(env or {})}
    proc = subprocess.Popen(
        [sys.executable, "-m", "dicebox", "serve", "--port", "0", "--data-dir", str(data_dir), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=child_env,
        cwd=data_dir.parent,
    )
    deadline = time.monotonic() + 60
    lines = [] if printed is None else printed
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if "listening on " in line:
            return proc, line.rsplit("listening on ", 1)[1].strip()
    proc.kill()
    raise RuntimeError("service did not start:\n" + "".join(lines))


def stop_service(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    proc.stdout.close()
